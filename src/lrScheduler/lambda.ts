// LambdaLR and MultiplicativeLR: schedules given as functions of the epoch.
import { describe } from "../core/check";
import type { SchedulableOptimizer } from "../core/protocols";
import { LRScheduler } from "./base";

/** A multiplicative factor as a function of the epoch index. */
export type LrLambda = (epoch: number) => number;

export interface LambdaLROptions {
  /** One function for all groups, or one per param group. */
  lrLambda: LrLambda | LrLambda[];
  lastEpoch?: number;
}

function lambdasFor(optimizer: SchedulableOptimizer, lrLambda: unknown, where: string): LrLambda[] {
  const n = optimizer?.paramGroups?.length ?? 0;
  const list = Array.isArray(lrLambda) ? lrLambda : new Array(n).fill(lrLambda);
  if (Array.isArray(lrLambda) && lrLambda.length !== n) {
    throw new Error(`${where}: expected ${n} lrLambdas (one per param group), got ${lrLambda.length}`);
  }
  list.forEach((f, i) => {
    if (typeof f !== "function") {
      throw new Error(
        `${where}: lrLambda${Array.isArray(lrLambda) ? `[${i}]` : ""} must be a function epoch => factor, got ${describe(f)}`,
      );
    }
  });
  return list as LrLambda[];
}

/** Base of the schedules given by one function of the epoch per group (checked before any group changes). */
abstract class LambdaScheduler extends LRScheduler {
  readonly lrLambdas: LrLambda[];
  constructor(optimizer: SchedulableOptimizer, options: LambdaLROptions, where: string) {
    const lambdas = lambdasFor(optimizer, options?.lrLambda, where);
    super(optimizer, options.lastEpoch, where);
    this.lrLambdas = lambdas;
    this.initialStep();
  }
}

/**
 * lr_g(e) = base_g · λ_g(e). Not chainable: it always starts from the group's `initialLr`.
 * The lambdas are not part of `stateDict()` (as in PyTorch, where plain functions are saved as None).
 */
export class LambdaLR extends LambdaScheduler {
  constructor(optimizer: SchedulableOptimizer, options: LambdaLROptions) {
    super(optimizer, options, "LambdaLR");
  }
  protected computeLr(): number[] {
    return this.baseLrs.map((base, i) => base * this.lrLambdas[i](this.lastEpoch));
  }
}

/**
 * Chainable: lr_g(e) = lr_g(e−1) · λ_g(e) for e > 0; the initial step leaves the lr unchanged. No closed form.
 * The lambdas are checked when it is built (as PyTorch >= 2.0; 1.13 fails later, at the first step).
 */
export class MultiplicativeLR extends LambdaScheduler {
  constructor(optimizer: SchedulableOptimizer, options: LambdaLROptions) {
    super(optimizer, options, "MultiplicativeLR");
  }
  protected computeLr(): number[] {
    if (this.lastEpoch > 0) return this.optimizer.paramGroups.map((g, i) => g.lr * this.lrLambdas[i](this.lastEpoch));
    return this.currentLrs();
  }
}
