// Small layers the course models need: PyTorch's default initialisation, a shape printer, an input check and a
// residual block's tail.
import * as tf from "@tensorflow/tfjs";
import { ADD_RELU, kernelReady } from "../core/kernels";

/** What tf.initializers.* return. */
export type Initializer = ReturnType<typeof tf.initializers.zeros>;

type LayerArgs = ConstructorParameters<typeof tf.layers.Layer>[0];

/** Seeds for initialisers: undefined (random) or seed, seed+1, … so every layer gets its own stream. */
export class SeedSequence {
  private n = 0;
  constructor(private readonly seed?: number) {}
  next(): number | undefined {
    return this.seed === undefined ? undefined : this.seed + this.n++;
  }
}

/**
 * PyTorch's default init for Conv2d and Linear: weight ~ U(-1/√fanIn, 1/√fanIn) (kaiming_uniform with a=√5),
 * bias ~ U(-1/√fanIn, 1/√fanIn), fanIn = inChannels·kh·kw (or inFeatures).
 */
export function torchDefaultInit(fanIn: number, seeds: SeedSequence): { kernel: Initializer; bias: Initializer } {
  const bound = 1 / Math.sqrt(fanIn);
  return {
    // varianceScaling uniform: limit = √(3·scale/fanIn) = 1/√fanIn for scale 1/3.
    kernel: tf.initializers.varianceScaling({ scale: 1 / 3, mode: "fanIn", distribution: "uniform", seed: seeds.next() }),
    bias: tf.initializers.randomUniform({ minval: -bound, maxval: bound, seed: seeds.next() }),
  };
}

/**
 * An identity layer that looks at its input on every forward pass (to print or check it) and passes it on
 * unchanged; `inspect` may throw to reject the input.
 */
export abstract class PassThrough extends tf.layers.Layer {
  constructor(name?: string) {
    super({ name } as LayerArgs);
  }
  protected abstract inspect(x: tf.Tensor): void;
  override computeOutputShape(s: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return s;
  }
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    this.inspect(x);
    return tf.clone(x); // a layer must return a new tensor: the caller's tidy may dispose its input
  }
}

/** Identity that prints `<label> output: [N, H, W, C]` on every forward pass, as the course's verbose resnet does. */
export class PrintShape extends PassThrough {
  static className = "TsdlPrintShape";
  readonly label: string;
  constructor(args: { label: string; name?: string }) {
    super(args.name);
    this.label = args.label;
  }
  protected inspect(x: tf.Tensor): void {
    console.log(`${this.label} output: [${x.shape.join(", ")}]`);
  }
  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), label: this.label };
  }
}
tf.serialization.registerClass(PrintShape);

/**
 * relu(a + b), a residual block's tail (PyTorch's `F.relu(x + out)`): one kernel each way where the backend has
 * ADD_RELU (webgpu), tf.add and tf.relu elsewhere.
 */
export class AddReLU extends tf.layers.Layer {
  static className = "TsdlAddReLU";
  constructor(args: { name?: string } = {}) {
    super({ name: args.name } as LayerArgs);
  }
  override computeOutputShape(s: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    const shapes = s as tf.Shape[];
    if (
      shapes.length !== 2 ||
      shapes[0].length !== shapes[1].length ||
      shapes[0].some((d, i) => d !== null && shapes[1][i] !== null && d !== shapes[1][i])
    ) {
      throw new Error(`AddReLU ${this.name}: expects two inputs of one shape, got ${JSON.stringify(s)}`);
    }
    return shapes[0];
  }
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const [a, b] = inputs as tf.Tensor[];
    if (a.dtype === "float32" && b.dtype === "float32" && tf.util.arraysEqual(a.shape, b.shape) && kernelReady(ADD_RELU)) {
      return tf.engine().runKernel(ADD_RELU, { a, b }) as tf.Tensor;
    }
    return tf.tidy(() => tf.relu(tf.add(a, b)));
  }
}
tf.serialization.registerClass(AddReLU);
