// Batch norm in training mode (core/kernels.ts BATCH_NORM_TRAIN) and its gradient in two programs each way (three
// where the device binds too few storage buffers). tfjs composes it from moments and batchNorm: about 14 programs
// forward and 30 backward per layer, and on webgpu each program costs the CPU more than the GPU spends on it (a
// training step is bound by the dispatches).
//
// x is viewed as a [M, C] matrix, M = N·H·W. A statistics pass gives workgroups of 64 channels × 4 row lanes, the
// channels along consecutive threads (coalesced reads), one row chunk each (the second dispatch dimension): it
// writes per-chunk partials [2, R, C]. A second pass on the same grid has each workgroup reduce the R partials of
// its channels again and write y (or dx) for its rows; the first chunk's workgroups write the per-channel outputs.
// (That re-reading costs GPU time: 3·R·64 values per workgroup from L2, ~390 KB for the first batch norm of the
// course ResNet at batch 256, as much traffic as the workgroup's own x and y; it saves a program, which costs the
// CPU more. The proof's per-kernel profile times it.) That pass binds 11 storage buffers forward with the running
// statistics, 10 backward (12 with the statistics' own gradients); where the device binds fewer, a small program
// reduces the partials and an element-wise pass follows (9 at most), and below 9 (WebGPU guarantees 8) the layer
// composes tfjs's ops. The variance is Welford's per thread and merged exactly per chunk and over the chunks
// (Σ M2 + Σ n·(chunk mean - mean)²), never E[x²] - mean² in float32.
import * as tf from "@tensorflow/tfjs";
import { BATCH_NORM_TRAIN, type BatchNormTrainAttrs } from "../../../core/kernels";
import { Backend, flatGrid, i32, maxWorkgroups, MultiOutputProgram, type Program, runMultiOutput, runProgram, TensorInfo } from "./program";

/** Channels per workgroup (consecutive threads) and row lanes per workgroup. */
const CW = 64;
const LANES = 4;
/** Each row lane of a statistics pass keeps at least MIN_ROWS rows. */
const MIN_ROWS = 4;

interface Plan {
  M: number;
  C: number;
  /** Channel blocks, row chunks, rows per chunk. */
  blocks: number;
  R: number;
  chunk: number;
}

function plan(x: TensorInfo, backend: Backend): Plan {
  const C = x.shape[x.shape.length - 1];
  const M = tf.util.sizeFromShape(x.shape) / C;
  if (x.dtype !== "float32" || x.shape.length < 2 || !(C > 0) || !(M > 0)) {
    throw new Error(
      `tsdl ${BATCH_NORM_TRAIN}: x must be a non-empty float32 tensor of rank >= 2 with channels last, got ${x.dtype} [${x.shape.join(", ")}]`,
    );
  }
  const blocks = Math.ceil(C / CW);
  const wanted = Math.max(1, Math.min(Math.ceil(batchNormOptions.targetWorkgroups / blocks), Math.floor(M / (LANES * MIN_ROWS))));
  const chunk = Math.ceil(M / Math.min(wanted, maxWorkgroups(backend)));
  return { M, C, blocks, R: Math.ceil(M / chunk), chunk };
}

function checkPerChannel(perChannel: Record<string, TensorInfo | undefined>, C: number): void {
  for (const [name, t] of Object.entries(perChannel)) {
    if (t && (t.dtype !== "float32" || tf.util.sizeFromShape(t.shape) !== C)) {
      throw new Error(
        `tsdl ${BATCH_NORM_TRAIN}: ${name} must be float32 with one value per channel (${C}), got ${t.dtype} [${t.shape.join(", ")}]`,
      );
    }
  }
}

/** The shared head of the statistics passes: channel c of block, row chunk [r0, r1), lane ly, index t. */
function chunkHead(p: Plan): string {
  return `
  let lc = i32(localId.x);
  let ly = i32(localId.y);
  let t = ly * ${CW} + lc;
  let c = i32(workgroupId.x) * ${CW} + lc;
  let r = i32(workgroupId.y);
  let r0 = r * ${i32(p.chunk)};
  let r1 = min(r0 + ${i32(p.chunk)}, ${i32(p.M)});`;
}

