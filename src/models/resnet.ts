// The course's ResNet (chapter4_CNN/utils.py `resnet`), built with tfjs layers over NHWC images.
import * as tf from "@tensorflow/tfjs";
import { BatchNorm2d } from "../nn/batchnorm";
import { AddReLU, PassThrough, PrintShape, SeedSequence, torchDefaultInit } from "./layers";

export interface ResNetOptions {
  /** Print `block N output: [N, H, W, C]` on every forward pass, as the course's `resnet(3, 10, True)`. */
  verbose?: boolean;
  /**
   * Fix the input size (pixels per side, or [height, width]); checked at once. Default: any size from 75 to 170 px
   * per side, checked on each forward pass, as in PyTorch.
   */
  inputSize?: number | [number, number];
  /** Seed for the weight initialisation (default: random, as PyTorch without manual_seed). */
  seed?: number;
  /** Model name (default "resnet"). */
  name?: string;
}

export interface ResidualBlockOptions {
  /** false: the first conv has stride 2 and a 1×1 stride-2 conv (with bias, no BN) projects the shortcut. */
  sameShape?: boolean;
  /** Prefix of the block's layer names, e.g. "block3.0" gives "block3.0.conv1", "block3.0.bn1", … */
  name: string;
  seed?: number;
}

/** floor((s + 2·pad - k)/stride) + 1, PyTorch's output size of a conv or pool. */
function outSize(s: number, k: number, stride: number, pad = 0): number {
  return Math.floor((s + 2 * pad - k) / stride) + 1;
}

/**
 * The side lengths after each stage for an input side s: [input, block1, block2, block3, block4, block5 before
 * the average pool]. 96 gives [96, 45, 22, 11, 6, 3].
 */
export function resnetFeatureSizes(s: number): number[] {
  const sizes = [s, outSize(s, 7, 2)];
  sizes.push(outSize(sizes[1], 3, 2));
  for (let i = 0; i < 3; i++) sizes.push(outSize(sizes[sizes.length - 1], 3, 2, 1));
  return sizes;
}

/** Input sides the course ResNet accepts: the 3×3 average pool must see a 3–5 px map (75–170 px). */
export const RESNET_INPUT_RANGE = (() => {
  let min = Infinity;
  let max = 0;
  for (let s = 1; s <= 1024; s++) {
    const f = resnetFeatureSizes(s)[5];
    if (f >= 3 && f <= 5) {
      min = Math.min(min, s);
      max = Math.max(max, s);
    }
  }
  return { min, max };
})();

/** Why an input of h×w×c px cannot go through resnet(inChannels, …), or undefined when it can. */
export function resnetInputProblem(h: number, w: number, c: number, inChannels: number): string | undefined {
  if (c !== inChannels) {
    return `resnet: the input has ${c} channels but the network was built for ${inChannels} (NHWC: [N, H, W, ${inChannels}])`;
  }
  const { min, max } = RESNET_INPUT_RANGE;
  for (const [side, s] of [
    ["height", h],
    ["width", w],
  ] as const) {
    if (!(s >= min && s <= max)) {
      const chain = s >= 7 ? resnetFeatureSizes(s).join(" → ") : `${s}`;
      const f = s >= 7 ? resnetFeatureSizes(s)[5] : 0;
      const why =
        f < 3
          ? `leaves a ${Math.max(f, 0)} px map (${chain}) and the final 3×3 average pool needs 3 to 5 px`
          : `leaves a ${f} px map (${chain}): the 3×3 average pool would give ${Math.floor(f / 3)}×${Math.floor(f / 3)} ` +
            `and the classifier expects exactly 512 features (a 1×1 map)`;
      return (
        `resnet: input ${side} ${s} px is outside ${min}–${max} px: it ${why}. ` +
        `Resize the images (the course uses 96×96: transforms Resize(96))`
      );
    }
  }
  return undefined;
}

/** Identity layer checking the input size at call time with resnetInputProblem. */
class ResNetInputCheck extends PassThrough {
  static className = "TsdlResNetInputCheck";
  readonly inChannels: number;
  constructor(args: { inChannels: number; name?: string }) {
    super(args.name);
    this.inChannels = args.inChannels;
  }
  protected inspect(x: tf.Tensor): void {
    if (x.rank !== 4) throw new Error(`resnet: expects a 4-D NHWC batch [N, H, W, ${this.inChannels}], got shape [${x.shape.join(", ")}]`);
    const [, h, w, c] = x.shape as [number, number, number, number];
    const problem = resnetInputProblem(h, w, c, this.inChannels);
    if (problem) throw new Error(problem);
  }
  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), inChannels: this.inChannels };
  }
}
tf.serialization.registerClass(ResNetInputCheck);

