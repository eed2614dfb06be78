// torch.nn counterparts: losses (callable objects) and layers with PyTorch numerics.
export { Loss, CrossEntropyLoss, NLLLoss, MSELoss, L1Loss, crossEntropyLoss, nllLoss, mseLoss, l1Loss } from "./loss";
export type { Criterion } from "../core/protocols";
export type { Reduction, CrossEntropyLossOptions, NLLLossOptions, ReductionOptions } from "./loss";
export { BatchNorm2d, batchNorm2d } from "./batchnorm";
export type { BatchNorm2dActivation, BatchNorm2dOptions } from "./batchnorm";
