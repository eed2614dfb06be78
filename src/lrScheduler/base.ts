// The scheduler base classes: Scheduler (what every scheduler offers, containers and ReduceLROnPlateau included)
// and LRScheduler (PyTorch's epoch-indexed base). Semantics mirror torch.optim.lr_scheduler of torch 1.13 (the
// reference installed here); where tsdl follows newer PyTorch instead, the class says so. Arguments, momentum
// cycling, state dicts, warnings and display are in their own files beside this one.
import * as util from "util";
import { checkNumber, fail } from "../core/check";
import type { SchedulableOptimizer } from "../core/protocols";
import { JUPYTER_DISPLAY, MimeBundle } from "../display";
import { checkOptimizer } from "./args";
import type { MomentumKey } from "./momentum";
import { optionsText, schedulerBundle, stateText } from "./show";
import { copyData, StateDict, stateOf, stateUpdates } from "./stateDict";
import { warn } from "./warnings";

/** What every scheduler (including containers and ReduceLROnPlateau) offers. */
export abstract class Scheduler {
  /** Epoch index (or batch index for per-batch schedules) of the last `step()`. */
  lastEpoch = -1;
  /** Values written by the last step, one per param group (see `getLastLr()`). */
  protected lastLr: number[] = [];
  /** Fields that are wiring, not state: never in `stateDict()`. */
  protected static readonly NOT_STATE = new Set(["optimizer", "warned", "optimizerStepsAtInit"]);
  /** State keys whose value is one of a few strings, and those strings (checked by `loadStateDict`). */
  protected static readonly STATE_CHOICES: Readonly<Record<string, readonly string[]>> = {};
  /** Warnings already given by this scheduler. */
  protected warned: Record<string, boolean> = {};
  protected optimizerStepsAtInit: number | undefined;

  constructor(readonly optimizer: SchedulableOptimizer) {}

  /** Advance the schedule (after `optimizer.step()`); ReduceLROnPlateau takes the monitored metric. */
  abstract step(arg?: number): void;

  /** The lr of every param group as last set by this scheduler. */
  getLastLr(): number[] {
    return [...this.lastLr];
  }

  /** True for ReduceLROnPlateau, whose `step(metric)` needs the monitored value. */
  get needsMetric(): boolean {
    return false;
  }

  /** PyTorch's name, e.g. "StepLR". */
  get name(): string {
    return this.constructor.name;
  }

  /** @internal Undo one step of the epoch counter (SequentialLR's `recursive_undo`). */
  undoStep(): void {
    this.lastEpoch -= 1;
  }

  /** @internal Start (again) at epoch 0: the initial step of a fresh scheduler, or a SequentialLR milestone. */
  abstract restart(asInitialStep: boolean): void;

  /** @internal Where cycled momentum lives, when this schedule cycles it. */
  momentumKey(): MomentumKey | undefined {
    return undefined;
  }

  /** @internal One step as a child of a container or in a preview: no call-order warning. */
  abstract advance(): void;

  /** @internal Record how many optimizer steps existed when built (for the call-order warning). */
  protected markOptimizerSteps(): void {
    this.optimizerStepsAtInit = this.optimizer.stepCount;
  }

  /** PyTorch's warning: `scheduler.step()` before any `optimizer.step()` skips the schedule's first value. */
  protected checkCallOrder(): void {
    if (this.warned.order) return;
    const now = this.optimizer.stepCount;
    if (typeof now !== "number" || typeof this.optimizerStepsAtInit !== "number") return;
    if (now <= this.optimizerStepsAtInit) {
      this.warned.order = true;
      warn(
        `${this.name}.step() was called before optimizer.step(). Call optimizer.step() first, then ` +
          `scheduler.step() (PyTorch >= 1.1 order); otherwise the first value of the schedule is skipped.`,
      );
    }
  }

  /** Copy the group lrs into `lastLr`. */
  protected recordLastLr(): void {
    this.lastLr = this.optimizer.paramGroups.map((g) => g.lr);
  }

