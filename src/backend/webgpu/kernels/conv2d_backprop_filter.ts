// Conv2DBackpropFilter as a tiled matrix product: dW[k, co] = Σ_m patch(m, k)·dy[m, co], over the N·OH·OW output
// positions m, with k = (kh, kw, ci) — exactly the HWIO layout of the filter. tfjs's own kernel gives each filter
// weight one thread that loops over every output position (for the course ResNet's 7×7 stem at batch 256: 9,408
// threads, 518,400 steps each). Here the m range is split so that there are enough workgroups, and a second pass
// adds the splits.
import * as tf from "@tensorflow/tfjs";
import { convKey, patchFunctions } from "./conv2d";
import { gemmOptions, gemmSource, splitPlan, splitSumProgram, tileFor, tileThreads } from "./gemm";
import { Backend, cachedCode, i32, maxWorkgroups, type Program, runProgram, TensorInfo } from "./program";

/** Options of the filter gradient (the GPU proof's A/B runs set them). */
export const filterGradOptions = {
  /** Aim for this many workgroups (the m range is long: splitting it costs one sum pass over a small output). */
  targetWorkgroups: 1024,
};

type Attrs = {
  strides: [number, number] | number;
  pad: unknown;
  dataFormat: "NHWC" | "NCHW";
  dimRoundingMode?: "floor" | "round" | "ceil";
  filterShape: [number, number, number, number];
};

export function conv2dBackpropFilter(stock: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
    const attrs = args.attrs as unknown as Attrs;
    const backend = args.backend as unknown as Backend;
    if (attrs.dataFormat === "NCHW" || x.dtype !== "float32" || dy.dtype !== "float32") return stock(args);
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      attrs.filterShape,
      attrs.strides,
      1,
      attrs.pad as "same",
      attrs.dimRoundingMode,
      false,
      "channelsLast",
    );
    const [KH, KW, CI, CO] = attrs.filterShape;
    const { batchSize: N, outHeight: OH, outWidth: OW } = info;
    const R = KH * KW * CI;
    const M = N * OH * OW;
    // Splits add workgroups: count as many as the m range allows (splitPlan then picks them).
    const target = filterGradOptions.targetWorkgroups;
    const tile = tileFor(CO, R, splitPlan(target, 1, M, R * CO, 16).splits);
    const tiles = Math.ceil(CO / tile.BN) * Math.ceil(R / tile.BM);
    const { splits, chunk } = splitPlan(target, tiles, M, R * CO, tile.DEPTH);
    const limit = maxWorkgroups(backend);
    if (Math.ceil(R / tile.BM) > limit || splits > limit) return stock(args);

    const functions = () => `
${patchFunctions(info)}
fn rowA(r: i32) -> vec3<i32> { return patchTap(r); }
fn loadA(t: vec3<i32>, q: i32) -> f32 { return patchValue(patchPosition(q), t); }
fn colB(c: i32) -> i32 { return c; }
fn loadB(q: i32, c: i32) -> f32 {
  return dy[q * ${i32(CO)} + c];
}
fn store(split: i32, r: i32, c: i32, v: f32) {
  result[(split * ${i32(R)} + r) * ${i32(CO)} + c] = v;
}`;
    const gemm: Program = {
      variableNames: ["x", "dy"],
      outputShape: [splits, R, CO],
      name: "tsdlConv2DBackpropFilter",
      dispatch: [Math.ceil(CO / tile.BN), Math.ceil(R / tile.BM), splits],
      workgroupSize: tileThreads(tile),
      code: cachedCode(`tsdlConv2DBackpropFilter ${convKey(info)} ${JSON.stringify([tile, splits, chunk, gemmOptions.prefetch])}`, () =>
        gemmSource({ tile, rows: R, cols: CO, depth: M, chunk, aAlong: "r", bAlong: "c", functions: functions() }),
      ),
    };
    const partial = runProgram(backend, gemm, [x, dy]);
    if (splits === 1) return { dataId: partial.dataId, shape: attrs.filterShape, dtype: "float32" };
    const sum = splitSumProgram(backend, splits, R * CO, attrs.filterShape);
    const out = runProgram(backend, sum, [partial]);
    backend.disposeData(partial.dataId);
    return out;
  };
}
