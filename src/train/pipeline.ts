// Training steps kept in flight. Reading a value from a GPU waits until the GPU has finished everything queued
// before it, and the GPU then idles while JavaScript queues the next step. So on webgpu the loop queues step s+1
// before it reads the loss of step s: the GPU always has work, and the read costs nothing.
//
// The NaN guard keeps its promise ("stopped before that batch changed anything"): before each update, the step
// keeps handles to what it will change (weights, BatchNorm statistics, the optimizer's state and groups: the same
// data, neither copied nor read), and a loss read late that is not finite puts those back, undoing its step and the
// later ones in flight. Optimizers that cannot be restored this way (a tf.Optimizer) are checked before the update,
// as are all steps on backends that compute synchronously (cpu, wasm, tensorflow): there lag is 0.
import * as tf from "@tensorflow/tfjs";
import { explainFailure } from "../backend";
import type { Batch, Criterion } from "../core/protocols";
import { isTsdlOptimizer, OptimizerLike, trainableVars } from "./optimizer";
import { correctCount, scalarLoss } from "./step";

/** A loss and, for classifiers, the number of correct predictions, as read from the device. */
export interface StepValues {
  loss: number;
  correct?: number;
}

/** A tsdl optimizer that can keep and restore an in-memory snapshot (optim.Optimizer.snapshot). */
interface Restorable {
  snapshot(): unknown;
  restoreSnapshot(s: unknown): void;
  disposeSnapshot(s: unknown): void;
}

function restorable(o: unknown): o is Restorable {
  const x = o as Partial<Record<keyof Restorable, unknown>>;
  return (
    isTsdlOptimizer(o) &&
    typeof x.snapshot === "function" &&
    typeof x.restoreSnapshot === "function" &&
    typeof x.disposeSnapshot === "function"
  );
}

/** Steps queued ahead of the read on this backend (1 on webgpu, else 0). */
export function defaultLag(): number {
  return tf.getBackend() === "webgpu" ? 1 : 0;
}

export interface PipelineOptions<M> {
  /** Steps issued after a step before its values are read (0: read before the update). */
  lag: number;
  /** The error for a non-finite loss; the state is back to before that step when it is called. */
  onNonFinite: (loss: number, meta: M) => Error;
  /** false: never undo (the caller restores everything itself, as lrFinder does); default true. */
  undo?: boolean;
  /** State the caller changes between steps (a per-batch scheduler), saved with each step and restored with it. */
  saveExtra?: () => unknown;
  restoreExtra?: (saved: unknown) => void;
}

interface Saved {
  vars: tf.Tensor[];
  buffers: tf.Tensor[];
  optimizer?: unknown;
  extra?: unknown;
}

interface InFlight<M> {
  meta: M;
  /** [loss] or [loss, correct], one read. */
  values: tf.Tensor1D;
  hasCorrect: boolean;
  saved?: Saved;
}

export class StepPipeline<M> {
  private readonly queue: Array<InFlight<M>> = [];
  private readonly lag: number;
  private readonly undo: boolean;

  constructor(
    private readonly net: tf.LayersModel,
    private readonly optimizer: OptimizerLike,
    private readonly criterion: Criterion,
    private readonly vars: tf.Variable[],
    private readonly opts: PipelineOptions<M>,
  ) {
    this.undo = opts.undo ?? true;
    this.lag = this.undo && !restorable(optimizer) ? 0 : Math.max(0, Math.floor(opts.lag));
  }

  /** Steps issued and not yet read. */
  get inFlight(): number {
    return this.queue.length;
  }

  /** Runs one step on `batch`; resolves with the steps whose values are now read, oldest first. */
  async push(batch: Batch, meta: M): Promise<Array<StepValues & { meta: M }>> {
    // The forward pass rewrites the BatchNorm statistics: keep the old ones (clones share the data).
    const buffers = this.net.nonTrainableWeights.map((w) => tf.keep(tf.clone(w.read())));
    let loss: tf.Scalar | undefined;
    let correct: tf.Scalar | undefined;
    let grads: tf.NamedTensorMap;
    try {
      ({ value: loss, grads } = tf.variableGrads(() => {
        const out = this.net.apply(batch.x, { training: true }) as tf.Tensor;
        const l = scalarLoss(this.criterion, out, batch.y); // before anything uploads the labels: the loss may check them
        const c = correctCount(out, batch.y);
        if (c) correct = tf.keep(c);
        return l;
      }, this.vars));
    } catch (e) {
      tf.dispose([...buffers, ...(correct ? [correct] : [])]);
      throw explainFailure(e, "train", `a batch of shape [${batch.x.shape}]`);
    }
    const values = tf.keep(tf.tidy(() => (correct ? tf.stack([loss!, correct]) : tf.reshape(loss!, [1]))) as tf.Tensor1D);
    tf.dispose([loss, ...(correct ? [correct] : [])]);
    const step: InFlight<M> = { meta, values, hasCorrect: correct !== undefined };
    try {
      if (this.lag === 0) {
        // Read first, then update: nothing to undo but the BatchNorm statistics.
        const read = await this.read(step);
        if (!Number.isFinite(read.loss)) {
          this.net.nonTrainableWeights.forEach((w, i) => w.write(buffers[i]));
          throw this.opts.onNonFinite(read.loss, meta);
        }
        this.apply(grads);
        return [{ ...read, meta }];
      }
      step.saved = this.undo ? this.save(buffers) : undefined;
      this.apply(grads);
      this.queue.push(step);
    } finally {
      tf.dispose(Object.values(grads));
      if (!step.saved) tf.dispose(buffers);
      if (this.lag === 0) values.dispose();
    }
    const done: Array<StepValues & { meta: M }> = [];
    while (this.queue.length > this.lag) done.push(await this.readOldest());
    return done;
  }

