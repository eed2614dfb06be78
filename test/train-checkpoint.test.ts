// Checkpoints (resume gives the same losses as an uninterrupted run) and the lr finder (restores everything).
import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { backend, data, loadCheckpoint, lrFinder, lrScheduler, nn, optim, readCheckpoint, saveCheckpoint, tf, train } from "tsdl";
// Not a root export: the valley rule behind lrFinder's suggestion.
import { valleyIndex } from "tsdl/dist/train/lrFinder";

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
  let x = tf.layers
    .conv2d({
      filters: 4,
      kernelSize: 3,
      strides: 2,
      padding: "same",
      kernelInitializer: tf.initializers.glorotUniform({ seed }),
      name: "conv",
    })
    .apply(input) as tf.SymbolicTensor;
  x = nn.batchNorm2d({ name: "bn" }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ name: "relu" }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.flatten({ name: "flatten" }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers
    .dense({ units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }), name: "fc" })
    .apply(x) as tf.SymbolicTensor;
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
    assert.deepEqual(
      resumed.batches.map((b) => b.loss),
      whole.batches.map((b) => b.loss),
    );
    assert.deepEqual(
      resumed.batches.map((b) => b.lr),
      whole.batches.map((b) => b.lr),
    );
    assert.deepEqual(
      resumed.epochs.map((e) => [e.trainLoss, e.validLoss, e.trainAcc, e.lr]),
      whole.epochs.map((e) => [e.trainLoss, e.validLoss, e.trainAcc, e.lr]),
    );
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
    await train(s.model, s.trainData, null, 3, s.opt, new nn.CrossEntropyLoss(), {
      verbose: false,
      progress: false,
      checkpoint: { path: path.join(dir, "e{epoch}"), every: 2 },
    });
    assert.deepEqual(
      fs
        .readdirSync(dir)
        .filter((f) => /^e\d$/.test(f))
        .sort(),
      ["e1", "e2"],
    ); // every 2, and the last
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
    assert.deepEqual(
      (await adam2.getWeights()).map((w) => Array.from(w.tensor.dataSync())),
      before,
    );
    assert.deepEqual(weightsOf(m2), weightsOf(m));
    tf.dispose([x, y]);
  });

  it("refuses a checkpoint of another architecture and leaves model, optimizer and scheduler as they were", async () => {
    const s = setup(5);
    await saveCheckpoint(path.join(dir, "small"), { model: s.model, optimizer: s.opt, scheduler: s.scheduler, epoch: 0 });
    const input = tf.input({ shape: [8, 8, 3] });
    const other = tf.model({
      inputs: input,
      outputs: tf.layers.dense({ units: 3 }).apply(tf.layers.flatten().apply(input)) as tf.SymbolicTensor,
    });
    const before = weightsOf(other);
    await assert.rejects(
      loadCheckpoint(path.join(dir, "small"), { model: other }),
      /checkpoint has 8 weight tensors, the model 2: not the same architecture/,
    );
    assert.deepEqual(weightsOf(other), before);
    // a scheduler of another kind fails after the optimizer was loaded: the optimizer is put back
    const t = setup(6);
    t.opt.paramGroups[0].lr = 0.123;
    const wrongScheduler = lrScheduler.exponentialLR(t.opt, { gamma: 0.9 });
    const lrBefore = t.opt.paramGroups[0].lr;
    const wBefore = weightsOf(t.model);
    await assert.rejects(
      loadCheckpoint(path.join(dir, "small"), { model: t.model, optimizer: t.opt, scheduler: wrongScheduler }),
      /unknown keys|milestones/,
    );
    assert.equal(t.opt.paramGroups[0].lr, lrBefore);
    assert.deepEqual(weightsOf(t.model), wBefore);
    await assert.rejects(saveCheckpoint(path.join(dir, "x"), { model: other, epoch: 1.5 }), /epoch must be the last completed epoch/);
    other.dispose();
  });
});

