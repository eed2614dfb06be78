// ConstantLR and LinearLR: a multiplicative factor for the first totalIters epochs (warmup).
import { checkInt, checkNumber, describe } from "../core/check";
import type { SchedulableOptimizer } from "../core/protocols";
import { LRScheduler } from "./base";

export interface ConstantLROptions {
  /** Factor applied until epoch totalIters (default 1/3); 0 < factor <= 1. */
  factor?: number;
  /** Epochs with the factor applied (default 5). */
  totalIters?: number;
  lastEpoch?: number;
}

/**
 * Chainable: ×factor at e = 0, ×1/factor at e = totalIters. Closed form: base · (factor + [e ≥ T]·(1 − factor)).
 * PyTorch accepts factor = 0 and then produces NaN at e = T (0 · 1/0); tsdl rejects it.
 */
export class ConstantLR extends LRScheduler {
  readonly factor: number;
  readonly totalIters: number;
  constructor(optimizer: SchedulableOptimizer, options: ConstantLROptions = {}) {
    const factor = checkNumber("ConstantLR", "factor", options.factor ?? 1 / 3);
    if (factor <= 0 || factor > 1) {
      throw new Error(`ConstantLR: factor must be in (0, 1] (the lr is multiplied by factor, then by 1/factor), got ${describe(factor)}`);
    }
    const totalIters = checkInt("ConstantLR", "totalIters", options.totalIters ?? 5, 0);
    super(optimizer, options.lastEpoch, "ConstantLR");
    this.factor = factor;
    this.totalIters = totalIters;
    this.initialStep();
  }
  protected computeLr(): number[] {
    if (this.lastEpoch === 0) return this.currentLrs().map((lr) => lr * this.factor);
    if (this.lastEpoch !== this.totalIters) return this.currentLrs();
    return this.currentLrs().map((lr) => lr * (1.0 / this.factor));
  }
  protected override closedFormLr(): number[] {
    const after = this.lastEpoch >= this.totalIters ? 1 : 0;
    return this.baseLrs.map((base) => base * (this.factor + after * (1 - this.factor)));
  }
  protected override describeOptions() {
    return { factor: this.factor, totalIters: this.totalIters };
  }
}

export interface LinearLROptions {
  /** Factor at epoch 0 (default 1/3); 0 < startFactor <= 1. */
  startFactor?: number;
  /** Factor from epoch totalIters on (default 1); 0 <= endFactor <= 1. */
  endFactor?: number;
  /** Epochs of the linear ramp (default 5). */
  totalIters?: number;
  lastEpoch?: number;
}

/**
 * Closed form: base · (s + (t − s) · min(T, e) / T). Chainable (what step() uses):
 * e = 0: lr·s; 1 ≤ e ≤ T: lr · (1 + (t − s) / (T·s + (e − 1)(t − s))); e > T: unchanged.
 * startFactor = 0 is rejected as in PyTorch >= 2.0 (1.13 accepts it and divides by zero).
 */
export class LinearLR extends LRScheduler {
  readonly startFactor: number;
  readonly endFactor: number;
  readonly totalIters: number;
  constructor(optimizer: SchedulableOptimizer, options: LinearLROptions = {}) {
    const s = checkNumber("LinearLR", "startFactor", options.startFactor ?? 1 / 3);
    if (s <= 0 || s > 1) throw new Error(`LinearLR: startFactor must be in (0, 1], got ${describe(s)}`);
    const t = checkNumber("LinearLR", "endFactor", options.endFactor ?? 1.0);
    if (t < 0 || t > 1) throw new Error(`LinearLR: endFactor must be in [0, 1], got ${describe(t)}`);
    const totalIters = checkInt("LinearLR", "totalIters", options.totalIters ?? 5, 1);
    super(optimizer, options.lastEpoch, "LinearLR");
    this.startFactor = s;
    this.endFactor = t;
    this.totalIters = totalIters;
    this.initialStep();
  }
  protected computeLr(): number[] {
    const { startFactor: s, endFactor: t, totalIters: T } = this;
    if (this.lastEpoch === 0) return this.currentLrs().map((lr) => lr * s);
    if (this.lastEpoch > T) return this.currentLrs();
    return this.currentLrs().map((lr) => lr * (1.0 + (t - s) / (T * s + (this.lastEpoch - 1) * (t - s))));
  }
  protected override closedFormLr(): number[] {
    const { startFactor: s, endFactor: t, totalIters: T } = this;
    return this.baseLrs.map((base) => base * (s + ((t - s) * Math.min(T, this.lastEpoch)) / T));
  }
  protected override describeOptions() {
    return { startFactor: this.startFactor, endFactor: this.endFactor, totalIters: this.totalIters };
  }
}
