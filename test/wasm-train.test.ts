// A small conv net trains on wasm: conv 3x3 stride 2 + batch norm + relu + dense.
import assert from "node:assert/strict";
import { backend, tf } from "tsdl";

/** Deterministic uniform [0, 1) samples (mulberry32). */
function uniform(size: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  return out;
}

const N = 32,
  H = 12,
  C = 3,
  CLASSES = 4,
  FILTERS = 8;

/** Images whose class is which quadrant is brighter: learnable by a conv net, not by chance. */
function dataset(): { x: tf.Tensor4D; y: tf.Tensor2D } {
  const pixels = uniform(N * H * H * C, 7);
  const labels = new Int32Array(N);
  for (let n = 0; n < N; n++) {
    const cls = n % CLASSES;
    labels[n] = cls;
    const [r0, c0] = [cls < 2 ? 0 : H / 2, cls % 2 === 0 ? 0 : H / 2];
    for (let i = r0; i < r0 + H / 2; i++)
      for (let j = c0; j < c0 + H / 2; j++) for (let c = 0; c < C; c++) pixels[((n * H + i) * H + j) * C + c] += 1;
  }
  return { x: tf.tensor4d(pixels, [N, H, H, C]), y: tf.oneHot(tf.tensor1d(labels, "int32"), CLASSES) as tf.Tensor2D };
}

/** Explicit-variable net: conv 3x3/2 (PyTorch padding 1) -> batch norm (batch statistics) -> relu -> dense. */
function functionalNet() {
  const init = (shape: number[], seed: number, scale: number) =>
    tf.variable(
      tf.tensor(
        uniform(
          shape.reduce((a, b) => a * b),
          seed,
        ).map((v) => (v - 0.5) * 2 * scale),
        shape,
      ),
    );
  const w1 = init([3, 3, C, FILTERS], 1, 0.3);
  const gamma = tf.variable(tf.ones([FILTERS]));
  const beta = tf.variable(tf.zeros([FILTERS]));
  const w2 = init([(H / 2) * (H / 2) * FILTERS, CLASSES], 2, 0.05);
  const b2 = tf.variable(tf.zeros([CLASSES]));
  const forward = (x: tf.Tensor4D): tf.Tensor2D => {
    const z = tf.conv2d(x, w1 as tf.Tensor4D, 2, [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ]);
    const { mean, variance } = tf.moments(z, [0, 1, 2]);
    const bn = tf.batchNorm(z, mean, variance, beta, gamma, 1e-5);
    const h = tf.relu(bn).reshape([x.shape[0], -1]) as tf.Tensor2D;
    return tf.add(tf.matMul(h, w2), b2);
  };
  return { forward, variables: [w1, gamma, beta, w2, b2] };
}

/** Train `steps` SGD steps; returns the losses and tf.memory().numTensors after each step. */
function train(steps: number, makeNet: () => { forward: (x: tf.Tensor4D) => tf.Tensor; variables: tf.Variable[] }) {
  const { x, y } = dataset();
  const net = makeNet();
  const opt = tf.train.sgd(0.1);
  const losses: number[] = [];
  const tensors: number[] = [];
  for (let step = 0; step < steps; step++) {
    const loss = opt.minimize(() => tf.losses.softmaxCrossEntropy(y, net.forward(x)) as tf.Scalar, true, net.variables)!;
    losses.push(loss.dataSync()[0]);
    loss.dispose();
    tensors.push(tf.memory().numTensors);
  }
  opt.dispose();
  tf.dispose([x, y, ...net.variables]);
  return { losses, tensors };
}

describe("training a small conv net on wasm", function () {
  this.timeout(60_000);

  it("explicit variables + tf.train.sgd: loss falls, memory flat, losses match the cpu backend", async () => {
    await backend.init("cpu", { verbose: false });
    const cpu = train(20, functionalNet);
    await backend.init("wasm", { verbose: false });
    const wasm = train(20, functionalNet);
    assert.ok(wasm.losses[19] < 0.5 * wasm.losses[0], `loss ${wasm.losses[0]} -> ${wasm.losses[19]}`);
    assert.equal(wasm.tensors[19], wasm.tensors[4], `numTensors after step 5 and 20: ${wasm.tensors}`);
    const worst = Math.max(...wasm.losses.map((l, i) => Math.abs(l - cpu.losses[i]) / Math.abs(cpu.losses[i])));
    assert.ok(worst < 1e-3, `wasm losses ${wasm.losses} vs cpu ${cpu.losses}`);
  });

  it("tf.layers model (conv2d strides 2, batchNormalization, relu, dense): loss falls, memory flat", async () => {
    await backend.init("wasm", { verbose: false });
    const layersNet = () => {
      const model = tf.sequential({
        layers: [
          tf.layers.conv2d({
            inputShape: [H, H, C],
            filters: FILTERS,
            kernelSize: 3,
            strides: 2,
            padding: "same",
            useBias: false,
            kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }),
          }),
          tf.layers.batchNormalization(),
          tf.layers.activation({ activation: "relu" }),
          tf.layers.flatten(),
          tf.layers.dense({ units: CLASSES, kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }),
        ],
      });
      const forward = (x: tf.Tensor4D) => model.apply(x, { training: true }) as tf.Tensor;
      return { forward, variables: model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val) };
    };
    const { losses, tensors } = train(20, layersNet);
    assert.ok(losses[19] < 0.5 * losses[0], `loss ${losses[0]} -> ${losses[19]}`);
    assert.equal(tensors[19], tensors[4], `numTensors after step 5 and 20: ${tensors}`);
  });
});
