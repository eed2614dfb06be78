// What a piece of work costs the webgpu backend in dispatches: top-level kernel calls, GPU programs and uploads
// from the CPU. A training step on a GPU is bound by them (each program costs the CPU more than the GPU spends on
// it), so tests bound them and bench/webgpu.ts reports them.
import { tf } from "tsdl";

export interface Dispatches {
  /** Kernel calls at the top level (a kernel's calls of other kernels not counted). */
  kernels: number;
  /** GPU programs recorded (tfjs-backend-webgpu's recordAndSubmit: one dispatch each); 0 on other backends. */
  programs: number;
  /** Tensors uploaded from data on the CPU. */
  uploads: number;
  /** Programs per name (the part of tfjs's shader key before its first "_", e.g. "tsdlSgdStep", "binary"). */
  byProgram: Map<string, number>;
}

/** Counts what `fn` dispatches (see Dispatches). */
export async function countDispatches(fn: () => Promise<void>): Promise<Dispatches> {
  type Engine = { runKernel(name: string, inputs: unknown, attrs: unknown): unknown };
  type Recorder = {
    recordAndSubmit?(program: { shaderKey: string }, ...rest: unknown[]): unknown;
    uploadToGPU?(id: object): void;
    tensorMap: { get(id: object): { resource?: unknown; values?: unknown } };
  };
  const engine = tf.engine() as unknown as Engine;
  const be = tf.backend() as unknown as Recorder;
  const [runKernel, record, upload] = [engine.runKernel, be.recordAndSubmit, be.uploadToGPU];
  const counts: Dispatches = { kernels: 0, programs: 0, uploads: 0, byProgram: new Map() };
  let depth = 0;
  engine.runKernel = function (this: Engine, name, inputs, attrs) {
    if (depth === 0) counts.kernels++;
    depth++;
    try {
      return runKernel.call(this, name, inputs, attrs);
    } finally {
      depth--;
    }
  };
  if (record && upload) {
    be.recordAndSubmit = function (this: Recorder, program, ...rest) {
      counts.programs++;
      const name = String(program.shaderKey).split("_")[0];
      counts.byProgram.set(name, (counts.byProgram.get(name) ?? 0) + 1);
      return record.call(this, program, ...rest);
    };
    be.uploadToGPU = function (this: Recorder, id: object) {
      const d = this.tensorMap.get(id);
      if (d.resource == null && d.values != null) counts.uploads++;
      return upload.call(this, id);
    };
  }
  try {
    await fn();
  } finally {
    engine.runKernel = runKernel;
    if (record && upload) [be.recordAndSubmit, be.uploadToGPU] = [record, upload];
  }
  return counts;
}
