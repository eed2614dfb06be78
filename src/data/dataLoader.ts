// torch.utils.data.DataLoader for tsdl: batches of a map-style dataset as tensors, reproducible and resumable.
import * as path from "path";
import { Worker } from "worker_threads";
import * as tf from "@tensorflow/tfjs";
import { checkInt, describe } from "../core/check";
import type { Batch } from "../core/protocols";
import { buildHostBatch, HostBatch } from "./batch";
import type { Dataset, Sample } from "./dataset";
import { FloatImage } from "./image";
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
  /**
   * Batches requested ahead of the one being consumed (default 2, or 2 per worker). Without workers they are
   * made on this thread whenever the consumer yields to the event loop; 0 = make each batch on request.
   */
  prefetch?: number;
  /**
   * Worker threads making batches in parallel with the training step (PyTorch's num_workers; default 0 = this
   * thread). Needs a dataset that can be rebuilt in a worker: CIFAR10, FashionMNIST and subsets of them with
   * built-in transforms (not plain functions). Same batches, bit for bit, as with 0 workers. Call `close()`
   * (or let the process exit) to end them.
   */
  numWorkers?: number;
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

interface Pending {
  resolve(b: HostBatch): void;
  reject(e: Error): void;
}

const WORKER_FILE = path.join(__dirname, __filename.endsWith(".ts") ? "worker.ts" : "worker.js");

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
  private seed: number;
  private workers: Worker[] = [];
  /** Requests in flight per worker; a worker with some is ref'd so that awaiting it keeps Node running. */
  private busy: number[] = [];
  private pending = new Map<number, Pending>();
  private nextRequest = 0;
  private nextEpoch = 0;
  private resumeBatch = 0;
  private cursor: { epoch: number; batch: number } | undefined;
  private running = false;
  private currentStats: DataLoaderStats = { batches: 0, waitMs: 0, produceMs: 0 };

  constructor(readonly dataset: Dataset<Sample<X>>, opts: DataLoaderOptions = {}) {
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

  private startWorkers(): void {
    if (this.workers.length === this.numWorkers) return;
    const spec = this.dataset.workerSpec?.();
    for (let i = this.workers.length; i < this.numWorkers; i++) {
      const w = new Worker(WORKER_FILE, {
        workerData: { dataset: spec },
        execArgv: WORKER_FILE.endsWith(".ts") ? ["-r", "ts-node/register/transpile-only"] : [],
      });
      w.on("message", (m: { id: number; batch?: HostBatch; error?: string }) => {
        if (--this.busy[i] === 0) w.unref(); // idle workers do not keep the process alive
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.batch) p.resolve(m.batch);
        else p.reject(new Error(m.error?.startsWith("tsdl") ? m.error : `tsdl.data: DataLoader worker: ${m.error}`));
      });
      w.on("error", (e) => this.failAll(new Error(`tsdl.data: DataLoader worker ${i} failed: ${e.message}`)));
      w.on("exit", (code) => {
        // an exit we did not ask for (close() removes the workers first) must not leave the loop waiting
        if (this.workers.includes(w)) this.failAll(new Error(`tsdl.data: DataLoader worker ${i} exited (code ${code})`));
      });
      w.unref();
      this.workers.push(w);
      this.busy.push(0);
    }
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    this.close();
  }

  /** Makes a batch in worker b % numWorkers. */
  private buildInWorker(b: number, epoch: number, indices: Int32Array): Promise<HostBatch> {
    this.startWorkers();
    const id = this.nextRequest++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const k = b % this.numWorkers;
      if (this.busy[k]++ === 0) this.workers[k].ref();
      this.workers[k].postMessage({ id, seed: this.seed, epoch, indices: Int32Array.from(indices) });
    });
  }

  /** Ends the worker threads (they are started again by the next iteration). */
  close(): void {
    const workers = this.workers;
    this.workers = [];
    this.busy = [];
    for (const w of workers) void w.terminate();
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
        schedule();
        const t0 = performance.now();
        const host = await (queue.shift() as Promise<HostBatch>);
        this.currentStats.waitMs += performance.now() - t0;
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
      // complete or left early (break / error): either way the next iteration is a new epoch, as in PyTorch
      this.cursor = undefined;
      this.running = false;
    }
  }

  toString(): string {
    return `DataLoader(${this.dataset.length} samples, batchSize=${this.batchSize}, shuffle=${this.shuffle}, dropLast=${this.dropLast}, ${this.length} batches)`;
  }
}
