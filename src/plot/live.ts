// plot.live: one chart redrawn in place while a run trains (display updates, not new outputs).
import * as util from "util";
import { bundle, display, DisplayHandle, inKernel, JUPYTER_DISPLAY, MimeBundle } from "../display";
import type { History } from "../core/history";
import { describe, isObject } from "../core/check";
import { fail, oneOf, positiveInt } from "./check";
import { lossCurve, LossCurveOptions } from "./lossCurve";
import { Plot } from "./plot";

export interface LiveOptions {
  /** Redraw after this many new epochs or batches (default 1 epoch, or 50 batches). */
  every?: number;
  /** What `every` counts: "epoch" (default) or "batch" (default when `batches: true`). */
  unit?: "epoch" | "batch";
}

/**
 * A live chart: the first `update(history)` with data displays it, later ones redraw that same
 * output (`update_display_data`), so 50 updates leave one output in the notebook. Outside a
 * notebook each redraw prints the one-line summary.
 */
export class LivePlot {
  private handle?: DisplayHandle;
  private drawnAt = -1;
  /** The plot last drawn. */
  plot?: Plot;
  /** How many times the chart was drawn. */
  redraws = 0;
  private readonly every: number;
  private readonly unit: "epoch" | "batch";

  constructor(
    private readonly render: (history: History) => Plot,
    opts: LiveOptions = {},
    defaultUnit: "epoch" | "batch" = "epoch",
    /** Whether a history has anything to draw yet (default: at least one epoch). */
    private readonly ready: (history: History) => boolean = (h) => h.epochs.length > 0,
  ) {
    this.unit = oneOf("live", "unit", opts.unit, ["epoch", "batch"] as const, defaultUnit);
    // A redraw costs ~0.1 s: every batch would slow training down, every 50 keeps it a few percent.
    this.every = positiveInt("live", "every", opts.every, this.unit === "epoch" ? 1 : 50);
  }

  /**
   * In a notebook, puts the chart's output there now, as a line the first draw replaces: train() calls it before
   * the first epoch, so the chart sits above the epoch lines rather than between epoch 0 and epoch 1. Elsewhere
   * (and once there is an output) it does nothing.
   */
  reserve(): void {
    if (this.handle || !inKernel()) return;
    const text = `live chart: drawn after the first ${this.unit}${this.every > 1 ? `, then every ${this.every} ${this.unit}s` : ""}`;
    this.handle = display(bundle({ "text/plain": text, "text/html": `<div style="color:#777;font-style:italic">${text}</div>` }));
  }

  /** The display id of the output being redrawn (after the first draw). */
  get displayId(): string | undefined {
    return this.handle?.displayId;
  }

  /**
   * Redraw when `every` epochs (or batches) were added since the last draw, or always with
   * `force` (e.g. after the last epoch). Returns whether it redrew. A history with nothing to
   * draw yet is skipped, so it can be called from the first batch on.
   */
  update(history: History, opts: { force?: boolean } = {}): boolean {
    if (!isObject(history) || !Array.isArray(history.epochs))
      fail("live", `update() takes the run's History ({ epochs, batches }), got ${describe(history)}`);
    const progress = this.unit === "epoch" ? history.epochs.length : (history.batches ?? []).length;
    if (progress === 0 || progress === this.drawnAt) return false;
    if (!opts.force && this.drawnAt >= 0 && progress - this.drawnAt < this.every) return false;
    if (!this.ready(history)) return false;
    const plot = this.render(history);
    if (this.handle) this.handle.update(plot);
    else this.handle = display(plot);
    this.plot = plot;
    this.drawnAt = progress;
    this.redraws++;
    return true;
  }

  /** One line, e.g. `LivePlot(every 5 epochs, 3 redraws): loss curve: 12 epochs, …` (never the spec's data). */
  toString(): string {
    const head = `LivePlot(every ${this.every} ${this.every === 1 ? this.unit : `${this.unit}${this.unit === "batch" ? "es" : "s"}`}, ${this.redraws} redraw${this.redraws === 1 ? "" : "s"})`;
    return this.plot ? `${head}: ${this.plot}` : `${head}: nothing drawn yet`;
  }

  [util.inspect.custom](): string {
    return this.toString();
  }

  /** Shown as a cell's value: the chart last drawn (a new output), or the one-line state before the first draw. */
  [JUPYTER_DISPLAY](): MimeBundle {
    return this.plot ? { ...this.plot.toBundle(), "text/plain": this.toString() } : { "text/plain": this.toString() };
  }
}

/** A live loss curve (same options as `lossCurve`), redrawn every `every` epochs or batches. */
export function live(opts?: LossCurveOptions & LiveOptions): LivePlot;
/** A live chart of any kind: `render` turns the current history into a Plot. */
export function live(render: (history: History) => Plot, opts?: LiveOptions): LivePlot;
export function live(a?: ((history: History) => Plot) | (LossCurveOptions & LiveOptions), b?: LiveOptions): LivePlot {
  if (typeof a === "function") return new LivePlot(a, b);
  if (a !== undefined && !isObject(a)) fail("live", `expected options or a render function, got ${describe(a)}`);
  const { every, unit, ...curveOpts }: LossCurveOptions & LiveOptions = a ?? {};
  // With per-batch loss the curve can be drawn from the first batch on.
  const perBatch = curveOpts.batches === true;
  const ready = perBatch ? (h: History) => h.epochs.length > 0 || (h.batches ?? []).length > 0 : undefined;
  return new LivePlot((h) => lossCurve(h, curveOpts), { every, unit }, perBatch ? "batch" : "epoch", ready);
}
