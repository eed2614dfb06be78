// The dataset protocol (torch.utils.data.Dataset) and Subset.
import { inspect } from "util";
import { Image } from "./image";
import { defaultGenerator, Generator } from "./random";
import { applyTransform, Spec, TransformLike } from "./transforms/transform";

/** A map-style dataset: `length` items, `get(i)` returns item i (PyTorch's `__len__` / `__getitem__`). */
export interface Dataset<T> {
  readonly length: number;
  /** Item i; random transforms draw from `generator` (the DataLoader passes one per sample). */
  get(index: number, generator?: Generator): T;
  /** Optional: how to rebuild this dataset in a DataLoader worker thread (needed for `numWorkers` > 0). */
  workerSpec?(): Spec | undefined;
}

/** An (image, label) pair, as torchvision's datasets return: `const [img, label] = ds.get(0)`. */
export type Sample<X> = [X, number];

export function checkIndex(index: number, length: number, who: string): void {
  if (!Number.isInteger(index) || index < 0 || index >= length) {
    throw new RangeError(`tsdl.data: ${who} index ${index} is out of range: valid indices are 0..${length - 1} (length ${length})`);
  }
}

/** The items of `dataset` at `indices` (torch.utils.data.Subset). */
export class Subset<T> implements Dataset<T> {
  readonly indices: Int32Array;

  constructor(
    readonly dataset: Dataset<T>,
    indices: ArrayLike<number>,
  ) {
    this.indices = Int32Array.from(indices as ArrayLike<number>);
    Array.from(indices).forEach((i) => checkIndex(i, dataset.length, "Subset"));
  }

  get length(): number {
    return this.indices.length;
  }

  get(index: number, generator?: Generator): T {
    checkIndex(index, this.length, "Subset");
    return this.dataset.get(this.indices[index], generator);
  }

  [inspect.custom](): string {
    return `Subset of ${this.length} from ${inspect(this.dataset)}`;
  }

  workerSpec(): Spec | undefined {
    const inner = this.dataset.workerSpec?.();
    return inner ? { kind: "Subset", args: [inner, Array.from(this.indices)] } : undefined;
  }
}

/**
 * A smaller dataset for quick runs: `subset(ds, 1000)` keeps the first 1000 items, `subset(ds, [3, 1, 4])`
 * the items at those indices.
 */
export function subset<T>(dataset: Dataset<T>, n: number | ArrayLike<number>): Subset<T> {
  if (typeof n === "number") {
    if (!Number.isInteger(n) || n < 0 || n > dataset.length) {
      throw new RangeError(`tsdl.data: subset size must be an integer in [0, ${dataset.length}] (the dataset's length), got ${n}`);
    }
    return new Subset(
      dataset,
      Array.from({ length: n }, (_, i) => i),
    );
  }
  return new Subset(dataset, n);
}

/** Shared by the image datasets: uint8 images in memory, a label per image, an optional transform. */
export abstract class ImageDataset<X = Image> implements Dataset<Sample<X>> {
  /** Class names, index = label. */
  abstract readonly classes: readonly string[];
  /** The labels (torchvision's `targets`). */
  abstract readonly targets: Uint8Array;
  readonly transform?: TransformLike<Image, X>;

  constructor(transform?: TransformLike<Image, X>) {
    this.transform = transform;
  }

  get length(): number {
    return this.targets.length;
  }

  /** The untransformed image i (a copy: changing it leaves the dataset intact). */
  abstract image(index: number): Image;

  /** As torchvision's repr: the dataset, then its transform (not the pixel data, which is in memory). */
  [inspect.custom](): string {
    return this.transform ? `${this.toString()}\n    Transform: ${String(this.transform).replace(/\n/g, "\n    ")}` : this.toString();
  }

  get(index: number, generator: Generator = defaultGenerator()): Sample<X> {
    checkIndex(index, this.length, this.constructor.name);
    const img = this.image(index);
    const x = this.transform ? applyTransform(this.transform, img, generator) : (img as unknown as X);
    return [x, this.targets[index]];
  }
}
