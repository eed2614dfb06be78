// The lr range test (Leslie Smith; fastai's lr_find): train a few batches with an exponentially growing lr,
// record the smoothed loss, then put the weights, optimizer and data order back.
import * as tf from "@tensorflow/tfjs";
import type { LrFinderResult } from "../core/history";
import { isStateful, type Criterion } from "../core/protocols";
import { bundle, display, DisplayHandle, escapeHtml, inKernel, withSummary } from "../display";
import { CrossEntropyLoss } from "../nn/loss";
import { fmt } from "../plot/check";
import { lrFinder as lrFinderPlot } from "../plot/lrFinder";
import { batchesOf, DataSource } from "./batches";
import { hms, ProgressBar, ProgressMode, progressMode, TerminalLike } from "./progress";
import { replaceOptimizerWeights, snapshotOptimizerWeights } from "./checkpoint";
import { currentLr, isTsdlOptimizer, OptimizerLike, setLr, trainableVars } from "./optimizer";
import { defaultLag, StepPipeline, StepValues } from "./pipeline";

export type LrSuggestion = "valley" | "steep" | "minimum";

export interface LrFinderOptions {
  /** First lr (default 1e-7). */
  startLr?: number;
  /** Last lr (default 10). */
  endLr?: number;
  /** Number of batches, i.e. lrs tried (default 100). The data is iterated again if it has fewer batches. */
  steps?: number;
  /** Loss (default nn.CrossEntropyLoss()). */
  criterion?: Criterion;
  /** Exponential smoothing of the loss, fastai's beta (default 0.98; 0 = raw losses). */
  smoothing?: number;
  /** Stop once the smoothed loss exceeds this multiple of the best one (default 4; Infinity = never). */
  divergeFactor?: number;
  /**
   * How `suggestedLr` is picked: "valley" (fastai's default: the middle of the longest descending stretch),
   * "steep" (steepest descent of loss against log lr) or "minimum" (lr at the lowest loss / 10).
   */
  suggestion?: LrSuggestion;
  /**
   * Progress bar (as train's): true/"auto" (default): in place in a notebook, one rewritten line on a terminal,
   * nothing otherwise; "display" / "terminal" force one; false/"none" turn it off.
   */
  progress?: boolean | ProgressMode;
  /** @internal Terminal used by the progress bar (tests). */
  progressOut?: TerminalLike;
  /** @internal Least seconds between two redraws of the bar (tests: 0 draws every step). */
  progressInterval?: number;
  /**
   * A live chart of the loss against the lr, redrawn in place as the test runs (at most every `plotSeconds`)
   * and drawn once more at the end with the suggested lr: "auto" (default) in a notebook only; true; false.
   */
  plot?: boolean | "auto";
  /** Least seconds between two redraws of the live chart (default 2; a redraw costs about 0.1 s). */
  plotSeconds?: number;
}

/**
 * fastai's `valley`: find the longest decreasing subsequence of the losses (start..end), and return the index
 * start + ⌊len/3⌋ + ⌊len/6⌋ (half-way through its middle third), exactly as fastai computes it.
 */
export function valleyIndex(losses: number[]): number {
  const n = losses.length;
  const lds = new Array<number>(n).fill(1);
  let maxStart = 0;
  let maxEnd = 0;
  for (let i = 1; i < n; i++) {
    for (let j = 0; j < i; j++) {
      if (losses[i] < losses[j] && lds[i] < lds[j] + 1) lds[i] = lds[j] + 1;
      if (lds[maxEnd] < lds[i]) {
        maxEnd = i;
        maxStart = maxEnd - lds[maxEnd];
      }
    }
  }
  const sections = (maxEnd - maxStart) / 3;
  return Math.min(n - 1, Math.max(0, maxStart + Math.floor(sections) + Math.floor(sections / 2)));
}

function suggest(lrs: number[], losses: number[], how: LrSuggestion): number {
  if (lrs.length === 0) return NaN;
  if (how === "minimum") {
    let best = 0;
    losses.forEach((l, i) => (l < losses[best] ? (best = i) : undefined));
    return lrs[best] / 10;
  }
  if (how === "steep") {
    if (lrs.length < 2) return lrs[0];
    let best = 0;
    let bestSlope = Infinity;
    for (let i = 0; i + 1 < lrs.length; i++) {
      const slope = (losses[i + 1] - losses[i]) / (Math.log(lrs[i + 1]) - Math.log(lrs[i]));
      if (slope < bestSlope) {
        bestSlope = slope;
        best = i;
      }
    }
    return lrs[best];
  }
  return lrs[valleyIndex(losses)];
}

/** A non-finite loss during the range test: the end of the useful range, not an error. */
class Diverged extends Error {
  constructor(readonly lr: number) {
    super(`lrFinder: the loss was not finite at lr ${lr}`);
  }
}

/** optim.Optimizer's in-memory snapshot (no reads of its state). */
interface Snapshotting {
  snapshot(): unknown;
  restoreSnapshot(s: unknown): void;
}

