import { FloatImage, Image } from "../image";
import { resampleRegion, resampleRegionToFloat } from "../pil";
import { defaultGenerator, Generator } from "../random";
import type { Spec, Transform, TransformLike } from "./transform";
import { RandomCrop } from "./crop";
import { RandomHorizontalFlip } from "./flip";
import { expectImage, hflip, hflipFloat, Interpolation, INTERPOLATIONS, parseSize, resize, resizedSize, Size } from "./functional";
import { Normalize, ToFloat, ToTensor } from "./tensor";

export interface ResizeOptions {
  /** PIL filter; torchvision's default is "bilinear". */
  interpolation?: Interpolation;
}

/**
 * torchvision.transforms.Resize on PIL images: `new Resize(96)` scales the smaller edge to 96 keeping the aspect
 * ratio; `new Resize([h, w])` sets both. Uses PIL's resampler (same bytes as torchvision + Pillow): bilinear by
 * default, antialiased when shrinking (PIL always is; torchvision's `antialias` flag only affects tensors).
 */
export class Resize implements Transform<Image, Image> {
  readonly size: [number, number] | [number];
  readonly interpolation: Interpolation;

  constructor(size: Size, opts: ResizeOptions = {}) {
    this.size = parseSize(size, "Resize");
    this.interpolation = opts.interpolation ?? "bilinear";
    if (!INTERPOLATIONS.includes(this.interpolation)) {
      throw new Error(`tsdl.data: Resize interpolation ${JSON.stringify(opts.interpolation)} is not one of ${INTERPOLATIONS.join(", ")}`);
    }
  }

  forward(img: Image): Image {
    return resize(img, this.size, this.interpolation);
  }

  /** Resize followed by RandomHorizontalFlip, RandomCrop and/or ToTensor (+ Normalize) runs as one step. */
  fuse(next: TransformLike): Transform | undefined {
    return this.interpolation === "nearest" ? undefined : new ResizedWindow(this, undefined, undefined, undefined).fuse(next);
  }

  workerSpec(): Spec {
    return { kind: "Resize", args: [this.size, { interpolation: this.interpolation }] };
  }

  toString(): string {
    return `Resize(size=${this.size.length === 1 ? this.size[0] : `[${this.size}]`}, interpolation=${this.interpolation})`;
  }
}

/**
 * Resize, then optionally RandomHorizontalFlip, RandomCrop and ToTensor (+ Normalize), as one step with the same
 * draws in the same order (flip, then top, then left) and the same values: PIL's resampler computes each output
 * pixel from its own taps, so resampling only the window (mirrored when flipped) equals resizing everything,
 * flipping and cropping; ToTensor and Normalize are per-byte tables applied as the pixels are made.
 */
class ResizedWindow implements Transform<Image, Image | FloatImage> {
  constructor(
    readonly resize: Resize,
    readonly flip: RandomHorizontalFlip | undefined,
    readonly crop: RandomCrop | undefined,
    readonly toFloat: ToFloat | undefined,
  ) {}

  fuse(next: TransformLike): Transform | undefined {
    const { resize, flip, crop, toFloat } = this;
    if (toFloat) return next instanceof Normalize ? new ResizedWindow(resize, flip, crop, toFloat.fuse(next) as ToFloat) : undefined;
    if (next instanceof ToTensor) return new ResizedWindow(resize, flip, crop, new ToFloat([]));
    if (next instanceof ToFloat) return new ResizedWindow(resize, flip, crop, next);
    if (crop) return undefined;
    if (next instanceof RandomCrop && next.padding === undefined && !next.padIfNeeded)
      return new ResizedWindow(resize, flip, next, undefined);
    if (next instanceof RandomHorizontalFlip && !flip) return new ResizedWindow(resize, next, undefined, undefined);
    return undefined;
  }

  forward(img: Image, generator: Generator = defaultGenerator()): Image | FloatImage {
    expectImage(img, "Resize");
    const [H, W] = resizedSize(img.height, img.width, this.resize.size);
    const flipped = this.flip ? generator.random() < this.flip.p : false;
    const [top, left, h, w] = this.crop ? RandomCrop.getParams(H, W, this.crop.size, generator) : [0, 0, H, W];
    const col = flipped ? W - left - w : left;
    const filter = this.resize.interpolation as Exclude<Interpolation, "nearest">;
    if (this.toFloat) {
      const out = resampleRegionToFloat(img, H, W, filter, top, col, h, w, this.toFloat.table(img.channels));
      return flipped ? hflipFloat(out) : out;
    }
    const out = resampleRegion(img, H, W, filter, top, col, h, w);
    return flipped ? hflip(out) : out;
  }

  toString(): string {
    return [this.resize, this.flip, this.crop, this.toFloat].filter((t) => t).join(" + ");
  }
}
