// Conv2DBackpropInput as tiled matrix products, one per stride phase: dx[n, ih, iw, ci] = Σ dy[n, oh, ow, co]·
// W[kh, kw, ci, co] over the taps with ih = oh·s + kh - pad. Positions ih of one phase (ih mod s) meet only the
// taps kh ≡ ih + pad (mod s), so each phase is a dense product over its own taps × CO: no multiplications by the
// zeros a strided transpose would insert (tfjs's matrix-product variant multiplies them; its default kernel loops
// over every tap and channel per output value). The s² phases write disjoint positions of one output, all in one
// dispatch (the phase is the third dimension). One phase (stride 1) is a plain product, split along its sum where
// that lets it take wider tiles (gemm.ts productPlan).
import * as tf from "@tensorflow/tfjs";
import { gemmOptions, gemmSource, pick, productPlan, splitSumProgram, tileFor, tileThreads } from "./gemm";
import { convKey } from "./conv2d";
import { Backend, cachedCode, i32, maxWorkgroups, type Program, runProgram, TensorInfo } from "./program";

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
    // All phases in one dispatch (workgroupId.z = phase): each program costs the CPU more than the GPU spends on it.
    const taps = phases.map(({ ph, pw }) => [...phaseTaps(ph, PT, SH, KH), ...phaseTaps(pw, PL, SW, KW)]);
    const depths = taps.map(([, TH, , TW]) => TH * TW * CO);
    // One phase (stride 1, the most common) is a plain product, which may split its sum (productPlan) to widen its
    // tiles (gemmOptions.splitToWiden; without it, no input gradient splits).
    const single = phases.length === 1;
    const plan =
      single && gemmOptions.splitToWiden
        ? productPlan(phases[0].rows, CI, depths[0])
        : { tile: tileFor(CI, Math.max(...phases.map((p) => p.rows)), phases.length), splits: 1 };
    const { tile, splits: S } = plan;
    const chunk = "chunk" in plan ? plan.chunk : Math.ceil(Math.max(tile.DEPTH, ...depths) / tile.DEPTH) * tile.DEPTH;
    if (phases.some((p) => Math.ceil(p.rows / tile.BM) > limit) || Math.ceil(CI / tile.BN) > limit || S > limit) return stock(args);

    const each = (f: (k: number) => number) => phases.map((_, k) => f(k));
    const perPhase: Array<[string, number[]]> = [
      ["ph", each((k) => phases[k].ph)],
      ["pw", each((k) => phases[k].pw)],
      ["HP", each((k) => phases[k].HP)],
      ["WP", each((k) => phases[k].WP)],
      ["kh0", each((k) => taps[k][0])],
      ["kw0", each((k) => taps[k][2])],
      ["TW", each((k) => Math.max(1, taps[k][3]))],
    ];
    // One phase: the values as literals, so the divisions below are by constants (a multiply and a shift) instead
    // of by a variable (a GPU's slow integer division, several per value loaded).
    const prologue = single ? "" : perPhase.map(([name, values]) => `g${name} = ${pick(values, "group")};`).join("\n  ");
    const g = Object.fromEntries(perPhase.map(([name, values]) => [name, single ? i32(values[0]) : `g${name}`]));
    const functions = () => `
${single ? "" : perPhase.map(([name]) => `var<private> g${name}: i32;`).join("\n")}
fn position(r: i32) -> vec3<i32> {
  let n = r / (${g.HP} * ${g.WP});
  let ih = ${g.ph} + ${i32(SH)} * ((r / ${g.WP}) % ${g.HP});
  let iw = ${g.pw} + ${i32(SW)} * (r % ${g.WP});
  return vec3<i32>(n, ih, iw);
}
fn tap(q: i32) -> vec3<i32> {
  let kh = ${g.kh0} + ${i32(SH)} * (q / (${g.TW} * ${i32(CO)}));
  let kw = ${g.kw0} + ${i32(SW)} * ((q / ${i32(CO)}) % ${g.TW});
  return vec3<i32>(kh, kw, q % ${i32(CO)});
}
fn rowA(r: i32) -> vec3<i32> { return position(r); }
fn loadA(p: vec3<i32>, q: i32) -> f32 {
  let t = tap(q);
  let oh = (p.y + ${i32(PT)} - t.x) / ${i32(SH)};
  let ow = (p.z + ${i32(PL)} - t.y) / ${i32(SW)};
  if (p.y + ${i32(PT)} - t.x < 0 || oh >= ${i32(OH)} || p.z + ${i32(PL)} - t.y < 0 || ow >= ${i32(OW)}) { return 0.0; }
  return dy[((p.x * ${i32(OH)} + oh) * ${i32(OW)} + ow) * ${i32(CO)} + t.z];
}
fn colB(c: i32) -> i32 { return c; }
fn loadB(q: i32, c: i32) -> f32 {
  let t = tap(q);
  return W[((t.x * ${i32(KW)} + t.y) * ${i32(CI)} + c) * ${i32(CO)} + t.z];
}
fn store(split: i32, r: i32, c: i32, v: f32) {
  ${
    S === 1
      ? `let p = position(r);
  result[((p.x * ${i32(IH)} + p.y) * ${i32(IW)} + p.z) * ${i32(CI)} + c] = v;`
      : `result[(split * ${i32(phases[0].rows)} + r) * ${i32(CI)} + c] = v; // (one phase: position r is row r of dx)`
  }
}`;
    const rows = Math.max(...phases.map((p) => p.rows));
    const depth = Math.max(tile.DEPTH, ...depths);
    const gemm: Program = {
      variableNames: ["dy", "W"],
      outputShape: S === 1 ? attrs.inputShape : [S, rows, CI],
      name: "tsdlConv2DBackpropInput",
      dispatch: [Math.ceil(CI / tile.BN), Math.ceil(rows / tile.BM), single ? S : phases.length],
      workgroupSize: tileThreads(tile),
      code: cachedCode(`tsdlConv2DBackpropInput ${convKey(info)} ${JSON.stringify([tile, S, chunk, gemmOptions.prefetch])}`, () =>
        gemmSource({
          tile,
          rows,
          cols: CI,
          ...(single ? { depth: depths[0], chunk } : { depth, chunk, groups: { rows: phases.map((p) => p.rows), depths, prologue } }),
          aAlong: "q",
          bAlong: "q",
          functions: functions(),
        }),
      ),
    };
    const out = runProgram(backend, gemm, [dy, filter]);
    if (S === 1) return out;
    const dx = runProgram(backend, splitSumProgram(backend, S, rows * CI, attrs.inputShape), [out]);
    backend.disposeData(out.dataId);
    return dx;
  };
}
