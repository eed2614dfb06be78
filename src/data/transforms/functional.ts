// torchvision.transforms.functional for PIL-like images: deterministic operations the random transforms call.
// Every function returns a new image and keeps its input intact.
import { describe } from "../../core/check";
import { FloatImage, Image } from "../image";
import { blend, resample, resampleNearest, ResampleFilter, rgbToL, rotateHue, sumL } from "../pil";

/** Interpolation modes of Resize (PIL filters; torchvision's default is bilinear). */
export type Interpolation = "nearest" | ResampleFilter;
export const INTERPOLATIONS: readonly Interpolation[] = ["nearest", "bilinear", "bicubic", "box", "hamming", "lanczos"];

/** Padding modes of Pad / RandomCrop. */
export type PaddingMode = "constant" | "edge" | "reflect" | "symmetric";
export const PADDING_MODES: readonly PaddingMode[] = ["constant", "edge", "reflect", "symmetric"];

export function expectImage(x: unknown, who: string): Image {
  if (x instanceof Image) return x;
  const hint = x instanceof FloatImage ? ` (${who} works on uint8 images: put it before ToTensor)` : "";
  throw new Error(`tsdl.data: ${who} expects an Image (uint8 HWC), got ${describe(x)}${hint}`);
}

export function expectFloatImage(x: unknown, who: string): FloatImage {
  if (x instanceof FloatImage) return x;
  const hint = x instanceof Image ? ` (put ToTensor before ${who})` : "";
  throw new Error(`tsdl.data: ${who} expects a FloatImage (the output of ToTensor), got ${describe(x)}${hint}`);
}

/** A size argument: one int (the smaller edge for Resize, a square for crops) or [height, width]. */
export type Size = number | readonly [number] | readonly [number, number];

export function parseSize(size: Size, who: string): [number, number] | [number] {
  const arr = typeof size === "number" ? [size] : Array.isArray(size) ? [...size] : [];
  if ((arr.length !== 1 && arr.length !== 2) || !arr.every((v) => Number.isInteger(v) && v > 0)) {
    throw new Error(
      `tsdl.data: ${who} size must be a positive integer or [height, width] of positive integers, got ${JSON.stringify(size)}`,
    );
  }
  return arr as [number, number] | [number];
}

/** Output [height, width] of Resize: one number sets the smaller edge, the other keeps the aspect (truncated). */
export function resizedSize(height: number, width: number, size: [number, number] | [number]): [number, number] {
  if (size.length === 2) return size;
  const s = size[0];
  if (width <= height) return [Math.trunc((s * height) / width), s];
  return [s, Math.trunc((s * width) / height)];
}

/** Resize like torchvision on a PIL image (PIL resampling, antialiased when shrinking). */
export function resize(img: Image, size: Size, interpolation: Interpolation = "bilinear"): Image {
  expectImage(img, "resize");
  if (!INTERPOLATIONS.includes(interpolation)) {
    throw new Error(`tsdl.data: unknown interpolation ${JSON.stringify(interpolation)}; accepted: ${INTERPOLATIONS.join(", ")}`);
  }
  const [h, w] = resizedSize(img.height, img.width, parseSize(size, "Resize"));
  return interpolation === "nearest" ? resampleNearest(img, h, w) : resample(img, h, w, interpolation);
}

/** Mirror left-right. */
export function hflip(img: Image): Image {
  expectImage(img, "hflip");
  const { data, height: h, width: w, channels: c } = img;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < h; y++) {
    const row = y * w * c;
    if (c === 3) {
      for (let x = 0, s = row, d = row + (w - 1) * 3; x < w; x++, s += 3, d -= 3) {
        out[d] = data[s];
        out[d + 1] = data[s + 1];
        out[d + 2] = data[s + 2];
      }
    } else {
      for (let x = 0; x < w; x++) out[row + w - 1 - x] = data[row + x];
    }
  }
  return new Image(out, h, w, c);
}

/** Mirror top-bottom. */
export function vflip(img: Image): Image {
  expectImage(img, "vflip");
  const { data, height: h, width: w, channels: c } = img;
  const out = new Uint8Array(data.length);
  const stride = w * c;
  for (let y = 0; y < h; y++) out.set(data.subarray(y * stride, (y + 1) * stride), (h - 1 - y) * stride);
  return new Image(out, h, w, c);
}

