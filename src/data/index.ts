// tsdl.data: datasets (CIFAR-10, Fashion-MNIST), torchvision-style transforms, a DataLoader.
export { Image, FloatImage } from "./image";
export type { AnyImage } from "./image";
export { Generator, manualSeed, defaultGenerator } from "./random";
export type { GeneratorState } from "./random";
export { Subset, subset, ImageDataset } from "./dataset";
export type { Dataset, Sample } from "./dataset";
export { CIFAR10, CIFAR10_URL, CIFAR10_MD5, CIFAR10_CLASSES } from "./cifar10";
export type { CIFAR10Options, CIFAR10DownloadOptions } from "./cifar10";
export { FashionMNIST, FASHION_MNIST_DEBIAN_ROOT, FASHION_MNIST_CLASSES } from "./fashionMnist";
export type { FashionMNISTOptions } from "./fashionMnist";
export { writeSyntheticCifar10 } from "./synthetic";
export type { SyntheticCifar10Options, SyntheticCifar10 } from "./synthetic";
export { DataLoader } from "./dataLoader";
export type { DataLoaderOptions, DataLoaderState, DataLoaderStats, Batch } from "./dataLoader";
export { downloadFile, md5File } from "./download";
export { dataRoot } from "./root";
export * as transforms from "./transforms";