function statsProgram(p: Plan, name: string, variableNames: string[], code: string): Program {
  return { variableNames, outputShape: [2, p.R, p.C], name, dispatch: [p.blocks, p.R, 1], workgroupSize: [CW, LANES, 1], code };
}

/** A per-channel reduction over the R chunk partials (see channelSums). */
interface Reduction {
  term: string;
  finish: string;
  keep?: string;
  also?: string;
}

/**
 * WGSL of per-channel reductions over the R chunks, for workgroups of CW channels × LANES lanes (lc, ly and the
 * channel c defined): reduction k sums `term` (WGSL, of r and c; it may read the `keep` names of earlier
 * reductions) per lane, adds the lanes, and writes `finish` (of the sum s and c) to output k at c, then runs `also`
 * (WGSL, with that value in v); `writeWhen` (WGSL) guards those writes when several workgroups compute the same
 * channels. `keep` makes the value an f32 of the later terms and of the code after these.
 */
function channelSums(p: Plan, outputs: string[], reductions: Reduction[], writeWhen?: string): { decls: string; body: string } {
  const body = reductions.map(({ term, finish, keep, also }, k) => {
    const last = k === reductions.length - 1;
    const write = `${outputs[k]}[c] = v;${also ? `\n      ${also}` : ""}`;
    return `
  var s${k} = 0.0;
  if (c < ${i32(p.C)}) {
    for (var r = ly; r < ${i32(p.R)}; r += ${LANES}) { s${k} += ${term}; }
  }
  lanePart[ly * ${CW} + lc] = s${k};
  workgroupBarrier();
  if (ly == 0) {
    var s = 0.0;
    for (var k = 0; k < ${LANES}; k++) { s += lanePart[k * ${CW} + lc]; }
    var v = 0.0;
    if (c < ${i32(p.C)}) {
      v = ${finish};
      ${writeWhen ? `if (${writeWhen}) { ${write} }` : write}
    }${keep ? `\n    shared${k}[lc] = v;` : ""}
  }${last && !keep ? "" : "\n  workgroupBarrier(); // lanePart is written again, and keep's value read"}${keep ? `\n  let ${keep} = shared${k}[lc];` : ""}`;
  });
  const decls = `
var<workgroup> lanePart: array<f32, ${CW * LANES}>;
${reductions.map((r, k) => (r.keep ? `var<workgroup> shared${k}: array<f32, ${CW}>;` : "")).join("\n")}
fn chunkRows(r: i32) -> f32 { return f32(min(${i32(p.chunk)}, ${i32(p.M)} - r * ${i32(p.chunk)})); }`;
  return { decls, body: body.join("") };
}

/** channelSums as a program of its own: one workgroup per channel block, dispatch [blocks, 1, 1]. */
function channelsProgram(
  p: Plan,
  name: string,
  outputs: string[],
  inputs: string[],
  reductions: Reduction[],
  uniforms?: string[],
): MultiOutputProgram {
  const { decls, body } = channelSums(p, outputs, reductions);
  return {
    name,
    outputs,
    inputs,
    uniforms,
    dispatch: [p.blocks, 1, 1],
    workgroupSize: [CW, LANES, 1],
    code: `${decls}
fn main() {
  let lc = i32(localId.x);
  let ly = i32(localId.y);
  let c = i32(workgroupId.x) * ${CW} + lc;${body}
}
`,
  };
}

/**
 * channelSums followed by an element-wise pass over the workgroup's row chunk (the statistics pass's grid:
 * dispatch [blocks, R, 1]), which reads the kept values: one program where a channelsProgram and an
 * elementwiseProgram take two. Each workgroup adds up the R partials of its channels again (R·CW values from
 * cache) and the first row chunk writes the per-channel outputs. `rows.setup` runs once per channel (WGSL, c
 * in range), `rows.body` assigns element i of channel c of the first output.
 */