/** The region of `height` x `width` at (top, left); parts outside the image are 0 (as PIL's crop). */
export function crop(img: Image, top: number, left: number, height: number, width: number): Image {
  expectImage(img, "crop");
  for (const [k, v] of Object.entries({ top, left, height, width })) {
    if (!Number.isInteger(v)) throw new Error(`tsdl.data: crop ${k} must be an integer, got ${v}`);
  }
  if (height < 1 || width < 1) throw new Error(`tsdl.data: crop size must be positive, got ${height}x${width}`);
  const { data, height: H, width: W, channels: c } = img;
  const out = new Uint8Array(height * width * c);
  for (let y = 0; y < height; y++) {
    const sy = top + y;
    if (sy < 0 || sy >= H) continue;
    const x0 = Math.max(0, -left);
    const x1 = Math.min(width, W - left);
    if (x1 <= x0) continue;
    out.set(data.subarray((sy * W + left + x0) * c, (sy * W + left + x1) * c), (y * width + x0) * c);
  }
  return new Image(out, height, width, c);
}

/** Python's round(): halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Center crop (torchvision.transforms.functional.center_crop: pads with 0 first when the image is smaller). */
export function centerCrop(img: Image, size: Size): Image {
  expectImage(img, "centerCrop");
  const s = parseSize(size, "CenterCrop");
  const [th, tw] = s.length === 1 ? [s[0], s[0]] : s;
  if (th > img.height || tw > img.width) {
    const dw = Math.max(tw - img.width, 0);
    const dh = Math.max(th - img.height, 0);
    img = pad(img, [dw >> 1, dh >> 1, (dw + 1) >> 1, (dh + 1) >> 1]);
    if (img.height === th && img.width === tw) return img;
  }
  return crop(img, roundHalfEven((img.height - th) / 2), roundHalfEven((img.width - tw) / 2), th, tw);
}

/** Padding as torchvision: one int (all sides), [left/right, top/bottom] or [left, top, right, bottom]. */
export type Padding = number | readonly [number, number] | readonly [number, number, number, number];

export function parsePadding(padding: Padding): [number, number, number, number] {
  const arr = typeof padding === "number" ? [padding] : Array.isArray(padding) ? [...padding] : [];
  if (![1, 2, 4].includes(arr.length) || !arr.every((v) => Number.isInteger(v) && v >= 0)) {
    throw new Error(
      `tsdl.data: padding must be a non-negative integer, [leftRight, topBottom] or [left, top, right, bottom], got ${JSON.stringify(padding)}`,
    );
  }
  if (arr.length === 1) return [arr[0], arr[0], arr[0], arr[0]];
  if (arr.length === 2) return [arr[0], arr[1], arr[0], arr[1]];
  return arr as [number, number, number, number];
}

/** numpy.pad's index maps for the non-constant modes. */
function padIndex(i: number, n: number, mode: PaddingMode): number {
  if (mode === "edge") return Math.min(Math.max(i, 0), n - 1);
  if (n === 1) return 0;
  if (mode === "reflect") {
    const period = 2 * (n - 1);
    let m = ((i % period) + period) % period;
    if (m >= n) m = period - m;
    return m;
  }
  // symmetric: the edge pixel is repeated
  const period = 2 * n;
  let m = ((i % period) + period) % period;
  if (m >= n) m = period - 1 - m;
  return m;
}

/** torchvision.transforms.functional.pad on a PIL image. `fill` is one value or one per channel. */
export function pad(img: Image, padding: Padding, fill: number | readonly number[] = 0, mode: PaddingMode = "constant"): Image {
  expectImage(img, "pad");
  if (!PADDING_MODES.includes(mode))
    throw new Error(`tsdl.data: unknown padding mode ${JSON.stringify(mode)}; accepted: ${PADDING_MODES.join(", ")}`);
  const [l, t, r, b] = parsePadding(padding);
  const { data, height: H, width: W, channels: c } = img;
  const h = H + t + b;
  const w = W + l + r;
  const fills = typeof fill === "number" ? new Array(c).fill(fill) : [...fill];
  if (fills.length !== c || !fills.every((v) => Number.isInteger(v) && v >= 0 && v <= 255)) {
    throw new Error(`tsdl.data: fill must be an integer in [0, 255] or one per channel (${c}), got ${JSON.stringify(fill)}`);
  }
  if (mode === "reflect" && (Math.max(l, r) >= W || Math.max(t, b) >= H)) {
    throw new Error(`tsdl.data: reflect padding of ${JSON.stringify(padding)} needs an image larger than it on each side, got ${W}x${H}`);
  }
  const out = new Uint8Array(h * w * c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const sy = y - t;
      const sx = x - l;
      const o = (y * w + x) * c;
      if (sy >= 0 && sy < H && sx >= 0 && sx < W) {
        for (let ch = 0; ch < c; ch++) out[o + ch] = data[(sy * W + sx) * c + ch];
      } else if (mode === "constant") {
        for (let ch = 0; ch < c; ch++) out[o + ch] = fills[ch];
      } else {
        const s = (padIndex(sy, H, mode) * W + padIndex(sx, W, mode)) * c;
        for (let ch = 0; ch < c; ch++) out[o + ch] = data[s + ch];
      }
    }
  }
  return new Image(out, h, w, c);
}

