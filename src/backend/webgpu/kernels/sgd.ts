// optim's SGD (core/kernels.ts SGD_STEP, SGD_MOMENTUM_STEP) in one program per parameter: tfjs's ops take four (a Multiply and an Add for the weight decay, a Multiply and an Add for the step) or six to eight,
// and a training step on webgpu is bound by its dispatches. The hyperparameters are uniforms: a schedule changing lr
// every step compiles nothing. The code keeps the composed ops' roundings in their order (a GPU compiler may still
// fuse a multiply and an add into one rounding).
import * as tf from "@tensorflow/tfjs";
import { SGD_MOMENTUM_STEP, SGD_STEP, type SgdMomentumStepAttrs, type SgdStepAttrs } from "../../../core/kernels";
import { Backend, i32, maxWorkgroups, program, runMultiOutput, TensorInfo } from "./program";

export function sgdStep(): tf.KernelFunc {
  return (args) => {
    const { p, grad } = args.inputs as { p: TensorInfo; grad: TensorInfo };
    const { lr, weightDecay, maximize } = args.attrs as unknown as SgdStepAttrs;
    const backend = args.backend as unknown as Backend;
    const size = tf.util.sizeFromShape(p.shape);
    if (p.dtype !== "float32" || grad.dtype !== "float32" || !tf.util.arraysEqual(p.shape, grad.shape) || size === 0) {
      throw new Error(
        `tsdl ${SGD_STEP}: takes non-empty float32 p and grad of one shape, got ${p.dtype} [${p.shape.join(", ")}] and ${grad.dtype} [${grad.shape.join(", ")}]`,
      );
    }
    const { gx, gy } = grid(size, backend, SGD_STEP);
    const prog = elementwise(
      "tsdlSgdStep",
      ["p", "grad"],
      p.shape,
      size,
      gx,
      gy,
      "negLr : f32, wd : f32,",
      `
    let g = ${decayedGrad(maximize, weightDecay)};
    result[i] = p[i] + g * uniforms.negLr;`,
    );
    return backend.runWebGPUProgram(prog, [p, grad], "float32", f32Uniforms(-lr, weightDecay));
  };
}

/** SGD_MOMENTUM_STEP in one program writing p' and b' (tfjs's ops take six to eight). */
export function sgdMomentumStep(): tf.KernelFunc {
  return (args) => {
    const { p, grad, buf } = args.inputs as { p: TensorInfo; grad: TensorInfo; buf: TensorInfo };
    const { lr, weightDecay, maximize, momentum, dampening, nesterov } = args.attrs as unknown as SgdMomentumStepAttrs;
    const backend = args.backend as unknown as Backend;
    const size = tf.util.sizeFromShape(p.shape);
    if (![grad, buf].every((t) => t.dtype === "float32" && tf.util.arraysEqual(t.shape, p.shape)) || p.dtype !== "float32" || size === 0) {
      throw new Error(
        `tsdl ${SGD_MOMENTUM_STEP}: takes non-empty float32 p, grad and buf of one shape, got ${[p, grad, buf].map((t) => `${t.dtype} [${t.shape.join(", ")}]`).join(", ")}`,
      );
    }
    const { gx, gy } = grid(size, backend, SGD_MOMENTUM_STEP);
    // b' = b·momentum + g·(1 − dampening) (the product skipped when dampening is 0, as optim skips it), then
    // p' = p + (nesterov ? g + b'·momentum : b')·(−lr)
    const [next, b] = runMultiOutput(
      backend,
      {
        name: "tsdlSgdMomentumStep",
        outputs: ["pOut", "bOut"],
        inputs: ["p", "grad", "buf"],
        uniforms: ["negLr", "wd", "momentum", "keep"],
        dispatch: [gx, gy, 1],
        workgroupSize: [256, 1, 1],
        code: `
fn main() {
  let i = (i32(workgroupId.y) * ${i32(gx)} + i32(workgroupId.x)) * 256 + i32(localId.x);
  if (i < ${i32(size)}) {
    let g = ${decayedGrad(maximize, weightDecay)};
    let b = buf[i] * uniforms.momentum + ${dampening !== 0 ? "g * uniforms.keep" : "g"};
    bOut[i] = b;
    pOut[i] = p[i] + (${nesterov ? "g + b * uniforms.momentum" : "b"}) * uniforms.negLr;
  }
}
`,
      },
      [p, grad, buf],
      [p.shape, p.shape],
      [-lr, weightDecay, momentum, 1 - dampening],
    );
    return [next, b];
  };
}

/** Values of f32 uniform fields, one entry each: tfjs aligns an entry of n values as a vecN, not as n f32 fields. */
function f32Uniforms(...values: number[]): Array<{ type: string; data: number[] }> {
  return values.map((v) => ({ type: "float32", data: [v] }));
}

/** ±grad[i] + p[i]·wd: the coupled weight decay, skipped when it is 0 (as optim's l2Grad skips it). */
function decayedGrad(maximize: boolean, weightDecay: number): string {
  const g = maximize ? "-grad[i]" : "grad[i]";
  return weightDecay !== 0 ? `${g} + p[i] * uniforms.wd` : g;
}

/** Workgroups of 256 threads for `size` values: x up to the device's limit, then rows of them. */
function grid(size: number, backend: Backend, name: string): { gx: number; gy: number } {
  const groups = Math.ceil(size / 256);
  const gx = Math.min(groups, maxWorkgroups(backend));
  const gy = Math.ceil(groups / gx);
  if (gy > maxWorkgroups(backend)) throw new Error(`tsdl ${name}: ${size} values is more than one dispatch takes`);
  return { gx, gy };
}

/** A program computing `body` (which writes result[i]) for each i < size. */
function elementwise(
  name: string,
  inputs: string[],
  shape: number[],
  size: number,
  gx: number,
  gy: number,
  uniforms: string,
  body: string,
) {
  return program({
    variableNames: inputs,
    outputShape: shape,
    name,
    dispatch: [gx, gy, 1],
    workgroupSize: [256, 1, 1],
    uniforms,
    code: `
fn main() {
  _ = uniforms.NAN;
  let i = (i32(workgroupId.y) * ${i32(gx)} + i32(workgroupId.x)) * 256 + i32(localId.x);
  if (i < ${i32(size)}) {${body}
  }
}
`,
  });
}
