import { inspect } from "util";
import { JUPYTER_DISPLAY, MimeBundle } from "../display";
import { encodePng } from "./png";

// The two image types transforms pass along: `Image` is what PIL gives torchvision (uint8, height x width x
// channels), `FloatImage` is what ToTensor gives (float32, same HWC layout: tfjs is channels-last).

function checkShape(what: string, length: number, height: number, width: number, channels: number): void {
  for (const [name, v] of [
    ["height", height],
    ["width", width],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`tsdl.data: ${what} ${name} must be a positive integer, got ${v}`);
  }
  if (channels !== 1 && channels !== 3) throw new Error(`tsdl.data: ${what} channels must be 1 (gray) or 3 (RGB), got ${channels}`);
  if (length !== height * width * channels) {
    throw new Error(`tsdl.data: ${what} of ${height}x${width}x${channels} needs ${height * width * channels} values, got ${length}`);
  }
}

/** What Image and FloatImage share: row-major HWC pixels (`data[(y * width + x) * channels + c]`), checked once. */
export abstract class HwcImage<D extends Uint8Array | Float32Array> {
  constructor(
    readonly data: D,
    readonly height: number,
    readonly width: number,
    readonly channels: 1 | 3,
  ) {
    checkShape(this instanceof FloatImage ? "FloatImage" : "Image", data.length, height, width, channels);
  }

  /** [height, width, channels], the shape of the tensor it becomes. */
  get shape(): [number, number, number] {
    return [this.height, this.width, this.channels];
  }

  /** console.log and a notebook's text show the summary, not thousands of pixel values (they are in `data`). */
  [inspect.custom](): string {
    return this.toString();
  }
}

/** An 8-bit image, row-major HWC (`data[(y * width + x) * channels + c]`), 1 (gray, PIL "L") or 3 (RGB) channels. */
export class Image extends HwcImage<Uint8Array> {
  /** PIL's mode name. */
  get mode(): "L" | "RGB" {
    return this.channels === 1 ? "L" : "RGB";
  }

  /** PNG bytes, each pixel shown as `scale` x `scale` (small CIFAR images are easier to see at 4). */
  toPng(scale = 1): Buffer {
    if (!Number.isInteger(scale) || scale < 1 || scale > 32)
      throw new Error(`tsdl.data: PNG scale must be an integer in [1, 32], got ${scale}`);
    return encodePng(this.data, this.height, this.width, this.channels, scale);
  }

  /** In a notebook, `display(img)` (or an image as a cell's last value) shows the picture, enlarged to >= 96 px. */
  [JUPYTER_DISPLAY](): MimeBundle {
    const scale = Math.max(1, Math.min(8, Math.ceil(96 / Math.max(this.height, this.width))));
    return { "image/png": this.toPng(scale).toString("base64"), "text/plain": this.toString() };
  }

  override toString(): string {
    return `Image(${this.mode}, ${this.width}x${this.height})`;
  }
}

/** A float32 image, HWC like `Image`; what ToTensor and Normalize produce and the DataLoader stacks. */
export class FloatImage extends HwcImage<Float32Array> {
  override toString(): string {
    return `FloatImage(${this.height}x${this.width}x${this.channels})`;
  }
}

/** What the transforms in a chain hand to each other. */
export type AnyImage = Image | FloatImage;