function channelsThenRowsProgram(
  p: Plan,
  name: string,
  outputs: string[],
  inputs: string[],
  reductions: Reduction[],
  rows: { setup: string; body: string },
  uniforms?: string[],
): MultiOutputProgram {
  const { decls, body } = channelSums(p, outputs.slice(1), reductions, "chunk == 0");
  return {
    name,
    outputs,
    inputs,
    uniforms,
    dispatch: [p.blocks, p.R, 1],
    workgroupSize: [CW, LANES, 1],
    code: `${decls}
fn main() {
  let lc = i32(localId.x);
  let ly = i32(localId.y);
  let c = i32(workgroupId.x) * ${CW} + lc;
  let chunk = i32(workgroupId.y);${body}
  if (c < ${i32(p.C)}) {
    ${rows.setup}
    let r1 = min((chunk + 1) * ${i32(p.chunk)}, ${i32(p.M)});
    for (var row = chunk * ${i32(p.chunk)} + ly; row < r1; row += ${LANES}) {
      let i = row * ${i32(p.C)} + c;
      ${rows.body}
    }
  }
}
`,
  };
}

/** One thread per element of x, c its channel; `body` assigns result[i] from the element's values. */
function elementwiseProgram(p: Plan, backend: Backend, name: string, variableNames: string[], body: string): Program {
  const size = p.M * p.C;
  const grid = flatGrid(size, backend, name);
  return {
    variableNames,
    outputShape: [p.M, p.C],
    name,
    dispatch: [...grid.dispatch, 1],
    workgroupSize: [256, 1, 1],
    code: `
fn main() {
  let i = ${grid.index};
  if (i < ${i32(size)}) {
    let c = i % ${i32(p.C)};
    ${body}
  }
}
`,
  };
}

function run(backend: Backend, p: Program, inputs: Array<TensorInfo | undefined>, shape?: number[]): TensorInfo {
  const out = runProgram(
    backend,
    p,
    inputs.filter((t): t is TensorInfo => t !== undefined),
  );
  return shape ? { ...out, shape } : out;
}

