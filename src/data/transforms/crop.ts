import type { Image } from "../image";
import { defaultGenerator, Generator } from "../random";
import type { Spec, Transform } from "./transform";
import { centerCrop, crop, expectImage, pad, Padding, PaddingMode, PADDING_MODES, parsePadding, parseSize, Size } from "./functional";

export interface RandomCropOptions {
  /** Padded onto every image before cropping: one int, [leftRight, topBottom] or [left, top, right, bottom]. */
  padding?: Padding;
  /** Pad images smaller than the crop (by the shortfall on both sides, as torchvision). */
  padIfNeeded?: boolean;
  /** Fill of "constant" padding, one value or one per channel (default 0). */
  fill?: number | readonly number[];
  paddingMode?: PaddingMode;
}

/**
 * torchvision.transforms.RandomCrop: pad (optional), then cut a `size` window at a uniform random position:
 * top = randint(0, h - th + 1), left = randint(0, w - tw + 1), drawn in that order.
 */
export class RandomCrop implements Transform<Image, Image> {
  readonly size: [number, number];
  readonly padding?: [number, number, number, number];
  readonly padIfNeeded: boolean;
  readonly fill: number | readonly number[];
  readonly paddingMode: PaddingMode;

  constructor(size: Size, opts: RandomCropOptions = {}) {
    const s = parseSize(size, "RandomCrop");
    this.size = s.length === 1 ? [s[0], s[0]] : s;
    if (opts.padding !== undefined) this.padding = parsePadding(opts.padding);
    this.padIfNeeded = opts.padIfNeeded ?? false;
    this.fill = opts.fill ?? 0;
    this.paddingMode = opts.paddingMode ?? "constant";
    if (!PADDING_MODES.includes(this.paddingMode)) {
      throw new Error(`tsdl.data: RandomCrop paddingMode ${JSON.stringify(opts.paddingMode)} is not one of ${PADDING_MODES.join(", ")}`);
    }
  }

  /** The window (top, left, height, width) for an image of the given size: RandomCrop.get_params. */
  static getParams(height: number, width: number, size: readonly [number, number], generator: Generator): [number, number, number, number] {
    const [th, tw] = size;
    if (height < th || width < tw) {
      throw new Error(
        `tsdl.data: RandomCrop size ${th}x${tw} is larger than the (padded) image ${height}x${width}; use padding or padIfNeeded`,
      );
    }
    if (height === th && width === tw) return [0, 0, height, width];
    const top = generator.randint(0, height - th + 1);
    const left = generator.randint(0, width - tw + 1);
    return [top, left, th, tw];
  }

  forward(img: Image, generator: Generator = defaultGenerator()): Image {
    expectImage(img, "RandomCrop");
    if (this.padding) img = pad(img, this.padding, this.fill, this.paddingMode);
    const [th, tw] = this.size;
    if (this.padIfNeeded && img.width < tw) img = pad(img, [tw - img.width, 0], this.fill, this.paddingMode);
    if (this.padIfNeeded && img.height < th) img = pad(img, [0, th - img.height], this.fill, this.paddingMode);
    const [top, left, h, w] = RandomCrop.getParams(img.height, img.width, this.size, generator);
    return crop(img, top, left, h, w);
  }

  workerSpec(): Spec {
    return {
      kind: "RandomCrop",
      args: [this.size, { padding: this.padding, padIfNeeded: this.padIfNeeded, fill: this.fill, paddingMode: this.paddingMode }],
    };
  }

  toString(): string {
    return `RandomCrop(size=[${this.size}], padding=${this.padding ? `[${this.padding}]` : "none"})`;
  }
}

/** torchvision.transforms.CenterCrop. */
export class CenterCrop implements Transform<Image, Image> {
  readonly size: [number, number];
  constructor(size: Size) {
    const s = parseSize(size, "CenterCrop");
    this.size = s.length === 1 ? [s[0], s[0]] : s;
  }
  forward(img: Image): Image {
    return centerCrop(img, this.size);
  }
  workerSpec(): Spec {
    return { kind: "CenterCrop", args: [this.size] };
  }
  toString(): string {
    return `CenterCrop(size=[${this.size}])`;
  }
}
