// torch.utils.data.DataLoader for tsdl: batches of a map-style dataset as tensors, reproducible and resumable.
import * as tf from "@tensorflow/tfjs";
import { inspect } from "util";
import { checkInt, describe } from "../core/check";
import { interruptPoints } from "../core/interrupt";
import type { Batch } from "../core/protocols";
import { buildHostBatch, HostBatch } from "./batch";
import type { Dataset, Sample } from "./dataset";
import { FloatImage } from "./image";
import { defaultGenerator, deriveSeed, Generator } from "./random";
import type { Spec } from "./transforms/transform";
import { WorkerPool } from "./workerPool";

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
  /**
   * Batches requested ahead of the one being consumed (default 2, or 2 per worker). Without workers they are
   * made on this thread whenever the consumer yields to the event loop; 0 = make each batch on request.
   */
  prefetch?: number;
  /**
   * Worker threads making batches in parallel with the training step (PyTorch's num_workers; default 0 = this
   * thread). Needs a dataset that can be rebuilt in a worker: CIFAR10, FashionMNIST and subsets of them with
   * built-in transforms (not plain functions). Same batches, bit for bit, as with 0 workers. The threads start
   * with each iteration and end with it, as in PyTorch.
   */
  numWorkers?: number;
  /**
   * Keep the worker threads between epochs (PyTorch's persistent_workers; default false). They end with
   * `close()` or once the loader is garbage-collected.
   */
  persistentWorkers?: boolean;
}

/** What a DataLoader yields: x float32 [N, H, W, C] (tfjs is channels-last), y int32 [N] labels. Owned by the loader. */
type LoaderBatch = Batch<tf.Tensor4D, tf.Tensor1D>;

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
  /** Time spent making batches (ms), on this thread or in workers. */
  produceMs: number;
}

/** Closes the worker pool of a loader that became unreachable (a loop abandoned, a notebook cell run again). */
const unreachable = new FinalizationRegistry<WorkerPool>((pool) => pool.close());

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
export class DataLoader<X = FloatImage> implements AsyncIterable<LoaderBatch> {
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly prefetch: number;
  readonly numWorkers: number;
  readonly persistentWorkers: boolean;
  private seed: number;
  private pool: WorkerPool | undefined;
  /** Set by close() during an iteration: where the loop stopped. */
  private closedAt: { epoch: number; batch: number } | undefined;
  private nextEpoch = 0;
  private resumeBatch = 0;
  private cursor: { epoch: number; batch: number } | undefined;
  private running = false;
  private currentStats: DataLoaderStats = { batches: 0, waitMs: 0, produceMs: 0 };

  constructor(
    readonly dataset: Dataset<Sample<X>>,
    opts: DataLoaderOptions = {},
  ) {
    if (!dataset || typeof dataset.get !== "function" || !Number.isInteger(dataset.length)) {
      throw new Error(`tsdl.data: DataLoader needs a dataset with length and get(i), got ${describe(dataset)}`);
    }
    this.batchSize = opts.batchSize ?? 1;
    checkInt("tsdl.data.DataLoader", "batchSize", this.batchSize, 1);
    this.shuffle = opts.shuffle ?? false;
    this.dropLast = opts.dropLast ?? false;
    this.numWorkers = opts.numWorkers ?? 0;
    checkInt("tsdl.data.DataLoader", "numWorkers", this.numWorkers, 0);
    this.prefetch = opts.prefetch ?? 2 * Math.max(1, this.numWorkers);
    checkInt("tsdl.data.DataLoader", "prefetch", this.prefetch, 0);
    this.persistentWorkers = opts.persistentWorkers ?? false;
    if (this.persistentWorkers && this.numWorkers === 0) {
      throw new Error(
        "tsdl.data: DataLoader persistentWorkers needs numWorkers > 0 (there are no worker threads to keep), got numWorkers 0",
      );
    }
    if (this.numWorkers > 0 && !dataset.workerSpec?.()) {
      throw new Error(
        `tsdl.data: numWorkers ${this.numWorkers} needs a dataset a worker thread can rebuild (CIFAR10, FashionMNIST or a subset of them, ` +
          `with built-in transforms only); this one (${describe(dataset)}) has a custom part. Use numWorkers: 0.`,
      );
    }
    this.seed = opts.seed ?? defaultGenerator().nextUint32();
    if (!Number.isSafeInteger(this.seed)) throw new Error(`tsdl.data: DataLoader seed must be a safe integer, got ${opts.seed}`);
  }

