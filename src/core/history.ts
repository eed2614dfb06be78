// Plain data a training run records; train writes it, plots and checkpoints read it. This file imports no
// other tsdl module, so both sides depend on it and not on each other.

/** One epoch of a run. `lr` holds the lr of every param group during the epoch. */
export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  trainAcc?: number;
  validLoss?: number;
  validAcc?: number;
  lr: number[];
  seconds: number;
}

/** One optimizer step. `step` counts steps over the whole run. */
export interface BatchRecord {
  epoch: number;
  batch: number;
  step: number;
  loss: number;
  acc?: number;
  lr: number[];
  /** Wall time of this batch: waiting for its data, forward, backward and update (added by train()). */
  seconds?: number;
}

export interface History {
  epochs: EpochRecord[];
  batches: BatchRecord[];
}

/** What `lrFinder` returns: the loss at each lr tried, and the suggested lr. */
export interface LrFinderResult {
  lrs: number[];
  losses: number[];
  suggestedLr: number;
}

/** The epochs at which some param group's lr differs from the epoch before, with old and new lrs. */
/** "lr changed at epoch 2, 4, 6, 8, 10, …" (the first five), or undefined when the lr never changed. */
export function describeLrChanges(changes: ReadonlyArray<{ epoch: number }>): string | undefined {
  if (!changes.length) return undefined;
  const first = changes.slice(0, 5).map((c) => c.epoch);
  return `lr changed at epoch ${first.join(", ")}${changes.length > 5 ? ", …" : ""}`;
}

export function lrChanges(epochs: readonly EpochRecord[]): Array<{ epoch: number; from: number[]; to: number[] }> {
  const out: Array<{ epoch: number; from: number[]; to: number[] }> = [];
  for (let i = 1; i < epochs.length; i++) {
    const a = epochs[i - 1].lr;
    const b = epochs[i].lr;
    const changed = b.some((v, g) => Math.abs(v - a[g]) > 1e-12 * Math.max(Math.abs(v), Math.abs(a[g])));
    if (changed) out.push({ epoch: epochs[i].epoch, from: a, to: b });
  }
  return out;
}
