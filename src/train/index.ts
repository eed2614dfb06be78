// The training loop and what it records: train(), evaluate(), checkpoints, the lr finder.
export type { EpochRecord, BatchRecord, History, LrFinderResult } from "../core/history";
export { train } from "./loop";
export type { TrainOptions, ScheduleOptions, Monitor, SchedulerLike, LiveView } from "./loop";
export { NonFiniteLossError } from "./step";
export { trainStep } from "./pipeline";
export { evaluate } from "./evaluate";
export type { EvaluateOptions } from "./evaluate";
export { epochLine, formatLr } from "./format";
export { currentLr } from "./optimizer";
export type { OptimizerLike } from "./optimizer";
export type { DataSource } from "./batches";
export type { Batch, Criterion } from "../core/protocols";
export { saveCheckpoint, loadCheckpoint, readCheckpoint, CHECKPOINT_FORMAT } from "./checkpoint";
export type { Checkpoint, CheckpointParts, SaveCheckpointOptions, Stateful } from "./checkpoint";
export { lrFinder, valleyIndex } from "./lrFinder";
export type { LrFinderOptions, LrSuggestion } from "./lrFinder";
export { ProgressBar, progressText, hms, PROGRESS_MODES } from "./progress";
export type { ProgressMode, ProgressState, TerminalLike } from "./progress";
