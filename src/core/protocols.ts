// The shapes several tsdl folders agree on, in one place: data yields Batches, train consumes them, nn's losses
// are Criterions, optimizers, schedulers and loaders are Stateful, and schedulers drive any optimizer whose
// groups are SchedulableGroups. Structural types only; this file imports no other tsdl module.
import type * as tf from "@tensorflow/tfjs";

/**
 * One batch: inputs `x` and targets `y`. A data.DataLoader yields `Batch<tf.Tensor4D, tf.Tensor1D>` (float32
 * NHWC images, int32 class indices); train() takes any tensors (float targets for other losses).
 */
export interface Batch<X extends tf.Tensor = tf.Tensor, Y extends tf.Tensor = tf.Tensor> {
  x: X;
  y: Y;
}

/** A loss: nn.CrossEntropyLoss (or any nn loss) or a function (output, target) => scalar tensor. */
export type Criterion = (output: tf.Tensor, target: tf.Tensor) => tf.Tensor;

/**
 * PyTorch-style state (optimizers, schedulers, data loaders): `stateDict()` returns plain data that
 * `loadStateDict()` takes back. Checkpoints hold their parts as `Stateful` (S = unknown): the part checks what
 * it is given.
 */
export interface Stateful<S = unknown> {
  stateDict(): S;
  loadStateDict(state: S): void;
}

/** True for an object with `stateDict()` and `loadStateDict()`. */
export function isStateful(x: unknown): x is Stateful {
  return !!x && typeof (x as Stateful).stateDict === "function" && typeof (x as Stateful).loadStateDict === "function";
}

/** Keys an lr scheduler may add to a param group; optimizers accept them in group objects and keep them. */
export const SCHEDULER_KEYS = ["initialLr", "maxLr", "minLr", "maxMomentum", "baseMomentum"] as const;
export type SchedulerKey = (typeof SCHEDULER_KEYS)[number];

/** One parameter group as schedulers see it: a plain, editable object. Extra keys are kept. */
export interface SchedulableGroup extends Partial<Record<SchedulerKey, number>> {
  lr: number;
  momentum?: number;
  betas?: [number, number] | number[];
  /** The lr the schedule starts from (PyTorch's `initial_lr`), written by the first scheduler built. */
  initialLr?: number;
  [key: string]: unknown;
}

/**
 * What a scheduler needs from an optimizer (tsdl's `optim.SGD`, `optim.Adam`, ... have it; so does any
 * object with `paramGroups`). `stepCount` counts optimizer steps; it is used only for PyTorch's warning when
 * `scheduler.step()` runs before `optimizer.step()`.
 */
export interface SchedulableOptimizer {
  paramGroups: SchedulableGroup[];
  stepCount?: number;
  /** Constructor defaults, as PyTorch's `optimizer.defaults` (used to tell momentum from Adam's betas). */
  defaults?: object;
}
