// Checkpoints (resume gives the same losses as an uninterrupted run) and the lr finder (restores everything).
import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { backend, data, loadCheckpoint, lrFinder, lrScheduler, nn, optim, readCheckpoint, saveCheckpoint, tf, train, valleyIndex } from "tsdl";

class TinyImages implements data.Dataset<data.Sample<data.FloatImage>> {
  constructor(readonly length: number) {}
  get(i: number, g?: data.Generator): data.Sample<data.FloatImage> {
    const label = (i * 5) % 3;
    const px = new Float32Array(8 * 8 * 3);
    const jitter = g ? g.random() * 0.1 : 0; // a "random augmentation": restored with the loader's position
    for (let k = 0; k < px.length; k++) px[k] = Math.cos(k * 0.21 + i) * 0.5 + (k % 3 === label ? 0.7 : 0) + jitter;
    return [new data.FloatImage(px, 8, 8, 3), label];
  }
}

function net(seed: number): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 3] });
  let x = tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: "same", kernelInitializer: tf.initializers.glorotUniform({ seed }), name: "conv" }).apply(input) as tf.SymbolicTensor;
  x = nn.batchNorm2d({ name: "bn" }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ name: "relu" }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.flatten({ name: "flatten" }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }), name: "fc" }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

/** A fresh run: model, SGD with momentum, MultiStepLR, shuffled loaders. */
function setup(seed: number, dataSeed = 11) {
  const model = net(seed);
  const opt = new optim.SGD(model, { lr: 0.1, momentum: 0.9, weightDecay: 1e-3 });
  const scheduler = lrScheduler.multiStepLR(opt, { milestones: [1, 3], gamma: 0.5 });
  const trainData = new data.DataLoader(new TinyImages(18), { batchSize: 5, shuffle: true, seed: dataSeed });
  const validData = new data.DataLoader(new TinyImages(7), { batchSize: 4, seed: dataSeed + 1 });
  return { model, opt, scheduler, trainData, validData };
}

const weightsOf = (m: tf.LayersModel) => m.getWeights().map((w) => Array.from(w.dataSync()));

