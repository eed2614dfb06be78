// OneCycleLR: warm up to maxLr, then anneal far below the start (fastai's 1cycle), stepped per batch.
import { checkInt, checkNumber, checkOneOf, describe } from "../core/check";
import type { SchedulableGroup, SchedulableOptimizer } from "../core/protocols";
import { checkOptimizer, perGroup } from "./args";
import { LRScheduler } from "./base";
import { cycledMomentum, type CycleMomentumOptions, type MomentumKey, writeMomentum } from "./momentum";

export interface OneCycleLROptions extends CycleMomentumOptions {
  /** Peak lr, for all groups or one per group. */
  maxLr: number | number[];
  /** Number of step() calls in the cycle; or give epochs and stepsPerEpoch. */
  totalSteps?: number;
  epochs?: number;
  stepsPerEpoch?: number;
  /** Fraction of the cycle spent increasing the lr (default 0.3). */
  pctStart?: number;
  /** "cos" (default) or "linear". */
  annealStrategy?: "cos" | "linear";
  /** Cycle momentum inversely to the lr (default true): SGD's `momentum`, or `betas[0]` for Adam. */
  cycleMomentum?: boolean;
  /** Momentum at the lr's peak (default 0.85), for all groups or one per group. */
  baseMomentum?: number | number[];
  /** Momentum at the start and end of the cycle (default 0.95), for all groups or one per group. */
  maxMomentum?: number | number[];
  /** initialLr = maxLr / divFactor (default 25). */
  divFactor?: number;
  /** minLr = initialLr / finalDivFactor (default 1e4). */
  finalDivFactor?: number;
  /** The paper's three phases (up, down to initialLr, down to minLr) instead of fastai's two. */
  threePhase?: boolean;
  lastEpoch?: number;
}

interface Phase {
  endStep: number;
  startLr: string;
  endLr: string;
  startMomentum: string;
  endMomentum: string;
}

const ANNEAL_STRATEGIES = ["cos", "linear"] as const;

/**
 * Phases (end step: start → end): two-phase: pct·N − 1: initialLr → maxLr; N − 1: maxLr → minLr.
 * Three-phase: pct·N − 1: initialLr → maxLr; 2·pct·N − 2: maxLr → initialLr; N − 1: initialLr → minLr.
 * In a phase, p = (s − start)/(end − start); cos: end + (start − end)/2·(cos(πp) + 1); linear: (end − start)·p + start.
 * Momentum runs inversely (maxMomentum → baseMomentum → maxMomentum). Step N itself still extrapolates (as
 * PyTorch); stepping past N is an error. Writes `initialLr`, `maxLr`, `minLr`, `maxMomentum`,
 * `baseMomentum` into each group, as PyTorch does.
 */
export class OneCycleLR extends LRScheduler {
  protected static override readonly STATE_CHOICES = { annealStrategy: ANNEAL_STRATEGIES };
  readonly totalSteps: number;
  readonly schedulePhases: Phase[];
  readonly annealStrategy: "cos" | "linear";
  readonly cycleMomentum: boolean;
  readonly useBeta1: boolean;

