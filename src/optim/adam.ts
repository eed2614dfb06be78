import * as tf from "@tensorflow/tfjs";
import { AdamHyper, AdamOptions, AdamWOptions, betaPair, flag, nonNegative, Specs } from "./options";
import { l2Grad, Optimizer, ParamsInput } from "./optimizer";

const SPECS: Specs<AdamHyper> = {
  lr: nonNegative,
  betas: betaPair,
  eps: nonNegative,
  weightDecay: nonNegative,
  amsgrad: flag,
  maximize: flag,
  decoupledWeightDecay: flag,
};
const ADAM_DEFAULTS: AdamHyper = {
  lr: 1e-3,
  betas: [0.9, 0.999],
  eps: 1e-8,
  weightDecay: 0,
  amsgrad: false,
  maximize: false,
  decoupledWeightDecay: false,
};

const ADAM_BUFFERS = ["expAvg", "expAvgSq", "maxExpAvgSq"] as const;

/**
 * Adam, exactly as `torch.optim.Adam` (per parameter, t = that parameter's step count):
 * ```
 * g = ∇p  (−∇p if maximize)
 * decoupledWeightDecay ? p = p·(1 − lr·weightDecay) : g = g + weightDecay·p
 * m = β1·m + (1 − β1)·g          v = β2·v + (1 − β2)·g²        (both start at 0)
 * v̂max = max(v̂max, v) if amsgrad
 * p = p − lr/(1 − β1^t) · m / (√v(max) / √(1 − β2^t) + eps)
 * ```
 */
export class Adam extends Optimizer<AdamHyper> {
  static className = "tsdl.Adam";

  constructor(params: ParamsInput<AdamHyper>, options: AdamOptions = {}) {
    super("Adam", params, options, SPECS, ADAM_DEFAULTS);
  }

  protected override get bufferNames(): readonly string[] {
    return ADAM_BUFFERS;
  }

  protected update(p: tf.Variable, grad: tf.Tensor, h: AdamHyper, step: number, buffers: Record<string, tf.Tensor>): tf.Tensor {
    return adamUpdate(p, grad, h, step, buffers, (x) => this.scalar(x));
  }
}
tf.serialization.registerClass(Adam);

/**
 * AdamW: Adam with decoupled weight decay, `p = p·(1 − lr·weightDecay)` before the moment updates; the decay
 * follows the current (scheduled) lr and never enters m or v. Default weightDecay 0.01.
 */
export class AdamW extends Optimizer<AdamHyper> {
  static className = "tsdl.AdamW";

  constructor(params: ParamsInput<AdamHyper>, options: AdamWOptions = {}) {
    if (options && typeof options === "object" && "decoupledWeightDecay" in options)
      throw new Error(`AdamW: decoupledWeightDecay is always true for AdamW; use Adam for coupled (L2) weight decay`);
    super("AdamW", params, options, SPECS, { ...ADAM_DEFAULTS, weightDecay: 1e-2, decoupledWeightDecay: true });
  }

  protected override checkGroup(h: AdamHyper, where: string): void {
    if (h.decoupledWeightDecay !== true)
      throw new Error(`${where}: AdamW requires decoupledWeightDecay true; use Adam for coupled weight decay`);
  }

  protected override get bufferNames(): readonly string[] {
    return ADAM_BUFFERS;
  }

  protected update(p: tf.Variable, grad: tf.Tensor, h: AdamHyper, step: number, buffers: Record<string, tf.Tensor>): tf.Tensor {
    return adamUpdate(p, grad, h, step, buffers, (x) => this.scalar(x));
  }
}
tf.serialization.registerClass(AdamW);

function adamUpdate(
  p: tf.Variable,
  grad: tf.Tensor,
  h: AdamHyper,
  step: number,
  buffers: Record<string, tf.Tensor>,
  c: (x: number) => tf.Scalar,
): tf.Tensor {
  const [beta1, beta2] = h.betas;
  // Decoupled (AdamW): shrink p itself; coupled (Adam): add weightDecay·p to the gradient.
  const decoupled = h.decoupledWeightDecay;
  const g = l2Grad(p, grad, h.maximize, decoupled ? 0 : h.weightDecay, c);
  const param = decoupled && h.weightDecay !== 0 ? tf.mul(p, c(1 - h.lr * h.weightDecay)) : p;
  const m0 = buffers.expAvg ?? tf.zerosLike(p);
  const v0 = buffers.expAvgSq ?? tf.zerosLike(p);
  const m = tf.add(tf.mul(m0, c(beta1)), tf.mul(g, c(1 - beta1)));
  const v = tf.add(tf.mul(v0, c(beta2)), tf.mul(tf.mul(g, g), c(1 - beta2)));
  buffers.expAvg = m;
  buffers.expAvgSq = v;
  const bc1 = 1 - Math.pow(beta1, step);
  const bc2 = 1 - Math.pow(beta2, step);
  let second = v;
  if (h.amsgrad) {
    second = tf.maximum(buffers.maxExpAvgSq ?? tf.zerosLike(p), v);
    buffers.maxExpAvgSq = second;
  }
  const denom = tf.add(tf.div(tf.sqrt(second), c(Math.sqrt(bc2))), c(h.eps));
  return tf.add(param, tf.mul(tf.div(m, denom), c(-h.lr / bc1)));
}
