// What long operations show in a notebook while they run, and what their results look like as a cell's value:
// train() (bar, live chart, epoch lines in that order; validation progress; a finished or stopped bar that is
// still), evaluate() and lrFinder() (progress, the lr finder's live chart), and History / lr finder results as
// summaries with their data one property away. The kernel's display sink is replaced by a recorder.
import assert from "node:assert/strict";
import * as util from "node:util";
import { backend, data, evaluate, lrFinder, nn, optim, tf, train, type History } from "tsdl";
import { resultBundle } from "tsdl/dist/display";

const SINK = Symbol.for("tsdl.displaySink");
type Msg = { kind: "display" | "update" | "log"; id?: string; bundle: Record<string, unknown> };
const text = (m: Msg) => String(m.bundle["text/plain"]);
const html = (m: Msg) => String(m.bundle["text/html"] ?? "");

/** 8x8x3 images whose class shows in the pixels (3 classes). */
class TinyImages implements data.Dataset<data.Sample<data.FloatImage>> {
  constructor(readonly length: number) {}
  get(i: number): data.Sample<data.FloatImage> {
    const label = (i * 7 + 1) % 3;
    const px = new Float32Array(8 * 8 * 3);
    for (let k = 0; k < px.length; k++) px[k] = Math.sin(k * 0.37 + i * 1.3) * 0.5 + (k % 3 === label ? 0.8 : 0);
    return [new data.FloatImage(px, 8, 8, 3), label];
  }
}

function tinyNet(): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 3] });
  const flat = tf.layers.flatten().apply(input) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }).apply(flat) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

/** The same batches as a plain iterable with no length (the bar cannot know how many there are). */
function noLength(
  loader: data.DataLoader<data.FloatImage>,
): Iterable<{ x: tf.Tensor; y: tf.Tensor }> & AsyncIterable<{ x: tf.Tensor; y: tf.Tensor }> {
  return { [Symbol.asyncIterator]: () => loader[Symbol.asyncIterator]() } as never;
}

