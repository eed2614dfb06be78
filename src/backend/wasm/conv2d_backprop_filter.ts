// dW of an NHWC conv2d for the wasm backend (stock tfjs-backend-wasm has no Conv2DBackpropFilter), on XNNPACK.
import * as tf from "@tensorflow/tfjs";
import { convGeometry, type ConvGeometry, type ConvGradAttrs } from "./native/geometry";
import { Scratch, withScratch, type TensorInfo } from "./scratch";

/** How dW is computed; both run on XNNPACK. */
export type FilterGradStrategy = "im2col" | "conv";

export interface FilterGradOptions {
  strategy: FilterGradStrategy;
  /** Largest im2col matrix, in floats, before the batch is split into chunks (default 2^23 = 32 MiB). */
  maxColumns: number;
}

/** "conv" is the default: 1.6x the forward conv's time on the course ResNet at batch 64, "im2col" 5.7x
 * (its strided slices are scalar C++ loops); bench/wasm-conv.ts measures both. */
export const filterGradOptions: FilterGradOptions = { strategy: "conv", maxColumns: 1 << 23 };

/**
 * Conv2DBackpropFilter: dW[p, q, c, o] = Σ_{n, i, j} x[n, i·sH + p - padTop, j·sW + q - padLeft, c] · dy[n, i, j, o]
 * (x is zero outside the image).
 */
export function conv2dBackpropFilter(args: {
  inputs: { x: TensorInfo; dy: TensorInfo };
  backend: tf.KernelBackend;
  attrs: ConvGradAttrs & { filterShape: [number, number, number, number] };
}): TensorInfo {
  const { x, dy } = args.inputs;
  const g = convGeometry("Conv2DBackpropFilter", x.shape as [number, number, number, number], args.attrs.filterShape, args.attrs);
  return withScratch(args.backend, (s) =>
    filterGradOptions.strategy === "conv" ? viaConv(s, g, x, dy) : viaIm2col(s, g, x, dy, filterGradOptions.maxColumns),
  );
}

/**
 * im2col, laid out transposed so that one untransposed matmul (XNNPACK fully-connected, dy as the weights)
 * gives dW directly: cols[(p, q, c), (n, i, j)] = xᵀ[c, n, i·sH + p, j·sW + q] (x padded), dW = cols · dy.
 * The batch is split so that cols stays under `maxColumns` floats; chunk results are summed.
 */
function viaIm2col(s: Scratch, g: ConvGeometry, x: TensorInfo, dy: TensorInfo, maxColumns: number): TensorInfo {
  const rows = g.kH * g.kW * g.inC;
  const perImage = rows * g.outH * g.outW;
  const chunk = Math.max(1, Math.min(g.n, Math.floor(maxColumns / perImage)));
  let total: TensorInfo | undefined;
  for (let n0 = 0; n0 < g.n; n0 += chunk) {
    const nb = Math.min(chunk, g.n - n0);
    const xb = nb === g.n ? x : s.slice(x, [n0, 0, 0, 0], [nb, g.inH, g.inW, g.inC]);
    const dyb = nb === g.n ? dy : s.slice(dy, [n0, 0, 0, 0], [nb, g.outH, g.outW, g.outC]);
    const part = im2colChunk(s, g, xb, dyb, nb);
    total = total === undefined ? part : s.add(total, part);
  }
  return s.reshape(total as TensorInfo, [g.kH, g.kW, g.inC, g.outC]);
}

function im2colChunk(s: Scratch, g: ConvGeometry, x: TensorInfo, dy: TensorInfo, nb: number): TensorInfo {
  const cols = nb * g.outH * g.outW;
  const dy2 = s.reshape(dy, [cols, g.outC]);
  // xᵀ [c, n, h, w]: every (p, q) tap is then a strided window whose rows are whole (n, i, j) runs.
  let xt = s.transpose(x, [3, 0, 1, 2]);
  const [, , h, w] = xt.shape;
  if (g.padTop || g.padBottom || g.padLeft || g.padRight) {
    xt = s.pad(xt, [
      [0, 0],
      [0, 0],
      [g.padTop, g.padBottom],
      [g.padLeft, g.padRight],
    ]);
  }
  const spanH = (g.outH - 1) * g.strideH + 1;
  const spanW = (g.outW - 1) * g.strideW + 1;
  let col: TensorInfo;
  if (
    g.kH === 1 &&
    g.kW === 1 &&
    g.strideH === 1 &&
    g.strideW === 1 &&
    spanH === h + g.padTop + g.padBottom &&
    spanW === w + g.padLeft + g.padRight
  ) {
    col = s.reshape(xt, [g.inC, cols]);
  } else {
    const taps: TensorInfo[] = [];
    for (let p = 0; p < g.kH; p++) {
      for (let q = 0; q < g.kW; q++) {
        const tap = s.stridedSlice(xt, [0, 0, p, q], [g.inC, nb, p + spanH, q + spanW], [1, 1, g.strideH, g.strideW]);
        taps.push(s.reshape(tap, [g.inC, cols]));
      }
    }
    col = taps.length === 1 ? taps[0] : s.concat(taps, 0);
  }
  return s.matMul(col, dy2); // [kH·kW·inC, outC]
}

/**
 * dW as one XNNPACK conv2d with the roles swapped: the input channels become the batch, the batch becomes the
 * channels, dy is the filter and the stride becomes the dilation:
 * dWᵀ[c, p, q, o] = Σ_{i, j, n} xᵀ[c, p + sH·i - padTop, q + sW·j - padLeft, n] · dyᵀ[i, j, n, o].
 */
function viaConv(s: Scratch, g: ConvGeometry, x: TensorInfo, dy: TensorInfo): TensorInfo {
  const xt = s.transpose(x, [3, 1, 2, 0]); // [c, h, w, n]
  const dyt = s.transpose(dy, [1, 2, 0, 3]); // [i, j, n, o]
  let out = s.conv2d(
    xt,
    dyt,
    [1, 1],
    [
      [0, 0],
      [g.padTop, g.padBottom],
      [g.padLeft, g.padRight],
      [0, 0],
    ],
    [g.strideH, g.strideW],
  );
  // The output can be taller/wider than the filter when the stride does not divide the padded size.
  if (out.shape[1] !== g.kH || out.shape[2] !== g.kW) out = s.slice(out, [0, 0, 0, 0], [g.inC, g.kH, g.kW, g.outC]);
  return s.transpose(out, [1, 2, 0, 3]);
}
