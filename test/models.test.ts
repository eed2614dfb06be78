// models.resnet: the course's parameter count, shapes, PyTorch padding/BatchNorm numerics and input checks.
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { backend, models, nn, tf } from "tsdl";
import { pattern } from "./helpers/torchPattern";

const fixture = (name: string) => JSON.parse(fs.readFileSync(path.join(__dirname, "fixtures", name), "utf8"));

/** max|a-b| / max|b| */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / den;
}

function countTrainable(net: tf.LayersModel, prefix = ""): number {
  return net.trainableWeights
    .filter((w) => w.originalName.startsWith(prefix))
    .reduce((n, w) => n + w.shape.reduce((p: number, d) => p * (d as number), 1), 0);
}

describe("models.resnet (the course's network)", function () {
  this.timeout(60_000);
  let net: tf.LayersModel;
  before(async () => {
    await backend.init("wasm", { verbose: false });
    net = models.resnet(3, 10, { seed: 0 });
  });
  after(() => net.dispose());

  it("has 11,180,682 trainable parameters in 58 tensors, split per block as the course", () => {
    assert.equal(countTrainable(net), 11_180_682);
    assert.equal(net.trainableWeights.length, 58);
    // tutorial.md (b): block1 9,472; block2 147,968; block3 525,440; block4 2,099,456; block5 8,393,216; fc 5,130
    assert.equal(countTrainable(net, "block1/"), 9_472);
    assert.equal(countTrainable(net, "block2."), 147_968);
    assert.equal(countTrainable(net, "block3."), 525_440);
    assert.equal(countTrainable(net, "block4."), 2_099_456);
    assert.equal(countTrainable(net, "block5."), 8_393_216);
    assert.equal(countTrainable(net, "classifier/"), 5_130);
    // BatchNorm buffers: running_mean + running_var = 7,680 values, not trainable
    const buffers = net.nonTrainableWeights.reduce((n, w) => n + (w.shape[0] as number), 0);
    assert.equal(buffers, 7_680);
    // 21 conv/linear weights (ndim > 1) with 11,172,032 values, 37 other tensors with 8,650
    const big = net.trainableWeights.filter((w) => w.shape.length > 1);
    assert.equal(big.length, 21);
    assert.equal(
      big.reduce((n, w) => n + w.shape.reduce((p: number, d) => p * (d as number), 1), 0),
      11_172_032,
    );
  });

  it("prints each block's output shape when verbose, as the course (NHWC of 1×64×45×45 … 1×512×1×1)", () => {
    const verbose = models.resnet(3, 10, { verbose: true, seed: 0 });
    const lines: string[] = [];
    const log = console.log;
    console.log = (...a: unknown[]) => void lines.push(a.join(" "));
    try {
      tf.tidy(() => verbose.predict(tf.zeros([1, 96, 96, 3])));
    } finally {
      console.log = log;
      verbose.dispose();
    }
    assert.deepEqual(lines, [
      "block 1 output: [1, 45, 45, 64]",
      "block 2 output: [1, 22, 22, 64]",
      "block 3 output: [1, 11, 11, 128]",
      "block 4 output: [1, 6, 6, 256]",
      "block 5 output: [1, 1, 1, 512]",
    ]);
  });

  it("uses PyTorch padding: stride-2 3×3 convs pad 1 on every side (explicit), never tfjs 'same' at stride 2", () => {
    const convs = net.layers.filter((l) => l.getClassName() === "Conv2D");
    assert.equal(convs.length, 1 + 16 + 3);
    for (const l of convs) {
      const c = l.getConfig() as { kernelSize: number[]; strides: number[]; padding: string; useBias: boolean };
      if (c.strides[0] === 2) assert.equal(c.padding, "valid", l.name);
      const isShortcut = l.name.endsWith(".conv3");
      assert.equal(c.useBias, l.name === "block1" || isShortcut, `bias of ${l.name}`);
    }
    const pads = net.layers.filter((l) => l.getClassName() === "ZeroPadding2D");
    assert.deepEqual(
      pads.map((l) => l.name),
      ["block3.0.conv1.pad", "block4.0.conv1.pad", "block5.0.conv1.pad"],
    );
    for (const p of pads)
      assert.deepEqual((p.getConfig() as { padding: number[][] }).padding, [
        [1, 1],
        [1, 1],
      ]);
    const bns = net.layers.filter((l) => l instanceof nn.BatchNorm2d) as nn.BatchNorm2d[];
    assert.equal(bns.length, 16);
    for (const b of bns) {
      assert.equal(b.eps, 1e-5);
      assert.equal(b.momentum, 0.1);
    }
  });

  it("accepts 75–170 px per side and explains anything else", () => {
    assert.deepEqual(models.RESNET_INPUT_RANGE, { min: 75, max: 170 });
    assert.deepEqual(models.resnetFeatureSizes(96), [96, 45, 22, 11, 6, 3]);
    assert.equal(models.resnetFeatureSizes(75)[5], 3);
    assert.equal(models.resnetFeatureSizes(170)[5], 5);
    assert.throws(() => net.predict(tf.zeros([1, 74, 74, 3])), /input height 74 px is outside 75–170 px.*3×3 average pool needs 3 to 5 px/);
    assert.throws(() => net.predict(tf.zeros([1, 96, 171, 3])), /input width 171 px is outside 75–170 px.*512 features/);
    assert.throws(() => net.predict(tf.zeros([1, 32, 32, 3])), /Resize the images \(the course uses 96×96/);
    assert.throws(() => net.apply(tf.zeros([1, 96, 96, 1])), /input has 1 channels but the network was built for 3/);
    assert.throws(() => models.resnet(3, 10, { inputSize: 32 }), /input height 32 px is outside 75–170 px/);
    assert.throws(() => models.resnet(0, 10), /inChannels must be a positive integer, got 0/);
    const before = tf.memory().numTensors;
    const y = net.predict(tf.zeros([2, 170, 75, 3])) as tf.Tensor;
    assert.deepEqual(y.shape, [2, 10]);
    y.dispose();
    assert.ok(tf.memory().numTensors <= before + 1); // the zeros input above is the only leftover
  });

  it("matches PyTorch's course_resnet forward in train and eval mode (same weights, 2×3×75×90 input)", () => {
    const g = fixture("train_resnet.json");
    const sd: models.TorchStateDict = {};
    for (const e of g.entries) sd[e.name] = { shape: e.shape, data: pattern(e.name, e.shape, e.kind, e.fanIn) };
    const twin = models.resnet(3, 10);
    models.loadTorchStateDict(twin, sd);
    const [n, c, h, w] = g.inputShape;
    const x = tf.tidy(() =>
      tf.transpose(
        tf.tensor4d(
          pattern("input", g.inputShape, "bias", 0).map((v) => v * 10),
          [n, c, h, w],
        ),
        [0, 2, 3, 1],
      ),
    );
    const before = tf.memory().numTensors;
    const train = twin.apply(x, { training: true }) as tf.Tensor;
    assert.ok(
      relErr(train.dataSync(), g.trainOutput.flat()) < 1e-4,
      `train-mode logits rel err ${relErr(train.dataSync(), g.trainOutput.flat())}`,
    );
    // running stats after one training forward: PyTorch's update with the unbiased batch variance
    const bn = twin.getLayer(g.runningAfterTrainForward.name);
    const [rm, rv] = bn.getWeights().slice(2);
    assert.ok(relErr(rm.dataSync(), g.runningAfterTrainForward.running_mean) < 1e-4);
    assert.ok(relErr(rv.dataSync(), g.runningAfterTrainForward.running_var) < 1e-4);
    const evalOut = twin.predict(x) as tf.Tensor;
    assert.ok(
      relErr(evalOut.dataSync(), g.evalOutput.flat()) < 1e-4,
      `eval logits rel err ${relErr(evalOut.dataSync(), g.evalOutput.flat())}`,
    );
    tf.dispose([train, evalOut, x]);
    assert.equal(tf.memory().numTensors, before - 1); // only x was disposed: the forward passes leaked nothing
    twin.dispose();
  });

  it("saves and loads with tf.io (its custom layers are registered), input check included", async () => {
    let saved: tf.io.ModelArtifacts | undefined;
    await net.save(
      tf.io.withSaveHandler(async (a) => {
        saved = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
      }),
    );
    const back = await tf.loadLayersModel(tf.io.fromMemory(saved!));
    // The weights and the outputs come back bit for bit (the conv path for a shape is the same for both models).
    assert.deepEqual(
      back.getWeights().map((w) => Array.from(w.dataSync())),
      net.getWeights().map((w) => Array.from(w.dataSync())),
    );
    const x = tf.randomNormal([1, 80, 96, 3]);
    const [a, b] = [net.predict(x) as tf.Tensor, back.predict(x) as tf.Tensor];
    const [av, bv] = [a.dataSync(), b.dataSync()];
    assert.equal(bv.length, 10);
    assert.deepEqual(Array.from(bv), Array.from(av));
    assert.throws(() => back.predict(tf.zeros([1, 60, 60, 3])), /input height 60 px is outside 75–170 px/);
    tf.dispose([x, a, b]);
    back.dispose();
  });

  it("a training step computes no gradient for the input images, and the same gradients as a plain Conv2D stem", async function () {
    this.timeout(180_000); // tiny convs: slow when the machine is loaded (threads wait for each other)
    // A saved and reloaded copy has tfjs's plain (fused conv + bias) stem: the reference.
    let saved: tf.io.ModelArtifacts | undefined;
    await net.save(
      tf.io.withSaveHandler(async (a) => ((saved = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } })),
    );
    const plain = await tf.loadLayersModel(tf.io.fromMemory(saved!));
    const x = tf.randomNormal([2, 75, 75, 3], 0, 1, "float32", 7);
    const y = tf.oneHot(tf.tensor1d([3, 8], "int32"), 10);
    const dxShapes: string[] = [];
    const config = tf.getKernel(tf.Conv2DBackpropInput, "wasm") as { kernelFunc: tf.KernelFunc };
    const inner = config.kernelFunc;
    config.kernelFunc = (args) => (dxShapes.push(String((args.attrs as { inputShape: number[] }).inputShape)), inner(args));
    const gradsOf = (m: tf.LayersModel) =>
      tf.tidy(() => {
        const vars = m.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
        const { grads } = tf.variableGrads(
          () => tf.losses.softmaxCrossEntropy(y, m.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
          vars,
        );
        return vars.map((v) => grads[v.name].dataSync() as Float32Array);
      });
    let ours: Float32Array[];
    try {
      dxShapes.length = 0;
      ours = gradsOf(net);
      assert.ok(!dxShapes.includes("2,75,75,3"), `no dx for the images (dx shapes: ${dxShapes.join(" ")})`);
      assert.equal(dxShapes.length, 19, "the other 19 convs' dx");
    } finally {
      config.kernelFunc = inner;
    }
    const theirs = gradsOf(plain);
    ours.forEach((g, i) => {
      const scale = theirs[i].reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const err = g.reduce((m, v, j) => Math.max(m, Math.abs(v - theirs[i][j])), 0);
      assert.ok(err <= 1e-4 * scale, `${net.trainableWeights[i].name}: ${err} vs ${scale}`);
    });
    tf.dispose([x, y]);
    plain.dispose();
  });

  it("seeds make the initialisation reproducible and follow PyTorch's default bounds", () => {
    const a = models.resnet(3, 10, { seed: 5, inputSize: 96 });
    const w1 = a.getLayer("block1").getWeights()[0].dataSync();
    const w2 = net.getLayer("block1").getWeights()[0].dataSync();
    const again = models.resnet(3, 10, { seed: 5 });
    assert.deepEqual(Array.from(again.getLayer("block1").getWeights()[0].dataSync()), Array.from(w1));
    assert.notDeepEqual(Array.from(w2.slice(0, 10)), Array.from(w1.slice(0, 10)));
    const bound = 1 / Math.sqrt(3 * 7 * 7);
    const max = Math.max(...Array.from(w1).map(Math.abs));
    assert.ok(max <= bound && max > 0.95 * bound, `|w| max ${max} vs bound ${bound}`);
    const bias = a.getLayer("classifier").getWeights()[1].dataSync();
    assert.ok(Array.from(bias).every((b) => Math.abs(b) <= 1 / Math.sqrt(512)) && bias.some((b) => b !== 0));
    a.dispose();
    again.dispose();
  });
});

describe("models.loadTorchStateDict", () => {
  before(async () => {
    await backend.init("wasm", { verbose: false });
  });

  function tiny(): tf.LayersModel {
    const input = tf.input({ shape: [4, 4, 2] });
    let x = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: "same", name: "conv" }).apply(input) as tf.SymbolicTensor;
    x = tf.layers.flatten({ name: "flatten" }).apply(x) as tf.SymbolicTensor;
    return tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2, name: "fc" }).apply(x) as tf.SymbolicTensor });
  }

  it("rejects unknown keys, missing weights and wrong shapes, leaving the model unchanged and leaking no tensor", () => {
    const m = tiny();
    const before = m.getWeights().map((w) => Array.from(w.dataSync()));
    const tensors = tf.memory().numTensors;
    const good = {
      "conv.weight": { shape: [3, 2, 3, 3], data: new Array(54).fill(1) },
      "conv.bias": { shape: [3], data: [1, 2, 3] },
      "fc.weight": { shape: [2, 48], data: new Array(96).fill(1) },
      "fc.bias": { shape: [2], data: [0, 0] },
    };
    assert.throws(() => models.loadTorchStateDict(m, { ...good, "fc.extra": { shape: [1], data: [1] } }), /unexpected keys.*fc\.extra/);
    const { ["fc.bias"]: _drop, ...missing } = good;
    assert.throws(() => models.loadTorchStateDict(m, missing), /model weights not in the state_dict: fc\/bias/);
    assert.throws(
      () => models.loadTorchStateDict(m, { ...good, "conv.bias": { shape: [4], data: [1, 2, 3, 4] } }),
      /conv\.bias has PyTorch shape \[4\].*has shape \[3\]/,
    );
    assert.throws(
      () => models.loadTorchStateDict(m, { ...good, "conv.weight": { shape: [3, 18], data: new Array(54).fill(1) } }),
      /conv\.weight should be a 4-D conv weight/,
    );
    assert.deepEqual(
      m.getWeights().map((w) => Array.from(w.dataSync())),
      before,
    );
    assert.equal(tf.memory().numTensors, tensors, "failed loads leave no tensor behind");
    models.loadTorchStateDict(m, good);
    assert.equal(tf.memory().numTensors, tensors, "a load replaces the weights' values without leaving the converted copies");
    assert.deepEqual(Array.from(m.getLayer("conv").getWeights()[1].dataSync()), [1, 2, 3]);
    m.dispose();
  });

  it("permutes a Linear after Flatten from PyTorch's C·H·W order to NHWC", () => {
    // fc output = the input's value at PyTorch flat index c·16 + h·4 + w, for (c, h, w) = (1, 2, 3)
    const input = tf.input({ shape: [4, 4, 3] });
    const flat = tf.layers.flatten({ name: "flatten" }).apply(input) as tf.SymbolicTensor;
    const m = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 1, name: "fc" }).apply(flat) as tf.SymbolicTensor });
    const w = new Array(48).fill(0);
    w[1 * 16 + 2 * 4 + 3] = 1;
    models.loadTorchStateDict(m, { "fc.weight": { shape: [1, 48], data: w }, "fc.bias": { shape: [1], data: [0] } });
    const x = tf.buffer([1, 4, 4, 3]);
    x.set(7, 0, 2, 3, 1);
    const y = m.predict(x.toTensor()) as tf.Tensor;
    assert.equal(y.dataSync()[0], 7);
    m.dispose();
  });
});

