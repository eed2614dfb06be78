// Tile, Sum, Mean, MaxPoolGrad, FusedBatchNorm, Relu (and its gradient), Add, Sub and Multiply for the wasm backend
// on the native addon. The stock wasm kernels are scalar loops (Tile, MaxPoolGrad), transpose the whole tensor first
// (Sum/Mean over the N, H, W axes of NHWC, as every batch-norm statistic and gradient does) or run on one thread.
// Cases outside the fast paths go to the stock kernel.
import * as tf from "@tensorflow/tfjs";
import { SGD_STEP, type SgdStepAttrs } from "../../../core/kernels";
import type { NativeConv } from "./addon";
import { poolGradArgs } from "./geometry";
import { at, heap, type WasmBackendView } from "./heap";

type TensorInfo = tf.TensorInfo;

/** out = tile(x, reps) for 4-byte dtypes. */
export function nativeTile(native: NativeConv, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const x = args.inputs.x as TensorInfo;
    const reps = (args.attrs as { reps: number[] }).reps;
    const size = tf.util.sizeFromShape(x.shape);
    if (
      !(x.dtype === "float32" || x.dtype === "int32") ||
      x.shape.length === 0 ||
      x.shape.length > 8 ||
      size === 0 ||
      reps.some((r) => r < 1)
    ) {
      return fallback(args);
    }
    const b = args.backend as unknown as WasmBackendView;
    const out = b.makeOutput(
      x.shape.map((s, i) => s * reps[i]),
      x.dtype,
    );
    native.tile(heap(b), Int32Array.from(x.shape), Int32Array.from(reps), at(b, x), at(b, out));
    return out;
  };
}

/** Σ (or mean) over leading or trailing axes of a float32 tensor, in one pass with double accumulators. */
export function nativeReduce(native: NativeConv, fallback: tf.KernelFunc, mean: boolean): tf.KernelFunc {
  return (args) => {
    const x = args.inputs.x as TensorInfo;
    const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
    if (x.dtype !== "float32" || x.shape.length === 0) return fallback(args);
    const axes = [...new Set(tf.util.parseAxisParam(axis, x.shape))].sort((p, q) => p - q);
    const rank = x.shape.length;
    const leading = axes.every((a, i) => a === i);
    const trailing = axes.every((a, i) => a === rank - axes.length + i);
    if (axes.length === 0 || axes.length === rank || !(leading || trailing)) return fallback(args);
    const reduced = tf.util.sizeFromShape(axes.map((a) => x.shape[a]));
    if (reduced === 0) return fallback(args);
    const kept = tf.util.sizeFromShape(x.shape.filter((_, i) => !axes.includes(i)));
    const outShape = keepDims ? x.shape.map((s, i) => (axes.includes(i) ? 1 : s)) : x.shape.filter((_, i) => !axes.includes(i));
    const b = args.backend as unknown as WasmBackendView;
    const out = b.makeOutput(outShape, "float32");
    const [rows, cols] = leading ? [reduced, kept] : [kept, reduced];
    native.reduceSum(heap(b), at(b, x), at(b, out), rows, cols, leading ? 1 : 0, mean ? 1 / reduced : 1);
    return out;
  };
}

/** dx of max pooling (NHWC, float32): dy goes to the first maximum of each window (row-major scan), as tfjs's cpu kernel and PyTorch. */
export function nativeMaxPoolGrad(native: NativeConv, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const pool = poolGradArgs(args);
    if (!pool) return fallback(args);
    const { dy, input, info: info } = pool;
    const b = args.backend as unknown as WasmBackendView;
    const out = b.makeOutput(input.shape, "float32");
    const geo = Int32Array.of(
      info.batchSize,
      info.inHeight,
      info.inWidth,
      info.inChannels,
      info.outHeight,
      info.outWidth,
      info.filterHeight,
      info.filterWidth,
      info.strideHeight,
      info.strideWidth,
      info.padInfo.top,
      info.padInfo.left,
    );
    native.maxPoolGrad(heap(b), geo, at(b, input), at(b, dy), at(b, out));
    return out;
  };
}

/** FusedBatchNorm (inference form, given statistics) over the last axis: y = x·a[c] + b[c] in one pass. */
export function nativeBatchNorm(native: NativeConv, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x, mean, variance, offset, scale } = args.inputs as Record<string, TensorInfo | undefined>;
    const eps = (args.attrs as { varianceEpsilon: number }).varianceEpsilon;
    const C = x!.shape[x!.shape.length - 1];
    const perChannel = (t: TensorInfo | undefined) => t === undefined || (t.dtype === "float32" && tf.util.sizeFromShape(t.shape) === C);
    if (
      x!.dtype !== "float32" ||
      x!.shape.length === 0 ||
      !C ||
      ![mean, variance].every((t) => t !== undefined && perChannel(t)) ||
      !perChannel(offset) ||
      !perChannel(scale)
    ) {
      return fallback(args);
    }
    const b = args.backend as unknown as WasmBackendView;
    const out = b.makeOutput(x!.shape, "float32");
    const rows = tf.util.sizeFromShape(x!.shape) / C;
    native.batchNorm(
      heap(b),
      at(b, x!),
      at(b, out),
      rows,
      C,
      at(b, mean!),
      at(b, variance!),
      scale ? at(b, scale) : -1,
      offset ? at(b, offset) : -1,
      eps,
    );
    return out;
  };
}

/** Below this many elements the stock (single-threaded XNNPACK) kernels are as fast: the add-on is not called. */
const NATIVE_MIN = 1 << 15;

