// The on-disk form of an optimizer: plain JSON (hyperparameters) with state tensors as base64 float32; saving
// an optimizer's groups and per-parameter state into it, and checking and decoding one before it is loaded.
import * as tf from "@tensorflow/tfjs";
import { describe } from "../core/check";
import type { BaseHyper } from "./options";
import type { ParamGroup } from "./params";

/** Per-parameter state, kept by variable: how many updates it got and its buffers (momentumBuffer, expAvg, ...). */
export interface ParamState {
  step: number;
  buffers: Record<string, tf.Tensor>;
}

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

/** The state dict of an optimizer of kind `kind` (its groups' hyperparameters and its per-parameter state). */
export function encodeState(
  kind: string,
  stepCount: number,
  groups: ReadonlyArray<ParamGroup<BaseHyper>>,
  state: ReadonlyMap<tf.Variable, ParamState>,
): OptimizerStateDict {
  const paramGroups = groups.map((g) => {
    const { params, ...rest } = g;
    return { params: params.map((v) => v.name), ...(JSON.parse(JSON.stringify(rest)) as Record<string, unknown>) };
  });
  const encoded: Record<string, EncodedParamState> = {};
  for (const g of groups) {
    for (const v of g.params) {
      const st = state.get(v);
      if (!st) continue;
      const buffers: EncodedParamState["buffers"] = {};
      for (const [k, t] of Object.entries(st.buffers)) buffers[k] = encodeTensor(t);
      encoded[v.name] = { step: st.step, buffers };
    }
  }
  return { format: STATE_DICT_FORMAT, optimizer: kind, stepCount, paramGroups, state: encoded };
}

/** What loading a state dict into an optimizer needs to know of it. */
export interface LoadTarget {
  kind: string;
  groups: ReadonlyArray<ParamGroup<BaseHyper>>;
  hyperKeys: readonly string[];
  /** Checks one group's hyperparameters (throws naming `where`). */
  check(h: Record<string, unknown>, where: string): void;
}

/** A checked, decoded state dict: nothing is applied yet. */
export interface DecodedState {
  groups: Array<Record<string, unknown>>;
  state: Map<tf.Variable, { step: number; buffers: Record<string, [number[], Float32Array]> }>;
  stepCount: number;
}

/**
 * Checks `sd` against the optimizer `target` and decodes it, changing nothing. Saved names map to variables by
 * name when every saved name is one of the optimizer's, else by position (group i, param j), as PyTorch does.
 */
export function decodeState(sd: OptimizerStateDict, target: LoadTarget): DecodedState {
  const at = `${target.kind}.loadStateDict`;
  const groups = target.groups;
  if (!sd || typeof sd !== "object" || sd.format !== STATE_DICT_FORMAT)
    throw new Error(`${at}: not a tsdl optimizer state dict (format ${describe(sd?.format)}; expected ${JSON.stringify(STATE_DICT_FORMAT)})`);
  if (sd.optimizer !== target.kind) throw new Error(`${at}: the state dict is from ${sd.optimizer}, this optimizer is ${target.kind}`);
  if (!Array.isArray(sd.paramGroups) || sd.paramGroups.length !== groups.length)
    throw new Error(`${at}: the state dict has ${sd.paramGroups?.length} param groups, this optimizer ${groups.length}`);
  sd.paramGroups.forEach((g, i) => {
    if (!Array.isArray(g.params) || g.params.length !== groups[i].params.length)
      throw new Error(`${at}: param group ${i} has ${g.params?.length} parameters in the state dict, ${groups[i].params.length} here`);
  });
  // Saved name -> variable: by name when every saved name is one of ours, else by position.
  const ours = new Map(groups.flatMap((g) => [...g.params]).map((v) => [v.name, v] as const));
  const byName = sd.paramGroups.every((g) => g.params.every((n) => ours.has(n)));
  const variableOf = new Map<string, tf.Variable>();
  sd.paramGroups.forEach((g, i) => g.params.forEach((n, j) => variableOf.set(n, byName ? ours.get(n)! : groups[i].params[j])));
  // Hyperparameters, checked.
  const newGroups = sd.paramGroups.map((g, i) => {
    const { params: _p, ...rest } = g;
    const h = JSON.parse(JSON.stringify(rest)) as Record<string, unknown>;
    for (const k of target.hyperKeys) if (!(k in h)) throw new Error(`${at}: param group ${i} lacks ${k}`);
    target.check(h, `${at}: param group ${i}`);
    return h;
  });
  // State values, checked and decoded.
  const state: DecodedState["state"] = new Map();
  for (const [n, st] of Object.entries(sd.state ?? {})) {
    const v = variableOf.get(n);
    if (!v) throw new Error(`${at}: state for ${n}, which is in no saved param group`);
    if (!Number.isInteger(st.step) || st.step < 0) throw new Error(`${at}: state of ${n} has step ${describe(st.step)}`);
    const buffers: Record<string, [number[], Float32Array]> = {};
    for (const [k, e] of Object.entries(st.buffers ?? {})) {
      const values = decodeValues(e, `${at}: ${n}.${k}`);
      if (!tf.util.arraysEqual(e.shape, v.shape)) throw new Error(`${at}: ${n}.${k} has shape [${e.shape}], parameter ${v.name} is [${v.shape}]`);
      buffers[k] = [e.shape, values];
    }
    state.set(v, { step: st.step, buffers });
  }
  return { groups: newGroups, state, stepCount: Number.isInteger(sd.stepCount) ? sd.stepCount : 0 };
}
