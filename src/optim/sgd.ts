import * as tf from "@tensorflow/tfjs";
import { kernelReady, SGD_STEP, type SgdStepAttrs } from "../core/kernels";
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
    if (h.momentum === 0 && p.dtype === "float32" && tf.util.arraysEqual(p.shape, grad.shape) && kernelReady(SGD_STEP)) {
      // one pass instead of three or four full-size ops, same bits (core/kernels.ts)
      const attrs: SgdStepAttrs = { lr: h.lr, weightDecay: h.weightDecay, maximize: h.maximize };
      return tf.engine().runKernel(SGD_STEP, { p, grad }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
    }
    let g = l2Grad(p, grad, h.maximize, h.weightDecay, (x) => this.scalar(x));
    if (h.momentum !== 0) {
      const old = buffers.momentumBuffer;
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
