// How tsdl's kernels run their WGSL programs on tfjs-backend-webgpu.
//
// tsdl compiles and records its programs itself, on tfjs's command encoder and compute pass, so they are ordered
// with tfjs's programs and batched into the same submissions. It does not go through tfjs's runWebGPUProgram,
// because a training step on a GPU is bound by the CPU that issues its ~230 programs, and tfjs's path costs ~70 µs
// of CPU per dispatch (Dawn's null device): it builds and hashes a shader key of the shapes, and writes a uniform
// buffer of shapes and strides. tsdl bakes the sizes into the code, so a program binds no uniforms unless it declares
// some, and its pipeline is found by its code string (hashed once where a kernel keeps its code: cachedCode).
// The bind group is made afresh each time: one kept per set of buffers hit 18% of a ResNet step's dispatches (tfjs's
// buffer pool hands out other buffers from step to step).
import * as tf from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";

export type TensorInfo = tf.TensorInfo;

/** The backend as the kernels use it. */
export type Backend = WebGPUBackend;

/**
 * A program: WGSL defining `fn main()`, which reads the builtins as localId and workgroupId. Bindings: the
 * outputs (read_write), then the inputs (read), then, if it has uniforms, `uniforms` with those f32 fields.
 */
export interface MultiOutputProgram {
  /** A readable name (profiles and dispatch counts show it). */
  name: string;
  /** Output arrays (f32), in the order of the returned tensors. */
  outputs: string[];
  /** Input arrays (f32), in the order of the inputs given to runMultiOutput. */
  inputs: string[];
  /** Inputs that are int32 tensors, read as array<i32>. */
  int32Inputs?: string[];
  /**
   * f32 uniform fields, read as uniforms.<name>; their values are runMultiOutput's last argument. Values that
   * change from call to call (a learning rate) go there, not into the code, or each value would compile a pipeline.
   */
  uniforms?: string[];
  /** Every f32 array is read and written as vec4<f32> (four values per element). */
  vec4?: boolean;
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  code: string;
}

