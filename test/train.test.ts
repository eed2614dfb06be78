// train(): equivalence with a PyTorch run, epoch lines, History, NaN guard, progress, live plot, memory.
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { backend, data, lrScheduler, models, nn, optim, plot, tf, train, epochLine, NonFiniteLossError, History } from "tsdl";
// Not a root export: train() drives it.
import { ProgressBar } from "tsdl/dist/train/progress";

const golden = JSON.parse(fs.readFileSync(path.join(__dirname, "fixtures", "train_smallcnn.json"), "utf8"));

/** The small CNN of test/goldens/train_goldens.py, with the PyTorch module names as layer names. */
function smallCnn(): tf.LayersModel {
  const input = tf.input({ shape: [16, 16, 3] });
  const L = tf.layers;
  const seq = [
    L.zeroPadding2d({
      padding: [
        [1, 1],
        [1, 1],
      ],
      name: "pad1",
    }),
    L.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: "valid", name: "conv1" }),
    nn.batchNorm2d({ numFeatures: 8, name: "bn1" }),
    L.reLU({ name: "relu1" }),
    L.maxPooling2d({ poolSize: 2, name: "pool1" }),
    L.conv2d({ filters: 16, kernelSize: 3, padding: "same", useBias: false, name: "conv2" }),
    nn.batchNorm2d({ numFeatures: 16, name: "bn2" }),
    L.reLU({ name: "relu2" }),
    L.averagePooling2d({ poolSize: 2, name: "pool2" }),
    L.flatten({ name: "flatten" }),
    L.dense({ units: 10, name: "fc" }),
  ];
  let x = input as tf.SymbolicTensor;
  for (const l of seq) x = l.apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: x });
}

/** NCHW fixture data -> fixed NHWC batches (no shuffling, as the golden run). */
function batches(x: { shape: number[]; data: number[] }, y: number[], size: number): Array<{ x: tf.Tensor4D; y: tf.Tensor1D }> {
  const all = tf.tidy(() => tf.transpose(tf.tensor4d(x.data, x.shape as [number, number, number, number]), [0, 2, 3, 1]));
  const out = [];
  for (let i = 0; i < y.length; i += size) {
    out.push({ x: tf.slice(all, [i, 0, 0, 0], [size, -1, -1, -1]) as tf.Tensor4D, y: tf.tensor1d(y.slice(i, i + size), "int32") });
  }
  all.dispose();
  return out;
}

function relClose(a: number, b: number, tol: number, what: string): void {
  assert.ok(Math.abs(a - b) <= tol * Math.abs(b), `${what}: ${a} vs PyTorch ${b} (rel ${Math.abs(a - b) / Math.abs(b)})`);
}

/** A tiny in-memory image dataset for data.DataLoader: 8x8x3 images whose class shows in the pixels. */
class TinyImages implements data.Dataset<data.Sample<data.FloatImage>> {
  constructor(
    readonly length: number,
    private readonly seed = 1,
  ) {}
  get(i: number): data.Sample<data.FloatImage> {
    const label = (i * 7 + this.seed) % 3;
    const px = new Float32Array(8 * 8 * 3);
    for (let k = 0; k < px.length; k++) px[k] = Math.sin(k * 0.37 + i * 1.3) * 0.5 + (k % 3 === label ? 0.8 : 0);
    return [new data.FloatImage(px, 8, 8, 3), label];
  }
}

function tinyNet(seed = 0): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 3] });
  let x = tf.layers
    .conv2d({ filters: 4, kernelSize: 3, padding: "same", kernelInitializer: tf.initializers.glorotUniform({ seed }), name: "conv" })
    .apply(input) as tf.SymbolicTensor;
  x = nn.batchNorm2d({ name: "bn" }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
  const out = tf.layers
    .dense({ units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }), name: "fc" })
    .apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

