// What a training step shares with evaluation (the scalar-loss check, the count of correct predictions) and the
// error of a non-finite loss. The step itself is in pipeline.ts.
import * as tf from "@tensorflow/tfjs";
import type { History } from "../core/history";
import type { Criterion } from "../core/protocols";
import { formatLr } from "./format";

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
        `lrFinder), inputs with NaN/Inf, class labels out of range (checked on the GPU, they make the loss NaN), ` +
        `or log(0) in a custom loss.`,
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
