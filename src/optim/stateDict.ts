// The on-disk form of an optimizer: plain JSON (hyperparameters) with state tensors as base64 float32; saving
// an optimizer's groups and per-parameter state into it, and checking and decoding one before it is loaded.
import * as tf from "@tensorflow/tfjs";
import { checkInt, checkNumber, describe, fail, isObject } from "../core/check";
import { SCHEDULER_KEYS } from "../core/protocols";
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

/** Float32 values of an encoded tensor, checked against its shape; errors name it `name`. */
function decodeValues(e: EncodedTensor, where: string, name: string): Float32Array {
  if (!isObject(e)) fail(where, name, "an encoded tensor { dtype, shape, base64 }", e);
  if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0))
    fail(where, `${name}.shape`, "an array of integers >= 0", e.shape);
  if (e.dtype !== "float32") fail(where, `${name}.dtype`, '"float32"', e.dtype);
  const size = e.shape.reduce((a, b) => a * b, 1);
  if (typeof e.base64 === "string") {
    const buf = Buffer.from(e.base64, "base64");
    if (buf.byteLength !== size * 4)
      throw new Error(
        `${where}: ${name}.base64 must hold ${size * 4} bytes (the float32 values of shape [${e.shape}]), got ${buf.byteLength} bytes`,
      );
    const values = new Float32Array(size);
    new Uint8Array(values.buffer).set(buf);
    return values;
  }
  if (Array.isArray(e.data)) {
    if (e.data.length !== size || !e.data.every((x) => typeof x === "number"))
      fail(where, `${name}.data`, `an array of ${size} numbers (shape [${e.shape}])`, e.data);
    return Float32Array.from(e.data);
  }
  return fail(where, name, "an encoded tensor with base64 (or data)", e);
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
  /** The names of the per-parameter buffers it keeps (momentumBuffer, ...); undefined: any. */
  bufferNames?: readonly string[];
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
  if (!isObject(sd) || sd.format !== STATE_DICT_FORMAT)
    throw new Error(
      `${at}: not a tsdl optimizer state dict (format ${describe(sd?.format)}; expected ${JSON.stringify(STATE_DICT_FORMAT)})`,
    );
  if (sd.optimizer !== target.kind) throw new Error(`${at}: the state dict is from ${sd.optimizer}, this optimizer is ${target.kind}`);
  const n = groups.length;
  if (!Array.isArray(sd.paramGroups) || sd.paramGroups.length !== n)
    fail(at, "paramGroups", `an array of ${n} group${n === 1 ? "" : "s"} (one per param group of this optimizer)`, sd.paramGroups);
  sd.paramGroups.forEach((g, i) => {
    if (!isObject(g)) fail(at, `paramGroups[${i}]`, "a group { params, lr, ... }", g);
    const k = groups[i].params.length;
    if (!Array.isArray(g.params) || g.params.length !== k || !g.params.every((p) => typeof p === "string"))
      fail(at, `paramGroups[${i}].params`, `an array of ${k} variable name${k === 1 ? "" : "s"} (the group's parameters here)`, g.params);
  });
  const stepCount = sd.stepCount === undefined ? 0 : checkInt(at, "stepCount", sd.stepCount, 0);
  // Saved name -> variable: by name when every saved name is one of ours, else by position.
  const ours = new Map(groups.flatMap((g) => [...g.params]).map((v) => [v.name, v] as const));
  const byName = sd.paramGroups.every((g) => g.params.every((p) => ours.has(p)));
  const variableOf = new Map<string, tf.Variable>();
  sd.paramGroups.forEach((g, i) => g.params.forEach((p, j) => variableOf.set(p, byName ? ours.get(p)! : groups[i].params[j])));
  // Hyperparameters, checked.
  const newGroups = sd.paramGroups.map((g, i) => {
    const { params: _p, ...rest } = g;
    const h = JSON.parse(JSON.stringify(rest)) as Record<string, unknown>;
    const where = `${at}: param group ${i}`;
    for (const k of target.hyperKeys) if (!(k in h)) throw new Error(`${where} lacks ${k}`);
    target.check(h, where);
    for (const k of SCHEDULER_KEYS) if (h[k] !== undefined) checkNumber(where, k, h[k]);
    if (h.name !== undefined && typeof h.name !== "string") fail(where, "name", "a string", h.name);
    return h;
  });
  // State values, checked and decoded.
  if (sd.state !== undefined && !isObject(sd.state)) fail(at, "state", "an object { <variable name>: { step, buffers } }", sd.state);
  const state: DecodedState["state"] = new Map();
  for (const [p, st] of Object.entries(sd.state ?? {})) {
    const name = `state[${JSON.stringify(p)}]`;
    const v = variableOf.get(p);
    if (!v)
      throw new Error(
        `${at}: ${name} is for a variable in no saved param group; accepted: the names in paramGroups[].params (${describe([...variableOf.keys()])})`,
      );
    if (!isObject(st)) fail(at, name, "{ step, buffers }", st);
    checkInt(at, `${name}.step`, st.step, 0);
    if (st.buffers !== undefined && !isObject(st.buffers)) fail(at, `${name}.buffers`, "an object of encoded tensors", st.buffers);
    const known = target.bufferNames;
    const unknown = Object.keys(st.buffers ?? {}).filter((k) => known && !known.includes(k));
    if (known && unknown.length)
      fail(
        at,
        `${name}.buffers`,
        `an object with keys among ${known.map((k) => JSON.stringify(k)).join(", ")} (what ${target.kind} keeps)`,
        st.buffers,
      );
    const buffers: Record<string, [number[], Float32Array]> = {};
    for (const [k, e] of Object.entries(st.buffers ?? {})) {
      const values = decodeValues(e, at, `${name}.buffers.${k}`);
      if (!tf.util.arraysEqual(e.shape, v.shape)) fail(at, `${name}.buffers.${k}.shape`, `[${v.shape}] (the shape of ${v.name})`, e.shape);
      buffers[k] = [e.shape, values];
    }
    state.set(v, { step: st.step, buffers });
  }
  return { groups: newGroups, state, stepCount };
}
