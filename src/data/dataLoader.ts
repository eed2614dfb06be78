// torch.utils.data.DataLoader for tsdl: batches of a map-style dataset as tensors, reproducible and resumable.
import * as tf from "@tensorflow/tfjs";
import type { Dataset, Sample } from "./dataset";
import { describeValue, FloatImage, Image } from "./image";
import { defaultGenerator, deriveSeed, Generator } from "./random";

export interface DataLoaderOptions {
  /** Samples per batch (default 1, as PyTorch). */
  batchSize?: number;
  /** Reshuffle the order at the start of every epoch (default false). */
  shuffle?: boolean;
  /**
   * Seed of the order and of the random transforms. Default: drawn from the default generator when the
   * loader is made, so `data.manualSeed(s)` beforehand makes an unseeded loader reproducible too.
   */
  seed?: number;
  /** Drop the last batch when it is smaller than batchSize (default false: it is kept, smaller). */
  dropLast?: boolean;
  /** Batches prepared ahead while the consumer awaits (default 2; 0 = make each batch on request). */
  prefetch?: number;
}

/** One batch: x float32 [N, H, W, C] (tfjs is channels-last), y int32 [N] labels. Owned by the loader. */
export interface Batch {
  x: tf.Tensor4D;
  y: tf.Tensor1D;
}

/** Where a loader is in its sequence of epochs: what `stateDict()` returns and `loadStateDict()` takes. */
export interface DataLoaderState {
  seed: number;
  /** The epoch the next iteration runs (or resumes, when `batch` > 0). */
  epoch: number;
  /** Batches of that epoch already delivered. */
  batch: number;
}

/** Time spent in the last (or current) epoch. */
export interface DataLoaderStats {
  batches: number;
  /** Time the consumer spent waiting in `next()` for a batch (ms). */
  waitMs: number;
  /** Time spent making batches (ms), overlapped with the consumer when it awaits. */
  produceMs: number;
}

interface HostBatch {
  x: Float32Array;
  y: Int32Array;
  shape: [number, number, number, number];
}

const yieldToEventLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

function checkInt(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new Error(`tsdl.data: DataLoader ${name} must be an integer >= ${min}, got ${v}`);
}

/**
 * Batches of `dataset` as an async iterable: `for await (const { x, y } of loader) { ... }`.
 *
 * Ownership: the loader disposes each batch's `x` and `y` when the next batch is taken and when the loop ends
 * (also on `break` or an exception), so a training loop does not dispose them (doing so anyway is harmless).
 * Keep a batch beyond its iteration with `x.clone()`.
 *
 * Order: epoch e uses the permutation drawn from seed (seed, e); sample i in epoch e is transformed with a
 * generator seeded (seed, e, i). Hence `stateDict()` / `loadStateDict()` restore the exact data and
 * augmentations, also in the middle of an epoch, whatever the prefetch depth.
 *
 * Every `for await` starts the next epoch (as iterating a PyTorch DataLoader again reshuffles), except right
 * after `loadStateDict()`, which resumes where the state says.
 */
export class DataLoader<X = FloatImage> implements AsyncIterable<Batch> {
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly prefetch: number;
  private seed: number;
  private nextEpoch = 0;
  private resumeBatch = 0;
  private cursor: { epoch: number; batch: number } | undefined;
  private running = false;
  private currentStats: DataLoaderStats = { batches: 0, waitMs: 0, produceMs: 0 };

  constructor(readonly dataset: Dataset<Sample<X>>, opts: DataLoaderOptions = {}) {
    if (!dataset || typeof dataset.get !== "function" || !Number.isInteger(dataset.length)) {
      throw new Error(`tsdl.data: DataLoader needs a dataset with length and get(i), got ${describeValue(dataset)}`);
    }
    this.batchSize = opts.batchSize ?? 1;
    checkInt("batchSize", this.batchSize, 1);
    this.shuffle = opts.shuffle ?? false;
    this.dropLast = opts.dropLast ?? false;
    this.prefetch = opts.prefetch ?? 2;
    checkInt("prefetch", this.prefetch, 0);
    this.seed = opts.seed ?? defaultGenerator().nextUint32();
    if (!Number.isSafeInteger(this.seed)) throw new Error(`tsdl.data: DataLoader seed must be a safe integer, got ${opts.seed}`);
  }

