import * as util from "util";
import type { SchedulableGroup, SchedulableOptimizer } from "../core/protocols";
import { escapeHtml, JUPYTER_DISPLAY, MimeBundle } from "../display";

export type { SchedulableGroup, SchedulableOptimizer };

// The shared scheduler machinery: what an optimizer must look like, the base classes, warnings, state dicts.
// Semantics mirror torch.optim.lr_scheduler of torch 1.13 (the reference installed here); where tsdl follows
// newer PyTorch instead, the class says so.

// ---------------------------------------------------------------------------------------------------------
// Warnings: once per scheduler and kind, through a replaceable handler (tests capture them).

export type WarningHandler = (message: string) => void;
let warningHandler: WarningHandler = (m) => console.warn(m);

/** Replace where scheduler warnings go (default `console.warn`); returns the previous handler. */
export function setWarningHandler(handler: WarningHandler): WarningHandler {
  const previous = warningHandler;
  warningHandler = handler;
  return previous;
}

export function warn(message: string): void {
  warningHandler(`tsdl lrScheduler: ${message}`);
}

// ---------------------------------------------------------------------------------------------------------
// Small validation helpers: every error names the bad value and what is accepted.

export function fmt(v: unknown): string {
  if (typeof v === "function") return "a function";
  if (typeof v === "string") return JSON.stringify(v);
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

export function checkNumber(name: string, v: unknown, where: string): number {
  if (typeof v !== "number" || !Number.isFinite(v)) throw new Error(`${where}: ${name} must be a finite number, got ${fmt(v)}`);
  return v;
}

export function checkInt(name: string, v: unknown, where: string, min: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
    throw new Error(`${where}: ${name} must be an integer >= ${min}, got ${fmt(v)}`);
  }
  return v;
}

export function checkOneOf<T extends string>(name: string, v: unknown, accepted: readonly T[], where: string): T {
  if (!(accepted as readonly unknown[]).includes(v)) {
    throw new Error(`${where}: ${name} must be one of ${accepted.map((a) => JSON.stringify(a)).join(", ")}, got ${fmt(v)}`);
  }
  return v as T;
}

export function checkOptimizer(optimizer: unknown, where: string): SchedulableOptimizer {
  const groups = (optimizer as SchedulableOptimizer | undefined)?.paramGroups;
  if (!Array.isArray(groups) || groups.length === 0) {
    throw new Error(`${where}: expected an optimizer with paramGroups (e.g. optim.SGD), got ${optimizer === null ? "null" : typeof optimizer}`);
  }
  groups.forEach((g, i) => {
    if (typeof g?.lr !== "number" || !Number.isFinite(g.lr)) {
      throw new Error(`${where}: paramGroups[${i}].lr must be a finite number, got ${fmt(g?.lr)}`);
    }
  });
  return optimizer as SchedulableOptimizer;
}

/** A scalar for every group, or one value per group (PyTorch's `_format_param`). */
export function perGroup(name: string, value: number | readonly number[], nGroups: number, where: string): number[] {
  if (Array.isArray(value)) {
    if (value.length !== nGroups) throw new Error(`${where}: expected ${nGroups} values for ${name} (one per param group), got ${value.length}`);
    value.forEach((v, i) => checkNumber(`${name}[${i}]`, v, where));
    return [...value];
  }
  return new Array<number>(nGroups).fill(checkNumber(name, value, where));
}