function positive(name: string, v: number): void {
  if (!(typeof v === "number" && v > 0 && Number.isFinite(v))) throw new Error(`lrFinder: ${name} must be a positive number, got ${v}`);
}

/**
 * `lrFinder(net, data, optimizer, { startLr, endLr, steps })`: step i (0-based) uses
 * lr_i = startLr · (endLr/startLr)^(i/(steps-1)) on every param group; the recorded loss is fastai's smoothed
 * loss avg_i/(1-β^(i+1)) with avg_i = β·avg_{i-1} + (1-β)·loss_i. Stops early when it exceeds
 * divergeFactor × the best or is not finite. Afterwards the model weights (BatchNorm statistics included),
 * the optimizer (state and lrs) and the data loader's position are restored, as if it never ran.
 */
export async function lrFinder(
  net: tf.LayersModel,
  data: DataSource,
  optimizer: OptimizerLike,
  opts: LrFinderOptions = {},
): Promise<LrFinderResult> {
  const startLr = opts.startLr ?? 1e-7;
  const endLr = opts.endLr ?? 10;
  const steps = opts.steps ?? 100;
  const beta = opts.smoothing ?? 0.98;
  const divergeFactor = opts.divergeFactor ?? 4;
  const criterion = opts.criterion ?? new CrossEntropyLoss();
  const how = opts.suggestion ?? "valley";
  positive("startLr", startLr);
  positive("endLr", endLr);
  if (!(endLr > startLr)) throw new Error(`lrFinder: endLr (${endLr}) must be greater than startLr (${startLr})`);
  if (!Number.isInteger(steps) || steps < 2) throw new Error(`lrFinder: steps must be an integer >= 2, got ${steps}`);
  if (!(beta >= 0 && beta < 1)) throw new Error(`lrFinder: smoothing must be in [0, 1), got ${beta}`);
  if (!["valley", "steep", "minimum"].includes(how))
    throw new Error(`lrFinder: suggestion must be "valley", "steep" or "minimum", got ${JSON.stringify(how)}`);
  if (!optimizer || !(optimizer instanceof tf.Optimizer))
    throw new Error("lrFinder: optimizer must be a tsdl optimizer (optim.SGD, ...) or a tf.Optimizer");

  const bar = new ProgressBar(progressMode("lrFinder", opts.progress), opts.progressOut, opts.progressInterval);
  const livePlot = opts.plot === undefined || opts.plot === "auto" ? inKernel() : opts.plot;
  if (typeof livePlot !== "boolean") throw new Error(`lrFinder: plot must be true, false or "auto", got ${JSON.stringify(opts.plot)}`);
  const plotSeconds = opts.plotSeconds ?? 2;
  if (!(plotSeconds >= 0)) throw new Error(`lrFinder: plotSeconds must be a number >= 0, got ${plotSeconds}`);

  // Snapshot everything the run changes (a tsdl optimizer in memory: its state may live on a GPU, unread).
  const weights = net.weights.map((w) => tf.keep(tf.clone(w.read())));
  const tsdlOpt = isTsdlOptimizer(optimizer);
  const inMemory =
    tsdlOpt && typeof (optimizer as { snapshot?: unknown }).snapshot === "function" ? (optimizer as unknown as Snapshotting) : undefined;
  const optState = inMemory ? inMemory.snapshot() : tsdlOpt ? optimizer.stateDict() : await snapshotOptimizerWeights(optimizer);
  const plainLr = tsdlOpt ? undefined : currentLr(optimizer)[0];
  const dataState = isStateful(data) ? data.stateDict() : undefined;

  const lrs: number[] = [];
  const losses: number[] = [];
  const t0 = performance.now();
  const elapsed = () => (performance.now() - t0) / 1000;
  // The bar, then the chart (a placeholder until the first draw), each one output redrawn in place.
  bar.update({ label: "lr finder", batch: 0, batches: steps, elapsed: 0 }, true);
  let chart: DisplayHandle | undefined;
  let drawnAt = -Infinity;
  if (livePlot) {
    const text = `lr finder: the loss against the lr is drawn here as the ${steps} steps run`;
    chart = display(bundle({ "text/plain": text, "text/html": `<div style="color:#777;font-style:italic">${escapeHtml(text)}</div>` }));
  }
  const draw = (final: boolean) => {
    if (!chart || lrs.length === 0) return;
    const result = { lrs: lrs.slice(), losses: losses.slice(), suggestedLr: final ? suggest(lrs, losses, how) : NaN };
    const title = final ? "lr finder" : `lr finder: step ${lrs.length} of ${steps}`;
    chart.update(lrFinderPlot(result, { title, suggestion: final }));
    drawnAt = performance.now();
  };
  let stopped: string | undefined;
  let completed = false;
  // Steps run ahead of the loss reads on a GPU; what they change is all restored at the end, so none is undone.
  const pipeline = new StepPipeline<{ lr: number }>(net, optimizer, criterion, trainableVars(net, optimizer), {
    lag: defaultLag(),
    undo: false,
    onNonFinite: (_loss, meta) => new Diverged(meta.lr),
  });
  try {
    let avg = 0;
    let best = Infinity;
    /** Records one read loss; false once the test is over (stopped says why when it diverged). */
    const consume = (d: StepValues & { meta: { lr: number } }): boolean => {
      const i = losses.length;
      const lr = d.meta.lr;
      avg = beta * avg + (1 - beta) * d.loss;
      const smoothed = beta > 0 ? avg / (1 - Math.pow(beta, i + 1)) : d.loss;
      lrs.push(lr);
      losses.push(smoothed);
      best = Math.min(best, smoothed);
      bar.update({ label: "lr finder", batch: lrs.length, batches: steps, lr, loss: smoothed, elapsed: elapsed() });
      if (performance.now() - drawnAt >= plotSeconds * 1000) draw(false);
      if (lrs.length >= steps) return false;
      if (smoothed > divergeFactor * best || !Number.isFinite(smoothed)) {
        stopped = `the loss passed ${divergeFactor} × its lowest at lr ${fmt(lr)}`;
        return false;
      }
      return true;
    };
    let issued = 0;
    let over = false;
    try {
      outer: while (issued < steps) {
        let any = false;
        for await (const b of batchesOf(data, "lrFinder")) {
          any = true;
          const lr = startLr * Math.pow(endLr / startLr, issued / (steps - 1));
          setLr(optimizer, lr, "lrFinder");
          const done = await pipeline.push(b, { lr });
          issued++;
          for (const d of done) {
            over = !consume(d);
            if (over) break outer;
          }
          if (issued >= steps) break outer;
        }
        if (!any) throw new Error("lrFinder: the data gave no batches");
      }
      if (!over) for (const d of await pipeline.drain()) if (!consume(d)) break;
    } catch (e) {
      if (!(e instanceof Diverged)) throw e;
      stopped = `the loss was not finite at lr ${fmt(e.lr)}`; // keep what was recorded
    }
    completed = true;
  } finally {
    await pipeline.settle();
    net.weights.forEach((w, k) => w.write(weights[k]));
    tf.dispose(weights);
    if (inMemory) inMemory.restoreSnapshot(optState);
    else if (tsdlOpt) optimizer.loadStateDict(optState);
    else {
      const saved = optState as Parameters<tf.Optimizer["setWeights"]>[0];
      await replaceOptimizerWeights(optimizer, saved);
      tf.dispose(saved.map((w) => w.tensor));
      if (plainLr !== undefined) setLr(optimizer, plainLr, "lrFinder");
    }
    if (dataState !== undefined && isStateful(data)) data.loadStateDict(dataState);
    if (!completed) bar.stop(elapsed());
  }
  const suggestedLr = suggest(lrs, losses, how);
  const note = `${lrs.length} of ${steps} steps${stopped ? ` (stopped: ${stopped})` : ""}, suggested lr ${fmt(suggestedLr)}; weights, optimizer and data restored`;
  bar.finish({ label: "lr finder", batch: lrs.length, batches: steps, elapsed: elapsed(), note });
  bar.clearLine();
  draw(true);
  const seconds = elapsed();
  return withSummary({ lrs, losses, suggestedLr }, (r) => lrFinderSummary(r, { steps, how, stopped, seconds }));
}

