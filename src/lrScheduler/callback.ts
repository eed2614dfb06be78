// model.fit integration: a tf.Callback that steps a scheduler per epoch or per batch and logs the lrs.
import * as tf from "@tensorflow/tfjs";
import { checkOneOf, describe } from "../core/check";
import { Scheduler } from "./base";
import { readMomentum } from "./momentum";

export interface SchedulerCallbackOptions {
  /** When to call `scheduler.step()`: after every epoch (default) or after every batch (CyclicLR, OneCycleLR). */
  every?: "epoch" | "batch";
  /**
   * ReduceLROnPlateau: the log key whose value is passed to `step(metric)` (default "val_loss" per epoch,
   * "loss" per batch). Not used by other schedulers.
   */
  monitor?: string;
}

/** One optimizer step (every: "batch") or one epoch (every: "epoch"), with the lrs it ran with. */
export interface LrRecord {
  epoch: number;
  /** Batch index within the epoch; -1 for per-epoch records. */
  batch: number;
  lr: number[];
  momentum?: number[];
}

type Logs = Record<string, unknown> | undefined;

async function logValue(logs: Logs, key: string): Promise<number | undefined> {
  const v = logs?.[key];
  if (typeof v === "number") return v;
  if (v instanceof tf.Tensor) return (await v.data())[0];
  return undefined;
}

/**
 * Steps `scheduler` during `model.fit` and writes the lr of every param group into the epoch logs, so the
 * fit History has them: `history.history.lr` with one group, `lr_0`, `lr_1`, ... with several (and
 * `momentum` / `momentum_0`, ... when the schedule cycles momentum). The value logged for an epoch is the
 * lr its batches ran with (per-epoch stepping), or the lr of its last batch (per-batch stepping);
 * `records` keeps every value.
 */
export class SchedulerCallback extends tf.Callback {
  readonly every: "epoch" | "batch";
  readonly monitor: string | undefined;
  /** Every lr the schedule gave, in order (per batch or per epoch, as stepped). */
  readonly records: LrRecord[] = [];
  private epoch = 0;
  private lastBatch: LrRecord | undefined;

  constructor(
    readonly scheduler: Scheduler,
    options: SchedulerCallbackOptions = {},
  ) {
    super();
    if (!(scheduler instanceof Scheduler)) throw new Error(`schedulerCallback: expected a scheduler, got ${describe(scheduler)}`);
    this.every = checkOneOf("schedulerCallback", "every", options.every ?? "epoch", ["epoch", "batch"] as const);
    if (options.monitor !== undefined && !scheduler.needsMetric) {
      throw new Error(
        `schedulerCallback: monitor ${JSON.stringify(options.monitor)} is only used with ReduceLROnPlateau, not ${scheduler.name}`,
      );
    }
    if (options.monitor !== undefined && typeof options.monitor !== "string") {
      throw new Error(`schedulerCallback: monitor must be a log key such as "val_loss", got ${describe(options.monitor)}`);
    }
    this.monitor = scheduler.needsMetric ? (options.monitor ?? (this.every === "epoch" ? "val_loss" : "loss")) : undefined;
  }

  private snapshot(epoch: number, batch: number): LrRecord {
    const groups = this.scheduler.optimizer.paramGroups;
    const key = this.scheduler.momentumKey();
    const rec: LrRecord = { epoch, batch, lr: groups.map((g) => g.lr) };
    if (key) rec.momentum = groups.map((g) => readMomentum(g, key));
    return rec;
  }

  private async stepScheduler(logs: Logs): Promise<void> {
    if (!this.monitor) {
      this.scheduler.step();
      return;
    }
    const value = await logValue(logs, this.monitor);
    if (value === undefined) {
      const keys = Object.keys(logs ?? {});
      throw new Error(
        `schedulerCallback: monitor ${JSON.stringify(this.monitor)} is not in the ${this.every} logs ` +
          `(keys: ${keys.length ? keys.join(", ") : "none"}). ` +
          (this.monitor.startsWith("val_")
            ? "Give fit validationData or validationSplit, or monitor another key."
            : "Monitor one of those keys."),
      );
    }
    this.scheduler.step(value);
  }

  /** A schedule on another optimizer than the model's would change nothing the model uses. */
  override async onTrainBegin(): Promise<void> {
    const modelOpt = (this.model as unknown as { optimizer?: unknown } | undefined)?.optimizer;
    if (modelOpt !== undefined && modelOpt !== null && modelOpt !== this.scheduler.optimizer) {
      throw new Error(
        `schedulerCallback: the ${this.scheduler.name} drives another optimizer than the model's ` +
          `(${(modelOpt as object).constructor?.name ?? typeof modelOpt}). Compile the model with the optimizer ` +
          `the scheduler was built on: model.compile({ optimizer: opt, ... }).`,
      );
    }
  }

  override async onEpochBegin(epoch: number): Promise<void> {
    this.epoch = epoch;
  }

  override async onBatchEnd(batch: number, logs?: Logs): Promise<void> {
    if (this.every !== "batch") return;
    const rec = this.snapshot(this.epoch, batch);
    this.records.push(rec);
    this.lastBatch = rec;
    await this.stepScheduler(logs);
  }

  override async onEpochEnd(epoch: number, logs?: Logs): Promise<void> {
    let rec: LrRecord;
    if (this.every === "epoch") {
      rec = this.snapshot(epoch, -1);
      this.records.push(rec);
    } else {
      rec = this.lastBatch ?? this.snapshot(epoch, -1);
    }
    if (logs) {
      const one = rec.lr.length === 1;
      rec.lr.forEach((v, i) => (logs[one ? "lr" : `lr_${i}`] = v));
      rec.momentum?.forEach((v, i) => (logs[one ? "momentum" : `momentum_${i}`] = v));
    }
    if (this.every === "epoch") await this.stepScheduler(logs);
  }
}

/** `new SchedulerCallback(scheduler, options)`: pass it in `model.fit(x, y, { callbacks: [...] })`. */
export function schedulerCallback(scheduler: Scheduler, options: SchedulerCallbackOptions = {}): SchedulerCallback {
  return new SchedulerCallback(scheduler, options);
}