/** Index of the first element > x in a sorted array (Python's bisect_right). */
export function bisectRight(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (x < sorted[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Where cycled momentum lives: SGD-style `momentum`, or `betas[0]` for Adam-family optimizers. */
export type MomentumKey = "momentum" | "betas";

export function momentumKeyOf(optimizer: SchedulableOptimizer, where: string): MomentumKey {
  const d = optimizer.defaults;
  if (d && "betas" in d) return "betas";
  if (d && "momentum" in d) return "momentum";
  const g = optimizer.paramGroups[0];
  if (Array.isArray(g.betas)) return "betas";
  if ("momentum" in g) return "momentum";
  throw new Error(
    `${where}: cycleMomentum needs an optimizer with momentum (SGD's 'momentum' or Adam's 'betas'); ` +
      `this one has neither. Pass cycleMomentum: false.`,
  );
}

/** The momentum options of CyclicLR and OneCycleLR. */
export interface CycleMomentumOptions {
  cycleMomentum?: boolean;
  baseMomentum?: number | number[];
  maxMomentum?: number | number[];
}

/**
 * Checks the momentum options of a schedule that cycles momentum: where momentum lives (`key`, undefined when
 * `cycleMomentum` is false) and the per-group bounds, defaulting to `defaults`.
 */
export function cycledMomentum(
  optimizer: SchedulableOptimizer,
  o: CycleMomentumOptions,
  defaults: { baseMomentum: number; maxMomentum: number },
  where: string,
): { key?: MomentumKey; baseMomentums: number[]; maxMomentums: number[] } {
  if (!(o.cycleMomentum ?? true)) return { baseMomentums: [], maxMomentums: [] };
  const n = optimizer.paramGroups.length;
  return {
    key: momentumKeyOf(optimizer, where),
    baseMomentums: perGroup("baseMomentum", o.baseMomentum ?? defaults.baseMomentum, n, where),
    maxMomentums: perGroup("maxMomentum", o.maxMomentum ?? defaults.maxMomentum, n, where),
  };
}

export function readMomentum(group: SchedulableGroup, key: MomentumKey): number {
  return key === "betas" ? Number((group.betas as number[])[0]) : Number(group.momentum);
}

export function writeMomentum(group: SchedulableGroup, key: MomentumKey, value: number): void {
  if (key === "betas") group.betas = [value, ...(group.betas as number[]).slice(1)] as [number, number];
  else group.momentum = value;
}

// ---------------------------------------------------------------------------------------------------------
// State dicts: plain JSON-able data, keys named after PyTorch's (camelCase, leading underscore dropped).

export type StateDict = { [key: string]: unknown };

/** PyTorch's private bookkeeping that tsdl does not keep; loading a PyTorch state dict skips these keys. */
const TORCH_ONLY_KEYS = new Set([
  "getLrCalledWithinStep",
  "isInitial",
  "verbose",
  "scaleFnRef",
  "scaleFnCustom",
  "annealFunc",
  "lrLambdas",
]);

/** `_step_count` -> `stepCount`, `T_max` -> `tMax`, `base_lrs` -> `baseLrs`. */
export function camelKey(key: string): string {
  const k = key.replace(/^_+/, "").replace(/_([A-Za-z0-9])/g, (_, c: string) => c.toUpperCase());
  return k.charAt(0).toLowerCase() + k.slice(1);
}

function copyData(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(copyData);
  if (v !== null && typeof v === "object") {
    const out: StateDict = {};
    for (const [k, x] of Object.entries(v)) out[k] = copyData(x);
    return out;
  }
  return v;
}

// ---------------------------------------------------------------------------------------------------------

/** What every scheduler (including containers and ReduceLROnPlateau) offers. */
export abstract class Scheduler {
  /** Epoch index (or batch index for per-batch schedules) of the last `step()`. */
  lastEpoch = -1;
  /** Values written by the last step, one per param group (see `getLastLr()`). */
  protected lastLr: number[] = [];
  /** Fields that are wiring, not state: never in `stateDict()`. */
  protected static readonly NOT_STATE = new Set(["optimizer", "warned", "optimizerStepsAtInit"]);
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
    const out: StateDict = {};
    const skip = (this.constructor as typeof Scheduler).NOT_STATE;
    for (const [k, v] of Object.entries(this)) {
      if (skip.has(k) || Scheduler.NOT_STATE.has(k) || typeof v === "function") continue;
      if (v instanceof Scheduler) continue;
      if (Array.isArray(v) && v.some((x) => typeof x === "function" || x instanceof Scheduler)) continue;
      out[k] = copyData(v);
    }
    return out;
  }

  /**
   * Restore a state from `stateDict()` (also after a JSON round trip), or from a PyTorch `state_dict()`
   * whose keys are snake_case (`last_epoch`, `_step_count`, `T_cur`, ...). Unknown keys are an error.
   */
  loadStateDict(state: StateDict): void {
    if (state === null || typeof state !== "object" || Array.isArray(state)) {
      throw new Error(`${this.name}.loadStateDict: expected an object from stateDict(), got ${fmt(state)}`);
    }
    const own = this.stateDict();
    const updates: StateDict = {};
    const unknown: string[] = [];
    for (const [rawKey, v] of Object.entries(state)) {
      const k = camelKey(rawKey);
      if (k in own) updates[k] = this.convertLoaded(k, copyData(v));
      else if (!TORCH_ONLY_KEYS.has(k)) unknown.push(rawKey);
    }
    if (unknown.length) {
      throw new Error(
        `${this.name}.loadStateDict: unknown keys ${unknown.map((k) => JSON.stringify(k)).join(", ")} ` +
          `(a state of another scheduler?); accepted: ${Object.keys(own).join(", ")}`,
      );
    }
    Object.assign(this, updates);
    this.afterLoad();
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
      else if (Array.isArray(v)) value = v.map((x) => (x instanceof Scheduler ? x.cloneOnto(optimizer, seen) : typeof x === "function" ? x : copyData(x)));
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
    const show = (v: unknown): string => (Array.isArray(v) ? `[${v.map(show).join(", ")}]` : typeof v === "number" ? num(v) : String(v));
    const opts = Object.entries(this.describeOptions()).map(([k, v]) => `${k}=${show(v)}`);
    return `${this.name}(${opts.join(", ")})`;
  }

  protected describeOptions(): Record<string, unknown> {
    return {};
  }

  /** How a scheduler prints in Node and notebooks: its options, epoch and current lrs. */
  [util.inspect.custom](): string {
    return `${this.toString()} lastEpoch=${this.lastEpoch} lr=[${this.optimizer.paramGroups.map((g) => num(g.lr)).join(", ")}]`;
  }

  /** Notebook display: the same text, and in HTML the options over a table of each group's lr (and cycled momentum). */
  [JUPYTER_DISPLAY](): MimeBundle {
    const key = this.momentumKey();
    const head = ["group", "lr", ...(key ? ["momentum"] : [])];
    const rows = this.optimizer.paramGroups.map((g, i) => [String(i), num(g.lr), ...(key ? [num(readMomentum(g, key))] : [])]);
    const cells = (tag: string, r: string[]) => `<tr>${r.map((c, i) => `<${tag} style="text-align:${i ? "right" : "left"}">${c}</${tag}>`).join("")}</tr>`;
    const html =
      `<div class="tsdl-lr-scheduler"><code>${escapeHtml(this.toString())}</code> lastEpoch=${this.lastEpoch}` +
      `<table><thead>${cells("th", head)}</thead><tbody>${rows.map((r) => cells("td", r)).join("")}</tbody></table></div>`;
    return { "text/html": html, "text/plain": this[util.inspect.custom]() };
  }
}

/** 6 significant digits: 0.16666666666666666 -> 0.166667, 0.010000000000000002 -> 0.01. */
function num(v: number): string {
  return String(Number(v.toPrecision(6)));
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
    if (typeof lastEpoch !== "number" || !Number.isInteger(lastEpoch) || lastEpoch < -1) {
      throw new Error(`${where}: lastEpoch must be an integer >= -1 (-1 starts a new schedule), got ${fmt(lastEpoch)}`);
    }
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
    this.jumpTo(checkNumber("epoch", epoch, `${this.name}.step`));
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
