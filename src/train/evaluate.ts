// evaluate(): loss and accuracy of a model in eval mode over a data source, as the course computes them.
import * as tf from "@tensorflow/tfjs";
import type { Criterion } from "../core/protocols";
import { batchesOf, DataSource, lengthOf } from "./batches";
import { defaultLag } from "./pipeline";
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

/** The loop of evaluate(), reporting after each batch. On a GPU each batch's values are read while the next runs. */
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
  const lag = defaultLag();
  /** Per batch in flight: [loss] or [loss, correct], and the batch size. */
  const pending: Array<{ values: tf.Tensor1D; size: number }> = [];
  const take = async (): Promise<void> => {
    const { values, size } = pending.shift()!;
    const v = await values.data();
    values.dispose();
    loss += v[0];
    if (v.length < 2) hasAcc = false;
    else acc += v[1] / size;
    n++;
    onBatch?.({ batch: n, batches, loss: loss / n, acc: hasAcc ? acc / n : undefined });
  };
  try {
    for await (const b of batchesOf(data, "evaluate")) {
      const values = tf.tidy(() => {
        const out = net.apply(b.x, { training: false }) as tf.Tensor;
        const l = scalarLoss(criterion, out, b.y); // before anything uploads the labels: the loss may check them
        const c = correctCount(out, b.y);
        return (c ? tf.stack([l, c]) : tf.reshape(l, [1])) as tf.Tensor1D;
      });
      pending.push({ values, size: b.x.shape[0] });
      while (pending.length > lag) await take();
    }
    while (pending.length) await take();
  } finally {
    tf.dispose(pending.map((p) => p.values));
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
