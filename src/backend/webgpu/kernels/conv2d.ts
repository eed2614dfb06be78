// Conv2D and FusedConv2D (bias, ReLU) as a tiled matrix product: y[m, co] = Σ_k patch(m, k)·W[k, co] over the
// N·OH·OW output positions m and the taps k = (kh, kw, ci), the HWIO filter read as a [KH·KW·CI, CO] matrix and
// the patches read in place. tfjs's conv2DMM computes 32×32 tiles at 4×4 per thread; the gemm here takes 128-wide
// tiles at 8×8 or 8×4 where the product is large enough (gemm.ts says why). A product with too few tiles to fill
// the GPU (gemmOptions.minWorkgroups; the last stages: few positions, many taps) is split along k, into enough
// splits for the 8×8 tiles where the taps are many (productPlan), and the bias and ReLU are applied where the
// splits are added.
import * as tf from "@tensorflow/tfjs";
import { gemmOptions, gemmSource, productPlan, splitSumProgram, tileThreads } from "./gemm";
import { Backend, cachedCode, i32, maxWorkgroups, type Program, runProgram, TensorInfo } from "./program";
import { reluFunction } from "./relu";

type Attrs = {
  strides: [number, number] | number;
  pad: unknown;
  dataFormat: "NHWC" | "NCHW";
  dilations: [number, number] | number;
  dimRoundingMode?: "floor" | "round" | "ceil";
  activation?: string;
};

/** Conv2D (fused: false) or FusedConv2D (fused: true; linear or relu, a bias of one value per output channel). */
export function conv2d(fused: boolean): (stock: tf.KernelFunc) => tf.KernelFunc {
  return (stock) => (args) => {
    const { x, filter, bias, preluActivationWeights } = args.inputs as Record<string, TensorInfo | undefined>;
    const attrs = args.attrs as unknown as Attrs;
    const backend = args.backend as unknown as Backend;
    const activation = fused ? (attrs.activation ?? "linear") : "linear";
    if (
      attrs.dataFormat === "NCHW" ||
      x!.dtype !== "float32" ||
      filter!.dtype !== "float32" ||
      (activation !== "linear" && activation !== "relu") ||
      preluActivationWeights ||
      (bias && !perChannel(bias, filter!.shape[3]))
    )
      return stock(args);
    const info = tf.backend_util.computeConv2DInfo(
      x!.shape as [number, number, number, number],
      filter!.shape as [number, number, number, number],
      attrs.strides,
      attrs.dilations,
      attrs.pad as "same",
      attrs.dimRoundingMode,
      false,
      "channelsLast",
    );
    const [KH, KW, CI, CO] = filter!.shape as [number, number, number, number];
    const { batchSize: N, outHeight: OH, outWidth: OW } = info;
    const M = N * OH * OW;
    const K = KH * KW * CI;
    if (M === 0 || K === 0 || CO === 0) return stock(args);
    const { tile, splits: S, chunk } = productPlan(M, CO, K);
    const limit = maxWorkgroups(backend);
    if (Math.ceil(M / tile.BM) > limit || Math.ceil(CO / tile.BN) > limit || S > limit) return stock(args);

    // The bias and activation of value v at output column c (WGSL).
    const finish = (v: string, c: string) => {
      const b = bias ? `${v} + bias[${c}]` : v;
      return activation === "relu" ? `relu(${b})` : b;
    };
    const epilogue = activation === "relu" ? reluFunction() : "";
    const functions = () => `
${epilogue}
${patchFunctions(info)}
fn rowA(r: i32) -> vec3<i32> { return patchPosition(r); }
fn loadA(p: vec3<i32>, q: i32) -> f32 { return patchValue(p, patchTap(q)); }
fn colB(c: i32) -> i32 { return c; }
fn loadB(q: i32, c: i32) -> f32 {
  return W[q * ${i32(CO)} + c];
}
fn store(split: i32, r: i32, c: i32, v: f32) {
  ${S === 1 ? `result[r * ${i32(CO)} + c] = ${finish("v", "c")};` : `result[(split * ${i32(M)} + r) * ${i32(CO)} + c] = v;`}
}`;
    const gemm: Program = {
      variableNames: ["x", "W", ...(bias && S === 1 ? ["bias"] : [])],
      outputShape: S === 1 ? [N, OH, OW, CO] : [S, M, CO],
      name: "tsdlConv2D",
      dispatch: [Math.ceil(CO / tile.BN), Math.ceil(M / tile.BM), S],
      workgroupSize: tileThreads(tile),
      code: cachedCode(`tsdlConv2D ${convKey(info)} ${JSON.stringify([activation, !!bias, tile, S, chunk, gemmOptions.prefetch])}`, () =>
        gemmSource({ tile, rows: M, cols: CO, depth: K, chunk, aAlong: "q", bAlong: "c", functions: functions() }),
      ),
    };
    const inputs = [x!, filter!, ...(bias && S === 1 ? [bias] : [])];
    const out = runProgram(backend, gemm, inputs);
    if (S === 1) return out;
    const sum = splitSumProgram(backend, S, M * CO, [N, OH, OW, CO], {
      inputs: bias ? ["bias"] : [],
      finish: (s, i) => finish(s, `(${i} % ${i32(CO)})`),
      prelude: epilogue,
    });
    const y = runProgram(backend, sum, [out, ...(bias ? [bias] : [])]);
    backend.disposeData(out.dataId);
    return y;
  };
}

