// torch.nn.BatchNorm2d as a tfjs layer over NHWC tensors (channels last).
import * as tf from "@tensorflow/tfjs";
import { BATCH_NORM_TRAIN, kernelReady, type BatchNormTrainAttrs } from "../core/kernels";

export interface BatchNorm2dOptions {
  /** C, the channel count; checked against the input's last dimension when the layer is built. */
  numFeatures?: number;
  /** Added to the variance (default 1e-5, PyTorch's). */
  eps?: number;
  /** PyTorch convention: running = (1 - momentum)·running + momentum·batch (default 0.1; tfjs/Keras 0.9 is the same). */
  momentum?: number;
  /** Learnable per-channel scale γ ("weight") and shift β ("bias") (default true). */
  affine?: boolean;
  /**
   * "relu": relu(bn(x)) in the same kernel (forward and backward) where the backend has one: PyTorch's
   * `F.relu(bn(x))`, one layer instead of two and on a GPU fewer dispatches per step. Default "linear" (none).
   */
  activation?: BatchNorm2dActivation;
  name?: string;
  trainable?: boolean;
}

export type BatchNorm2dActivation = "linear" | "relu";
const ACTIVATIONS: readonly BatchNorm2dActivation[] = ["linear", "relu"];

type LayerArgs = ConstructorParameters<typeof tf.layers.Layer>[0];
type Kwargs = { [key: string]: unknown };

/**
 * Batch normalisation with PyTorch's numerics, per channel c over the N·H·W values of a batch:
 *
 *   training:  y = γ·(x - μ_B)/√(σ²_B + eps) + β,  σ²_B the biased batch variance (÷ n)
 *              running_mean ← (1-momentum)·running_mean + momentum·μ_B
 *              running_var  ← (1-momentum)·running_var  + momentum·σ²_B·n/(n-1)   (unbiased, as PyTorch)
 *   eval:      y = γ·(x - running_mean)/√(running_var + eps) + β
 *
 * tfjs's own batchNormalization layer stores the biased variance in its moving average, so a model trained with
 * it evaluates differently from the same model in PyTorch; this layer does not. Weights are named as PyTorch's:
 * weight (γ), bias (β), running_mean, running_var. Training mode is `model.apply(x, { training: true })`.
 */
export class BatchNorm2d extends tf.layers.Layer {
  static className = "TsdlBatchNorm2d";
  readonly numFeatures?: number;
  readonly eps: number;
  readonly momentum: number;
  readonly affine: boolean;
  readonly activation: BatchNorm2dActivation;
  private gamma?: tf.LayerVariable;
  private beta?: tf.LayerVariable;
  private runningMean!: tf.LayerVariable;
  private runningVar!: tf.LayerVariable;

