// Fashion-MNIST in the idx format (optionally gzipped), 28x28 gray images, 10 classes.
import * as fs from "fs";
import * as path from "path";
import * as zlib from "zlib";
import { sharedCopy } from "./cifar10";
import { ImageDataset } from "./dataset";
import { Image } from "./image";
import { Spec, transformSpec, TransformLike } from "./transforms/transform";

/** Where Debian's dataset-fashion-mnist package installs the files. */
export const FASHION_MNIST_DEBIAN_ROOT = "/usr/share/datasets/fashion-mnist";
export const FASHION_MNIST_CLASSES = [
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
] as const;

export interface FashionMNISTOptions<X = Image> {
  /** Training split (60000 images) or test split (t10k, 10000). Default true. */
  train?: boolean;
  /** Applied to each uint8 28x28x1 image by `get()`; add `new transforms.Grayscale(3)` for 3-channel models. */
  transform?: TransformLike<Image, X>;
  /** @internal Images and labels already in (shared) memory: how DataLoader workers get them. */
  arrays?: { data: Uint8Array; targets: Uint8Array };
}

interface Idx {
  dims: number[];
  data: Uint8Array;
  /** The file it was read from. */
  file: string;
}

/** Parses an idx file: magic 0x0000 08 <ndim>, ndim big-endian uint32 sizes, then unsigned bytes. */
export function parseIdx(buf: Uint8Array, file: string): Idx {
  const bad = (why: string): Error =>
    new Error(
      `tsdl.data: ${file} is not a valid idx file: ${why}. Reinstall the data (Debian: apt-get install --reinstall dataset-fashion-mnist).`,
    );
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0) throw bad("bad magic number");
  if (buf[2] !== 0x08) throw bad(`element type 0x${buf[2].toString(16)} (only unsigned bytes, 0x08, are supported)`);
  const ndim = buf[3];
  if (buf.length < 4 + 4 * ndim) throw bad("header cut short");
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dims = Array.from({ length: ndim }, (_, i) => view.getUint32(4 + 4 * i, false));
  const size = dims.reduce((a, b) => a * b, 1);
  const start = 4 + 4 * ndim;
  if (buf.length - start !== size) throw bad(`truncated: header says ${dims.join("x")} = ${size} bytes, found ${buf.length - start}`);
  return { dims, data: buf.subarray(start), file };
}

function readIdx(dirs: string[], name: string): Idx {
  for (const dir of dirs) {
    for (const file of [path.join(dir, name), path.join(dir, `${name}.gz`)]) {
      if (!fs.existsSync(file)) continue;
      let buf: Buffer = fs.readFileSync(file);
      if (file.endsWith(".gz")) {
        try {
          buf = zlib.gunzipSync(buf);
        } catch (e) {
          throw new Error(`tsdl.data: ${file} is truncated or corrupt (gunzip: ${(e as Error).message}). Reinstall or download it again.`);
        }
      }
      return parseIdx(buf, file);
    }
  }
  throw new Error(
    `tsdl.data: Fashion-MNIST not found: no ${name} or ${name}.gz in ${dirs.join(" or ")}. ` +
      `Install it (Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist, into ${FASHION_MNIST_DEBIAN_ROOT}) ` +
      `or put the four idx files from https://github.com/zalandoresearch/fashion-mnist in the root you pass.`,
  );
}

/**
 * Fashion-MNIST (torchvision.datasets.FashionMNIST): `new data.FashionMNIST(root?, { train, transform })`.
 * Root defaults to /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist); files are looked up in
 * root and in root/FashionMNIST/raw (torchvision's layout), plain or .gz. Images are uint8 28x28x1.
 */
export class FashionMNIST<X = Image> extends ImageDataset<X> {
  readonly root: string;
  readonly train: boolean;
  readonly classes: readonly string[] = FASHION_MNIST_CLASSES;
  readonly targets: Uint8Array;
  /** All images, N x 28 x 28 bytes. */
  readonly data: Uint8Array;

  constructor(root: string = FASHION_MNIST_DEBIAN_ROOT, opts: FashionMNISTOptions<X> = {}) {
    super(opts.transform);
    this.root = path.resolve(root);
    this.train = opts.train ?? true;
    if (opts.arrays) {
      this.data = opts.arrays.data;
      this.targets = opts.arrays.targets;
      return;
    }
    const dirs = [this.root, path.join(this.root, "FashionMNIST", "raw")];
    const prefix = this.train ? "train" : "t10k";
    const images = readIdx(dirs, `${prefix}-images-idx3-ubyte`);
    const labels = readIdx(dirs, `${prefix}-labels-idx1-ubyte`);
    if (images.dims.length !== 3 || images.dims[1] !== 28 || images.dims[2] !== 28) {
      throw new Error(`tsdl.data: ${prefix}-images-idx3-ubyte holds ${images.dims.join("x")}, expected N x 28 x 28`);
    }
    if (labels.dims.length !== 1 || labels.dims[0] !== images.dims[0]) {
      throw new Error(`tsdl.data: ${prefix}-labels-idx1-ubyte holds ${labels.dims.join("x")} labels for ${images.dims[0]} images`);
    }
    const bad = labels.data.findIndex((label) => label >= FASHION_MNIST_CLASSES.length);
    if (bad >= 0) {
      throw new Error(
        `tsdl.data: ${labels.file} is corrupt: label ${labels.data[bad]} at index ${bad}; accepted: 0..${FASHION_MNIST_CLASSES.length - 1} ` +
          `(the ${FASHION_MNIST_CLASSES.length} Fashion-MNIST classes). Reinstall the data (Debian: apt-get install --reinstall dataset-fashion-mnist).`,
      );
    }
    // in shared memory, so DataLoader worker threads read the same bytes instead of a copy each
    this.data = sharedCopy([images.data]);
    this.targets = sharedCopy([labels.data]);
  }

  image(index: number): Image {
    return new Image(this.data.slice(index * 784, (index + 1) * 784), 28, 28, 1);
  }

  /** How a DataLoader worker rebuilds this dataset (sharing its memory); undefined for custom transforms. */
  workerSpec(): Spec | undefined {
    const t = this.transform === undefined ? undefined : transformSpec(this.transform);
    if (this.transform !== undefined && t === undefined) return undefined;
    return {
      kind: "FashionMNIST",
      args: [this.root, { train: this.train, transform: t, arrays: { data: this.data, targets: this.targets } }],
    };
  }

  override toString(): string {
    return `Dataset FashionMNIST\n    Number of datapoints: ${this.length}\n    Root location: ${this.root}\n    Split: ${this.train ? "Train" : "Test"}`;
  }
}
