// CrossEntropyLoss's common case (core/kernels.ts CROSS_ENTROPY) in one program forward and one backward: tfjs's
// ops take about thirty small programs for a loss head (log-softmax, one-hot, masks, the label check, means and
// their gradients), each costing the CPU more than the GPU spends on it.
import * as tf from "@tensorflow/tfjs";
import { CROSS_ENTROPY, CROSS_ENTROPY_GRAD, type CrossEntropyAttrs } from "../../../core/kernels";
import { Backend, flatGrid, i32, runMultiOutput, TensorInfo } from "./program";

/** Threads of the forward program's one workgroup (rows are spread over them). */
const THREADS = 256;

function check(logits: TensorInfo, target: TensorInfo, who: string): [number, number] {
  const [n, c] = logits.shape;
  if (
    logits.dtype !== "float32" ||
    logits.shape.length !== 2 ||
    target.dtype !== "int32" ||
    !tf.util.arraysEqual(target.shape, [n]) ||
    !(n > 0 && c > 0)
  ) {
    throw new Error(
      `tsdl ${who}: takes non-empty float32 logits [N, C] and int32 target [N], got ${logits.dtype} [${logits.shape.join(", ")}] and ${target.dtype} [${target.shape.join(", ")}]`,
    );
  }
  return [n, c];
}

/** The loss and stats (row max, row log Σ exp, count): one workgroup, rows spread over its threads. */
export function crossEntropy(): tf.KernelFunc {
  return (args) => {
    const { logits, target } = args.inputs as { logits: TensorInfo; target: TensorInfo };
    const { ignoreIndex } = args.attrs as unknown as CrossEntropyAttrs;
    const backend = args.backend as unknown as Backend;
    const [N, C] = check(logits, target, CROSS_ENTROPY);
    const [loss, stats] = runMultiOutput(
      backend,
      {
        name: "tsdlCrossEntropy",
        outputs: ["loss", "stats"],
        inputs: ["logits", "labels"],
        int32Inputs: ["labels"],
        uniforms: ["nan"], // WGSL has no NaN constant
        dispatch: [1, 1, 1],
        workgroupSize: [THREADS, 1, 1],
        code: `
var<workgroup> sums: array<f32, ${THREADS}>;
var<workgroup> counts: array<f32, ${THREADS}>;
var<workgroup> bad: array<u32, ${THREADS}>;
// NaN or +Inf from the bits: a shader compiler may assume neither occurs in arithmetic (max(x, NaN) may be x)
fn nanOrPlusInf(v: f32) -> bool {
  let b = bitcast<u32>(v);
  return (b & 0x7fffffffu) > 0x7f800000u || b == 0x7f800000u;
}
fn main() {
  let t = i32(localId.x);
  var s = 0.0;
  var n = 0.0;
  var wrong = 0u;
  for (var i = t; i < ${i32(N)}; i += ${THREADS}) {
    let row = i * ${i32(C)};
    var m = logits[row];
    for (var j = 1; j < ${i32(C)}; j++) { m = max(m, logits[row + j]); }
    var e = 0.0;
    for (var j = 0; j < ${i32(C)}; j++) { e += exp(logits[row + j] - m); }
    let ls = log(e);
    stats[i] = m;
    stats[${i32(N)} + i] = ls;
    let y = labels[i];
    if (y != ${i32(ignoreIndex)}) {
      if (y < 0 || y >= ${i32(C)}) {
        wrong = 1u;
      } else {
        for (var j = 0; j < ${i32(C)}; j++) {
          if (nanOrPlusInf(logits[row + j])) { wrong = 1u; }
        }
        s += -((logits[row + y] - m) - ls);
        n += 1.0;
      }
    }
  }
  sums[t] = s;
  counts[t] = n;
  bad[t] = wrong;
  for (var w = ${THREADS / 2}; w > 0; w /= 2) {
    workgroupBarrier();
    if (t < w) {
      sums[t] += sums[t + w];
      counts[t] += counts[t + w];
      bad[t] = max(bad[t], bad[t + w]);
    }
  }
  if (t == 0) {
    stats[${i32(2 * N)}] = counts[0];
    loss[0] = select(sums[0] / counts[0], uniforms.nan, bad[0] != 0u || counts[0] == 0.0); // 0/0: every sample ignored
  }
}
`,
      },
      [logits, target],
      [[], [2 * N + 1]],
      [NaN],
    );
    return [loss, stats];
  };
}

/** d loss / d logits: one thread per logit. */
export function crossEntropyGrad(): tf.KernelFunc {
  return (args) => {
    const { logits, target, stats, dy } = args.inputs as Record<string, TensorInfo>;
    const { ignoreIndex } = args.attrs as unknown as CrossEntropyAttrs;
    const backend = args.backend as unknown as Backend;
    const [N, C] = check(logits, target, CROSS_ENTROPY_GRAD);
    const grid = flatGrid(N * C, backend, CROSS_ENTROPY_GRAD);
    const [dx] = runMultiOutput(
      backend,
      {
        name: "tsdlCrossEntropyGrad",
        outputs: ["dx"],
        inputs: ["logits", "labels", "stats", "dy"],
        int32Inputs: ["labels"],
        dispatch: [...grid.dispatch, 1],
        workgroupSize: [256, 1, 1],
        code: `
fn main() {
  let k = ${grid.index};
  if (k >= ${i32(N * C)}) { return; }
  let i = k / ${i32(C)};
  let j = k % ${i32(C)};
  let y = labels[i];
  if (y == ${i32(ignoreIndex)} || y < 0 || y >= ${i32(C)}) {
    dx[k] = 0.0;
    return;
  }
  let p = exp((logits[k] - stats[i]) - stats[${i32(N)} + i]);
  dx[k] = (p - select(0.0, 1.0, j == y)) * (dy[0] / stats[${i32(2 * N)}]);
}
`,
      },
      [logits, target, stats, dy],
      [logits.shape],
    );
    return dx;
  };
}
