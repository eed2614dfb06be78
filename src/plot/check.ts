// Input checks shared by the plot helpers: core/check's checks raising PlotInputError, and notes for values
// that were dropped (non-finite, or not positive on a log axis) instead of plotted.
import { checkBool, checkInt, checkOneOf, describe } from "../core/check";

/** Thrown for input a plot cannot be drawn from; the message names the value and what is accepted. */
export class PlotInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PlotInputError";
  }
}

export function fail(fn: string, message: string): never {
  throw new PlotInputError(`${at(fn)}: ${message}`);
}

/** A number in 3 significant digits, without trailing zeros: 0.1, 0.00125, 1.23e-7. */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return x.toExponential(2).replace(/\.?0+e/, "e");
  return String(Number(x.toPrecision(3)));
}

/** A loss or accuracy in 4 decimals, as printed by training loops. */
export function fmtValue(x: number): string {
  return Number.isFinite(x) ? x.toFixed(4) : String(x);
}

/**
 * Collects dropped points per series: "dropped 2 non-finite values: train loss at epoch 7 (NaN), 8 (Infinity)".
 * `keep(value, where)` returns whether the value may be plotted.
 */
export class Dropped {
  private readonly bySeries = new Map<string, Array<{ at: string; value: number; why: string }>>();

  constructor(private readonly positiveOnly = false) {}

  keep(value: number, series: string, at: string): boolean {
    let why: string | undefined;
    if (!Number.isFinite(value)) why = "non-finite";
    else if (this.positiveOnly && value <= 0) why = "not positive (log scale)";
    if (why === undefined) return true;
    const list = this.bySeries.get(series) ?? [];
    list.push({ at, value, why });
    this.bySeries.set(series, list);
    return false;
  }

  get count(): number {
    let n = 0;
    for (const l of this.bySeries.values()) n += l.length;
    return n;
  }

  notes(): string[] {
    const out: string[] = [];
    for (const [series, list] of this.bySeries) {
      const shown = list.slice(0, 3).map((d) => `${d.at} (${fmt(d.value)})`);
      const more = list.length > 3 ? `, … ${list.length - 3} more` : "";
      const whys = [...new Set(list.map((d) => d.why))].join(" or ");
      out.push(`dropped ${list.length} ${whys} ${series} value${list.length > 1 ? "s" : ""}: ${shown.join(", ")}${more}`);
    }
    return out;
  }
}

const at = (fn: string) => `tsdl.plot.${fn}`;

/** Checks an option that must be a positive integer (or absent). */
export function positiveInt(fn: string, name: string, v: unknown, fallback: number): number {
  return v === undefined ? fallback : checkInt(at(fn), name, v, 1, PlotInputError);
}

export function nonNegativeInt(fn: string, name: string, v: unknown, fallback: number): number {
  return v === undefined ? fallback : checkInt(at(fn), name, v, 0, PlotInputError);
}

export function oneOf<T extends string>(fn: string, name: string, v: unknown, accepted: readonly T[], fallback: T): T {
  return v === undefined ? fallback : checkOneOf(at(fn), name, v, accepted, PlotInputError);
}

/** Checks an option that is true, false or "auto" (absent means "auto"). */
export function boolOrAuto(fn: string, name: string, v: unknown): boolean | "auto" {
  if (v === undefined) return "auto";
  if (v !== true && v !== false && v !== "auto") fail(fn, `${name} must be true, false or "auto", got ${describe(v)}`);
  return v;
}

export function bool(fn: string, name: string, v: unknown, fallback: boolean): boolean {
  return v === undefined ? fallback : checkBool(at(fn), name, v, PlotInputError);
}
