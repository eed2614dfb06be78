// Schedules driving real training: the tutorial's lr decay (MultiStepLR vs a manual paramGroups edit), a
// manual loop, and model.fit with per-epoch, per-batch and ReduceLROnPlateau callbacks. Expected lrs come from
// the PyTorch fixture (test/fixtures/lr_scheduler_goldens.json).
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { backend, lrScheduler as L, optim, tf } from "tsdl";

const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, "fixtures", "lr_scheduler_goldens.json"), "utf8")) as {
  cases: { name: string; expected: { lr: number[][]; momentum?: number[][] } }[];
};
const golden = (name: string) => fixture.cases.find((x) => x.name === name)!.expected;

function closeRow(actual: number[], expected: number[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  expected.forEach((e, i) => {
    const a = actual[i];
    assert.ok(Math.abs(a - e) <= 1e-9 * Math.max(Math.abs(a), Math.abs(e)), `${what}[${i}]: got ${a}, expected ${e}`);
  });
}

// A small regression problem: 16 samples, 3 features.
let x: tf.Tensor2D;
let y: tf.Tensor2D;
const W0 = [[0.1], [-0.2], [0.3]];

function linearModel(): tf.Sequential {
  const m = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [3] })] });
  m.setWeights([tf.tensor2d(W0), tf.tensor1d([0.05])]);
  return m;
}

/** One optimizer per model: kernel and bias in two groups (lr 0.05 and 0.5), or one group. */
function sgd(m: tf.Sequential, twoGroups: boolean, momentum = 0): optim.SGD {
  const [kernel, bias] = m.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  if (!twoGroups) return new optim.SGD(m, { lr: 0.1, momentum, weightDecay: 1e-4 });
  return new optim.SGD(
    [
      { params: [kernel], lr: 0.05 },
      { params: [bias], lr: 0.5 },
    ],
    { lr: 0.001, momentum },
  );
}

async function weights(m: tf.Sequential): Promise<number[]> {
  const out: number[] = [];
  for (const w of m.getWeights()) out.push(...(await w.data()));
  return out;
}

before(async () => {
  await backend.init("cpu", { verbose: false });
  x = tf.randomNormal([16, 3], 0, 1, "float32", 7) as tf.Tensor2D;
  y = tf.tidy(() => tf.add(tf.matMul(x, tf.tensor2d([[1], [2], [-1]])), tf.randomNormal([16, 1], 0, 0.1, "float32", 8))) as tf.Tensor2D;
});
after(() => tf.dispose([x, y]));

/** The manual loop: 2 batches per epoch, optimizer.step() then (per epoch) the schedule. */
function manualEpochs(
  m: tf.Sequential,
  opt: optim.SGD,
  epochs: number,
  onEpoch: (epoch: number) => void,
  afterEpoch: () => void,
): number[][] {
  const xs = [x.slice([0, 0], [8, 3]), x.slice([8, 0], [8, 3])];
  const ys = [y.slice([0, 0], [8, 1]), y.slice([8, 0], [8, 1])];
  const lrs: number[][] = [];
  let tensors = -1;
  for (let epoch = 0; epoch < epochs; epoch++) {
    onEpoch(epoch);
    lrs.push(opt.paramGroups.map((g) => g.lr));
    for (let b = 0; b < 2; b++) {
      opt.zeroGrad();
      const loss = opt.backward(() => tf.losses.meanSquaredError(ys[b], m.apply(xs[b]) as tf.Tensor) as tf.Scalar);
      loss.dispose();
      opt.step();
    }
    opt.zeroGrad();
    afterEpoch();
    if (epoch === 0) tensors = tf.memory().numTensors;
  }
  assert.equal(tf.memory().numTensors, tensors, "tf.memory().numTensors grew over the epochs");
  tf.dispose([...xs, ...ys]);
  return lrs;
}

