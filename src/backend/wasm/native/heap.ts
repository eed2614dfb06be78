// What the native kernels need from tfjs-backend-wasm's BackendWasm: its heap, where a tensor lives in it, and
// new outputs. The native addon then reads and writes the tensors in place (byte offsets into the heap).
import type * as tf from "@tensorflow/tfjs";

export interface WasmBackendView {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

/** The wasm heap the addon reads and writes. */
export const heap = (b: WasmBackendView): ArrayBuffer => b.wasm.HEAPU8.buffer as ArrayBuffer;

/** Byte offset of tensor t's data in the heap. */
export const at = (b: WasmBackendView, t: tf.TensorInfo): number => b.dataIdMap.get(t.dataId).memoryOffset;
