// train(): the course's utils.train() loop with a scheduler hook, a History, a progress bar, a live plot,
// a NaN/Inf guard and checkpoints. The step, evaluation, batches, optimizer access and epoch lines live in
// their own files beside this one.
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import { checkInt, checkOneOf, describe, fail, isObject } from "../core/check";
import type { BatchRecord, EpochRecord, History } from "../core/history";
import { isStateful, type Criterion, type Stateful } from "../core/protocols";
import { withSummary } from "../display";
import { live, LiveOptions } from "../plot/live";
import type { LossCurveOptions } from "../plot/lossCurve";
import { batchesOf, DataSource, lengthOf } from "./batches";
import { checkCheckpointTarget, loadCheckpoint, saveCheckpoint } from "./checkpoint";
import { evaluateBatches } from "./evaluate";
import { epochLine, historySummary } from "./format";
import { currentLr, OptimizerLike, trainableVars } from "./optimizer";
import { ProgressBar, ProgressMode, progressMode, ProgressState, TerminalLike } from "./progress";
import { defaultLag, StepPipeline, StepValues } from "./pipeline";
import { NonFiniteLossError } from "./step";

/** What train() needs of an lr scheduler (every lrScheduler class fits). */
export interface SchedulerLike extends Partial<Stateful> {
  step(metric?: number): void;
  needsMetric?: boolean;
}

/** A metric of an EpochRecord, or a function of it. */
export type Monitor = "validLoss" | "trainLoss" | "validAcc" | "trainAcc" | ((epoch: EpochRecord) => number);

/**
 * A scheduler with when to step it, in the words of lrScheduler.schedulerCallback: `every` "epoch" (default) or
 * "batch" (OneCycleLR, CyclicLR, warmups counted in steps); `monitor`: for ReduceLROnPlateau, the value passed
 * to step(metric) (default validLoss, or trainLoss without validation data).
 */
export interface ScheduleOptions {
  scheduler: SchedulerLike;
  every?: "epoch" | "batch";
  monitor?: Monitor;
}

/**
 * Something redrawn with the History as it grows (plot.live() returns one). `reserve()`, when it has one, is
 * called before the first epoch: it puts its output in the notebook then, above the epoch lines, so those lines
 * stay together below it instead of being split by a chart that appears after epoch 0.
 */
export interface LiveView {
  update(history: History, opts?: { force?: boolean }): unknown;
  reserve?(): void;
}

export interface TrainOptions {
  /**
   * An lr scheduler, stepped after every epoch (PyTorch's usual order: optimizer steps, then scheduler.step()),
   * or `{ scheduler, every: "batch" }` to step it after every batch, `{ scheduler, monitor: "validAcc" }` to
   * choose what ReduceLROnPlateau watches.
   */
  scheduler?: SchedulerLike | ScheduleOptions;
  /** Print the epoch lines (default true). */
  verbose?: boolean;
  /** Where epoch lines go (default console.log). */
  log?: (line: string) => void;
  /**
   * Progress bar: true/"auto" (default): a notebook display updated in place inside the kernel, one rewritten
   * line on a terminal, nothing otherwise; "display" / "terminal" force one; false/"none" turn it off.
   */
  progress?: boolean | ProgressMode;
  /** @internal Terminal used by the progress bar (tests). */
  progressOut?: TerminalLike;
  /** @internal Least seconds between two redraws of the bar (tests: 0 draws every batch). */
  progressInterval?: number;
  /**
   * A live loss curve: true, plot.live() options, or any object with update(history). It is offered the History
   * after every batch and epoch, redraws as its `every` says, and is drawn once more after the last epoch.
   */
  plot?: boolean | (LossCurveOptions & LiveOptions) | LiveView;
  /**
   * Save a checkpoint (see saveCheckpoint) after every `every` epochs (default 1) and after the last. A "{epoch}"
   * in the path is replaced by the epoch number, to keep one per epoch; otherwise the same directory is replaced.
   */
  checkpoint?: string | { path: string; every?: number };
  /** Continue from this checkpoint: weights, optimizer, scheduler, History and data order are restored. */
  resume?: string;
  /** Called after each batch with its record; may be async. */
  onBatchEnd?: (record: BatchRecord, history: History) => void | Promise<void>;
  /** Called after each epoch (after the scheduler step and checkpoint); may be async. */
  onEpochEnd?: (record: EpochRecord, history: History) => void | Promise<void>;
}

