// What a piece of work costs the webgpu backend in dispatches: top-level kernel calls, GPU programs and uploads
// from the CPU. A training step on a GPU is bound by them (each program costs the CPU more than the GPU spends on
// it), so tests bound them and bench/webgpu.ts reports them.
import { tf } from "tsdl";

export interface Dispatches {
  /** Kernel calls at the top level (a kernel's calls of other kernels not counted). */
  kernels: number;
  /** GPU programs dispatched (tfjs's and tsdl's own, counted at the WebGPU API); 0 on other backends. */
  programs: number;
  /** Tensors uploaded from data on the CPU. */
  uploads: number;
  /** Uniform buffers written: one per tfjs program (its shapes and strides); tsdl's only where a program declares some. */
  uniforms: number;
  /** Programs per name (the part of tfjs's shader key before its first "_", e.g. "tsdlSgdFusedStep", "binary"). */
  byProgram: Map<string, number>;
}

/** Counts what `fn` dispatches (see Dispatches). */
export async function countDispatches(fn: () => Promise<void>): Promise<Dispatches> {
  type Engine = { runKernel(name: string, inputs: unknown, attrs: unknown): unknown };
  type Recorder = {
    pipelineCache?: Record<string, unknown>;
    uploadToGPU?(id: object): void;
    makeUniforms?(u: unknown): unknown;
    tensorMap: { get(id: object): { resource?: unknown; values?: unknown } };
  };
  const engine = tf.engine() as unknown as Engine;
  const be = tf.backend() as unknown as Recorder;
  const counts: Dispatches = { kernels: 0, programs: 0, uploads: 0, uniforms: 0, byProgram: new Map() };
  const runKernel = engine.runKernel;
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
  // Dispatches at the WebGPU API (tfjs's programs and tsdl's own), named by the pipeline's key in tfjs's cache.
  const pass = (globalThis as { GPUComputePassEncoder?: { prototype: GPUComputePassEncoder } }).GPUComputePassEncoder?.prototype;
  const [upload, makeUniforms] = [be.uploadToGPU, be.makeUniforms];
  const [setPipeline, dispatch] = [pass?.setPipeline, pass?.dispatchWorkgroups];
  const hooked = Boolean(pass && setPipeline && dispatch && upload && makeUniforms && be.pipelineCache);
  // On webgpu every hook must take, or counts of 0 would pass tests that bound them (tfjs renamed a member).
  if (tf.getBackend() === "webgpu" && !hooked) throw new Error("countDispatches: tfjs-backend-webgpu's recording members changed");
  if (pass && setPipeline && dispatch && upload && makeUniforms && be.pipelineCache) {
    const cache = be.pipelineCache;
    const names = new Map<unknown, string>();
    let current = "?";
    pass.setPipeline = function (this: GPUComputePassEncoder, pipeline: GPUComputePipeline) {
      if (!names.has(pipeline)) for (const [key, p] of Object.entries(cache)) names.set(p, key.split("_")[0]);
      current = names.get(pipeline) ?? "?";
      return setPipeline.call(this, pipeline);
    };
    pass.dispatchWorkgroups = function (this: GPUComputePassEncoder, ...size: [number, number?, number?]) {
      counts.programs++;
      counts.byProgram.set(current, (counts.byProgram.get(current) ?? 0) + 1);
      return dispatch.apply(this, size);
    };
    be.uploadToGPU = function (this: Recorder, id: object) {
      const d = this.tensorMap.get(id);
      if (d.resource == null && d.values != null) counts.uploads++;
      return upload.call(this, id);
    };
    be.makeUniforms = function (this: Recorder, u: unknown) {
      counts.uniforms++;
      return makeUniforms.call(this, u);
    };
  }
  try {
    await fn();
  } finally {
    engine.runKernel = runKernel;
    if (pass && setPipeline && dispatch && upload && makeUniforms) {
      [pass.setPipeline, pass.dispatchWorkgroups, be.uploadToGPU, be.makeUniforms] = [setPipeline, dispatch, upload, makeUniforms];
    }
  }
  return counts;
}