/** y, mean, biased variance: statistics pass, mean, variance, y. */
export function batchNormTrain(): tf.KernelFunc {
  return (args) => {
    const { x, scale, offset, runningMean, runningVar } = args.inputs as Record<string, TensorInfo | undefined>;
    const { varianceEpsilon: eps, relu, momentum, varianceFactor } = args.attrs as unknown as BatchNormTrainAttrs;
    const backend = args.backend as unknown as Backend;
    const p = plan(x!, backend);
    checkPerChannel({ scale, offset, runningMean, runningVar }, p.C);
    const running = runningMean && runningVar ? [runningMean, runningVar] : [];
    const { M, C, R } = p;
    const partial = run(
      backend,
      statsProgram(
        p,
        "tsdlBatchNormStats",
        ["x"],
        `
var<workgroup> wn: array<f32, ${CW * LANES}>;
var<workgroup> wm: array<f32, ${CW * LANES}>;
var<workgroup> w2: array<f32, ${CW * LANES}>;
fn main() {${chunkHead(p)}
  var n = 0.0;
  var mu = 0.0;
  var m2 = 0.0;
  if (c < ${i32(C)}) {
    for (var row = r0 + ly; row < r1; row += ${LANES}) {
      let v = x[row * ${i32(C)} + c];
      n += 1.0;
      let d = v - mu;
      mu += d / n;
      m2 += d * (v - mu);
    }
  }
  wn[t] = n;
  wm[t] = mu;
  w2[t] = m2;
  workgroupBarrier();
  if (ly == 0 && c < ${i32(C)}) {
    var total = 0.0;
    var sum = 0.0;
    for (var k = 0; k < ${LANES}; k++) { total += wn[k * ${CW} + lc]; sum += wn[k * ${CW} + lc] * wm[k * ${CW} + lc]; }
    let mean = sum / total;
    var q = 0.0;
    for (var k = 0; k < ${LANES}; k++) {
      let d = wm[k * ${CW} + lc] - mean;
      q += w2[k * ${CW} + lc] + wn[k * ${CW} + lc] * d * d;
    }
    result[r * ${i32(C)} + c] = mean;
    result[(${i32(R)} + r) * ${i32(C)} + c] = q;
  }
}
`,
      ),
      [x],
    );
    // The mean, then the variance about it (Σ M2 + Σ n·(chunk mean - mean)²), and the running statistics' update
    // when given: in the program that normalises x where the device binds enough storage buffers, else in one of
    // their own before it.
    const runningNames = running.length ? ["runningMean", "runningVar"] : [];
    const runningUniforms = running.length ? ["keep", "momentum", "factor"] : undefined;
    const runningValues = running.length ? [1 - momentum!, momentum!, varianceFactor!] : [];
    const moments = (keepVariance: boolean): Reduction[] => [
      {
        term: `chunkRows(r) * partial[r * ${i32(C)} + c]`,
        finish: `s / ${i32(M)}.0`,
        keep: "m",
        also: running.length ? "meanOut[c] = runningMean[c] * uniforms.keep + v * uniforms.momentum;" : undefined,
      },
      {
        term: `partial[(${i32(R)} + r) * ${i32(C)} + c] + chunkRows(r) * (partial[r * ${i32(C)} + c] - m) * (partial[r * ${i32(C)} + c] - m)`,
        finish: `s / ${i32(M)}.0`,
        keep: keepVariance ? "vr" : undefined,
        also: running.length ? "varOut[c] = runningVar[c] * uniforms.keep + (v * uniforms.factor) * uniforms.momentum;" : undefined,
      },
    ];
    const statOutputs = ["mean", "variance", ...(running.length ? ["meanOut", "varOut"] : [])];
    const statShapes = statOutputs.map(() => [C]);
    const affine = [...(scale ? ["scale"] : []), ...(offset ? ["offset"] : [])];
    // y from x, the mean and variance (WGSL names), γ and β.
    const normalised = (mean: string, variance: string) => `
    let v = (x[i] - ${mean}) * (${scale ? "scale[c]" : "1.0"} / sqrt(${variance} + ${f32(eps)}))${offset ? " + offset[c]" : ""};
    ${relu ? "OUT[i] = select(v, 0.0, (v < 0.0) & !isnan(v));" : "OUT[i] = v;"}`;
    const inputs = ["x", "partial", ...affine, ...runningNames];
    if (mergeChannelPasses(backend, 1 + statOutputs.length + inputs.length)) {
      const outs = runMultiOutput(
        backend,
        channelsThenRowsProgram(
          p,
          "tsdlBatchNormMomentsApply",
          ["y", ...statOutputs],
          inputs,
          moments(true),
          { setup: "", body: normalised("m", "vr").replace("OUT", "y") },
          runningUniforms,
        ),
        [x!, partial, ...[scale, offset].filter((t): t is TensorInfo => t !== undefined), ...running],
        [x!.shape, ...statShapes],
        runningValues,
      );
      backend.disposeData(partial.dataId);
      return outs;
    }
    const [mean, variance, ...runningOut] = runMultiOutput(
      backend,
      channelsProgram(p, "tsdlBatchNormMoments", statOutputs, ["partial", ...runningNames], moments(false), runningUniforms),
      [partial, ...running],
      statShapes,
      runningValues,
    );
    backend.disposeData(partial.dataId);
    const y = run(
      backend,
      elementwiseProgram(
        p,
        backend,
        "tsdlBatchNormApply",
        ["x", "mean", "variance", ...affine],
        normalised("mean[c]", "variance[c]").replace("OUT", "result"),
      ),
      [x, mean, variance, scale, offset],
      x!.shape,
    );
    return [y, mean, variance, ...runningOut];
  };
}

