// One way to check an argument and to say what was wrong with it. Every message has the form
//   `<where>: <name> must be <what is accepted>, got <the value described>`
// where <where> names what the user called ("StepLR", "SGD.addParamGroup", "train", "tsdl.plot.lossCurve").
// This file imports no other tsdl module.

/** An Error subclass a folder throws instead of Error (e.g. plot.PlotInputError). */
export type ErrorClass = new (message: string) => Error;

const MAX_STRING = 40;
const MAX_ITEMS = 8;

/** A tf.Tensor, duck-typed (the kernel and a script may load different tfjs instances). */
function isTensorLike(v: object): v is { shape: number[]; dtype: string } {
  const t = v as { shape?: unknown; dtype?: unknown; dataSync?: unknown };
  return Array.isArray(t.shape) && typeof t.dtype === "string" && typeof t.dataSync === "function";
}

/**
 * A short, data-free description of a value for error messages: `5`, `NaN`, `"avg"`, `[0.5, 0.5]`, `undefined`,
 * `a float32 tensor of shape [2, 3]`, `an array of length 1000`, `an object with keys [a, b]`, `a Map`, or the
 * value's own toString() when its class has one (`FloatImage(32x32x3)`).
 */
export function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v.length > MAX_STRING ? `${v.slice(0, MAX_STRING)}…` : v);
  if (typeof v === "function") return v.name ? `function ${v.name}` : "a function";
  if (v === null || typeof v !== "object") return String(v);
  if (Array.isArray(v)) {
    if (v.length <= MAX_ITEMS && v.every((x) => x === null || (typeof x !== "object" && typeof x !== "function")))
      return `[${v.map(describe).join(", ")}]`;
    return `an array of length ${v.length}`;
  }
  if (isTensorLike(v)) return `a ${v.dtype} tensor of shape [${v.shape.join(", ")}]`;
  const proto = Object.getPrototypeOf(v) as { constructor?: { name?: string }; toString?: unknown } | null;
  if (proto === null || proto === Object.prototype) {
    const keys = Object.keys(v);
    if (keys.length === 0) return "{}";
    return `an object with keys [${keys.slice(0, 6).join(", ")}${keys.length > 6 ? ", …" : ""}]`;
  }
  if (typeof proto.toString === "function" && proto.toString !== Object.prototype.toString) {
    const s = String(v);
    if (s.length <= 2 * MAX_STRING && !s.includes("\n")) return s;
  }
  const name = proto.constructor?.name;
  return name ? `${/^[AEIOU]/.test(name) ? "an" : "a"} ${name}` : "an object";
}

/** A number in `digits` significant digits without trailing zeros: 0.010000000000000002 -> 0.01. */
export function formatNumber(v: number, digits = 6): string {
  return Number.isFinite(v) ? String(Number(v.toPrecision(digits))) : String(v);
}

/** The message for a bad value: `<where>: <name> must be <expected>, got <value>`. */
export function mustBe(where: string, name: string, expected: string, v: unknown): string {
  return `${where}: ${name} must be ${expected}, got ${describe(v)}`;
}

/** Throws (as `E`) the message for a bad value. */
export function fail(where: string, name: string, expected: string, v: unknown, E: ErrorClass = Error): never {
  throw new E(mustBe(where, name, expected, v));
}

/** Bounds for checkNumber: inclusive `min`/`max`, exclusive `above`/`below`. */
export interface NumberRange {
  min?: number;
  max?: number;
  above?: number;
  below?: number;
}

function rangeText(r: NumberRange): string {
  const parts: string[] = [];
  if (r.above !== undefined) parts.push(`> ${r.above}`);
  if (r.min !== undefined) parts.push(`>= ${r.min}`);
  if (r.below !== undefined) parts.push(`< ${r.below}`);
  if (r.max !== undefined) parts.push(`<= ${r.max}`);
  return parts.length ? `a finite number ${parts.join(" and ")}` : "a finite number";
}

/** A finite number within `range`. */
export function checkNumber(where: string, name: string, v: unknown, range: NumberRange = {}, E: ErrorClass = Error): number {
  const ok =
    typeof v === "number" &&
    Number.isFinite(v) &&
    (range.min === undefined || v >= range.min) &&
    (range.max === undefined || v <= range.max) &&
    (range.above === undefined || v > range.above) &&
    (range.below === undefined || v < range.below);
  if (!ok) fail(where, name, rangeText(range), v, E);
  return v as number;
}

/** An integer >= `min` ("a positive integer" when min is 1). */
export function checkInt(where: string, name: string, v: unknown, min = -Infinity, E: ErrorClass = Error): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
    const expected = min === 1 ? "a positive integer" : min === -Infinity ? "an integer" : `an integer >= ${min}`;
    fail(where, name, expected, v, E);
  }
  return v as number;
}

/** One of the `accepted` strings. */
export function checkOneOf<T extends string>(where: string, name: string, v: unknown, accepted: readonly T[], E: ErrorClass = Error): T {
  if (!(accepted as readonly unknown[]).includes(v)) fail(where, name, `one of ${accepted.map((a) => JSON.stringify(a)).join(", ")}`, v, E);
  return v as T;
}

/** true or false. */
export function checkBool(where: string, name: string, v: unknown, E: ErrorClass = Error): boolean {
  if (typeof v !== "boolean") fail(where, name, "true or false", v, E);
  return v as boolean;
}

/** A plain object (not null, not an array). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