for (const be of ["cpu", "wasm", "webgpu"] as const)
  describe(`train(): PyTorch equivalence on ${be}`, function () {
    this.timeout(60_000);
    before(async () => {
      await backend.init(be, { verbose: false });
    });

    // The issue asks for 1e-3; float32 gets ~1e-7 here, so 1e-5 also catches small semantic slips.
    it("a small CNN with PyTorch's weights and batches, SGD(momentum, weightDecay) + MultiStepLR: 20 step losses within 1e-5", async () => {
      const net = smallCnn();
      models.loadTorchStateDict(net, golden.init);
      const trainData = batches(golden.xTrain, golden.yTrain, golden.batchSize);
      const validData = batches(golden.xValid, golden.yValid, golden.batchSize);
      const opt = new optim.SGD(net, golden.optimizer);
      const scheduler = lrScheduler.multiStepLR(opt, golden.scheduler);
      const lines: string[] = [];
      const tensors: number[] = [];
      const history = await train(net, trainData, validData, golden.epochs, opt, new nn.CrossEntropyLoss(), {
        scheduler,
        log: (l) => lines.push(l),
        progress: false,
        onEpochEnd: () => void tensors.push(tf.memory().numTensors),
      });
      const losses = history.batches.map((b) => b.loss);
      assert.equal(losses.length, 20);
      losses.forEach((l, i) => relClose(l, golden.stepLosses[i], 1e-5, `step ${i} loss`));
      history.batches.forEach((b, i) => assert.deepEqual(b.lr, golden.stepLrs[i], `step ${i} lr`));
      history.epochs.forEach((e, i) => {
        const g = golden.epochRecords[i];
        relClose(e.trainLoss, g.trainLoss, 1e-5, `epoch ${i} train loss`);
        relClose(e.validLoss!, g.validLoss, 1e-5, `epoch ${i} valid loss (eval mode: running statistics)`);
        assert.equal(e.trainAcc, g.trainAcc);
        assert.equal(e.validAcc, g.validAcc);
        assert.deepEqual(e.lr, g.lr);
      });
      for (const [key, want] of Object.entries(golden.finalRunningStats as Record<string, number[]>)) {
        const [layer, stat] = [key.split(".")[0], key.split(".")[1]];
        const idx = stat === "running_mean" ? 2 : 3;
        const got = await net.getLayer(layer).getWeights()[idx].data();
        want.forEach((w, i) => assert.ok(Math.abs(got[i] - w) <= 1e-4 * Math.max(1, Math.abs(w)), `${key}[${i}] ${got[i]} vs ${w}`));
      }
      // the epoch lines: the course's format plus the lr
      assert.equal(lines.length, 4);
      assert.match(
        lines[0],
        /^Epoch 0\. Train Loss: \d\.\d{6}, Train Acc: 0\.150000, Valid Loss: \d\.\d{6}, Valid Acc: 0\.250000, Time 00:00:0\d, lr 0\.05$/,
      );
      assert.match(lines[2], /, lr 0\.005$/);
      assert.match(lines[3], /, lr 0\.0005$/);
      // tensors: flat from the second epoch on (the first creates the momentum buffers)
      assert.equal(new Set(tensors.slice(1)).size, 1, `numTensors per epoch ${tensors}`);
      tf.dispose([...trainData.flatMap((b) => [b.x, b.y]), ...validData.flatMap((b) => [b.x, b.y])]);
      net.dispose();
      opt.dispose();
    });
  });

