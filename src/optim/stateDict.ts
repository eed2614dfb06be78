// The on-disk form of an optimizer: plain JSON (hyperparameters) with state tensors as base64 float32.
import * as tf from "@tensorflow/tfjs";

/** A tensor as JSON: little-endian float32 bytes in base64 (exact, ~4/3 bytes per byte). */
export interface EncodedTensor {
  dtype: "float32";
  shape: number[];
  /** base64 of the little-endian float32 values; `data` (plain numbers) is accepted on load instead. */
  base64?: string;
  data?: number[];
}

/** The state of one parameter: its step count and its buffers (momentumBuffer, expAvg, expAvgSq, ...). */
export interface EncodedParamState {
  step: number;
  buffers: Record<string, EncodedTensor>;
}

/** A group as saved: every hyperparameter and extra key, and the names of its variables. */
export type SavedGroup = { params: string[] } & Record<string, unknown>;

/**
 * What `opt.stateDict()` returns and `opt.loadStateDict()` takes. JSON-serialisable as is:
 * `fs.writeFileSync(path, JSON.stringify(opt.stateDict()))`.
 * ```
 * { format: "tsdl.optim/1", optimizer: "SGD", stepCount: 120,
 *   paramGroups: [{ params: ["dense_Dense1/kernel", ...], lr: 0.1, momentum: 0.9, ..., initialLr: 0.1 }],
 *   state: { "dense_Dense1/kernel": { step: 120, buffers: { momentumBuffer: { dtype, shape, base64 } } } } }
 * ```
 * State is keyed by variable name. Loading matches by name when every saved name is a parameter of the
 * loading optimizer, else by position (group i, param j) as PyTorch does, checking shapes either way.
 */
export interface OptimizerStateDict {
  format: "tsdl.optim/1";
  optimizer: string;
  stepCount: number;
  paramGroups: SavedGroup[];
  state: Record<string, EncodedParamState>;
}

export const STATE_DICT_FORMAT = "tsdl.optim/1";

export function encodeTensor(t: tf.Tensor): EncodedTensor {
  const values = t.dataSync() as Float32Array;
  const bytes = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  return { dtype: "float32", shape: [...t.shape], base64: bytes.toString("base64") };
}

/** Float32 values of an encoded tensor, checked against its shape. */
export function decodeValues(e: EncodedTensor, where: string): Float32Array {
  if (!e || typeof e !== "object" || !Array.isArray(e.shape)) throw new Error(`${where}: not an encoded tensor { dtype, shape, base64 }`);
  if (e.dtype !== "float32") throw new Error(`${where}: dtype ${JSON.stringify(e.dtype)}; only "float32" is supported`);
  const size = e.shape.reduce((a, b) => a * b, 1);
  let values: Float32Array;
  if (typeof e.base64 === "string") {
    const buf = Buffer.from(e.base64, "base64");
    if (buf.byteLength !== size * 4) throw new Error(`${where}: ${buf.byteLength} bytes of data for shape [${e.shape}] (${size * 4} expected)`);
    values = new Float32Array(size);
    new Uint8Array(values.buffer).set(buf);
  } else if (Array.isArray(e.data)) {
    if (e.data.length !== size) throw new Error(`${where}: ${e.data.length} values for shape [${e.shape}] (${size} expected)`);
    values = Float32Array.from(e.data);
  } else throw new Error(`${where}: has neither base64 nor data`);
  return values;
}
