// Pillow 9's 8-bit image kernels, reproduced operation for operation so that torchvision's PIL transforms give
// the same bytes here: the separable resampler (Resample.c), Image.blend (Blend.c) and the RGB <-> L / HSV
// conversions (Convert.c). C float (32-bit) arithmetic is reproduced with Math.fround where Pillow uses it.
import { FloatImage, Image } from "./image";

/** Resampling filters of PIL's `Image.resize` (all but NEAREST go through the separable resampler). */
export type ResampleFilter = "box" | "bilinear" | "hamming" | "bicubic" | "lanczos";

interface FilterDef {
  support: number;
  f(x: number): number;
}

const sinc = (x: number): number => (x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x));

const FILTERS: Record<ResampleFilter, FilterDef> = {
  box: { support: 0.5, f: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  bilinear: { support: 1, f: (x) => (Math.abs(x) < 1 ? 1 - Math.abs(x) : 0) },
  hamming: {
    support: 1,
    f: (x) => {
      x = Math.abs(x);
      if (x === 0) return 1;
      if (x >= 1) return 0;
      x *= Math.PI;
      return (Math.sin(x) / x) * (0.54 + 0.46 * Math.cos(x));
    },
  },
  bicubic: {
    support: 2,
    f: (x) => {
      const a = -0.5;
      x = Math.abs(x);
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
  lanczos: { support: 3, f: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
};

/** 32 - 8 - 2: fixed-point fraction bits of the 8-bit resampler. */
const PRECISION_BITS = 22;

interface Coeffs {
  ksize: number;
  /** [xmin, count] per output pixel. */
  bounds: Int32Array;
  /** ksize fixed-point weights per output pixel. */
  kk: Int32Array;
  /**
   * When no pixel has more than 3 taps (up-scaling with bilinear/hamming/box): per output pixel the three source
   * indices and weights, unused taps pointing at a valid pixel with weight 0.
   */
  taps3?: { idx: Int32Array; k: Int32Array };
}

/** precompute_coeffs + normalize_coeffs_8bpc: the taps of each output pixel along one axis. */
function coefficients(inSize: number, outSize: number, filter: FilterDef): Coeffs {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      w[x] = filter.f((x + xmin - center + 0.5) * ss);
      ww += w[x];
    }
    for (let x = 0; x < xmax; x++) {
      const k = ww !== 0 ? w[x] / ww : w[x];
      kk[xx * ksize + x] = k < 0 ? Math.trunc(-0.5 + k * (1 << PRECISION_BITS)) : Math.trunc(0.5 + k * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  let maxTaps = 0;
  for (let xx = 0; xx < outSize; xx++) maxTaps = Math.max(maxTaps, bounds[xx * 2 + 1]);
  if (maxTaps > 3) return { ksize, bounds, kk };
  const idx = new Int32Array(outSize * 3);
  const k3 = new Int32Array(outSize * 3);
  for (let xx = 0; xx < outSize; xx++) {
    const xmin = bounds[xx * 2];
    for (let t = 0; t < 3; t++) {
      const used = t < bounds[xx * 2 + 1];
      idx[xx * 3 + t] = used ? xmin + t : xmin;
      k3[xx * 3 + t] = used ? kk[xx * ksize + t] : 0;
    }
  }
  return { ksize, bounds, kk, taps3: { idx, k: k3 } };
}

const coeffCache = new Map<string, Coeffs>();
function cachedCoefficients(inSize: number, outSize: number, filter: ResampleFilter): Coeffs {
  const key = `${filter}:${inSize}:${outSize}`;
  let c = coeffCache.get(key);
  if (!c) {
    c = coefficients(inSize, outSize, FILTERS[filter]);
    if (coeffCache.size > 256) coeffCache.clear();
    coeffCache.set(key, c);
  }
  return c;
}

const ROUND = 1 << (PRECISION_BITS - 1);
const MAX_ACC = 256 << PRECISION_BITS;

/** clip8 of Resample.c: a fixed-point accumulator -> its byte, clipped to [0, 255]. */
function clip8(v: number): number {
  return v <= 0 ? 0 : v >= MAX_ACC ? 255 : v >> PRECISION_BITS;
}

/** clip8 over a row of int accumulators. */
function clipRow(acc: Int32Array, out: Uint8Array, o: number): void {
  for (let i = 0; i < acc.length; i++) out[o + i] = clip8(acc[i]);
}

/** acc[i] = ROUND + sum over y < n of src[(ymin + y) * stride + i] * kk[k0 + y]: one row of a vertical pass, any tap count. */
function accumulateRows(acc: Int32Array, src: Uint8Array, kk: Int32Array, k0: number, n: number, ymin: number, stride: number): void {
  acc.fill(ROUND);
  for (let y = 0; y < n; y++) {
    const k = kk[k0 + y];
    if (k === 0) continue;
    const p = (ymin + y) * stride;
    for (let i = 0; i < stride; i++) acc[i] = (acc[i] + Math.imul(src[p + i], k)) | 0;
  }
}

/** Output columns [x0, x1) of the horizontal pass, for source rows [y0, y1). */
function resampleHorizontal(
  src: Uint8Array,
  inW: number,
  c: number,
  y0: number,
  y1: number,
  co: Coeffs,
  x0: number,
  x1: number,
): Uint8Array {
  const outW = x1 - x0;
  const out = new Uint8Array((y1 - y0) * outW * c);
  const { ksize, bounds, kk } = co;
  if (co.taps3 && c === 3) {
    // at most 3 taps: straight-line sums written out directly (the same integer arithmetic)
    const { idx, k } = co.taps3;
    let o = 0;
    for (let y = y0; y < y1; y++) {
      const row = y * inW * 3;
      for (let xx = x0; xx < x1; xx++) {
        const t = xx * 3;
        const a = row + idx[t] * 3;
        const b = row + idx[t + 1] * 3;
        const d = row + idx[t + 2] * 3;
        const ka = k[t];
        const kb = k[t + 1];
        const kd = k[t + 2];
        for (let ch = 0; ch < 3; ch++) {
          out[o++] = clip8((ROUND + Math.imul(src[a + ch], ka) + Math.imul(src[b + ch], kb) + Math.imul(src[d + ch], kd)) | 0);
        }
      }
    }
    return out;
  }
  const acc = new Int32Array(outW * c);
  for (let y = y0; y < y1; y++) {
    const row = y * inW * c;
    for (let xx = x0; xx < x1; xx++) {
      const xmin = bounds[xx * 2];
      const n = bounds[xx * 2 + 1];
      const k0 = xx * ksize;
      const a = (xx - x0) * c;
      if (c === 3) {
        let s0 = ROUND;
        let s1 = ROUND;
        let s2 = ROUND;
        for (let x = 0, p = row + xmin * 3; x < n; x++, p += 3) {
          const k = kk[k0 + x];
          s0 = (s0 + Math.imul(src[p], k)) | 0;
          s1 = (s1 + Math.imul(src[p + 1], k)) | 0;
          s2 = (s2 + Math.imul(src[p + 2], k)) | 0;
        }
        acc[a] = s0;
        acc[a + 1] = s1;
        acc[a + 2] = s2;
      } else {
        let s0 = ROUND;
        for (let x = 0, p = row + xmin; x < n; x++, p++) s0 = (s0 + Math.imul(src[p], kk[k0 + x])) | 0;
        acc[a] = s0;
      }
    }
    clipRow(acc, out, (y - y0) * outW * c);
  }
  return out;
}

/** Output rows [r0, r1) of the vertical pass; `src` holds the source rows from `yOff` on. */
function resampleVertical(src: Uint8Array, yOff: number, w: number, c: number, co: Coeffs, r0: number, r1: number): Uint8Array {
  const stride = w * c;
  const out = new Uint8Array((r1 - r0) * stride);
  const { ksize, bounds, kk } = co;
  const acc = new Int32Array(stride);
  for (let yy = r0; yy < r1; yy++) {
    const ymin = bounds[yy * 2] - yOff;
    const n = bounds[yy * 2 + 1];
    const k0 = yy * ksize;
    const o = (yy - r0) * stride;
    if (n === 2 || n === 3) {
      // the common up-scaling cases in one pass over the source rows (same integer sums as Pillow)
      const a = ymin * stride;
      const b = a + stride;
      const ka = kk[k0];
      const kb = kk[k0 + 1];
      const kc = n === 3 ? kk[k0 + 2] : 0;
      const cRow = n === 3 ? b + stride : b;
      for (let i = 0; i < stride; i++) {
        out[o + i] = clip8((ROUND + Math.imul(src[a + i], ka) + Math.imul(src[b + i], kb) + Math.imul(src[cRow + i], kc)) | 0);
      }
      continue;
    }
    accumulateRows(acc, src, kk, k0, n, ymin, stride);
    clipRow(acc, out, o);
  }
  return out;
}

/**
 * PIL `Image.resize((width, height), filter)`: a horizontal then a vertical pass, each rounded to uint8.
 * The filter support widens by the scale when shrinking, so downscaling is antialiased (as PIL always is).
 */
export function resample(img: Image, height: number, width: number, filter: ResampleFilter): Image {
  if (img.height === height && img.width === width) return new Image(img.data.slice(), height, width, img.channels);
  return resampleRegion(img, height, width, filter, 0, 0, height, width);
}

/**
 * The window [top, top + h) x [left, left + w) of `resample(img, height, width, filter)`, computing only that
 * window: every output pixel of PIL's resampler depends only on its own row and column taps, so the bytes are
 * those of resizing everything and cropping (what Resize followed by RandomCrop does).
 */
export function resampleRegion(
  img: Image,
  height: number,
  width: number,
  filter: ResampleFilter,
  top: number,
  left: number,
  h: number,
  w: number,
): Image {
  const { data, height: inH, width: inW, channels: c } = img;
  if (top < 0 || left < 0 || h < 1 || w < 1 || top + h > height || left + w > width) {
    throw new Error(`tsdl.data: window ${h}x${w} at (${top}, ${left}) is outside the ${height}x${width} resized image`);
  }
  const vert = height !== inH ? cachedCoefficients(inH, height, filter) : undefined;
  // the source rows the window needs
  const y0 = vert ? vert.bounds[top * 2] : top;
  const y1 = vert ? vert.bounds[(top + h - 1) * 2] + vert.bounds[(top + h - 1) * 2 + 1] : top + h;
  const rows =
    width !== inW
      ? resampleHorizontal(data, inW, c, y0, y1, cachedCoefficients(inW, width, filter), left, left + w)
      : copyColumns(img, y0, y1, left, w);
  const out = vert ? resampleVertical(rows, y0, w, c, vert, top, top + h) : rows;
  return new Image(out, h, w, c);
}

/** Source index of each output pixel along one axis, as ImagingScaleAffine: a running sum from 0.5 * scale. */
function nearestTable(inSize: number, outSize: number): Int32Array {
  const t = new Int32Array(outSize);
  const a = inSize / outSize;
  let xo = a * 0.5;
  for (let x = 0; x < outSize; x++) {
    t[x] = Math.min(Math.trunc(xo), inSize - 1);
    xo += a; // accumulated, not (x + 0.5) * a: the rounding differs and PIL accumulates
  }
  return t;
}

/** PIL NEAREST resize (an affine scale: Geometry.c ImagingScaleAffine). */
export function resampleNearest(img: Image, height: number, width: number): Image {
  const { data, width: inW, channels: c } = img;
  const out = new Uint8Array(height * width * c);
  const xs = nearestTable(inW, width);
  const ys = nearestTable(img.height, height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const s = (ys[y] * inW + xs[x]) * c;
      for (let ch = 0; ch < c; ch++) out[(y * width + x) * c + ch] = data[s + ch];
    }
  }
  return new Image(out, height, width, c);
}

/**
 * PIL `Image.blend(a, b, alpha)` = a + alpha * (b - a), alpha a C float; truncated to uint8, clipped when
 * alpha is outside [0, 1]. `a` may be a constant (one value for every byte) or an array like `b`.
 */
export function blend(a: Uint8Array | number, b: Uint8Array, alpha: number): Uint8Array {
  const al = Math.fround(alpha);
  const inside = al >= 0 && al <= 1;
  const one = (x: number, y: number): number => {
    const t = Math.fround(x + Math.fround(al * (y - x)));
    return inside ? Math.trunc(t) : t <= 0 ? 0 : t >= 255 ? 255 : Math.trunc(t);
  };
  const out = new Uint8Array(b.length);
  if (typeof a === "number") {
    // a constant first image: the result depends on the byte of b only, so tabulate the 256 cases
    const lut = new Uint8Array(256);
    for (let v = 0; v < 256; v++) lut[v] = one(a, v);
    for (let i = 0; i < b.length; i++) out[i] = lut[b[i]];
  } else {
    for (let i = 0; i < b.length; i++) out[i] = one(a[i], b[i]);
  }
  return out;
}

/** Sum of PIL's L over an RGB image (what ImageStat's mean of convert("L") adds up). */
export function sumL(rgb: Uint8Array): number {
  let sum = 0;
  for (let p = 0; p < rgb.length; p += 3) sum += (rgb[p] * 19595 + rgb[p + 1] * 38470 + rgb[p + 2] * 7471 + 0x8000) >>> 16;
  return sum;
}

/** PIL's RGB -> L: (19595 R + 38470 G + 7471 B + 0x8000) >> 16 (ITU-R 601-2 luma, rounded). */
export function rgbToL(rgb: Uint8Array): Uint8Array {
  const n = rgb.length / 3;
  const out = new Uint8Array(n);
  for (let i = 0, p = 0; i < n; i++, p += 3) out[i] = (rgb[p] * 19595 + rgb[p + 1] * 38470 + rgb[p + 2] * 7471 + 0x8000) >>> 16;
  return out;
}

const CLIP8 = (v: number): number => (v <= 0 ? 0 : v < 256 ? v : 255);
const f32 = Math.fround;

/** PIL's rgb2hsv hue and saturation bytes of one pixel (Convert.c, float arithmetic as in C). */
function hueSat(r: number, g: number, b: number): [number, number] {
  const maxc = r > g ? (r > b ? r : b) : g > b ? g : b;
  const minc = r < g ? (r < b ? r : b) : g < b ? g : b;
  if (minc === maxc) return [0, 0];
  const cr = maxc - minc;
  const s = f32(cr / maxc);
  const rc = f32((maxc - r) / cr);
  const gc = f32((maxc - g) / cr);
  const bc = f32((maxc - b) / cr);
  let h: number;
  if (r === maxc) h = f32(bc - gc);
  else if (g === maxc) h = f32(2 + rc - bc);
  else h = f32(4 + gc - rc);
  // fmod(h / 6 + 1, 1): h is in [-1, 5], so x is in (0.8, 1.9) and subtracting 1 is exact
  const x = h / 6 + 1;
  h = f32(x >= 1 ? x - 1 : x);
  return [CLIP8(Math.trunc(h * 255)), CLIP8(Math.trunc(s * 255))];
}

/**
 * Tables that make the per-pixel HSV round trip a few lookups, filled lazily from the exact formulas:
 * the hue byte depends only on which channel is max (first in r, g, b order), which is min, d = max - mid and
 * cr = max - min (the ratios are (max - x) / cr, one of them 0 and one 1); the saturation byte on (cr, max).
 */
const HUE = new Int16Array(6 * 65536).fill(-1);
const SAT = new Int16Array(65536).fill(-1);
/** hsv2rgb per (h, s): the factors of v for p, q, t, and the sector i % 6. */
let HSV_P: Float64Array | undefined;
let HSV_Q: Float64Array;
let HSV_T: Float64Array;
let HSV_SECTOR: Uint8Array;

function hsvTables(): void {
  HSV_P = new Float64Array(65536);
  HSV_Q = new Float64Array(65536);
  HSV_T = new Float64Array(65536);
  HSV_SECTOR = new Uint8Array(65536);
  for (let h = 0; h < 256; h++) {
    const i = Math.floor((h * 6) / 255);
    const f = f32((h * 6) / 255 - i);
    for (let s = 1; s < 256; s++) {
      const fs = f32(s / 255);
      const k = h * 256 + s;
      HSV_P[k] = 1 - fs;
      HSV_Q[k] = 1 - f32(fs * f);
      HSV_T[k] = 1 - fs * (1 - f);
      HSV_SECTOR[k] = i % 6;
    }
  }
}

/**
 * torchvision's adjust_hue on a PIL image, per pixel in one pass: PIL's RGB -> HSV (Convert.c rgb2hsv, after
 * colorsys; uint8 h, s, v), h += shift (mod 256, numpy uint8 addition), PIL's HSV -> RGB (Convert.c hsv2rgb).
 */
export function rotateHue(rgb: Uint8Array, shift: number): Uint8Array {
  if (!HSV_P) hsvTables();
  const P = HSV_P as Float64Array;
  const out = new Uint8Array(rgb.length);
  for (let p = 0; p < rgb.length; p += 3) {
    const r = rgb[p];
    const g = rgb[p + 1];
    const b = rgb[p + 2];
    let maxc: number, minc: number, key: number;
    if (r >= g && r >= b) {
      maxc = r;
      minc = g <= b ? g : b;
      key = g <= b ? (maxc - b) * 256 : 65536 + (maxc - g) * 256;
    } else if (g >= b) {
      maxc = g;
      minc = r <= b ? r : b;
      key = r <= b ? 2 * 65536 + (maxc - b) * 256 : 3 * 65536 + (maxc - r) * 256;
    } else {
      maxc = b;
      minc = r <= g ? r : g;
      key = r <= g ? 4 * 65536 + (maxc - g) * 256 : 5 * 65536 + (maxc - r) * 256;
    }
    const cr = maxc - minc;
    if (cr === 0) {
      out[p] = out[p + 1] = out[p + 2] = maxc;
      continue;
    }
    key += cr;
    let uh = HUE[key];
    const sk = cr * 256 + maxc;
    let us = SAT[sk];
    if (uh < 0 || us < 0) {
      [uh, us] = hueSat(r, g, b);
      HUE[key] = uh;
      SAT[sk] = us;
    }
    if (us === 0) {
      out[p] = out[p + 1] = out[p + 2] = maxc;
      continue;
    }
    const k = ((uh + shift) & 255) * 256 + us;
    const v = maxc;
    // C round() of a value in [0, 255]: floor(x + 0.5), no clipping needed (the factors are in [0, 1])
    const up = (v * P[k] + 0.5) | 0;
    const uq = (v * HSV_Q[k] + 0.5) | 0;
    const ut = (v * HSV_T[k] + 0.5) | 0;
    switch (HSV_SECTOR[k]) {
      case 0:
        out[p] = v;
        out[p + 1] = ut;
        out[p + 2] = up;
        break;
      case 1:
        out[p] = uq;
        out[p + 1] = v;
        out[p + 2] = up;
        break;
      case 2:
        out[p] = up;
        out[p + 1] = v;
        out[p + 2] = ut;
        break;
      case 3:
        out[p] = up;
        out[p + 1] = uq;
        out[p + 2] = v;
        break;
      case 4:
        out[p] = ut;
        out[p + 1] = up;
        out[p + 2] = v;
        break;
      default:
        out[p] = v;
        out[p + 1] = up;
        out[p + 2] = uq;
        break;
    }
  }
  return out;
}

/** resampleVertical with each resulting byte mapped through its channel's 256-entry table into floats. */
function resampleVerticalToFloat(
  src: Uint8Array,
  yOff: number,
  w: number,
  c: number,
  co: Coeffs,
  r0: number,
  r1: number,
  lut: Float32Array,
): Float32Array {
  const stride = w * c;
  const out = new Float32Array((r1 - r0) * stride);
  const { ksize, bounds, kk } = co;
  const acc = new Int32Array(stride);
  for (let yy = r0; yy < r1; yy++) {
    const ymin = bounds[yy * 2] - yOff;
    const n = bounds[yy * 2 + 1];
    const k0 = yy * ksize;
    const o = (yy - r0) * stride;
    if ((n === 2 || n === 3) && c === 3) {
      const a = ymin * stride;
      const b = a + stride;
      const ka = kk[k0];
      const kb = kk[k0 + 1];
      const kc = n === 3 ? kk[k0 + 2] : 0;
      const d = n === 3 ? b + stride : b;
      for (let i = 0; i < stride; i += 3) {
        out[o + i] = lut[clip8((ROUND + Math.imul(src[a + i], ka) + Math.imul(src[b + i], kb) + Math.imul(src[d + i], kc)) | 0)];
        out[o + i + 1] =
          lut[256 + clip8((ROUND + Math.imul(src[a + i + 1], ka) + Math.imul(src[b + i + 1], kb) + Math.imul(src[d + i + 1], kc)) | 0)];
        out[o + i + 2] =
          lut[512 + clip8((ROUND + Math.imul(src[a + i + 2], ka) + Math.imul(src[b + i + 2], kb) + Math.imul(src[d + i + 2], kc)) | 0)];
      }
      continue;
    }
    accumulateRows(acc, src, kk, k0, n, ymin, stride);
    for (let i = 0; i < stride; i++) out[o + i] = lut[(i % c) * 256 + clip8(acc[i])];
  }
  return out;
}

/**
 * resampleRegion followed by a per-channel byte -> float table (ToTensor, Normalize) in the same pass: the
 * floats of resizing, cropping and then converting, without the intermediate uint8 image.
 */
export function resampleRegionToFloat(
  img: Image,
  height: number,
  width: number,
  filter: ResampleFilter,
  top: number,
  left: number,
  h: number,
  w: number,
  lut: Float32Array,
): FloatImage {
  const c = img.channels;
  if (height === img.height) {
    // no vertical pass to fold the table into
    const u = resampleRegion(img, height, width, filter, top, left, h, w).data;
    const out = new Float32Array(u.length);
    for (let i = 0; i < u.length; i++) out[i] = lut[(i % c) * 256 + u[i]];
    return new FloatImage(out, h, w, c);
  }
  const vert = cachedCoefficients(img.height, height, filter);
  const y0 = vert.bounds[top * 2];
  const y1 = vert.bounds[(top + h - 1) * 2] + vert.bounds[(top + h - 1) * 2 + 1];
  const rows =
    width !== img.width
      ? resampleHorizontal(img.data, img.width, c, y0, y1, cachedCoefficients(img.width, width, filter), left, left + w)
      : copyColumns(img, y0, y1, left, w);
  return new FloatImage(resampleVerticalToFloat(rows, y0, w, c, vert, top, top + h, lut), h, w, c);
}

/** Rows [y0, y1), columns [left, left + w) of an image. */
function copyColumns(img: Image, y0: number, y1: number, left: number, w: number): Uint8Array {
  const c = img.channels;
  const rows = new Uint8Array((y1 - y0) * w * c);
  for (let y = y0; y < y1; y++) rows.set(img.data.subarray((y * img.width + left) * c, (y * img.width + left + w) * c), (y - y0) * w * c);
  return rows;
}
