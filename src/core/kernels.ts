// Kernels that tsdl's layers call by name and that a backend may provide (today the wasm backend with its native
// add-on): the names and what they compute, so that nn and the backends agree without importing each other. A
// layer runs such a kernel only while `kernelReady(name)` (else it composes tfjs ops), and the backend that
// registers the kernel says when it can run it.
import * as tf from "@tensorflow/tfjs";

/**
 * Batch norm in training mode over the last axis of x (channels last): inputs x, scale? (γ), offset? (β); attrs
 * varianceEpsilon and relu (apply max(·, 0) to the result); outputs y, the batch mean and the biased batch
 * variance (÷ N·H·W), as PyTorch computes them. Differentiable with respect to x, scale and offset.
 */
export const BATCH_NORM_TRAIN = "TsdlBatchNormTrain";

export interface BatchNormTrainAttrs {
  varianceEpsilon: number;
  relu: boolean;
}

/**
 * One step of plain SGD (torch.optim.SGD without momentum) on float32 p and grad of one shape, in one pass:
 * p + (g + p·weightDecay)·(−lr) with g = maximize ? −grad : grad, each operation rounded to float32 as the
 * composed tfjs ops round it (the same bits). Attrs lr, weightDecay, maximize.
 */
export const SGD_STEP = "TsdlSgdStep";

export interface SgdStepAttrs {
  lr: number;
  weightDecay: number;
  maximize: boolean;
}

const ready = new Map<string, () => boolean>();

/** For the backend registering `name`: when it can run it (e.g. while its native add-on is loaded). */
export function offerKernel(name: string, canRun: () => boolean): void {
  ready.set(name, canRun);
}

/** True when the active backend has `name` registered and can run it now. */
export function kernelReady(name: string): boolean {
  const canRun = ready.get(name);
  return canRun !== undefined && tf.getKernel(name, tf.getBackend()) !== undefined && canRun();
}
