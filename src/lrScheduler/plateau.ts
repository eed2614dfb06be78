// ReduceLROnPlateau: cut the lr when a monitored metric stops improving.
import * as tf from "@tensorflow/tfjs";
import { checkInt, checkNumber, checkOneOf, describe } from "../core/check";
import type { SchedulableOptimizer } from "../core/protocols";
import { checkOptimizer, perGroup } from "./args";
import { Scheduler } from "./base";

export interface ReduceLROnPlateauOptions {
  /** "min": the metric should go down (a loss); "max": up (an accuracy). Default "min". */
  mode?: "min" | "max";
  /** new lr = lr · factor (default 0.1); 0 <= factor < 1. */
  factor?: number;
  /** Epochs without improvement tolerated before a cut (default 10). */
  patience?: number;
  /** How much better counts as better (default 1e-4). */
  threshold?: number;
  /** "rel": better than best·(1 ∓ threshold); "abs": better than best ∓ threshold. Default "rel". */
  thresholdMode?: "rel" | "abs";
  /** Epochs after a cut during which bad epochs are not counted (default 0). */
  cooldown?: number;
  /** Lower bound of the lr, for all groups or one per group (default 0). */
  minLr?: number | number[];
  /** A cut smaller than eps is skipped (default 1e-8). */
  eps?: number;
}

const MODES = ["min", "max"] as const;
const THRESHOLD_MODES = ["rel", "abs"] as const;

/**
 * `step(metric)` after each validation. A metric is better when (min/rel) m < best·(1 − threshold),
 * (min/abs) m < best − threshold, (max/rel) m > best·(1 + threshold), (max/abs) m > best + threshold.
 * After more than `patience` bad epochs every group gets lr = max(lr·factor, minLr_g), applied only if
 * the cut exceeds eps; then `cooldown` epochs pass without counting. `getLastLr()` works before any step
 * (PyTorch >= 2.2; in 1.13 it did not exist on this class).
 */
export class ReduceLROnPlateau extends Scheduler {
  protected static override readonly STATE_CHOICES = { mode: MODES, thresholdMode: THRESHOLD_MODES };
  readonly factor: number;
  minLrs: number[];
  /** The scalar minLr, re-broadcast when groups are added later; null when minLr was given per group. */
  readonly defaultMinLr: number | null;
  readonly patience: number;
  readonly cooldown: number;
  cooldownCounter = 0;
  mode: "min" | "max";
  threshold: number;
  thresholdMode: "rel" | "abs";
  /** Best metric so far (±Infinity before the first step; `null` after a JSON round trip means the same). */
  best = Infinity;
  numBadEpochs = 0;
  modeWorse = Infinity;
  readonly eps: number;

  constructor(optimizer: SchedulableOptimizer, options: ReduceLROnPlateauOptions = {}) {
    const where = "ReduceLROnPlateau";
    checkOptimizer(optimizer, where);
    const factor = checkNumber(where, "factor", options.factor ?? 0.1);
    if (factor < 0 || factor >= 1) throw new Error(`${where}: factor must be in [0, 1) (new lr = lr · factor), got ${describe(factor)}`);
    const minLr = options.minLr ?? 0;
    const minLrs = perGroup("minLr", minLr, optimizer.paramGroups.length, where);
    const patience = checkInt(where, "patience", options.patience ?? 10, 0);
    const cooldown = checkInt(where, "cooldown", options.cooldown ?? 0, 0);
    const mode = checkOneOf(where, "mode", options.mode ?? "min", MODES);
    const threshold = checkNumber(where, "threshold", options.threshold ?? 1e-4);
    const thresholdMode = checkOneOf(where, "thresholdMode", options.thresholdMode ?? "rel", THRESHOLD_MODES);
    const eps = checkNumber(where, "eps", options.eps ?? 1e-8);
    super(optimizer);
    this.factor = factor;
    this.minLrs = minLrs;
    this.defaultMinLr = Array.isArray(minLr) ? null : minLrs[0];
    this.patience = patience;
    this.cooldown = cooldown;
    this.mode = mode;
    this.threshold = threshold;
    this.thresholdMode = thresholdMode;
    this.eps = eps;
    this.lastEpoch = 0;
    this.initIsBetter();
    this.reset();
    this.recordLastLr();
  }

