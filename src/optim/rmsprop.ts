import * as tf from "@tensorflow/tfjs";
import { flag, nonNegative, RMSpropHyper, RMSpropOptions, Specs } from "./options";
import { l2Grad, Optimizer, ParamsInput } from "./optimizer";

const SPECS: Specs<RMSpropHyper> = {
  lr: nonNegative,
  alpha: nonNegative,
  eps: nonNegative,
  weightDecay: nonNegative,
  momentum: nonNegative,
  centered: flag,
  maximize: flag,
};
const DEFAULTS: RMSpropHyper = { lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, maximize: false };

/**
 * RMSprop, exactly as `torch.optim.RMSprop`:
 * ```
 * g = ∇p (−∇p if maximize) + weightDecay·p
 * s = α·s + (1 − α)·g²                                  (starts at 0)
 * centered: a = α·a + (1 − α)·g;  d = √(s − a²) + eps   else d = √s + eps
 * momentum > 0: b = momentum·b + g/d;  p = p − lr·b     else p = p − lr·g/d
 * ```
 */
export class RMSprop extends Optimizer<RMSpropHyper> {
  static className = "tsdl.RMSprop";

  constructor(params: ParamsInput<RMSpropHyper>, options: RMSpropOptions = {}) {
    super("RMSprop", params, options, SPECS, DEFAULTS);
  }

  protected override get bufferNames(): readonly string[] {
    return ["squareAvg", "gradAvg", "momentumBuffer"];
  }

  protected update(p: tf.Variable, grad: tf.Tensor, h: RMSpropHyper, _step: number, buffers: Record<string, tf.Tensor>): tf.Tensor {
    const c = (x: number) => this.scalar(x);
    const g = l2Grad(p, grad, h.maximize, h.weightDecay, c);
    const s = tf.add(tf.mul(buffers.squareAvg ?? tf.zerosLike(p), c(h.alpha)), tf.mul(tf.mul(g, g), c(1 - h.alpha)));
    buffers.squareAvg = s;
    let avg: tf.Tensor;
    if (h.centered) {
      const a = tf.add(tf.mul(buffers.gradAvg ?? tf.zerosLike(p), c(h.alpha)), tf.mul(g, c(1 - h.alpha)));
      buffers.gradAvg = a;
      avg = tf.sqrt(tf.sub(s, tf.mul(a, a)));
    } else avg = tf.sqrt(s);
    avg = tf.add(avg, c(h.eps));
    if (h.momentum > 0) {
      const b = tf.add(tf.mul(buffers.momentumBuffer ?? tf.zerosLike(p), c(h.momentum)), tf.div(g, avg));
      buffers.momentumBuffer = b;
      return tf.add(p, tf.mul(b, c(-h.lr)));
    }
    return tf.add(p, tf.mul(tf.div(g, avg), c(-h.lr)));
  }
}
tf.serialization.registerClass(RMSprop);