const BINARY_OPS: Record<string, number> = { [tf.Add]: 0, [tf.Sub]: 1, [tf.Multiply]: 2 };

/** Add, Sub, Multiply of float32 tensors of one shape, or of a tensor and a scalar, on both threads (same bits). */
export function nativeBinary(native: NativeConv, fallback: tf.KernelFunc, kernelName: string): tf.KernelFunc {
  const op = BINARY_OPS[kernelName];
  return (args) => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const [sa, sb] = [tf.util.sizeFromShape(a.shape), tf.util.sizeFromShape(b.shape)];
    const aScalar = sa === 1 && a.shape.length <= b.shape.length;
    const bScalar = sb === 1 && b.shape.length <= a.shape.length && !aScalar;
    const sameShape = tf.util.arraysEqual(a.shape, b.shape);
    const big = aScalar ? b : a;
    if (
      a.dtype !== "float32" ||
      b.dtype !== "float32" ||
      !(sameShape || aScalar || bScalar) ||
      tf.util.sizeFromShape(big.shape) < NATIVE_MIN
    ) {
      return fallback(args);
    }
    const w = args.backend as unknown as WasmBackendView;
    const out = w.makeOutput(big.shape, "float32");
    native.binary(heap(w), op, at(w, a), at(w, b), at(w, out), tf.util.sizeFromShape(big.shape), aScalar ? 1 : 0, bScalar ? 1 : 0);
    return out;
  };
}

/** SGD_STEP (core/kernels.ts) in one pass on both threads. */
export function nativeSgdStep(native: NativeConv): tf.KernelFunc {
  return (args) => {
    const { p, grad } = args.inputs as { p: TensorInfo; grad: TensorInfo };
    const { lr, weightDecay, maximize } = args.attrs as unknown as SgdStepAttrs;
    if (p.dtype !== "float32" || grad.dtype !== "float32" || !tf.util.arraysEqual(p.shape, grad.shape)) {
      throw new Error(
        `tsdl: ${SGD_STEP} takes float32 p and grad of one shape, got ${p.dtype} [${p.shape}] and ${grad.dtype} [${grad.shape}]`,
      );
    }
    const w = args.backend as unknown as WasmBackendView;
    const out = w.makeOutput(p.shape, "float32");
    native.sgdStep(heap(w), at(w, p), at(w, grad), at(w, out), tf.util.sizeFromShape(p.shape), weightDecay, -lr, maximize ? 1 : 0);
    return out;
  };
}

/** Relu of a float32 tensor on both threads (NaN stays NaN, as the stock kernel). */
export function nativeRelu(native: NativeConv, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const x = args.inputs.x as TensorInfo;
    const n = tf.util.sizeFromShape(x.shape);
    if (x.dtype !== "float32" || n < NATIVE_MIN) return fallback(args);
    const w = args.backend as unknown as WasmBackendView;
    const out = w.makeOutput(x.shape, "float32");
    native.relu(heap(w), at(w, x), at(w, out), n);
    return out;
  };
}

/** RELU_GRAD (core/kernels.ts) in one pass, on both threads from NATIVE_MIN elements. */
export function nativeReluGrad(native: NativeConv): tf.KernelFunc {
  return (args) => {
    const { dy, x } = args.inputs as { dy: TensorInfo; x: TensorInfo };
    const w = args.backend as unknown as WasmBackendView;
    const out = w.makeOutput(x.shape, "float32");
    native.reluGrad(heap(w), at(w, dy), at(w, x), at(w, out), tf.util.sizeFromShape(x.shape));
    return out;
  };
}

/** Slice of a float32 or int32 tensor of rank 1 to 4 (copies of contiguous runs, on both threads). */
export function nativeSlice(native: NativeConv, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const x = args.inputs.x as TensorInfo;
    const { begin, size } = args.attrs as unknown as { begin: number | number[]; size: number | number[] };
    const [b, s] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, begin, size);
    const n = tf.util.sizeFromShape(s);
    if (!(x.dtype === "float32" || x.dtype === "int32") || x.shape.length === 0 || x.shape.length > 4 || n < NATIVE_MIN)
      return fallback(args);
    const pad = (v: number[], fill: number) => Int32Array.from([...new Array(4 - v.length).fill(fill), ...v]);
    const w = args.backend as unknown as WasmBackendView;
    const out = w.makeOutput(s, x.dtype);
    native.slice(heap(w), at(w, x), at(w, out), pad(x.shape, 1), pad(b, 0), pad(s, 1));
    return out;
  };
}

/** AvgPoolGrad (NHWC, float32) when every window lies inside the input; else the stock kernel. */
export function nativeAvgPoolGrad(native: NativeConv, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const pool = poolGradArgs(args);
    if (!pool) return fallback(args);
    const { dy, input, info: i } = pool;
    const p = i.padInfo;
    if (
      p.top ||
      p.left ||
      p.bottom ||
      p.right ||
      (i.outHeight - 1) * i.strideHeight + i.filterHeight > i.inHeight ||
      (i.outWidth - 1) * i.strideWidth + i.filterWidth > i.inWidth
    ) {
      return fallback(args);
    }
    const w = args.backend as unknown as WasmBackendView;
    const out = w.makeOutput(input.shape, "float32");
    const geo = Int32Array.of(
      i.batchSize,
      i.inHeight,
      i.inWidth,
      i.inChannels,
      i.outHeight,
      i.outWidth,
      i.filterHeight,
      i.filterWidth,
      i.strideHeight,
      i.strideWidth,
    );
    native.avgPoolGrad(heap(w), geo, at(w, dy), at(w, out));
    return out;
  };
}
