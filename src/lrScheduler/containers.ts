// SequentialLR and ChainedScheduler: schedules made of schedules.
import { describe } from "../core/check";
import type { SchedulableOptimizer } from "../core/protocols";
import { bisectRight, checkOptimizer } from "./args";
import { LRScheduler, Scheduler } from "./base";
import type { MomentumKey } from "./momentum";
import type { StateDict } from "./stateDict";

function checkChildren(schedulers: unknown, optimizer: SchedulableOptimizer | undefined, where: string): Scheduler[] {
  if (!Array.isArray(schedulers) || schedulers.length === 0) {
    throw new Error(`${where}: schedulers must be a non-empty array of schedulers, got ${describe(schedulers)}`);
  }
  const opt = optimizer ?? (schedulers[0] as Scheduler)?.optimizer;
  schedulers.forEach((s, i) => {
    if (!(s instanceof Scheduler)) throw new Error(`${where}: schedulers[${i}] is not a scheduler (got ${describe(s)})`);
    if (s.needsMetric) {
      throw new Error(`${where}: schedulers[${i}] is a ReduceLROnPlateau, which steps on a metric; it cannot be part of ${where}`);
    }
    if (s.optimizer !== opt) {
      throw new Error(
        `${where}: schedulers[${i}] belongs to another optimizer; every scheduler must be built on ` +
          `${optimizer ? `the optimizer given to ${where}` : "the optimizer of schedulers[0]"}`,
      );
    }
  });
  return [...schedulers];
}

function resetToInitial(optimizer: SchedulableOptimizer, where: string): void {
  optimizer.paramGroups.forEach((g, i) => {
    if (typeof g.initialLr !== "number") throw new Error(`${where}: paramGroups[${i}] has no initialLr; build its schedulers first`);
  });
  for (const g of optimizer.paramGroups) g.lr = g.initialLr as number;
}

/**
 * What SequentialLR and ChainedScheduler share: their children, PyTorch's call-order warning on the first
 * `step()`, the momentum key of the first child that cycles momentum, and a state dict that nests the
 * children's (`schedulers: [...]`, PyTorch's `_schedulers`).
 */
export abstract class SchedulerContainer extends Scheduler {
  readonly schedulers: Scheduler[];

  protected constructor(optimizer: SchedulableOptimizer, schedulers: Scheduler[]) {
    super(optimizer);
    this.schedulers = schedulers;
  }

  step(): void {
    if (!this.warned.stepped) {
      this.warned.stepped = true;
      this.checkCallOrder();
    }
    this.advance();
  }

  override momentumKey(): MomentumKey | undefined {
    for (const s of this.schedulers) {
      const k = s.momentumKey();
      if (k) return k;
    }
    return undefined;
  }

  override stateDict(): StateDict {
    return { ...super.stateDict(), schedulers: this.schedulers.map((s) => s.stateDict()) };
  }

  /** @internal The container's own state and every child's, all checked before any is applied. */
  override prepareLoad(state: StateDict): () => void {
    const { schedulers, _schedulers, ...rest } = (state ?? {}) as StateDict;
    const children = schedulers ?? _schedulers;
    if (!Array.isArray(children) || children.length !== this.schedulers.length) {
      throw new Error(`${this.name}.loadStateDict: expected ${this.schedulers.length} scheduler states, got ${describe(children)}`);
    }
    const apply = [super.prepareLoad(rest), ...this.schedulers.map((s, i) => s.prepareLoad(children[i] as StateDict))];
    return () => apply.forEach((a) => a());
  }

  protected override describeOptions(): Record<string, unknown> {
    return { schedulers: this.schedulers.map((s) => s.toString()) };
  }
}

export interface SequentialLROptions {
  /** The schedules, in order; all built on the same optimizer. */
  schedulers: Scheduler[];
  /** Epochs where the next schedule takes over (one fewer than schedulers, increasing). */
  milestones: number[];
  lastEpoch?: number;
}

