// CosineAnnealingLR and CosineAnnealingWarmRestarts (SGDR).
import { checkInt, checkNumber, describe } from "../core/check";
import type { SchedulableOptimizer } from "../core/protocols";
import { LRScheduler } from "./base";

export interface CosineAnnealingLROptions {
  /** Half period of the cosine, in epochs. */
  tMax: number;
  /** Lowest lr (default 0). */
  etaMin?: number;
  lastEpoch?: number;
}

/**
 * Closed form: η_min + (base − η_min)(1 + cos(π e / T_max)) / 2. What step() uses (chainable):
 * e = 0: unchanged; first step of a resumed schedule: closed form;
 * (e − 1 − T_max) % 2T_max == 0: lr + (base − η_min)(1 − cos(π / T_max)) / 2 (leaving the minimum);
 * else η_min + (lr − η_min)(1 + cos(π e / T_max)) / (1 + cos(π (e − 1) / T_max)).
 * No restarts: past T_max the lr follows the cosine back up (period 2·T_max).
 */
export class CosineAnnealingLR extends LRScheduler {
  readonly tMax: number;
  readonly etaMin: number;
  constructor(optimizer: SchedulableOptimizer, options: CosineAnnealingLROptions) {
    const tMax = checkNumber("CosineAnnealingLR", "tMax", options?.tMax);
    if (tMax <= 0) throw new Error(`CosineAnnealingLR: tMax must be > 0 (epochs of the half period), got ${describe(tMax)}`);
    const etaMin = checkNumber("CosineAnnealingLR", "etaMin", options.etaMin ?? 0);
    super(optimizer, options.lastEpoch, "CosineAnnealingLR");
    this.tMax = tMax;
    this.etaMin = etaMin;
    this.initialStep();
  }
  protected computeLr(): number[] {
    const e = this.lastEpoch;
    const { tMax, etaMin } = this;
    if (e === 0) return this.currentLrs();
    if (this.stepCount === 1 && e > 0) {
      return this.baseLrs.map((base) => etaMin + ((base - etaMin) * (1 + Math.cos((e * Math.PI) / tMax))) / 2);
    }
    if ((e - 1 - tMax) % (2 * tMax) === 0) {
      return this.optimizer.paramGroups.map((g, i) => g.lr + ((this.baseLrs[i] - etaMin) * (1 - Math.cos(Math.PI / tMax))) / 2);
    }
    return this.currentLrs().map(
      (lr) => ((1 + Math.cos((Math.PI * e) / tMax)) / (1 + Math.cos((Math.PI * (e - 1)) / tMax))) * (lr - etaMin) + etaMin,
    );
  }
  protected override closedFormLr(): number[] {
    return this.baseLrs.map((base) => this.etaMin + ((base - this.etaMin) * (1 + Math.cos((Math.PI * this.lastEpoch) / this.tMax))) / 2);
  }
  protected override describeOptions() {
    return { tMax: this.tMax, etaMin: this.etaMin };
  }
}

export interface CosineAnnealingWarmRestartsOptions {
  /** Epochs until the first restart (positive integer). */
  t0: number;
  /** Factor by which the period grows after each restart (integer >= 1, default 1). */
  tMult?: number;
  /** Lowest lr (default 0). */
  etaMin?: number;
  lastEpoch?: number;
}

/**
 * lr = η_min + (base − η_min)(1 + cos(π T_cur / T_i)) / 2, with T_cur the epochs since the last restart and
 * T_i the current period (T_0, then ·T_mult after each restart). `step()` adds 1 epoch; `step(epoch)` jumps
 * to any epoch, fractional too (per batch: `step(epoch + i / itersPerEpoch)`), and the two can be mixed.
 */
export class CosineAnnealingWarmRestarts extends LRScheduler {
  readonly t0: number;
  tI: number;
  readonly tMult: number;
  readonly etaMin: number;
  tCur: number;
  constructor(optimizer: SchedulableOptimizer, options: CosineAnnealingWarmRestartsOptions) {
    const t0 = checkInt("CosineAnnealingWarmRestarts", "t0", options?.t0, 1);
    const tMult = checkInt("CosineAnnealingWarmRestarts", "tMult", options.tMult ?? 1, 1);
    const etaMin = checkNumber("CosineAnnealingWarmRestarts", "etaMin", options.etaMin ?? 0);
    super(optimizer, options.lastEpoch, "CosineAnnealingWarmRestarts");
    this.t0 = t0;
    this.tI = t0;
    this.tMult = tMult;
    this.etaMin = etaMin;
    this.tCur = this.lastEpoch;
    this.initialStep();
  }
  protected computeLr(): number[] {
    return this.baseLrs.map((base) => this.etaMin + ((base - this.etaMin) * (1 + Math.cos((Math.PI * this.tCur) / this.tI))) / 2);
  }
  /** Next epoch, or jump to `epoch` (may be fractional; >= 0). */
  override step(epoch?: number): void {
    if (this.stepCount === 1) this.checkCallOrder();
    if (epoch === undefined) this.advance();
    else this.jumpTo(epoch);
  }
  /** @internal */
  override advance(): void {
    this.stepCount += 1;
    if (this.lastEpoch < 0) {
      this.setEpoch(0);
      return;
    }
    const epoch = this.lastEpoch + 1;
    this.tCur = this.tCur + 1;
    if (this.tCur >= this.tI) {
      this.tCur = this.tCur - this.tI;
      this.tI = this.tI * this.tMult;
    }
    this.lastEpoch = Math.floor(epoch);
    this.apply(this.computeLr());
  }
  protected override jumpTo(epoch: number): void {
    if (typeof epoch !== "number" || !Number.isFinite(epoch) || epoch < 0) {
      throw new Error(`CosineAnnealingWarmRestarts.step: epoch must be a finite number >= 0, got ${describe(epoch)}`);
    }
    this.stepCount += 1;
    this.setEpoch(epoch);
  }
  private setEpoch(epoch: number): void {
    if (epoch >= this.t0) {
      if (this.tMult === 1) {
        this.tCur = epoch % this.t0;
      } else {
        const n = Math.trunc(Math.log((epoch / this.t0) * (this.tMult - 1) + 1) / Math.log(this.tMult));
        this.tCur = epoch - (this.t0 * (this.tMult ** n - 1)) / (this.tMult - 1);
        this.tI = this.t0 * this.tMult ** n;
      }
    } else {
      this.tI = this.t0;
      this.tCur = epoch;
    }
    this.lastEpoch = Math.floor(epoch);
    this.apply(this.computeLr());
  }
  protected override describeOptions() {
    return { t0: this.t0, tMult: this.tMult, etaMin: this.etaMin };
  }
}