/** Gray version (PIL convert("L")), replicated to `numOutputChannels` (1 or 3). */
export function rgbToGrayscale(img: Image, numOutputChannels: 1 | 3 = 1): Image {
  expectImage(img, "rgbToGrayscale");
  if (numOutputChannels !== 1 && numOutputChannels !== 3) {
    throw new Error(`tsdl.data: numOutputChannels must be 1 or 3, got ${numOutputChannels}`);
  }
  const gray = img.channels === 1 ? img.data : rgbToL(img.data);
  if (numOutputChannels === 1) return new Image(img.channels === 1 ? gray.slice() : gray, img.height, img.width, 1);
  const out = new Uint8Array(gray.length * 3);
  for (let i = 0, p = 0; i < gray.length; i++, p += 3) out[p] = out[p + 1] = out[p + 2] = gray[i];
  return new Image(out, img.height, img.width, 3);
}

function checkFactor(name: string, f: number): void {
  if (!Number.isFinite(f) || f < 0) throw new Error(`tsdl.data: ${name} factor must be a non-negative number, got ${f}`);
}

/** Blend with black: out = factor * img (PIL ImageEnhance.Brightness). */
export function adjustBrightness(img: Image, factor: number): Image {
  expectImage(img, "adjustBrightness");
  checkFactor("brightness", factor);
  return new Image(blend(0, img.data, factor), img.height, img.width, img.channels);
}

/** Blend with the mean gray level: out = mean + factor * (img - mean) (PIL ImageEnhance.Contrast). */
export function adjustContrast(img: Image, factor: number): Image {
  expectImage(img, "adjustContrast");
  checkFactor("contrast", factor);
  let sum = 0;
  if (img.channels === 3) sum = sumL(img.data);
  else for (let i = 0; i < img.data.length; i++) sum += img.data[i];
  const mean = Math.trunc(sum / (img.height * img.width) + 0.5);
  return new Image(blend(mean, img.data, factor), img.height, img.width, img.channels);
}

/** Blend with the gray image: out = gray + factor * (img - gray) (PIL ImageEnhance.Color). */
export function adjustSaturation(img: Image, factor: number): Image {
  expectImage(img, "adjustSaturation");
  checkFactor("saturation", factor);
  if (img.channels === 1) return new Image(blend(img.data, img.data, factor), img.height, img.width, 1);
  return new Image(blend(rgbToGrayscale(img, 3).data, img.data, factor), img.height, img.width, 3);
}

/**
 * Rotate hue by `factor` turns, factor in [-0.5, 0.5]: RGB -> HSV (uint8), h += trunc(factor * 255) mod 256,
 * HSV -> RGB, as torchvision does on PIL images. Gray images are returned unchanged.
 */
export function adjustHue(img: Image, factor: number): Image {
  expectImage(img, "adjustHue");
  if (!(factor >= -0.5 && factor <= 0.5)) throw new Error(`tsdl.data: hue factor must be in [-0.5, 0.5], got ${factor}`);
  if (img.channels === 1) return new Image(img.data.slice(), img.height, img.width, 1);
  const shift = ((Math.trunc(factor * 255) % 256) + 256) % 256;
  return new Image(rotateHue(img.data, shift), img.height, img.width, 3);
}

/** v / 255 in float32 for every byte value. */
const TO_UNIT = Float32Array.from({ length: 256 }, (_, v) => v / 255);

/** uint8 HWC -> float32 HWC in [0, 1] (x / 255). Layout stays channels-last, as tfjs expects. */
export function toTensor(img: Image): FloatImage {
  expectImage(img, "toTensor");
  const { data } = img;
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = TO_UNIT[data[i]];
  return new FloatImage(out, img.height, img.width, img.channels);
}

