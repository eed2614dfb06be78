// Scheduler state dicts: plain JSON-able data, keys named after PyTorch's (camelCase, leading underscore
// dropped), so a PyTorch `state_dict()` loads too.
import { checkBool, checkInt, checkNumber, describe, fail, isObject } from "../core/check";

export type StateDict = { [key: string]: unknown };

/** PyTorch's private bookkeeping that tsdl does not keep; loading a PyTorch state dict skips these keys. */
const TORCH_ONLY_KEYS = new Set([
  "getLrCalledWithinStep",
  "isInitial",
  "verbose",
  "scaleFnRef",
  "scaleFnCustom",
  "annealFunc",
  "lrLambdas",
]);

/** `_step_count` -> `stepCount`, `T_max` -> `tMax`, `base_lrs` -> `baseLrs`. */
export function camelKey(key: string): string {
  const k = key.replace(/^_+/, "").replace(/_([A-Za-z0-9])/g, (_, c: string) => c.toUpperCase());
  return k.charAt(0).toLowerCase() + k.slice(1);
}

/** A deep copy of plain data (arrays and objects; other values as they are). */
export function copyData(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(copyData);
  if (v !== null && typeof v === "object") {
    const out: StateDict = {};
    for (const [k, x] of Object.entries(v)) out[k] = copyData(x);
    return out;
  }
  return v;
}

/** The own fields of `obj` as copied data, leaving out functions and the fields `skip` names. */
export function stateOf(obj: object, skip: (key: string, value: unknown) => boolean): StateDict {
  const out: StateDict = {};
  for (const [k, v] of Object.entries(obj)) {
    if (typeof v === "function" || skip(k, v)) continue;
    out[k] = copyData(v);
  }
  return out;
}

/** Keys holding whole numbers, with their least value (PyTorch's ints). */
const INTEGER_KEYS: Record<string, number> = {
  lastEpoch: -1,
  stepCount: 0,
  stepSize: 1,
  totalIters: 0,
  totalSteps: 1,
  t0: 1,
  tI: 1,
  tMult: 1,
  patience: 0,
  cooldown: 0,
  cooldownCounter: 0,
  numBadEpochs: 0,
};
/** Keys holding a list of epoch indices. */
const EPOCH_LIST_KEYS = new Set(["milestones"]);
/** Keys holding one value per param group. */
const PER_GROUP_KEYS = new Set(["baseLrs", "lastLr", "minLrs", "maxLrs", "baseMomentums", "maxMomentums"]);
/** ReduceLROnPlateau's best / modeWorse: ±Infinity before the first metric (null once through JSON). */
const UNBOUNDED_KEYS = new Set(["best", "modeWorse"]);

/** What a loaded value is checked against besides the scheduler's own value of the same key. */
export interface StateRules {
  /** Param groups of the optimizer (length of the per-group lists). */
  groups: number;
  /** Keys whose value is one of a few strings (CyclicLR's mode, ...). */
  choices: Readonly<Record<string, readonly string[]>>;
}

/**
 * Throws unless `v` (loaded under the name `name`) may replace the scheduler's own value `own` of `key`: the
 * same kind of value (numbers finite, whole where PyTorch keeps ints, one per group for per-group lists,
 * nested objects alike), or one of the accepted strings.
 */
function checkValue(where: string, name: string, key: string, v: unknown, own: unknown, rules: StateRules): void {
  if (key in INTEGER_KEYS) checkInt(where, name, v, INTEGER_KEYS[key]);
  else if (UNBOUNDED_KEYS.has(key)) {
    if (!(v === null || v === undefined || (typeof v === "number" && !Number.isNaN(v))))
      fail(where, name, "a number, ±Infinity or null (no metric yet)", v);
  } else if (rules.choices[key]) {
    if (!rules.choices[key].includes(v as string))
      fail(where, name, `one of ${rules.choices[key].map((c) => JSON.stringify(c)).join(", ")}`, v);
  } else if (EPOCH_LIST_KEYS.has(key)) {
    if (!Array.isArray(v) || !v.every((m) => Number.isInteger(m) && m >= 0))
      fail(where, name, "an array of epoch indices (integers >= 0)", v);
  } else if (PER_GROUP_KEYS.has(key)) {
    const n = rules.groups;
    if (!Array.isArray(v) || v.length !== n || !v.every((x) => typeof x === "number" && Number.isFinite(x))) {
      fail(where, name, `an array of ${n} finite number${n === 1 ? "" : "s"} (one per param group)`, v);
    }
  } else checkLike(where, name, v, own);
}

/** `v` is the same kind of value as `own`: a finite number, a string, a boolean, an array or object alike. */
function checkLike(where: string, name: string, v: unknown, own: unknown): void {
  if (typeof own === "number") checkNumber(where, name, v);
  else if (typeof own === "string") {
    if (typeof v !== "string") fail(where, name, "a string", v);
  } else if (typeof own === "boolean") checkBool(where, name, v);
  else if (Array.isArray(own)) {
    if (!Array.isArray(v)) fail(where, name, "an array", v);
    if (own.length > 0) (v as unknown[]).forEach((x, i) => checkLike(where, `${name}[${i}]`, x, own[0]));
  } else if (isObject(own)) {
    if (!isObject(v)) fail(where, name, `an object with keys [${Object.keys(own).join(", ")}]`, v);
    for (const [k, x] of Object.entries(own)) checkLike(where, `${name}.${k}`, (v as StateDict)[k], x);
  }
}

/**
 * The updates a loaded `state` makes to a scheduler whose own state is `own`: keys camelCased (PyTorch's
 * snake_case accepted), each value copied, passed through `convert` and checked against the scheduler's own
 * value and `rules`. Unknown keys and bad values are errors naming the key as given, the value and what is
 * accepted; nothing is applied here.
 */
export function stateUpdates(
  where: string,
  own: StateDict,
  state: unknown,
  rules: StateRules,
  convert: (key: string, value: unknown) => unknown,
): StateDict {
  if (state === null || typeof state !== "object" || Array.isArray(state)) {
    throw new Error(`${where}: expected an object from stateDict(), got ${describe(state)}`);
  }
  const unknown = Object.keys(state).filter((rawKey) => !(camelKey(rawKey) in own) && !TORCH_ONLY_KEYS.has(camelKey(rawKey)));
  if (unknown.length) {
    throw new Error(
      `${where}: unknown keys ${unknown.map((k) => JSON.stringify(k)).join(", ")} ` +
        `(a state of another scheduler?); accepted: ${Object.keys(own).join(", ")}`,
    );
  }
  const updates: StateDict = {};
  for (const [rawKey, v] of Object.entries(state)) {
    const k = camelKey(rawKey);
    if (!(k in own)) continue;
    const value = convert(k, copyData(v));
    checkValue(where, rawKey, k, value, own[k], rules);
    updates[k] = value;
  }
  return updates;
}
