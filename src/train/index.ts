// The training loop and what it records: train(), evaluate(), checkpoints, the lr finder.
export type { EpochRecord, BatchRecord, History, LrFinderResult } from "./history";
export { train, trainStep, evaluate, epochLine, formatLr, currentLr, NonFiniteLossError } from "./loop";
export type { TrainOptions, Batch, DataSource, Criterion, OptimizerLike, SchedulerLike, LiveView } from "./loop";
export { saveCheckpoint, loadCheckpoint, readCheckpoint, CHECKPOINT_FORMAT } from "./checkpoint";
export type { Checkpoint, CheckpointParts, SaveCheckpointOptions, Stateful } from "./checkpoint";
export { lrFinder, valleyIndex } from "./lrFinder";
export type { LrFinderOptions, LrSuggestion } from "./lrFinder";
export { ProgressBar, progressText, hms, PROGRESS_MODES } from "./progress";
export type { ProgressMode, ProgressState, TerminalLike } from "./progress";
