// Batch norm on the native add-on: FusedBatchNorm's gradient in two passes instead of tfjs's ~14 full-size
// elementwise ops, and batch norm in training mode (batch statistics included) forward and backward.
import * as tf from "@tensorflow/tfjs";
import { BATCH_NORM_TRAIN, type BatchNormTrainAttrs } from "../../../core/kernels";
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
      heap(b),
      off(x!),
      off(dy!),
      tf.util.sizeFromShape(x!.shape) / C,
      C,
      off(mean!),
      off(variance!),
      scale ? off(scale) : -1,
      eps,
      ...(outs.map(off) as [number, number, number, number, number]),
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
    if (!(
      enabled() &&
      tf.getBackend() === "wasm" &&
      tf.getKernel(BATCH_NORM_GRAD, "wasm") &&
      x.dtype === "float32" &&
      d.dtype === "float32" &&
      perChannel(mean) &&
      perChannel(variance) &&
      perChannel(scale)
    )) {
      return original.gradFunc(dy, saved, attrs);
    }
    const inputs: tf.NamedTensorMap = { x, dy: d, mean, variance };
    if (scale != null) inputs.scale = scale;
    const [dx, dmean, dvar, dscale, doffset] = tf
      .engine()
      .runKernel(BATCH_NORM_GRAD, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
    return { x: () => dx, mean: () => dmean, variance: () => dvar, scale: () => dscale, offset: () => doffset };
  };
  return { ...original, gradFunc };
}

/** Batch norm in training mode (core/kernels.ts BATCH_NORM_TRAIN): batch statistics and y in two native passes. */
export function nativeBatchNormTrain(native: NativeConv): tf.KernelFunc {
  return (args) => {
    const { x, scale, offset, runningMean, runningVar } = args.inputs as Record<string, TensorInfo | undefined>;
    const { varianceEpsilon, relu, momentum, varianceFactor } = args.attrs as unknown as BatchNormTrainAttrs;
    const C = x!.shape[x!.shape.length - 1];
    checkBatchNormTrain(x!, { scale: scale!, offset: offset!, ...(runningMean && runningVar ? { runningMean, runningVar } : {}) }, C);
    const b = args.backend as unknown as WasmBackendView;
    const [y, mean, variance] = [b.makeOutput(x!.shape, "float32"), b.makeOutput([C], "float32"), b.makeOutput([C], "float32")];
    native.batchNormTrain(
      heap(b),
      at(b, x!),
      at(b, y),
      tf.util.sizeFromShape(x!.shape) / C,
      C,
      at(b, scale!),
      at(b, offset!),
      varianceEpsilon,
      relu ? 1 : 0,
      at(b, mean),
      at(b, variance),
    );
    if (!runningMean || !runningVar) return [y, mean, variance];
    return [y, mean, variance, ...runningUpdate(b, { runningMean, runningVar, mean, variance }, momentum!, varianceFactor!)];
  };
}

/**
 * The running statistics' update of BATCH_NORM_TRAIN (C values each: JavaScript, no native call). Each product
 * and sum rounded to float32, as the composed tfjs ops (a product of two floats is exact in a double).
 */
function runningUpdate(
  b: WasmBackendView,
  t: { runningMean: TensorInfo; runningVar: TensorInfo; mean: TensorInfo; variance: TensorInfo },
  momentum: number,
  varianceFactor: number,
): [TensorInfo, TensorInfo] {
  const C = tf.util.sizeFromShape(t.mean.shape);
  const outs: [TensorInfo, TensorInfo] = [b.makeOutput(t.runningMean.shape, "float32"), b.makeOutput(t.runningVar.shape, "float32")];
  const view = (u: TensorInfo) => new Float32Array(heap(b), at(b, u), C);
  const [rm, rv, m, v, om, ov] = [t.runningMean, t.runningVar, t.mean, t.variance, ...outs].map(view);
  const f = Math.fround;
  const [keep, mom, factor] = [f(1 - momentum), f(momentum), f(varianceFactor)];
  for (let c = 0; c < C; c++) {
    om[c] = f(f(rm[c] * keep) + f(m[c] * mom));
    ov[c] = f(f(rv[c] * keep) + f(f(v[c] * factor) * mom));
  }
  return outs;
}

/** dx, dscale, doffset of BATCH_NORM_TRAIN in two native passes (the batch statistics' own gradients included). */
export function nativeBatchNormTrainGrad(native: NativeConv): tf.KernelFunc {
  return (args) => {
    const { x, dy, y, mean, variance, scale, dmean, dvar } = args.inputs as Record<string, TensorInfo>;
    const { varianceEpsilon, relu } = args.attrs as unknown as BatchNormTrainAttrs;
    const C = x.shape[x.shape.length - 1];
    checkBatchNormTrain(x, { mean, variance, scale, dmean, dvar }, C);
    const b = args.backend as unknown as WasmBackendView;
    const outs = [b.makeOutput(x.shape, "float32"), b.makeOutput([C], "float32"), b.makeOutput([C], "float32")];
    native.batchNormTrainGrad(
      heap(b),
      at(b, x),
      at(b, dy),
      relu ? at(b, y) : -1,
      tf.util.sizeFromShape(x.shape) / C,
      C,
      at(b, mean),
      at(b, variance),
      at(b, scale),
      varianceEpsilon,
      at(b, dmean),
      at(b, dvar),
      ...(outs.map((t) => at(b, t)) as [number, number, number]),
    );
    return outs;
  };
}

function checkBatchNormTrain(x: TensorInfo, perChannel: Record<string, TensorInfo>, C: number): void {
  if (x.dtype !== "float32" || x.shape.length < 2 || !(C > 0)) {
    throw new Error(
      `tsdl ${BATCH_NORM_TRAIN}: x must be a float32 tensor of rank >= 2 with channels last, got ${x.dtype} [${x.shape.join(", ")}]`,
    );
  }
  for (const [name, t] of Object.entries(perChannel)) {
    if (t.dtype !== "float32" || tf.util.sizeFromShape(t.shape) !== C) {
      throw new Error(
        `tsdl ${BATCH_NORM_TRAIN}: ${name} must be float32 with one value per channel (${C}), got ${t.dtype} [${t.shape.join(", ")}]`,
      );
    }
  }
}