function apply(layer: tf.layers.Layer, x: tf.SymbolicTensor): tf.SymbolicTensor {
  return layer.apply(x) as tf.SymbolicTensor;
}

/**
 * PyTorch's Conv2d(cin, cout, k, stride, padding=pad, bias): 'same' equals pad (k-1)/2 only at stride 1;
 * otherwise explicit zero padding on every side then 'valid' (tfjs 'same' at stride 2 pads 0 before, 1 after).
 */
function conv(
  x: tf.SymbolicTensor,
  o: {
    cin: number;
    cout: number;
    k: number;
    stride: number;
    pad: number;
    bias: boolean;
    name: string;
    seeds: SeedSequence;
    input?: boolean;
  },
): tf.SymbolicTensor {
  const init = torchDefaultInit(o.cin * o.k * o.k, o.seeds);
  let padding: "same" | "valid" = "valid";
  if (o.pad > 0 && o.stride === 1 && o.pad * 2 === o.k - 1) padding = "same";
  else if (o.pad > 0)
    x = apply(
      tf.layers.zeroPadding2d({
        padding: [
          [o.pad, o.pad],
          [o.pad, o.pad],
        ],
        name: `${o.name}.pad`,
      }),
      x,
    );
  const layer = tf.layers.conv2d({
    filters: o.cout,
    kernelSize: o.k,
    strides: o.stride,
    padding,
    useBias: o.bias,
    kernelInitializer: init.kernel,
    biasInitializer: o.bias ? init.bias : undefined,
    name: o.name,
  });
  return apply(o.input ? noInputGradient(layer) : layer, x);
}

/**
 * For the conv that reads the images, whose gradient nobody needs: tfjs runs a conv with bias as one fused op whose
 * gradient computes dx along with dW and db, so every training step paid a full backward conv (the 7×7 stem's, ~4 %
 * of a step) for nothing. In training mode this layer runs the conv and the bias add as two ops; tfjs then computes
 * only the gradients asked for. Inference keeps the fused op. (Patched on the instance: a saved model loads as a
 * plain Conv2D, with the same results.)
 */
