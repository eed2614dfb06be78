// The few pieces of tfjs-backend-webgpu's program interface that tsdl's kernels use.
//
// A program is WGSL that tfjs completes with bindings (`result`, one array per entry of variableNames, `uniforms`)
// and an entry point that calls `fn main()`; the builtins are in the private variables localId, workgroupId, ….
// tfjs keys its pipeline cache by shaderKey plus the ranks (not the sizes) of the inputs and output. tsdl bakes every
// size into the WGSL, so its shaderKey is a name plus the code itself: programs share a pipeline only when their
// code is the same. (The code, not a hash of it: a key is looked up on every dispatch, and a JavaScript hash of a
// few kilobytes costs ~15 µs where the engine's own string hashing costs ~1.)
import * as tf from "@tensorflow/tfjs";
import type { WebGPUBackend, WebGPUProgram } from "@tensorflow/tfjs-backend-webgpu";

export type TensorInfo = tf.TensorInfo;

/** The backend as the kernels use it. */
export type Backend = WebGPUBackend;

/** A program whose `main()` indexes by workgroupId/localId (no flat index, no uniforms of its own). */
export function program(p: {
  variableNames: string[];
  outputShape: number[];
  /** A readable name; the key adds a hash of the code. */
  name: string;
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  code: string;
  /**
   * Fields of the program's own appended to tfjs's uniforms, e.g. "lr : f32, wd : f32,": values that change from
   * call to call (a learning rate) go there, not into the code, or each value would compile a pipeline. Their
   * values are runWebGPUProgram's fourth argument.
   */
  uniforms?: string;
}): WebGPUProgram {
  return {
    variableNames: p.variableNames,
    outputShape: p.outputShape,
    shaderKey: `${p.name}_${p.code}`,
    dispatch: p.dispatch,
    // Two dimensions that match no output rank here: tfjs then emits no getOutputCoords and calls main() bare.
    dispatchLayout: { x: [0], y: [1] },
    workgroupSize: p.workgroupSize,
    getUserCode: () => p.code,
    ...(p.uniforms ? { uniforms: p.uniforms } : {}),
  };
}

/** The most workgroups one dispatch dimension may have (the device's limit, at least WebGPU's default). */
export function maxWorkgroups(backend: Backend): number {
  return backend.device.limits.maxComputeWorkgroupsPerDimension || 65535;
}

/**
 * One thread per value for `count` values, in workgroups of 256 threads: the dispatch's x and y (rows of at most the
 * device's workgroups per dimension) and the WGSL expression of a thread's value index (of workgroupId, localId).
 */
export function flatGrid(count: number, backend: Backend, name: string): { dispatch: [number, number]; index: string } {
  const limit = maxWorkgroups(backend);
  const groups = Math.max(1, Math.ceil(count / 256));
  const gx = Math.min(groups, limit);
  const gy = Math.ceil(groups / gx);
  if (gy > limit) throw new Error(`tsdl ${name}: ${count} values is more than one dispatch takes (${limit}² workgroups of 256)`);
  return { dispatch: [gx, gy], index: `(i32(workgroupId.y) * ${i32(gx)} + i32(workgroupId.x)) * 256 + i32(localId.x)` };
}

const codeCache = new Map<string, string>();
/** Generated programs kept (a network has a few dozen distinct convolutions; a full cache starts again). */
const CODE_CACHE_SIZE = 1024;

/**
 * The WGSL `make` gives, kept under `key` (which must name everything the code depends on): a gemm's code takes
 * ~40 µs to build, and a ResNet step dispatches about 60 of them, on the CPU that issues the step's programs.
 */
export function cachedCode(key: string, make: () => string): string {
  let code = codeCache.get(key);
  if (code === undefined) {
    if (codeCache.size >= CODE_CACHE_SIZE) codeCache.clear();
    code = make();
    codeCache.set(key, code);
  }
  return code;
}

/** An i32 literal for WGSL. */
export function i32(n: number): string {
  if (!Number.isInteger(n)) throw new Error(`tsdl: not an integer: ${n}`);
  return `${n}`;
}

/**
 * A program with several outputs, which tfjs's programs cannot have (one `result` each): tsdl compiles and
 * records it itself, on tfjs's command encoder and compute pass, so it is ordered with tfjs's programs and batched
 * into the same submissions. Bindings: the outputs (read_write), then the inputs (read), then `uniforms` with the
 * program's f32 fields; all of them in an explicit layout, so a binding the code does not read is still valid.
 */
export interface MultiOutputProgram {
  /** A readable name; the pipeline's key adds a hash of the code. */
  name: string;
  /** Output arrays (f32), in the order of the returned tensors. */
  outputs: string[];
  /** Input arrays (f32), in the order of the inputs given to runMultiOutput. */
  inputs: string[];
  /** Inputs that are int32 tensors, read as array<i32>. */
  int32Inputs?: string[];
  /** f32 uniform fields, read as uniforms.<name>; their values are runMultiOutput's last argument. */
  uniforms?: string[];
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  /** WGSL defining `fn main()`, which reads the builtins as localId and workgroupId (as in tfjs's programs). */
  code: string;
}

/** tfjs-backend-webgpu's members that recording a dispatch uses (4.22; pinned). */
interface Recorder {
  device: GPUDevice;
  pipelineCache: Record<string, unknown>;
  commandEncoder: GPUCommandEncoder | null;
  computePassEncoder: GPUComputePassEncoder | null;
  commandQueueOwnedIds: WeakSet<object>;
  dispatchCountInPass: number;
  activeTimers: Array<{ name: string; query: Promise<number> | number }> | null;
  supportTimestampQuery: boolean;
  querySet: GPUQuerySet | null;
  querySetCount: number;
  uploadToGPU(dataId: object): void;
  tensorToBinding(t: TensorInfo): GPUBufferBinding;
  makeUniforms(u: Array<{ type: string; data: number[] }>): GPUBufferBinding;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  getQueryTime(): Promise<number>;
}

