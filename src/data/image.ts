// The two image types transforms pass along: `Image` is what PIL gives torchvision (uint8, height x width x
// channels), `FloatImage` is what ToTensor gives (float32, same HWC layout: tfjs is channels-last).

function checkShape(what: string, length: number, height: number, width: number, channels: number): void {
  for (const [name, v] of [["height", height], ["width", width]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`tsdl.data: ${what} ${name} must be a positive integer, got ${v}`);
  }
  if (channels !== 1 && channels !== 3) throw new Error(`tsdl.data: ${what} channels must be 1 (gray) or 3 (RGB), got ${channels}`);
  if (length !== height * width * channels) {
    throw new Error(`tsdl.data: ${what} of ${height}x${width}x${channels} needs ${height * width * channels} values, got ${length}`);
  }
}

/** An 8-bit image, row-major HWC (`data[(y * width + x) * channels + c]`), 1 (gray, PIL "L") or 3 (RGB) channels. */
export class Image {
  constructor(
    readonly data: Uint8Array,
    readonly height: number,
    readonly width: number,
    readonly channels: 1 | 3,
  ) {
    checkShape("Image", data.length, height, width, channels);
  }

  /** [height, width, channels], the shape of the tensor it becomes. */
  get shape(): [number, number, number] {
    return [this.height, this.width, this.channels];
  }

  /** PIL's mode name. */
  get mode(): "L" | "RGB" {
    return this.channels === 1 ? "L" : "RGB";
  }

  toString(): string {
    return `Image(${this.mode}, ${this.width}x${this.height})`;
  }
}

/** A float32 image, HWC like `Image`; what ToTensor and Normalize produce and the DataLoader stacks. */
export class FloatImage {
  constructor(
    readonly data: Float32Array,
    readonly height: number,
    readonly width: number,
    readonly channels: 1 | 3,
  ) {
    checkShape("FloatImage", data.length, height, width, channels);
  }

  get shape(): [number, number, number] {
    return [this.height, this.width, this.channels];
  }

  toString(): string {
    return `FloatImage(${this.height}x${this.width}x${this.channels})`;
  }
}

/** What the transforms in a chain hand to each other. */
export type AnyImage = Image | FloatImage;

/** Describes a value for error messages. */
export function describeValue(v: unknown): string {
  if (v instanceof Image || v instanceof FloatImage) return v.toString();
  if (v === null) return "null";
  if (typeof v === "object") return (v as object).constructor?.name ?? "object";
  return `${typeof v} ${String(v)}`;
}