function liveView(plot: TrainOptions["plot"]): LiveView | undefined {
  if (!plot) return undefined;
  if (plot === true) return live();
  if (typeof (plot as LiveView).update === "function") return plot as LiveView;
  return live(plot as LossCurveOptions & LiveOptions);
}

function checkArgs(net: unknown, epochs: number, optimizer: unknown, criterion: unknown): void {
  if (!net || typeof (net as tf.LayersModel).apply !== "function" || !Array.isArray((net as tf.LayersModel).weights))
    fail("train", "net", "a tf.LayersModel (e.g. models.resnet(3, 10))", net);
  checkInt("train", "epochs", epochs, 1);
  if (!optimizer || !(optimizer instanceof tf.Optimizer))
    fail("train", "optimizer", "a tsdl optimizer (optim.SGD, ...) or a tf.Optimizer", optimizer);
  if (typeof criterion !== "function") fail("train", "criterion", "a loss such as new nn.CrossEntropyLoss()", criterion);
}

const MONITORS = ["validLoss", "trainLoss", "validAcc", "trainAcc"] as const;

/** The scheduler option as { scheduler, every, monitor }, checked. */
function scheduleOf(option: TrainOptions["scheduler"]): (ScheduleOptions & { every: "epoch" | "batch" }) | undefined {
  if (option === undefined) return undefined;
  const expected = "an lrScheduler (e.g. lrScheduler.multiStepLR(opt, ...)) or { scheduler, every?, monitor? }";
  const o: Partial<ScheduleOptions> =
    typeof (option as SchedulerLike)?.step === "function"
      ? { scheduler: option as SchedulerLike }
      : isObject(option)
        ? (option as Partial<ScheduleOptions>)
        : {};
  if (typeof o.scheduler?.step !== "function") fail("train", "scheduler", expected, option);
  for (const k of Object.keys(o)) if (!["scheduler", "every", "monitor"].includes(k)) fail("train", "scheduler", expected, option);
  const every = o.every === undefined ? "epoch" : checkOneOf("train", "scheduler.every", o.every, ["epoch", "batch"] as const);
  if (o.monitor !== undefined && typeof o.monitor !== "function") checkOneOf("train", "scheduler.monitor", o.monitor, MONITORS);
  if (every === "batch" && o.scheduler!.needsMetric)
    throw new Error(`train: ReduceLROnPlateau needs an epoch metric; step it every "epoch" (the default)`);
  return { scheduler: o.scheduler!, every, monitor: o.monitor };
}

function monitored(monitor: Monitor | undefined, r: EpochRecord): number {
  const m = monitor ?? (r.validLoss !== undefined ? "validLoss" : "trainLoss");
  const v = typeof m === "function" ? m(r) : r[m];
  if (typeof v !== "number")
    throw new Error(`train: scheduler.monitor ${describe(m)} has no value at epoch ${r.epoch} (no validation data?)`);
  return v;
}

/**
 * `train(net, trainData, validData, epochs, optimizer, criterion, { scheduler, … })`: the course's utils.train().
 *
 * Per epoch: training mode over trainData (forward, loss, gradients, optimizer update per batch), then eval
 * mode over validData (may be null), then one line
 *   `Epoch N. Train Loss: …, Train Acc: …, Valid Loss: …, Valid Acc: …, Time hh:mm:ss, lr …`
 * and `scheduler.step()` (per epoch by default). Losses and accuracies are means of per-batch values, as the
 * course computes them; Time is the epoch's wall time (training + validation) in whole seconds. Returns the
 * History: one EpochRecord per epoch and one BatchRecord per optimizer step, with every group's lr.
 * A NaN or infinite loss stops the run with a NonFiniteLossError (before that batch's update).
 */
