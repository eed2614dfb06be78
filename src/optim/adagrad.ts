import * as tf from "@tensorflow/tfjs";
import { AdagradHyper, AdagradOptions, flag, nonNegative, Specs } from "./options";
import { l2Grad, Optimizer, ParamsInput } from "./optimizer";

const SPECS: Specs<AdagradHyper> = {
  lr: nonNegative,
  lrDecay: nonNegative,
  weightDecay: nonNegative,
  initialAccumulatorValue: nonNegative,
  eps: nonNegative,
  maximize: flag,
};
const DEFAULTS: AdagradHyper = { lr: 1e-2, lrDecay: 0, weightDecay: 0, initialAccumulatorValue: 0, eps: 1e-10, maximize: false };

/**
 * Adagrad, exactly as `torch.optim.Adagrad` (t = the parameter's step count):
 * ```
 * g = ∇p (−∇p if maximize) + weightDecay·p
 * clr = lr / (1 + (t − 1)·lrDecay)
 * s = s + g²                        (s starts at initialAccumulatorValue)
 * p = p − clr · g / (√s + eps)
 * ```
 * The accumulator is filled with the group's initialAccumulatorValue at the parameter's first step.
 */
export class Adagrad extends Optimizer<AdagradHyper> {
  static className = "tsdl.Adagrad";

  constructor(params: ParamsInput<AdagradHyper>, options: AdagradOptions = {}) {
    super("Adagrad", params, options, SPECS, DEFAULTS);
  }

  protected override get bufferNames(): readonly string[] {
    return ["sum"];
  }

  protected update(p: tf.Variable, grad: tf.Tensor, h: AdagradHyper, step: number, buffers: Record<string, tf.Tensor>): tf.Tensor {
    const c = (x: number) => this.scalar(x);
    const g = l2Grad(p, grad, h.maximize, h.weightDecay, c);
    const clr = h.lr / (1 + (step - 1) * h.lrDecay);
    const s = tf.add(buffers.sum ?? tf.fill(p.shape, h.initialAccumulatorValue), tf.mul(g, g));
    buffers.sum = s;
    return tf.add(p, tf.mul(tf.div(g, tf.add(tf.sqrt(s), c(h.eps))), c(-clr)));
  }
}
tf.serialization.registerClass(Adagrad);
