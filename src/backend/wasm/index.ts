// Training kernels for tfjs-backend-wasm, registered when tsdl selects wasm.
import * as tf from "@tensorflow/tfjs";
import { conv2dBackpropFilter } from "./conv2d_backprop_filter";
import { conv2dBackpropInput } from "./conv2d_backprop_input";

export { filterGradOptions } from "./conv2d_backprop_filter";
export type { FilterGradOptions, FilterGradStrategy } from "./conv2d_backprop_filter";

/** The kernels tsdl adds to (or replaces in) the wasm backend. */
export const wasmTrainingKernels: tf.KernelConfig[] = [
  { kernelName: tf.Conv2DBackpropFilter, backendName: "wasm", kernelFunc: conv2dBackpropFilter as unknown as tf.KernelFunc },
  { kernelName: tf.Conv2DBackpropInput, backendName: "wasm", kernelFunc: conv2dBackpropInput as unknown as tf.KernelFunc },
];

/** The stock kernels that were replaced, by name (for benchmarks that compare against them). */
export const stockKernels = new Map<string, tf.KernelConfig>();

let registered = false;

/** Register tsdl's wasm training kernels (idempotent). Run by `backend.init()` when it selects wasm. */
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  for (const config of wasmTrainingKernels) {
    const stock = tf.getKernel(config.kernelName, "wasm");
    if (stock) {
      stockKernels.set(config.kernelName, stock);
      tf.unregisterKernel(config.kernelName, "wasm");
    }
    tf.registerKernel(config);
  }
  registered = true;
}

/** Put back the stock kernels (benchmarks only). */
export function unregisterWasmTrainingKernels(): void {
  if (!registered) return;
  for (const config of wasmTrainingKernels) {
    tf.unregisterKernel(config.kernelName, "wasm");
    const stock = stockKernels.get(config.kernelName);
    if (stock) tf.registerKernel(stock);
  }
  registered = false;
}