/**
 * normalize(toTensor(img), mean, std) in one pass: a 256-entry table per channel holds exactly the float32
 * values the two steps give (what Compose runs for ToTensor followed by Normalize).
 */
export function toTensorNormalized(img: Image, mean: number | readonly number[], std: number | readonly number[]): FloatImage {
  expectImage(img, "ToTensor");
  return applyTable(img, normalizeTable(mean, std, img.channels));
}

/** The float32 value of normalize(toTensor(v)) for every byte v, per channel (256 entries each). */
export function normalizeTable(mean: number | readonly number[], std: number | readonly number[], channels: number): Float32Array {
  return floatTable([{ mean, std }], channels);
}

/**
 * The float32 value of toTensor(v) followed by each Normalize in `steps`, for every byte v, per channel:
 * element-wise, so a table of 256 entries per channel gives exactly what the steps give.
 */
export function floatTable(
  steps: readonly { mean: number | readonly number[]; std: number | readonly number[] }[],
  channels: number,
): Float32Array {
  const lut = new Float32Array(256 * channels);
  for (let ch = 0; ch < channels; ch++) lut.set(TO_UNIT, ch * 256);
  for (const { mean, std } of steps) {
    const [m, s] = normalizeValues(mean, std, channels);
    for (let ch = 0; ch < channels; ch++) for (let v = 0; v < 256; v++) lut[ch * 256 + v] = Math.fround(lut[ch * 256 + v] - m[ch]) / s[ch];
  }
  return lut;
}

/** Mirror left-right, float image. */
export function hflipFloat(img: FloatImage): FloatImage {
  const { data, height: h, width: w, channels: c } = img;
  const out = new Float32Array(data.length);
  for (let y = 0; y < h; y++) {
    const row = y * w * c;
    for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) out[row + (w - 1 - x) * c + ch] = data[row + x * c + ch];
  }
  return new FloatImage(out, h, w, c);
}

/** Maps each byte through its channel's table (from normalizeTable). */
export function applyTable(img: Image, lut: Float32Array): FloatImage {
  const c = img.channels;
  const { data } = img;
  const out = new Float32Array(data.length);
  if (c === 3) {
    for (let i = 0; i < data.length; i += 3) {
      out[i] = lut[data[i]];
      out[i + 1] = lut[256 + data[i + 1]];
      out[i + 2] = lut[512 + data[i + 2]];
    }
  } else {
    for (let i = 0; i < data.length; i++) out[i] = lut[data[i]];
  }
  return new FloatImage(out, img.height, img.width, c);
}

/** Per-channel mean/std, checked against the channel count. */
export function channelValues(name: string, v: number | readonly number[], channels: number): Float32Array {
  const arr = typeof v === "number" ? [v] : Array.isArray(v) ? [...v] : [];
  if (arr.length === 0 || !arr.every((x) => Number.isFinite(x)) || (arr.length !== 1 && arr.length !== channels)) {
    throw new Error(`tsdl.data: Normalize ${name} must be one number or one per channel (${channels}), got ${JSON.stringify(v)}`);
  }
  return Float32Array.from(arr.length === 1 ? new Array(channels).fill(arr[0]) : arr);
}

/** A Normalize's mean and std per channel, checked: each one number or one per channel, no zero std. */
export function normalizeValues(
  mean: number | readonly number[],
  std: number | readonly number[],
  channels: number,
): [Float32Array, Float32Array] {
  const m = channelValues("mean", mean, channels);
  const s = channelValues("std", std, channels);
  if (s.some((v) => v === 0))
    throw new Error(`tsdl.data: Normalize std ${JSON.stringify(std)} has a zero (division by zero); every std must be non-zero`);
  return [m, s];
}

/** (x - mean[c]) / std[c] per channel, in float32 as torch does. */
export function normalize(img: FloatImage, mean: number | readonly number[], std: number | readonly number[]): FloatImage {
  expectFloatImage(img, "normalize");
  const c = img.channels;
  const [m, s] = normalizeValues(mean, std, c);
  const { data } = img;
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i += c) {
    for (let ch = 0; ch < c; ch++) out[i + ch] = Math.fround(data[i + ch] - m[ch]) / s[ch];
  }
  return new FloatImage(out, img.height, img.width, img.channels);
}