/** Runs `p` on `inputs` (float32, or int32 where p says); returns new float32 tensors of `outputShapes`. */
export function runMultiOutput(
  backend: Backend,
  p: MultiOutputProgram,
  inputs: TensorInfo[],
  outputShapes: number[][],
  uniformValues: number[] = [],
): TensorInfo[] {
  const r = backend as unknown as Recorder;
  const fields = p.uniforms ?? [];
  if (inputs.length !== p.inputs.length || outputShapes.length !== p.outputs.length || uniformValues.length !== fields.length) {
    throw new Error(
      `tsdl ${p.name}: ${p.inputs.length} inputs, ${p.outputs.length} outputs and ${fields.length} uniforms expected, got ${inputs.length}, ${outputShapes.length} and ${uniformValues.length}`,
    );
  }
  const source = multiOutputSource(p);
  const key = `${p.name}_${source}`; // (as program()'s shaderKey)
  let pipeline = r.pipelineCache[key] as GPUComputePipeline | undefined;
  if (!pipeline) {
    pipeline = compile(r.device, p, source);
    r.pipelineCache[key] = pipeline;
  }
  const storage = p.outputs.length + p.inputs.length;
  if (storage > r.device.limits.maxStorageBuffersPerShaderStage) {
    throw new Error(
      `tsdl ${p.name}: binds ${storage} storage buffers and this device binds ${r.device.limits.maxStorageBuffersPerShaderStage} per program (maxStorageBuffersPerShaderStage)`,
    );
  }
  const outputs = outputShapes.map((shape) => backend.makeTensorInfo(shape, "float32"));
  const tensors = [...outputs, ...inputs];
  tensors.forEach((t, i) => {
    const want = i >= outputs.length && p.int32Inputs?.includes(p.inputs[i - outputs.length]) ? "int32" : "float32";
    if (t.dtype !== want) throw new Error(`tsdl ${p.name}: binding ${i} takes ${want}, got ${t.dtype} [${t.shape.join(", ")}]`);
  });
  for (const t of tensors) {
    r.uploadToGPU(t.dataId);
    r.commandQueueOwnedIds.add(t.dataId);
  }
  const uniforms = r.makeUniforms((fields.length ? uniformValues : [0]).map((v) => ({ type: "float32", data: [v] })));
  const bindGroup = r.device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [...tensors.map((t, i) => ({ binding: i, resource: r.tensorToBinding(t) })), { binding: tensors.length, resource: uniforms }],
  });
  // As tfjs records its own programs: one open compute pass, submitted every WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE
  // dispatches, or alone with timestamps while tf.time()/tf.profile() collect kernel times.
  const timed = r.activeTimers != null;
  r.ensureCommandEncoderReady();
  if (timed && r.supportTimestampQuery) {
    r.endComputePassEncoder();
    r.querySet ??= r.device.createQuerySet({ type: "timestamp", count: r.querySetCount });
    r.computePassEncoder = r.commandEncoder!.beginComputePass({
      timestampWrites: { querySet: r.querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 },
    });
  } else if (!r.computePassEncoder) {
    r.computePassEncoder = r.commandEncoder!.beginComputePass({});
  }
  r.computePassEncoder.setPipeline(pipeline);
  r.computePassEncoder.setBindGroup(0, bindGroup);
  r.computePassEncoder.dispatchWorkgroups(...p.dispatch);
  r.dispatchCountInPass++;
  if (timed || (tf.env().get("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE") as number) <= r.dispatchCountInPass) {
    r.endComputePassEncoder();
    if (timed) r.activeTimers!.push({ name: p.name, query: r.getQueryTime() });
    else r.submitQueue();
  }
  return outputs;
}

function multiOutputSource(p: MultiOutputProgram): string {
  const n = p.outputs.length;
  const fields = p.uniforms?.length ? p.uniforms : ["unused"];
  return `
fn isnan(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }
${p.outputs.map((name, i) => `@group(0) @binding(${i}) var<storage, read_write> ${name}: array<f32>;`).join("\n")}
${p.inputs.map((name, i) => `@group(0) @binding(${n + i}) var<storage, read> ${name}: array<${p.int32Inputs?.includes(name) ? "i32" : "f32"}>;`).join("\n")}
struct Uniforms { ${fields.map((f) => `${f}: f32,`).join(" ")} };
@group(0) @binding(${n + p.inputs.length}) var<uniform> uniforms: Uniforms;
var<private> localId: vec3<u32>;
var<private> workgroupId: vec3<u32>;
${p.code}
@compute @workgroup_size(${p.workgroupSize.join(", ")})
fn _start(@builtin(local_invocation_id) l: vec3<u32>, @builtin(workgroup_id) w: vec3<u32>) {
  localId = l;
  workgroupId = w;
  main();
}
`;
}

function compile(device: GPUDevice, p: MultiOutputProgram, source: string): GPUComputePipeline {
  const storage = (type: GPUBufferBindingType, binding: number): GPUBindGroupLayoutEntry => ({
    binding,
    visibility: GPUShaderStage.COMPUTE,
    buffer: { type },
  });
  const n = p.outputs.length;
  const layout = device.createBindGroupLayout({
    entries: [
      ...p.outputs.map((_, i) => storage("storage", i)),
      ...p.inputs.map((_, i) => storage("read-only-storage", n + i)),
      storage("uniform", n + p.inputs.length),
    ],
  });
  return device.createComputePipeline({
    label: p.name,
    layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
    compute: { module: device.createShaderModule({ code: source, label: p.name }), entryPoint: "_start" },
  });
}
