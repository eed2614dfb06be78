// Splitting a model into weight-decay and no-decay groups (timm / Keras / fastai convention).
import * as tf from "@tensorflow/tfjs";
import { show } from "./options";
import { collectVariables, ParamGroupInput, ParamSource } from "./params";

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
  if (!options || typeof options !== "object") throw new Error(`paramGroupsForDecay: options must be { weightDecay, noDecay? }, got ${show(options)}`);
  const { weightDecay, noDecay } = options;
  for (const k of Object.keys(options))
    if (k !== "weightDecay" && k !== "noDecay") throw new Error(`paramGroupsForDecay: unknown option ${JSON.stringify(k)}; accepted: weightDecay, noDecay`);
  if (typeof weightDecay !== "number" || !Number.isFinite(weightDecay) || weightDecay < 0)
    throw new Error(`paramGroupsForDecay: invalid weightDecay ${show(weightDecay)}; expected a finite number >= 0`);
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
  throw new Error(`paramGroupsForDecay: invalid noDecay ${show(noDecay)}; expected a RegExp, a list of names or a predicate`);
}
