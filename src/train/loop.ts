// train(): the course's utils.train() loop with a scheduler hook, a History, a progress bar, a live plot,
// a NaN/Inf guard and checkpoints.
import * as tf from "@tensorflow/tfjs";
import { explainFailure } from "../backend";
import { live, LiveOptions } from "../plot/live";
import type { LossCurveOptions } from "../plot/lossCurve";
import { loadCheckpoint, saveCheckpoint } from "./checkpoint";
import type { BatchRecord, EpochRecord, History } from "./history";
import { hms, ProgressBar, ProgressMode, ProgressState, TerminalLike } from "./progress";

/** One batch: images (NHWC) and labels (int32 class indices, or float targets for other losses). */
export interface Batch {
  x: tf.Tensor;
  y: tf.Tensor;
}

/**
 * Where batches come from: a data.DataLoader, or any (async) iterable of `{ x, y }`, iterated once per epoch.
 * `length` (batches per epoch) feeds the progress bar; `stateDict()`/`loadStateDict()` go into checkpoints.
 * train() does not dispose batches: a DataLoader disposes its own; other sources own theirs.
 */
export type DataSource = (AsyncIterable<Batch> | Iterable<Batch>) & { length?: number };

/** A loss: nn.CrossEntropyLoss (or any nn loss) or a function (output, target) => scalar. */
export type Criterion = (output: tf.Tensor, target: tf.Tensor) => tf.Tensor;

/** A tsdl optimizer (paramGroups, step(grads)) or any tf.Optimizer (applyGradients). */
export type OptimizerLike =
  | (tf.Optimizer & { paramGroups: Array<{ lr: number }>; step(grads: tf.NamedTensorMap): void; params(): tf.Variable[] })
  | tf.Optimizer;

/** What train() needs of an lr scheduler (every lrScheduler class fits). */
export interface SchedulerLike {
  step(metric?: number): void;
  needsMetric?: boolean;
  stateDict?(): unknown;
  loadStateDict?(state: never): void;
}

/** Something redrawn with the History as it grows (plot.live() returns one). */
export interface LiveView {
  update(history: History, opts?: { force?: boolean }): unknown;
}

