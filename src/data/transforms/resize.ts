import { Image } from "../image";
import { resampleRegion } from "../pil";
import { defaultGenerator, Generator } from "../random";
import type { Spec, Transform, TransformLike } from "./transform";
import { RandomCrop } from "./crop";
import { RandomHorizontalFlip } from "./flip";
import { expectImage, hflip, Interpolation, INTERPOLATIONS, parseSize, resize, resizedSize, Size } from "./functional";

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

  /** Resize + RandomCrop (optionally with a RandomHorizontalFlip between) computes only the crop window. */
  fuse(next: TransformLike): Transform | undefined {
    if (this.interpolation === "nearest") return undefined;
    if (next instanceof RandomCrop && ResizedCrop.fits(next)) return new ResizedCrop(this, undefined, next);
    if (next instanceof RandomHorizontalFlip) return new ResizedFlip(this, next);
    return undefined;
  }

  workerSpec(): Spec {
    return { kind: "Resize", args: [this.size, { interpolation: this.interpolation }] };
  }

  toString(): string {
    return `Resize(size=${this.size.length === 1 ? this.size[0] : `[${this.size}]`}, interpolation=${this.interpolation})`;
  }
}

/** Resize then RandomHorizontalFlip, waiting to be fused with a following RandomCrop. */
class ResizedFlip implements Transform<Image, Image> {
  constructor(readonly resize: Resize, readonly flip: RandomHorizontalFlip) {}
  forward(img: Image, generator: Generator = defaultGenerator()): Image {
    return this.flip.forward(this.resize.forward(img), generator);
  }
  fuse(next: TransformLike): Transform | undefined {
    return next instanceof RandomCrop && ResizedCrop.fits(next) ? new ResizedCrop(this.resize, this.flip, next) : undefined;
  }
  toString(): string {
    return `${this.resize} + ${this.flip}`;
  }
}

/**
 * Resize [+ RandomHorizontalFlip] + RandomCrop as one step with the same draws in the same order (flip, then
 * top, then left) and the same bytes: PIL's resampler computes each output pixel from its own taps, so
 * resampling only the window (mirrored when flipped) equals resizing everything, flipping and cropping.
 */
class ResizedCrop implements Transform<Image, Image> {
  static fits(crop: RandomCrop): boolean {
    return crop.padding === undefined && !crop.padIfNeeded;
  }

  constructor(readonly resize: Resize, readonly flip: RandomHorizontalFlip | undefined, readonly crop: RandomCrop) {}

  forward(img: Image, generator: Generator = defaultGenerator()): Image {
    expectImage(img, "Resize");
    const [H, W] = resizedSize(img.height, img.width, this.resize.size);
    const flipped = this.flip ? generator.random() < this.flip.p : false;
    const [top, left, h, w] = RandomCrop.getParams(H, W, this.crop.size, generator);
    const col = flipped ? W - left - w : left;
    const out = resampleRegion(img, H, W, this.resize.interpolation as Exclude<Interpolation, "nearest">, top, col, h, w);
    return flipped ? hflip(out) : out;
  }

  toString(): string {
    return [this.resize, this.flip, this.crop].filter((t) => t).join(" + ");
  }
}
