// lrScheduler: every torch.optim.lr_scheduler schedule, exact to PyTorch (torch 1.13 semantics), with a
// camelCase factory for each, previews, one-call warmup and a model.fit callback.
//
//   const opt = optim.sgd(model, { lr: 0.1, momentum: 0.9 });
//   const sched = lrScheduler.multiStepLR(opt, { milestones: [20], gamma: 0.1 });
//   for (let epoch = 0; epoch < 30; epoch++) { train(); opt.step(); ...; sched.step(); }
import type { SchedulableOptimizer } from "../core/protocols";
import type { Scheduler } from "./base";
import { ChainedScheduler, SequentialLR, SequentialLROptions } from "./containers";
import { CosineAnnealingLR, CosineAnnealingLROptions, CosineAnnealingWarmRestarts, CosineAnnealingWarmRestartsOptions } from "./cosine";
import { CyclicLR, CyclicLROptions } from "./cyclic";
import { ExponentialLR, ExponentialLROptions, PolynomialLR, PolynomialLROptions } from "./decay";
import { ConstantLR, ConstantLROptions, LinearLR, LinearLROptions } from "./factor";
import { LambdaLR, LambdaLROptions, MultiplicativeLR } from "./lambda";
import { OneCycleLR, OneCycleLROptions } from "./oneCycle";
import { ReduceLROnPlateau, ReduceLROnPlateauOptions } from "./plateau";
import { MultiStepLR, MultiStepLROptions, StepLR, StepLROptions } from "./step";

export { LRScheduler, Scheduler } from "./base";
export { setWarningHandler } from "./warnings";
export type { WarningHandler } from "./warnings";
export type { SchedulableGroup, SchedulableOptimizer } from "../core/protocols";
export type { StateDict } from "./stateDict";
export type { MomentumKey } from "./momentum";
export * from "./lambda";
export * from "./step";
export * from "./factor";
export * from "./decay";
export * from "./cosine";
export * from "./containers";
export * from "./plateau";
export * from "./cyclic";
export * from "./oneCycle";
export { preview, copyGroups } from "./preview";
export type { SchedulePreview, PreviewOptions, SchedulerFactory } from "./preview";
export { warmup, warmupCosine } from "./warmup";
export type { WarmupOptions, WarmupCosineOptions } from "./warmup";
export { SchedulerCallback, schedulerCallback } from "./callback";
export type { SchedulerCallbackOptions, LrRecord } from "./callback";

type Opt = SchedulableOptimizer;

/** `new LambdaLR(opt, { lrLambda })`: lr = initialLr · λ(epoch). */
export const lambdaLR = (opt: Opt, options: LambdaLROptions) => new LambdaLR(opt, options);
/** `new MultiplicativeLR(opt, { lrLambda })`: lr ← lr · λ(epoch). */
export const multiplicativeLR = (opt: Opt, options: LambdaLROptions) => new MultiplicativeLR(opt, options);
/** `new StepLR(opt, { stepSize, gamma })`: ×gamma every stepSize epochs. */
export const stepLR = (opt: Opt, options: StepLROptions) => new StepLR(opt, options);
/** `new MultiStepLR(opt, { milestones, gamma })`: ×gamma at each milestone. */
export const multiStepLR = (opt: Opt, options: MultiStepLROptions) => new MultiStepLR(opt, options);
/** `new ConstantLR(opt, { factor, totalIters })`: ×factor for the first totalIters epochs. */
export const constantLR = (opt: Opt, options: ConstantLROptions = {}) => new ConstantLR(opt, options);
/** `new LinearLR(opt, { startFactor, endFactor, totalIters })`: linear ramp of the factor. */
export const linearLR = (opt: Opt, options: LinearLROptions = {}) => new LinearLR(opt, options);
/** `new ExponentialLR(opt, { gamma })`: ×gamma every epoch. */
export const exponentialLR = (opt: Opt, options: ExponentialLROptions) => new ExponentialLR(opt, options);
/** `new PolynomialLR(opt, { totalIters, power })`: polynomial decay to 0. */
export const polynomialLR = (opt: Opt, options: PolynomialLROptions = {}) => new PolynomialLR(opt, options);
/** `new CosineAnnealingLR(opt, { tMax, etaMin })`: half a cosine over tMax epochs. */
export const cosineAnnealingLR = (opt: Opt, options: CosineAnnealingLROptions) => new CosineAnnealingLR(opt, options);
/** `new CosineAnnealingWarmRestarts(opt, { t0, tMult, etaMin })`: SGDR. */
export const cosineAnnealingWarmRestarts = (opt: Opt, options: CosineAnnealingWarmRestartsOptions) =>
  new CosineAnnealingWarmRestarts(opt, options);
/** `new SequentialLR(opt, { schedulers, milestones })`: one schedule after another. */
export const sequentialLR = (opt: Opt, options: SequentialLROptions) => new SequentialLR(opt, options);
/** `new ChainedScheduler(schedulers)`: step several schedules together (their factors multiply). */
export const chainedScheduler = (schedulers: Scheduler[], optimizer?: Opt) => new ChainedScheduler(schedulers, optimizer);
/** `new ReduceLROnPlateau(opt, { mode, factor, patience, ... })`: cut the lr when the metric stalls. */
export const reduceLROnPlateau = (opt: Opt, options: ReduceLROnPlateauOptions = {}) => new ReduceLROnPlateau(opt, options);
/** `new CyclicLR(opt, { baseLr, maxLr, stepSizeUp, mode })`: cyclical lr (per batch). */
export const cyclicLR = (opt: Opt, options: CyclicLROptions) => new CyclicLR(opt, options);
/** `new OneCycleLR(opt, { maxLr, totalSteps })`: the 1cycle policy (per batch). */
export const oneCycleLR = (opt: Opt, options: OneCycleLROptions) => new OneCycleLR(opt, options);
