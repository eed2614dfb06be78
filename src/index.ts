// tsdl: PyTorch-style deep learning in TypeScript notebooks, on TensorFlow.js.
import * as tf from "@tensorflow/tfjs";

export { tf };
export * as backend from "./backend";
export { display, bundle, clearOutput, inKernel, DisplayHandle, JUPYTER_DISPLAY } from "./display";
export type { MimeBundle, Displayable } from "./display";
export * as optim from "./optim";
export * as lrScheduler from "./lrScheduler";
export * as data from "./data";
export * as models from "./models";
export * as nn from "./nn";
export * as plot from "./plot";
// The training loop and what it records, by name: what a notebook or a custom loop uses (the progress bar and
// number formatting behind them stay inside).
export {
  train,
  evaluate,
  trainStep,
  epochLine,
  NonFiniteLossError,
  lrFinder,
  saveCheckpoint,
  loadCheckpoint,
  readCheckpoint,
} from "./train";
export type {
  TrainOptions,
  ScheduleOptions,
  Monitor,
  SchedulerLike,
  LiveView,
  DataSource,
  OptimizerLike,
  ProgressMode,
  LrFinderOptions,
  EvaluateOptions,
  LrSuggestion,
  Checkpoint,
  CheckpointParts,
  SaveCheckpointOptions,
} from "./train";
export type { EpochRecord, BatchRecord, History, LrFinderResult } from "./core/history";
export type { Batch, Criterion, Stateful } from "./core/protocols";
