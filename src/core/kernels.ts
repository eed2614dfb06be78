// Kernels that tsdl's layers call by name and that a backend may provide (the wasm backend with its native add-on,
// the webgpu backend with WGSL): the names, what they compute and their gradients, so that nn and the backends
// agree without importing each other. A layer runs such a kernel only while `kernelReady(name)` (else it composes
// tfjs ops), and each backend that registers the kernel says when it can run it.
import * as tf from "@tensorflow/tfjs";

/**
 * Batch norm in training mode over the last axis of x (channels last): inputs x, scale? (γ), offset? (β); attrs
 * varianceEpsilon and relu (apply max(·, 0) to the result); outputs y, the batch mean and the biased batch
 * variance (÷ N·H·W), as PyTorch computes them. Differentiable with respect to x and scale (which the gradient
 * needs: nn's BatchNorm2d always passes it) and offset.
 *
 * With inputs runningMean and runningVar (and attrs momentum and varianceFactor, n/(n-1): PyTorch keeps the
 * unbiased variance) it also outputs their update, in float32 and in this order (the composed tfjs ops' order, so
 * either way gives the same values):
 *   runningMean·(1 - momentum) + mean·momentum,  runningVar·(1 - momentum) + (variance·varianceFactor)·momentum.
 * No gradient reaches them (buffers).
 */
export const BATCH_NORM_TRAIN = "TsdlBatchNormTrain";

/**
 * BATCH_NORM_TRAIN's gradient: inputs x, dy, y, mean, variance, scale, dmean, dvar (the gradients reaching the
 * three outputs); attrs those of BATCH_NORM_TRAIN; outputs dx, dscale, doffset, the batch statistics' own
 * gradients included. With g = dy masked by y > 0 when relu, rs = 1/√(var + eps), n = N·H·W:
 *   doffset = Σg,  dscale = rs·Σg(x - mean),
 *   dx = γ·rs·(g - Σg/n - (x - mean)·rs²·Σg(x - mean)/n) + dmean/n + dvar·2(x - mean)/n.
 */
export const BATCH_NORM_TRAIN_GRAD = "TsdlBatchNormTrainGrad";

export interface BatchNormTrainAttrs {
  varianceEpsilon: number;
  relu: boolean;
  /** With runningMean and runningVar only. */
  momentum?: number;
  varianceFactor?: number;
}

/**
 * One step of plain SGD (torch.optim.SGD without momentum) on float32 p and grad of one shape, in one pass:
 * p + (g + p·weightDecay)·(−lr) with g = maximize ? −grad : grad, each operation rounded to float32 as the
 * composed tfjs ops round it (the same bits; a GPU compiler may still contract a multiply and an add into one
 * rounding). Attrs lr, weightDecay, maximize.
 */
export const SGD_STEP = "TsdlSgdStep";

export interface SgdStepAttrs {
  lr: number;
  weightDecay: number;
  maximize: boolean;
}

/**
 * One step of torch.optim.SGD over several parameters at once (PyTorch's fused implementation): inputs p0, grad0,
 * buf0, p1, grad1, buf1, … (float32; p_k and grad_k of one shape; the momentum buffers only when momentum ≠ 0, after
 * the first step); attrs those of SGD_STEP and momentum, dampening, nesterov, count. Per parameter, with
 * g = ±grad + p·weightDecay (as SGD_STEP): b' = b·momentum + g·(1 − dampening) (g itself when dampening is 0) and
 * p' = p + (nesterov ? g + b'·momentum : b')·(−lr), or p' = p + g·(−lr) without momentum, each operation rounded to
 * float32 as the composed tfjs ops round it (up to a GPU compiler's multiply-add contraction). Outputs p'0 … p'{count−1}, then b'0 … b'{count−1} with momentum.
 */
export const SGD_FUSED_STEP = "TsdlSgdFusedStep";

export interface SgdFusedStepAttrs extends SgdStepAttrs {
  momentum: number;
  dampening: number;
  nesterov: boolean;
  count: number;
}

/**
 * Relu's gradient in one pass: inputs dy and x (float32, one shape); output dy·step(x), step(x) being 1 where
 * x > 0, NaN where x is NaN and 0 elsewhere, as tfjs's composed gradient (a Step and a Multiply) computes it.
 * backend/gradients.ts runs it while `kernelReady(RELU_GRAD)`.
 */
export const RELU_GRAD = "TsdlReluGrad";

