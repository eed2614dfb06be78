// The few pieces of tfjs-backend-webgpu's program interface that tsdl's kernels use.
//
// A program is WGSL that tfjs completes with bindings (`result`, one array per entry of variableNames, `uniforms`)
// and an entry point that calls `fn main()`; the builtins are in the private variables localId, workgroupId, ….
// tfjs keys its pipeline cache by shaderKey plus the ranks (not the sizes) of the inputs and output. tsdl bakes every
// size into the WGSL, so its shaderKey is a name plus a hash of the code: programs share a pipeline only when their
// code is the same.
import type * as tf from "@tensorflow/tfjs";
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
    shaderKey: `${p.name}_${codeHash(p.code)}`,
    dispatch: p.dispatch,
    // Two dimensions that match no output rank here: tfjs then emits no getOutputCoords and calls main() bare.
    dispatchLayout: { x: [0], y: [1] },
    workgroupSize: p.workgroupSize,
    getUserCode: () => p.code,
    ...(p.uniforms ? { uniforms: p.uniforms } : {}),
  };
}

/** 64-bit FNV-1a of a string, as 16 hex digits (two 32-bit lanes with different offsets). */
export function codeHash(s: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (a >>> 13);
  }
  return (a >>> 0).toString(16).padStart(8, "0") + (b >>> 0).toString(16).padStart(8, "0");
}

/** The most workgroups one dispatch dimension may have (the device's limit, at least WebGPU's default). */
export function maxWorkgroups(backend: Backend): number {
  return backend.device.limits.maxComputeWorkgroupsPerDimension || 65535;
}

/** An i32 literal for WGSL. */
export function i32(n: number): string {
  if (!Number.isInteger(n)) throw new Error(`tsdl: not an integer: ${n}`);
  return `${n}`;
}