/** How an lr finder result reads in a notebook or console.log: what was tried and found, never the arrays. */
function lrFinderSummary(
  r: LrFinderResult,
  run: { steps: number; how: LrSuggestion; stopped?: string; seconds: number },
): { text: string; html: string } {
  const f = fmt; // as the chart writes them: 0.0063, 1e-5
  const n = r.lrs.length;
  let lowest = 0;
  r.losses.forEach((l, i) => (l < r.losses[lowest] ? (lowest = i) : undefined));
  const tried = n
    ? `${n} of ${run.steps} lrs from ${f(r.lrs[0])} to ${f(r.lrs[n - 1])}${run.stopped ? ` (stopped: ${run.stopped})` : ""}`
    : "no lr tried";
  const rows: Array<[string, string]> = [
    ["tried", tried],
    ["suggested lr", `${f(r.suggestedLr)} (${run.how})`],
    ["lowest loss", n ? `${r.losses[lowest].toFixed(4)} at lr ${f(r.lrs[lowest])}` : "–"],
    ["time", hms(run.seconds)],
    ["data", "result.lrs, result.losses (smoothed); plot.lrFinder(result) draws them"],
  ];
  const text = `LrFinderResult: suggested lr ${f(r.suggestedLr)} (${run.how}); ${tried}; lowest loss ${rows[2][1]}; data in .lrs and .losses`;
  const html =
    `<table><caption style="text-align:left"><b>lr finder</b></caption>` +
    rows
      .map(([k, v]) => `<tr><th style="text-align:left">${escapeHtml(k)}</th><td style="text-align:left">${escapeHtml(v)}</td></tr>`)
      .join("") +
    `</table>`;
  return { text, html };
}
