// tsdl's replacements of tfjs gradients, shared by every backend (tfjs has one gradient registry for all).
//
// Mean's and Sum's gradients without tfjs's full-size ones tensor.
// tfjs computes d mean(x)/dx as div(mul(reshape(dy), ones(x.shape)), n) and d sum(x)/dx as mul(reshape(dy),
// ones(x.shape)). `ones` fills a JavaScript array of x's size, so each of these gradients costs a full-size fill on
// the CPU and, on a GPU, a full-size upload: on webgpu at batch 128 that was about two thirds of a ResNet step (the
// batch-norm statistics are means over the whole activation). broadcastTo(reshape(dy) / n, x.shape) and
// broadcastTo(reshape(dy), x.shape) give the same floats (dy·1 is exact; the division is the same operation on the
// same values) in one pass on the device (a Tile).
//
// Relu's gradient in one kernel (core/kernels.ts RELU_GRAD) where the active backend offers one: tfjs's is a Step
// and a Multiply, two full-size passes (on webgpu two dispatches per ReLU of a step) for the same values.
import * as tf from "@tensorflow/tfjs";
import { kernelReady, RELU_GRAD } from "../core/kernels";

type GradFunc = tf.GradConfig["gradFunc"];

/** dy reshaped to x's rank (1 along the reduced axes) and the number of values each output reduced. */
function expandDy(dy: tf.Tensor, x: tf.Tensor, axis: number | number[]): { expanded: tf.Tensor; n: number } {
  const axes = tf.util.parseAxisParam(axis, x.shape);
  const shape = x.shape.map((s, i) => (axes.includes(i) ? 1 : s));
  return { expanded: tf.reshape(dy, shape), n: tf.util.sizeFromShape(axes.map((a) => x.shape[a])) };
}

const meanGrad: GradFunc = (dy, saved, attrs) => {
  const [x] = saved;
  return {
    x: () => {
      const { expanded, n } = expandDy(dy as tf.Tensor, x, (attrs as { axis: number | number[] }).axis);
      return tf.broadcastTo(tf.div(expanded, n), x.shape);
    },
  };
};

const sumGrad: GradFunc = (dy, saved, attrs) => {
  const [x] = saved;
  return {
    x: () => {
      const { expanded } = expandDy(dy as tf.Tensor, x, (attrs as { axis: number | number[] }).axis);
      // float32 as tfjs's (its ones are float32), also when dy is int32.
      return tf.broadcastTo(expanded.dtype === "float32" ? expanded : tf.cast(expanded, "float32"), x.shape);
    },
  };
};

/** RELU_GRAD when the backend runs it on these float32 tensors, else tfjs's own gradient. */
const reluGrad =
  (original: GradFunc): GradFunc =>
  (dy, saved, attrs) => {
    const [x] = saved;
    const d = dy as tf.Tensor;
    if (!(x.dtype === "float32" && d.dtype === "float32" && kernelReady(RELU_GRAD))) return original(dy, saved, attrs);
    return { x: () => tf.engine().runKernel(RELU_GRAD, { dy: d, x }) as tf.Tensor };
  };

let registered = false;

/** Replace Mean's, Sum's and Relu's gradients (idempotent; the gradient registry is shared by all backends). */
export function registerGradients(): void {
  if (registered) return;
  for (const [kernelName, gradFunc] of [
    [tf.Mean, () => meanGrad],
    [tf.Sum, () => sumGrad],
    [tf.Relu, reluGrad],
  ] as const) {
    const original = tf.getGradient(kernelName);
    if (!original) throw new Error(`tsdl: tfjs has no gradient for ${kernelName} to replace`);
    tf.registerGradient({ ...original, gradFunc: gradFunc(original.gradFunc) });
  }
  registered = true;
}
