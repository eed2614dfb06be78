// optim's SGD over a whole parameter group (core/kernels.ts SGD_FUSED_STEP): one GPU program updates as many
// parameters as the device binds storage buffers for (3 each, 5 with momentum), where tfjs's ops take four to eight
// programs per parameter, and a training step on webgpu is bound by its dispatches. The hyperparameters are uniforms:
// a schedule changing lr every step compiles nothing. The code keeps the composed ops' roundings in their order (a
// GPU compiler may still fuse a multiply and an add into one rounding).
import * as tf from "@tensorflow/tfjs";
import { SGD_FUSED_STEP, type SgdFusedStepAttrs } from "../../../core/kernels";
import { Backend, flatGrid, i32, runMultiOutput, TensorInfo } from "./program";

const MAX_PER_PROGRAM = 64;

interface Param {
  p: TensorInfo;
  grad: TensorInfo;
  buf?: TensorInfo;
  size: number;
}

export function sgdFusedStep(): tf.KernelFunc {
  return (args) => {
    const attrs = args.attrs as unknown as SgdFusedStepAttrs;
    const backend = args.backend as unknown as Backend;
    const momentum = attrs.momentum !== 0;
    const params: Param[] = [];
    for (let k = 0; k < attrs.count; k++) {
      const [p, grad, buf] = ["p", "grad", "buf"].map((n) => args.inputs[`${n}${k}`] as TensorInfo | undefined);
      const size = p ? tf.util.sizeFromShape(p.shape) : 0;
      const ok = (t?: TensorInfo) => t !== undefined && t.dtype === "float32" && tf.util.arraysEqual(t.shape, p!.shape);
      if (!ok(p) || !ok(grad) || (momentum && !ok(buf)) || size === 0) {
        throw new Error(
          `tsdl ${SGD_FUSED_STEP}: parameter ${k} needs non-empty float32 p${k}, grad${k}${momentum ? ` and buf${k}` : ""} of one shape, got ` +
            [p, grad, buf].map((t) => (t ? `${t.dtype} [${t.shape.join(", ")}]` : "none")).join(", "),
        );
      }
      params.push({ p: p!, grad: grad!, buf, size });
    }
    // Storage buffers per parameter: p, grad, p' (and buf, b'); the device's limit decides how many share a program.
    const perParam = momentum ? 5 : 3;
    // (at most MAX_PER_PROGRAM: one switch case each, and every binding within maxBindingsPerBindGroup)
    const { maxStorageBuffersPerShaderStage: storage, maxBindingsPerBindGroup: bindings } = backend.device.limits;
    const perProgram = Math.max(1, Math.min(MAX_PER_PROGRAM, Math.floor(storage / perParam), Math.floor((bindings - 1) / perParam)));
    // Similar sizes together: a program's workgroups cover its largest parameter.
    const order = params.map((_, k) => k).sort((a, b) => params[b].size - params[a].size);
    const next: TensorInfo[] = new Array(params.length);
    const bufs: TensorInfo[] = new Array(params.length);
    for (let c = 0; c < order.length; c += perProgram) {
      const chunk = order.slice(c, c + perProgram);
      const outs = runMultiOutput(
        backend,
        chunkProgram(
          chunk.map((k) => params[k].size),
          attrs,
          backend,
        ),
        chunk.flatMap((k) => (momentum ? [params[k].p, params[k].grad, params[k].buf!] : [params[k].p, params[k].grad])),
        chunk.flatMap((k) => (momentum ? [params[k].p.shape, params[k].p.shape] : [params[k].p.shape])),
        [-attrs.lr, attrs.weightDecay, attrs.momentum, 1 - attrs.dampening],
      );
      chunk.forEach((k, j) => {
        next[k] = outs[momentum ? 2 * j : j];
        if (momentum) bufs[k] = outs[2 * j + 1];
      });
    }
    return momentum ? [...next, ...bufs] : next;
  };
}

/** The program for parameters of `sizes`: parameter j is workgroupId.z = j (bindings p_j, grad_j, buf_j, out_j, bOut_j). */
function chunkProgram(sizes: number[], a: SgdFusedStepAttrs, backend: Backend) {
  const momentum = a.momentum !== 0;
  const grid = flatGrid(Math.max(...sizes), backend, SGD_FUSED_STEP);
  const body = (j: number) => {
    // g = ±grad + p·wd (the decay skipped when 0, as optim's l2Grad skips it)
    const g = `${a.maximize ? "-" : ""}grad${j}[i]${a.weightDecay !== 0 ? ` + p${j}[i] * uniforms.wd` : ""}`;
    if (!momentum) return `let g = ${g};\n      out${j}[i] = p${j}[i] + g * uniforms.negLr;`;
    // b' = b·momentum + g·(1 − dampening) (the product skipped when dampening is 0), p' = p + (nesterov ? g + b'·momentum : b')·(−lr)
    return `let g = ${g};
      let b = buf${j}[i] * uniforms.momentum + ${a.dampening !== 0 ? "g * uniforms.keep" : "g"};
      bOut${j}[i] = b;
      out${j}[i] = p${j}[i] + (${a.nesterov ? "g + b * uniforms.momentum" : "b"}) * uniforms.negLr;`;
  };
  return {
    name: "tsdlSgdFusedStep",
    outputs: sizes.flatMap((_, j) => (momentum ? [`out${j}`, `bOut${j}`] : [`out${j}`])),
    inputs: sizes.flatMap((_, j) => (momentum ? [`p${j}`, `grad${j}`, `buf${j}`] : [`p${j}`, `grad${j}`])),
    uniforms: ["negLr", "wd", "momentum", "keep"],
    dispatch: [...grid.dispatch, sizes.length] as [number, number, number],
    workgroupSize: [256, 1, 1] as [number, number, number],
    code: `
fn main() {
  let i = ${grid.index};
  switch (i32(workgroupId.z)) {
${sizes.map((n, j) => `    case ${j}: {\n      if (i >= ${i32(n)}) { return; }\n      ${body(j)}\n    }`).join("\n")}
    default: {}
  }
}
`,
  };
}