/** dx, dscale, doffset: sums pass, doffset, dscale, dx (core/kernels.ts BATCH_NORM_TRAIN_GRAD has the formulas). */
export function batchNormTrainGrad(): tf.KernelFunc {
  return (args) => {
    const { x, dy, y, mean, variance, scale } = args.inputs as Record<string, TensorInfo | undefined>;
    const backend = args.backend as unknown as Backend;
    // No gradient reaches the statistics in training (only the running statistics read them): tfjs then passes
    // zeros made on the CPU, which would be two uploads per layer and step. Left out, they count as zeros.
    const [dmean, dvar] = [args.inputs.dmean, args.inputs.dvar].map((t) => (t && zerosOnCpu(backend, t) ? undefined : t));
    const { varianceEpsilon: eps, relu } = args.attrs as unknown as BatchNormTrainAttrs;
    const p = plan(x!, backend);
    checkPerChannel({ mean, variance, scale, dmean, dvar }, p.C);
    if (!mean || !variance || (relu && !y))
      throw new Error(`tsdl ${BATCH_NORM_TRAIN}: the gradient needs mean, variance${relu ? " and y" : ""}`);
    const { M, C, R } = p;
    // g: dy masked by y > 0 when relu (NaN where y is NaN, as tfjs's dy·step(y)).
    const g = (i: string) => (relu ? `select(select(0.0, dy[${i}], y[${i}] > 0.0), y[${i}], isnan(y[${i}]))` : `dy[${i}]`);
    const partial = run(
      backend,
      statsProgram(
        p,
        "tsdlBatchNormGradSums",
        ["x", "dy", "mean", ...(relu ? ["y"] : [])],
        `
var<workgroup> ws: array<f32, ${CW * LANES}>;
var<workgroup> wt: array<f32, ${CW * LANES}>;
fn main() {${chunkHead(p)}
  var s = 0.0;
  var st = 0.0;
  if (c < ${i32(C)}) {
    let m = mean[c];
    for (var row = r0 + ly; row < r1; row += ${LANES}) {
      let i = row * ${i32(C)} + c;
      let gv = ${g("i")};
      s += gv;
      st += gv * (x[i] - m);
    }
  }
  ws[t] = s;
  wt[t] = st;
  workgroupBarrier();
  if (ly == 0 && c < ${i32(C)}) {
    s = 0.0;
    st = 0.0;
    for (var k = 0; k < ${LANES}; k++) { s += ws[k * ${CW} + lc]; st += wt[k * ${CW} + lc]; }
    result[r * ${i32(C)} + c] = s;
    result[(${i32(R)} + r) * ${i32(C)} + c] = st;
  }
}
`,
      ),
      [x, dy, mean, relu ? y : undefined],
    );
    // dβ and dγ from the partials, then dx: in one program where the device binds enough storage buffers.
    const sums = (keep: boolean): Reduction[] => [
      { term: `partial[r * ${i32(C)} + c]`, finish: "s", keep: keep ? "db" : undefined },
      { term: `partial[(${i32(R)} + r) * ${i32(C)} + c]`, finish: `s / sqrt(variance[c] + ${f32(eps)})`, keep: keep ? "dg" : undefined },
    ];
    const n = `${i32(M)}.0`;
    // dx = g·k0 + (x - mean)·k1 + k2 per channel: k0 from γ and the variance, k1 and k2 also from dγ and dβ (WGSL
    // names) and the statistics' own gradients.
    const k0 = `let rs = 1.0 / sqrt(variance[c] + ${f32(eps)});\n    let k0 = ${scale ? "scale[c]" : "1.0"} * rs;`;
    const k1k2 = (db: string, dg: string) => `
    let k1 = -k0 * rs * ${dg} / ${n}${dvar ? ` + 2.0 * dvar[c] / ${n}` : ""};
    let k2 = -k0 * ${db} / ${n}${dmean ? ` + dmean[c] / ${n}` : ""};`;
    const dxOf = (k1: string, k2: string) => `${g("i")} * k0 + (x[i] - mean[c]) * ${k1} + ${k2}`;
    const gamma = scale ? ["scale"] : [];
    const statGrads = [...(dmean ? ["dmean"] : []), ...(dvar ? ["dvar"] : [])];
    const ys = relu ? ["y"] : [];
    const optional: Record<string, TensorInfo | undefined> = { scale, dmean, dvar, y };
    const tensors = (names: string[]) => names.map((k) => optional[k]!);
    const inputs = ["x", "dy", "mean", "variance", "partial", ...gamma, ...statGrads, ...ys];
    if (mergeChannelPasses(backend, 3 + inputs.length)) {
      const [dx, doffset, dscale] = runMultiOutput(
        backend,
        channelsThenRowsProgram(p, "tsdlBatchNormGradAffineX", ["dx", "doffset", "dscale"], inputs, sums(true), {
          setup: `${k0}${k1k2("db", "dg")}`,
          body: `dx[i] = ${dxOf("k1", "k2")};`,
        }),
        [x!, dy!, mean, variance, partial, ...tensors([...gamma, ...statGrads, ...ys])],
        [x!.shape, [C], [C]],
      );
      backend.disposeData(partial.dataId);
      return [dx, dscale, doffset];
    }
    // Unmerged: dβ, dγ and each channel's k1, k2 in one small program, then dx (9 storage buffers at most).
    const sumsAndCoefficients = sums(true);
    sumsAndCoefficients[1].also = `${k0}${k1k2("db", "v")}\n      k1Out[c] = k1;\n      k2Out[c] = k2;`;
    const [doffset, dscale, k1, k2] = runMultiOutput(
      backend,
      channelsProgram(
        p,
        "tsdlBatchNormGradAffine",
        ["doffset", "dscale", "k1Out", "k2Out"],
        ["partial", "variance", ...gamma, ...statGrads],
        sumsAndCoefficients,
      ),
      [partial, variance!, ...tensors([...gamma, ...statGrads])],
      [[C], [C], [C], [C]],
    );
    backend.disposeData(partial.dataId);
    const dx = run(
      backend,
      elementwiseProgram(
        p,
        backend,
        "tsdlBatchNormGradX",
        ["x", "dy", "mean", "variance", "k1", "k2", ...gamma, ...ys],
        `${k0}\n    result[i] = ${dxOf("k1[c]", "k2[c]")};`,
      ),
      [x, dy, mean, variance, k1, k2, ...tensors([...gamma, ...ys])],
      x!.shape,
    );
    backend.disposeData(k1.dataId);
    backend.disposeData(k2.dataId);
    return [dx, dscale, doffset];
  };
}

