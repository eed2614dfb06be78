// Where batches come from: one pass over a data source, each batch checked before it reaches a step.
import * as tf from "@tensorflow/tfjs";
import { describe } from "../core/check";
import { interruptPoints } from "../core/interrupt";
import type { Batch } from "../core/protocols";

/**
 * Where batches come from: a data.DataLoader, or any (async) iterable of `{ x, y }`, iterated once per epoch.
 * `length` (batches per epoch) feeds the progress bar; `stateDict()`/`loadStateDict()` go into checkpoints.
 * train() does not dispose batches: a DataLoader disposes its own; other sources own theirs.
 */
export type DataSource = (AsyncIterable<Batch> | Iterable<Batch>) & { length?: number };

function checkBatch(b: unknown, where: string): Batch {
  const batch = b as Batch;
  if (!batch || !(batch.x instanceof tf.Tensor) || !(batch.y instanceof tf.Tensor)) {
    throw new Error(`${where}: each batch must be { x: tf.Tensor, y: tf.Tensor }, got ${describe(b)}`);
  }
  if (batch.x.isDisposed || batch.y.isDisposed) {
    throw new Error(
      `${where}: a batch's tensors are disposed (a data source reused across epochs must not dispose them, or must make new ones)`,
    );
  }
  return batch;
}

/**
 * The batches of one pass over `data`, each checked; `where` names the caller in errors. In a notebook kernel
 * each batch is also an interrupt point (see core/interrupt): train(), evaluate() and lrFinder() stop between
 * two steps when the user interrupts.
 */
export async function* batchesOf(data: DataSource, where: string): AsyncGenerator<Batch> {
  const interruptPoint = interruptPoints();
  if (data && typeof (data as AsyncIterable<Batch>)[Symbol.asyncIterator] === "function") {
    for await (const b of data as AsyncIterable<Batch>) {
      await interruptPoint();
      yield checkBatch(b, where);
    }
  } else if (data && typeof (data as Iterable<Batch>)[Symbol.iterator] === "function") {
    for (const b of data as Iterable<Batch>) {
      await interruptPoint();
      yield checkBatch(b, where);
    }
  } else {
    throw new Error(`${where}: data must be a data.DataLoader or an (async) iterable of { x, y } batches, got ${describe(data)}`);
  }
}

/** Batches per epoch when the source says (a DataLoader's `length`), else undefined. */
export function lengthOf(data: DataSource | null | undefined): number | undefined {
  const n = (data as { length?: unknown } | null | undefined)?.length;
  return typeof n === "number" && Number.isInteger(n) && n > 0 ? n : undefined;
}