/** A float32 bias of one value per output channel: shape [CO], or [1, …, 1, CO]. */
function perChannel(bias: TensorInfo, CO: number): boolean {
  const s = bias.shape;
  return bias.dtype === "float32" && s.length >= 1 && s[s.length - 1] === CO && s.slice(0, -1).every((d) => d === 1);
}

/**
 * WGSL for reading the patches of x (NHWC) in place, in two halves so a gemm decodes each once per thread (its
 * rows or columns stay the same at every step): `patchPosition(m)` of output position m = (n, oh, ow) and
 * `patchTap(k)` of tap k = (kh, kw, ci), and `patchValue(position, tap) -> f32`, the input value they meet (0 in
 * the padding). The forward convolution reads its A operand through them (rows m, depth k), the filter gradient
 * too (rows k, depth m).
 */
export function patchFunctions(info: tf.backend_util.Conv2DInfo): string {
  const { inHeight: IH, inWidth: IW, inChannels: CI, outHeight: OH, outWidth: OW, filterWidth: KW } = info;
  const { strideHeight: SH, strideWidth: SW, dilationHeight: DH, dilationWidth: DW } = info;
  const { top: PT, left: PL } = info.padInfo;
  return `// (offset of image n in x, first input row, first input column)
fn patchPosition(m: i32) -> vec3<i32> {
  let n = m / ${i32(OH * OW)};
  let oh = (m / ${i32(OW)}) % ${i32(OH)};
  let ow = m % ${i32(OW)};
  return vec3<i32>(n * ${i32(IH * IW * CI)}, oh * ${i32(SH)} - ${i32(PT)}, ow * ${i32(SW)} - ${i32(PL)});
}
// (rows down, columns across, input channel)
fn patchTap(k: i32) -> vec3<i32> {
  let kh = k / ${i32(KW * CI)};
  let kw = (k / ${i32(CI)}) % ${i32(KW)};
  return vec3<i32>(kh * ${i32(DH)}, kw * ${i32(DW)}, k % ${i32(CI)});
}
fn patchValue(p: vec3<i32>, t: vec3<i32>) -> f32 {
  let ih = p.y + t.x;
  let iw = p.z + t.y;
  if (ih < 0 || ih >= ${i32(IH)} || iw < 0 || iw >= ${i32(IW)}) { return 0.0; }
  return x[p.x + (ih * ${i32(IW)} + iw) * ${i32(CI)} + t.z];
}`;
}

/** The geometry of a convolution, as a key of the code built for it (every value patchFunctions reads, and more). */
export function convKey(info: tf.backend_util.Conv2DInfo): string {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth } = info;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth, padInfo } = info;
  return JSON.stringify([
    batchSize,
    inHeight,
    inWidth,
    inChannels,
    outHeight,
    outWidth,
    outChannels,
    filterHeight,
    filterWidth,
    strideHeight,
    strideWidth,
    dilationHeight,
    dilationWidth,
    padInfo.top,
    padInfo.left,
  ]);
}
