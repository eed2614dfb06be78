// Mean's gradient without tfjs's full-size ones tensor: broadcast(dy / n) instead of (dy · ones) / n.
import * as tf from "@tensorflow/tfjs";

/**
 * tfjs computes d mean(x)/dx as div(mul(reshape(dy), ones(x.shape)), n): three full-size passes and a full-size
 * ones tensor, for every batch-norm statistic. broadcastTo(reshape(dy) / n, x.shape) gives the same floats
 * (dy·1 is exact; the division is the same operation on the same values) in one pass (a Tile).
 * Used on wasm when `enabled()`; tfjs's own gradient elsewhere.
 */
export function meanGradConfig(original: tf.GradConfig, enabled: () => boolean): tf.GradConfig {
  return {
    ...original,
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      const d = dy as tf.Tensor;
      if (!(enabled() && tf.getBackend() === "wasm" && x.dtype === "float32" && d.dtype === "float32")) {
        return original.gradFunc(dy, saved, attrs);
      }
      const axes = tf.util.parseAxisParam((attrs as { axis: number | number[] }).axis, x.shape);
      const n = tf.util.sizeFromShape(axes.map((a) => x.shape[a]));
      const expanded = x.shape.map((s, i) => (axes.includes(i) ? 1 : s));
      return { x: () => tf.broadcastTo(tf.div(tf.reshape(d, expanded), n), x.shape) };
    },
  };
}
