// Explicit L2 regularization, and how it relates to weightDecay and tf.regularizers.l2.
import * as tf from "@tensorflow/tfjs";
import { show } from "./options";
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
  if (typeof lambda !== "number" || !Number.isFinite(lambda) || lambda < 0)
    throw new Error(`l2Penalty: invalid lambda ${show(lambda)}; expected a finite number >= 0`);
  const list = Array.isArray(params) ? (params as unknown[]) : undefined;
  const tensors: tf.Tensor[] =
    list && list.length > 0 && list.every((t) => t instanceof tf.Tensor)
      ? (list as tf.Tensor[])
      : list && list.some(isGroupInput)
        ? list.flatMap((g, i) => collectVariables((g as ParamGroupInput).params, `l2Penalty: group ${i}`))
        : collectVariables(params, "l2Penalty");
  if (tensors.length === 0)
    throw new Error("l2Penalty: no parameters given (an empty list or groups); pass a model or layer, variables or tensors, or param groups");
  return tf.tidy(() => tf.mul(tf.addN(tensors.map((t) => tf.sum(tf.square(t)))), lambda) as tf.Scalar);
}
