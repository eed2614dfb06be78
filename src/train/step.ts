// One training step (forward, loss, gradients, finite check, update) and what it shares with evaluation:
// the scalar-loss check and the count of correct predictions.
import * as tf from "@tensorflow/tfjs";
import { explainFailure } from "../backend";
import type { History } from "../core/history";
import type { Batch, Criterion } from "../core/protocols";
import { formatLr } from "./format";
import { isTsdlOptimizer, OptimizerLike, trainableVars } from "./optimizer";

/** Thrown when a training loss is NaN or infinite; nothing of that batch was applied. */
export class NonFiniteLossError extends Error {
  constructor(
    readonly loss: number,
    readonly epoch: number,
    readonly batch: number,
    readonly step: number,
    readonly lr: number[],
    /** The run's History up to the batch before. */
    readonly history: History,
  ) {
    super(
      `train: the loss is ${loss} at epoch ${epoch}, batch ${batch} (step ${step}), lr ${formatLr(lr)}. ` +
        `Training stopped before applying this batch, so the weights are those after the previous batch; ` +
        `error.history holds the run so far. Common causes: an lr too high (try a 10x smaller one or ` +
        `lrFinder), inputs with NaN/Inf, or log(0) in a custom loss.`,
    );
    this.name = "NonFiniteLossError";
  }
}

/** Correct predictions in a batch (argmax of the output against class indices or one-hot/probability targets). */
export function correctCount(out: tf.Tensor, y: tf.Tensor): tf.Scalar | undefined {
  if (out.rank !== 2 || out.shape[1]! < 2) return undefined;
  const pred = tf.argMax(out, -1);
  if (y.dtype === "int32" && y.rank === 1) return tf.sum(tf.cast(tf.equal(pred, y), "float32")) as tf.Scalar;
  if (y.rank === 2 && y.shape[1] === out.shape[1]) return tf.sum(tf.cast(tf.equal(pred, tf.argMax(y, -1)), "float32")) as tf.Scalar;
  return undefined;
}

/** The criterion's value, which must be a scalar. */
export function scalarLoss(criterion: Criterion, out: tf.Tensor, y: tf.Tensor): tf.Scalar {
  const loss = criterion(out, y);
  if (!(loss instanceof tf.Tensor) || loss.rank !== 0) {
    const what = loss instanceof tf.Tensor ? `a tensor of shape [${loss.shape.join(", ")}]` : String(loss);
    throw new Error(`train: the criterion must return a scalar loss, got ${what} (use reduction "mean" or "sum")`);
  }
  return loss as tf.Scalar;
}

/**
 * One training step on a batch: forward in training mode, loss, gradients, check the loss is finite, then the
 * optimizer update. Returns the loss and the number of correct predictions (undefined when not a classifier).
 * Throws (with nothing applied) when the loss is not finite; `onNonFinite` builds that error.
 */
export function trainStep(
  net: tf.LayersModel,
  batch: Batch,
  optimizer: OptimizerLike,
  criterion: Criterion,
  onNonFinite: (loss: number) => Error = (l) => new Error(`train: the loss is ${l}`),
  vars: tf.Variable[] = trainableVars(net, optimizer),
): { loss: number; correct?: number } {
  let correct: tf.Scalar | undefined;
  // The forward pass updates BatchNorm running statistics; keep the old values (clones share the data, no copy)
  // so a batch with a non-finite loss changes nothing.
  const buffers = net.nonTrainableWeights.map((w) => tf.keep(tf.clone(w.read())));
  let value: tf.Scalar;
  let grads: tf.NamedTensorMap;
  try {
    ({ value, grads } = tf.variableGrads(() => {
      const out = net.apply(batch.x, { training: true }) as tf.Tensor;
      const c = correctCount(out, batch.y);
      if (c) correct = tf.keep(c);
      return scalarLoss(criterion, out, batch.y);
    }, vars));
  } catch (e) {
    tf.dispose([...buffers, ...(correct ? [correct] : [])]);
    throw explainFailure(e, "train", `a batch of shape [${batch.x.shape}]`);
  }
  try {
    const loss = value.dataSync()[0];
    if (!Number.isFinite(loss)) {
      net.nonTrainableWeights.forEach((w, i) => w.write(buffers[i]));
      throw onNonFinite(loss);
    }
    if (isTsdlOptimizer(optimizer)) optimizer.step(grads);
    else optimizer.applyGradients(grads);
    return { loss, correct: correct ? correct.dataSync()[0] : undefined };
  } finally {
    tf.dispose([value, ...Object.values(grads), ...buffers]);
    if (correct) correct.dispose();
  }
}