  /**
   * The scheduler's state as plain data (JSON-safe: functions are left out, as PyTorch leaves out lambdas).
   * Save the optimizer's state too: loading a scheduler state does not restore the group lrs (as in PyTorch).
   */
  stateDict(): StateDict {
    const skip = (this.constructor as typeof Scheduler).NOT_STATE;
    return stateOf(
      this,
      (k, v) =>
        skip.has(k) ||
        Scheduler.NOT_STATE.has(k) ||
        v instanceof Scheduler ||
        (Array.isArray(v) && v.some((x) => typeof x === "function" || x instanceof Scheduler)),
    );
  }

  /**
   * Restore a state from `stateDict()` (also after a JSON round trip), or from a PyTorch `state_dict()`
   * whose keys are snake_case (`last_epoch`, `_step_count`, `T_cur`, ...). Unknown keys are an error.
   */
  loadStateDict(state: StateDict): void {
    this.prepareLoad(state)();
  }

  /**
   * @internal Checks `state` completely and returns what applies it: nothing changes before that is called,
   * so a container checks all its children before loading any.
   */
  prepareLoad(state: StateDict): () => void {
    const rules = { groups: this.optimizer.paramGroups.length, choices: (this.constructor as typeof Scheduler).STATE_CHOICES };
    const updates = stateUpdates(`${this.name}.loadStateDict`, this.stateDict(), state, rules, (k, v) => this.convertLoaded(k, v));
    return () => {
      Object.assign(this, updates);
      this.afterLoad();
    };
  }

  /** Convert one loaded value (e.g. JSON's null back to Infinity). */
  protected convertLoaded(_key: string, value: unknown): unknown {
    return value;
  }

  protected afterLoad(): void {}

  /** @internal A deep copy driving `optimizer` instead (for previews); nested schedulers are copied too. */
  cloneOnto(optimizer: SchedulableOptimizer, seen: Map<Scheduler, Scheduler> = new Map()): this {
    const existing = seen.get(this);
    if (existing) return existing as this;
    const c = Object.create(Object.getPrototypeOf(this)) as this;
    seen.set(this, c);
    for (const [k, v] of Object.entries(this)) {
      let value: unknown;
      if (k === "optimizer") value = optimizer;
      else if (v instanceof Scheduler) value = v.cloneOnto(optimizer, seen);
      else if (Array.isArray(v))
        value = v.map((x) => (x instanceof Scheduler ? x.cloneOnto(optimizer, seen) : typeof x === "function" ? x : copyData(x)));
      else if (typeof v === "function") value = v;
      else value = copyData(v);
      (c as unknown as StateDict)[k] = value;
    }
    // A preview never warns.
    (c as unknown as { warned: Record<string, boolean> }).warned = { order: true, epoch: true };
    return c;
  }

  /** A short description with the options (numbers to 6 significant digits), e.g. `StepLR(stepSize=30, gamma=0.1)`. */
  toString(): string {
    return optionsText(this.name, this.describeOptions());
  }

  protected describeOptions(): Record<string, unknown> {
    return {};
  }

  /** How a scheduler prints in Node and notebooks: its options, epoch and current lrs. */
  [util.inspect.custom](): string {
    return stateText(this.toString(), this.lastEpoch, this.optimizer.paramGroups);
  }

  /** Notebook display: the same text, and in HTML the options over a table of each group's lr (and cycled momentum). */
  [JUPYTER_DISPLAY](): MimeBundle {
    return schedulerBundle(this.toString(), this.lastEpoch, this.optimizer.paramGroups, this.momentumKey());
  }
}

/**
 * Base of the epoch-indexed schedulers (PyTorch's `LRScheduler`). Building one sets each group's
 * `initialLr` (if not set yet) and takes the initial step, which writes the epoch-0 lr into the optimizer.
 * Subclasses compute the chainable form in `computeLr()` (from the current group lrs) and, where PyTorch
 * has one, the closed form in `closedFormLr()` (from `baseLrs`).
 */
