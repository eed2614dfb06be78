// evaluate(): loss and accuracy of a model in eval mode over a data source, as the course computes them.
import * as tf from "@tensorflow/tfjs";
import type { Criterion } from "../core/protocols";
import { batchesOf, DataSource, lengthOf } from "./batches";
import { ProgressBar, ProgressMode, progressMode, TerminalLike } from "./progress";
import { correctCount, scalarLoss } from "./step";

export interface EvaluateOptions {
  /**
   * Progress bar: true/"auto" (default): a notebook display updated in place inside the kernel, one rewritten
   * line on a terminal, nothing otherwise; false/"none" turn it off.
   */
  progress?: boolean | ProgressMode;
  /** @internal Terminal used by the progress bar (tests). */
  progressOut?: TerminalLike;
  /** @internal Least seconds between two redraws of the bar (tests: 0 draws every batch). */
  progressInterval?: number;
}

/** Running means after each batch (train() shows them on its own bar while it validates). */
export type EvaluateProgress = (p: { batch: number; batches?: number; loss: number; acc?: number }) => void;

/** The loop of evaluate(), reporting after each batch. */
export async function evaluateBatches(
  net: tf.LayersModel,
  data: DataSource,
  criterion: Criterion,
  onBatch?: EvaluateProgress,
): Promise<{ loss: number; acc?: number; batches: number }> {
  let loss = 0;
  let acc = 0;
  let hasAcc = true;
  let n = 0;
  const batches = lengthOf(data);
  for await (const b of batchesOf(data, "evaluate")) {
    let l = 0;
    let c: number | undefined;
    tf.tidy(() => {
      const out = net.apply(b.x, { training: false }) as tf.Tensor;
      const cc = correctCount(out, b.y);
      l = scalarLoss(criterion, out, b.y).dataSync()[0];
      c = cc ? cc.dataSync()[0] / b.x.shape[0] : undefined;
    });
    loss += l;
    if (c === undefined) hasAcc = false;
    else acc += c;
    n++;
    onBatch?.({ batch: n, batches, loss: loss / n, acc: hasAcc ? acc / n : undefined });
  }
  if (n === 0) throw new Error("evaluate: the data gave no batches");
  return { loss: loss / n, acc: hasAcc ? acc / n : undefined, batches: n };
}

/**
 * Loss and accuracy of `net` in eval mode (BatchNorm running statistics) over `data`, as the course computes
 * them: means of the per-batch values. Shows its progress (batches done, running loss and accuracy) in place.
 */
export async function evaluate(
  net: tf.LayersModel,
  data: DataSource,
  criterion: Criterion,
  opts: EvaluateOptions = {},
): Promise<{ loss: number; acc?: number; batches: number }> {
  const bar = new ProgressBar(progressMode("evaluate", opts.progress), opts.progressOut, opts.progressInterval);
  const t0 = performance.now();
  const elapsed = () => (performance.now() - t0) / 1000;
  let completed = false;
  try {
    const r = await evaluateBatches(net, data, criterion, (p) => bar.update({ label: "evaluate", ...p, elapsed: elapsed() }));
    const note = `loss ${r.loss.toFixed(4)}${r.acc === undefined ? "" : `, acc ${r.acc.toFixed(4)}`}, ${r.batches} batches`;
    bar.finish({ label: "evaluate", batch: r.batches, batches: r.batches, elapsed: elapsed(), note });
    bar.clearLine();
    completed = true;
    return r;
  } finally {
    if (!completed) bar.stop(elapsed());
  }
}
