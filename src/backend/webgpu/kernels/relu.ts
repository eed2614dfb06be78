// Relu, its gradient (core/kernels.ts RELU_GRAD, one program instead of a Step and a Multiply) and relu(a + b)
// (ADD_RELU, one program instead of an Add and a Relu).
//
// Relu that keeps NaN, as PyTorch and tfjs's cpu backend do. tfjs-backend-webgpu writes it as
// select(a, 0, a < 0), which a shader compiler allowed to assume no NaNs turns into max(a, 0): on Mesa's llvmpipe
// relu(NaN) is 0. A NaN batch then trains to a finite loss and train()'s NaN guard never sees it. The NaN test
// here is on the bits (isnan, program.ts), which no such assumption removes.
import * as tf from "@tensorflow/tfjs";
import { ADD_RELU, RELU_GRAD } from "../../../core/kernels";
import { Backend, flatGrid, i32, type Program, runProgram, TensorInfo } from "./program";

export function relu(stock: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    if (x.dtype !== "float32" || tf.util.sizeFromShape(x.shape) === 0) return stock(args);
    return elementwise(
      args.backend as unknown as Backend,
      "tsdlRelu",
      { x },
      (t, isnan) => `let v = x[i];\n    result[i] = ${reluOf("v", t, isnan)};`,
    );
  };
}

/** RELU_GRAD: dy·step(x), step(x) = 1 where x > 0, NaN where x is NaN, else 0 (the product tfjs's gradient forms). */
export function reluGrad(): tf.KernelFunc {
  return (args) => {
    const { dy, x } = args.inputs as { dy: TensorInfo; x: TensorInfo };
    checkPair(RELU_GRAD, { dy, x });
    return elementwise(
      args.backend as unknown as Backend,
      "tsdlReluGrad",
      { dy, x },
      (t, isnan) =>
        `let v = x[i];\n    let step = select(select(${t}(0.0), v, ${isnan("v")}), ${t}(1.0), v > ${t}(0.0));\n    result[i] = dy[i] * step;`,
    );
  };
}

/** ADD_RELU: relu(a + b), NaN kept (as relu above). */
export function addRelu(): tf.KernelFunc {
  return (args) => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    checkPair(ADD_RELU, { a, b });
    return elementwise(
      args.backend as unknown as Backend,
      "tsdlAddRelu",
      { a, b },
      (t, isnan) => `let v = a[i] + b[i];\n    result[i] = ${reluOf("v", t, isnan)};`,
    );
  };
}

/** WGSL `fn relu(v: f32) -> f32` keeping NaN, for other kernels' epilogues (every program has isnan). */
export function reluFunction(): string {
  return `fn relu(v: f32) -> f32 { return ${reluOf("v", "f32", (v) => `isnan(${v})`)}; }`;
}

/** max(v, 0) keeping NaN, the NaN test on the bits (see the top of this file). */
function reluOf(v: string, t: string, isnan: (v: string) => string): string {
  return `select(${v}, ${t}(0.0), (${v} < ${t}(0.0)) & !${isnan(v)})`;
}

function checkPair(name: string, pair: Record<string, TensorInfo>): void {
  const [[n1, t1], [n2, t2]] = Object.entries(pair);
  if (t1.dtype !== "float32" || t2.dtype !== "float32" || !tf.util.arraysEqual(t1.shape, t2.shape)) {
    throw new Error(
      `tsdl ${name}: takes float32 ${n1} and ${n2} of one shape, got ${t1.dtype} [${t1.shape.join(", ")}] and ${t2.dtype} [${t2.shape.join(", ")}]`,
    );
  }
}

/**
 * One program over float32 inputs of one shape, four values per thread when the size allows: `body(t, isnan)`
 * writes result[i] from the inputs at i, t being the value type (f32 or vec4<f32>) and isnan its NaN test.
 */
function elementwise(
  backend: Backend,
  name: string,
  inputs: Record<string, TensorInfo>,
  body: (t: string, isnan: (v: string) => string) => string,
): TensorInfo {
  const tensors = Object.values(inputs);
  const size = tf.util.sizeFromShape(tensors[0].shape);
  const vec4 = size % 4 === 0;
  const n = vec4 ? size / 4 : size;
  const grid = flatGrid(n, backend, name);
  const p: Program = {
    variableNames: Object.keys(inputs),
    outputShape: tensors[0].shape,
    name,
    dispatch: [...grid.dispatch, 1],
    workgroupSize: [256, 1, 1],
    vec4,
    code: `
fn main() {
  let i = ${grid.index};
  if (i < ${i32(n)}) {
    ${body(vec4 ? "vec4<f32>" : "f32", (v) => (vec4 ? `isnanVec4(${v})` : `isnan(${v})`))}
  }
}
`,
  };
  return runProgram(backend, p, tensors);
}
