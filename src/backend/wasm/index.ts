// Training kernels for tfjs-backend-wasm, registered when tsdl selects wasm.
//
// Stock tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter and a scalar-loop Conv2DBackpropInput. tsdl registers
//  - on XNNPACK (always available): Conv2DBackpropInput as a conv2d of the upsampled dy with the flipped filter,
//    Conv2DBackpropFilter as a conv2d with batch and channels swapped;
//  - on the native addon when it builds (system C compiler + OpenBLAS, oneDNN if present; see native/addon.ts):
//    Conv2D, FusedConv2D and both gradients as oneDNN direct convolutions or im2col + multi-threaded sgemm
//    (the faster per shape, chosen once per machine: native/choices.ts), in place in wasm memory; Tile, Sum/Mean
//    over leading or trailing axes, MaxPoolGrad and FusedBatchNorm, whose stock versions are scalar loops or
//    transpose first; Relu, Add, Sub, Multiply of large float32 tensors on both threads; FusedBatchNorm's and Relu's
//    gradients as one kernel each (wrappers around tfjs's gradients, active on wasm only; Mean's and Sum's gradients
//    are ../gradients.ts, for every backend); nn.BatchNorm2d's training mode as one kernel each way (core/kernels.ts);
//  - always: Identity and same-dtype Cast share the data instead of copying it.
// Switches: TSDL_WASM_NATIVE=0 (no addon), TSDL_WASM_DNNL=0 (oneDNN off; also builds without it), wasmKernelOptions.
import * as tf from "@tensorflow/tfjs";
import { conv2dBackpropFilter } from "./conv2d_backprop_filter";
import { conv2dBackpropInput } from "./conv2d_backprop_input";
import { jsMaxPoolGrad } from "./max_pool_grad";
import { BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD, batchNormTrainGradConfig, offerKernel, RELU_GRAD, SGD_STEP } from "../../core/kernels";
import { buildScript, loadNative, nativeStatus, type NativeConv } from "./native/addon";
import {
  BATCH_NORM_GRAD,
  fusedBatchNormGradConfig,
  nativeBatchNormGrad,
  nativeBatchNormTrain,
  nativeBatchNormTrainGrad,
} from "./native/batchnorm";
import { nativeBackpropFilter, nativeBackpropInput, nativeForward, type ConvOptions } from "./native/conv";
import {
  nativeAvgPoolGrad,
  nativeBatchNorm,
  nativeBinary,
  nativeMaxPoolGrad,
  nativeReduce,
  nativeRelu,
  nativeReluGrad,
  nativeSlice,
  nativeSgdStep,
  nativeTile,
} from "./native/ops";
import type { TensorInfo } from "./scratch";

export { filterGradOptions } from "./conv2d_backprop_filter";
export type { FilterGradOptions, FilterGradStrategy } from "./conv2d_backprop_filter";
export { nativeStatus } from "./native/addon";
export type { NativeStatus } from "./native/addon";

export interface WasmKernelOptions extends ConvOptions {
  /** Use the native kernels when they load (default true; TSDL_WASM_NATIVE=0 stops loading them). */
  native: boolean;
}

export const wasmKernelOptions: WasmKernelOptions = {
  native: true,
  dnnl: process.env.TSDL_WASM_DNNL === "0" ? "off" : "auto",
  convChoices: buildScript().paths.convChoices,
};

/** The stock kernels that were replaced, by name (for benchmarks that compare against them). */
export const stockKernels = new Map<string, tf.KernelConfig>();

function stock(name: string): tf.KernelFunc {
  const config = stockKernels.get(name);
  if (!config) throw new Error(`tsdl: the wasm backend has no stock '${name}' kernel`);
  return config.kernelFunc;
}

function native(): NativeConv | undefined {
  return wasmKernelOptions.native ? loadNative() : undefined;
}

