// Scheduler state dicts: plain JSON-able data, keys named after PyTorch's (camelCase, leading underscore
// dropped), so a PyTorch `state_dict()` loads too.
import { describe } from "../core/check";

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

/**
 * The updates a loaded `state` makes to a scheduler whose own state is `own`: keys camelCased (PyTorch's
 * snake_case accepted), each value copied and passed through `convert`. Unknown keys are an error naming them.
 */
export function stateUpdates(where: string, own: StateDict, state: unknown, convert: (key: string, value: unknown) => unknown): StateDict {
  if (state === null || typeof state !== "object" || Array.isArray(state)) {
    throw new Error(`${where}: expected an object from stateDict(), got ${describe(state)}`);
  }
  const updates: StateDict = {};
  const unknown: string[] = [];
  for (const [rawKey, v] of Object.entries(state)) {
    const k = camelKey(rawKey);
    if (k in own) updates[k] = convert(k, copyData(v));
    else if (!TORCH_ONLY_KEYS.has(k)) unknown.push(rawKey);
  }
  if (unknown.length) {
    throw new Error(
      `${where}: unknown keys ${unknown.map((k) => JSON.stringify(k)).join(", ")} ` +
        `(a state of another scheduler?); accepted: ${Object.keys(own).join(", ")}`,
    );
  }
  return updates;
}
