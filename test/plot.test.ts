// plot: every helper's spec compiles with vega-lite and renders to SVG in Node; the tests parse that SVG
// and count what was drawn (points, line vertices, rules, texts), read axis titles and legend entries, and
// check input errors. Inputs come from real PyTorch runs (test/goldens/plot_goldens.py -> test/fixtures/plot.json).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as util from "node:util";
import { lrScheduler, plot } from "tsdl";
import type { History, LrFinderResult } from "tsdl";

interface Fixture {
  torch: string;
  history_multistep: History;
  onecycle: { lr: number[][]; momentum: number[][]; name: string };
  multistep_preview: { lr: number[][]; name: string };
  runs_wd: Record<string, History>;
  lr_finder: LrFinderResult;
}
const F: Fixture = JSON.parse(fs.readFileSync(path.join(__dirname, "fixtures", "plot.json"), "utf8"));
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v));

// ---- a small SVG reader (vega's SVG string output is well-formed XML) ----
interface El {
  tag: string;
  attrs: Record<string, string>;
  children: El[];
  text: string;
}
function parseSvg(svg: string): El {
  const root: El = { tag: "#root", attrs: {}, children: [], text: "" };
  const stack: El[] = [root];
  const re = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"]*")*)\s*(\/?)>|([^<]+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(svg))) {
    const top = stack[stack.length - 1];
    if (m[5] !== undefined) {
      top.text += m[5]
        .replace(/&lt;/g, "<")
        .replace(/&gt;/g, ">")
        .replace(/&quot;/g, '"')
        .replace(/&amp;/g, "&");
      continue;
    }
    if (m[1]) {
      assert.equal(stack.pop()!.tag, m[2], "unbalanced SVG");
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const a of m[3].matchAll(/([\w:-]+)="([^"]*)"/g)) attrs[a[1]] = a[2];
    const el: El = { tag: m[2], attrs, children: [], text: "" };
    top.children.push(el);
    if (!m[4]) stack.push(el);
  }
  assert.equal(stack.length, 1, "unclosed SVG elements");
  return root;
}
function all(el: El, pred: (e: El) => boolean, out: El[] = []): El[] {
  for (const c of el.children) {
    if (pred(c)) out.push(c);
    all(c, pred, out);
  }
  return out;
}
const hasClass = (e: El, ...cls: string[]) => cls.every((c) => (e.attrs.class ?? "").split(/\s+/).includes(c));