describe("checkpoints", function () {
  this.timeout(60_000);
  let dir: string;
  before(async () => {
    await backend.init("cpu", { verbose: false });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsdl-ckpt-"));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("a run stopped after epoch 1 and resumed gives exactly the losses of an uninterrupted run", async () => {
    const ce = new nn.CrossEntropyLoss();
    const quiet = { verbose: false, progress: false } as const;
    const full = setup(1);
    const whole = await train(full.model, full.trainData, full.validData, 4, full.opt, ce, { ...quiet, scheduler: full.scheduler });

    const first = setup(1);
    const ck = path.join(dir, "run");
    await train(first.model, first.trainData, first.validData, 2, first.opt, ce, { ...quiet, scheduler: first.scheduler, checkpoint: ck });
    assert.equal(readCheckpoint(ck).epoch, 1);

    const second = setup(99, 77); // other weights and data seeds: everything must come from the checkpoint
    const lines: string[] = [];
    const resumed = await train(second.model, second.trainData, second.validData, 4, second.opt, ce, {
      scheduler: second.scheduler,
      resume: ck,
      progress: false,
      log: (l) => lines.push(l),
    });
    assert.match(lines[0], /^Resumed from .*run after epoch 1$/);
    assert.match(lines[1], /^Epoch 2\. /);
    assert.deepEqual(resumed.batches.map((b) => b.loss), whole.batches.map((b) => b.loss));
    assert.deepEqual(resumed.batches.map((b) => b.lr), whole.batches.map((b) => b.lr));
    assert.deepEqual(resumed.epochs.map((e) => [e.trainLoss, e.validLoss, e.trainAcc, e.lr]), whole.epochs.map((e) => [e.trainLoss, e.validLoss, e.trainAcc, e.lr]));
    assert.deepEqual(weightsOf(second.model), weightsOf(full.model));
    assert.deepEqual(second.scheduler.getLastLr(), full.scheduler.getLastLr());
    assert.deepEqual(second.trainData.stateDict(), full.trainData.stateDict());
    for (const s of [full, first, second]) {
      s.model.dispose();
      s.opt.dispose();
    }
  });

  it("keeps one checkpoint per epoch with {epoch} and saves/loads plain tf.Optimizers", async () => {
    const s = setup(2);
    await train(s.model, s.trainData, null, 3, s.opt, new nn.CrossEntropyLoss(), { verbose: false, progress: false, checkpoint: { path: path.join(dir, "e{epoch}"), every: 2 } });
    assert.deepEqual(fs.readdirSync(dir).filter((f) => /^e\d$/.test(f)).sort(), ["e1", "e2"]); // every 2, and the last
    const m = net(3);
    const adam = tf.train.adam(0.01);
    const x = tf.randomNormal([4, 8, 8, 3]);
    const y = tf.tensor1d([0, 1, 2, 0], "int32");
    adam.minimize(() => new nn.CrossEntropyLoss()(m.apply(x, { training: true }) as tf.Tensor, y) as tf.Scalar);
    const n0 = tf.memory().numTensors;
    await saveCheckpoint(path.join(dir, "adam"), { model: m, optimizer: adam, epoch: 0 });
    assert.equal(tf.memory().numTensors, n0);
    const before = (await adam.getWeights()).map((w) => Array.from(w.tensor.dataSync()));
    const adam2 = tf.train.adam(0.01);
    const m2 = net(4);
    adam2.minimize(() => new nn.CrossEntropyLoss()(m2.apply(x, { training: true }) as tf.Tensor, y) as tf.Scalar);
    const n1 = tf.memory().numTensors;
    await loadCheckpoint(path.join(dir, "adam"), { model: m2, optimizer: adam2 });
    assert.equal(tf.memory().numTensors, n1);
    assert.deepEqual((await adam2.getWeights()).map((w) => Array.from(w.tensor.dataSync())), before);
    assert.deepEqual(weightsOf(m2), weightsOf(m));
    tf.dispose([x, y]);
  });

  it("refuses a checkpoint of another architecture and leaves model, optimizer and scheduler as they were", async () => {
    const s = setup(5);
    await saveCheckpoint(path.join(dir, "small"), { model: s.model, optimizer: s.opt, scheduler: s.scheduler, epoch: 0 });
    const input = tf.input({ shape: [8, 8, 3] });
    const other = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 3 }).apply(tf.layers.flatten().apply(input)) as tf.SymbolicTensor });
    const before = weightsOf(other);
    await assert.rejects(loadCheckpoint(path.join(dir, "small"), { model: other }), /checkpoint has 8 weight tensors, the model 2: not the same architecture/);
    assert.deepEqual(weightsOf(other), before);
    // a scheduler of another kind fails after the optimizer was loaded: the optimizer is put back
    const t = setup(6);
    t.opt.paramGroups[0].lr = 0.123;
    const wrongScheduler = lrScheduler.exponentialLR(t.opt, { gamma: 0.9 });
    const lrBefore = t.opt.paramGroups[0].lr;
    const wBefore = weightsOf(t.model);
    await assert.rejects(loadCheckpoint(path.join(dir, "small"), { model: t.model, optimizer: t.opt, scheduler: wrongScheduler }), /unknown keys|milestones/);
    assert.equal(t.opt.paramGroups[0].lr, lrBefore);
    assert.deepEqual(weightsOf(t.model), wBefore);
    await assert.rejects(saveCheckpoint(path.join(dir, "x"), { model: other, epoch: 1.5 }), /epoch must be the last completed epoch/);
    other.dispose();
  });
});

