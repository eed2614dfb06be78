// Checkpoints: everything needed to continue a run exactly where it stopped.
//
// A checkpoint is a directory:
//   checkpoint.json  { format, epoch, savedAt, weights: [{ name, shape, dtype, offset, byteLength }],
//                      optimizer, scheduler, history, data: { train: loaderState, valid: ... }, extra }
//   weights.bin      the model's weights (trainable and BatchNorm running statistics), little-endian
// It is written into a temporary directory and renamed into place, so an interrupted save never leaves a
// half-written checkpoint where a good one was.
import * as fs from "fs";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import type { History } from "../core/history";
import { isStateful, type Stateful } from "../core/protocols";

export const CHECKPOINT_FORMAT = "tsdl.checkpoint/1";

export type { Stateful };

/** What a checkpoint holds; every part but the model is optional. */
export interface CheckpointParts {
  model: tf.LayersModel;
  /** A tsdl optimizer (stateDict/loadStateDict) or a plain tf.Optimizer (getWeights/setWeights). */
  optimizer?: Stateful | tf.Optimizer;
  scheduler?: Stateful;
  /** Data sources whose position (shuffling RNG, epoch) to keep, e.g. `{ train: trainLoader }`. */
  data?: Record<string, unknown>;
}

export interface SaveCheckpointOptions extends CheckpointParts {
  /** The last completed epoch (0-based); a resumed run starts at epoch + 1. */
  epoch: number;
  history?: History;
  /** Any JSON-serialisable data of your own. */
  extra?: unknown;
}

/** What `loadCheckpoint` returns once the parts are restored. */
export interface Checkpoint {
  epoch: number;
  history: History;
  savedAt: string;
  extra?: unknown;
}

interface TensorEntry {
  name: string;
  shape: number[];
  dtype: "float32" | "int32";
  offset: number;
  byteLength: number;
}

interface CheckpointFile {
  format: string;
  epoch: number;
  savedAt: string;
  weights: TensorEntry[];
  optimizer?: { kind: "stateDict"; state: unknown } | { kind: "tfjs"; weights: TensorEntry[] };
  scheduler?: unknown;
  history: History;
  data: Record<string, unknown>;
  extra?: unknown;
}

type LayerVar = tf.LayerVariable & { originalName: string };

/** Collects tensors into one little-endian buffer; each `add` returns the tensor's manifest entry. */
class TensorPack {
  private chunks: Buffer[] = [];
  private size = 0;
  add(name: string, t: tf.Tensor): TensorEntry {
    const dtype = t.dtype === "int32" ? "int32" : "float32";
    const values = dtype === "int32" ? Int32Array.from(t.dataSync()) : Float32Array.from(t.dataSync());
    const buf = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
    const entry: TensorEntry = { name, shape: [...t.shape], dtype, offset: this.size, byteLength: buf.byteLength };
    this.chunks.push(buf);
    this.size += buf.byteLength;
    return entry;
  }
  bytes(): Buffer {
    return Buffer.concat(this.chunks, this.size);
  }
}

function readTensor(bin: Buffer, e: TensorEntry, where: string): tf.Tensor {
  const n = e.shape.reduce((a, b) => a * b, 1);
  if (e.byteLength !== n * 4 || e.offset + e.byteLength > bin.byteLength) {
    throw new Error(`${where}: ${e.name} is damaged (shape [${e.shape}] needs ${n * 4} bytes at ${e.offset}; weights.bin has ${bin.byteLength})`);
  }
  const copy = new Uint8Array(e.byteLength);
  copy.set(bin.subarray(e.offset, e.offset + e.byteLength));
  const values = e.dtype === "int32" ? new Int32Array(copy.buffer) : new Float32Array(copy.buffer);
  return tf.tensor(values, e.shape, e.dtype);
}

/**
 * A copy of a tf.Optimizer's weights that later updates do not change: getWeights() returns the live slot
 * variables (copied here) and a fresh iteration-count scalar (kept as is). Dispose the tensors when done.
 */
