// torchvision.utils.make_grid for notebooks: many images (or a batch tensor) as one Image to display.
import * as tf from "@tensorflow/tfjs";
import { describe } from "../core/check";
import { FloatImage, Image } from "./image";

export interface MakeGridOptions {
  /** Images per row (default 8). */
  nrow?: number;
  /** Pixels between images and around the grid (default 2). */
  padding?: number;
  /** Value of the padding, 0..255 (default 0). */
  padValue?: number;
  /**
   * How float values map to 0..255: [low, high] -> [0, 255], clamped. Default [0, 1] (ToTensor's range);
   * use [-1, 1] after Normalize([0.5]*3, [0.5]*3), or "minmax" to stretch each image's own range.
   */
  valueRange?: readonly [number, number] | "minmax";
}

type GridInput = Image | FloatImage | tf.Tensor;

/** Float HWC values to bytes. */
function toBytes(data: ArrayLike<number>, range: readonly [number, number] | "minmax"): Uint8Array {
  let [lo, hi] = range === "minmax" ? [Infinity, -Infinity] : range;
  if (range === "minmax") {
    for (let i = 0; i < data.length; i++) {
      lo = Math.min(lo, data[i]);
      hi = Math.max(hi, data[i]);
    }
  }
  const scale = hi > lo ? 255 / (hi - lo) : 0;
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = Math.round(Math.min(Math.max((data[i] - lo) * scale, 0), 255));
  return out;
}

function asImages(input: GridInput | readonly GridInput[], range: readonly [number, number] | "minmax"): Image[] {
  if (input instanceof tf.Tensor) {
    if (input.rank !== 3 && input.rank !== 4)
      throw new Error(`tsdl.data: makeGrid takes a [N, H, W, C] or [H, W, C] tensor, got shape [${input.shape}]`);
    const [n, h, w, c] = input.rank === 3 ? [1, ...input.shape] : input.shape;
    if (c !== 1 && c !== 3) throw new Error(`tsdl.data: makeGrid needs 1 or 3 channels (NHWC), got shape [${input.shape}]`);
    const values = input.dataSync();
    return Array.from(
      { length: n },
      (_, k) => new Image(toBytes(values.subarray(k * h * w * c, (k + 1) * h * w * c), range), h, w, c as 1 | 3),
    );
  }
  const list = Array.isArray(input) ? input : [input];
  return list.flatMap((x) => {
    if (x instanceof Image) return [x];
    if (x instanceof FloatImage) return [new Image(toBytes(x.data, range), x.height, x.width, x.channels)];
    if (x instanceof tf.Tensor) return asImages(x, range);
    throw new Error(`tsdl.data: makeGrid takes Images, FloatImages or tensors, got ${describe(x)}`);
  });
}

/**
 * Images side by side, `nrow` per row, as one RGB `Image` (displays as a PNG in a notebook):
 * `display(data.makeGrid(x, { valueRange: [-1, 1] }))` for a normalized batch from the DataLoader.
 */
export function makeGrid(images: GridInput | readonly GridInput[], opts: MakeGridOptions = {}): Image {
  const nrow = opts.nrow ?? 8;
  const padding = opts.padding ?? 2;
  const padValue = opts.padValue ?? 0;
  if (!Number.isInteger(nrow) || nrow < 1) throw new Error(`tsdl.data: makeGrid nrow must be a positive integer, got ${nrow}`);
  if (!Number.isInteger(padding) || padding < 0)
    throw new Error(`tsdl.data: makeGrid padding must be a non-negative integer, got ${padding}`);
  if (!Number.isInteger(padValue) || padValue < 0 || padValue > 255)
    throw new Error(`tsdl.data: makeGrid padValue must be an integer in [0, 255], got ${padValue}`);
  const range = opts.valueRange ?? [0, 1];
  if (range !== "minmax" && !(Array.isArray(range) && range.length === 2 && range[0] < range[1])) {
    throw new Error(`tsdl.data: makeGrid valueRange must be [low, high] with low < high, or "minmax", got ${JSON.stringify(range)}`);
  }
  const imgs = asImages(images, range);
  if (imgs.length === 0) throw new Error("tsdl.data: makeGrid got no images");
  const h = Math.max(...imgs.map((i) => i.height));
  const w = Math.max(...imgs.map((i) => i.width));
  const cols = Math.min(nrow, imgs.length);
  const rows = Math.ceil(imgs.length / cols);
  const H = rows * (h + padding) + padding;
  const W = cols * (w + padding) + padding;
  const out = new Uint8Array(H * W * 3).fill(padValue);
  imgs.forEach((img, k) => {
    const y0 = padding + Math.floor(k / cols) * (h + padding);
    const x0 = padding + (k % cols) * (w + padding);
    for (let y = 0; y < img.height; y++) {
      for (let x = 0; x < img.width; x++) {
        const s = (y * img.width + x) * img.channels;
        const d = ((y0 + y) * W + x0 + x) * 3;
        out[d] = img.data[s];
        out[d + 1] = img.data[img.channels === 3 ? s + 1 : s];
        out[d + 2] = img.data[img.channels === 3 ? s + 2 : s];
      }
    }
  });
  return new Image(out, H, W, 3);
}