export interface TrainOptions {
  /** Stepped after every epoch (PyTorch's usual order: optimizer steps, then scheduler.step()). */
  scheduler?: SchedulerLike;
  /** "epoch" (default) or "batch" (for OneCycleLR, CyclicLR and warmups counted in steps). */
  schedulerStep?: "epoch" | "batch";
  /** For ReduceLROnPlateau: the value passed to step(metric) (default: validLoss, or trainLoss without validation). */
  schedulerMetric?: "validLoss" | "trainLoss" | "validAcc" | "trainAcc" | ((epoch: EpochRecord) => number);
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

/** Thrown when a training loss is NaN or infinite; nothing of that batch was applied. */
export class NonFiniteLossError extends Error {
  constructor(
    readonly loss: number,
    readonly epoch: number,
    readonly batch: number,
    readonly step: number,
    readonly lr: number[],
    /** The run's History up to the batch before. */
    readonly history: History,
  ) {
    super(
      `train: the loss is ${loss} at epoch ${epoch}, batch ${batch} (step ${step}), lr ${formatLr(lr)}. ` +
        `Training stopped before applying this batch, so the weights are those after the previous batch; ` +
        `error.history holds the run so far. Common causes: an lr too high (try a 10x smaller one or ` +
        `lrFinder), inputs with NaN/Inf, or log(0) in a custom loss.`,
    );
    this.name = "NonFiniteLossError";
  }
}

/** Shortest decimal form of each group's lr: 0.1, 0.010000000000000002 -> 0.01. */
export function formatLr(lr: number[]): string {
  const f = (v: number) => String(Number(v.toPrecision(6)));
  return lr.length === 1 ? f(lr[0]) : `[${lr.map(f).join(", ")}]`;
}

/**
 * The course's epoch line plus the lr: `Epoch 0. Train Loss: 1.429834, Train Acc: 0.476982, Valid Loss:
 * 1.261334, Valid Acc: 0.546776, Time 00:00:26, lr 0.01` (fields without a value are left out).
 */
export function epochLine(r: EpochRecord): string {
  const f = (v: number) => (Number.isFinite(v) ? v.toFixed(6) : String(v).toLowerCase());
  let s = `Epoch ${r.epoch}. Train Loss: ${f(r.trainLoss)}, `;
  if (r.trainAcc !== undefined) s += `Train Acc: ${f(r.trainAcc)}, `;
  if (r.validLoss !== undefined) s += `Valid Loss: ${f(r.validLoss)}, `;
  if (r.validAcc !== undefined) s += `Valid Acc: ${f(r.validAcc)}, `;
  return `${s}Time ${hms(r.seconds)}, lr ${formatLr(r.lr)}`;
}

function isTsdlOptimizer(o: OptimizerLike): o is Extract<OptimizerLike, { paramGroups: unknown }> {
  const x = o as { paramGroups?: unknown; step?: unknown; params?: unknown };
  return Array.isArray(x.paramGroups) && typeof x.step === "function" && typeof x.params === "function";
}

/** The lr of every param group (a tf.Optimizer: its learningRate). */
export function currentLr(optimizer: OptimizerLike): number[] {
  if (isTsdlOptimizer(optimizer)) return optimizer.paramGroups.map((g) => g.lr);
  const lr = (optimizer as unknown as { learningRate?: number }).learningRate;
  return typeof lr === "number" ? [lr] : [];
}

function trainableVars(net: tf.LayersModel, optimizer: OptimizerLike): tf.Variable[] {
  if (isTsdlOptimizer(optimizer)) return optimizer.params().filter((v) => v.trainable);
  return net.trainableWeights.map((w) => w.read() as tf.Variable).filter((v) => v.trainable);
}

/** Correct predictions in a batch (argmax of the output against class indices or one-hot/probability targets). */
function correctCount(out: tf.Tensor, y: tf.Tensor): tf.Scalar | undefined {
  if (out.rank !== 2 || out.shape[1]! < 2) return undefined;
  const pred = tf.argMax(out, -1);
  if (y.dtype === "int32" && y.rank === 1) return tf.sum(tf.cast(tf.equal(pred, y), "float32")) as tf.Scalar;
  if (y.rank === 2 && y.shape[1] === out.shape[1]) return tf.sum(tf.cast(tf.equal(pred, tf.argMax(y, -1)), "float32")) as tf.Scalar;
  return undefined;
}

function scalarLoss(criterion: Criterion, out: tf.Tensor, y: tf.Tensor): tf.Scalar {
  const loss = criterion(out, y);
  if (!(loss instanceof tf.Tensor) || loss.rank !== 0) {
    const what = loss instanceof tf.Tensor ? `a tensor of shape [${loss.shape.join(", ")}]` : String(loss);
    throw new Error(`train: the criterion must return a scalar loss, got ${what} (use reduction "mean" or "sum")`);
  }
  return loss as tf.Scalar;
}

function checkBatch(b: unknown, where: string): Batch {
  const batch = b as Batch;
  if (!batch || !(batch.x instanceof tf.Tensor) || !(batch.y instanceof tf.Tensor)) {
    throw new Error(`${where}: each batch must be { x: tf.Tensor, y: tf.Tensor }, got ${b === null ? "null" : typeof b}`);
  }
  if (batch.x.isDisposed || batch.y.isDisposed) {
    throw new Error(`${where}: a batch's tensors are disposed (a data source reused across epochs must not dispose them, or must make new ones)`);
  }
  return batch;
}

/**
 * One training step on a batch: forward in training mode, loss, gradients, check the loss is finite, then the
 * optimizer update. Returns the loss and the number of correct predictions (undefined when not a classifier).
 * Throws (with nothing applied) when the loss is not finite; `onNonFinite` builds that error.
 */
export function trainStep(
  net: tf.LayersModel,
  batch: Batch,
  optimizer: OptimizerLike,
  criterion: Criterion,
  onNonFinite: (loss: number) => Error = (l) => new Error(`train: the loss is ${l}`),
  vars: tf.Variable[] = trainableVars(net, optimizer),
): { loss: number; correct?: number } {
  let correct: tf.Scalar | undefined;
  // The forward pass updates BatchNorm running statistics; keep the old values (clones share the data, no copy)
  // so a batch with a non-finite loss changes nothing.
  const buffers = net.nonTrainableWeights.map((w) => tf.keep(tf.clone(w.read())));
  let value: tf.Scalar;
  let grads: tf.NamedTensorMap;
  try {
    ({ value, grads } = tf.variableGrads(() => {
      const out = net.apply(batch.x, { training: true }) as tf.Tensor;
      const c = correctCount(out, batch.y);
      if (c) correct = tf.keep(c);
      return scalarLoss(criterion, out, batch.y);
    }, vars));
  } catch (e) {
    tf.dispose([...buffers, ...(correct ? [correct] : [])]);
    throw explainFailure(e, "train", `a batch of shape [${batch.x.shape}]`);
  }
  try {
    const loss = value.dataSync()[0];
    if (!Number.isFinite(loss)) {
      net.nonTrainableWeights.forEach((w, i) => w.write(buffers[i]));
      throw onNonFinite(loss);
    }
    if (isTsdlOptimizer(optimizer)) optimizer.step(grads);
    else optimizer.applyGradients(grads);
    return { loss, correct: correct ? correct.dataSync()[0] : undefined };
  } finally {
    tf.dispose([value, ...Object.values(grads), ...buffers]);
    if (correct) correct.dispose();
  }
}

/** The batches of one pass over `data`, each checked; `where` names the caller in errors. */
export async function* batchesOf(data: DataSource, where: string): AsyncGenerator<Batch> {
  if (data && typeof (data as AsyncIterable<Batch>)[Symbol.asyncIterator] === "function") {
    for await (const b of data as AsyncIterable<Batch>) yield checkBatch(b, where);
  } else if (data && typeof (data as Iterable<Batch>)[Symbol.iterator] === "function") {
    for (const b of data as Iterable<Batch>) yield checkBatch(b, where);
  } else {
    throw new Error(`${where}: data must be a data.DataLoader or an (async) iterable of { x, y } batches, got ${data === null ? "null" : typeof data}`);
  }
}

/**
 * Loss and accuracy of `net` in eval mode (BatchNorm running statistics) over `data`, as the course computes
 * them: means of the per-batch values.
 */
export async function evaluate(net: tf.LayersModel, data: DataSource, criterion: Criterion): Promise<{ loss: number; acc?: number; batches: number }> {
  let loss = 0;
  let acc = 0;
  let hasAcc = true;
  let n = 0;
  for await (const b of batchesOf(data, "evaluate")) {
    let l = 0;
    let c: number | undefined;
    tf.tidy(() => {
      const out = net.apply(b.x, { training: false }) as tf.Tensor;
      const cc = correctCount(out, b.y);
      l = scalarLoss(criterion, out, b.y).dataSync()[0];
      c = cc ? cc.dataSync()[0] / b.x.shape[0] : undefined;
    });
    loss += l;
    if (c === undefined) hasAcc = false;
    else acc += c;
    n++;
  }
  if (n === 0) throw new Error("evaluate: the data gave no batches");
  return { loss: loss / n, acc: hasAcc ? acc / n : undefined, batches: n };
}

function lengthOf(data: DataSource | null | undefined): number | undefined {
  const n = (data as { length?: unknown } | null | undefined)?.length;
  return typeof n === "number" && Number.isInteger(n) && n > 0 ? n : undefined;
}

function liveView(plot: TrainOptions["plot"]): LiveView | undefined {
  if (!plot) return undefined;
  if (plot === true) return live();
  if (typeof (plot as LiveView).update === "function") return plot as LiveView;
  return live(plot as LossCurveOptions & LiveOptions);
}

function progressMode(p: TrainOptions["progress"]): ProgressMode {
  if (p === undefined || p === true) return "auto";
  if (p === false) return "none";
  return p;
}

function checkArgs(net: unknown, epochs: number, optimizer: unknown, criterion: unknown, opts: TrainOptions): void {
  if (!net || typeof (net as tf.LayersModel).apply !== "function" || !Array.isArray((net as tf.LayersModel).weights)) {
    throw new Error(`train: net must be a tf.LayersModel (e.g. models.resnet(3, 10)), got ${net === null ? "null" : typeof net}`);
  }
  if (!Number.isInteger(epochs) || epochs < 1) throw new Error(`train: epochs must be a positive integer, got ${epochs}`);
  if (!(optimizer instanceof tf.Optimizer)) {
    throw new Error(`train: optimizer must be a tsdl optimizer (optim.SGD, ...) or a tf.Optimizer, got ${optimizer === null ? "null" : typeof optimizer}`);
  }
  if (typeof criterion !== "function") throw new Error(`train: criterion must be a loss such as new nn.CrossEntropyLoss(), got ${typeof criterion}`);
  if (opts.schedulerStep !== undefined && !["epoch", "batch"].includes(opts.schedulerStep)) {
    throw new Error(`train: schedulerStep must be "epoch" or "batch", got ${JSON.stringify(opts.schedulerStep)}`);
  }
  if (opts.schedulerStep === "batch" && opts.scheduler?.needsMetric) {
    throw new Error(`train: ReduceLROnPlateau needs an epoch metric; use schedulerStep "epoch" (the default) with it`);
  }
  if (opts.scheduler !== undefined && typeof opts.scheduler?.step !== "function") {
    throw new Error(`train: scheduler must have step() (an lrScheduler such as lrScheduler.multiStepLR(opt, ...)), got ${typeof opts.scheduler}`);
  }
}

function schedulerMetric(opts: TrainOptions, r: EpochRecord): number {
  const m = opts.schedulerMetric ?? (r.validLoss !== undefined ? "validLoss" : "trainLoss");
  const v = typeof m === "function" ? m(r) : r[m];
  if (typeof v !== "number") throw new Error(`train: schedulerMetric ${JSON.stringify(m)} has no value at epoch ${r.epoch} (no validation data?)`);
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
  checkArgs(net, epochs, optimizer, criterion, opts);
  const log = opts.verbose === false ? () => undefined : (opts.log ?? ((line: string) => console.log(line)));
  const scheduler = opts.scheduler;
  const perBatch = opts.schedulerStep === "batch";
  const ck = typeof opts.checkpoint === "string" ? { path: opts.checkpoint, every: 1 } : opts.checkpoint;
  if (ck && !(Number.isInteger(ck.every ?? 1) && (ck.every ?? 1) >= 1)) throw new Error(`train: checkpoint.every must be a positive integer, got ${ck.every}`);
  const data = validData ? { train: trainData, valid: validData } : { train: trainData };
  const parts = { model: net, optimizer, scheduler: scheduler?.stateDict ? (scheduler as never) : undefined, data };

  let history: History = { epochs: [], batches: [] };
  let start = 0;
  if (opts.resume) {
    const restored = await loadCheckpoint(opts.resume, parts);
    history = restored.history;
    start = restored.epoch + 1;
    log(`Resumed from ${opts.resume} after epoch ${restored.epoch}`);
  }
  const view = liveView(opts.plot);
  const bar = new ProgressBar(progressMode(opts.progress), opts.progressOut);
  const vars = trainableVars(net, optimizer);
  const total = lengthOf(trainData);
  let step = history.batches.length ? history.batches[history.batches.length - 1].step + 1 : 0;
  const runStart = performance.now();
  try {
    await runEpochs();
  } finally {
    bar.clearLine(); // an error message must not land on the progress line
  }
  return history;

  async function runEpochs(): Promise<void> {
    for (let epoch = start; epoch < epochs; epoch++) {
      const t0 = performance.now();
      const lr = currentLr(optimizer);
      let lossSum = 0;
      let accSum = 0;
      let hasAcc = true;
      let n = 0;
      let images = 0;
      let tBatch = performance.now();
      const trainProgress = (elapsed: number): ProgressState => ({
        epoch: epoch + 1, epochs, batch: n, batches: total, loss: lossSum / n, acc: hasAcc ? accSum / n : undefined,
        imagesPerSecond: images / elapsed, elapsed, phase: "train",
      });
      for await (const b of batchesOf(trainData, "train")) {
        const batchLr = currentLr(optimizer);
        const { loss, correct } = trainStep(net, b, optimizer, criterion, (l) => new NonFiniteLossError(l, epoch, n, step, batchLr, history), vars);
        const acc = correct === undefined ? undefined : correct / b.x.shape[0];
        const now = performance.now();
        const record: BatchRecord = { epoch, batch: n, step, loss, lr: batchLr, seconds: (now - tBatch) / 1000 };
        tBatch = now;
        if (acc !== undefined) record.acc = acc;
        history.batches.push(record);
        lossSum += loss;
        if (acc === undefined) hasAcc = false;
        else accSum += acc;
        n++;
        step++;
        images += b.x.shape[0];
        if (scheduler && perBatch) scheduler.step();
        bar.update(trainProgress((performance.now() - t0) / 1000));
        view?.update(history);
        if (opts.onBatchEnd) await opts.onBatchEnd(record, history);
      }
      if (n === 0) throw new Error(`train: the training data gave no batches in epoch ${epoch}`);
      const trainSeconds = (performance.now() - t0) / 1000;
      bar.update(trainProgress(trainSeconds), true);
      const record: EpochRecord = { epoch, trainLoss: lossSum / n, lr, seconds: 0 };
      if (hasAcc) record.trainAcc = accSum / n;
      if (validData) {
        bar.update({ epoch: epoch + 1, epochs, batch: n, batches: total, elapsed: (performance.now() - t0) / 1000, phase: "valid" }, true);
        const v = await evaluate(net, validData, criterion);
        record.validLoss = v.loss;
        if (v.acc !== undefined) record.validAcc = v.acc;
      }
      record.seconds = (performance.now() - t0) / 1000;
      history.epochs.push(record);
      bar.clearLine();
      log(epochLine(record));
      if (scheduler && !perBatch) {
        if (scheduler.needsMetric) scheduler.step(schedulerMetric(opts, record));
        else scheduler.step();
      }
      // `force` only once, so the finished run is drawn; before that the view's own `every` decides.
      view?.update(history, { force: epoch === epochs - 1 });
      const every = ck?.every ?? 1;
      if (ck && ((epoch + 1) % every === 0 || epoch === epochs - 1)) {
        await saveCheckpoint(ck.path.replace("{epoch}", String(epoch)), { ...parts, epoch, history });
      }
      if (opts.onEpochEnd) await opts.onEpochEnd(record, history);
    }
    bar.update({ epoch: epochs, epochs, batch: 0, elapsed: (performance.now() - runStart) / 1000, phase: "done" }, true);
  }
}