  /** Reads every step in flight (at the end of an epoch). */
  async drain(): Promise<Array<StepValues & { meta: M }>> {
    const done: Array<StepValues & { meta: M }> = [];
    while (this.queue.length) done.push(await this.readOldest());
    return done;
  }

  /**
   * After an error elsewhere: reads the steps in flight, undoes them from the first non-finite one, frees the
   * rest and returns the good ones (applied, so the caller records them). Never throws.
   */
  async settle(): Promise<Array<StepValues & { meta: M }>> {
    const good: Array<StepValues & { meta: M }> = [];
    try {
      good.push(...(await this.drain()));
    } catch {
      /* a non-finite loss: drain() undid it and freed the rest */
    }
    this.clear();
    return good;
  }

  private apply(grads: tf.NamedTensorMap): void {
    const o = this.optimizer;
    if (isTsdlOptimizer(o)) o.step(grads);
    else o.applyGradients(grads);
  }

  private save(buffers: tf.Tensor[]): Saved {
    const extra = this.opts.saveExtra?.();
    const optimizer = (this.optimizer as unknown as Restorable).snapshot();
    return { vars: this.vars.map((v) => tf.keep(tf.clone(v))), buffers, optimizer, extra };
  }

  private restore(s: Saved): void {
    this.vars.forEach((v, i) => v.assign(s.vars[i]));
    this.net.nonTrainableWeights.forEach((w, i) => w.write(s.buffers[i]));
    if (s.extra !== undefined) this.opts.restoreExtra?.(s.extra);
    (this.optimizer as unknown as Restorable).restoreSnapshot(s.optimizer); // its groups last: the lr of that step
    tf.dispose([...s.vars, ...s.buffers]);
  }

  private release(s: Saved | undefined): void {
    if (!s) return;
    tf.dispose([...s.vars, ...s.buffers]);
    (this.optimizer as unknown as Restorable).disposeSnapshot(s.optimizer);
  }

  private async read(step: InFlight<M>): Promise<StepValues> {
    const v = await step.values.data();
    return step.hasCorrect ? { loss: v[0], correct: v[1] } : { loss: v[0] };
  }

  private async readOldest(): Promise<StepValues & { meta: M }> {
    const head = this.queue[0];
    const read = await this.read(head);
    if (!Number.isFinite(read.loss)) {
      if (head.saved) this.restore(head.saved);
      head.saved = undefined;
      this.clear();
      throw this.opts.onNonFinite(read.loss, head.meta);
    }
    this.queue.shift();
    head.values.dispose();
    this.release(head.saved);
    return { ...read, meta: head.meta };
  }

  /** Frees every step in flight without undoing it. */
  private clear(): void {
    for (const s of this.queue.splice(0)) {
      s.values.dispose();
      this.release(s.saved);
    }
  }
}

/**
 * One training step on a batch: forward in training mode, loss, gradients, then (the loss read and found finite)
 * the optimizer update. Resolves with the loss and the number of correct predictions (undefined when not a
 * classifier). Rejects, with nothing applied, when the loss is not finite; `onNonFinite` builds that error.
 */
export async function trainStep(
  net: tf.LayersModel,
  batch: Batch,
  optimizer: OptimizerLike,
  criterion: Criterion,
  onNonFinite: (loss: number) => Error = (l) => new Error(`train: the loss is ${l}`),
  vars: tf.Variable[] = trainableVars(net, optimizer),
): Promise<StepValues> {
  const pipeline = new StepPipeline<undefined>(net, optimizer, criterion, vars, { lag: 0, onNonFinite: (l) => onNonFinite(l) });
  const [{ loss, correct }] = await pipeline.push(batch, undefined);
  return correct === undefined ? { loss } : { loss, correct };
}
