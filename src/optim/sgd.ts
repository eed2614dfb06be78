import * as tf from "@tensorflow/tfjs";
import { kernelReady, SGD_MOMENTUM_STEP, SGD_STEP, type SgdMomentumStepAttrs, type SgdStepAttrs } from "../core/kernels";
import { finite, flag, nonNegative, SGDHyper, SGDOptions, Specs } from "./options";
import { l2Grad, Optimizer, ParamsInput } from "./optimizer";

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

  protected update(p: tf.Variable, grad: tf.Tensor, h: SGDHyper, _step: number, buffers: Record<string, tf.Tensor>): tf.Tensor {
    if (h.momentum === 0 && sameFloat32(p, grad) && kernelReady(SGD_STEP)) {
      // one pass instead of three or four full-size ops, same bits (core/kernels.ts)
      const attrs: SgdStepAttrs = { lr: h.lr, weightDecay: h.weightDecay, maximize: h.maximize };
      return tf.engine().runKernel(SGD_STEP, { p, grad }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
    }
    const old = buffers.momentumBuffer;
    if (h.momentum !== 0 && old !== undefined && sameFloat32(p, grad, old) && kernelReady(SGD_MOMENTUM_STEP)) {
      // two passes instead of six to eight full-size ops (core/kernels.ts), the same operations in the same order
      const { lr, weightDecay, maximize, momentum, dampening, nesterov } = h;
      const attrs: SgdMomentumStepAttrs = { lr, weightDecay, maximize, momentum, dampening, nesterov };
      const [next, b] = tf.engine().runKernel(SGD_MOMENTUM_STEP, { p, grad, buf: old }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
      buffers.momentumBuffer = b;
      return next;
    }
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
function sameFloat32(first: tf.Tensor, ...rest: tf.Tensor[]): boolean {
  return first.dtype === "float32" && rest.every((t) => t.dtype === "float32" && tf.util.arraysEqual(t.shape, first.shape));
}
