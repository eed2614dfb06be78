// Regularization: explicit L2 (and how it relates to weightDecay and tf.regularizers.l2), and splitting a model
// into weight-decay and no-decay groups.
import * as tf from "@tensorflow/tfjs";
import { checkNumber, describe, fail } from "../core/check";
import { collectVariables, isGroupInput, ParamGroupInput, ParamSource } from "./params";

/**
 * λ·Σ‖p‖², to add to a loss: `loss = criterion(...) + l2Penalty(net, lam)`.
 *
 * Its gradient is 2λ·p, so plain SGD on `loss + l2Penalty(params, λ)` follows the same trajectory as
 * `SGD({ weightDecay: 2λ })` on `loss` (PyTorch's weight_decay is the coefficient of p in the gradient,
 * i.e. the penalty (wd/2)·‖p‖²; the course's "weight_decay is λ" is off by a factor 2).
 * `tf.regularizers.l2({ l2 })` adds the same penalty to a layer's loss: l2 = λ = weightDecay / 2.
 * With momentum, either form enters the momentum buffer; AdamW's decoupled decay does not.
 *
 * `params`: a model or layer, variables or tensors, or param groups (their `params` are used).
 */
export function l2Penalty(params: ParamSource | tf.Tensor[] | ReadonlyArray<ParamGroupInput>, lambda: number): tf.Scalar {
  checkNumber("l2Penalty", "lambda", lambda, { min: 0 });
  const list = Array.isArray(params) ? (params as unknown[]) : undefined;
  const tensors: tf.Tensor[] =
    list && list.length > 0 && list.every((t) => t instanceof tf.Tensor)
      ? (list as tf.Tensor[])
      : list && list.some(isGroupInput)
        ? list.flatMap((g, i) => collectVariables((g as ParamGroupInput).params, `l2Penalty: group ${i}`))
        : collectVariables(params, "l2Penalty");
  if (tensors.length === 0)
    throw new Error(
      "l2Penalty: no parameters given (an empty list or groups); pass a model or layer, variables or tensors, or param groups",
    );
  return tf.tidy(() => tf.mul(tf.addN(tensors.map((t) => tf.sum(tf.square(t)))), lambda) as tf.Scalar);
}

// Splitting a model into weight-decay and no-decay groups (timm / Keras / fastai convention).

export interface DecaySplitOptions {
  /** weightDecay of the "decay" group. */
  weightDecay: number;
  /**
   * Extra parameters to keep out of decay, besides every parameter of rank <= 1 (biases, BatchNorm and
   * LayerNorm γ/β): a name pattern, a list of names, or a predicate.
   */
  noDecay?: RegExp | string[] | ((v: tf.Variable) => boolean);
}

/**
 * Two groups for an optimizer: `{ name: "decay", weightDecay }` with the weight matrices and kernels
 * (rank >= 2), and `{ name: "no decay", weightDecay: 0 }` with biases and normalization scales/offsets.
 * ```ts
 * const opt = new optim.SGD(optim.paramGroupsForDecay(net, { weightDecay: 1e-4 }), { lr: 0.1, momentum: 0.9 });
 * ```
 * Both groups are always returned (possibly empty), so `paramGroups[0]` is always the decayed one.
 */
export function paramGroupsForDecay(model: ParamSource, options: DecaySplitOptions): ParamGroupInput[] {
  if (!options || typeof options !== "object")
    throw new Error(`paramGroupsForDecay: options must be { weightDecay, noDecay? }, got ${describe(options)}`);
  const { weightDecay, noDecay } = options;
  for (const k of Object.keys(options))
    if (k !== "weightDecay" && k !== "noDecay")
      throw new Error(`paramGroupsForDecay: unknown option ${JSON.stringify(k)}; accepted: weightDecay, noDecay`);
  checkNumber("paramGroupsForDecay", "weightDecay", weightDecay, { min: 0 });
  const extra = excluded(noDecay);
  const decay: tf.Variable[] = [];
  const keep: tf.Variable[] = [];
  for (const v of collectVariables(model, "paramGroupsForDecay")) (v.rank <= 1 || extra(v) ? keep : decay).push(v);
  return [
    { name: "decay", params: decay, weightDecay },
    { name: "no decay", params: keep, weightDecay: 0 },
  ];
}

/** The `noDecay` option as a predicate over variables. */
function excluded(noDecay: DecaySplitOptions["noDecay"]): (v: tf.Variable) => boolean {
  if (noDecay === undefined) return () => false;
  if (noDecay instanceof RegExp) return (v) => noDecay.test(v.name);
  if (Array.isArray(noDecay)) return (v) => noDecay.includes(v.name);
  if (typeof noDecay === "function") return noDecay;
  return fail("paramGroupsForDecay", "noDecay", "a RegExp, a list of names or a predicate", noDecay);
}