describe("train(): loop behaviour", function () {
  this.timeout(60_000);
  before(async () => {
    await backend.init("cpu", { verbose: false });
  });

  it("formats epoch lines as the course (fields left out when absent; several groups' lrs)", () => {
    assert.equal(
      epochLine({ epoch: 0, trainLoss: 1.429834, trainAcc: 0.476982, validLoss: 1.261334, validAcc: 0.546776, lr: [0.01], seconds: 26.7 }),
      "Epoch 0. Train Loss: 1.429834, Train Acc: 0.476982, Valid Loss: 1.261334, Valid Acc: 0.546776, Time 00:00:26, lr 0.01",
    );
    assert.equal(
      epochLine({ epoch: 20, trainLoss: 0.326198, lr: [0.010000000000000002, 0.1], seconds: 3725 }),
      "Epoch 20. Train Loss: 0.326198, Time 01:02:05, lr [0.01, 0.1]",
    );
  });

  it("records History per batch and epoch with a DataLoader, keeps numTensors flat, steps per batch when asked", async () => {
    const net = tinyNet();
    const loader = new data.DataLoader(new TinyImages(20), { batchSize: 6, shuffle: true, seed: 3 });
    const valid = new data.DataLoader(new TinyImages(9, 2), { batchSize: 4 });
    const opt = new optim.SGD(net, { lr: 0.1, momentum: 0.9 });
    const sched = lrScheduler.stepLR(opt, { stepSize: 2, gamma: 0.5 });
    const counts: number[] = [];
    const h = await train(net, loader, valid, 5, opt, new nn.CrossEntropyLoss(), {
      scheduler: { scheduler: sched, every: "batch" },
      verbose: false,
      progress: false,
      onEpochEnd: () => void counts.push(tf.memory().numTensors),
    });
    assert.equal(h.epochs.length, 5);
    assert.equal(h.batches.length, 5 * 4); // ceil(20 / 6) = 4, the last batch has 2 images
    assert.deepEqual(
      h.batches.map((b) => b.step),
      [...Array(20).keys()],
    );
    assert.ok(h.batches.every((b) => b.seconds! > 0 && b.seconds! < h.epochs[b.epoch].seconds));
    assert.deepEqual(
      h.batches.slice(0, 5).map((b) => b.lr[0]),
      [0.1, 0.1, 0.05, 0.05, 0.025],
    );
    for (const e of h.epochs) {
      const mine = h.batches.filter((b) => b.epoch === e.epoch);
      assert.ok(Math.abs(e.trainLoss - mine.reduce((s, b) => s + b.loss, 0) / mine.length) < 1e-12); // mean of batch losses
      assert.ok(e.validLoss !== undefined && e.validAcc !== undefined && e.seconds >= 0);
    }
    assert.ok(h.epochs[4].trainLoss < h.epochs[0].trainLoss, "it learns");
    assert.equal(new Set(counts.slice(1)).size, 1, `numTensors per epoch ${counts}`);
    net.dispose();
    opt.dispose();
  });

  it("steps ReduceLROnPlateau with the epoch's metric, and trains with a plain tf.Optimizer", async () => {
    const net = tinyNet();
    const loader = new data.DataLoader(new TinyImages(8), { batchSize: 4, seed: 1 });
    const opt = new optim.SGD(net, { lr: 0.1 });
    const plateau = lrScheduler.reduceLROnPlateau(opt, { patience: 0, factor: 0.5 });
    const metrics = [1, 2, 0.5, 0.7];
    const h = await train(net, loader, null, 4, opt, new nn.CrossEntropyLoss(), {
      scheduler: { scheduler: plateau, monitor: (r) => metrics[r.epoch] },
      verbose: false,
      progress: false,
    });
    // 1 (best), 2 (bad: halve), 0.5 (best), 0.7 (bad: halve)
    assert.deepEqual(
      h.epochs.map((e) => e.lr[0]),
      [0.1, 0.1, 0.05, 0.05],
    );
    assert.deepEqual(opt.paramGroups[0].lr, 0.025);
    const plain = tf.train.sgd(0.05);
    const h2 = await train(net, loader, loader, 2, plain, new nn.CrossEntropyLoss(), { verbose: false, progress: false });
    assert.deepEqual(
      h2.epochs.map((e) => e.lr),
      [[0.05], [0.05]],
    );
    assert.ok(h2.epochs.every((e) => Number.isFinite(e.trainLoss) && e.validAcc !== undefined));
    net.dispose();
  });

  it("stops on a NaN loss naming epoch, batch and lr, before applying that batch", async () => {
    const net = tinyNet();
    const good = Array.from({ length: 3 }, (_, i) => ({
      x: tf.randomNormal([4, 8, 8, 3], 0, 1, "float32", i) as tf.Tensor4D,
      y: tf.tensor1d([0, 1, 2, i % 3], "int32"),
    }));
    const bad = { x: tf.fill([4, 8, 8, 3], NaN) as tf.Tensor4D, y: tf.tensor1d([0, 1, 2, 0], "int32") };
    let epoch = 0;
    const source = {
      length: 3,
      *[Symbol.iterator]() {
        yield good[0];
        yield good[1];
        yield epoch++ === 1 ? bad : good[2];
      },
    };
    const opt = new optim.SGD(net, { lr: 0.05 });
    let snapshot: number[][] = [];
    const err = await train(net, source, null, 3, opt, new nn.CrossEntropyLoss(), {
      verbose: false,
      progress: false,
      onBatchEnd: () => void (snapshot = net.getWeights().map((w) => Array.from(w.dataSync()))),
    }).then(
      () => undefined,
      (e) => e,
    );
    assert.ok(err instanceof NonFiniteLossError, String(err));
    assert.match(err.message, /the loss is NaN at epoch 1, batch 2 \(step 5\), lr 0\.05\. Training stopped before applying this batch/);
    assert.equal(err.epoch, 1);
    assert.equal(err.batch, 2);
    assert.equal(err.history.batches.length, 5);
    assert.deepEqual(
      net.getWeights().map((w) => Array.from(w.dataSync())),
      snapshot,
      "weights are those after the previous batch",
    );
    tf.dispose([...good.flatMap((b) => [b.x, b.y]), bad.x, bad.y]);
    net.dispose();
  });

  it("rejects bad arguments with what is accepted", async () => {
    const net = tinyNet();
    const opt = new optim.SGD(net, { lr: 0.1 });
    const b = [{ x: tf.zeros([2, 8, 8, 3]), y: tf.tensor1d([0, 1], "int32") }];
    const ce = new nn.CrossEntropyLoss();
    await assert.rejects(train(net, b, null, 0, opt, ce), /epochs must be a positive integer, got 0/);
    await assert.rejects(train(net, b, null, 1, {} as never, ce), /optimizer must be a tsdl optimizer/);
    await assert.rejects(
      train(net, b, null, 1, undefined as never, ce),
      /^Error: train: optimizer must be a tsdl optimizer .*, got undefined/,
    ); // not tfjs's TypeError reading .minimize
    await assert.rejects(
      train(net, b, null, 1, opt, new nn.CrossEntropyLoss({ reduction: "none" }), { verbose: false, progress: false }),
      /criterion must return a scalar loss, got a tensor of shape \[2\]/,
    );
    await assert.rejects(train(net, [], null, 1, opt, ce, { verbose: false, progress: false }), /training data gave no batches in epoch 0/);
    await assert.rejects(
      train(net, b, null, 1, opt, ce, { progress: "bar" as never }),
      /progress must be one of "auto", "display", "terminal", "none" or a boolean, got "bar"/,
    );
    await assert.rejects(
      train(net, b, null, 1, opt, ce, { resume: "/nonexistent/ckpt", verbose: false }),
      /no checkpoint there \(expected \/nonexistent\/ckpt\/checkpoint.json/,
    );
    // The scheduler option speaks lrScheduler.schedulerCallback's words: every, monitor.
    const sched = lrScheduler.stepLR(opt, { stepSize: 1 });
    await assert.rejects(
      train(net, b, null, 1, opt, ce, { scheduler: { scheduler: sched, every: "step" as never } }),
      /train: scheduler\.every must be one of "epoch", "batch", got "step"/,
    );
    await assert.rejects(
      train(net, b, null, 1, opt, ce, { scheduler: { scheduler: sched, monitor: "val_loss" as never } }),
      /scheduler\.monitor must be one of "validLoss", "trainLoss", "validAcc", "trainAcc", got "val_loss"/,
    );
    await assert.rejects(
      train(net, b, null, 1, opt, ce, { scheduler: { scheduler: sched, schedulerStep: "batch" } as never }),
      /scheduler must be an lrScheduler .* or \{ scheduler, every\?, monitor\? \}, got an object with keys \[scheduler, schedulerStep\]/,
    );
    await assert.rejects(train(net, b, null, 1, opt, ce, { scheduler: 5 as never }), /scheduler must be an lrScheduler .*, got 5/);
    const plateau = lrScheduler.reduceLROnPlateau(opt);
    await assert.rejects(
      train(net, b, null, 1, opt, ce, { scheduler: { scheduler: plateau, every: "batch" } }),
      /ReduceLROnPlateau needs an epoch metric/,
    );
    net.dispose();
  });
});

describe("train(): the wasm heap running out", function () {
  this.timeout(60_000);
  before(async () => {
    await backend.init("wasm", { verbose: false });
  });
  after(async () => {
    await backend.init("cpu", { verbose: false });
  });

  it("is reported as a wasm memory limit naming the batch shape, with what to do", async () => {
    const net = tinyNet();
    const opt = new optim.SGD(net, { lr: 0.1 });
    const b = [{ x: tf.zeros([2, 8, 8, 3]), y: tf.tensor1d([0, 1], "int32") }];
    // What emscripten throws when a kernel runs past the 4 GB heap (a real one leaves wasm unusable).
    const overflowing = () => {
      throw new WebAssembly.RuntimeError("memory access out of bounds");
    };
    const err = await train(net, b, null, 1, opt, overflowing as never, { verbose: false, progress: false }).then(
      () => undefined,
      (e) => e,
    );
    assert.match(
      String(err?.message),
      /^train: the wasm backend failed on a batch of shape \[2,8,8,3\] \(memory access out of bounds\): its heap is limited to 4 GB.*smaller batch size.*TSDL_BACKEND=tensorflow.*restart the kernel/,
    );
    // Any other error passes through unchanged.
    const other = await train(
      net,
      b,
      null,
      1,
      opt,
      (() => {
        throw new RangeError("boom");
      }) as never,
      { verbose: false, progress: false },
    ).then(
      () => undefined,
      (e) => e,
    );
    assert.ok(other instanceof RangeError && other.message === "boom", String(other));
    tf.dispose(b.flatMap((x) => [x.x, x.y]));
    net.dispose();
  });
});

describe("train(): progress and live plot", function () {
  this.timeout(60_000);
  const SINK = Symbol.for("tsdl.displaySink");
  type Msg = { kind: "display" | "update"; id?: string; bundle: Record<string, unknown> };
  let msgs: Msg[];
  before(async () => {
    await backend.init("cpu", { verbose: false });
  });
  beforeEach(() => {
    msgs = [];
    (globalThis as Record<symbol, unknown>)[SINK] = {
      display: (bundle: Record<string, unknown>, _m: unknown, id?: string) => msgs.push({ kind: "display", id, bundle }),
      update: (bundle: Record<string, unknown>, _m: unknown, id: string) => msgs.push({ kind: "update", id, bundle }),
    };
  });
  afterEach(() => {
    delete (globalThis as Record<symbol, unknown>)[SINK];
  });

  function run(opts: Parameters<typeof train>[6], epochs = 3): Promise<History> {
    const net = tinyNet();
    const loader = new data.DataLoader(new TinyImages(24), { batchSize: 4 });
    return train(net, loader, null, epochs, new optim.SGD(net, { lr: 0.05 }), new nn.CrossEntropyLoss(), {
      verbose: false,
      ...opts,
    }).finally(() => net.dispose());
  }

  it("in a notebook: one progress output, updated in place (HTML <progress> + text)", async () => {
    await run({ progress: "auto", progressInterval: 0 });
    const displays = msgs.filter((m) => m.kind === "display");
    assert.equal(displays.length, 1);
    const updates = msgs.filter((m) => m.kind === "update");
    assert.ok(updates.length >= 3, `${updates.length} updates`);
    assert.ok(updates.every((u) => u.id === displays[0].id));
    // shown before the first batch, then filled as batches run
    assert.match(String(displays[0].bundle["text/html"]), /<progress value="0" max="6"/);
    assert.ok(updates.some((u) => /<progress value="1" max="6"/.test(String(u.bundle["text/html"]))));
    assert.match(String(updates[updates.length - 1].bundle["text/plain"]), /^Epoch 3\/3 done in 00:00:\d\d$/);
  });

  it("in a terminal: one line rewritten with \\r and cleared before each epoch line; silent in a pipe", async () => {
    delete (globalThis as Record<symbol, unknown>)[SINK];
    const writes: string[] = [];
    const lines: string[] = [];
    await run(
      {
        progress: true,
        progressOut: { isTTY: true, columns: 200, write: (s: string) => writes.push(s) },
        verbose: true,
        log: (l) => lines.push(`${writes.length}:${l}`),
      },
      2,
    );
    assert.ok(writes.length >= 3);
    assert.ok(
      writes.every((w) => w.startsWith("\r\x1b[2K")),
      "every write rewrites the same line",
    );
    assert.ok(writes.some((w) => /Epoch 1\/2  \[#+\.*\] \d\/6  loss \d\.\d{4}  acc \d\.\d{4}/.test(w)));
    // each epoch line is printed right after a clearing write
    for (const l of lines) assert.equal(writes[Number(l.split(":")[0]) - 1], "\r\x1b[2K");
    const pipe: string[] = [];
    await run({ progressOut: { isTTY: false, write: (s: string) => pipe.push(s) } }, 1);
    assert.deepEqual(pipe, []);
  });

  it("the progress bar redraws at most once per minInterval, except when forced", () => {
    const writes: string[] = [];
    const bar = new ProgressBar("terminal", { isTTY: true, write: (s: string) => writes.push(s) }, 3600);
    const state = (batch: number) => ({ label: "Epoch 1/1", batch, batches: 10, elapsed: batch });
    for (let i = 1; i <= 5; i++) bar.update(state(i));
    assert.equal(writes.length, 1, "one draw within the interval");
    assert.match(writes[0], /1\/10/);
    bar.update(state(6), true);
    assert.equal(writes.length, 2);
    assert.match(writes[1], /6\/10/);
    assert.equal(bar.draws, 2);
  });

  it("draws a live loss curve in one output, redrawn each epoch", async () => {
    await run({ plot: true, progress: false }, 3);
    const displays = msgs.filter((m) => m.kind === "display");
    assert.equal(displays.length, 1, "one output");
    // put there before the first epoch (so the epoch lines stay together below it), drawn after each epoch
    assert.match(String(displays[0].bundle["text/plain"]), /^live chart: drawn after the first epoch$/);
    const draws = msgs.filter((m) => m.kind === "update" && m.id === displays[0].id);
    assert.equal(draws.length, 3);
    assert.ok(draws.every((d) => "application/vnd.vegalite.v5+json" in d.bundle && "image/svg+xml" in d.bundle));
    // any object with update(history): offered the History after each of the 6 batches and after each epoch,
    // forced only after the last one
    const seen: string[] = [];
    await run(
      {
        plot: {
          update: (h: History, o?: { force?: boolean }) => void seen.push(`${h.epochs.length}/${h.batches.length}${o?.force ? "!" : ""}`),
        },
        progress: false,
      },
      2,
    );
    assert.deepEqual(seen, ["0/1", "0/2", "0/3", "0/4", "0/5", "0/6", "1/6", "1/7", "1/8", "1/9", "1/10", "1/11", "1/12", "2/12!"]);
  });

  it("a live plot with every: 3 redraws after epochs 1 and 4, and once more after the last (5), not every epoch", async () => {
    const drawn: number[] = [];
    const view = plot.live((h) => (drawn.push(h.epochs.length), plot.lossCurve(h)), { every: 3 });
    await run({ plot: view, progress: false }, 5);
    assert.deepEqual(drawn, [1, 4, 5]);
    assert.equal(view.redraws, 3);
    assert.equal(msgs.filter((m) => m.kind === "display").length, 1);
  });
});