/** What a rendered chart shows, read back from its SVG. */
class Drawn {
  readonly root: El;
  constructor(readonly svg: string) {
    this.root = parseSvg(svg);
  }
  /** The drawn items (paths, lines, texts) of the vega-lite layer named `name`. */
  items(name: string): El[] {
    return all(this.root, (e) => e.tag === "g" && hasClass(e, "role-mark", `${name}_marks`)).flatMap((g) => g.children);
  }
  /** Vertices of each line item of layer `name` (one entry per drawn line). */
  lineVertices(name: string): number[] {
    return this.items(name).map((p) => (p.attrs.d.match(/[ML]/g) ?? []).length);
  }
  texts(role: string, within: El = this.root): string[] {
    return all(within, (e) => e.tag === "g" && hasClass(e, role))
      .flatMap((g) => all(g, (c) => c.tag === "text" || c.tag === "tspan").map((t) => t.text))
      .filter((t) => t !== "");
  }
  /** Tick labels of the axes whose description starts with "X-axis" or "Y-axis". */
  tickLabels(axis: "X" | "Y"): string[] {
    return all(this.root, (e) => hasClass(e, "role-axis") && (e.attrs["aria-label"] ?? "").startsWith(`${axis}-axis`)).flatMap((g) =>
      this.texts("role-axis-label", g),
    );
  }
  get axisTitles(): string[] {
    return this.texts("role-axis-title");
  }
  get legendLabels(): string[] {
    return this.texts("role-legend-label");
  }
  get legendTitles(): string[] {
    return this.texts("role-legend-title");
  }
  get subtitle(): string[] {
    return this.texts("role-title-subtitle");
  }
}
/** x of an item's translate(x,y). */
const tx = (e: El) => Number(/translate\(([-\d.e]+),/.exec(e.attrs.transform)![1]);
const label = (e: El) => e.attrs["aria-label"] ?? "";

describe("plot: rendering and the display bundle", function () {
  // vega numbers clip paths from a process-wide counter (unique ids when several SVGs share a page).
  const sameClipIds = (svg: string) => {
    const ids = new Map<string, string>();
    return svg.replace(/\bclip\d+\b/g, (id) => ids.get(id) ?? (ids.set(id, `clip#${ids.size}`), ids.get(id)!));
  };

  it("renders SVG synchronously, byte for byte what vega's async View.toSVG() gives (up to clip-path ids)", async () => {
    const plots = [
      plot.lossCurve(F.history_multistep, { batches: true }),
      plot.lrSchedule(F.onecycle),
      plot.compare(F.runs_wd),
      plot.lrFinder(F.lr_finder),
    ];
    for (const p of plots) {
      const sync = p.toSVG();
      assert.match(sync, /^<svg /);
      assert.equal(sameClipIds(sync), sameClipIds(await p.toSVGAsync()), p.summary);
    }
  });

  it("compiles every spec with vega-lite without a warning", () => {
    const plots = [
      plot.lossCurve(F.history_multistep, { batches: true, logY: true }),
      plot.lrSchedule(F.onecycle, { logY: true }),
      plot.lrSchedule(F.multistep_preview),
      plot.compare(F.runs_wd, { metric: "accuracy" }),
      plot.lrFinder(F.lr_finder),
    ];
    for (const p of plots) assert.deepEqual(plot.compile(p.spec).warnings, [], p.summary);
  });

  it("displays as one bundle with the vega-lite spec, the SVG and a text summary", () => {
    const p = plot.lossCurve(F.history_multistep);
    const b = (p as unknown as Record<symbol, () => Record<string, unknown>>)[Symbol.for("Jupyter.display")]();
    assert.deepEqual(Object.keys(b).sort(), ["application/vnd.vegalite.v5+json", "image/svg+xml", "text/plain"]);
    const spec = b["application/vnd.vegalite.v5+json"] as Record<string, unknown>;
    assert.equal(spec.$schema, "https://vega.github.io/schema/vega-lite/v5.json");
    assert.deepEqual(JSON.parse(JSON.stringify(spec)), spec, "the spec is plain JSON");
    assert.equal(b["image/svg+xml"], p.toSVG());
    assert.equal(b["text/plain"], p.summary);
    assert.equal(String(p), p.summary);
  });

  it("follows a restyled spec (the SVG is not stale)", () => {
    const p = plot.lossCurve(F.history_multistep);
    assert.deepEqual(new Drawn(p.toSVG()).texts("role-title-text"), ["loss"]);
    (p.spec.title as { text: string }).text = "lr decay at epoch 20";
    assert.deepEqual(new Drawn(p.toSVG()).texts("role-title-text"), ["lr decay at epoch 20"]);
  });

  it("sizes panels by width/height and rejects bad sizes and titles", () => {
    const d = new Drawn(plot.lossCurve(F.history_multistep, { width: 300, height: 150, accuracy: false }).toSVG());
    const panel = all(d.root, (e) => e.tag === "path" && hasClass(e, "background") && /^M0\.5,0\.5h/.test(e.attrs.d));
    assert.deepEqual(
      panel.map((e) => e.attrs.d),
      ["M0.5,0.5h300v150h-300Z"],
    );
    assert.throws(() => plot.lossCurve(F.history_multistep, { width: -1 }), /lossCurve: width must be a positive number of pixels, got -1/);
    assert.throws(() => plot.lrFinder(F.lr_finder, { height: NaN }), /lrFinder: height must be a positive number of pixels, got NaN/);
    assert.throws(() => plot.compare(F.runs_wd, { title: 5 as never }), /compare: title must be a string, got 5/);
    assert.throws(() => plot.lrSchedule(F.onecycle, null as never), /lrSchedule: options must be an object, got null/);
  });

  it("saves .svg, .json and .html, and refuses other extensions", () => {
    const p = plot.lrFinder(F.lr_finder);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsdl-plot-"));
    try {
      assert.equal(fs.readFileSync(p.save(path.join(dir, "f.svg")), "utf8"), p.toSVG());
      assert.deepEqual(JSON.parse(fs.readFileSync(p.save(path.join(dir, "f.json")), "utf8")), p.spec);
      assert.ok(fs.readFileSync(p.save(path.join(dir, "f.html")), "utf8").includes(p.toSVG()));
      assert.throws(() => p.save(path.join(dir, "f.png")), /save\(\) writes \.svg, \.json or \.html files, got ".*f\.png"/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("plot.lossCurve", function () {
  const h = F.history_multistep; // PyTorch: SGD, 2 groups, MultiStepLR([20], 0.1), 30 epochs, 12 batches each
  const n = h.epochs.length;
  // Where PyTorch's lr changed: the first epoch whose lrs differ from the epoch before.
  const dropEpoch = h.epochs.find((r, i) => i > 0 && r.lr.some((v, g) => v !== h.epochs[i - 1].lr[g]))!.epoch;

  it("draws train and valid loss and accuracy per epoch, with axis titles and legend", () => {
    const d = new Drawn(plot.lossCurve(h).toSVG());
    assert.deepEqual(d.lineVertices("loss_lines"), [n, n]);
    assert.equal(d.items("loss_points").length, 2 * n);
    assert.deepEqual(d.lineVertices("accuracy_lines"), [n, n]);
    assert.equal(d.items("accuracy_points").length, 2 * n);
    assert.deepEqual(d.axisTitles, ["epoch", "loss", "epoch", "accuracy"]);
    assert.deepEqual(d.legendLabels, ["train", "valid"]);
    for (const panel of ["loss_lines", "accuracy_lines"])
      assert.deepEqual(
        d.items(panel).map((e) => [/split: (\w+)/.exec(label(e))![1], e.attrs.stroke]),
        [
          ["train", "#1f77b4"],
          ["valid", "#ff7f0e"],
        ],
        "matplotlib's C0, C1",
      );
    assert.deepEqual(d.subtitle, []);
  });

  it("marks the lr drop with one rule between the last epoch at the old lr and the first at the new", () => {
    assert.equal(dropEpoch, 20);
    const d = new Drawn(plot.lossCurve(h, { accuracy: false }).toSVG());
    const rules = d.items("loss_lr_rules");
    assert.equal(rules.length, 1);
    const pointX = (epoch: number) => tx(d.items("loss_points").find((p) => label(p).startsWith(`epoch: ${epoch};`))!);
    assert.ok(Math.abs(tx(rules[0]) - (pointX(dropEpoch - 1) + pointX(dropEpoch)) / 2) < 0.01);
    // Both groups were multiplied by PyTorch's gamma = 0.1.
    assert.deepEqual(
      d.items("lr_labels").map((t) => t.text),
      ["lr ×0.1"],
    );
    assert.deepEqual(d.axisTitles, ["epoch", "loss"]);
  });

  it("labels a single group's drop with both lrs", () => {
    const one = clone(h);
    for (const r of one.epochs) r.lr = [r.lr[0]];
    const d = new Drawn(plot.lossCurve(one).toSVG());
    assert.deepEqual(
      d.items("lr_labels").map((t) => t.text),
      ["lr 0.1 → 0.01"],
    );
    assert.equal(d.items("accuracy_lr_rules").length, 1, "the accuracy panel gets the rule too");
  });

  it("summarizes the final losses in text/plain", () => {
    const last = h.epochs[n - 1];
    const s = plot.lossCurve(h).summary;
    assert.ok(s.includes(`final train loss ${last.trainLoss.toFixed(4)}`), s);
    assert.ok(s.includes(`valid loss ${(last.validLoss as number).toFixed(4)}`), s);
    assert.ok(s.includes(`lr changed at epoch ${dropEpoch}`), s);
  });

  it("draws every batch's loss, each epoch's batches centred on its epoch", () => {
    const d = new Drawn(plot.lossCurve(h, { batches: true }).toSVG());
    assert.deepEqual(d.lineVertices("batch_loss"), [h.batches.length]);
    assert.deepEqual(d.legendLabels, ["train", "valid", "train (batch)"]);
    const xs = d
      .items("batch_loss")[0]
      .attrs.d.split(/[ML]/)
      .filter(Boolean)
      .map((p) => Number(p.split(",")[0]));
    const pointX = (epoch: number) => tx(d.items("loss_points").find((p) => label(p).startsWith(`epoch: ${epoch};`))!);
    const perEpoch = h.batches.length / n;
    for (const e of [0, 13, n - 1]) {
      const mine = xs.slice(e * perEpoch, (e + 1) * perEpoch);
      const mid = (mine[perEpoch / 2 - 1] + mine[perEpoch / 2]) / 2;
      assert.ok(Math.abs(mid - pointX(e)) < 0.01, `epoch ${e}: batches centred at ${mid}, point at ${pointX(e)}`);
    }
  });

  it("uses a log loss axis on request", () => {
    const lin = new Drawn(plot.lossCurve(h, { accuracy: false }).toSVG());
    const log = new Drawn(plot.lossCurve(h, { accuracy: false, logY: true }).toSVG());
    assert.deepEqual(log.axisTitles, ["epoch", "loss (log)"]);
    assert.equal(log.items("loss_points").length, 2 * n);
    assert.notDeepEqual(log.tickLabels("Y"), lin.tickLabels("Y"));
  });

  it("drops non-finite values with a note in the chart and in text/plain", () => {
    const bad = clone(h);
    bad.epochs[7].validLoss = NaN;
    bad.epochs[8].trainLoss = Infinity;
    const p = plot.lossCurve(bad, { accuracy: false });
    const d = new Drawn(p.toSVG());
    assert.equal(d.items("loss_points").length, 2 * n - 2);
    assert.deepEqual(d.lineVertices("loss_lines").sort(), [n - 1, n - 1]);
    assert.deepEqual(d.subtitle, [
      "note: dropped 1 non-finite valid loss value: epoch 7 (NaN)",
      "note: dropped 1 non-finite train loss value: epoch 8 (Infinity)",
    ]);
    assert.deepEqual(
      p.notes,
      d.subtitle.map((s) => s.replace(/^note: /, "")),
    );
    assert.ok(String(p).includes("epoch 7 (NaN)") && String(p).includes("epoch 8 (Infinity)"));
    assert.ok(Number.isNaN(bad.epochs[7].validLoss as number), "the input is not modified");
  });

  it("omits rules when the lr changes every epoch, unless asked, and says so", () => {
    const decay = clone(h);
    decay.epochs.forEach((r) => (r.lr = [0.1 * 0.9 ** r.epoch]));
    const auto = plot.lossCurve(decay, { accuracy: false });
    assert.equal(new Drawn(auto.toSVG()).items("loss_lr_rules").length, 0);
    assert.match(auto.notes.join(), new RegExp(`the lr changed at ${n - 1} epochs; rules omitted`));
    assert.equal(new Drawn(plot.lossCurve(decay, { accuracy: false, lrRules: true }).toSVG()).items("loss_lr_rules").length, n - 1);
    assert.equal(new Drawn(plot.lossCurve(h, { accuracy: false, lrRules: false }).toSVG()).items("loss_lr_rules").length, 0);
  });

  it("draws a run without validation or accuracy as one train curve", () => {
    const train = { epochs: h.epochs.map((r) => ({ epoch: r.epoch, trainLoss: r.trainLoss, lr: r.lr, seconds: 0 })), batches: [] };
    const d = new Drawn(plot.lossCurve(train).toSVG());
    assert.deepEqual(d.lineVertices("loss_lines"), [n]);
    assert.deepEqual(d.legendLabels, ["train"]);
    assert.deepEqual(d.axisTitles, ["epoch", "loss"]);
  });

  it("rejects empty and inconsistent histories with errors that name the problem", () => {
    assert.throws(() => plot.lossCurve({ epochs: [], batches: [] }), {
      name: "PlotInputError",
      message: /lossCurve: the history is empty/,
    });
    assert.throws(() => plot.lossCurve(undefined as unknown as History), /history must be a History .*got undefined/);
    assert.throws(
      () => plot.lossCurve({ epochs: h.epochs } as History, { batches: true }),
      /batches: true needs per-batch records, but history.batches is empty/,
    );
    const groups = clone(h);
    groups.epochs[5].lr = [0.1];
    assert.throws(() => plot.lossCurve(groups), /history.epochs\[5\].lr has 1 param groups but history.epochs\[0\].lr has 2/);
    const dup = clone(h);
    dup.epochs[4].epoch = 3;
    assert.throws(() => plot.lossCurve(dup), /history has epoch 3 twice \(epochs\[3\] and epochs\[4\]\)/);
    const str = clone(h) as unknown as { epochs: Array<Record<string, unknown>> };
    str.epochs[2].trainLoss = "0.5";
    assert.throws(() => plot.lossCurve(str as unknown as History), /history.epochs\[2\].trainLoss must be a number, got "0.5"/);
    assert.throws(() => plot.lossCurve(h, { logY: "yes" as unknown as boolean }), /logY must be true or false, got "yes"/);
    assert.throws(() => plot.lossCurve(h, { lrRules: 1 as unknown as boolean }), /lrRules must be true, false or "auto", got 1/);
    const nan = clone(h);
    nan.epochs.forEach((r) => ((r.trainLoss = NaN), (r.validLoss = NaN)));
    assert.throws(() => plot.lossCurve(nan), /no finite loss to plot \(dropped 30 non-finite train loss values: epoch 0 \(NaN\)/);
  });
});

describe("plot.lrSchedule", function () {
  it("draws PyTorch's OneCycleLR lr and cycled momentum per group, with a group legend", () => {
    const p = plot.lrSchedule(F.onecycle);
    const d = new Drawn(p.toSVG());
    const steps = F.onecycle.lr[0].length;
    assert.deepEqual(d.lineVertices("lr_panel"), [steps, steps]);
    assert.deepEqual(d.lineVertices("momentum_panel"), [steps, steps]);
    assert.deepEqual(d.axisTitles, ["step", "lr", "step", "momentum"]);
    assert.deepEqual(d.legendLabels, ["group 0", "group 1"]);
    assert.deepEqual(
      d.items("lr_panel").map((e) => e.attrs.stroke),
      ["#1f77b4", "#ff7f0e"],
      "matplotlib's C0, C1 by group",
    );
    assert.deepEqual(d.texts("role-title-text"), ["OneCycleLR"]);
    const max0 = Math.max(...F.onecycle.lr[0]);
    assert.ok(p.summary.includes(`max ${Number(max0.toPrecision(3))}`), p.summary);
  });

  it("draws a per-epoch MultiStepLR as steps, one group without legend, no momentum panel", () => {
    const p = plot.lrSchedule(F.multistep_preview, { xTitle: "epoch" });
    const d = new Drawn(p.toSVG());
    assert.equal(d.items("lr_panel").length, 1);
    assert.equal(d.items("momentum_panel").length, 0);
    assert.deepEqual(d.axisTitles, ["epoch", "lr"]);
    assert.equal(Number(d.tickLabels("Y")[0]), 0, "a linear lr axis starts at 0");
    assert.deepEqual(d.legendLabels, []);
    assert.deepEqual(
      d.items("lr_panel").map((e) => e.attrs.stroke),
      ["#1f77b4"],
      "matplotlib's C0",
    );
    // step-after: the only vertical segment is the drop, at the x of epoch 20 (PyTorch's milestone)
    const pts = d
      .items("lr_panel")[0]
      .attrs.d.split(/[ML]/)
      .filter(Boolean)
      .map((p) => p.split(",").map(Number));
    const vertical = pts.slice(1).filter((p, i) => p[0] === pts[i][0] && p[1] !== pts[i][1]);
    assert.equal(vertical.length, 1);
    const drop = F.multistep_preview.lr[0].findIndex((v, i) => i > 0 && v !== F.multistep_preview.lr[0][i - 1]);
    assert.equal(drop, 20);
    const tick20 = all(d.root, (e) => hasClass(e, "role-axis-label")).flatMap((g) => g.children.filter((t) => t.text === "20"));
    assert.ok(Math.abs(vertical[0][0] - tx(tick20[0])) < 0.01, `drop at x=${vertical[0][0]}, tick 20 at ${tx(tick20[0])}`);
  });

  it("previews a scheduler without touching the optimizer, matching PyTorch", () => {
    const opt = {
      paramGroups: [
        { lr: 0.1, momentum: 0.9 },
        { lr: 0.1, momentum: 0.9 },
      ],
      defaults: { lr: 0.1, momentum: 0.9 },
    };
    const sched = lrScheduler.oneCycleLR(opt, { maxLr: [0.1, 0.01], totalSteps: 100 });
    const before = clone(opt.paramGroups);
    const p = plot.lrSchedule(sched, 100);
    assert.deepEqual(opt.paramGroups, before, "the optimizer's groups are unchanged");
    const rows = (p.spec.datasets as Record<string, Array<{ step: number; group: string; value: number }>>).lr;
    for (const r of rows) {
      const want = F.onecycle.lr[Number(r.group.slice(6))][r.step];
      assert.ok(Math.abs(r.value - want) <= 1e-12 * want, `${r.group} step ${r.step}: ${r.value} vs PyTorch ${want}`);
    }
    assert.equal(rows.length, 200);
    assert.equal(new Drawn(p.toSVG()).lineVertices("momentum_panel").length, 2);
    // and from a factory, on groups given by lr
    const f = plot.lrSchedule((o) => lrScheduler.multiStepLR(o, { milestones: [20], gamma: 0.1 }), 30, { lr: 0.1, xTitle: "epoch" });
    const fl = (f.spec.datasets as Record<string, Array<{ value: number }>>).lr.map((r) => r.value);
    fl.forEach((v, i) => assert.ok(Math.abs(v - F.multistep_preview.lr[0][i]) <= 1e-15, `epoch ${i}`));
  });

  it("rejects mismatched and malformed previews", () => {
    const short = clone(F.onecycle);
    short.lr[1].pop();
    assert.throws(() => plot.lrSchedule(short), /lr\[1\] has 99 steps but lr\[0\] has 100/);
    const mom = clone(F.onecycle);
    mom.momentum.pop();
    assert.throws(() => plot.lrSchedule(mom), /momentum has 1 param groups but lr has 2/);
    assert.throws(() => plot.lrSchedule({ lr: [] }), /lr must be an array with one array of values per param group/);
    assert.throws(() => plot.lrSchedule({ lr: [[]] }), /lr\[0\] is empty/);
    assert.throws(() => plot.lrSchedule(F.onecycle, 10 as never), /pass steps only with a scheduler/);
    const opt = { paramGroups: [{ lr: 0.1 }] };
    assert.throws(() => plot.lrSchedule(lrScheduler.stepLR(opt, { stepSize: 2 }) as never), /pass the number of steps to preview/);
    assert.throws(() => plot.lrSchedule(lrScheduler.stepLR(opt, { stepSize: 2 }), 0), /steps must be a positive integer, got 0/);
    assert.throws(() => plot.lrSchedule(42 as never), /expected a schedule preview .* got 42/);
  });

  it("drops non-finite lrs with a note", () => {
    const bad = clone(F.multistep_preview);
    bad.lr[0][3] = NaN;
    const p = plot.lrSchedule(bad);
    assert.deepEqual(p.notes, ["dropped 1 non-finite group 0 lr value: step 3 (NaN)"]);
    assert.equal(new Drawn(p.toSVG()).subtitle.length, 1);
  });
});

describe("plot.compare", function () {
  const names = Object.keys(F.runs_wd); // weightDecay 0 / 0.0001 / 0.001, from PyTorch
  const epochs = F.runs_wd[names[0]].epochs.length;

  it("overlays runs with a legend entry per run and per split", () => {
    const p = plot.compare(F.runs_wd);
    const d = new Drawn(p.toSVG());
    assert.deepEqual(d.lineVertices("runs"), Array(6).fill(epochs));
    assert.deepEqual(d.legendTitles, ["run", "split"]);
    assert.deepEqual(d.legendLabels, [...names, "train", "valid"]);
    const strokeOf = (run: string) =>
      new Set(
        d
          .items("runs")
          .filter((e) => label(e).includes(`run: ${run};`))
          .map((e) => e.attrs.stroke),
      );
    assert.deepEqual(
      names.map((r) => [...strokeOf(r)]),
      [["#1f77b4"], ["#ff7f0e"], ["#2ca02c"]],
      "one matplotlib colour per run, in the order given",
    );
    assert.deepEqual(d.axisTitles, ["epoch", "loss"]);
    for (const name of names) {
      const last = F.runs_wd[name].epochs[epochs - 1].validLoss as number;
      assert.ok(p.summary.includes(`${name} ${last.toFixed(4)}`), p.summary);
    }
    // the array form draws the same chart
    assert.equal(plot.compare(names.map((name) => ({ name, history: F.runs_wd[name] }))).toSVG(), p.toSVG());
  });

  it("compares one split of accuracy without a split legend", () => {
    const d = new Drawn(plot.compare(F.runs_wd, { metric: "accuracy", splits: ["valid"] }).toSVG());
    assert.deepEqual(d.lineVertices("runs"), Array(3).fill(epochs));
    assert.deepEqual(d.legendLabels, names);
    assert.deepEqual(d.axisTitles, ["epoch", "accuracy"]);
  });

  it("takes runs of different lengths", () => {
    const short = clone(F.runs_wd[names[0]]);
    short.epochs = short.epochs.slice(0, 5);
    const d = new Drawn(plot.compare({ short, long: F.runs_wd[names[1]] }).toSVG());
    assert.deepEqual(
      d.lineVertices("runs").sort((a, b) => a - b),
      [5, 5, epochs, epochs],
    );
  });

  it("rejects no runs, duplicate names, empty runs and unknown options", () => {
    assert.throws(() => plot.compare([]), /no runs to compare/);
    assert.throws(() => plot.compare({}), /no runs to compare/);
    const h = F.runs_wd[names[0]];
    assert.throws(
      () =>
        plot.compare([
          { name: "a", history: h },
          { name: "a", history: h },
        ]),
      /two runs are named "a"/,
    );
    assert.throws(() => plot.compare({ a: h, b: { epochs: [], batches: [] } }), /run "b" has an empty history/);
    assert.throws(() => plot.compare({ a: h }, { metric: "acc" as never }), /metric must be one of "loss", "accuracy", got "acc"/);
    assert.throws(() => plot.compare([{ history: h } as never]), /runs\[0\] must be \{ name: string, history: History \}/);
    const noAcc = { epochs: h.epochs.map((r) => ({ epoch: r.epoch, trainLoss: r.trainLoss, lr: r.lr, seconds: 0 })), batches: [] };
    assert.throws(() => plot.compare({ a: noAcc }, { metric: "accuracy" }), /no run recorded trainAcc or validAcc/);
  });
});

describe("plot.lrFinder", function () {
  const r = F.lr_finder; // PyTorch lr range test; suggestion by pytorch-lr-finder's steepest-gradient rule

  it("draws loss against lr on a log axis with the suggested lr marked", () => {
    const p = plot.lrFinder(r, { yMax: Infinity });
    const d = new Drawn(p.toSVG());
    assert.deepEqual(d.lineVertices("finder_line"), [r.lrs.length]);
    assert.deepEqual(d.axisTitles, ["learning rate (log)", "loss"]);
    assert.equal(d.items("suggestion_rule").length, 1);
    assert.equal(d.items("suggestion_point").length, 1);
    assert.deepEqual(
      d.items("suggestion_label").map((t) => t.text),
      [`suggested lr ${Number(r.suggestedLr.toPrecision(3))}`],
    );
    // the suggested lr is one PyTorch tried: the rule passes through that vertex of the curve
    const i = r.lrs.indexOf(r.suggestedLr);
    const vx = Number(d.items("finder_line")[0].attrs.d.split(/[ML]/).filter(Boolean)[i].split(",")[0]);
    assert.ok(Math.abs(tx(d.items("suggestion_rule")[0]) - vx) < 0.01);
    assert.deepEqual(p.notes, []);
  });

  it("cuts the loss axis above the divergence by default, and says so", () => {
    const p = plot.lrFinder(r);
    const top = Math.max(...r.losses.slice(0, r.losses.indexOf(Math.min(...r.losses)) + 1));
    assert.deepEqual(p.notes, [
      `loss axis cut at ${Number(top.toPrecision(3))} (the loss reaches ${Number(Math.max(...r.losses).toPrecision(3))}; yMax: Infinity shows all)`,
    ]);
    const d = new Drawn(p.toSVG());
    const yTicks = d.tickLabels("Y").map(Number);
    assert.ok(Math.max(...yTicks) <= top, `ticks ${yTicks} stay at or below ${top}`);
  });

  it("drops non-finite losses and non-positive lrs with notes; plots without a suggestion", () => {
    const bad = clone(r);
    bad.losses[bad.losses.length - 1] = Infinity;
    bad.lrs[0] = 0;
    bad.suggestedLr = NaN;
    const p = plot.lrFinder(bad, { yMax: Infinity });
    const d = new Drawn(p.toSVG());
    assert.deepEqual(d.lineVertices("finder_line"), [r.lrs.length - 2]);
    assert.equal(d.items("suggestion_rule").length, 0);
    assert.deepEqual(p.notes, [
      "dropped 1 not positive (log scale) lr value: point 0 (0)",
      `dropped 1 non-finite loss value: lr ${Number(r.lrs[r.lrs.length - 1].toPrecision(3))} (Infinity)`,
      "no suggested lr (suggestedLr is NaN)",
    ]);
  });

  it("rejects mismatched lengths, empty results and bad options", () => {
    assert.throws(
      () => plot.lrFinder({ ...r, losses: r.losses.slice(1) }),
      new RegExp(`result.lrs has ${r.lrs.length} values but result.losses has ${r.lrs.length - 1}`),
    );
    assert.throws(() => plot.lrFinder({ lrs: [], losses: [], suggestedLr: 1 }), /the result is empty/);
    assert.throws(() => plot.lrFinder(r, { skipEnd: -1 }), /skipEnd must be an integer >= 0, got -1/);
    assert.throws(() => plot.lrFinder(r, { skipStart: 50, skipEnd: 50 }), /leave none of the/);
    assert.throws(() => plot.lrFinder(null as never), /expected an LrFinderResult .* got null/);
  });
});

describe("plot.live", function () {
  const SINK = Symbol.for("tsdl.displaySink");
  type Call = { kind: "display" | "update"; bundle: Record<string, unknown>; id?: string };
  let calls: Call[] = [];
  const g = globalThis as unknown as Record<symbol, unknown>;
  beforeEach(() => {
    calls = [];
    g[SINK] = {
      display: (bundle: Record<string, unknown>, _m: unknown, id?: string) => calls.push({ kind: "display", bundle, id }),
      update: (bundle: Record<string, unknown>, _m: unknown, id: string) => calls.push({ kind: "update", bundle, id }),
    };
  });
  afterEach(() => {
    delete g[SINK];
  });
  const upTo = (k: number): History => ({
    epochs: F.history_multistep.epochs.slice(0, k),
    batches: F.history_multistep.batches.filter((b) => b.epoch < k),
  });

  it("redraws one display in place: 30 epochs -> 1 display and 29 updates of it", () => {
    const live = plot.live({ accuracy: false });
    assert.equal(live.update(upTo(0)), false, "nothing to draw before the first epoch");
    for (let k = 1; k <= 30; k++) assert.equal(live.update(upTo(k)), true);
    assert.equal(calls.length, 30);
    assert.equal(calls.filter((c) => c.kind === "display").length, 1);
    assert.ok(calls.every((c) => c.id === live.displayId && c.id !== undefined));
    for (const c of calls)
      assert.deepEqual(Object.keys(c.bundle).sort(), ["application/vnd.vegalite.v5+json", "image/svg+xml", "text/plain"]);
    const lastSvg = new Drawn(calls[29].bundle["image/svg+xml"] as string);
    assert.equal(lastSvg.items("loss_points").length, 60);
    assert.equal(live.redraws, 30);
  });

  it("a Plot prints as its summary, not its spec", () => {
    const p = plot.lossCurve(upTo(3));
    assert.equal(util.inspect(p), `Plot: ${p.summary}`);
    assert.match(util.inspect(p), /^Plot: loss curve: 3 epochs, final train loss \d\.\d{4}/);
  });

  it("prints as one line and displays as the chart last drawn (never the spec's data as text)", () => {
    const live = plot.live({ every: 5 });
    assert.equal(util.inspect(live), "LivePlot(every 5 epochs, 0 redraws): nothing drawn yet");
    assert.deepEqual((live as unknown as Record<symbol, () => Record<string, unknown>>)[Symbol.for("Jupyter.display")](), {
      "text/plain": "LivePlot(every 5 epochs, 0 redraws): nothing drawn yet",
    });
    for (let k = 1; k <= 3; k++) live.update(upTo(k));
    const text = util.inspect(live, { depth: 4 });
    assert.match(text, /^LivePlot\(every 5 epochs, 1 redraw\): loss curve: 1 epoch, final train loss \d\.\d{4}/);
    assert.ok(!text.includes("\n"));
    const b = (live as unknown as Record<symbol, () => Record<string, unknown>>)[Symbol.for("Jupyter.display")]();
    assert.deepEqual(Object.keys(b).sort(), ["application/vnd.vegalite.v5+json", "image/svg+xml", "text/plain"]);
    assert.equal(b["image/svg+xml"], live.plot!.toSVG());
    assert.equal(String(plot.live({ batches: true })), "LivePlot(every 50 batches, 0 redraws): nothing drawn yet");
  });

  it("redraws every N epochs, and on force", () => {
    const live = plot.live({ every: 5 });
    for (let k = 1; k <= 12; k++) live.update(upTo(k));
    assert.equal(live.redraws, 3); // epochs 1, 6, 11
    assert.equal(live.update(upTo(12), { force: true }), true);
    assert.equal(live.update(upTo(12), { force: true }), false, "nothing new since the last draw");
    assert.equal(calls.length, 4);
  });

  it("draws per-batch loss from the first batch on, every N batches", () => {
    const h = F.history_multistep;
    const live = plot.live({ batches: true, every: 6, accuracy: false });
    for (let s = 1; s <= 24; s++) {
      const epochsDone = Math.floor(s / 12);
      live.update({ epochs: h.epochs.slice(0, epochsDone), batches: h.batches.slice(0, s) });
    }
    assert.equal(live.redraws, 4); // batches 1, 7, 13, 19
    const first = new Drawn(calls[0].bundle["image/svg+xml"] as string);
    assert.deepEqual(first.lineVertices("batch_loss"), [1]);
  });

  it("redraws every 50 batches by default when drawing per-batch loss", () => {
    const h = F.history_multistep;
    const live = plot.live({ batches: true, accuracy: false });
    for (let s = 1; s <= 120; s++) live.update({ epochs: h.epochs.slice(0, Math.floor(s / 12)), batches: h.batches.slice(0, s) });
    assert.equal(live.redraws, 3); // batches 1, 51, 101
  });

  it("takes any render function, and rejects bad options", () => {
    const live = plot.live((h) => plot.compare({ run: h }), { every: 2 });
    for (let k = 1; k <= 4; k++) live.update(upTo(k));
    assert.equal(live.redraws, 2);
    assert.deepEqual(new Drawn(live.plot!.toSVG()).legendLabels, ["run", "train", "valid"]);
    assert.throws(() => plot.live({ every: 0 }), /every must be a positive integer, got 0/);
    assert.throws(() => plot.live({ unit: "steps" as never }), /unit must be one of "epoch", "batch", got "steps"/);
    assert.throws(() => plot.live().update([] as never), /update\(\) takes the run's History/);
  });
});

describe("plot: whole-number axes", () => {
  const history = (n: number): History => ({
    epochs: Array.from({ length: n }, (_, e) => ({
      epoch: e,
      trainLoss: 1 - e / 100,
      validLoss: 1.2 - e / 100,
      lr: [e < n / 2 ? 0.1 : 0.01],
      seconds: 1,
    })),
    batches: [],
  });
  /** The x axis's tick labels: the texts before the "epoch"/"step" axis title. */
  const xTicks = (svg: string, title: string) => {
    const texts = [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
    return texts.slice(0, texts.indexOf(title));
  };

  it("epochs and steps are labelled only at whole numbers, however short the run", () => {
    assert.deepEqual(xTicks(plot.lossCurve(history(3)).toSVG(), "epoch"), ["0", "1", "2"]);
    assert.deepEqual(xTicks(plot.compare({ a: history(3), b: history(3) }).toSVG(), "epoch"), ["0", "1", "2"]);
    assert.deepEqual(xTicks(plot.lrSchedule({ lr: [[0.1, 0.1, 0.01, 0.01, 0.001]] }).toSVG(), "step"), ["0", "1", "2", "3", "4"]);
    for (const t of xTicks(plot.lossCurve(history(30)).toSVG(), "epoch")) assert.match(t, /^\d+$/);
  });
});

describe("plot: after the first epoch (one value per series) and long run names", () => {
  const oneEpoch = (acc: number, valid: boolean): History => ({
    epochs: [{ epoch: 0, trainLoss: 2.1, trainAcc: acc, ...(valid ? { validLoss: 2.1, validAcc: acc } : {}), lr: [0.1], seconds: 1 }],
    batches: [],
  });
  /** Y tick labels as numbers, split by panel (losses here are > 1, accuracies < 1). */
  const yTicks = (svg: string) => new Drawn(svg).tickLabels("Y").map(Number);

  it("labels the y axes with ticks around the value (vega gave one tick, '0' for an accuracy of 0.219)", () => {
    for (const valid of [false, true]) {
      const ticks = yTicks(plot.lossCurve(oneEpoch(0.219, valid)).toSVG());
      assert.ok(ticks.every(Number.isFinite), String(ticks));
      const loss = ticks.filter((t) => t > 1);
      const acc = ticks.filter((t) => t < 1);
      assert.ok(loss.length >= 3 && Math.min(...loss) <= 2.1 && Math.max(...loss) >= 2.1, `loss ticks ${loss}`);
      assert.ok(acc.length >= 3 && Math.min(...acc) <= 0.219 && Math.max(...acc) >= 0.219, `accuracy ticks ${acc}`);
    }
    const cmp = yTicks(plot.compare({ "weightDecay 0": oneEpoch(0.219, false) }, { metric: "accuracy" }).toSVG());
    assert.ok(cmp.length >= 3 && Math.min(...cmp) <= 0.219 && Math.max(...cmp) >= 0.219, `compare ticks ${cmp}`);
    const log = yTicks(plot.lossCurve(oneEpoch(0.5, false), { logY: true, accuracy: false }).toSVG());
    assert.ok(log.length >= 2 && Math.min(...log) <= 2.1 && Math.max(...log) >= 2.1, `log ticks ${log}`);
  });

  it("shows long run names whole in the legend", () => {
    const h = F.runs_wd[Object.keys(F.runs_wd)[1]];
    const names = [
      "weightDecay 0.0001 (all)",
      "weightDecay 0.0001 (weights only)",
      "a much longer name for a run, to see it is not cut either",
    ];
    const d = new Drawn(plot.compare(Object.fromEntries(names.map((n) => [n, h]))).toSVG());
    assert.deepEqual(d.legendLabels.slice(0, 3), names);
  });
});