  constructor(optimizer: SchedulableOptimizer, options: OneCycleLROptions) {
    const where = "OneCycleLR";
    checkOptimizer(optimizer, where);
    const n = optimizer.paramGroups.length;
    const o = options ?? ({} as OneCycleLROptions);
    const lastEpoch = o.lastEpoch ?? -1;
    let totalSteps: number;
    const posInt = (name: string, v: unknown) => checkInt(where, name, v, 1);
    if (o.totalSteps !== undefined) totalSteps = posInt("totalSteps", o.totalSteps);
    else if (o.epochs === undefined && o.stepsPerEpoch === undefined) {
      throw new Error(`${where}: give totalSteps (the number of step() calls, usually batches), or epochs and stepsPerEpoch`);
    } else totalSteps = posInt("epochs", o.epochs) * posInt("stepsPerEpoch", o.stepsPerEpoch);
    const pctStart = checkNumber(where, "pctStart", o.pctStart ?? 0.3);
    if (pctStart < 0 || pctStart > 1) throw new Error(`${where}: pctStart must be a number in [0, 1], got ${describe(pctStart)}`);
    const annealStrategy = checkOneOf(where, "annealStrategy", o.annealStrategy ?? "cos", ANNEAL_STRATEGIES);
    const maxLrs = perGroup("maxLr", o.maxLr, n, where);
    const divFactor = checkNumber(where, "divFactor", o.divFactor ?? 25.0);
    const finalDivFactor = checkNumber(where, "finalDivFactor", o.finalDivFactor ?? 1e4);
    const {
      key,
      baseMomentums: baseMs,
      maxMomentums: maxMs,
    } = cycledMomentum(optimizer, o, { baseMomentum: 0.85, maxMomentum: 0.95 }, where);
    if (lastEpoch !== -1) {
      optimizer.paramGroups.forEach((g, i) => {
        for (const k of ["initialLr", "maxLr", "minLr", ...(key ? ["maxMomentum", "baseMomentum"] : [])]) {
          if (typeof g[k] !== "number") {
            throw new Error(
              `${where}: resuming with lastEpoch=${lastEpoch} needs paramGroups[${i}].${k}; restore the optimizer's groups first`,
            );
          }
        }
      });
    }
    LRScheduler.checkResume(optimizer, lastEpoch, where);
    // Everything is valid: now write into the groups.
    if (lastEpoch === -1) {
      optimizer.paramGroups.forEach((g, i) => {
        g.initialLr = maxLrs[i] / divFactor;
        g.maxLr = maxLrs[i];
        g.minLr = g.initialLr / finalDivFactor;
      });
      if (key) {
        optimizer.paramGroups.forEach((g, i) => {
          writeMomentum(g, key, maxMs[i]);
          g.maxMomentum = maxMs[i];
          g.baseMomentum = baseMs[i];
        });
      }
    }
    super(optimizer, lastEpoch, where);
    this.totalSteps = totalSteps;
    const first = {
      endStep: pctStart * totalSteps - 1,
      startLr: "initialLr",
      endLr: "maxLr",
      startMomentum: "maxMomentum",
      endMomentum: "baseMomentum",
    };
    this.schedulePhases = o.threePhase
      ? [
          first,
          {
            endStep: 2 * pctStart * totalSteps - 2,
            startLr: "maxLr",
            endLr: "initialLr",
            startMomentum: "baseMomentum",
            endMomentum: "maxMomentum",
          },
          { endStep: totalSteps - 1, startLr: "initialLr", endLr: "minLr", startMomentum: "maxMomentum", endMomentum: "maxMomentum" },
        ]
      : [first, { endStep: totalSteps - 1, startLr: "maxLr", endLr: "minLr", startMomentum: "baseMomentum", endMomentum: "maxMomentum" }];
    this.annealStrategy = annealStrategy;
    this.cycleMomentum = key !== undefined;
    this.useBeta1 = key === "betas";
    this.initialStep();
  }

  override momentumKey(): MomentumKey | undefined {
    return this.cycleMomentum ? (this.useBeta1 ? "betas" : "momentum") : undefined;
  }

  private anneal(start: number, end: number, pct: number): number {
    if (this.annealStrategy === "linear") return (end - start) * pct + start;
    const cosOut = Math.cos(Math.PI * pct) + 1;
    return end + ((start - end) / 2.0) * cosOut;
  }

  /** @internal Refuse a step past the cycle before changing anything. */
  override advance(): void {
    const next = this.lastEpoch + 1;
    if (next > this.totalSteps) {
      throw new Error(
        `OneCycleLR: tried to step ${next + 1} times; the cycle has totalSteps=${this.totalSteps}. ` +
          `Build it with the number of step() calls you make (epochs × batches per epoch).`,
      );
    }
    this.optimizer.paramGroups.forEach((g, i) => {
      if (typeof g.maxLr !== "number" || typeof g.minLr !== "number" || typeof g.initialLr !== "number") {
        throw new Error(
          `OneCycleLR: paramGroups[${i}] has no initialLr/maxLr/minLr (added after the scheduler was built?); ` +
            `build the OneCycleLR after adding every group`,
        );
      }
    });
    super.advance();
  }

  protected computeLr(): number[] {
    const s = this.lastEpoch;
    const key = this.momentumKey();
    return this.optimizer.paramGroups.map((g: SchedulableGroup) => {
      let startStep = 0;
      const phases = this.schedulePhases;
      for (let i = 0; i < phases.length; i++) {
        const phase = phases[i];
        if (s <= phase.endStep || i === phases.length - 1) {
          const pct = (s - startStep) / (phase.endStep - startStep);
          const lr = this.anneal(g[phase.startLr] as number, g[phase.endLr] as number, pct);
          if (key) writeMomentum(g, key, this.anneal(g[phase.startMomentum] as number, g[phase.endMomentum] as number, pct));
          return lr;
        }
        startStep = phase.endStep;
      }
      throw new Error("unreachable");
    });
  }

  protected override describeOptions() {
    const maxLr = this.optimizer.paramGroups.map((g) => g.maxLr);
    return { maxLr, totalSteps: this.totalSteps, annealStrategy: this.annealStrategy, threePhase: this.schedulePhases.length === 3 };
  }
}
