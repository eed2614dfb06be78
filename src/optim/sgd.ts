import * as tf from "@tensorflow/tfjs";
import { kernelReady, SGD_FUSED_STEP, SGD_STEP, type SgdFusedStepAttrs, type SgdStepAttrs } from "../core/kernels";
import { finite, flag, nonNegative, SGDHyper, SGDOptions, Specs } from "./options";
import { l2Grad, Optimizer, ParamsInput, type UpdateItem } from "./optimizer";

const SPECS: Specs<SGDHyper> = {
  lr: nonNegative,
  momentum: nonNegative,
  dampening: finite,
  weightDecay: nonNegative,
  nesterov: flag,
  maximize: flag,
};
/** PyTorch 2.x defaults (1.13 required lr; 2.x defaults it to 1e-3). */
const DEFAULTS: SGDHyper = { lr: 1e-3, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false };

/**
 * Stochastic gradient descent, exactly as `torch.optim.SGD`. Per parameter and step:
 * ```
 * g = ∇p  (−∇p if maximize)
 * g = g + weightDecay·p                       (coupled L2, before momentum)
 * if momentum ≠ 0:
 *   b = g on the first step, else b = momentum·b + (1 − dampening)·g
 *   g = nesterov ? g + momentum·b : b
 * p = p − lr·g
 * ```
 * The buffer starts at the first gradient (not zeros), and is kept (not updated) while momentum is 0.
 */
export class SGD extends Optimizer<SGDHyper> {
  static className = "tsdl.SGD";

  constructor(params: ParamsInput<SGDHyper>, options: SGDOptions = {}) {
    super("SGD", params, options, SPECS, DEFAULTS);
  }

  protected override checkGroup(h: SGDHyper, where: string): void {
    if (h.nesterov && (h.momentum <= 0 || h.dampening !== 0))
      throw new Error(
        `${where}: nesterov momentum requires momentum > 0 and dampening = 0 (got momentum ${h.momentum}, dampening ${h.dampening})`,
      );
  }

  protected override get bufferNames(): readonly string[] {
    return ["momentumBuffer"];
  }

  /**
   * The whole group in one kernel where the backend has SGD_FUSED_STEP (webgpu: one GPU program per few parameters,
   * where one by one takes one to eight each), the same operations in the same order; one by one otherwise, and on
   * the first step with momentum (PyTorch's buffer starts as the gradient).
   */
  protected override updateMany(items: UpdateItem[], h: SGDHyper): tf.Tensor[] | undefined {
    const momentum = h.momentum !== 0;
    // (an empty parameter has nothing to update: one by one, as tfjs's ops handle it)
    if (!kernelReady(SGD_FUSED_STEP) || items.some(({ p }) => p.size === 0)) return undefined;
    if (!items.every(({ p, grad, buffers }) => (momentum ? sameFloat32(p, grad, buffers.momentumBuffer) : sameFloat32(p, grad))))
      return undefined;
    const inputs: tf.NamedTensorMap = {};
    items.forEach(({ p, grad, buffers }, k) => {
      inputs[`p${k}`] = p;
      inputs[`grad${k}`] = grad;
      if (momentum) inputs[`buf${k}`] = buffers.momentumBuffer;
    });
    const { lr, weightDecay, maximize, dampening, nesterov } = h;
    const attrs: SgdFusedStepAttrs = { lr, weightDecay, maximize, momentum: h.momentum, dampening, nesterov, count: items.length };
    const out = tf.engine().runKernel(SGD_FUSED_STEP, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
    if (momentum) items.forEach((item, k) => (item.buffers.momentumBuffer = out[items.length + k]));
    return out.slice(0, items.length);
  }

  protected update(p: tf.Variable, grad: tf.Tensor, h: SGDHyper, _step: number, buffers: Record<string, tf.Tensor>): tf.Tensor {
    if (h.momentum === 0 && sameFloat32(p, grad) && kernelReady(SGD_STEP)) {
      // one pass instead of three or four full-size ops, same bits (core/kernels.ts)
      const attrs: SgdStepAttrs = { lr: h.lr, weightDecay: h.weightDecay, maximize: h.maximize };
      return tf.engine().runKernel(SGD_STEP, { p, grad }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
    }
    const old = buffers.momentumBuffer;
    let g = l2Grad(p, grad, h.maximize, h.weightDecay, (x) => this.scalar(x));
    if (h.momentum !== 0) {
      const b =
        old === undefined
          ? tf.clone(g)
          : tf.add(tf.mul(old, this.scalar(h.momentum)), h.dampening === 0 ? g : tf.mul(g, this.scalar(1 - h.dampening)));
      buffers.momentumBuffer = b;
      g = h.nesterov ? tf.add(g, tf.mul(b, this.scalar(h.momentum))) : b;
    }
    // p + (−lr)·g is bit-identical to p − lr·g (PyTorch: add_(g, alpha=−lr)); tfjs cpu adds faster than it subtracts.
    return tf.add(p, tf.mul(g, this.scalar(-h.lr)));
  }
}
tf.serialization.registerClass(SGD);

/** True when every tensor is float32 and of the first one's shape (what the one-pass kernels take). */
function sameFloat32(first: tf.Tensor, ...rest: Array<tf.Tensor | undefined>): boolean {
  return (
    first.dtype === "float32" && rest.every((t) => t !== undefined && t.dtype === "float32" && tf.util.arraysEqual(t.shape, first.shape))
  );
}