  /** Batches per epoch: ceil(n / batchSize), or floor with dropLast. */
  get length(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** Wait and production time of the current or last epoch. */
  get stats(): DataLoaderStats {
    return { ...this.currentStats };
  }

  /** Position in the data stream, JSON-safe; save it with the model and optimizer state. */
  stateDict(): DataLoaderState {
    if (this.cursor) return { seed: this.seed, epoch: this.cursor.epoch, batch: this.cursor.batch };
    return { seed: this.seed, epoch: this.nextEpoch, batch: this.resumeBatch };
  }

  /** Restores a position: the next `for await` continues with batch `batch` of epoch `epoch`. */
  loadStateDict(state: DataLoaderState): void {
    const ok =
      state && Number.isSafeInteger(state.seed) && Number.isInteger(state.epoch) && state.epoch >= 0 && Number.isInteger(state.batch) && state.batch >= 0;
    if (!ok) throw new Error(`tsdl.data: DataLoader state must be { seed, epoch, batch } with integers, got ${JSON.stringify(state)}`);
    if (state.batch > this.length) throw new Error(`tsdl.data: DataLoader state batch ${state.batch} is past the end of an epoch (${this.length} batches)`);
    if (this.running) throw new Error("tsdl.data: loadStateDict() while the loader is being iterated; call it between epochs");
    this.seed = state.seed;
    this.nextEpoch = state.epoch;
    this.resumeBatch = state.batch;
  }

  /** The dataset indices of epoch `epoch`, in order. */
  indices(epoch: number): Int32Array {
    const n = this.dataset.length;
    if (this.shuffle) return new Generator(deriveSeed(this.seed, epoch)).randperm(n);
    return Int32Array.from({ length: n }, (_, i) => i);
  }

  /** Makes batch b of an epoch on the host (typed arrays, no tensors). */
  private async build(order: Int32Array, epoch: number, b: number, cancelled: () => boolean): Promise<HostBatch | undefined> {
    const start = b * this.batchSize;
    const end = Math.min(start + this.batchSize, order.length);
    const n = end - start;
    let x: Float32Array | undefined;
    let shape: [number, number, number, number] = [n, 0, 0, 0];
    const y = new Int32Array(n);
    let t0 = performance.now();
    for (let k = 0; k < n; k++) {
      const index = order[start + k];
      const item = this.dataset.get(index, new Generator(deriveSeed(this.seed, epoch, index)));
      const [img, label] = Array.isArray(item) ? item : [item, undefined];
      if (!(img instanceof FloatImage)) {
        const hint = img instanceof Image ? ": end the dataset's transform with transforms.ToTensor() (and Normalize)" : "";
        throw new Error(`tsdl.data: DataLoader batches FloatImages; item ${index} of the dataset is ${describeValue(img)}${hint}`);
      }
      if (!Number.isInteger(label)) throw new Error(`tsdl.data: item ${index} has label ${describeValue(label)}; expected an integer class index`);
      if (!x) {
        shape = [n, img.height, img.width, img.channels];
        x = new Float32Array(n * img.data.length);
      } else if (img.height !== shape[1] || img.width !== shape[2] || img.channels !== shape[3]) {
        throw new Error(
          `tsdl.data: item ${index} is ${img.height}x${img.width}x${img.channels} but the batch started with ${shape.slice(1).join("x")}; ` +
            `add a Resize/CenterCrop so all images have one size`,
        );
      }
      x.set(img.data, k * img.data.length);
      y[k] = label as number;
      if (k % 16 === 15 && this.prefetch > 0) {
        this.currentStats.produceMs += performance.now() - t0;
        await yieldToEventLoop(); // let the consumer run between chunks
        if (cancelled()) return undefined;
        t0 = performance.now();
      }
    }
    this.currentStats.produceMs += performance.now() - t0;
    return { x: x as Float32Array, y, shape };
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Batch, void, undefined> {
    if (this.running) throw new Error("tsdl.data: this DataLoader is already being iterated; finish or break that loop first");
    this.running = true;
    const epoch = this.nextEpoch;
    const first = this.resumeBatch;
    this.nextEpoch = epoch + 1;
    this.resumeBatch = 0;
    this.cursor = { epoch, batch: first };
    this.currentStats = { batches: 0, waitMs: 0, produceMs: 0 };
    const order = this.indices(epoch);
    const total = this.length;
    let cancelled = false;
    const queue: Promise<HostBatch | undefined>[] = [];
    let scheduled = first;
    let tail: Promise<unknown> = Promise.resolve();
    const schedule = (): void => {
      while (scheduled < total && queue.length <= this.prefetch) {
        const b = scheduled++;
        // one batch at a time, in order: each build starts when the previous one is done
        const p = tail.then(() => (cancelled ? undefined : this.build(order, epoch, b, () => cancelled)));
        p.catch(() => undefined); // surfaced when this batch is awaited
        tail = p.catch(() => undefined);
        queue.push(p);
      }
    };
    let prev: Batch | undefined;
    try {
      for (let b = first; b < total; b++) {
        schedule();
        const t0 = performance.now();
        const host = await (queue.shift() as Promise<HostBatch | undefined>);
        this.currentStats.waitMs += performance.now() - t0;
        if (!host) break;
        if (prev) tf.dispose([prev.x, prev.y]);
        prev = { x: tf.tensor4d(host.x, host.shape, "float32"), y: tf.tensor1d(host.y, "int32") };
        this.cursor = { epoch, batch: b + 1 };
        this.currentStats.batches++;
        schedule(); // start the next batch before handing this one over
        yield prev;
      }
      this.cursor = undefined; // the epoch is complete: the state now points at the next epoch
    } finally {
      cancelled = true;
      if (prev) tf.dispose([prev.x, prev.y]);
      if (this.cursor) {
        // left early (break / error): like PyTorch, the next iteration is a new epoch
        this.cursor = undefined;
      }
      this.running = false;
    }
  }

  toString(): string {
    return `DataLoader(${this.dataset.length} samples, batchSize=${this.batchSize}, shuffle=${this.shuffle}, dropLast=${this.dropLast}, ${this.length} batches)`;
  }
}
