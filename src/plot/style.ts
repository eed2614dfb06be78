// Shared look: matplotlib's tab10 colours (what PyTorch users know) and the top-level spec frame.
import { describe, isObject } from "../core/check";
import { fail } from "./check";
import { VegaLiteSpec } from "./render";

export const SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json";

/** matplotlib's default colour cycle (tab10). */
export const TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

export const LR_RULE_COLOR = "#7f7f7f";
export const SUGGESTION_COLOR = "#d62728";

/** Options every plot takes. */
export interface SizeOptions {
  /** Chart title (each helper has a default). */
  title?: string;
  /** Width of each panel in pixels (default 520). */
  width?: number;
  /** Height of each panel in pixels (default 280; 180 for second panels). */
  height?: number;
}

export function panelSize(opts: SizeOptions, second = false): { width: number; height: number } {
  return { width: opts.width ?? 520, height: opts.height ?? (second ? 180 : 280) };
}

/** Checks the options every helper takes: an object, a string title, positive finite sizes. */
export function checkSizeOptions(fn: string, opts: unknown): void {
  if (opts === undefined) return;
  if (!isObject(opts)) fail(fn, `options must be an object, got ${describe(opts)}`);
  if (opts.title !== undefined && typeof opts.title !== "string") fail(fn, `title must be a string, got ${describe(opts.title)}`);
  for (const k of ["width", "height"] as const) {
    const v = opts[k];
    if (v !== undefined && (typeof v !== "number" || !Number.isFinite(v) || v <= 0))
      fail(fn, `${k} must be a positive number of pixels, got ${describe(v)}`);
  }
}

/** The frame around a chart body: schema, title with notes as subtitle, inline datasets, config. */
export function frame(title: string, notes: readonly string[], datasets: Record<string, unknown[]>, body: VegaLiteSpec): VegaLiteSpec {
  const t: Record<string, unknown> = { text: title, anchor: "start" };
  if (notes.length) t.subtitle = notes.map((n) => `note: ${n}`);
  return {
    $schema: SCHEMA,
    title: t,
    datasets,
    ...body,
    config: {
      font: "sans-serif",
      axis: { gridColor: "#e8e8e8", labelFontSize: 11, titleFontSize: 12, titleFontWeight: "normal" },
      // labelLimit 0: whole labels (vega cuts them at 160 px: "weightDecay 0.0001 (weights …").
      legend: { labelFontSize: 11, titleFontSize: 11, titleFontWeight: "normal", labelLimit: 0 },
      title: { fontSize: 14, subtitleColor: "#a05000", subtitleFontSize: 11 },
      view: { stroke: "#cccccc" },
    },
  };
}

/**
 * Axis for a whole-number field (epoch, step) over [min, max]: ticks only at whole numbers. vega-lite 5 drops
 * `tickMinStep` when it compiles, so short ranges list their ticks and long ones let vega pick (its steps are ≥ 1 there).
 */
export function integerAxis(min: number, max: number): { format: string; values?: number[] } {
  const span = max - min;
  if (!(span >= 0) || span > 12) return { format: "d" };
  const step = span <= 6 ? 1 : 2;
  const values: number[] = [];
  for (let v = Math.ceil(min); v <= max; v += step) values.push(v);
  return { format: "d", values };
}

/**
 * A y scale for these values (not starting at zero; log when asked). When they are all equal (one epoch drawn, e.g.
 * a live plot after epoch 0), the domain is widened around the value: vega would make it a single point, with one
 * tick labelled with too few digits ("0" for an accuracy of 0.219).
 */
export function valueScale(values: readonly number[], log = false): Record<string, unknown> {
  const scale: Record<string, unknown> = log ? { type: "log" } : { zero: false };
  const finite = values.filter((v) => Number.isFinite(v) && (!log || v > 0));
  if (finite.length === 0) return scale;
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  if (hi - lo > 1e-12 * Math.max(Math.abs(lo), Math.abs(hi))) return scale;
  if (log) return { ...scale, domain: [lo / 1.25, hi * 1.25] };
  const pad = lo === 0 ? 0.1 : Math.abs(lo) * 0.1;
  return { ...scale, domain: [lo - pad, hi + pad] };
}