  constructor(opts: BatchNorm2dOptions = {}) {
    super({ name: opts.name, trainable: opts.trainable } as LayerArgs);
    this.numFeatures = opts.numFeatures ?? undefined; // null from a saved config
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum ?? 0.1;
    this.affine = opts.affine ?? true;
    this.activation = opts.activation ?? "linear";
    if (!ACTIVATIONS.includes(this.activation)) {
      throw new Error(
        `BatchNorm2d: activation must be one of ${ACTIVATIONS.map((a) => `"${a}"`).join(", ")}, got ${JSON.stringify(opts.activation)}`,
      );
    }
    if (!(this.eps > 0)) throw new Error(`BatchNorm2d: eps must be > 0, got ${opts.eps}`);
    if (!(this.momentum >= 0 && this.momentum <= 1)) {
      throw new Error(`BatchNorm2d: momentum must be in [0, 1] (PyTorch convention, default 0.1), got ${opts.momentum}`);
    }
    if (this.numFeatures !== undefined && !(Number.isInteger(this.numFeatures) && this.numFeatures > 0)) {
      throw new Error(`BatchNorm2d: numFeatures must be a positive integer, got ${opts.numFeatures}`);
    }
    this.supportsMasking = true;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    if (shape.length !== 4) throw new Error(`BatchNorm2d ${this.name}: expects 4-D NHWC input, got shape [${shape.join(", ")}]`);
    const c = shape[3];
    if (c == null) throw new Error(`BatchNorm2d ${this.name}: the channel dimension must be known`);
    if (this.numFeatures !== undefined && c !== this.numFeatures) {
      throw new Error(`BatchNorm2d ${this.name}: numFeatures is ${this.numFeatures} but the input has ${c} channels (NHWC)`);
    }
    if (this.affine) {
      this.gamma = this.addWeight("weight", [c], "float32", tf.initializers.ones());
      this.beta = this.addWeight("bias", [c], "float32", tf.initializers.zeros());
    }
    this.runningMean = this.addWeight("running_mean", [c], "float32", tf.initializers.zeros(), undefined, false);
    this.runningVar = this.addWeight("running_var", [c], "float32", tf.initializers.ones(), undefined, false);
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const gamma = this.gamma?.read() as tf.Tensor1D | undefined;
      const beta = this.beta?.read() as tf.Tensor1D | undefined;
      const relu = this.activation === "relu";
      if (!kwargs["training"]) {
        const y = tf.batchNorm4d(x, this.runningMean.read() as tf.Tensor1D, this.runningVar.read() as tf.Tensor1D, beta, gamma, this.eps);
        return relu ? tf.relu(y) : y;
      }
      const n = x.shape[0] * x.shape[1] * x.shape[2];
      if (n <= 1) {
        throw new Error(
          `BatchNorm2d ${this.name}: expected more than 1 value per channel when training, got input shape ` +
            `[${x.shape.join(", ")}] (PyTorch raises too; use a batch larger than 1 or eval mode)`,
        );
      }
      // Running statistics are buffers: written here, never part of the loss, so no gradient reaches them.
      const { y, runningMean, runningVar } = batchNormTrain(x, gamma, beta, this.runningMean.read(), this.runningVar.read(), {
        varianceEpsilon: this.eps,
        relu,
        momentum: this.momentum,
        varianceFactor: n / (n - 1), // the unbiased variance, as PyTorch keeps it
      });
      this.runningMean.write(runningMean);
      this.runningVar.write(runningVar);
      return y;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      numFeatures: this.numFeatures ?? null,
      eps: this.eps,
      momentum: this.momentum,
      affine: this.affine,
      activation: this.activation,
    };
  }
}
tf.serialization.registerClass(BatchNorm2d);

/**
 * y = γ·(x - μ_B)/√(σ²_B + eps) + β over the batch statistics of x (NHWC) (relu(y) with attrs.relu), and the running
 * statistics' update (core/kernels.ts BATCH_NORM_TRAIN has the formulas). One kernel where the backend offers it
 * (wasm with the native add-on: two passes forward, two backward; webgpu: two programs each way, three where the
 * device binds few storage buffers; instead of about ten tfjs ops forward and twenty-five backward), else tfjs's
 * moments and batchNorm.
 */
function batchNormTrain(
  x: tf.Tensor4D,
  gamma: tf.Tensor1D | undefined,
  beta: tf.Tensor1D | undefined,
  runningMean: tf.Tensor,
  runningVar: tf.Tensor,
  attrs: Required<BatchNormTrainAttrs>,
): { y: tf.Tensor4D; runningMean: tf.Tensor; runningVar: tf.Tensor } {
  if (x.dtype === "float32" && runningMean.dtype === "float32" && runningVar.dtype === "float32" && kernelReady(BATCH_NORM_TRAIN)) {
    const c = x.shape[3];
    const outputs = tf
      .engine()
      .runKernel(
        BATCH_NORM_TRAIN,
        { x, scale: gamma ?? tf.ones([c]), offset: beta ?? tf.zeros([c]), runningMean, runningVar },
        attrs as unknown as tf.NamedAttrMap,
      ) as tf.Tensor[];
    return { y: outputs[0] as tf.Tensor4D, runningMean: outputs[3], runningVar: outputs[4] };
  }
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  const y = tf.batchNorm4d(x, mean as tf.Tensor1D, variance as tf.Tensor1D, beta, gamma, attrs.varianceEpsilon);
  const { momentum, varianceFactor } = attrs;
  const update = (running: tf.Tensor, batch: tf.Tensor) => tf.add(tf.mul(running, 1 - momentum), tf.mul(batch, momentum));
  return {
    y: attrs.relu ? tf.relu(y) : y,
    runningMean: update(runningMean, mean),
    runningVar: update(runningVar, tf.mul(variance, varianceFactor)),
  };
}

/**
 * `nn.batchNorm2d({ numFeatures, eps, momentum, activation })`: a BatchNorm2d layer (PyTorch defaults eps 1e-5,
 * momentum 0.1; activation "relu" fuses the ReLU that follows it).
 */
export function batchNorm2d(opts: BatchNorm2dOptions = {}): BatchNorm2d {
  return new BatchNorm2d(opts);
}
