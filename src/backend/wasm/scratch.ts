// Calls the wasm backend's own kernel functions (XNNPACK conv, transpose, pad, ...) from inside a kernel,
// on TensorInfos, and disposes every intermediate when the kernel is done.
import * as tf from "@tensorflow/tfjs";

export type TensorInfo = tf.TensorInfo;
type Pads = [[number, number], [number, number], [number, number], [number, number]];

/**
 * A scratchpad of intermediate tensors. Every tensor made through it is disposed by `dispose()`,
 * except the ones handed out with `keep()`. Reshapes share data with their input (the wasm backend
 * counts references), so disposing a reshape never frees data still in use.
 */
export class Scratch {
  private readonly temps: TensorInfo[] = [];

  constructor(readonly backend: tf.KernelBackend) {}

  /** Run the wasm kernel `name` and track its output. */
  run(name: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {}): TensorInfo {
    const kernel = tf.getKernel(name, "wasm");
    if (!kernel) throw new Error(`tsdl: the wasm backend has no '${name}' kernel`);
    const out = kernel.kernelFunc({ inputs, attrs, backend: this.backend }) as TensorInfo;
    this.temps.push(out);
    return out;
  }

  /** Run a kernel whose input list is an array (Concat, AddN). */
  runList(name: string, inputs: TensorInfo[], attrs: tf.NamedAttrMap = {}): TensorInfo {
    const kernel = tf.getKernel(name, "wasm");
    if (!kernel) throw new Error(`tsdl: the wasm backend has no '${name}' kernel`);
    const out = kernel.kernelFunc({
      inputs: inputs as unknown as tf.NamedTensorInfoMap,
      attrs,
      backend: this.backend,
    }) as TensorInfo;
    this.temps.push(out);
    return out;
  }

  /** Hand `t` to the caller: `dispose()` will not free it. */
  keep(t: TensorInfo): TensorInfo {
    const i = this.temps.lastIndexOf(t);
    if (i >= 0) this.temps.splice(i, 1);
    return t;
  }

  /** Free everything made here that was not kept. */
  dispose(): void {
    for (const t of this.temps) this.backend.disposeData(t.dataId);
    this.temps.length = 0;
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run("Reshape", { x }, { shape });
  }

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run("Transpose", { x }, { perm });
  }

  reverse(x: TensorInfo, dims: number[]): TensorInfo {
    return this.run("Reverse", { x }, { dims });
  }

  pad(x: TensorInfo, paddings: Array<[number, number]>): TensorInfo {
    return this.run("PadV2", { x }, { paddings, constantValue: 0 });
  }

  slice(x: TensorInfo, begin: number[], size: number[]): TensorInfo {
    return this.run("Slice", { x }, { begin, size });
  }

  stridedSlice(x: TensorInfo, begin: number[], end: number[], strides: number[]): TensorInfo {
    return this.run(
      "StridedSlice",
      { x },
      { begin, end, strides, beginMask: 0, endMask: 0, ellipsisMask: 0, newAxisMask: 0, shrinkAxisMask: 0 },
    );
  }

  concat(xs: TensorInfo[], axis: number): TensorInfo {
    return this.runList("Concat", xs, { axis });
  }

  add(a: TensorInfo, b: TensorInfo): TensorInfo {
    return this.run("Add", { a, b });
  }

  /** a @ b on XNNPACK's fully-connected operator (fast only untransposed, batch 1: the caller lays data out so). */
  matMul(a: TensorInfo, b: TensorInfo): TensorInfo {
    return this.run("BatchMatMul", { a, b }, { transposeA: false, transposeB: false });
  }

  /** NHWC conv2d on XNNPACK with explicit (non-negative) paddings. */
  conv2d(x: TensorInfo, filter: TensorInfo, strides: [number, number], pads: Pads, dilations: [number, number] = [1, 1]): TensorInfo {
    return this.run("Conv2D", { x, filter }, {
      strides,
      pad: pads,
      dataFormat: "NHWC",
      dilations,
      dimRoundingMode: undefined,
    } as unknown as tf.NamedAttrMap);
  }

  /**
   * Pad (positive) or crop (negative) the two spatial axes of an NHWC tensor.
   * [top, bottom, left, right]; crops use a Slice, pads a PadV2.
   */
  padOrCrop(x: TensorInfo, [top, bottom, left, right]: [number, number, number, number]): TensorInfo {
    const [n, h, w, c] = x.shape;
    let out = x;
    if (top < 0 || bottom < 0 || left < 0 || right < 0) {
      const t = Math.max(0, -top),
        b = Math.max(0, -bottom),
        l = Math.max(0, -left),
        r = Math.max(0, -right);
      out = this.slice(out, [0, t, l, 0], [n, h - t - b, w - l - r, c]);
    }
    if (top > 0 || bottom > 0 || left > 0 || right > 0) {
      out = this.pad(out, [
        [0, 0],
        [Math.max(0, top), Math.max(0, bottom)],
        [Math.max(0, left), Math.max(0, right)],
        [0, 0],
      ]);
    }
    return out;
  }
}

/** Run `body` with a scratchpad; intermediates are freed even when it throws. */
export function withScratch(backend: tf.KernelBackend, body: (s: Scratch) => TensorInfo): TensorInfo {
  const s = new Scratch(backend);
  try {
    return s.keep(body(s));
  } finally {
    s.dispose();
  }
}
