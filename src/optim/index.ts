// PyTorch-style optimizers on TensorFlow.js: live, editable paramGroups, PyTorch's update rules and
// weight decay, stateDict/loadStateDict, and usable as the optimizer of model.compile + model.fit.
export { Optimizer, ParamGroups } from "./optimizer";
export type { ParamsInput, GradsInput, ParamState, OptimizerSnapshot } from "./optimizer";
export { SGD } from "./sgd";
export { Adam, AdamW } from "./adam";
export { RMSprop } from "./rmsprop";
export { Adagrad } from "./adagrad";
export { sgd, adam, adamW, rmsprop, adagrad } from "./factories";
export { ParamList } from "./params";
export type { ParamGroup, ParamGroupInput, ParamSource, HasParameters, HasTrainableWeights } from "./params";
export { SCHEDULER_KEYS } from "../core/protocols";
export type {
  BaseHyper,
  AnyHyper,
  SGDHyper,
  AdamHyper,
  RMSpropHyper,
  AdagradHyper,
  SGDOptions,
  AdamOptions,
  AdamWOptions,
  RMSpropOptions,
  AdagradOptions,
} from "./options";
export type { OptimizerStateDict, EncodedTensor, EncodedParamState, SavedGroup } from "./stateDict";
export { paramGroupsForDecay } from "./regularization";
export type { DecaySplitOptions } from "./regularization";
export { l2Penalty } from "./regularization";
