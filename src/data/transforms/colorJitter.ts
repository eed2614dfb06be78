import type { Image } from "../image";
import { defaultGenerator, Generator } from "../random";
import type { Spec, Transform } from "./transform";
import { adjustBrightness, adjustContrast, adjustHue, adjustSaturation, expectImage } from "./functional";

/** A jitter amount: one number j (range [max(0, 1 - j), 1 + j], or [-j, j] for hue) or an explicit [min, max]. */
export type JitterRange = number | readonly [number, number];

export interface ColorJitterOptions {
  brightness?: JitterRange;
  contrast?: JitterRange;
  saturation?: JitterRange;
  hue?: JitterRange;
}

/** One draw of ColorJitter: the order of the four adjustments (0 brightness, 1 contrast, 2 saturation, 3 hue) and factors. */
export interface ColorJitterParams {
  order: number[];
  brightness?: number;
  contrast?: number;
  saturation?: number;
  hue?: number;
}

function checkRange(
  value: JitterRange | undefined,
  name: string,
  center: number,
  bound: [number, number],
  clipAtZero: boolean,
): [number, number] | undefined {
  if (value === undefined) return undefined;
  let r: [number, number];
  if (typeof value === "number") {
    if (!(value >= 0)) throw new Error(`tsdl.data: ColorJitter ${name} must be a non-negative number or [min, max], got ${value}`);
    r = [center - value, center + value];
    if (clipAtZero) r[0] = Math.max(r[0], 0);
  } else if (Array.isArray(value) && value.length === 2) {
    r = [value[0], value[1]];
  } else {
    throw new Error(`tsdl.data: ColorJitter ${name} must be a number or [min, max], got ${JSON.stringify(value)}`);
  }
  if (!(bound[0] <= r[0] && r[0] <= r[1] && r[1] <= bound[1])) {
    throw new Error(
      `tsdl.data: ColorJitter ${name} range [${r}] must lie within [${bound}] with min <= max (from ${JSON.stringify(value)})`,
    );
  }
  return r[0] === center && r[1] === center ? undefined : r;
}

/**
 * torchvision.transforms.ColorJitter: applies brightness, contrast, saturation and hue changes in a random
 * order, each with a factor drawn uniformly from its range (brightness_factor in [max(0, 1 - b), 1 + b],
 * hue_factor in [-h, h], h <= 0.5). Same PIL arithmetic as torchvision; the random stream is tsdl's own.
 */
export class ColorJitter implements Transform<Image, Image> {
  readonly brightness?: [number, number];
  readonly contrast?: [number, number];
  readonly saturation?: [number, number];
  readonly hue?: [number, number];

  constructor(opts: ColorJitterOptions = {}) {
    this.brightness = checkRange(opts.brightness, "brightness", 1, [0, Infinity], true);
    this.contrast = checkRange(opts.contrast, "contrast", 1, [0, Infinity], true);
    this.saturation = checkRange(opts.saturation, "saturation", 1, [0, Infinity], true);
    this.hue = checkRange(opts.hue, "hue", 0, [-0.5, 0.5], false);
  }

  /** Draws the order (a permutation of 0..3), then the factors in the order brightness, contrast, saturation, hue. */
  getParams(generator: Generator = defaultGenerator()): ColorJitterParams {
    const order = Array.from(generator.randperm(4));
    const draw = (r?: [number, number]): number | undefined => (r ? generator.uniform(r[0], r[1]) : undefined);
    return {
      order,
      brightness: draw(this.brightness),
      contrast: draw(this.contrast),
      saturation: draw(this.saturation),
      hue: draw(this.hue),
    };
  }

  /** Applies one draw (ColorJitter.forward with fixed parameters). */
  static apply(img: Image, p: ColorJitterParams): Image {
    for (const fn of p.order) {
      if (fn === 0 && p.brightness !== undefined) img = adjustBrightness(img, p.brightness);
      else if (fn === 1 && p.contrast !== undefined) img = adjustContrast(img, p.contrast);
      else if (fn === 2 && p.saturation !== undefined) img = adjustSaturation(img, p.saturation);
      else if (fn === 3 && p.hue !== undefined) img = adjustHue(img, p.hue);
    }
    return img;
  }

  forward(img: Image, generator: Generator = defaultGenerator()): Image {
    expectImage(img, "ColorJitter");
    return ColorJitter.apply(img, this.getParams(generator));
  }

  workerSpec(): Spec {
    return {
      kind: "ColorJitter",
      args: [{ brightness: this.brightness, contrast: this.contrast, saturation: this.saturation, hue: this.hue }],
    };
  }

  toString(): string {
    const f = (r?: [number, number]): string => (r ? `[${r}]` : "none");
    return `ColorJitter(brightness=${f(this.brightness)}, contrast=${f(this.contrast)}, saturation=${f(this.saturation)}, hue=${f(this.hue)})`;
  }
}
