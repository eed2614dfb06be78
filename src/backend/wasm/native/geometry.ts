// The shapes and paddings of a conv2d, checked once: shared by the XNNPACK gradient kernels and the native ones.
import * as tf from "@tensorflow/tfjs";

/** What tfjs passes to Conv2DBackpropInput / Conv2DBackpropFilter. */
export interface ConvGradAttrs {
  strides: number | [number, number];
  pad: "valid" | "same" | number | tf.backend_util.ExplicitPadding;
  dataFormat?: "NHWC" | "NCHW";
  dimRoundingMode?: "floor" | "round" | "ceil";
  /** tfjs never sends it (its conv2d gradient rejects dilations > 1 itself); checked in case a caller does. */
  dilations?: number | [number, number];
}

/** NHWC conv geometry: x [n, inH, inW, inC] * filter [kH, kW, inC, outC] -> y [n, outH, outW, outC]. */
export interface ConvGeometry {
  n: number;
  inH: number;
  inW: number;
  inC: number;
  outH: number;
  outW: number;
  outC: number;
  kH: number;
  kW: number;
  strideH: number;
  strideW: number;
  padTop: number;
  padBottom: number;
  padLeft: number;
  padRight: number;
}

export function convGeometry(
  kernel: string,
  xShape: [number, number, number, number],
  filterShape: [number, number, number, number],
  attrs: ConvGradAttrs,
): ConvGeometry {
  const dataFormat = attrs.dataFormat ?? "NHWC";
  if (dataFormat !== "NHWC") {
    throw new Error(`tsdl wasm ${kernel}: dataFormat ${JSON.stringify(dataFormat)} is not supported; accepted: "NHWC"`);
  }
  const d = attrs.dilations ?? 1;
  const [dH, dW] = typeof d === "number" ? [d, d] : d;
  if (dH !== 1 || dW !== 1) {
    throw new Error(`tsdl wasm ${kernel}: dilations ${JSON.stringify(d)} are not supported; accepted: 1 (or [1, 1])`);
  }
  const info = tf.backend_util.computeConv2DInfo(
    xShape,
    filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    "channelsLast",
  );
  const p = info.padInfo;
  return {
    n: info.batchSize,
    inH: info.inHeight,
    inW: info.inWidth,
    inC: info.inChannels,
    outH: info.outHeight,
    outW: info.outWidth,
    outC: info.outChannels,
    kH: info.filterHeight,
    kW: info.filterWidth,
    strideH: info.strideHeight,
    strideW: info.strideWidth,
    padTop: p.top,
    padBottom: p.bottom,
    padLeft: p.left,
    padRight: p.right,
  };
}

/** What tfjs passes to MaxPoolGrad. */
export type PoolAttrs = {
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: "valid" | "same" | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: "floor" | "round" | "ceil";
};

/**
 * A pooling gradient's dy, input and window geometry (what MaxPoolGrad and AvgPoolGrad get), or undefined when
 * they are not float32 NHWC tensors (the caller then runs the stock kernel).
 */
export function poolGradArgs(
  args: tf.KernelFunc extends (a: infer A) => unknown ? A : never,
): { dy: tf.TensorInfo; input: tf.TensorInfo; info: tf.backend_util.Conv2DInfo } | undefined {
  const { dy, input } = args.inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
  const { filterSize, strides, pad, dimRoundingMode } = args.attrs as unknown as PoolAttrs;
  if (input.dtype !== "float32" || dy.dtype !== "float32" || input.shape.length !== 4) return undefined;
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  return { dy, input, info };
}
