import type { Image } from "../image";
import { defaultGenerator, Generator } from "../random";
import type { Spec, Transform } from "./transform";
import { expectImage, hflip, vflip } from "./functional";

function checkP(p: number, who: string): number {
  if (!(p >= 0 && p <= 1)) throw new Error(`tsdl.data: ${who} p must be a probability in [0, 1], got ${p}`);
  return p;
}

/** Mirrors left-right with probability p (flip when generator.random() < p, as torch.rand(1) < p). */
export class RandomHorizontalFlip implements Transform<Image, Image> {
  constructor(readonly p = 0.5) {
    checkP(p, "RandomHorizontalFlip");
  }
  forward(img: Image, generator: Generator = defaultGenerator()): Image {
    expectImage(img, "RandomHorizontalFlip");
    return generator.random() < this.p ? hflip(img) : img;
  }
  workerSpec(): Spec {
    return { kind: "RandomHorizontalFlip", args: [this.p] };
  }
  toString(): string {
    return `RandomHorizontalFlip(p=${this.p})`;
  }
}

/** Mirrors top-bottom with probability p. */
export class RandomVerticalFlip implements Transform<Image, Image> {
  constructor(readonly p = 0.5) {
    checkP(p, "RandomVerticalFlip");
  }
  forward(img: Image, generator: Generator = defaultGenerator()): Image {
    expectImage(img, "RandomVerticalFlip");
    return generator.random() < this.p ? vflip(img) : img;
  }
  workerSpec(): Spec {
    return { kind: "RandomVerticalFlip", args: [this.p] };
  }
  toString(): string {
    return `RandomVerticalFlip(p=${this.p})`;
  }
}