export abstract class LRScheduler extends Scheduler {
  /** Each group's `initialLr` when the scheduler was built (PyTorch's `base_lrs`). */
  baseLrs: number[];
  /** Number of `step()` calls, the initial step included (PyTorch's `_step_count`). */
  protected stepCount = 0;

  constructor(optimizer: SchedulableOptimizer, lastEpoch: number | undefined, where: string) {
    super(checkOptimizer(optimizer, where));
    const last = lastEpoch ?? -1;
    LRScheduler.checkResume(optimizer, last, where);
    if (last === -1) for (const g of optimizer.paramGroups) if (g.initialLr === undefined) g.initialLr = g.lr;
    this.baseLrs = optimizer.paramGroups.map((g) => g.initialLr as number);
    this.lastEpoch = last;
  }

  /** Resuming (`lastEpoch >= 0`) needs `initialLr` in every group, as PyTorch requires `initial_lr`. */
  static checkResume(optimizer: SchedulableOptimizer, lastEpoch: number, where: string): void {
    if (typeof lastEpoch !== "number" || !Number.isInteger(lastEpoch) || lastEpoch < -1)
      fail(where, "lastEpoch", "an integer >= -1 (-1 starts a new schedule)", lastEpoch);
    if (lastEpoch === -1) return;
    optimizer.paramGroups.forEach((g, i) => {
      if (typeof g.initialLr !== "number") {
        throw new Error(
          `${where}: resuming with lastEpoch=${lastEpoch} needs paramGroups[${i}].initialLr (PyTorch's initial_lr); ` +
            `it is set when a schedule starts with lastEpoch=-1. Restore the optimizer's groups first, or use lastEpoch=-1.`,
        );
      }
    });
  }

  /** Subclasses call this last in their constructor: PyTorch's `_initial_step()`. */
  protected initialStep(): void {
    this.markOptimizerSteps();
    this.stepCount = 0;
    this.advance();
  }

  /** The next lrs from the current ones (PyTorch's chainable `get_lr()`); may write momentum. */
  protected abstract computeLr(): number[];

  /** The lrs at `lastEpoch` from `baseLrs`, for classes that have a closed form. */
  protected closedFormLr?(): number[];

  /**
   * Advance one epoch (or batch). `step(epoch)` is PyTorch's deprecated form: it jumps to `epoch` and uses
   * the closed form where there is one.
   */
  step(epoch?: number): void {
    if (this.stepCount === 1) this.checkCallOrder();
    if (epoch === undefined) {
      this.advance();
      return;
    }
    if (!this.warned.epoch) {
      this.warned.epoch = true;
      warn("step(epoch) is deprecated in PyTorch: call step() once per epoch; with an epoch the closed form is used where available.");
    }
    this.jumpTo(checkNumber(`${this.name}.step`, "epoch", epoch));
  }

  /** @internal */
  advance(): void {
    this.stepCount += 1;
    this.lastEpoch += 1;
    this.apply(this.computeLr());
  }

  /** PyTorch's `step(epoch)`: set lastEpoch and use the closed form if the class has one. */
  protected jumpTo(epoch: number): void {
    this.stepCount += 1;
    this.lastEpoch = epoch;
    this.apply(this.closedFormLr ? this.closedFormLr() : this.computeLr());
  }

  /** @internal At SequentialLR's construction (initial step) or at its milestone (PyTorch's `step(0)`). */
  restart(asInitialStep: boolean): void {
    if (asInitialStep) {
      this.stepCount = 0;
      this.advance();
    } else {
      this.jumpTo(0);
    }
  }

  protected apply(values: number[]): void {
    this.optimizer.paramGroups.forEach((g, i) => {
      if (i < values.length) g.lr = values[i];
    });
    this.recordLastLr();
  }

  protected currentLrs(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }
}