/**
 * Runs `schedulers[i]` from epoch `milestones[i−1]` on. Building it resets every group's lr to `initialLr`,
 * undoes the initial step of every child and takes schedulers[0]'s initial step. At a milestone the next
 * schedule restarts at its epoch 0 (its closed form where it has one, as PyTorch 1.13's `step(0)`).
 * A nested ChainedScheduler or SequentialLR restarts from `initialLr` with fresh initial steps (PyTorch 1.13
 * raises a TypeError there).
 */
export class SequentialLR extends SchedulerContainer {
  readonly milestones: number[];
  constructor(optimizer: SchedulableOptimizer, options: SequentialLROptions) {
    checkOptimizer(optimizer, "SequentialLR");
    const schedulers = checkChildren(options?.schedulers, optimizer, "SequentialLR");
    const ms = options.milestones;
    if (!Array.isArray(ms) || ms.length !== schedulers.length - 1) {
      throw new Error(
        `SequentialLR: expected ${schedulers.length - 1} milestones (one fewer than the ${schedulers.length} schedulers), got ${describe(ms)}`,
      );
    }
    ms.forEach((m, i) => {
      if (typeof m !== "number" || !Number.isInteger(m) || m < 1 || (i > 0 && m <= ms[i - 1])) {
        throw new Error(`SequentialLR: milestones must be increasing integers >= 1, got ${describe(ms)}`);
      }
    });
    const lastEpoch = options.lastEpoch ?? -1;
    LRScheduler.checkResume(optimizer, lastEpoch, "SequentialLR");
    super(optimizer, schedulers);
    this.milestones = [...ms];
    this.lastEpoch = lastEpoch + 1;
    resetToInitial(optimizer, "SequentialLR");
    for (const s of schedulers) s.undoStep();
    this.markOptimizerSteps();
    schedulers[0].restart(true);
    this.lastLr = schedulers[0].getLastLr();
  }

  /** @internal */
  advance(): void {
    this.lastEpoch += 1;
    const idx = bisectRight(this.milestones, this.lastEpoch);
    const s = this.schedulers[idx];
    if (idx > 0 && this.milestones[idx - 1] === this.lastEpoch) s.restart(false);
    else s.advance();
    this.lastLr = s.getLastLr();
  }

  /** @internal As a nested schedule: start over from initialLr. */
  restart(): void {
    resetToInitial(this.optimizer, "SequentialLR");
    this.lastEpoch = 0;
    const first = this.schedulers[0];
    first.lastEpoch = -1;
    first.restart(true);
    this.lastLr = first.getLastLr();
  }

  protected override describeOptions() {
    return { ...super.describeOptions(), milestones: this.milestones };
  }
}

/**
 * Steps every child on each `step()`, in order: their chainable forms compose (multiply) on the group lrs.
 * Takes no initial step itself: the children took theirs when they were built.
 */
export class ChainedScheduler extends SchedulerContainer {
  /** Schedulers first, as PyTorch's `ChainedScheduler(schedulers, optimizer=None)`. */
  constructor(schedulers: Scheduler[], optimizer?: SchedulableOptimizer) {
    const list = checkChildren(schedulers, optimizer, "ChainedScheduler");
    super(optimizer ?? list[0].optimizer, list);
    this.lastEpoch = 0;
    this.markOptimizerSteps();
    this.recordLastLr();
  }

  /** @internal */
  advance(): void {
    this.lastEpoch += 1;
    for (const s of this.schedulers) s.advance();
    this.recordLastLr();
  }

  /** @internal */
  override undoStep(): void {
    this.lastEpoch -= 1;
    for (const s of this.schedulers) s.undoStep();
  }

  /** @internal As a nested schedule: start over from initialLr, every child taking its initial step again. */
  restart(): void {
    resetToInitial(this.optimizer, "ChainedScheduler");
    this.lastEpoch = 0;
    for (const s of this.schedulers) {
      s.lastEpoch = -1;
      s.restart(true);
    }
    this.recordLastLr();
  }
}
