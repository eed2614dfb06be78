import { FloatImage, Image } from "../image";
import type { Spec, Transform, TransformLike } from "./transform";
import { applyTable, expectImage, floatTable, normalize, normalizeValues, rgbToGrayscale, toTensor } from "./functional";

/**
 * uint8 image -> float32 in [0, 1] (x / 255). Unlike torchvision (CHW), the result stays HWC: tfjs convolutions
 * are channels-last, and the DataLoader stacks these into [N, H, W, C].
 */
export class ToTensor implements Transform<Image, FloatImage> {
  forward(img: Image): FloatImage {
    return toTensor(img);
  }
  /** ToTensor then Normalize in one pass (bit-identical). */
  fuse(next: TransformLike): Transform<Image, FloatImage> | undefined {
    return next instanceof Normalize ? new ToFloat([next]) : undefined;
  }
  workerSpec(): Spec {
    return { kind: "ToTensor", args: [] };
  }
  toString(): string {
    return "ToTensor()";
  }
}

/** out[c] = (x[c] - mean[c]) / std[c]. `new Normalize([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])` maps [0, 1] to [-1, 1]. */
export class Normalize implements Transform<FloatImage, FloatImage> {
  readonly mean: readonly number[];
  readonly std: readonly number[];

  constructor(mean: number | readonly number[], std: number | readonly number[]) {
    const m = typeof mean === "number" ? [mean] : mean;
    const s = typeof std === "number" ? [std] : std;
    // validate now (count checked against the image later), so a bad argument fails where it was written
    normalizeValues(m, s, Math.max(m.length, s.length));
    this.mean = [...m];
    this.std = [...s];
  }

  forward(img: FloatImage): FloatImage {
    return normalize(img, this.mean, this.std);
  }

  workerSpec(): Spec {
    return { kind: "Normalize", args: [this.mean, this.std] };
  }

  toString(): string {
    return `Normalize(mean=[${this.mean}], std=[${this.std}])`;
  }
}

/**
 * ToTensor followed by Normalize steps, as one table lookup per byte (what Compose runs for that sequence; also
 * folded into a preceding Resize). Bit-identical to the steps: they are element-wise.
 */
export class ToFloat implements Transform<Image, FloatImage> {
  private readonly tables: Float32Array[] = []; // by channel count, made on first use

  constructor(readonly steps: readonly Normalize[]) {}

  table(channels: number): Float32Array {
    return (this.tables[channels] ??= floatTable(this.steps, channels));
  }

  forward(img: Image): FloatImage {
    expectImage(img, "ToTensor");
    return applyTable(img, this.table(img.channels));
  }

  fuse(next: TransformLike): Transform<Image, FloatImage> | undefined {
    return next instanceof Normalize ? new ToFloat([...this.steps, next]) : undefined;
  }

  toString(): string {
    return ["ToTensor()", ...this.steps.map(String)].join(" + ");
  }
}

/**
 * torchvision.transforms.Grayscale: PIL's luma (convert("L")), with 1 or 3 output channels. `new Grayscale(3)`
 * turns Fashion-MNIST's gray images into the 3 channels `resnet(3, 10)` takes.
 */
export class Grayscale implements Transform<Image, Image> {
  constructor(readonly numOutputChannels: 1 | 3 = 1) {
    if (numOutputChannels !== 1 && numOutputChannels !== 3) {
      throw new Error(`tsdl.data: Grayscale numOutputChannels must be 1 or 3, got ${numOutputChannels}`);
    }
  }
  forward(img: Image): Image {
    return rgbToGrayscale(img, this.numOutputChannels);
  }
  workerSpec(): Spec {
    return { kind: "Grayscale", args: [this.numOutputChannels] };
  }
  toString(): string {
    return `Grayscale(numOutputChannels=${this.numOutputChannels})`;
  }
}
