// StepLR and MultiStepLR: decay by gamma at fixed epochs.
import { checkInt, checkNumber, describe, fail, isObject } from "../core/check";
import type { SchedulableOptimizer } from "../core/protocols";
import { bisectRight } from "./args";
import { LRScheduler } from "./base";

export interface StepLROptions {
  /** Period of the decay, in epochs. */
  stepSize: number;
  /** Multiplicative factor of the decay (default 0.1). */
  gamma?: number;
  lastEpoch?: number;
}

/** Chainable: ×γ when e > 0 and e % stepSize == 0. Closed form: base · γ^⌊e/stepSize⌋. */
export class StepLR extends LRScheduler {
  readonly stepSize: number;
  readonly gamma: number;
  constructor(optimizer: SchedulableOptimizer, options: StepLROptions) {
    const stepSize = checkInt("StepLR", "stepSize", options?.stepSize, 1);
    const gamma = checkNumber("StepLR", "gamma", options.gamma ?? 0.1);
    super(optimizer, options.lastEpoch, "StepLR");
    this.stepSize = stepSize;
    this.gamma = gamma;
    this.initialStep();
  }
  protected computeLr(): number[] {
    if (this.lastEpoch === 0 || this.lastEpoch % this.stepSize !== 0) return this.currentLrs();
    return this.currentLrs().map((lr) => lr * this.gamma);
  }
  protected override closedFormLr(): number[] {
    return this.baseLrs.map((base) => base * this.gamma ** Math.floor(this.lastEpoch / this.stepSize));
  }
  protected override describeOptions() {
    return { stepSize: this.stepSize, gamma: this.gamma };
  }
}

export interface MultiStepLROptions {
  /** Epoch indices where the lr is multiplied by gamma; a repeated milestone multiplies again. */
  milestones: number[];
  gamma?: number;
  lastEpoch?: number;
}

/** Chainable: ×γ^count(e) at a milestone e. Closed form: base · γ^bisect_right(milestones, e). */
export class MultiStepLR extends LRScheduler {
  /** Sorted, with repeats (PyTorch keeps a Counter). */
  readonly milestones: number[];
  readonly gamma: number;
  constructor(optimizer: SchedulableOptimizer, options: MultiStepLROptions) {
    const ms = options?.milestones;
    if (!Array.isArray(ms) || ms.some((m) => typeof m !== "number" || !Number.isInteger(m) || m < 0)) {
      throw new Error(`MultiStepLR: milestones must be an array of epoch indices (integers >= 0), got ${describe(ms)}`);
    }
    const gamma = checkNumber("MultiStepLR", "gamma", options.gamma ?? 0.1);
    super(optimizer, options.lastEpoch, "MultiStepLR");
    this.milestones = [...ms].sort((a, b) => a - b);
    this.gamma = gamma;
    this.initialStep();
  }
  protected computeLr(): number[] {
    const count = this.milestones.filter((m) => m === this.lastEpoch).length;
    if (count === 0) return this.currentLrs();
    return this.currentLrs().map((lr) => lr * this.gamma ** count);
  }
  protected override closedFormLr(): number[] {
    return this.baseLrs.map((base) => base * this.gamma ** bisectRight(this.milestones, this.lastEpoch));
  }
  /** PyTorch keeps milestones as a Counter, `{ "20": 1 }` in JSON: back to the sorted list with repeats. */
  protected override convertLoaded(key: string, value: unknown): unknown {
    if (key !== "milestones" || !isObject(value)) return value;
    const list: unknown[] = [];
    for (const [m, count] of Object.entries(value)) {
      if (!Number.isInteger(count) || (count as number) < 1)
        fail(`${this.name}.loadStateDict`, `milestones[${JSON.stringify(m)}]`, "a count (an integer >= 1)", count);
      for (let i = 0; i < (count as number); i++) list.push(/^\d+$/.test(m) ? Number(m) : m);
    }
    return list.sort((a, b) => (a as number) - (b as number));
  }
  protected override describeOptions() {
    return { milestones: this.milestones, gamma: this.gamma };
  }
}
