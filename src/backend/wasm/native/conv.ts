// Conv2D / FusedConv2D / Conv2DBackpropInput / Conv2DBackpropFilter for the wasm backend on the native addon, each
// by oneDNN or by im2col + OpenBLAS: per shape, the path chosen once per machine (choices.ts), or one path throughout.
import * as tf from "@tensorflow/tfjs";
import type { NativeConv } from "./addon";
import { ConvChoices, choiceKey, ruleFor, type ConvKind } from "./choices";
import { convGeometry, type ConvGeometry, type ConvGradAttrs } from "./geometry";
import { at, heap, type WasmBackendView } from "./heap";

type TensorInfo = tf.TensorInfo;

export interface ConvOptions {
  /**
   * oneDNN convolutions, when compiled in: "auto" (default) uses per shape the faster of oneDNN and im2col +
   * OpenBLAS, timed by the first process that meets the shape and kept in `convChoices` for every later one (so
   * runs and resumed runs give the same bits); "always"; "off" (im2col + OpenBLAS only).
   */
  dnnl: "auto" | "always" | "off";
  /** Where the per-machine choices are kept (default build/conv-choices, next to the add-on; rebuilt = re-timed). */
  convChoices: string;
}

const PATH = { blas: 0, dnnl: 1, time: 2 } as const;
type Run = (path: 0 | 1 | 2) => number | [number, number];

let choices: ConvChoices | undefined;

// An id per tensor data: tfjs never changes a tensor's data, so oneDNN's reordered copy of a filter is reused for
// as long as the same filter comes back (every predict() after the first; in training the weights change each step).
const ids = new WeakMap<object, number>();
let lastId = 0;
function weightsId(t: TensorInfo): number {
  let id = ids.get(t.dataId);
  if (id === undefined) ids.set(t.dataId, (id = ++lastId));
  return id;
}

/** Run one convolution by the path `options` gives for its kind and shape; times both the first time (auto). */
function convolve(options: ConvOptions, kind: ConvKind, g: ConvGeometry, key: string, run: Run): void {
  if (options.dnnl !== "auto") {
    run(options.dnnl === "always" ? PATH.dnnl : PATH.blas);
    return;
  }
  if (choices?.dir !== options.convChoices) choices = new ConvChoices(options.convChoices);
  const known = choices.known(key);
  if (known) {
    run(PATH[known]);
    return;
  }
  const ms = run(PATH.time); // out now holds oneDNN's result, or OpenBLAS's when oneDNN cannot run this shape
  if (!Array.isArray(ms) || ms[0] < 0) {
    choices.remember(key, "blas");
    return;
  }
  if (choices.decide(key, { dnnl: ms[0], blas: ms[1] }, ruleFor(kind, g)) === "blas") run(PATH.blas);
}

function geo(g: ConvGeometry): Int32Array {
  return Int32Array.of(g.n, g.inH, g.inW, g.inC, g.outH, g.outW, g.outC, g.kH, g.kW, g.strideH, g.strideW, g.padTop, g.padLeft);
}

type Attrs = ConvGradAttrs & { activation?: string; leakyreluAlpha?: number };

/** Conv2D and FusedConv2D (bias, linear/relu); anything else goes to `fallback` (the stock XNNPACK kernel). */
export function nativeForward(native: NativeConv, fallback: tf.KernelFunc, options: ConvOptions): tf.KernelFunc {
  return (args) => {
    const { x, filter, bias, preluActivationWeights } = args.inputs as Record<string, TensorInfo | undefined>;
    const attrs = args.attrs as unknown as Attrs;
    const act = attrs.activation === undefined || attrs.activation === "linear" ? 0 : attrs.activation === "relu" ? 1 : -1;
    const d = attrs.dilations ?? 1;
    const dilated = typeof d === "number" ? d !== 1 : d[0] !== 1 || d[1] !== 1;
    const simple =
      act >= 0 &&
      !preluActivationWeights &&
      !dilated &&
      (attrs.dataFormat ?? "NHWC") === "NHWC" &&
      x!.dtype === "float32" &&
      filter!.dtype === "float32" &&
      (!bias || (bias.shape.length === 1 && bias.dtype === "float32"));
    if (!simple) return fallback(args);
    const g = convGeometry(
      "Conv2D",
      x!.shape as [number, number, number, number],
      filter!.shape as [number, number, number, number],
      attrs,
    );
    if (bias && bias.shape[0] !== g.outC) return fallback(args); // let the stock kernel report it
    const b = args.backend as unknown as WasmBackendView;
    const out = b.makeOutput([g.n, g.outH, g.outW, g.outC], "float32");
    const key = choiceKey("forward", g, { bias: bias !== undefined, relu: act === 1 });
    convolve(options, "forward", g, key, (path) =>
      native.forward(heap(b), geo(g), at(b, x!), at(b, filter!), bias ? at(b, bias) : -1, at(b, out), act, path, weightsId(filter!)),
    );
    return out;
  };
}

/** dx = col2im(dy · Wᵀ) */
export function nativeBackpropInput(native: NativeConv, options: ConvOptions): tf.KernelFunc {
  return (args) => {
    const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
    const attrs = args.attrs as unknown as ConvGradAttrs & { inputShape: [number, number, number, number] };
    const g = convGeometry("Conv2DBackpropInput", attrs.inputShape, filter.shape as [number, number, number, number], attrs);
    const b = args.backend as unknown as WasmBackendView;
    const out = b.makeOutput([g.n, g.inH, g.inW, g.inC], "float32");
    convolve(options, "backpropInput", g, choiceKey("backpropInput", g), (path) =>
      native.backpropInput(heap(b), geo(g), at(b, dy), at(b, filter), at(b, out), path, weightsId(filter)),
    );
    return out;
  };
}

/** dW = im2col(x)ᵀ · dy */
export function nativeBackpropFilter(native: NativeConv, options: ConvOptions): tf.KernelFunc {
  return (args) => {
    const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
    const attrs = args.attrs as unknown as ConvGradAttrs & { filterShape: [number, number, number, number] };
    const g = convGeometry("Conv2DBackpropFilter", x.shape as [number, number, number, number], attrs.filterShape, attrs);
    const b = args.backend as unknown as WasmBackendView;
    const out = b.makeOutput(attrs.filterShape, "float32");
    convolve(options, "backpropFilter", g, choiceKey("backpropFilter", g), (path) =>
      native.backpropFilter(heap(b), geo(g), at(b, x), at(b, dy), at(b, out), path),
    );
    return out;
  };
}