  /** Batches per epoch: ceil(n / batchSize), or floor with dropLast. */
  get length(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** What console.log and a notebook show: the settings and the dataset's first line, not its data. */
  [inspect.custom](): string {
    const ds = inspect(this.dataset)
      .split("\n")[0]
      .replace(/^Dataset /, "");
    const opts = `batchSize ${this.batchSize}, shuffle ${this.shuffle}, dropLast ${this.dropLast}, numWorkers ${this.numWorkers}`;
    return `DataLoader(${ds}, ${this.dataset.length} samples; ${opts}: ${this.length} batches per epoch)`;
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
      state &&
      Number.isSafeInteger(state.seed) &&
      Number.isInteger(state.epoch) &&
      state.epoch >= 0 &&
      Number.isInteger(state.batch) &&
      state.batch >= 0;
    if (!ok) throw new Error(`tsdl.data: DataLoader state must be { seed, epoch, batch } with integers, got ${JSON.stringify(state)}`);
    if (state.batch > this.length)
      throw new Error(`tsdl.data: DataLoader state batch ${state.batch} is past the end of an epoch (${this.length} batches)`);
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

  /** The dataset indices of batch b. */
  private batchIndices(order: Int32Array, b: number): Int32Array {
    return order.subarray(b * this.batchSize, Math.min((b + 1) * this.batchSize, order.length));
  }

  /** Makes a batch on this thread, in a macrotask (so it runs when the consumer yields, never inside its step). */
  private buildHere(epoch: number, indices: Int32Array): Promise<HostBatch> {
    return new Promise((resolve, reject) => {
      setImmediate(() => {
        try {
          resolve(buildHostBatch(this.dataset as Dataset<unknown>, this.seed, epoch, indices));
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  /** Makes a batch in worker b % numWorkers, starting the workers when none run. */
  private buildInWorker(b: number, epoch: number, indices: Int32Array): Promise<HostBatch> {
    if (!this.pool?.size) {
      this.endWorkers(); // one that closed itself (a worker failed)
      this.pool = new WorkerPool(this.numWorkers, this.dataset.workerSpec?.() as Spec);
      unreachable.register(this, this.pool, this.pool);
    }
    return this.pool.request(b % this.numWorkers, { seed: this.seed, epoch, indices: Int32Array.from(indices) });
  }

  private endWorkers(reason?: Error): void {
    if (!this.pool) return;
    unreachable.unregister(this.pool);
    this.pool.close(reason);
    this.pool = undefined;
  }

  /**
   * Ends the worker threads (the next iteration starts them again). Called during an iteration, it stops that
   * loop: its next step throws an error saying so.
   */
  close(): void {
    if (this.cursor && !this.closedAt) this.closedAt = { ...this.cursor };
    this.endWorkers(this.closedAt && this.closedError());
  }

  private closedError(): Error {
    const at = this.closedAt as { epoch: number; batch: number };
    return new Error(
      `tsdl.data: DataLoader.close() was called during an iteration (epoch ${at.epoch}, after batch ${at.batch} of ${this.length}); ` +
        `the loop stops here. Close the loader after the loop, or break out of it first.`,
    );
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<LoaderBatch, void, undefined> {
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
    const queue: Promise<HostBatch>[] = [];
    const interruptPoint = interruptPoints();
    let scheduled = first;
    const schedule = (): void => {
      while (scheduled < total && queue.length <= this.prefetch) {
        const b = scheduled++;
        const indices = this.batchIndices(order, b);
        const p = this.numWorkers > 0 ? this.buildInWorker(b, epoch, indices) : this.buildHere(epoch, indices);
        p.catch(() => undefined); // surfaced when this batch is awaited
        queue.push(p);
      }
    };
    let prev: LoaderBatch | undefined;
    try {
      for (let b = first; b < total; b++) {
        if (this.closedAt) throw this.closedError();
        schedule();
        const t0 = performance.now();
        const host = await (queue.shift() as Promise<HostBatch>);
        this.currentStats.waitMs += performance.now() - t0;
        // Prefetched batches are often ready, and then no event-loop turn separates the consumer's steps.
        await interruptPoint();
        this.currentStats.produceMs += host.ms;
        if (prev) tf.dispose([prev.x, prev.y]);
        prev = { x: tf.tensor4d(host.x, host.shape, "float32"), y: tf.tensor1d(host.y, "int32") };
        this.cursor = { epoch, batch: b + 1 };
        this.currentStats.batches++;
        if (this.prefetch > 0) schedule(); // request the next batches before handing this one over
        yield prev;
      }
    } finally {
      if (prev) tf.dispose([prev.x, prev.y]);
      if (!this.persistentWorkers) this.endWorkers();
      this.closedAt = undefined;
      // complete or left early (break / error): either way the next iteration is a new epoch, as in PyTorch
      this.cursor = undefined;
      this.running = false;
    }
  }

  toString(): string {
    return `DataLoader(${this.dataset.length} samples, batchSize=${this.batchSize}, shuffle=${this.shuffle}, dropLast=${this.dropLast}, ${this.length} batches)`;
  }
}
