// Checkpoints: everything needed to continue a run exactly where it stopped.
//
// A checkpoint is a folder (see checkpointDir.ts for how it is published crash-safely):
//   checkpoint.json  { format, epoch, savedAt, weightsFile, weightsBytes, weights: [{ name, shape, dtype, offset,
//                      byteLength }], optimizer, scheduler, history, data: { train: loaderState, ... }, extra }
//   weights-….bin    the model's weights (trainable and BatchNorm running statistics), little-endian, and a
//                    plain tf.Optimizer's slots
// Everything in checkpoint.json is checked before any object changes; errors name the key, its value and
// what is accepted.
import * as fs from "fs";
import * as tf from "@tensorflow/tfjs";
import type { History } from "../core/history";
import { isStateful, type Stateful } from "../core/protocols";
import { checkTarget, locate, publish } from "./checkpointDir";

export const CHECKPOINT_FORMAT = "tsdl.checkpoint/2";
/** Formats loadCheckpoint reads: 1 had weights.bin at a fixed name. */
const READABLE_FORMATS = [CHECKPOINT_FORMAT, "tsdl.checkpoint/1"];

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
  /** The folder it was read from: the one given, or a leftover of a save that tsdl before format 2 left half-done. */
  path: string;
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
  /** Format 2: the weights file's name in the folder and its size. */
  weightsFile?: string;
  weightsBytes?: number;
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

/** A tensor of the weights file; its entry was validated against the file's size (validateManifest). */
function readTensor(bin: Buffer, e: TensorEntry): tf.Tensor {
  const copy = new Uint8Array(e.byteLength);
  copy.set(bin.subarray(e.offset, e.offset + e.byteLength));
  const values = e.dtype === "int32" ? new Int32Array(copy.buffer) : new Float32Array(copy.buffer);
  return tf.tensor(values, e.shape, e.dtype);
}

/**
 * Reads tensors once with await, so the synchronous reads that follow find their values on the CPU: a GPU backend
 * (webgpu) has no synchronous read in Node.
 */
async function readOnHost(tensors: tf.Tensor[]): Promise<void> {
  await Promise.all(tensors.map((t) => t.data()));
}

/** The state tensors of a tsdl optimizer (its `state` buffers), which its stateDict() reads. */
function stateTensors(opt: unknown): tf.Tensor[] {
  const state = (opt as { state?: ReadonlyMap<unknown, { buffers: Record<string, tf.Tensor> }> } | undefined)?.state;
  return state instanceof Map ? [...state.values()].flatMap((st) => Object.values(st.buffers)) : [];
}

/**
 * A copy of a tf.Optimizer's weights that later updates do not change: getWeights() returns the live slot
 * variables (copied here) and a fresh iteration-count scalar (kept as is). Dispose the tensors when done.
 */
