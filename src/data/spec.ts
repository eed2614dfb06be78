// Rebuilding datasets and transforms from their specs (plain data) inside a DataLoader worker thread.
import { CIFAR10 } from "./cifar10";
import { Subset } from "./dataset";
import type { Dataset } from "./dataset";
import { FashionMNIST } from "./fashionMnist";
import * as T from "./transforms";
import type { Spec } from "./transforms/transform";

type Ctor = new (...args: never[]) => unknown;

const TRANSFORMS: Record<string, Ctor> = {
  Resize: T.Resize,
  RandomHorizontalFlip: T.RandomHorizontalFlip,
  RandomVerticalFlip: T.RandomVerticalFlip,
  RandomCrop: T.RandomCrop,
  CenterCrop: T.CenterCrop,
  ColorJitter: T.ColorJitter,
  ToTensor: T.ToTensor,
  Normalize: T.Normalize,
  Grayscale: T.Grayscale,
};

function build(spec: Spec): unknown {
  const { kind, args } = spec;
  switch (kind) {
    case "Compose":
      return new T.Compose((args[0] as Spec[]).map((s) => build(s) as T.TransformLike));
    case "CIFAR10":
    case "FashionMNIST": {
      const [root, opts] = args as [
        string,
        { train: boolean; transform?: Spec; records?: Uint8Array; arrays?: { data: Uint8Array; targets: Uint8Array } },
      ];
      const transform = opts.transform ? (build(opts.transform) as T.TransformLike) : undefined;
      return kind === "CIFAR10"
        ? new CIFAR10(root, { train: opts.train, transform, records: opts.records })
        : new FashionMNIST(root, { train: opts.train, transform, arrays: opts.arrays });
    }
    case "Subset":
      return new Subset(build(args[0] as Spec) as Dataset<unknown>, args[1] as number[]);
    default: {
      const ctor = TRANSFORMS[kind];
      if (!ctor)
        throw new Error(
          `tsdl.data: unknown spec kind ${JSON.stringify(kind)}; known: Compose, CIFAR10, FashionMNIST, Subset, ${Object.keys(TRANSFORMS).join(", ")}`,
        );
      return new (ctor as unknown as new (...a: unknown[]) => unknown)(...args);
    }
  }
}

/** The dataset a spec describes (what a worker thread runs). */
export function datasetFromSpec(spec: Spec): Dataset<unknown> {
  return build(spec) as Dataset<unknown>;
}
