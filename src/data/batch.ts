// Making one batch on the host: the same code on the main thread and in worker threads, so the bytes of a
// batch do not depend on where it was made.
import { describe } from "../core/check";
import type { Dataset } from "./dataset";
import { FloatImage, Image } from "./image";
import { deriveSeed, Generator } from "./random";

/** A batch as typed arrays: x float32 NHWC, y int32 labels. */
export interface HostBatch {
  x: Float32Array;
  y: Int32Array;
  shape: [number, number, number, number];
  /** Milliseconds spent making it. */
  ms: number;
}

/** Stacks items `indices` of `dataset`; item i is transformed with a generator seeded (seed, epoch, i). */
export function buildHostBatch(dataset: Dataset<unknown>, seed: number, epoch: number, indices: ArrayLike<number>): HostBatch {
  const t0 = performance.now();
  const n = indices.length;
  let x: Float32Array | undefined;
  let shape: [number, number, number, number] = [n, 0, 0, 0];
  const y = new Int32Array(n);
  for (let k = 0; k < n; k++) {
    const index = indices[k];
    let item: unknown;
    try {
      item = dataset.get(index, new Generator(deriveSeed(seed, epoch, index)));
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      const wrapped = new Error(
        `tsdl.data: sample ${index} of the dataset (epoch ${epoch}) failed in get() or its transform: ${err.name}: ${err.message}`,
      );
      (wrapped as { cause?: unknown }).cause = e;
      throw wrapped;
    }
    const [img, label] = Array.isArray(item) ? item : [item, undefined];
    if (!(img instanceof FloatImage)) {
      const hint = img instanceof Image ? ": end the dataset's transform with transforms.ToTensor() (and Normalize)" : "";
      throw new Error(`tsdl.data: DataLoader batches FloatImages; item ${index} of the dataset is ${describe(img)}${hint}`);
    }
    if (!Number.isInteger(label)) throw new Error(`tsdl.data: item ${index} has label ${describe(label)}; expected an integer class index`);
    if (!x) {
      shape = [n, img.height, img.width, img.channels];
      x = new Float32Array(n * img.data.length);
    } else if (img.height !== shape[1] || img.width !== shape[2] || img.channels !== shape[3]) {
      throw new Error(
        `tsdl.data: item ${index} is ${img.height}x${img.width}x${img.channels} but the batch started with ${shape.slice(1).join("x")}; ` +
          `add a Resize/CenterCrop so all images have one size`,
      );
    }
    x.set(img.data, k * img.data.length);
    y[k] = label as number;
  }
  return { x: x as Float32Array, y, shape, ms: performance.now() - t0 };
}
