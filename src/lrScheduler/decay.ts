// ExponentialLR and PolynomialLR: smooth decay every epoch.
import { checkInt, checkNumber } from "../core/check";
import type { SchedulableOptimizer } from "../core/protocols";
import { LRScheduler } from "./base";

export interface ExponentialLROptions {
  /** Multiplicative factor per epoch. */
  gamma: number;
  lastEpoch?: number;
}

/** Chainable: lr·γ (unchanged on the initial step). Closed form: base·γ^e. */
export class ExponentialLR extends LRScheduler {
  readonly gamma: number;
  constructor(optimizer: SchedulableOptimizer, options: ExponentialLROptions) {
    const gamma = checkNumber("ExponentialLR", "gamma", options?.gamma);
    super(optimizer, options.lastEpoch, "ExponentialLR");
    this.gamma = gamma;
    this.initialStep();
  }
  protected computeLr(): number[] {
    if (this.lastEpoch === 0) return this.currentLrs();
    return this.currentLrs().map((lr) => lr * this.gamma);
  }
  protected override closedFormLr(): number[] {
    return this.baseLrs.map((base) => base * this.gamma ** this.lastEpoch);
  }
  protected override describeOptions() {
    return { gamma: this.gamma };
  }
}

export interface PolynomialLROptions {
  /** Epochs until the lr reaches 0 (default 5). */
  totalIters?: number;
  /** Power of the polynomial (default 1). */
  power?: number;
  lastEpoch?: number;
}

/**
 * Closed form: base · (1 − min(T, e)/T)^power. Chainable for 1 ≤ e ≤ T:
 * lr · ((1 − e/T) / (1 − (e − 1)/T))^power; unchanged otherwise. Reaches exactly 0 at e = T.
 */
export class PolynomialLR extends LRScheduler {
  readonly totalIters: number;
  readonly power: number;
  constructor(optimizer: SchedulableOptimizer, options: PolynomialLROptions = {}) {
    const totalIters = checkInt("PolynomialLR", "totalIters", options.totalIters ?? 5, 1);
    const power = checkNumber("PolynomialLR", "power", options.power ?? 1.0);
    super(optimizer, options.lastEpoch, "PolynomialLR");
    this.totalIters = totalIters;
    this.power = power;
    this.initialStep();
  }
  protected computeLr(): number[] {
    const e = this.lastEpoch;
    const T = this.totalIters;
    if (e === 0 || e > T) return this.currentLrs();
    const decay = ((1.0 - e / T) / (1.0 - (e - 1) / T)) ** this.power;
    return this.currentLrs().map((lr) => lr * decay);
  }
  protected override closedFormLr(): number[] {
    return this.baseLrs.map((base) => base * (1.0 - Math.min(this.totalIters, this.lastEpoch) / this.totalIters) ** this.power);
  }
  protected override describeOptions() {
    return { totalIters: this.totalIters, power: this.power };
  }
}