export async function snapshotOptimizerWeights(opt: tf.Optimizer): Promise<Parameters<tf.Optimizer["setWeights"]>[0]> {
  return (await opt.getWeights()).map((w) => ({
    name: w.name,
    tensor: tf.keep(w.tensor instanceof tf.Variable ? tf.clone(w.tensor) : w.tensor),
  }));
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

/** Throws unless `dir` may receive a checkpoint (absent, empty, or a tsdl checkpoint); reads only. */
export function checkCheckpointTarget(dir: string, caller = "saveCheckpoint"): void {
  checkTarget(dir, caller);
}

/**
 * Saves model weights (with BatchNorm running statistics), optimizer state, scheduler state, History and
 * the data order's position (DataLoader `stateDict()`) into the folder `dir`, replacing an earlier checkpoint
 * there in one atomic step. `dir` must be absent, empty or a tsdl checkpoint: any other file or folder is
 * refused and left as it is.
 */
export async function saveCheckpoint(dir: string, o: SaveCheckpointOptions): Promise<void> {
  const where = `saveCheckpoint(${JSON.stringify(dir)})`;
  if (!Number.isInteger(o.epoch) || o.epoch < -1)
    throw new Error(`${where}: epoch must be the last completed epoch (an integer >= -1), got ${o.epoch}`);
  checkTarget(dir, "saveCheckpoint"); // before the work of collecting the state
  await readOnHost([...o.model.weights.map((w) => w.read()), ...stateTensors(o.optimizer)]);
  const pack = new TensorPack();
  const weights = (o.model.weights as LayerVar[]).map((w) => pack.add(w.originalName, w.read()));
  let optimizer: CheckpointFile["optimizer"];
  // (`undefined instanceof tf.Optimizer` throws: tfjs's hasInstance reads .minimize)
  if (o.optimizer && isStateful(o.optimizer)) optimizer = { kind: "stateDict", state: o.optimizer.stateDict() };
  else if (o.optimizer && o.optimizer instanceof tf.Optimizer) {
    const entries: TensorEntry[] = [];
    const slots = await o.optimizer.getWeights();
    await readOnHost(slots.map((w) => w.tensor));
    for (const { name, tensor } of slots) {
      entries.push(pack.add(name, tensor));
      if (!(tensor instanceof tf.Variable)) tensor.dispose(); // the fresh iteration-count scalar
    }
    optimizer = { kind: "tfjs", weights: entries };
  }
  const data: Record<string, unknown> = {};
  for (const [k, src] of Object.entries(o.data ?? {})) if (isStateful(src)) data[k] = src.stateDict();
  const bytes = pack.bytes();
  const file = (weightsFile: string): CheckpointFile => ({
    format: CHECKPOINT_FORMAT,
    epoch: o.epoch,
    savedAt: new Date().toISOString(),
    weightsFile,
    weightsBytes: bytes.byteLength,
    weights,
    optimizer,
    scheduler: o.scheduler ? o.scheduler.stateDict() : undefined,
    history: o.history ?? { epochs: [], batches: [] },
    data,
    extra: o.extra,
  });
  publish(dir, bytes, (weightsFile) => JSON.stringify(file(weightsFile)), "saveCheckpoint");
}

/** Reads a checkpoint's metadata without touching any object (epoch, history, savedAt, extra, path). */
export function readCheckpoint(dir: string): Checkpoint {
  return summary(readFile(dir, `readCheckpoint(${JSON.stringify(dir)})`));
}

function summary(r: Read): Checkpoint {
  return { epoch: r.file.epoch, history: r.file.history, savedAt: r.file.savedAt, extra: r.file.extra, path: r.dir };
}

interface Read {
  file: CheckpointFile;
  /** The folder read. */
  dir: string;
  weightsPath: string;
}

/** The newest complete checkpoint for `dir`, its manifest validated against its weights file's size. */
function readFile(dir: string, where: string): Read {
  const found = locate(dir, where);
  let size: number;
  try {
    size = fs.statSync(found.weightsPath).size;
  } catch {
    throw new Error(`${where}: ${found.weightsPath}, named by its checkpoint.json, is missing`);
  }
  return { file: validateManifest(found.manifest, size, where), dir: found.dir, weightsPath: found.weightsPath };
}

const show = (v: unknown): string => (v === undefined ? "missing" : (JSON.stringify(v) ?? String(v)));
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Checks every key loadCheckpoint relies on (the optimizer, scheduler and data states are checked by their
 * own loadStateDict); `size` is the weights file's length. Errors name key, value and what is accepted.
 */
function validateManifest(m: Record<string, unknown>, size: number, where: string): CheckpointFile {
  const bad = (key: string, value: unknown, accepted: string): never => {
    throw new Error(`${where}: checkpoint.json key "${key}" is ${value === undefined ? "missing" : show(value)}; accepted: ${accepted}`);
  };
  if (!READABLE_FORMATS.includes(m.format as string)) bad("format", m.format, READABLE_FORMATS.map((f) => JSON.stringify(f)).join(" or "));
  if (!Number.isInteger(m.epoch) || (m.epoch as number) < -1) bad("epoch", m.epoch, "an integer >= -1 (the last completed epoch)");
  if (typeof m.savedAt !== "string") bad("savedAt", m.savedAt, "a date string");
  if (m.format === CHECKPOINT_FORMAT && m.weightsBytes !== size) {
    bad(
      "weightsBytes",
      m.weightsBytes,
      `the size of its weights file, which has ${size} bytes (the file is damaged, or the key was edited)`,
    );
  }
  const entries = (key: string, v: unknown): TensorEntry[] => {
    if (!Array.isArray(v)) return bad(key, v, "an array of { name, shape, dtype, offset, byteLength }");
    v.forEach((e: Record<string, unknown>, i) => {
      const k = `${key}[${i}]`;
      if (!isObject(e)) bad(k, e, "an object { name, shape, dtype, offset, byteLength }");
      if (typeof e.name !== "string") bad(`${k}.name`, e.name, "a string");
      const shape = e.shape;
      if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0))
        bad(`${k}.shape`, shape, "an array of integers >= 0");
      if (e.dtype !== "float32" && e.dtype !== "int32") bad(`${k}.dtype`, e.dtype, '"float32" or "int32"');
      if (!Number.isInteger(e.offset) || (e.offset as number) < 0)
        bad(`${k}.offset`, e.offset, "an integer >= 0 (a byte offset into the weights file)");
      const need = (shape as number[]).reduce((a, b) => a * b, 1) * 4;
      if (e.byteLength !== need) bad(`${k}.byteLength`, e.byteLength, `${need} (4 bytes for each of the shape's ${need / 4} values)`);
      if ((e.offset as number) + need > size)
        bad(`${k}.offset`, e.offset, `at most ${size - need}: the tensor's ${need} bytes must lie inside the weights file (${size} bytes)`);
    });
    return v as TensorEntry[];
  };
  entries("weights", m.weights);
  const opt = m.optimizer;
  if (opt !== undefined) {
    if (!isObject(opt) || (opt.kind !== "stateDict" && opt.kind !== "tfjs"))
      bad("optimizer.kind", isObject(opt) ? opt.kind : opt, '"stateDict" (a tsdl optimizer) or "tfjs" (a tf.Optimizer)');
    else if (opt.kind === "tfjs") entries("optimizer.weights", opt.weights);
    else if (opt.state === undefined) bad("optimizer.state", opt.state, "the optimizer's stateDict()");
  }
  if (!isObject(m.history)) bad("history", m.history, "{ epochs: [...], batches: [...] }");
  const history = m.history as Record<string, unknown>;
  const records = (key: "epochs" | "batches", ints: string[]): void => {
    const list = history[key];
    if (!Array.isArray(list)) return bad(`history.${key}`, list, "an array of records");
    list.forEach((r: Record<string, unknown>, i) => {
      if (!isObject(r)) bad(`history.${key}[${i}]`, r, "an object");
      for (const f of ints) if (!Number.isInteger(r[f]) || (r[f] as number) < 0) bad(`history.${key}[${i}].${f}`, r[f], "an integer >= 0");
      if (!Array.isArray(r.lr) || !r.lr.every((x) => typeof x === "number"))
        bad(`history.${key}[${i}].lr`, r.lr, "an array of numbers (the lr of each group)");
    });
  };
  records("epochs", ["epoch"]);
  records("batches", ["epoch", "batch", "step"]);
  if (m.data !== undefined && !isObject(m.data))
    bad("data", m.data, "an object of data-source states, e.g. { train: { seed, epoch, batch } }");
  return { ...(m as unknown as CheckpointFile), data: (m.data as Record<string, unknown> | undefined) ?? {} };
}