/**
 * relu(a + b) of float32 a and b of one shape (a residual block's tail), NaN kept as tfjs's Relu keeps it.
 * Differentiable: both inputs get dy·step(y), step as RELU_GRAD's (y > 0 exactly where a + b > 0, NaN where it is).
 */
export const ADD_RELU = "TsdlAddRelu";

/** ADD_RELU's gradient: RELU_GRAD of the output where the backend has it, tfjs's dy·step(y) elsewhere. */
export const addReluGradConfig: tf.GradConfig = {
  kernelName: ADD_RELU,
  outputsToSave: [true],
  gradFunc: (dy, saved) => {
    const [y] = saved;
    const d = dy as tf.Tensor;
    // once for both inputs (b gets its own tensor: tfjs accumulates and disposes each input's gradient)
    const g = kernelReady(RELU_GRAD) ? (tf.engine().runKernel(RELU_GRAD, { dy: d, x: y }) as tf.Tensor) : tf.mul(d, tf.step(y));
    return { a: () => g, b: () => tf.clone(g) };
  },
};

/**
 * torch.nn.CrossEntropyLoss's common case (class indices, no weight, no label smoothing, mean) in one kernel: inputs
 * logits [N, C] float32 and target [N] int32; attr ignoreIndex. Outputs the loss, the mean over the samples whose
 * target is not ignoreIndex of −logp[target] with logp = (x − max) − log Σ exp(x − max) (tfjs's logSoftmax), NaN
 * when every sample is ignored (as PyTorch), when a counted sample has a NaN or +Inf logit (found from the bits:
 * shader compilers may assume no NaN) or when a target is outside [0, C) and not ignoreIndex (PyTorch raises;
 * labels on a GPU cannot be read first); and stats [2N + 1] for the gradient: each row's max, each row's
 * log Σ exp(x − max), the number of samples counted. Differentiable with respect to logits (CROSS_ENTROPY_GRAD).
 */
export const CROSS_ENTROPY = "TsdlCrossEntropy";

/** CROSS_ENTROPY's gradient: inputs logits, target, stats, dy; output (softmax − onehot(target))·counted/n·dy. */
export const CROSS_ENTROPY_GRAD = "TsdlCrossEntropyGrad";

export interface CrossEntropyAttrs {
  ignoreIndex: number;
}

/** CROSS_ENTROPY's gradient, through the active backend's CROSS_ENTROPY_GRAD kernel. */
export const crossEntropyGradConfig: tf.GradConfig = {
  kernelName: CROSS_ENTROPY,
  inputsToSave: ["logits", "target"],
  outputsToSave: [false, true],
  gradFunc: (dys, saved, attrs) => {
    const [dy] = dys as tf.Tensor[];
    const [logits, target, stats] = saved;
    return {
      logits: () =>
        tf.engine().runKernel(CROSS_ENTROPY_GRAD, { logits, target, stats, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor,
    };
  },
};

/** BATCH_NORM_TRAIN's gradient, through the active backend's BATCH_NORM_TRAIN_GRAD kernel. */
export const batchNormTrainGradConfig: tf.GradConfig = {
  kernelName: BATCH_NORM_TRAIN,
  inputsToSave: ["x", "scale"],
  outputsToSave: [true, true, true],
  gradFunc: (dys, saved, attrs) => {
    const [dy, dmean, dvar] = dys as tf.Tensor[];
    const [x, scale, y, mean, variance] = saved;
    const [dx, dscale, doffset] = tf
      .engine()
      .runKernel(
        BATCH_NORM_TRAIN_GRAD,
        { x, dy, y, mean, variance, scale, dmean, dvar },
        attrs as unknown as tf.NamedAttrMap,
      ) as tf.Tensor[];
    return { x: () => dx, scale: () => dscale, offset: () => doffset };
  },
};

/** canRun per backend, then kernel name. */
const ready = new Map<string, Map<string, () => boolean>>();

/** For a backend registering `name`: when it can run it (e.g. while its native add-on is loaded). */
export function offerKernel(name: string, backendName: string, canRun: () => boolean): void {
  if (!ready.has(backendName)) ready.set(backendName, new Map());
  ready.get(backendName)!.set(name, canRun);
}

/** True when the active backend has `name` registered and can run it now. */
export function kernelReady(name: string): boolean {
  const backendName = tf.getBackend();
  const canRun = ready.get(backendName)?.get(name);
  return canRun !== undefined && tf.getKernel(name, backendName) !== undefined && canRun();
}