/** Every file and folder under `dir` with the files' bytes: what must not change when a save is refused. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        out[path.relative(dir, p) + "/"] = "";
        walk(p);
      } else out[path.relative(dir, p)] = fs.readFileSync(p, "base64");
    }
  };
  walk(dir);
  return out;
}

/** Turns a checkpoint into what tsdl wrote before format 2: checkpoint.json (format 1) + weights.bin, no marker. */
function toFormat1(dir: string): void {
  const m = JSON.parse(fs.readFileSync(path.join(dir, "checkpoint.json"), "utf8"));
  fs.renameSync(path.join(dir, m.weightsFile), path.join(dir, "weights.bin"));
  fs.rmSync(path.join(dir, ".tsdl-checkpoint"));
  m.format = "tsdl.checkpoint/1";
  delete m.weightsFile;
  delete m.weightsBytes;
  fs.writeFileSync(path.join(dir, "checkpoint.json"), JSON.stringify(m));
}

describe("checkpoint folders: never another's files", function () {
  this.timeout(60_000);
  let dir: string;
  const cwd = process.cwd();
  before(async () => {
    await backend.init("cpu", { verbose: false });
  });
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsdl-ckfolder-"))));
  afterEach(() => {
    process.chdir(cwd);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("refuses a user's folder, a file, the working directory and a foreign checkpoint.json, and changes nothing", async () => {
    const s = setup(21);
    fs.mkdirSync(path.join(dir, "mine", "sub"), { recursive: true });
    fs.writeFileSync(path.join(dir, "mine", "notes.txt"), "my notes");
    fs.writeFileSync(path.join(dir, "mine", "sub", "data.csv"), "1,2,3");
    fs.writeFileSync(path.join(dir, "model.txt"), "a file");
    fs.mkdirSync(path.join(dir, "other"));
    fs.writeFileSync(path.join(dir, "other", "checkpoint.json"), JSON.stringify({ framework: "keras", epoch: 3 }));
    fs.mkdirSync(path.join(dir, "work"));
    fs.writeFileSync(path.join(dir, "work", "01-notebook.ipynb"), "{}");
    const before = snapshot(dir);
    const parts = { model: s.model, optimizer: s.opt, scheduler: s.scheduler, epoch: 0 };
    const nothing = /Nothing was changed\. Checkpoints go into a new or empty folder, or one tsdl wrote before \(with \.tsdl-checkpoint\)/;
    await assert.rejects(saveCheckpoint(path.join(dir, "mine"), parts), (e: Error) => {
      assert.match(
        e.message,
        /^saveCheckpoint: ".*mine" is a folder that is not a tsdl checkpoint \(no \.tsdl-checkpoint marker; it holds "notes\.txt", "sub"\)/,
      );
      assert.match(e.message, nothing);
      return true;
    });
    await assert.rejects(
      saveCheckpoint(path.join(dir, "model.txt"), parts),
      /^Error: saveCheckpoint: ".*model\.txt" is a file, not a checkpoint folder\. Nothing was changed/,
    );
    await assert.rejects(
      saveCheckpoint(path.join(dir, "other"), parts),
      /other" holds a checkpoint\.json that is not a tsdl checkpoint \(no \.tsdl-checkpoint marker, and not a readable tsdl\.checkpoint\/1 manifest\)/,
    );
    process.chdir(path.join(dir, "work"));
    await assert.rejects(saveCheckpoint(".", parts), /^Error: saveCheckpoint: "\." is the working directory, not a checkpoint folder/);
    await assert.rejects(saveCheckpoint("..", parts), /"\.\." is the working directory or a folder above it/);
    fs.mkdirSync(path.join(dir, "empty"));
    process.chdir(path.join(dir, "empty"));
    await assert.rejects(saveCheckpoint(".", parts), /"\." is the working directory/); // even when empty
    fs.rmdirSync(path.join(dir, "empty"));
    process.chdir(cwd);
    // train() refuses before its first epoch: no step is taken
    const w0 = weightsOf(s.model);
    const ce = new nn.CrossEntropyLoss();
    const quiet = { verbose: false, progress: false } as const;
    await assert.rejects(
      train(s.model, s.trainData, null, 2, s.opt, ce, { ...quiet, checkpoint: path.join(dir, "mine") }),
      /^Error: train\(\{ checkpoint \}\): ".*mine" is a folder that is not a tsdl checkpoint/,
    );
    fs.mkdirSync(path.join(dir, "run-1")); // a per-epoch path whose second epoch's folder is taken
    fs.writeFileSync(path.join(dir, "run-1", "keep.txt"), "mine");
    const before2 = snapshot(dir);
    await assert.rejects(
      train(s.model, s.trainData, null, 2, s.opt, ce, { ...quiet, checkpoint: path.join(dir, "run-{epoch}") }),
      /".*run-1" is a folder that is not a tsdl checkpoint \(no \.tsdl-checkpoint marker; it holds "keep\.txt"\)/,
    );
    assert.deepEqual(weightsOf(s.model), w0);
    assert.deepEqual(snapshot(dir), before2);
    delete before2["run-1/"];
    delete before2["run-1/keep.txt"];
    assert.deepEqual(before2, before);
    s.model.dispose();
    s.opt.dispose();
  });

  it("overwrites its own checkpoints (format 1 too), keeping other files in the folder", async () => {
    const s = setup(22);
    const ck = path.join(dir, "run");
    await saveCheckpoint(ck, { model: s.model, optimizer: s.opt, epoch: 0 });
    fs.writeFileSync(path.join(ck, "notes.txt"), "kept");
    await saveCheckpoint(ck, { model: s.model, optimizer: s.opt, epoch: 1 });
    assert.equal(readCheckpoint(ck).epoch, 1);
    const entries = fs.readdirSync(ck).sort();
    assert.deepEqual(
      entries.filter((e) => !e.startsWith("weights-")),
      [".tsdl-checkpoint", "checkpoint.json", "notes.txt"],
    );
    assert.equal(entries.filter((e) => e.startsWith("weights-")).length, 1);
    assert.equal(fs.readFileSync(path.join(ck, "notes.txt"), "utf8"), "kept");
    // an empty folder is taken
    fs.mkdirSync(path.join(dir, "empty"));
    await saveCheckpoint(path.join(dir, "empty"), { model: s.model, epoch: 0 });
    assert.equal(readCheckpoint(path.join(dir, "empty")).epoch, 0);
    // a checkpoint of tsdl's first format (checkpoint.json + weights.bin) loads, and is overwritten
    toFormat1(ck);
    const m = net(23);
    assert.equal((await loadCheckpoint(ck, { model: m })).epoch, 1);
    assert.deepEqual(weightsOf(m), weightsOf(s.model));
    await saveCheckpoint(ck, { model: m, epoch: 2 });
    assert.equal(readCheckpoint(ck).epoch, 2);
    assert.ok(!fs.existsSync(path.join(ck, "weights.bin")), "the replaced weights.bin is removed");
    assert.ok(fs.existsSync(path.join(ck, ".tsdl-checkpoint")));
    for (const x of [s.model, m]) x.dispose();
    s.opt.dispose();
  });

  it("resumes from the newest complete folder an interrupted format-1 save left, and the next save removes those", async () => {
    // tsdl before format 2 swapped dir for dir.partial-PID with two renames; killed between them, dir was gone
    const s = setup(24);
    const ck = path.join(dir, "run");
    const legacy = async (name: string, epoch: number): Promise<string> => {
      const d = path.join(dir, name);
      await saveCheckpoint(d, { model: s.model, optimizer: s.opt, epoch });
      toFormat1(d);
      return d;
    };
    const dead = 4194305; // above Linux's largest pid: a process that no longer runs
    await legacy(`run.old-${dead}`, 2);
    const newest = await legacy(`run.partial-${dead}`, 3);
    const cut = await legacy(`run.partial-${dead + 1}`, 9); // newer but its weights.bin was cut short
    fs.truncateSync(path.join(cut, "weights.bin"), 100);
    const foreign = await legacy(`run.partial-${dead + 2}`, 1); // holds a file tsdl did not write: not ours
    fs.writeFileSync(path.join(foreign, "mine.txt"), "x");
    const m = net(25);
    const lines: string[] = [];
    const ce = new nn.CrossEntropyLoss();
    const opt2 = new optim.SGD(m, { lr: 0.1, momentum: 0.9, weightDecay: 1e-3 });
    await train(m, s.trainData, null, 5, opt2, ce, { resume: ck, checkpoint: ck, progress: false, log: (l) => lines.push(l) });
    assert.equal(lines[0], `Resumed from ${newest} (the newest complete save; ${ck} held none) after epoch 3`);
    assert.equal(readCheckpoint(ck).epoch, 4);
    assert.deepEqual(fs.readdirSync(dir).sort(), ["run", `run.partial-${dead + 2}`]);
    for (const x of [s.model, m]) x.dispose();
    s.opt.dispose();
    opt2.dispose();
  });

  it("saves and loads a model without an optimizer", async () => {
    const s = setup(26);
    const ck = path.join(dir, "bare");
    await saveCheckpoint(ck, { model: s.model, epoch: 0 });
    assert.equal(JSON.parse(fs.readFileSync(path.join(ck, "checkpoint.json"), "utf8")).optimizer, undefined);
    const t = setup(27);
    const optBefore = JSON.stringify(t.opt.stateDict());
    const r = await loadCheckpoint(ck, { model: t.model, optimizer: t.opt, scheduler: t.scheduler });
    assert.equal(r.epoch, 0);
    assert.deepEqual(weightsOf(t.model), weightsOf(s.model));
    assert.equal(JSON.stringify(t.opt.stateDict()), optBefore, "an optimizer given is left as it is");
    for (const x of [s, t]) {
      x.model.dispose();
      x.opt.dispose();
    }
  });
});

describe("damaged or hand-edited checkpoints", function () {
  this.timeout(60_000);
  let dir: string;
  before(async () => {
    await backend.init("cpu", { verbose: false });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsdl-ckdamage-"));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the cases damage parsed JSON of any shape
  const cases: Array<[string, (m: Record<string, any>, ck: string) => void, RegExp]> = [
    [
      "no weights key",
      (m) => delete m.weights,
      /key "weights" is missing; accepted: an array of \{ name, shape, dtype, offset, byteLength \}/,
    ],
    ["no epoch", (m) => delete m.epoch, /key "epoch" is missing; accepted: an integer >= -1 \(the last completed epoch\)/],
    ['epoch "NaN"', (m) => (m.epoch = "NaN"), /key "epoch" is "NaN"; accepted: an integer >= -1/],
    ["epoch 1.5", (m) => (m.epoch = 1.5), /key "epoch" is 1\.5; accepted: an integer >= -1/],
    [
      "a negative offset",
      (m) => (m.weights[0].offset = -8),
      /key "weights\[0\]\.offset" is -8; accepted: an integer >= 0 \(a byte offset into the weights file\)/,
    ],
    [
      "an offset past the end",
      (m) => (m.weights[2].offset = 1e6),
      /key "weights\[2\]\.offset" is 1000000; accepted: at most \d+: the tensor's 16 bytes must lie inside the weights file \(\d+ bytes\)/,
    ],
    ["dtype float64", (m) => (m.weights[1].dtype = "float64"), /key "weights\[1\]\.dtype" is "float64"; accepted: "float32" or "int32"/],
    [
      "a shape that does not fit byteLength",
      (m) => (m.weights[1].shape = [5]),
      /key "weights\[1\]\.byteLength" is 16; accepted: 20 \(4 bytes for each of the shape's 5 values\)/,
    ],
    [
      "a negative dimension",
      (m) => (m.weights[0].shape = [-3, 3, 3, 4]),
      /key "weights\[0\]\.shape" is \[-3,3,3,4\]; accepted: an array of integers >= 0/,
    ],
    [
      "an unknown format",
      (m) => (m.format = "tsdl.checkpoint/9"),
      /key "format" is "tsdl\.checkpoint\/9"; accepted: "tsdl\.checkpoint\/2" or "tsdl\.checkpoint\/1"/,
    ],
    [
      "an optimizer of unknown kind",
      (m) => (m.optimizer.kind = "adam"),
      /key "optimizer\.kind" is "adam"; accepted: "stateDict" \(a tsdl optimizer\) or "tfjs" \(a tf\.Optimizer\)/,
    ],
    [
      "a history step that is not a number",
      (m) => (m.history.batches[0].step = "x"),
      /key "history\.batches\[0\]\.step" is "x"; accepted: an integer >= 0/,
    ],
    [
      "a truncated weights file",
      (m, ck) => fs.truncateSync(path.join(ck, m.weightsFile), 64),
      /key "weightsBytes" is \d+; accepted: the size of its weights file, which has 64 bytes/,
    ],
    [
      "a weightsFile outside the folder",
      (m) => (m.weightsFile = "../../etc/passwd"),
      /key "weightsFile" is "\.\.\/\.\.\/etc\/passwd"; accepted: a file name weights-<pid>-<hex>\.bin in the same folder/,
    ],
  ];

  for (const [what, edit, expected] of cases) {
    it(`${what}: a clear error, model, optimizer and scheduler untouched`, async () => {
      const s = setup(31);
      await train(s.model, s.trainData, null, 1, s.opt, new nn.CrossEntropyLoss(), {
        verbose: false,
        progress: false,
        scheduler: s.scheduler,
      });
      const ck = path.join(dir, what.replace(/\W+/g, "-"));
      await saveCheckpoint(ck, {
        model: s.model,
        optimizer: s.opt,
        scheduler: s.scheduler,
        epoch: 0,
        history: { epochs: [], batches: [{ epoch: 0, batch: 0, step: 0, loss: 1, lr: [0.1] }] },
      });
      const m = JSON.parse(fs.readFileSync(path.join(ck, "checkpoint.json"), "utf8"));
      edit(m, ck);
      fs.writeFileSync(path.join(ck, "checkpoint.json"), JSON.stringify(m));
      const t = setup(32);
      const before = [
        weightsOf(t.model),
        JSON.stringify(t.opt.stateDict()),
        JSON.stringify(t.scheduler.stateDict()),
        t.trainData.stateDict(),
      ];
      await assert.rejects(
        loadCheckpoint(ck, { model: t.model, optimizer: t.opt, scheduler: t.scheduler, data: { train: t.trainData } }),
        expected,
      );
      await assert.rejects(
        train(t.model, t.trainData, null, 3, t.opt, new nn.CrossEntropyLoss(), {
          verbose: false,
          progress: false,
          resume: ck,
          scheduler: t.scheduler,
        }),
        expected,
      );
      assert.throws(() => readCheckpoint(ck), expected);
      assert.deepEqual(
        [weightsOf(t.model), JSON.stringify(t.opt.stateDict()), JSON.stringify(t.scheduler.stateDict()), t.trainData.stateDict()],
        before,
      );
      for (const x of [s, t]) {
        x.model.dispose();
        x.opt.dispose();
      }
    });
  }

  it("a manifest that is not JSON says so", async () => {
    const s = setup(33);
    const ck = path.join(dir, "json");
    await saveCheckpoint(ck, { model: s.model, epoch: 0 });
    fs.writeFileSync(path.join(ck, "checkpoint.json"), '{"format": "tsdl.checkpoint/2", "epoch": 0,');
    await assert.rejects(loadCheckpoint(ck, { model: s.model }), /checkpoint\.json is not valid JSON \(.*\); was it edited by hand\?/);
    s.model.dispose();
    s.opt.dispose();
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
    assert.deepEqual(
      (await momentum.getWeights()).map((w) => Array.from(w.tensor.dataSync())),
      slots,
    );
    assert.deepEqual(weightsOf(s.model), weights);
    s.model.dispose();
  });

  it("stops when the loss diverges and explains bad options", async () => {
    const s = setup(8);
    const r = await lrFinder(s.model, s.trainData, s.opt, { startLr: 1e-3, endLr: 1e6, steps: 60, smoothing: 0 });
    assert.ok(r.lrs.length < 60, `stopped after ${r.lrs.length} steps`);
    await assert.rejects(
      lrFinder(s.model, s.trainData, s.opt, { startLr: 1, endLr: 0.1 }),
      /endLr \(0.1\) must be greater than startLr \(1\)/,
    );
    await assert.rejects(lrFinder(s.model, s.trainData, s.opt, { steps: 1 }), /steps must be an integer >= 2, got 1/);
    await assert.rejects(
      lrFinder(s.model, s.trainData, s.opt, { suggestion: "best" as never }),
      /suggestion must be "valley", "steep" or "minimum", got "best"/,
    );
    await assert.rejects(
      lrFinder(s.model, 42 as never, s.opt),
      /^Error: lrFinder: data must be a data\.DataLoader or an \(async\) iterable of \{ x, y \} batches, got 42/,
    );
    await assert.rejects(lrFinder(s.model, s.trainData, undefined as never), /^Error: lrFinder: optimizer must be a tsdl optimizer/);
    await assert.rejects(
      lrFinder(s.model, [[1, 2]] as never, s.opt),
      /^Error: lrFinder: each batch must be \{ x: tf\.Tensor, y: tf\.Tensor \}, got \[1, 2\]/,
    );
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
