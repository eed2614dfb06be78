// tsdl's kernels for tfjs-backend-webgpu, registered when tsdl selects webgpu (see each file for why it exists).
// TSDL_WEBGPU_KERNELS=stock (or webgpuKernelOptions.tsdl = false at run time) runs tfjs's own kernels instead,
// so a benchmark can compare both in one process.
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
import { batchNormTrain, batchNormTrainGrad } from "./batchnorm_train";
import { conv2dBackpropFilter } from "./conv2d_backprop_filter";
import { crossEntropy, crossEntropyGrad } from "./cross_entropy";
import { conv2dBackpropInput } from "./conv2d_backprop_input";
import { addRelu, relu, reluGrad } from "./relu";
import { sgdFusedStep } from "./sgd";

export interface WebgpuKernelOptions {
  /** Use tsdl's kernels (default true; TSDL_WEBGPU_KERNELS=stock makes it false). */
  tsdl: boolean;
}

export const webgpuKernelOptions: WebgpuKernelOptions = { tsdl: process.env.TSDL_WEBGPU_KERNELS !== "stock" };

/** tsdl's kernels: each gets the stock kernel's function to fall back on. */
const KERNELS: Array<{ name: string; make: (stock: tf.KernelFunc) => tf.KernelFunc }> = [
  { name: tf.Conv2DBackpropFilter, make: conv2dBackpropFilter },
  { name: tf.Conv2DBackpropInput, make: conv2dBackpropInput },
  { name: tf.Relu, make: relu },
];

/** The kernels tsdl replaces on webgpu, by tfjs kernel name. */
export const webgpuKernelNames: readonly string[] = KERNELS.map((k) => k.name);

let registered = false;

export function registerWebgpuKernels(): void {
  if (registered) return;
  for (const { name, make } of KERNELS) {
    const stock = tf.getKernel(name, "webgpu");
    if (!stock) throw new Error(`tsdl: tfjs-backend-webgpu has no '${name}' kernel to replace`);
    const ours = make(stock.kernelFunc);
    tf.unregisterKernel(name, "webgpu");
    tf.registerKernel({ ...stock, kernelFunc: (args) => (webgpuKernelOptions.tsdl ? ours(args) : stock.kernelFunc(args)) });
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
  for (const name of [ADD_RELU, BATCH_NORM_TRAIN, CROSS_ENTROPY, RELU_GRAD, SGD_FUSED_STEP])
    offerKernel(name, "webgpu", () => webgpuKernelOptions.tsdl);
  registered = true;
}