/** The kernels tsdl adds to (or replaces in) the wasm backend. */
export const wasmTrainingKernels: tf.KernelConfig[] = [
  {
    kernelName: tf.Conv2DBackpropFilter,
    backendName: "wasm",
    kernelFunc: (args) => {
      const n = native();
      return n ? nativeBackpropFilter(n, wasmKernelOptions)(args) : conv2dBackpropFilter(args as never);
    },
  },
  {
    kernelName: tf.Conv2DBackpropInput,
    backendName: "wasm",
    kernelFunc: (args) => {
      const n = native();
      return n ? nativeBackpropInput(n, wasmKernelOptions)(args) : conv2dBackpropInput(args as never);
    },
  },
  {
    kernelName: tf.Conv2D,
    backendName: "wasm",
    kernelFunc: (args) => {
      const n = native();
      return n ? nativeForward(n, stock(tf.Conv2D), wasmKernelOptions)(args) : stock(tf.Conv2D)(args);
    },
  },
  {
    kernelName: tf.FusedConv2D,
    backendName: "wasm",
    kernelFunc: (args) => {
      const n = native();
      return n ? nativeForward(n, stock(tf.FusedConv2D), wasmKernelOptions)(args) : stock(tf.FusedConv2D)(args);
    },
  },
  {
    // The engine clones every tensor it saves for the backward pass (engine.clone -> Identity). wasm's Identity
    // copies the data (about 1.1 GB per course-ResNet step at batch 64); tensors are immutable, so share it as
    // the cpu backend and wasm's own Reshape do.
    kernelName: tf.Identity,
    backendName: "wasm",
    kernelFunc: (args) => {
      const x = args.inputs.x as TensorInfo;
      if (x.dtype === "string") return stock(tf.Identity)(args);
      (args.backend as tf.KernelBackend).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
  },
  {
    kernelName: tf.Cast,
    backendName: "wasm",
    kernelFunc: (args) => {
      const x = args.inputs.x as TensorInfo;
      if (x.dtype !== (args.attrs as { dtype: tf.DataType }).dtype || x.dtype === "string") return stock(tf.Cast)(args);
      (args.backend as tf.KernelBackend).incRef(x.dataId); // a cast to the same dtype (the ReLU gradient does one) is a no-op
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
  },
  ...(
    [
      [tf.Tile, (n: NativeConv) => nativeTile(n, stock(tf.Tile))],
      [tf.Sum, (n: NativeConv) => nativeReduce(n, stock(tf.Sum), false)],
      [tf.Mean, (n: NativeConv) => nativeReduce(n, stock(tf.Mean), true)],
      [tf.MaxPoolGrad, (n: NativeConv) => nativeMaxPoolGrad(n, stock(tf.MaxPoolGrad))],
      [tf.FusedBatchNorm, (n: NativeConv) => nativeBatchNorm(n, stock(tf.FusedBatchNorm))],
      [tf.Relu, (n: NativeConv) => nativeRelu(n, stock(tf.Relu))],
      [tf.Slice, (n: NativeConv) => nativeSlice(n, stock(tf.Slice))],
      [tf.AvgPoolGrad, (n: NativeConv) => nativeAvgPoolGrad(n, stock(tf.AvgPoolGrad))],
      ...[tf.Add, tf.Sub, tf.Multiply].map((k): [string, (n: NativeConv) => tf.KernelFunc] => [k, (n) => nativeBinary(n, stock(k), k)]),
    ] as Array<[string, (n: NativeConv) => tf.KernelFunc]>
  ).map(([kernelName, make]): tf.KernelConfig => ({
    kernelName,
    backendName: "wasm",
    kernelFunc: (args) => {
      const n = native();
      if (n) return make(n)(args);
      // The stock MaxPoolGrad is wrong with 'same' padding / ragged windows: never fall back to it.
      return kernelName === tf.MaxPoolGrad ? jsMaxPoolGrad(stock(kernelName))(args) : stock(kernelName)(args);
    },
  })),
];

let registered = false;
let gradientWrapped = false;

/** Register tsdl's wasm kernels (idempotent). Run by `backend.init()` when it selects wasm. */
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  if (!gradientWrapped) {
    // Kernels of tsdl's own (not tfjs's), on the native add-on only.
    const nativeOnly: Array<[string, (n: NativeConv) => tf.KernelFunc]> = [
      [BATCH_NORM_GRAD, nativeBatchNormGrad],
      [BATCH_NORM_TRAIN, nativeBatchNormTrain],
      [BATCH_NORM_TRAIN_GRAD, nativeBatchNormTrainGrad],
      [RELU_GRAD, nativeReluGrad],
      [SGD_STEP, nativeSgdStep],
    ];
    for (const [kernelName, make] of nativeOnly) {
      tf.registerKernel({
        kernelName,
        backendName: "wasm",
        kernelFunc: (args) => {
          const n = native();
          if (!n) throw new Error(`tsdl: ${kernelName} needs the native kernels`);
          return make(n)(args);
        },
      });
    }
    tf.registerGradient(batchNormTrainGradConfig);
    offerKernel(BATCH_NORM_TRAIN, "wasm", () => registered && native() !== undefined); // nn's BatchNorm2d uses it then
    offerKernel(SGD_STEP, "wasm", () => registered && native() !== undefined); // optim's SGD without momentum
    offerKernel(RELU_GRAD, "wasm", () => registered && native() !== undefined); // Relu's gradient (backend/gradients.ts)
    // The gradient registry is shared by all backends: the wrapper runs tfjs's own gradient except on wasm.
    const original = tf.getGradient(tf.FusedBatchNorm);
    if (original) tf.registerGradient(fusedBatchNormGradConfig(original, () => registered && native() !== undefined));
    gradientWrapped = true;
  }
  for (const config of wasmTrainingKernels) {
    const existing = tf.getKernel(config.kernelName, "wasm");
    if (existing) {
      stockKernels.set(config.kernelName, existing);
      tf.unregisterKernel(config.kernelName, "wasm");
    }
    tf.registerKernel(config);
  }
  registered = true;
  nativeStatus(); // build/load now, not inside the first training step
}

/** Put back the stock kernels (benchmarks only). */
export function unregisterWasmTrainingKernels(): void {
  if (!registered) return;
  for (const config of wasmTrainingKernels) {
    tf.unregisterKernel(config.kernelName, "wasm");
    const original = stockKernels.get(config.kernelName);
    if (original) tf.registerKernel(original);
  }
  registered = false;
}
