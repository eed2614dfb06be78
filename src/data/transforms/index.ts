// torchvision.transforms for tsdl: `data.transforms.Compose([...])`, functional forms in `transforms.functional`.
export { Compose, Lambda, applyTransform } from "./transform";
export type { Transform, TransformLike } from "./transform";
export { Resize } from "./resize";
export type { ResizeOptions } from "./resize";
export { RandomHorizontalFlip, RandomVerticalFlip } from "./flip";
export { RandomCrop, CenterCrop } from "./crop";
export type { RandomCropOptions } from "./crop";
export { ColorJitter } from "./colorJitter";
export type { ColorJitterOptions, ColorJitterParams, JitterRange } from "./colorJitter";
export { ToTensor, Normalize, Grayscale } from "./tensor";
export type { Interpolation, PaddingMode, Padding, Size } from "./functional";
export * as functional from "./functional";
