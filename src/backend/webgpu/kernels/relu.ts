// Relu, its gradient (core/kernels.ts RELU_GRAD, one program instead of a Step and a Multiply) and relu(a + b)
// (ADD_RELU, one program instead of an Add and a Relu).
//
// Relu that keeps NaN, as PyTorch and tfjs's cpu backend do. tfjs-backend-webgpu writes it as
// select(a, 0, a < 0), which a shader compiler allowed to assume no NaNs turns into max(a, 0): on Mesa's llvmpipe
// relu(NaN) is 0. A NaN batch then trains to a finite loss and train()'s NaN guard never sees it. The NaN test
// here is on the bits (tfjs's isnan), which no such assumption removes.
import * as tf from "@tensorflow/tfjs";
import { ADD_RELU, RELU_GRAD } from "../../../core/kernels";
import { Backend, i32, program, TensorInfo } from "./program";

export function relu(stock: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const backend = args.backend as unknown as Backend;
    const size = tf.util.sizeFromShape(x.shape);
    if (x.dtype !== "float32" || size === 0) return stock(args);
    const vec4 = size % 4 === 0;
    const n = vec4 ? size / 4 : size;
    const groups = Math.ceil(n / 256);
    const gx = Math.min(groups, 32768);
    const gy = Math.ceil(groups / gx);
    const t = vec4 ? "vec4<f32>" : "f32";
    const nan = vec4 ? "isnanVec4(v)" : "isnan(v)";
    const p = program({
      variableNames: ["x"],
      outputShape: x.shape,
      name: "tsdlRelu",
      dispatch: [gx, gy, 1],
      workgroupSize: [256, 1, 1],
      code: `
fn main() {
  _ = uniforms.NAN;
  let i = (i32(workgroupId.y) * ${i32(gx)} + i32(workgroupId.x)) * 256 + i32(localId.x);
  if (i < ${i32(n)}) {
    let v = x[i];
    result[i] = select(v, ${t}(0.0), (v < ${t}(0.0)) & !${nan});
  }
}
`,
    });
    if (vec4) {
      p.outputComponent = 4;
      p.variableComponents = [4];
    }
    return backend.runWebGPUProgram(p, [x], "float32");
  };
}

/** RELU_GRAD: dy·step(x), step(x) = 1 where x > 0, NaN where x is NaN, else 0 (the product tfjs's gradient forms). */
export function reluGrad(): tf.KernelFunc {
  return (args) => {
    const { dy, x } = args.inputs as { dy: TensorInfo; x: TensorInfo };
    const backend = args.backend as unknown as Backend;
    const size = tf.util.sizeFromShape(x.shape);
    if (x.dtype !== "float32" || dy.dtype !== "float32" || !tf.util.arraysEqual(x.shape, dy.shape)) {
      throw new Error(
        `tsdl ${RELU_GRAD}: takes float32 dy and x of one shape, got ${dy.dtype} [${dy.shape.join(", ")}] and ${x.dtype} [${x.shape.join(", ")}]`,
      );
    }
    const vec4 = size % 4 === 0;
    const n = vec4 ? size / 4 : size;
    const groups = Math.max(1, Math.ceil(n / 256));
    const gx = Math.min(groups, 32768);
    const gy = Math.ceil(groups / gx);
    const t = vec4 ? "vec4<f32>" : "f32";
    const nan = vec4 ? "isnanVec4(v)" : "isnan(v)";
    const p = program({
      variableNames: ["dy", "x"],
      outputShape: x.shape,
      name: "tsdlReluGrad",
      dispatch: [gx, gy, 1],
      workgroupSize: [256, 1, 1],
      code: `
fn main() {
  _ = uniforms.NAN;
  let i = (i32(workgroupId.y) * ${i32(gx)} + i32(workgroupId.x)) * 256 + i32(localId.x);
  if (i < ${i32(n)}) {
    let v = x[i];
    let step = select(select(${t}(0.0), v, ${nan}), ${t}(1.0), v > ${t}(0.0));
    result[i] = dy[i] * step;
  }
}
`,
    });
    if (vec4) {
      p.outputComponent = 4;
      p.variableComponents = [4, 4];
    }
    return backend.runWebGPUProgram(p, [dy, x], "float32");
  };
}

/** ADD_RELU: relu(a + b), NaN kept (as relu above). */
export function addRelu(): tf.KernelFunc {
  return (args) => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const backend = args.backend as unknown as Backend;
    if (a.dtype !== "float32" || b.dtype !== "float32" || !tf.util.arraysEqual(a.shape, b.shape)) {
      throw new Error(
        `tsdl ${ADD_RELU}: takes float32 a and b of one shape, got ${a.dtype} [${a.shape.join(", ")}] and ${b.dtype} [${b.shape.join(", ")}]`,
      );
    }
    const size = tf.util.sizeFromShape(a.shape);
    const vec4 = size % 4 === 0;
    const n = vec4 ? size / 4 : size;
    const groups = Math.max(1, Math.ceil(n / 256));
    const gx = Math.min(groups, 32768);
    const gy = Math.ceil(groups / gx);
    const t = vec4 ? "vec4<f32>" : "f32";
    const nan = vec4 ? "isnanVec4(v)" : "isnan(v)";
    const p = program({
      variableNames: ["a", "b"],
      outputShape: a.shape,
      name: "tsdlAddRelu",
      dispatch: [gx, gy, 1],
      workgroupSize: [256, 1, 1],
      code: `
fn main() {
  _ = uniforms.NAN;
  let i = (i32(workgroupId.y) * ${i32(gx)} + i32(workgroupId.x)) * 256 + i32(localId.x);
  if (i < ${i32(n)}) {
    let v = a[i] + b[i];
    result[i] = select(v, ${t}(0.0), (v < ${t}(0.0)) & !${nan});
  }
}
`,
    });
    if (vec4) {
      p.outputComponent = 4;
      p.variableComponents = [4, 4];
    }
    return backend.runWebGPUProgram(p, [a, b], "float32");
  };
}