/** Options of the batch norm kernels (tests and the GPU proof's A/B runs set them). */
export const batchNormOptions: { maxStorageBuffers?: number; targetWorkgroups: number } = {
  /** Storage buffers per program to assume instead of the device's maxStorageBuffersPerShaderStage. */
  maxStorageBuffers: undefined,
  /**
   * About this many workgroups in a statistics pass (row chunks × channel blocks of 64): more chunks give each
   * thread fewer rows to walk, and each workgroup of the merged pass more partials to add up again.
   */
  targetWorkgroups: 512,
};

/** The most storage buffers the unmerged path binds in one program (dx's pass, and dβ/dγ's with dmean and dvar). */
const UNMERGED_STORAGE = 9;

function storageLimit(backend: Backend): number {
  return batchNormOptions.maxStorageBuffers ?? backend.device.limits.maxStorageBuffersPerShaderStage;
}

/**
 * Whether the kernels run on this device: it binds the storage buffers of the unmerged path (WebGPU guarantees
 * 8; below 9, BatchNorm2d composes tfjs's ops).
 */
export function batchNormRuns(backend: Backend): boolean {
  return storageLimit(backend) >= UNMERGED_STORAGE;
}

/** Whether a merged program's `buffers` storage buffers fit the device. */
function mergeChannelPasses(backend: Backend, buffers: number): boolean {
  return buffers <= storageLimit(backend);
}

/** True when t's values are on the CPU (not uploaded) and all zero: reading them costs nothing. */
function zerosOnCpu(backend: Backend, t: TensorInfo): boolean {
  const data = backend.tensorMap.get(t.dataId) as { values?: ArrayLike<number> | null } | undefined;
  const values = data?.values;
  if (values == null) return false;
  for (let i = 0; i < values.length; i++) if (values[i] !== 0) return false;
  return true;
}

/** A float literal for WGSL (eps). */
function f32(v: number): string {
  if (!Number.isFinite(v)) throw new Error(`tsdl ${BATCH_NORM_TRAIN}: varianceEpsilon must be finite, got ${v}`);
  const s = String(v);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}