/**
 * Restores a checkpoint into the given objects: model weights, then optimizer, scheduler and data positions
 * when given (build the optimizer and scheduler first, as in PyTorch). Everything is checked before the model
 * changes; if a later part fails, the parts already restored are put back. Returns epoch, History and extra.
 */
export async function loadCheckpoint(dir: string, parts: CheckpointParts): Promise<Checkpoint> {
  const where = `loadCheckpoint(${JSON.stringify(dir)})`;
  const read = readFile(dir, where);
  const file = read.file;
  const bin = fs.readFileSync(read.weightsPath);
  const weights = parts.model.weights as LayerVar[];
  if (file.weights.length !== weights.length) {
    throw new Error(
      `${where}: the checkpoint has ${file.weights.length} weight tensors, the model ${weights.length}: not the same architecture`,
    );
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
      values.push([v, readTensor(bin, e)]);
    });
    const opt = parts.optimizer;
    if (opt && file.optimizer) {
      if (file.optimizer.kind === "stateDict") {
        if (!isStateful(opt))
          throw new Error(`${where}: the checkpoint holds a tsdl optimizer state; the optimizer given has no loadStateDict`);
        await readOnHost(stateTensors(opt));
        const before = opt.stateDict();
        opt.loadStateDict(file.optimizer.state);
        undo.push(() => opt.loadStateDict(before));
      } else {
        if (!(opt instanceof tf.Optimizer))
          throw new Error(`${where}: the checkpoint holds tf.Optimizer weights; the optimizer given is not a tf.Optimizer`);
        const tensors = file.optimizer.weights.map((e) => ({ name: e.name, tensor: readTensor(bin, e) }));
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
  return summary(read);
}
