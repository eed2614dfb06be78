// FusedBatchNorm's gradient in two native passes on wasm, instead of tfjs's ~14 full-size elementwise ops.
import * as tf from "@tensorflow/tfjs";
import type { NativeConv } from "./addon";
import { at, heap, type WasmBackendView } from "./heap";

type TensorInfo = tf.TensorInfo;

/** Kernel name of the fused gradient (wasm only): inputs x, dy, mean, variance[, scale]; outputs dx, dmean, dvar, dscale, doffset. */
export const BATCH_NORM_GRAD = "TsdlFusedBatchNormGrad";

export function nativeBatchNormGrad(native: NativeConv): tf.KernelFunc {
  return (args) => {
    const { x, dy, mean, variance, scale } = args.inputs as Record<string, TensorInfo | undefined>;
    const eps = (args.attrs as { varianceEpsilon: number }).varianceEpsilon;
    const b = args.backend as unknown as WasmBackendView;
    const C = x!.shape[x!.shape.length - 1];
    const outs = [b.makeOutput(x!.shape, "float32"), ...[0, 1, 2, 3].map(() => b.makeOutput([C], "float32"))];
    const off = (t: TensorInfo) => at(b, t);
    native.batchNormGrad(
      heap(b), off(x!), off(dy!), tf.util.sizeFromShape(x!.shape) / C, C, off(mean!), off(variance!),
      scale ? off(scale) : -1, eps, ...(outs.map(off) as [number, number, number, number, number]),
    );
    return outs;
  };
}

type GradFunc = tf.GradConfig["gradFunc"];

/**
 * Wrap tfjs's FusedBatchNorm gradient: on wasm with the native kernel, per-channel statistics and float32 data,
 * one fused kernel computes all five gradients (same formulas); anything else runs tfjs's own gradient.
 */
export function fusedBatchNormGradConfig(original: tf.GradConfig, enabled: () => boolean): tf.GradConfig {
  const gradFunc: GradFunc = (dy, saved, attrs) => {
    const [x, mean, variance, scale] = saved;
    const d = dy as tf.Tensor;
    const C = x.shape[x.shape.length - 1];
    const perChannel = (t: tf.Tensor | undefined) => t == null || (t.rank === 1 && t.size === C && t.dtype === "float32");
    if (!(enabled() && tf.getBackend() === "wasm" && tf.getKernel(BATCH_NORM_GRAD, "wasm") && x.dtype === "float32" &&
        d.dtype === "float32" && perChannel(mean) && perChannel(variance) && perChannel(scale))) {
      return original.gradFunc(dy, saved, attrs);
    }
    const inputs: tf.NamedTensorMap = { x, dy: d, mean, variance };
    if (scale != null) inputs.scale = scale;
    const [dx, dmean, dvar, dscale, doffset] = tf.engine().runKernel(BATCH_NORM_GRAD, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
    return { x: () => dx, mean: () => dmean, variance: () => dvar, scale: () => dscale, offset: () => doffset };
  };
  return { ...original, gradFunc };
}
