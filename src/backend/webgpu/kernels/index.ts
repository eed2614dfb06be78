// tsdl's kernels for tfjs-backend-webgpu, registered when tsdl selects webgpu (see each file for why it exists).
// TSDL_WEBGPU_KERNELS=stock (or webgpuKernelOptions.tsdl = false at run time) runs tfjs's own kernels instead,
// so a benchmark can compare both in one process; TSDL_WEBGPU_STOCK=Conv2D,FusedConv2D (webgpuKernelOptions.stock)
// does so for the named replacements only.
import * as tf from "@tensorflow/tfjs";
import {
  ADD_RELU,
  addReluGradConfig,
  BATCH_NORM_TRAIN,
  BATCH_NORM_TRAIN_GRAD,
  batchNormTrainGradConfig,
  CROSS_ENTROPY,
  CROSS_ENTROPY_GRAD,
  crossEntropyGradConfig,
  offerKernel,
  RELU_GRAD,
  SGD_FUSED_STEP,
} from "../../../core/kernels";
import { batchNormRuns, batchNormTrain, batchNormTrainGrad } from "./batchnorm_train";
import { conv2d } from "./conv2d";
import { gemmOptions, GPU_MIN_WORKGROUPS, prefetchSetting, wideTiles, type WideTiles } from "./gemm";
import { conv2dBackpropFilter } from "./conv2d_backprop_filter";
import { crossEntropy, crossEntropyGrad } from "./cross_entropy";
import { conv2dBackpropInput } from "./conv2d_backprop_input";
import { addRelu, relu, reluGrad } from "./relu";
import type { Backend } from "./program";
import { sgdFusedStep } from "./sgd";

export interface WebgpuKernelOptions {
  /** Use tsdl's kernels (default true; TSDL_WEBGPU_KERNELS=stock makes it false). */
  tsdl: boolean;
  /**
   * tfjs kernels to leave to tfjs even while `tsdl` (names of webgpuKernelNames; TSDL_WEBGPU_STOCK, commas, sets it
   * when tsdl selects webgpu).
   */
  stock: Set<string>;
}

export const webgpuKernelOptions: WebgpuKernelOptions = { tsdl: process.env.TSDL_WEBGPU_KERNELS !== "stock", stock: new Set() };

/** tsdl's kernels: each gets the stock kernel's function to fall back on. */
const KERNELS: Array<{ name: string; make: (stock: tf.KernelFunc) => tf.KernelFunc }> = [
  { name: tf.Conv2D, make: conv2d(false) },
  { name: tf.FusedConv2D, make: conv2d(true) },
  { name: tf.Conv2DBackpropFilter, make: conv2dBackpropFilter },
  { name: tf.Conv2DBackpropInput, make: conv2dBackpropInput },
  { name: tf.Relu, make: relu },
];

/** The kernels tsdl replaces on webgpu, by tfjs kernel name. */
export const webgpuKernelNames: readonly string[] = KERNELS.map((k) => k.name);

let registered = false;

/** TSDL_WEBGPU_GEMM, TSDL_WEBGPU_PREFETCH and TSDL_WEBGPU_STOCK, checked: a bad value is an error naming what is accepted. */
export function webgpuSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): { wide: WideTiles; prefetch: boolean; stock: Set<string> } {
  const stock = new Set(
    (env.TSDL_WEBGPU_STOCK ?? "")
      .split(",")
      .map((n) => n.trim())
      .filter((n) => n !== ""),
  );
  const unknown = [...stock].filter((n) => !webgpuKernelNames.includes(n));
  if (unknown.length)
    throw new Error(`tsdl: TSDL_WEBGPU_STOCK names ${unknown.join(", ")}: tsdl replaces only ${webgpuKernelNames.join(", ")}`);
  return { wide: wideTiles(env.TSDL_WEBGPU_GEMM), prefetch: prefetchSetting(env.TSDL_WEBGPU_PREFETCH), stock };
}

/**
 * Registers tsdl's kernels (once: with the settings of TSDL_WEBGPU_GEMM, TSDL_WEBGPU_PREFETCH and TSDL_WEBGPU_STOCK) and tunes the matrix
 * products for the adapter, a GPU or a software one.
 */
export function registerWebgpuKernels(adapter: { software: boolean }): void {
  gemmOptions.minWorkgroups = adapter.software ? 1 : GPU_MIN_WORKGROUPS;
  if (registered) return;
  const settings = webgpuSettingsFromEnv();
  gemmOptions.wide = settings.wide;
  gemmOptions.prefetch = settings.prefetch;
  webgpuKernelOptions.stock = settings.stock;
  for (const { name, make } of KERNELS) {
    const stock = tf.getKernel(name, "webgpu");
    if (!stock) throw new Error(`tsdl: tfjs-backend-webgpu has no '${name}' kernel to replace`);
    const ours = make(stock.kernelFunc);
    tf.unregisterKernel(name, "webgpu");
    const opts = webgpuKernelOptions;
    tf.registerKernel({ ...stock, kernelFunc: (args) => (opts.tsdl && !opts.stock.has(name) ? ours(args) : stock.kernelFunc(args)) });
  }
  // tsdl's own kernels (no stock one); without them the callers compose tfjs ops.
  tf.registerKernel({ kernelName: BATCH_NORM_TRAIN, backendName: "webgpu", kernelFunc: batchNormTrain() });
  tf.registerKernel({ kernelName: BATCH_NORM_TRAIN_GRAD, backendName: "webgpu", kernelFunc: batchNormTrainGrad() });
  tf.registerKernel({ kernelName: RELU_GRAD, backendName: "webgpu", kernelFunc: reluGrad() });
  tf.registerKernel({ kernelName: SGD_FUSED_STEP, backendName: "webgpu", kernelFunc: sgdFusedStep() });
  tf.registerKernel({ kernelName: CROSS_ENTROPY, backendName: "webgpu", kernelFunc: crossEntropy() });
  tf.registerKernel({ kernelName: CROSS_ENTROPY_GRAD, backendName: "webgpu", kernelFunc: crossEntropyGrad() });
  tf.registerGradient(batchNormTrainGradConfig);
  tf.registerGradient(crossEntropyGradConfig);
  tf.registerKernel({ kernelName: ADD_RELU, backendName: "webgpu", kernelFunc: addRelu() });
  tf.registerGradient(addReluGradConfig);
  // nn's BatchNorm2d and CrossEntropyLoss, models' AddReLU, backend/gradients.ts's Relu gradient and optim's SGD run
  // these while webgpuKernelOptions.tsdl.
  for (const name of [ADD_RELU, CROSS_ENTROPY, RELU_GRAD, SGD_FUSED_STEP]) offerKernel(name, "webgpu", () => webgpuKernelOptions.tsdl);
  offerKernel(BATCH_NORM_TRAIN, "webgpu", () => webgpuKernelOptions.tsdl && batchNormRuns(tf.backend() as unknown as Backend));
  registered = true;
}
