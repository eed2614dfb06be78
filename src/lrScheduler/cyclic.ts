// CyclicLR: the lr cycles between two bounds (and momentum inversely), stepped per batch.
import { checkNumber, checkOneOf, describe } from "../core/check";
import type { SchedulableOptimizer } from "../core/protocols";
import { checkOptimizer, perGroup } from "./args";
import { LRScheduler } from "./base";
import { cycledMomentum, type CycleMomentumOptions, type MomentumKey, readMomentum, writeMomentum } from "./momentum";

const MODES = ["triangular", "triangular2", "exp_range"] as const;
const SCALE_MODES = ["cycle", "iterations"] as const;
export type CyclicMode = (typeof MODES)[number];

export interface CyclicLROptions extends CycleMomentumOptions {
  /** Lower bound of the cycle, for all groups or one per group. */
  baseLr: number | number[];
  /** Upper bound of the cycle, for all groups or one per group. */
  maxLr: number | number[];
  /** Batches from the lower to the upper bound (default 2000). */
  stepSizeUp?: number;
  /** Batches back down (default stepSizeUp). */
  stepSizeDown?: number;
  /** Amplitude policy (default "triangular"); ignored when scaleFn is given. */
  mode?: CyclicMode;
  /** Base of "exp_range": amplitude · gamma^iteration (default 1). */
  gamma?: number;
  /** Custom amplitude policy, 0 <= scaleFn(x) <= 1. */
  scaleFn?: (x: number) => number;
  /** What scaleFn receives: the cycle number or the iteration (default "cycle"). */
  scaleMode?: "cycle" | "iterations";
  /** Cycle momentum inversely to the lr (default true): SGD's `momentum`, or `betas[0]` for Adam. */
  cycleMomentum?: boolean;
  /** Momentum at the lr's peak (default 0.8), for all groups or one per group. */
  baseMomentum?: number | number[];
  /** Momentum at baseLr (default 0.9), for all groups or one per group. */
  maxMomentum?: number | number[];
  lastEpoch?: number;
}

/**
 * cycle = ⌊1 + e/(up + down)⌋, x = 1 + e/(up + down) − cycle, r = up/(up + down),
 * scale = x/r if x <= r else (x − 1)/(r − 1);
 * lr = base + (max − base)·scale·f, momentum = maxM − (maxM − baseM)·scale·f, with
 * f = 1 (triangular), 1/2^(cycle−1) (triangular2), γ^e (exp_range), or scaleFn(cycle or e).
 * Building it sets every group's lr to baseLr (and momentum to its start value), as PyTorch does.
 * Momentum on Adam's `betas[0]` follows PyTorch >= 2.0 (1.13 cycles SGD momentum only).
 */
export class CyclicLR extends LRScheduler {
  protected static override readonly STATE_CHOICES = { mode: [...MODES, "custom"], scaleMode: SCALE_MODES };
  readonly maxLrs: number[];
  readonly totalSize: number;
  readonly stepRatio: number;
  readonly mode: CyclicMode | "custom";
  readonly gamma: number;
  readonly scaleMode: "cycle" | "iterations";
  readonly cycleMomentum: boolean;
  readonly useBeta1: boolean;
  baseMomentums: number[] = [];
  maxMomentums: number[] = [];
  private readonly customScaleFn: ((x: number) => number) | undefined;

  constructor(optimizer: SchedulableOptimizer, options: CyclicLROptions) {
    const where = "CyclicLR";
    checkOptimizer(optimizer, where);
    const n = optimizer.paramGroups.length;
    const lastEpoch = options?.lastEpoch ?? -1;
    LRScheduler.checkResume(optimizer, lastEpoch, where);
    const baseLrs = perGroup("baseLr", options.baseLr, n, where);
    const maxLrs = perGroup("maxLr", options.maxLr, n, where);
    const up = checkNumber(where, "stepSizeUp", options.stepSizeUp ?? 2000);
    const down = checkNumber(where, "stepSizeDown", options.stepSizeDown ?? up);
    if (up <= 0 || down < 0)
      throw new Error(`${where}: stepSizeUp must be > 0 and stepSizeDown >= 0, got ${describe(up)} and ${describe(down)}`);
    const scaleFn = options.scaleFn;
    if (scaleFn !== undefined && typeof scaleFn !== "function")
      throw new Error(`${where}: scaleFn must be a function x => scale, got ${describe(scaleFn)}`);
    const mode = scaleFn ? "custom" : checkOneOf(where, "mode", options.mode ?? "triangular", MODES);
    const gamma = checkNumber(where, "gamma", options.gamma ?? 1.0);
    const scaleMode = scaleFn
      ? checkOneOf(where, "scaleMode", options.scaleMode ?? "cycle", SCALE_MODES)
      : mode === "exp_range"
        ? "iterations"
        : "cycle";
    const {
      key,
      baseMomentums: baseMs,
      maxMomentums: maxMs,
    } = cycledMomentum(optimizer, options, { baseMomentum: 0.8, maxMomentum: 0.9 }, where);
    // Everything is valid: now write into the groups.
    if (lastEpoch === -1) optimizer.paramGroups.forEach((g, i) => (g.lr = baseLrs[i]));
    if (key && lastEpoch === -1) optimizer.paramGroups.forEach((g, i) => writeMomentum(g, key, baseMs[i]));
    super(optimizer, lastEpoch, where);
    this.maxLrs = maxLrs;
    this.totalSize = up + down;
    this.stepRatio = up / this.totalSize;
    this.mode = mode;
    this.gamma = gamma;
    this.scaleMode = scaleMode;
    this.customScaleFn = scaleFn;
    this.cycleMomentum = key !== undefined;
    this.useBeta1 = key === "betas";
    if (key) {
      this.baseMomentums = optimizer.paramGroups.map((g) => readMomentum(g, key));
      this.maxMomentums = maxMs;
    }
    this.baseLrs = baseLrs;
    this.initialStep();
  }

  /** The amplitude factor f(x). */
  scaleFn(x: number): number {
    if (this.customScaleFn) return this.customScaleFn(x);
    if (this.mode === "triangular2") return 1 / 2.0 ** (x - 1);
    if (this.mode === "exp_range") return this.gamma ** x;
    return 1.0;
  }

  override momentumKey(): MomentumKey | undefined {
    return this.cycleMomentum ? (this.useBeta1 ? "betas" : "momentum") : undefined;
  }

  protected computeLr(): number[] {
    const e = this.lastEpoch;
    const cycle = Math.floor(1 + e / this.totalSize);
    const x = 1 + e / this.totalSize - cycle;
    const scale = x <= this.stepRatio ? x / this.stepRatio : (x - 1) / (this.stepRatio - 1);
    const f = this.scaleFn(this.scaleMode === "cycle" ? cycle : e);
    const lrs = this.baseLrs.map((base, i) => base + (this.maxLrs[i] - base) * scale * f);
    const key = this.momentumKey();
    if (key) {
      this.optimizer.paramGroups.forEach((g, i) => {
        if (i >= this.maxMomentums.length) return; // a group added later keeps its momentum (as its lr)
        const height = (this.maxMomentums[i] - this.baseMomentums[i]) * scale;
        writeMomentum(g, key, this.maxMomentums[i] - height * f);
      });
    }
    return lrs;
  }

  protected override describeOptions() {
    const up = Math.round(this.totalSize * this.stepRatio);
    return { baseLr: this.baseLrs, maxLr: this.maxLrs, stepSizeUp: up, stepSizeDown: this.totalSize - up, mode: this.mode };
  }
}
