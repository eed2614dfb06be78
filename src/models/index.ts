// Model builders: the course's ResNet and its residual block.
export { resnet, residualBlock, resnetFeatureSizes, resnetInputProblem, RESNET_INPUT_RANGE } from "./resnet";
export type { ResNetOptions, ResidualBlockOptions } from "./resnet";
export { AddReLU, torchDefaultInit, SeedSequence, PrintShape } from "./layers";
export { loadTorchStateDict } from "./torch";
export type { TorchStateDict, TorchTensor, LoadTorchOptions } from "./torch";
