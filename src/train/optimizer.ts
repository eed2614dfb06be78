// What train(), evaluate() and lrFinder need of an optimizer: a tsdl optimizer (param groups, step(grads),
// stateDict) or any tf.Optimizer (applyGradients, one learningRate). One check tells them apart, one pair reads
// and writes the lr.
import * as tf from "@tensorflow/tfjs";
import type { Stateful } from "../core/protocols";

/** The part of a tsdl optimizer (optim.SGD, ...) the training helpers use. */
export type TsdlOptimizerLike = tf.Optimizer &
  Stateful & {
    paramGroups: Array<{ lr: number }>;
    step(grads: tf.NamedTensorMap): void;
    params(): tf.Variable[];
  };

/** A tsdl optimizer (paramGroups, step(grads)) or any tf.Optimizer (applyGradients). */
export type OptimizerLike = TsdlOptimizerLike | tf.Optimizer;

/** True for a tsdl optimizer (duck-typed: the kernel and a script may load different copies of tsdl). */
export function isTsdlOptimizer(o: unknown): o is TsdlOptimizerLike {
  const x = o as Partial<Record<"paramGroups" | "step" | "params" | "stateDict" | "loadStateDict", unknown>> | null;
  return (
    !!x &&
    Array.isArray(x.paramGroups) &&
    typeof x.step === "function" &&
    typeof x.params === "function" &&
    typeof x.stateDict === "function" &&
    typeof x.loadStateDict === "function"
  );
}

/** tfjs's optimizers keep their lr in a `learningRate` field that their types do not declare. */
type WithLearningRate = { learningRate?: unknown };

/** The lr of every param group (a tf.Optimizer: its learningRate; [] when it has none). */
export function currentLr(optimizer: OptimizerLike): number[] {
  if (isTsdlOptimizer(optimizer)) return optimizer.paramGroups.map((g) => g.lr);
  const lr = (optimizer as WithLearningRate).learningRate;
  return typeof lr === "number" ? [lr] : [];
}

/** Sets the lr of every param group (a tf.Optimizer: its learningRate); `where` names the caller in errors. */
export function setLr(optimizer: OptimizerLike, lr: number, where: string): void {
  if (isTsdlOptimizer(optimizer)) for (const g of optimizer.paramGroups) g.lr = lr;
  else if (typeof (optimizer as WithLearningRate).learningRate === "number") (optimizer as WithLearningRate).learningRate = lr;
  else throw new Error(`${where}: cannot set the lr of this optimizer (it has neither paramGroups nor learningRate)`);
}

/** The variables a step updates: the optimizer's (tsdl) or the model's trainable weights (tf.Optimizer). */
export function trainableVars(net: tf.LayersModel, optimizer: OptimizerLike): tf.Variable[] {
  if (isTsdlOptimizer(optimizer)) return optimizer.params().filter((v) => v.trainable);
  return net.trainableWeights.map((w) => w.read() as tf.Variable).filter((v) => v.trainable);
}
