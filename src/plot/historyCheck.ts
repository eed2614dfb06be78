// Reads a training History defensively: the shape is checked once here, with errors that say
// which record is wrong, so the plot helpers can trust what they get.
import type { BatchRecord, EpochRecord, History } from "../core/history";
import { describe, isObject } from "../core/check";
import { fail } from "./check";

/** Checks the History shape; returns its epochs sorted by epoch number and its batches sorted by step. */
export function readHistory(fn: string, history: unknown, label = "history"): { epochs: EpochRecord[]; batches: BatchRecord[] } {
  if (!isObject(history))
    fail(fn, `${label} must be a History ({ epochs: EpochRecord[], batches: BatchRecord[] }), got ${describe(history)}`);
  const { epochs, batches } = history as Partial<History>;
  if (!Array.isArray(epochs)) fail(fn, `${label}.epochs must be an array of EpochRecord, got ${describe(epochs)}`);
  if (batches !== undefined && !Array.isArray(batches))
    fail(fn, `${label}.batches must be an array of BatchRecord, got ${describe(batches)}`);

  const seen = new Map<number, number>();
  let groups: number | undefined;
  epochs.forEach((r, i) => {
    if (!isObject(r)) fail(fn, `${label}.epochs[${i}] must be an EpochRecord, got ${describe(r)}`);
    if (typeof r.epoch !== "number" || !Number.isFinite(r.epoch))
      fail(fn, `${label}.epochs[${i}].epoch must be a finite number, got ${describe(r.epoch)}`);
    if (typeof r.trainLoss !== "number") fail(fn, `${label}.epochs[${i}].trainLoss must be a number, got ${describe(r.trainLoss)}`);
    for (const k of ["validLoss", "trainAcc", "validAcc"] as const) {
      if (r[k] !== undefined && typeof r[k] !== "number")
        fail(fn, `${label}.epochs[${i}].${k} must be a number or absent, got ${describe(r[k])}`);
    }
    const prev = seen.get(r.epoch);
    if (prev !== undefined)
      fail(
        fn,
        `${label} has epoch ${r.epoch} twice (epochs[${prev}] and epochs[${i}]); plot one run per history, or several runs with plot.compare`,
      );
    seen.set(r.epoch, i);
    if (!Array.isArray(r.lr)) fail(fn, `${label}.epochs[${i}].lr must be an array with the lr of each param group, got ${describe(r.lr)}`);
    if (groups === undefined) groups = r.lr.length;
    else if (r.lr.length !== groups)
      fail(
        fn,
        `${label}.epochs[${i}].lr has ${r.lr.length} param groups but ${label}.epochs[0].lr has ${groups}; every record needs the lr of every group`,
      );
  });
  (batches ?? []).forEach((b, i) => {
    if (!isObject(b)) fail(fn, `${label}.batches[${i}] must be a BatchRecord, got ${describe(b)}`);
    for (const k of ["epoch", "step", "loss"] as const) {
      if (typeof b[k] !== "number") fail(fn, `${label}.batches[${i}].${k} must be a number, got ${describe(b[k])}`);
    }
  });
  return {
    epochs: [...epochs].sort((a, b) => a.epoch - b.epoch),
    batches: [...(batches ?? [])].sort((a, b) => a.step - b.step),
  };
}
