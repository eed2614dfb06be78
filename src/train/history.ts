// Plain data a training run records; plots and checkpoints read it.

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