describe("nn.BatchNorm2d (PyTorch numerics)", () => {
  before(async () => {
    await backend.init("cpu", { verbose: false });
  });

  it("normalises with the biased batch variance and keeps the unbiased one in running_var", () => {
    const bn = nn.batchNorm2d({ numFeatures: 1, momentum: 0.5 });
    const x = tf.tensor4d([1, 2, 3, 6], [4, 1, 1, 1]); // mean 3, biased var 3.5, unbiased 14/3
    const y = bn.apply(x, { training: true }) as tf.Tensor;
    const expect = [1, 2, 3, 6].map((v) => (v - 3) / Math.sqrt(3.5 + 1e-5));
    Array.from(y.dataSync()).forEach((v, i) => assert.ok(Math.abs(v - expect[i]) < 1e-6));
    const [, , rm, rv] = bn.getWeights();
    assert.ok(Math.abs(rm.dataSync()[0] - 1.5) < 1e-6); // 0.5·0 + 0.5·3
    assert.ok(Math.abs(rv.dataSync()[0] - (0.5 + 0.5 * (14 / 3))) < 1e-6);
    const e = bn.apply(x) as tf.Tensor; // eval mode: running statistics
    assert.ok(Math.abs(e.dataSync()[0] - (1 - 1.5) / Math.sqrt(0.5 + 7 / 3 + 1e-5)) < 1e-6);
  });

  it("refuses one value per channel in training, and bad options", () => {
    const bn = nn.batchNorm2d();
    assert.throws(() => bn.apply(tf.ones([1, 1, 1, 2]), { training: true }), /expected more than 1 value per channel/);
    assert.throws(() => nn.batchNorm2d({ momentum: 1.5 }), /momentum must be in \[0, 1\].*got 1.5/);
    assert.throws(() => nn.batchNorm2d({ numFeatures: 3 }).apply(tf.ones([2, 2, 2, 4])), /numFeatures is 3 but the input has 4 channels/);
    assert.throws(
      () => nn.batchNorm2d({ activation: "gelu" as nn.BatchNorm2dActivation }),
      /activation must be one of "linear", "relu", got "gelu"/,
    );
  });

  for (const name of ["cpu", "wasm"] as const) {
    it(`activation "relu" is a BatchNorm2d followed by a ReLU: outputs, gradients and running statistics (${name}${name === "wasm" ? ", the fused native kernel" : ""})`, async () => {
      await backend.init(name, { verbose: false });
      try {
        const shape = [2, 5, 3, 6];
        const x = tf.tensor4d(
          pattern("bnrelu.x", shape, "input", 0).map((v) => 20 * v - 0.3),
          shape as [number, number, number, number],
        );
        const w = tf.tensor4d(pattern("bnrelu.w", shape, "input", 0), shape as [number, number, number, number]);
        const run = (layer: tf.layers.Layer, after?: tf.layers.Layer) => {
          const f = (t: tf.Tensor, training: boolean) => {
            const y = layer.apply(t, { training }) as tf.Tensor;
            return after ? (after.apply(y) as tf.Tensor) : y;
          };
          const loss = (t: tf.Tensor) => tf.sum(tf.mul(f(t, true), w)) as tf.Scalar;
          layer.build(x.shape);
          const vars = layer.trainableWeights.map((v) => (v as unknown as { val: tf.Variable }).val);
          const { grads } = tf.variableGrads(() => loss(x), vars);
          const dx = tf.grad(loss)(x);
          const train = f(x, true);
          const evalY = f(x, false);
          const out = [train, evalY, dx, ...vars.map((v) => grads[v.name]), ...layer.getWeights().slice(2)].map((t) =>
            Array.from(t.dataSync()),
          );
          tf.dispose([train, evalY, dx, ...Object.values(grads)]);
          return out;
        };
        const fused = nn.batchNorm2d({ activation: "relu", momentum: 0.3 });
        const ours = run(fused);
        assert.ok(ours[0].some((v) => v === 0) && ours[0].some((v) => v > 0), "the check needs outputs on both sides of 0");
        const plain = run(nn.batchNorm2d({ momentum: 0.3 }), tf.layers.reLU());
        const names = ["y (training)", "y (eval)", "dx", "dγ", "dβ", "running_mean", "running_var"];
        assert.equal(ours.length, names.length);
        ours.forEach((a, i) => assert.ok(relErr(a, plain[i]) <= 1e-6, `${names[i]}: ${relErr(a, plain[i])}`));
        assert.equal(fused.getConfig().activation, "relu");
        tf.dispose([x, w]);
      } finally {
        await backend.init("cpu", { verbose: false });
      }
    });
  }
});