/** A program with one output, `result`, of `outputShape`; its inputs are named by variableNames. */
export interface Program {
  name: string;
  variableNames: string[];
  outputShape: number[];
  vec4?: boolean;
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  code: string;
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
 * ~40 µs to build, and a ResNet step dispatches about 60 of them, on the CPU that issues the step's programs. The
 * same string each time also makes finding its pipeline cheap (a string's hash is computed once).
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

/** Runs a one-output program on float32 `inputs`; returns its float32 output (empty: no dispatch). */
export function runProgram(backend: Backend, p: Program, inputs: TensorInfo[]): TensorInfo {
  if (tf.util.sizeFromShape(p.outputShape) === 0) return backend.makeTensorInfo(p.outputShape, "float32", new Float32Array(0));
  return runMultiOutput(backend, { ...p, outputs: ["result"], inputs: p.variableNames }, inputs, [p.outputShape])[0];
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

interface Compiled {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

/** Per backend: code → the rest of the program's signature → its pipeline. */
const pipelines = new WeakMap<object, Map<string, Map<string, Compiled>>>();

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
  inputs.forEach((t, i) => {
    const want = p.int32Inputs?.includes(p.inputs[i]) ? "int32" : "float32";
    if (t.dtype !== want) throw new Error(`tsdl ${p.name}: input ${p.inputs[i]} takes ${want}, got ${t.dtype} [${t.shape.join(", ")}]`);
  });
  // (tfjs's own path throws here too: a larger dispatch would be invalid, and with it its whole command buffer)
  const limit = maxWorkgroups(backend);
  if (p.dispatch.some((d) => d > limit))
    throw new Error(`tsdl ${p.name}: dispatch [${p.dispatch.join(", ")}] exceeds this device's ${limit} workgroups per dimension`);
  const compiled = pipelineFor(r, p);
  const outputs = outputShapes.map((shape) => backend.makeTensorInfo(shape, "float32"));
  const tensors = [...outputs, ...inputs];
  const entries: GPUBindGroupEntry[] = [];
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i];
    r.uploadToGPU(t.dataId);
    r.commandQueueOwnedIds.add(t.dataId);
    entries.push({ binding: i, resource: r.tensorToBinding(t) });
  }
  if (fields.length) {
    entries.push({ binding: tensors.length, resource: r.makeUniforms(uniformValues.map((v) => ({ type: "float32", data: [v] }))) });
  }
  const bindGroup = r.device.createBindGroup({ layout: compiled.layout, entries });
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
  r.computePassEncoder.setPipeline(compiled.pipeline);
  r.computePassEncoder.setBindGroup(0, bindGroup);
  r.computePassEncoder.dispatchWorkgroups(p.dispatch[0], p.dispatch[1], p.dispatch[2]);
  r.dispatchCountInPass++;
  if (timed || (tf.env().get("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE") as number) <= r.dispatchCountInPass) {
    r.endComputePassEncoder();
    if (timed) r.activeTimers!.push({ name: p.name, query: r.getQueryTime() });
    else r.submitQueue();
  }
  return outputs;
}

/** The pipeline of `p`, compiled on first use; also entered in tfjs's pipelineCache, which counts programs. */
function pipelineFor(r: Recorder, p: MultiOutputProgram): Compiled {
  const signature = `${p.name}|${p.outputs.join(",")}|${p.inputs.join(",")}|${p.int32Inputs?.join(",") ?? ""}|${p.uniforms?.join(",") ?? ""}|${p.vec4 ? 4 : 1}|${p.workgroupSize.join(",")}`;
  let byCode = pipelines.get(r);
  if (!byCode) {
    byCode = new Map();
    pipelines.set(r, byCode);
  }
  let bySignature = byCode.get(p.code);
  if (!bySignature) {
    bySignature = new Map();
    byCode.set(p.code, bySignature);
  }
  let compiled = bySignature.get(signature);
  if (!compiled) {
    const storage = p.outputs.length + p.inputs.length;
    if (storage > r.device.limits.maxStorageBuffersPerShaderStage) {
      throw new Error(
        `tsdl ${p.name}: binds ${storage} storage buffers and this device binds ${r.device.limits.maxStorageBuffersPerShaderStage} per program (maxStorageBuffersPerShaderStage)`,
      );
    }
    compiled = compile(r.device, p);
    bySignature.set(signature, compiled);
    r.pipelineCache[`${p.name}_tsdl${Object.keys(r.pipelineCache).length}`] = compiled.pipeline;
  }
  return compiled;
}

function programSource(p: MultiOutputProgram): string {
  const n = p.outputs.length;
  const f32 = p.vec4 ? "vec4<f32>" : "f32";
  const fields = p.uniforms ?? [];
  return `
fn isnan(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }
fn isnanVec4(v: vec4<f32>) -> vec4<bool> { return (bitcast<vec4<u32>>(v) & vec4<u32>(0x7fffffffu)) > vec4<u32>(0x7f800000u); }
${p.outputs.map((name, i) => `@group(0) @binding(${i}) var<storage, read_write> ${name}: array<${f32}>;`).join("\n")}
${p.inputs.map((name, i) => `@group(0) @binding(${n + i}) var<storage, read> ${name}: array<${p.int32Inputs?.includes(name) ? "i32" : f32}>;`).join("\n")}
${fields.length ? `struct Uniforms { ${fields.map((f) => `${f}: f32,`).join(" ")} };\n@group(0) @binding(${n + p.inputs.length}) var<uniform> uniforms: Uniforms;` : ""}
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

function compile(device: GPUDevice, p: MultiOutputProgram): Compiled {
  const source = programSource(p);
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
      ...(p.uniforms?.length ? [storage("uniform", n + p.inputs.length)] : []),
    ],
  });
  const pipeline = device.createComputePipeline({
    label: p.name,
    layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
    compute: { module: device.createShaderModule({ code: source, label: p.name }), entryPoint: "_start" },
  });
  return { pipeline, layout };
}
