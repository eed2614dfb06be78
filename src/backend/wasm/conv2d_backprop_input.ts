// dx of an NHWC conv2d, as a forward conv2d on XNNPACK (wasm's stock kernel is a scalar C++ loop).
import * as tf from "@tensorflow/tfjs";
import { convGeometry, type ConvGradAttrs } from "./native/geometry";
import { Scratch, withScratch, type TensorInfo } from "./scratch";

/**
 * Conv2DBackpropInput: dx[n, i, j, c] = Σ_{p, q, o} dy[n, (i + padTop - p)/sH, (j + padLeft - q)/sW, o] · W[p, q, c, o]
 * over the terms where the divisions are exact.
 *
 * That is a stride-1 conv2d of dy, upsampled by the stride with zeros, with the filter flipped in space and its
 * channel axes swapped (W'[p, q, o, c] = W[kH-1-p, kW-1-q, c, o]), padded by kH-1-padTop on top (kW-1-padLeft on
 * the left) and by whatever makes the output inH x inW at the bottom/right (a negative padding crops).
 * For 1x1 filters the channel mix runs first, on the small dy, and the zeros are inserted afterwards.
 */
export function conv2dBackpropInput(args: {
  inputs: { dy: TensorInfo; filter: TensorInfo };
  backend: tf.KernelBackend;
  attrs: ConvGradAttrs & { inputShape: [number, number, number, number] };
}): TensorInfo {
  const { dy, filter } = args.inputs;
  const g = convGeometry("Conv2DBackpropInput", args.attrs.inputShape, filter.shape as [number, number, number, number], args.attrs);
  return withScratch(args.backend, (s) => {
    // W'[p, q, o, c] = W[kH-1-p, kW-1-q, c, o]
    // Reversing (p, q) together is reversing the flattened p·kW + q axis: whole inC·outC rows move.
    const flipped = g.kH * g.kW > 1 ? s.reshape(s.reverse(s.reshape(filter, [g.kH * g.kW, g.inC * g.outC]), [0]), filter.shape) : filter;
    const wT = s.transpose(flipped, [0, 1, 3, 2]);
    const strided = g.strideH > 1 || g.strideW > 1;
    if (g.kH === 1 && g.kW === 1) {
      // Mix channels on the small grid, then spread: dx[oh·sH - padTop] = (dy · Wᵀ)[oh].
      const mixed = s.conv2d(
        dy,
        wT,
        [1, 1],
        [
          [0, 0],
          [0, 0],
          [0, 0],
          [0, 0],
        ],
      );
      const up = strided ? upsample(s, mixed, g.strideH, g.strideW) : mixed;
      return s.padOrCrop(up, [-g.padTop, g.inH - up.shape[1] + g.padTop, -g.padLeft, g.inW - up.shape[2] + g.padLeft]);
    }
    const up = strided ? upsample(s, dy, g.strideH, g.strideW) : dy;
    const top = g.kH - 1 - g.padTop;
    const left = g.kW - 1 - g.padLeft;
    const bottom = g.inH - up.shape[1] - top + g.kH - 1;
    const right = g.inW - up.shape[2] - left + g.kW - 1;
    // XNNPACK takes the non-negative part of the padding itself; only crops need a copy.
    const cropped = s.padOrCrop(up, [Math.min(0, top), Math.min(0, bottom), Math.min(0, left), Math.min(0, right)]);
    return s.conv2d(
      cropped,
      wT,
      [1, 1],
      [
        [0, 0],
        [Math.max(0, top), Math.max(0, bottom)],
        [Math.max(0, left), Math.max(0, right)],
        [0, 0],
      ],
    );
  });
}

/** [n, h, w, c] -> [n, h·sH, w·sW, c] with x at (i·sH, j·sW) and zeros elsewhere (one PadV2 on a 6-d view). */
export function upsample(s: Scratch, x: TensorInfo, sH: number, sW: number): TensorInfo {
  const [n, h, w, c] = x.shape;
  const x6 = s.reshape(x, [n, h, 1, w, 1, c]);
  const padded = s.pad(x6, [
    [0, 0],
    [0, 0],
    [0, sH - 1],
    [0, 0],
    [0, sW - 1],
    [0, 0],
  ]);
  return s.reshape(padded, [n, h * sH, w * sW, c]);
}