describe("lrFinder", function () {
  this.timeout(60_000);
  before(async () => {
    await backend.init("cpu", { verbose: false });
  });

  it("tries lrs growing geometrically, then restores weights, BatchNorm statistics, optimizer state, lr and data order", async () => {
    const s = setup(7);
    await train(s.model, s.trainData, null, 1, s.opt, new nn.CrossEntropyLoss(), { verbose: false, progress: false }); // momentum buffers exist
    const weights = weightsOf(s.model);
    const optState = JSON.stringify(s.opt.stateDict());
    const order = s.trainData.stateDict();
    const n0 = tf.memory().numTensors;
    const r = await lrFinder(s.model, s.trainData, s.opt, { startLr: 1e-4, endLr: 1, steps: 9, divergeFactor: Infinity });
    assert.equal(r.lrs.length, 9); // 9 steps over a 4-batch loader: iterated again as needed
    r.lrs.forEach((lr, i) => assert.ok(Math.abs(lr - 1e-4 * Math.pow(1e4, i / 8)) < 1e-12 * Math.max(1, lr)));
    assert.equal(r.losses.length, 9);
    assert.ok(r.losses.every(Number.isFinite));
    assert.ok(r.lrs.includes(r.suggestedLr));
    assert.deepEqual(weightsOf(s.model), weights);
    assert.equal(JSON.stringify(s.opt.stateDict()), optState);
    assert.deepEqual(s.trainData.stateDict(), order);
    assert.equal(tf.memory().numTensors, n0);
    s.model.dispose();
  });

  it("restores a plain tf.Optimizer's slots and learningRate", async () => {
    const s = setup(9);
    const momentum = tf.train.momentum(0.02, 0.9);
    await train(s.model, s.trainData, null, 1, momentum, new nn.CrossEntropyLoss(), { verbose: false, progress: false });
    const slots = (await momentum.getWeights()).map((w) => Array.from(w.tensor.dataSync()));
    const weights = weightsOf(s.model);
    const n0 = tf.memory().numTensors;
    const r = await lrFinder(s.model, s.trainData, momentum, { startLr: 1e-3, endLr: 1e-1, steps: 4 });
    assert.equal(tf.memory().numTensors, n0);
    assert.equal(r.lrs.length, 4);
    assert.equal((momentum as unknown as { learningRate: number }).learningRate, 0.02);
    assert.deepEqual((await momentum.getWeights()).map((w) => Array.from(w.tensor.dataSync())), slots);
    assert.deepEqual(weightsOf(s.model), weights);
    s.model.dispose();
  });

  it("stops when the loss diverges and explains bad options", async () => {
    const s = setup(8);
    const r = await lrFinder(s.model, s.trainData, s.opt, { startLr: 1e-3, endLr: 1e6, steps: 60, smoothing: 0 });
    assert.ok(r.lrs.length < 60, `stopped after ${r.lrs.length} steps`);
    await assert.rejects(lrFinder(s.model, s.trainData, s.opt, { startLr: 1, endLr: 0.1 }), /endLr \(0.1\) must be greater than startLr \(1\)/);
    await assert.rejects(lrFinder(s.model, s.trainData, s.opt, { steps: 1 }), /steps must be an integer >= 2, got 1/);
    await assert.rejects(lrFinder(s.model, s.trainData, s.opt, { suggestion: "best" as never }), /suggestion must be "valley", "steep" or "minimum", got "best"/);
    await assert.rejects(lrFinder(s.model, 42 as never, s.opt), /^Error: lrFinder: data must be a data\.DataLoader or an \(async\) iterable of \{ x, y \} batches, got number/);
    await assert.rejects(lrFinder(s.model, [[1, 2]] as never, s.opt), /^Error: lrFinder: each batch must be \{ x: tf\.Tensor, y: tf\.Tensor \}, got object/);
    s.model.dispose();
  });

  it("suggests with fastai's valley rule", () => {
    // longest decreasing subsequence ends at index 7 with length 8; fastai: start = end - length = -1,
    // sections = (7 - (-1)) / 3, idx = start + floor(sections) + floor(sections / 2) = -1 + 2 + 1
    const losses = [3, 2.9, 2.5, 2.2, 1.8, 1.5, 1.3, 1.2, 2.0, 5.0];
    assert.equal(valleyIndex(losses), 2);
    assert.equal(valleyIndex([5, 4, 6, 3, 2, 1, 0.5, 0.4, 0.3, 0.2, 0.1, 9]), 4); // end 10, length 10: 0 + 3 + 1
  });
});