describe("the tutorial's schedule: lr 0.1 for epochs 0-19, then 0.01", () => {
  it("MultiStepLR and a manual paramGroups edit give the same lrs (PyTorch's) and the same weights", async () => {
    const a = linearModel();
    const optA = sgd(a, false);
    const sched = L.multiStepLR(optA, { milestones: [20], gamma: 0.1 });
    const lrA = manualEpochs(
      a,
      optA,
      30,
      () => undefined,
      () => sched.step(),
    );

    const b = linearModel();
    const optB = sgd(b, false);
    const lrB = manualEpochs(
      b,
      optB,
      30,
      (epoch) => {
        if (epoch === 20) for (const g of optB.paramGroups) g.lr = 0.01; // the notebook's set_learning_rate
      },
      () => undefined,
    );

    const g = golden("tutorial MultiStepLR").lr[0].slice(0, 30);
    closeRow(
      lrA.map((r) => r[0]),
      g,
      "MultiStepLR",
    );
    closeRow(
      lrB.map((r) => r[0]),
      g,
      "manual edit",
    );
    assert.deepEqual(lrA.slice(0, 20), new Array(20).fill([0.1]));
    // float32 training sees the same lr (0.1·0.1 and 0.01 round to the same float32): identical weights.
    assert.deepEqual(await weights(a), await weights(b));
    for (const [m, o] of [
      [a, optA],
      [b, optB],
    ] as const) {
      o.dispose();
      m.dispose();
    }
  });
});