export async function train(
  net: tf.LayersModel,
  trainData: DataSource,
  validData: DataSource | null | undefined,
  epochs: number,
  optimizer: OptimizerLike,
  criterion: Criterion,
  opts: TrainOptions = {},
): Promise<History> {
  checkArgs(net, epochs, optimizer, criterion);
  const schedule = scheduleOf(opts.scheduler);
  const log = opts.verbose === false ? () => undefined : (opts.log ?? ((line: string) => console.log(line)));
  const scheduler = schedule?.scheduler;
  const perBatch = schedule?.every === "batch";
  const ck = typeof opts.checkpoint === "string" ? { path: opts.checkpoint, every: 1 } : opts.checkpoint;
  if (ck) checkInt("train", "checkpoint.every", ck.every ?? 1, 1);
  const savesAfter = (epoch: number): boolean => !!ck && ((epoch + 1) % (ck.every ?? 1) === 0 || epoch === epochs - 1);
  const checkpointPath = (epoch: number): string => (ck as { path: string }).path.replace("{epoch}", String(epoch));
  // a target that is not a checkpoint folder is refused now, not after an epoch of training
  for (let epoch = 0; ck && epoch < epochs; epoch++)
    if (savesAfter(epoch)) checkCheckpointTarget(checkpointPath(epoch), "train({ checkpoint })");
  const data = validData ? { train: trainData, valid: validData } : { train: trainData };
  const parts = { model: net, optimizer, scheduler: isStateful(scheduler) ? scheduler : undefined, data };

  let history: History = { epochs: [], batches: [] };
  let start = 0;
  if (opts.resume) {
    const restored = await loadCheckpoint(opts.resume, parts);
    history = restored.history;
    start = restored.epoch + 1;
    const from =
      path.resolve(opts.resume) === restored.path ? opts.resume : `${restored.path} (the newest complete save; ${opts.resume} held none)`;
    log(`Resumed from ${from} after epoch ${restored.epoch}`);
  }
  // Shown as a cell's value or by console.log: a summary and a table of epochs, not every batch record.
  withSummary(history, historySummary);
  const view = liveView(opts.plot);
  const bar = new ProgressBar(progressMode("train", opts.progress), opts.progressOut, opts.progressInterval);
  const vars = trainableVars(net, optimizer);
  const validTotal = validData ? lengthOf(validData) : undefined;
  // Batches per epoch: the source's length, else the count of the epoch before (so later bars have an end).
  let total = lengthOf(trainData);
  let step = history.batches.length ? history.batches[history.batches.length - 1].step + 1 : 0;
  const runStart = performance.now();
  const runSeconds = () => (performance.now() - runStart) / 1000;
  // The run's outputs in the notebook, in this order before any epoch line: the bar, then the live chart; the
  // epoch lines (stdout) then follow them together.
  if (start < epochs) bar.update({ label: `Epoch ${start + 1}/${epochs}`, batch: 0, batches: total, elapsed: 0 }, true);
  view?.reserve?.();
  let completed = false;
  try {
    await runEpochs();
    completed = true;
  } finally {
    if (!completed) bar.stop(runSeconds());
    bar.clearLine(); // an error message must not land on the progress line
  }
  return history;

  /** What a step in flight needs for its record once its loss is read. */
  interface StepMeta {
    epoch: number;
    batch: number;
    step: number;
    lr: number[];
    size: number;
  }

  async function runEpochs(): Promise<void> {
    const batchScheduler = perBatch && isStateful(scheduler) ? scheduler : undefined;
    // On webgpu a step's loss is read one step late (pipeline.ts): the record, progress bar, live plot and
    // onBatchEnd of a batch come after the next batch is queued; a non-finite loss still undoes its batch.
    const pipeline = new StepPipeline<StepMeta>(net, optimizer, criterion, vars, {
      lag: defaultLag(),
      onNonFinite: (l, m) => new NonFiniteLossError(l, m.epoch, m.batch, m.step, m.lr, history),
      ...(batchScheduler
        ? { saveExtra: () => batchScheduler.stateDict(), restoreExtra: (s: unknown) => batchScheduler.loadStateDict(s) }
        : {}),
    });
    for (let epoch = start; epoch < epochs; epoch++) {
      const t0 = performance.now();
      const lr = currentLr(optimizer);
      const label = `Epoch ${epoch + 1}/${epochs}`;
      let lossSum = 0;
      let accSum = 0;
      let hasAcc = true;
      let n = 0;
      let issued = 0;
      let images = 0;
      let tBatch = performance.now();
      const trainProgress = (elapsed: number): ProgressState => ({
        label,
        batch: n,
        batches: total,
        loss: lossSum / n,
        acc: hasAcc ? accSum / n : undefined,
        imagesPerSecond: images / elapsed,
        elapsed,
      });
      /** The record of a step whose loss was read; `quiet`: history only (after an error elsewhere). */
      const recordBatch = async (d: StepValues & { meta: StepMeta }, quiet = false): Promise<void> => {
        const acc = d.correct === undefined ? undefined : d.correct / d.meta.size;
        const now = performance.now();
        const rec: BatchRecord = {
          epoch,
          batch: d.meta.batch,
          step: d.meta.step,
          loss: d.loss,
          lr: d.meta.lr,
          seconds: (now - tBatch) / 1000,
        };
        tBatch = now;
        if (acc !== undefined) rec.acc = acc;
        history.batches.push(rec);
        lossSum += d.loss;
        if (acc === undefined) hasAcc = false;
        else accSum += acc;
        n++;
        images += d.meta.size;
        if (quiet) return;
        bar.update(trainProgress((performance.now() - t0) / 1000));
        view?.update(history);
        if (opts.onBatchEnd) await opts.onBatchEnd(rec, history);
      };
      try {
        for await (const b of batchesOf(trainData, "train")) {
          const meta: StepMeta = { epoch, batch: issued, step, lr: currentLr(optimizer), size: b.x.shape[0] };
          const done = await pipeline.push(b, meta);
          issued++;
          step++;
          if (scheduler && perBatch) scheduler.step();
          for (const d of done) await recordBatch(d);
        }
        for (const d of await pipeline.drain()) await recordBatch(d);
      } catch (e) {
        // Steps still in flight were applied: read them (undoing a non-finite one) and keep their records.
        if (!(e instanceof NonFiniteLossError)) for (const d of await pipeline.settle()) await recordBatch(d, true);
        throw e;
      }
      if (n === 0) throw new Error(`train: the training data gave no batches in epoch ${epoch}`);
      total = lengthOf(trainData) ?? n;
      const trainSeconds = (performance.now() - t0) / 1000;
      bar.update(trainProgress(trainSeconds), true);
      const record: EpochRecord = { epoch, trainLoss: lossSum / n, lr, seconds: 0 };
      if (hasAcc) record.trainAcc = accSum / n;
      if (validData) {
        const valid = `${label} valid`;
        bar.update({ label: valid, batch: 0, batches: validTotal, elapsed: (performance.now() - t0) / 1000 }, true);
        const v = await evaluateBatches(net, validData, criterion, (p) =>
          bar.update({ label: valid, ...p, elapsed: (performance.now() - t0) / 1000 }),
        );
        record.validLoss = v.loss;
        if (v.acc !== undefined) record.validAcc = v.acc;
      }
      record.seconds = (performance.now() - t0) / 1000;
      history.epochs.push(record);
      bar.clearLine();
      log(epochLine(record));
      if (scheduler && !perBatch) {
        if (scheduler.needsMetric) scheduler.step(monitored(schedule?.monitor, record));
        else scheduler.step();
      }
      // `force` only once, so the finished run is drawn; before that the view's own `every` decides.
      view?.update(history, { force: epoch === epochs - 1 });
      if (savesAfter(epoch)) await saveCheckpoint(checkpointPath(epoch), { ...parts, epoch, history });
      if (opts.onEpochEnd) await opts.onEpochEnd(record, history);
    }
    bar.finish({ label: `Epoch ${epochs}/${epochs}`, batch: 0, elapsed: runSeconds() });
  }
}
