// Conv2DBackpropInput as tiled matrix products, one per stride phase: dx[n, ih, iw, ci] = Σ dy[n, oh, ow, co]·
// W[kh, kw, ci, co] over the taps with ih = oh·s + kh - pad. Positions ih of one phase (ih mod s) meet only the
// taps kh ≡ ih + pad (mod s), so each phase is a dense product over its own taps × CO: no multiplications by the
// zeros a strided transpose would insert (tfjs's matrix-product variant multiplies them; its default kernel loops
// over every tap and channel per output value). The s² phases write disjoint positions of one output.
import * as tf from "@tensorflow/tfjs";
import { gemmSource, tileFor, tileThreads } from "./gemm";
import { Backend, i32, maxWorkgroups, program, TensorInfo } from "./program";

type Attrs = {
  inputShape: [number, number, number, number];
  strides: [number, number] | number;
  pad: unknown;
  dataFormat: "NHWC" | "NCHW";
  dimRoundingMode?: "floor" | "round" | "ceil";
};

/** Taps k of a filter of size K that reach positions p ≡ phase (mod s): k ≡ phase + pad (mod s); [first, count]. */
export function phaseTaps(phase: number, pad: number, s: number, K: number): [number, number] {
  const first = (((phase + pad) % s) + s) % s;
  return [first, first < K ? Math.ceil((K - first) / s) : 0];
}

export function conv2dBackpropInput(stock: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
    const attrs = args.attrs as unknown as Attrs;
    const backend = args.backend as unknown as Backend;
    if (attrs.dataFormat === "NCHW" || dy.dtype !== "float32" || filter.dtype !== "float32") return stock(args);
    const info = tf.backend_util.computeConv2DInfo(
      attrs.inputShape,
      filter.shape as [number, number, number, number],
      attrs.strides,
      1,
      attrs.pad as "same",
      attrs.dimRoundingMode,
      false,
      "channelsLast",
    );
    const [KH, KW, CI, CO] = filter.shape as [number, number, number, number];
    const { batchSize: N, inHeight: IH, inWidth: IW, outHeight: OH, outWidth: OW, strideHeight: SH, strideWidth: SW } = info;
    const { top: PT, left: PL } = info.padInfo;
    const limit = maxWorkgroups(backend);
    const phases: Array<{ ph: number; pw: number; rows: number; HP: number; WP: number }> = [];
    for (let ph = 0; ph < Math.min(SH, IH); ph++) {
      for (let pw = 0; pw < Math.min(SW, IW); pw++) {
        const HP = Math.ceil((IH - ph) / SH);
        const WP = Math.ceil((IW - pw) / SW);
        phases.push({ ph, pw, rows: N * HP * WP, HP, WP });
      }
    }
    const tile = tileFor(CI);
    if (phases.some((p) => Math.ceil(p.rows / tile.BM) > limit) || Math.ceil(CI / tile.BN) > limit) return stock(args);

    const out = backend.makeTensorInfo(attrs.inputShape, "float32");
    for (const { ph, pw, rows, HP, WP } of phases) {
      const [kh0, TH] = phaseTaps(ph, PT, SH, KH);
      const [kw0, TW] = phaseTaps(pw, PL, SW, KW);
      const depth = TH * TW * CO;
      const functions = `
fn position(r: i32) -> vec3<i32> {
  let n = r / ${i32(HP * WP)};
  let ih = ${i32(ph)} + ${i32(SH)} * ((r / ${i32(WP)}) % ${i32(HP)});
  let iw = ${i32(pw)} + ${i32(SW)} * (r % ${i32(WP)});
  return vec3<i32>(n, ih, iw);
}
fn loadA(r: i32, q: i32) -> f32 {
  let p = position(r);
  let kh = ${i32(kh0)} + ${i32(SH)} * (q / ${i32(Math.max(1, TW * CO))});
  let kw = ${i32(kw0)} + ${i32(SW)} * ((q / ${i32(CO)}) % ${i32(Math.max(1, TW))});
  let co = q % ${i32(CO)};
  let oh = (p.y + ${i32(PT)} - kh) / ${i32(SH)};
  let ow = (p.z + ${i32(PL)} - kw) / ${i32(SW)};
  if (p.y + ${i32(PT)} - kh < 0 || oh >= ${i32(OH)} || p.z + ${i32(PL)} - kw < 0 || ow >= ${i32(OW)}) { return 0.0; }
  return dy[((p.x * ${i32(OH)} + oh) * ${i32(OW)} + ow) * ${i32(CO)} + co];
}
fn loadB(q: i32, c: i32) -> f32 {
  let kh = ${i32(kh0)} + ${i32(SH)} * (q / ${i32(Math.max(1, TW * CO))});
  let kw = ${i32(kw0)} + ${i32(SW)} * ((q / ${i32(CO)}) % ${i32(Math.max(1, TW))});
  let co = q % ${i32(CO)};
  return W[((kh * ${i32(KW)} + kw) * ${i32(CI)} + c) * ${i32(CO)} + co];
}
fn store(split: i32, r: i32, c: i32, v: f32) {
  let p = position(r);
  result[((p.x * ${i32(IH)} + p.y) * ${i32(IW)} + p.z) * ${i32(CI)} + c] = v;
}`;
      const chunk = Math.max(tile.DEPTH, Math.ceil(depth / tile.DEPTH) * tile.DEPTH);
      const gemm = program({
        variableNames: ["dy", "W"],
        outputShape: attrs.inputShape,
        name: "tsdlConv2DBackpropInput",
        dispatch: [Math.ceil(CI / tile.BN), Math.ceil(rows / tile.BM), 1],
        workgroupSize: tileThreads(tile),
        code: gemmSource({ tile, rows, cols: CI, depth, chunk, aAlong: "q", bAlong: "q", functions }),
      });
      backend.runWebGPUProgram(gemm, [dy, filter], "float32", undefined, out);
    }
    return out;
  };
}