describe("lrScheduler.schedulerCallback with model.fit", () => {
  it("per epoch: steps the schedule, logs lr_0/lr_1 in History, and trains as the manual loop does", async () => {
    const m = linearModel();
    const opt = sgd(m, true);
    const sched = L.stepLR(opt, { stepSize: 3, gamma: 0.5 });
    const cb = L.schedulerCallback(sched);
    m.compile({ optimizer: opt, loss: "meanSquaredError" });
    const h = await m.fit(x, y, { epochs: 8, batchSize: 8, shuffle: false, verbose: 0, callbacks: [cb] });
    const g = golden("StepLR");
    closeRow(h.history.lr_0 as number[], g.lr[0].slice(0, 8), "history lr_0");
    closeRow(h.history.lr_1 as number[], g.lr[1].slice(0, 8), "history lr_1");
    assert.equal(h.history.lr, undefined, "one key per group when there are several groups");
    assert.deepEqual(
      cb.records.map((r) => r.lr),
      (h.history.lr_0 as number[]).map((v, i) => [v, (h.history.lr_1 as number[])[i]]),
    );

    const ref = linearModel();
    const refOpt = sgd(ref, true);
    const refSched = L.stepLR(refOpt, { stepSize: 3, gamma: 0.5 });
    manualEpochs(
      ref,
      refOpt,
      8,
      () => undefined,
      () => refSched.step(),
    );
    const [wf, wm] = [await weights(m), await weights(ref)];
    wf.forEach((v, i) => assert.ok(Math.abs(v - wm[i]) < 1e-5, `weight ${i}: fit ${v}, manual loop ${wm[i]}`));

    // Tensors stay flat across further fits.
    const before = tf.memory().numTensors;
    await m.fit(x, y, {
      epochs: 2,
      batchSize: 8,
      shuffle: false,
      verbose: 0,
      callbacks: [L.schedulerCallback(L.exponentialLR(opt, { gamma: 0.9 }))],
    });
    assert.equal(tf.memory().numTensors, before);
    opt.dispose();
    refOpt.dispose();
    m.dispose();
    ref.dispose();
  });

  it("per batch: OneCycleLR with momentum, every batch recorded, History has each epoch's last batch", async () => {
    const m = linearModel();
    const opt = sgd(m, true, 0.9);
    const sched = L.oneCycleLR(opt, { maxLr: [0.1, 1.0], totalSteps: 20 });
    const cb = L.schedulerCallback(sched, { every: "batch" });
    m.compile({ optimizer: opt, loss: "meanSquaredError" });
    const h = await m.fit(x, y, { epochs: 5, batchSize: 4, shuffle: false, verbose: 0, callbacks: [cb] });
    const g = golden("OneCycleLR two-phase cos");
    assert.equal(cb.records.length, 20);
    for (const grp of [0, 1]) {
      closeRow(
        cb.records.map((r) => r.lr[grp]),
        g.lr[grp].slice(0, 20),
        `records lr group ${grp}`,
      );
      closeRow(
        cb.records.map((r) => r.momentum![grp]),
        g.momentum![grp].slice(0, 20),
        `records momentum group ${grp}`,
      );
      const lastOfEpoch = [3, 7, 11, 15, 19];
      closeRow(
        h.history[`lr_${grp}`] as number[],
        lastOfEpoch.map((i) => g.lr[grp][i]),
        `history lr_${grp}`,
      );
      closeRow(
        h.history[`momentum_${grp}`] as number[],
        lastOfEpoch.map((i) => g.momentum![grp][i]),
        `history momentum_${grp}`,
      );
    }
    assert.deepEqual(
      cb.records.slice(0, 5).map((r) => [r.epoch, r.batch]),
      [
        [0, 0],
        [0, 1],
        [0, 2],
        [0, 3],
        [1, 0],
      ],
    );
    opt.dispose();
    m.dispose();
  });

  it("ReduceLROnPlateau on val_loss: the lrs are what the schedule gives for the logged val_loss", async () => {
    const m = linearModel();
    const opt = sgd(m, false);
    const options: L.ReduceLROnPlateauOptions = { factor: 0.5, patience: 1, threshold: 0.5, cooldown: 1, minLr: 0.01 };
    const cb = L.schedulerCallback(L.reduceLROnPlateau(opt, options), { monitor: "val_loss" });
    m.compile({ optimizer: opt, loss: "meanSquaredError" });
    const h = await m.fit(x, y, { epochs: 12, batchSize: 8, shuffle: false, verbose: 0, validationData: [x, y], callbacks: [cb] });
    const val = h.history.val_loss as number[];
    const p = L.preview((o) => L.reduceLROnPlateau(o, options), 12, { lr: 0.1, metrics: val });
    assert.deepEqual(h.history.lr, p.lr[0]);
    assert.ok(new Set(h.history.lr as number[]).size > 1, "the schedule cut the lr at least once");
    opt.dispose();
    m.dispose();
  });

  it("a monitor missing from the logs fails fit with the keys that exist", async () => {
    const m = linearModel();
    const opt = sgd(m, false);
    const cb = L.schedulerCallback(L.reduceLROnPlateau(opt));
    m.compile({ optimizer: opt, loss: "meanSquaredError" });
    await assert.rejects(
      m.fit(x, y, { epochs: 2, batchSize: 16, verbose: 0, callbacks: [cb] }),
      /monitor "val_loss" is not in the epoch logs \(keys: loss, lr\)\. Give fit validationData or validationSplit/,
    );
    assert.equal(opt.paramGroups[0].lr, 0.1);
    assert.throws(
      () => L.schedulerCallback(L.stepLR(opt, { stepSize: 1 }), { monitor: "val_loss" }),
      /only used with ReduceLROnPlateau, not StepLR/,
    );
    const other = linearModel();
    other.compile({ optimizer: "sgd", loss: "meanSquaredError" });
    await assert.rejects(
      other.fit(x, y, { epochs: 1, verbose: 0, callbacks: [L.schedulerCallback(L.stepLR(opt, { stepSize: 1 }))] }),
      /the StepLR drives another optimizer than the model's \(SGDOptimizer\)\. Compile the model with the optimizer/,
    );
    other.dispose();
    assert.throws(
      () => L.schedulerCallback(L.stepLR(opt, { stepSize: 1 }), { every: "step" as never }),
      /every must be one of "epoch", "batch", got "step"/,
    );
    opt.dispose();
    m.dispose();
  });
});