export async function snapshotOptimizerWeights(opt: tf.Optimizer): Promise<Parameters<tf.Optimizer["setWeights"]>[0]> {
  return (await opt.getWeights()).map((w) => ({ name: w.name, tensor: tf.keep(w.tensor instanceof tf.Variable ? tf.clone(w.tensor) : w.tensor) }));
}

/**
 * tf.Optimizer.setWeights(), disposing the slot variables it replaces (tfjs leaves them allocated). The new
 * slots share the given tensors' data, so the caller may dispose those afterwards.
 */
export async function replaceOptimizerWeights(opt: tf.Optimizer, weights: Parameters<tf.Optimizer["setWeights"]>[0]): Promise<void> {
  const old = await opt.getWeights();
  await opt.setWeights(weights);
  tf.dispose(old.map((w) => w.tensor));
}

/** Writes `dir` atomically: build in a sibling temp dir, then swap. */
function writeDirAtomically(dir: string, files: Record<string, Buffer | string>): void {
  const abs = path.resolve(dir);
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  const tmp = `${abs}.partial-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  for (const [name, data] of Object.entries(files)) fs.writeFileSync(path.join(tmp, name), data);
  const old = `${abs}.old-${process.pid}`;
  const existed = fs.existsSync(abs);
  if (existed) fs.renameSync(abs, old);
  fs.renameSync(tmp, abs);
  if (existed) fs.rmSync(old, { recursive: true, force: true });
}

/**
 * Saves model weights (with BatchNorm running statistics), optimizer state, scheduler state, History and
 * the data order's position (DataLoader `stateDict()`) into the directory `dir`.
 */
export async function saveCheckpoint(dir: string, o: SaveCheckpointOptions): Promise<void> {
  if (!Number.isInteger(o.epoch) || o.epoch < -1) throw new Error(`saveCheckpoint: epoch must be the last completed epoch (an integer >= -1), got ${o.epoch}`);
  const pack = new TensorPack();
  const weights = (o.model.weights as LayerVar[]).map((w) => pack.add(w.originalName, w.read()));
  let optimizer: CheckpointFile["optimizer"];
  if (o.optimizer && isStateful(o.optimizer)) optimizer = { kind: "stateDict", state: o.optimizer.stateDict() };
  else if (o.optimizer instanceof tf.Optimizer) {
    const entries: TensorEntry[] = [];
    for (const { name, tensor } of await o.optimizer.getWeights()) {
      entries.push(pack.add(name, tensor));
      if (!(tensor instanceof tf.Variable)) tensor.dispose(); // the fresh iteration-count scalar
    }
    optimizer = { kind: "tfjs", weights: entries };
  }
  const data: Record<string, unknown> = {};
  for (const [k, src] of Object.entries(o.data ?? {})) if (isStateful(src)) data[k] = src.stateDict();
  const file: CheckpointFile = {
    format: CHECKPOINT_FORMAT,
    epoch: o.epoch,
    savedAt: new Date().toISOString(),
    weights,
    optimizer,
    scheduler: o.scheduler ? o.scheduler.stateDict() : undefined,
    history: o.history ?? { epochs: [], batches: [] },
    data,
    extra: o.extra,
  };
  writeDirAtomically(dir, { "checkpoint.json": JSON.stringify(file), "weights.bin": pack.bytes() });
}

/** Reads a checkpoint's metadata without touching any object (epoch, history, savedAt, extra). */
export function readCheckpoint(dir: string): Checkpoint {
  const file = readFile(dir);
  return { epoch: file.epoch, history: file.history, savedAt: file.savedAt, extra: file.extra };
}

function readFile(dir: string): CheckpointFile {
  const where = `loadCheckpoint(${JSON.stringify(dir)})`;
  const jsonPath = path.join(dir, "checkpoint.json");
  if (!fs.existsSync(jsonPath)) {
    throw new Error(`${where}: no checkpoint there (expected ${jsonPath} and weights.bin, as written by saveCheckpoint or train({ checkpoint }))`);
  }
  const file = JSON.parse(fs.readFileSync(jsonPath, "utf8")) as CheckpointFile;
  if (file.format !== CHECKPOINT_FORMAT) throw new Error(`${where}: format ${JSON.stringify(file.format)}, expected ${JSON.stringify(CHECKPOINT_FORMAT)}`);
  return file;
}

/**
 * Restores a checkpoint into the given objects: model weights, then optimizer, scheduler and data positions
 * when given (build the optimizer and scheduler first, as in PyTorch). Everything is checked before the model
 * changes; if a later part fails, the parts already restored are put back. Returns epoch, History and extra.
 */
export async function loadCheckpoint(dir: string, parts: CheckpointParts): Promise<Checkpoint> {
  const where = `loadCheckpoint(${JSON.stringify(dir)})`;
  const file = readFile(dir);
  const bin = fs.readFileSync(path.join(dir, "weights.bin"));
  const weights = parts.model.weights as LayerVar[];
  if (file.weights.length !== weights.length) {
    throw new Error(`${where}: the checkpoint has ${file.weights.length} weight tensors, the model ${weights.length}: not the same architecture`);
  }
  // Match by name when every saved name is one of ours (same process or same layer names), else by position.
  const byName = new Map(weights.map((w) => [w.originalName, w] as const));
  const named = file.weights.every((e) => byName.has(e.name));
  const values: Array<[LayerVar, tf.Tensor]> = [];
  const undo: Array<() => unknown> = [];
  const cleanup: Array<() => void> = [];
  try {
    file.weights.forEach((e, i) => {
      const v = named ? byName.get(e.name)! : weights[i];
      if (!tf.util.arraysEqual(e.shape, v.shape as number[])) {
        throw new Error(`${where}: weight ${e.name} has shape [${e.shape}] in the checkpoint, ${v.originalName} is [${v.shape}]`);
      }
      values.push([v, readTensor(bin, e, where)]);
    });
    const opt = parts.optimizer;
    if (opt && file.optimizer) {
      if (file.optimizer.kind === "stateDict") {
        if (!isStateful(opt)) throw new Error(`${where}: the checkpoint holds a tsdl optimizer state; the optimizer given has no loadStateDict`);
        const before = opt.stateDict();
        opt.loadStateDict(file.optimizer.state);
        undo.push(() => opt.loadStateDict(before));
      } else {
        if (!(opt instanceof tf.Optimizer)) throw new Error(`${where}: the checkpoint holds tf.Optimizer weights; the optimizer given is not a tf.Optimizer`);
        const tensors = file.optimizer.weights.map((e) => ({ name: e.name, tensor: readTensor(bin, e, where) }));
        const before = await snapshotOptimizerWeights(opt);
        await replaceOptimizerWeights(opt, tensors);
        tf.dispose(tensors.map((t) => t.tensor));
        undo.push(() => replaceOptimizerWeights(opt, before));
        cleanup.push(() => tf.dispose(before.map((w) => w.tensor)));
      }
    }
    if (parts.scheduler && file.scheduler !== undefined) {
      const s = parts.scheduler;
      const before = s.stateDict();
      s.loadStateDict(file.scheduler);
      undo.push(() => s.loadStateDict(before));
    }
    for (const [k, src] of Object.entries(parts.data ?? {})) {
      if (!isStateful(src) || file.data?.[k] === undefined) continue;
      const before = src.stateDict();
      src.loadStateDict(file.data[k]);
      undo.push(() => src.loadStateDict(before));
    }
  } catch (e) {
    for (const u of undo.reverse()) await u();
    tf.dispose(values.map(([, t]) => t));
    throw e;
  } finally {
    for (const c of cleanup) c();
  }
  for (const [v, t] of values) v.write(t);
  tf.dispose(values.map(([, t]) => t));
  return { epoch: file.epoch, history: file.history, savedAt: file.savedAt, extra: file.extra };
}
