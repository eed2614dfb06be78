import type { Image } from "../image";
import { defaultGenerator, Generator } from "../random";
import type { Spec, Transform } from "./transform";
import { expectImage, hflip, vflip } from "./functional";

/** Flips with probability p: when generator.random() < p, as torchvision's torch.rand(1) < p. */
abstract class RandomFlip implements Transform<Image, Image> {
  constructor(
    private readonly kind: "RandomHorizontalFlip" | "RandomVerticalFlip",
    private readonly flip: (img: Image) => Image,
    readonly p: number,
  ) {
    if (!(p >= 0 && p <= 1)) throw new Error(`tsdl.data: ${kind} p must be a probability in [0, 1], got ${p}`);
  }
  forward(img: Image, generator: Generator = defaultGenerator()): Image {
    expectImage(img, this.kind);
    return generator.random() < this.p ? this.flip(img) : img;
  }
  workerSpec(): Spec {
    return { kind: this.kind, args: [this.p] };
  }
  toString(): string {
    return `${this.kind}(p=${this.p})`;
  }
}

/** Mirrors left-right with probability p. */
export class RandomHorizontalFlip extends RandomFlip {
  constructor(p = 0.5) {
    super("RandomHorizontalFlip", hflip, p);
  }
}

/** Mirrors top-bottom with probability p. */
export class RandomVerticalFlip extends RandomFlip {
  constructor(p = 0.5) {
    super("RandomVerticalFlip", vflip, p);
  }
}