function noInputGradient(layer: tf.layers.Layer): tf.layers.Layer {
  const c = layer as unknown as {
    kernel: tf.LayerVariable;
    bias: tf.LayerVariable | null;
    strides: [number, number];
    padding: "same" | "valid";
    call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[];
  };
  const fused = c.call.bind(layer);
  c.call = (inputs, kwargs) => {
    if (!kwargs["training"]) return fused(inputs, kwargs);
    return tf.tidy(() => {
      const y = tf.conv2d(
        (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D,
        c.kernel.read() as tf.Tensor4D,
        c.strides,
        c.padding,
      );
      return c.bias ? tf.add(y, c.bias.read()) : y;
    });
  };
  return layer;
}

/**
 * The course's residual_block(inChannels, outChannels, sameShape) applied to `x` (NHWC):
 *
 *   out = relu(bn1(conv3x3(x, stride)))      stride = sameShape ? 1 : 2, pad 1, no bias
 *   out = relu(bn2(conv3x3(out)))            ReLU before the addition, as the course (not He et al.)
 *   y   = relu((sameShape ? x : conv1x1(x, stride 2, with bias)) + out)
 */
export function residualBlock(
  x: tf.SymbolicTensor,
  inChannels: number,
  outChannels: number,
  opts: ResidualBlockOptions,
  seeds: SeedSequence = new SeedSequence(opts.seed),
): tf.SymbolicTensor {
  const sameShape = opts.sameShape ?? true;
  const n = opts.name;
  if (sameShape && inChannels !== outChannels) {
    throw new Error(`residualBlock ${n}: sameShape needs inChannels == outChannels, got ${inChannels} and ${outChannels}`);
  }
  const stride = sameShape ? 1 : 2;
  let out = conv(x, { cin: inChannels, cout: outChannels, k: 3, stride, pad: 1, bias: false, name: `${n}.conv1`, seeds });
  // relu(bn(·)) as one layer (BatchNorm2d's activation): one kernel each way where the backend has it.
  out = apply(new BatchNorm2d({ numFeatures: outChannels, activation: "relu", name: `${n}.bn1` }), out);
  out = conv(out, { cin: outChannels, cout: outChannels, k: 3, stride: 1, pad: 1, bias: false, name: `${n}.conv2`, seeds });
  out = apply(new BatchNorm2d({ numFeatures: outChannels, activation: "relu", name: `${n}.bn2` }), out);
  const shortcut = sameShape
    ? x
    : conv(x, { cin: inChannels, cout: outChannels, k: 1, stride, pad: 0, bias: true, name: `${n}.conv3`, seeds });
  return new AddReLU({ name: `${n}.relu` }).apply([shortcut, out]) as tf.SymbolicTensor; // relu(shortcut + out)
}

/**
 * `resnet(inChannels, numClasses)`: the course's ResNet-18-like network, NHWC in, logits out.
 *
 *   block1: Conv2d(inChannels, 64, 7, stride 2), no padding, with bias, no BN/ReLU      96 → 45
 *   block2: MaxPool2d(3, 2), residual(64, 64) × 2                                        45 → 22
 *   block3: residual(64, 128, sameShape=false), residual(128, 128)                       22 → 11
 *   block4: residual(128, 256, false), residual(256, 256)                                11 → 6
 *   block5: residual(256, 512, false), residual(512, 512), AvgPool2d(3)                   6 → 3 → 1
 *   classifier: Linear(512, numClasses)
 *
 * 11,180,682 trainable parameters for (3, 10). BatchNorm eps 1e-5, momentum 0.1 (PyTorch), PyTorch's default
 * init. Layer names follow the PyTorch module names (block2.1.conv1, block3.0.conv3, classifier, …).
 */
export function resnet(inChannels: number, numClasses: number, opts: ResNetOptions = {}): tf.LayersModel {
  if (!(Number.isInteger(inChannels) && inChannels > 0))
    throw new Error(`resnet: inChannels must be a positive integer, got ${inChannels}`);
  if (!(Number.isInteger(numClasses) && numClasses > 0))
    throw new Error(`resnet: numClasses must be a positive integer, got ${numClasses}`);
  let h: number | null = null;
  let w: number | null = null;
  if (opts.inputSize !== undefined) {
    [h, w] = typeof opts.inputSize === "number" ? [opts.inputSize, opts.inputSize] : opts.inputSize;
    const problem = resnetInputProblem(h, w, inChannels, inChannels);
    if (problem) throw new Error(problem);
  }
  const seeds = new SeedSequence(opts.seed);
  const verbose = opts.verbose ?? false;
  const show = (x: tf.SymbolicTensor, i: number): tf.SymbolicTensor =>
    verbose ? apply(new PrintShape({ label: `block ${i}`, name: `block${i}.print` }), x) : x;

  const input = tf.input({ shape: [h, w, inChannels], name: "input" });
  let x = apply(new ResNetInputCheck({ inChannels, name: "input_check" }), input);
  x = show(conv(x, { cin: inChannels, cout: 64, k: 7, stride: 2, pad: 0, bias: true, name: "block1", seeds, input: true }), 1);

  x = apply(tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: "valid", name: "block2.0" }), x);
  x = residualBlock(x, 64, 64, { name: "block2.1" }, seeds);
  x = show(residualBlock(x, 64, 64, { name: "block2.2" }, seeds), 2);

  x = residualBlock(x, 64, 128, { sameShape: false, name: "block3.0" }, seeds);
  x = show(residualBlock(x, 128, 128, { name: "block3.1" }, seeds), 3);

  x = residualBlock(x, 128, 256, { sameShape: false, name: "block4.0" }, seeds);
  x = show(residualBlock(x, 256, 256, { name: "block4.1" }, seeds), 4);

  x = residualBlock(x, 256, 512, { sameShape: false, name: "block5.0" }, seeds);
  x = residualBlock(x, 512, 512, { name: "block5.1" }, seeds);
  x = show(apply(tf.layers.averagePooling2d({ poolSize: 3, strides: 3, padding: "valid", name: "block5.2" }), x), 5);

  // The input check guarantees a 1×1 map here, so this is PyTorch's x.view(N, -1) whatever the input size.
  x = apply(tf.layers.reshape({ targetShape: [512], name: "flatten" }), x);
  const fc = torchDefaultInit(512, seeds);
  const logits = apply(
    tf.layers.dense({ units: numClasses, kernelInitializer: fc.kernel, biasInitializer: fc.bias, name: "classifier" }),
    x,
  );
  return tf.model({ inputs: input, outputs: logits, name: opts.name ?? "resnet" });
}
