import type { Image } from "../image";
import type { Transform } from "./transform";
import { Interpolation, INTERPOLATIONS, parseSize, resize, Size } from "./functional";

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

  toString(): string {
    return `Resize(size=${this.size.length === 1 ? this.size[0] : `[${this.size}]`}, interpolation=${this.interpolation})`;
  }
}