describe("progress and results in a notebook", function () {
  this.timeout(120_000);
  let msgs: Msg[];
  const g = globalThis as Record<symbol, unknown>;
  before(async () => {
    await backend.init("cpu", { verbose: false });
  });
  beforeEach(() => {
    msgs = [];
    g[SINK] = {
      display: (bundle: Record<string, unknown>, _m: unknown, id?: string) => msgs.push({ kind: "display", id, bundle }),
      update: (bundle: Record<string, unknown>, _m: unknown, id: string) => msgs.push({ kind: "update", id, bundle }),
    };
  });
  afterEach(() => {
    delete g[SINK];
  });
  const loader = (n = 24, batchSize = 4) => new data.DataLoader(new TinyImages(n), { batchSize });
  const log = (line: string) => void msgs.push({ kind: "log", bundle: { "text/plain": line } });

  it("train(..., { plot: true }): the bar and the chart come first, then the epoch lines together (only updates between them)", async () => {
    const net = tinyNet();
    await train(net, loader(), loader(8), 3, new optim.SGD(net, { lr: 0.05 }), new nn.CrossEntropyLoss(), {
      plot: true,
      log,
      progressInterval: 0,
    });
    const firstLine = msgs.findIndex((m) => m.kind === "log");
    const lastLine = msgs.map((m) => m.kind).lastIndexOf("log");
    assert.ok(firstLine > 0);
    const displays = msgs.filter((m) => m.kind === "display");
    assert.equal(displays.length, 2, "two outputs: the bar and the chart");
    assert.ok(
      msgs.slice(firstLine).every((m) => m.kind !== "display"),
      "no output is added once the epoch lines started",
    );
    assert.match(html(displays[0]), /<progress /);
    assert.match(text(displays[1]), /^live chart: drawn after the first epoch$/);
    assert.deepEqual(
      msgs.filter((m) => m.kind === "log").map((m) => text(m).slice(0, 8)),
      ["Epoch 0.", "Epoch 1.", "Epoch 2."],
    );
    assert.ok(msgs.slice(firstLine, lastLine).every((m) => m.kind !== "display"));
    net.dispose();
  });

  it("train(): validation shows its own batches; a bar with no known length is determinate from epoch 2 and complete when done", async () => {
    const net = tinyNet();
    await train(net, noLength(loader()), loader(8), 2, new optim.SGD(net, { lr: 0.05 }), new nn.CrossEntropyLoss(), {
      log,
      progressInterval: 0,
    });
    const bar = msgs.filter((m) => m.kind !== "log");
    const texts = bar.map(text);
    assert.ok(
      texts.some((t) => /^Epoch 1\/2  batch 3  loss/.test(t)),
      "epoch 1: batches counted, no total",
    );
    assert.ok(
      bar.some((m) => /^Epoch 1\/2  batch/.test(text(m)) && /<progress  style/.test(html(m))),
      "epoch 1: indeterminate while it runs",
    );
    assert.ok(
      texts.some((t) => /^Epoch 1\/2 valid  \[#+\.*\] 1\/2  loss \d\.\d{4}  acc \d\.\d{4}/.test(t)),
      "validation: its own batches, 1 of 2",
    );
    assert.ok(
      bar.some((m) => /^Epoch 2\/2  \[#+\.*\] 3\/6/.test(text(m)) && /<progress value="3" max="6"/.test(html(m))),
      "epoch 2: 6 batches expected",
    );
    const last = bar[bar.length - 1];
    assert.match(text(last), /^Epoch 2\/2 done in 00:00:\d\d$/);
    assert.match(html(last), /<progress value="1" max="1"/);
    net.dispose();
  });

  it("train(): a run that stops on an error leaves a still bar that says so", async () => {
    const net = tinyNet();
    let calls = 0;
    const ce = new nn.CrossEntropyLoss();
    const blowsUp = (out: tf.Tensor, y: tf.Tensor) => (++calls === 5 ? tf.mul(ce(out, y), NaN) : ce(out, y));
    await assert.rejects(
      train(net, noLength(loader()), null, 2, new optim.SGD(net, { lr: 0.05 }), blowsUp, { log, progressInterval: 0 }),
      /the loss is NaN/,
    );
    const last = msgs.filter((m) => m.kind === "update").pop()!;
    assert.match(text(last), /^Epoch 1\/2  batch 4  loss \d\.\d{4}  acc \d\.\d{4}  [\d.]+ img\/s  stopped after 00:00:\d\d$/);
    assert.match(html(last), /<progress value="0" max="1"/, "not an animated bar");
    net.dispose();
  });

  it("evaluate(): a bar of its batches, ending complete with the loss and accuracy", async () => {
    const net = tinyNet();
    const r = await evaluate(net, loader(24, 4), new nn.CrossEntropyLoss(), { progressInterval: 0 });
    assert.equal(msgs.filter((m) => m.kind === "display").length, 1);
    const last = msgs[msgs.length - 1];
    assert.equal(text(last), `evaluate done in 00:00:00: loss ${r.loss.toFixed(4)}, acc ${r.acc!.toFixed(4)}, 6 batches`);
    assert.match(html(last), /<progress value="1" max="1"/);
    assert.ok(msgs.some((m) => /^evaluate  \[#+\.*\] 3\/6  loss \d\.\d{4}  acc \d\.\d{4}/.test(text(m))));
    const quiet = msgs.length;
    await evaluate(net, loader(24, 4), new nn.CrossEntropyLoss(), { progress: false });
    assert.equal(msgs.length, quiet);
    net.dispose();
  });

  it("lrFinder(): a bar with the lr and loss, a live chart drawn in place, and the suggestion drawn at the end", async () => {
    const net = tinyNet();
    const r = await lrFinder(net, loader(16, 4), new optim.SGD(net, { lr: 0.1 }), {
      startLr: 1e-4,
      endLr: 1,
      steps: 8,
      plotSeconds: 0,
      divergeFactor: Infinity,
      progressInterval: 0,
    });
    const displays = msgs.filter((m) => m.kind === "display");
    assert.equal(displays.length, 2, "the bar and the chart");
    const [barId, chartId] = displays.map((d) => d.id);
    const bar = msgs.filter((m) => m.id === barId);
    assert.ok(
      bar.some((m) => /^lr finder  \[#+\.*\] 4\/8  lr 5\.18e-3  loss \d\.\d{4}  ETA/.test(text(m))),
      bar.map(text).join("\n"),
    );
    assert.match(
      text(bar[bar.length - 1]),
      /^lr finder done in 00:00:\d\d: 8 of 8 steps, suggested lr [\d.e-]+; weights, optimizer and data restored$/,
    );
    const chart = msgs.filter((m) => m.id === chartId && m.kind === "update");
    assert.equal(chart.length, 9, "drawn after each of the 8 steps (plotSeconds: 0) and once more with the suggestion");
    assert.ok(chart.every((m) => "application/vnd.vegalite.v5+json" in m.bundle));
    // while running: the curve so far, no suggestion; at the end: all 8 lrs and the suggested one marked
    assert.match(text(chart[3]), /^lr finder: 4 lrs from 1e-4 to 0\.00518, lowest loss/);
    const spec = (m: Msg) =>
      m.bundle["application/vnd.vegalite.v5+json"] as { datasets: { finder: unknown[]; suggestion: Array<{ lr: number }> } };
    assert.deepEqual([spec(chart[3]).datasets.finder.length, spec(chart[3]).datasets.suggestion.length], [4, 0]);
    assert.match(text(chart[8]), /^lr finder: 8 lrs from 1e-4 to 1, suggested lr /);
    assert.deepEqual(
      spec(chart[8]).datasets.suggestion.map((p) => p.lr),
      [r.suggestedLr],
    );
    net.dispose();
  });

  it("an lr finder result shows as a summary, its data one property away (and JSON unchanged)", async () => {
    const net = tinyNet();
    const r = await lrFinder(net, loader(16, 4), new optim.SGD(net, { lr: 0.1 }), {
      startLr: 1e-4,
      endLr: 1,
      steps: 8,
      progress: false,
      plot: false,
    });
    assert.equal(msgs.length, 0, "progress: false, plot: false show nothing");
    const b = resultBundle(r);
    assert.match(
      String(b["text/plain"]),
      /^LrFinderResult: suggested lr [\d.e-]+ \(valley\); 8 of 8 lrs from 1e-4 to 1; lowest loss \d\.\d{4} at lr [\d.e-]+; data in \.lrs and \.losses$/,
    );
    assert.match(String(b["text/html"]), /<table>.*suggested lr.*result\.lrs, result\.losses/s);
    assert.equal(util.inspect(r), b["text/plain"]);
    assert.equal(r.lrs.length, 8);
    assert.deepEqual(Object.keys(r), ["lrs", "losses", "suggestedLr"]);
    assert.deepEqual(JSON.parse(JSON.stringify(r)), { lrs: r.lrs, losses: r.losses, suggestedLr: r.suggestedLr });
    net.dispose();
  });

  it("a History shows as a summary and a table of epochs, not its batch records", async () => {
    const net = tinyNet();
    const h: History = await train(net, loader(), loader(8), 3, new optim.SGD(net, { lr: 0.05 }), new nn.CrossEntropyLoss(), {
      progress: false,
      verbose: false,
    });
    const b = resultBundle(h);
    const last = h.epochs[2];
    assert.equal(
      b["text/plain"],
      `History: 3 epochs, 18 batches; epoch 2: train loss ${last.trainLoss.toFixed(4)}, train acc ${last.trainAcc!.toFixed(4)}, valid loss ${last.validLoss!.toFixed(4)}, valid acc ${last.validAcc!.toFixed(4)}, lr 0.05; data in .epochs and .batches`,
    );
    assert.equal((String(b["text/html"]).match(/<tr>/g) ?? []).length, 4, "a header and one row per epoch");
    assert.equal(util.inspect(h), b["text/plain"]);
    assert.deepEqual(Object.keys(h), ["epochs", "batches"]);
    assert.equal(h.batches.length, 18);
    net.dispose();
  });
});

describe("a schedule preview as a value", () => {
  it("shows as one line per group, its numbers in .lr and .momentum", async () => {
    const { lrScheduler, optim, tf } = await import("tsdl");
    const w = tf.variable(tf.zeros([1]));
    const opt = new optim.SGD([w], { lr: 0.1, momentum: 0.9 });
    const p = lrScheduler.preview((o) => lrScheduler.oneCycleLR(o, { maxLr: 0.1, totalSteps: 100 }), 100, { optimizer: opt });
    const text = String(resultBundle(p)["text/plain"]);
    assert.match(
      text,
      /^OneCycleLR\(maxLr=\[0\.1\], totalSteps=100.*\), 100 steps: lr 0\.004 → 4e-7 \(min 4e-7, max 0\.1\); momentum 0\.95 → 0\.95 \(min 0\.85, max 0\.95\); data in \.lr\[group\]\[step\] and \.momentum; plot\.lrSchedule\(preview\) draws it$/,
    );
    assert.equal(util.inspect(p), text);
    assert.equal(p.lr[0].length, 100);
    assert.deepEqual(Object.keys(p), ["lr", "momentum", "name"]);
    w.dispose();
  });
});
