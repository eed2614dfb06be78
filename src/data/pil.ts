// Pillow 9's 8-bit image kernels, reproduced operation for operation so that torchvision's PIL transforms give
// the same bytes here: the separable resampler (Resample.c), Image.blend (Blend.c) and the RGB <-> L / HSV
// conversions (Convert.c). C float (32-bit) arithmetic is reproduced with Math.fround where Pillow uses it.
import { Image } from "./image";

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
  return { ksize, bounds, kk };
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
const clip8 = (v: number): number => (v <= 0 ? 0 : v >= 255 << PRECISION_BITS ? 255 : v >> PRECISION_BITS);

function resampleHorizontal(src: Uint8Array, h: number, inW: number, c: number, outW: number, co: Coeffs): Uint8Array {
  const out = new Uint8Array(h * outW * c);
  const { ksize, bounds, kk } = co;
  for (let y = 0; y < h; y++) {
    const row = y * inW * c;
    for (let xx = 0; xx < outW; xx++) {
      const xmin = bounds[xx * 2];
      const n = bounds[xx * 2 + 1];
      const k0 = xx * ksize;
      for (let ch = 0; ch < c; ch++) {
        let ss = ROUND;
        let p = row + xmin * c + ch;
        for (let x = 0; x < n; x++, p += c) ss += src[p] * kk[k0 + x];
        out[(y * outW + xx) * c + ch] = clip8(ss);
      }
    }
  }
  return out;
}

function resampleVertical(src: Uint8Array, inH: number, w: number, c: number, outH: number, co: Coeffs): Uint8Array {
  const out = new Uint8Array(outH * w * c);
  const { ksize, bounds, kk } = co;
  const stride = w * c;
  for (let yy = 0; yy < outH; yy++) {
    const ymin = bounds[yy * 2];
    const n = bounds[yy * 2 + 1];
    const k0 = yy * ksize;
    const o = yy * stride;
    for (let i = 0; i < stride; i++) {
      let ss = ROUND;
      let p = ymin * stride + i;
      for (let y = 0; y < n; y++, p += stride) ss += src[p] * kk[k0 + y];
      out[o + i] = clip8(ss);
    }
  }
  return out;
}

/**
 * PIL `Image.resize((width, height), filter)`: a horizontal then a vertical pass, each rounded to uint8.
 * The filter support widens by the scale when shrinking, so downscaling is antialiased (as PIL always is).
 */
export function resample(img: Image, height: number, width: number, filter: ResampleFilter): Image {
  const { data, height: inH, width: inW, channels: c } = img;
  if (inH === height && inW === width) return new Image(data.slice(), height, width, c);
  let cur = data;
  if (width !== inW) cur = resampleHorizontal(cur, inH, inW, c, width, cachedCoefficients(inW, width, filter));
  if (height !== inH) cur = resampleVertical(cur, inH, width, c, height, cachedCoefficients(inH, height, filter));
  return new Image(cur, height, width, c);
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
  const out = new Uint8Array(b.length);
  const constant = typeof a === "number";
  const inside = al >= 0 && al <= 1;
  for (let i = 0; i < b.length; i++) {
    const x = constant ? (a as number) : (a as Uint8Array)[i];
    const t = Math.fround(x + Math.fround(al * (b[i] - x)));
    out[i] = inside ? t : t <= 0 ? 0 : t >= 255 ? 255 : t; // Uint8Array stores truncate
  }
  return out;
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

/** PIL's RGB -> HSV (Convert.c rgb2hsv, after colorsys), in place over 3-byte pixels. */
export function rgbToHsv(rgb: Uint8Array): Uint8Array {
  const out = new Uint8Array(rgb.length);
  for (let p = 0; p < rgb.length; p += 3) {
    const r = rgb[p];
    const g = rgb[p + 1];
    const b = rgb[p + 2];
    const maxc = Math.max(r, g, b);
    const minc = Math.min(r, g, b);
    let uh = 0;
    let us = 0;
    if (minc !== maxc) {
      const cr = maxc - minc;
      const s = f32(cr / maxc);
      const rc = f32((maxc - r) / cr);
      const gc = f32((maxc - g) / cr);
      const bc = f32((maxc - b) / cr);
      let h: number;
      if (r === maxc) h = f32(bc - gc);
      else if (g === maxc) h = f32(2 + rc - bc);
      else h = f32(4 + gc - rc);
      h = f32((h / 6 + 1) % 1);
      uh = CLIP8(Math.trunc(h * 255));
      us = CLIP8(Math.trunc(s * 255));
    }
    out[p] = uh;
    out[p + 1] = us;
    out[p + 2] = maxc;
  }
  return out;
}

/** PIL's HSV -> RGB (Convert.c hsv2rgb). */
export function hsvToRgb(hsv: Uint8Array): Uint8Array {
  const out = new Uint8Array(hsv.length);
  for (let p = 0; p < hsv.length; p += 3) {
    const h = hsv[p];
    const s = hsv[p + 1];
    const v = hsv[p + 2];
    if (s === 0) {
      out[p] = out[p + 1] = out[p + 2] = v;
      continue;
    }
    const i = Math.floor((h * 6) / 255);
    const f = f32((h * 6) / 255 - i);
    const fs = f32(s / 255);
    const up = CLIP8(Math.round(v * (1 - fs)));
    const uq = CLIP8(Math.round(v * (1 - f32(fs * f))));
    const ut = CLIP8(Math.round(v * (1 - fs * (1 - f))));
    let r: number, g: number, b: number;
    switch (i % 6) {
      case 0: [r, g, b] = [v, ut, up]; break;
      case 1: [r, g, b] = [uq, v, up]; break;
      case 2: [r, g, b] = [up, v, ut]; break;
      case 3: [r, g, b] = [up, uq, v]; break;
      case 4: [r, g, b] = [ut, up, v]; break;
      default: [r, g, b] = [v, up, uq]; break;
    }
    out[p] = r;
    out[p + 1] = g;
    out[p + 2] = b;
  }
  return out;
}