  override get needsMetric(): boolean {
    return true;
  }

  private initIsBetter(): void {
    this.modeWorse = this.mode === "min" ? Infinity : -Infinity;
  }

  private reset(): void {
    this.best = this.modeWorse;
    this.cooldownCounter = 0;
    this.numBadEpochs = 0;
  }

  /** Whether metric `a` improves on `best`. */
  isBetter(a: number, best: number): boolean {
    if (this.mode === "min" && this.thresholdMode === "rel") return a < best * (1 - this.threshold);
    if (this.mode === "min") return a < best - this.threshold;
    if (this.thresholdMode === "rel") return a > best * (this.threshold + 1);
    return a > best + this.threshold;
  }

  get inCooldown(): boolean {
    return this.cooldownCounter > 0;
  }

  /** Record this epoch's metric (e.g. the validation loss; a number or a scalar tensor); cuts the lr when it has plateaued. */
  step(metric?: number | tf.Tensor): void {
    if (metric instanceof tf.Tensor && metric.size === 1 && !metric.isDisposed) metric = metric.dataSync()[0];
    if (typeof metric !== "number") {
      throw new Error(
        `ReduceLROnPlateau.step(metric): give the monitored value (e.g. the validation loss) as a number, got ${describe(metric)}`,
      );
    }
    this.lastEpoch += 1;
    if (this.isBetter(metric, this.best)) {
      this.best = metric;
      this.numBadEpochs = 0;
    } else {
      this.numBadEpochs += 1;
    }
    if (this.inCooldown) {
      this.cooldownCounter -= 1;
      this.numBadEpochs = 0; // bad epochs during the cooldown do not count
    }
    if (this.numBadEpochs > this.patience) {
      this.reduceLr();
      this.cooldownCounter = this.cooldown;
      this.numBadEpochs = 0;
    }
    this.recordLastLr();
  }

  private reduceLr(): void {
    const n = this.optimizer.paramGroups.length;
    if (this.minLrs.length !== n) {
      // A param group was added after this scheduler was built (PyTorch >= 2.2 behaviour).
      if (this.defaultMinLr === null) {
        throw new Error(
          `ReduceLROnPlateau: the optimizer now has ${n} param groups but minLr was given for ${this.minLrs.length}; ` +
            `set scheduler.minLrs to one value per group`,
        );
      }
      this.minLrs = new Array<number>(n).fill(this.defaultMinLr);
    }
    this.optimizer.paramGroups.forEach((g, i) => {
      const oldLr = g.lr;
      const newLr = Math.max(oldLr * this.factor, this.minLrs[i]);
      if (oldLr - newLr > this.eps) g.lr = newLr;
    });
  }

  /** @internal */
  advance(): void {
    throw new Error("ReduceLROnPlateau steps on a metric: call step(metric)");
  }

  /** @internal */
  restart(): void {
    throw new Error("ReduceLROnPlateau cannot be restarted by a container");
  }

  protected override convertLoaded(key: string, value: unknown): unknown {
    // JSON turns ±Infinity into null: no best metric yet.
    if ((key === "best" || key === "modeWorse") && value === null) return undefined;
    return value;
  }

  protected override afterLoad(): void {
    this.initIsBetter();
    if (this.best === undefined || this.best === null) this.best = this.modeWorse;
  }

  protected override describeOptions() {
    return {
      mode: this.mode,
      factor: this.factor,
      patience: this.patience,
      threshold: this.threshold,
      thresholdMode: this.thresholdMode,
      cooldown: this.cooldown,
    };
  }
}
