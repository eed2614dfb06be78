// Every notebook, executed by nbconvert on the tsdl kernel in the smoke configuration (TSDL_SMOKE=1), with its
// printed values, lr sequences and charts compared against PyTorch (test/fixtures/notebooks.json, made by
// test/goldens/notebooks.py).
import { strict as assert } from "node:assert";
import * as fs from "fs";
import * as path from "path";
import { Cell, codeCells, executeNotebook, Notebook, repo, richOutputs, streamText } from "./helpers/jupyter";

const fixture = JSON.parse(fs.readFileSync(path.join(repo, "test", "fixtures", "notebooks.json"), "utf8"));
const SMOKE_ENV = { TSDL_SMOKE: "1" };
const VEGALITE = "application/vnd.vegalite.v5+json";
const SVG = "image/svg+xml";

type Spec = { title?: { text?: string } | string; datasets?: Record<string, Array<Record<string, unknown>>> };
interface Chart {
  cell: number;
  title: string;
  spec: Spec;
  svg: string;
}

function run(name: string): Promise<Notebook> {
  return executeNotebook(path.join(repo, "notebooks", `${name}.ipynb`), {
    env: SMOKE_ENV,
    allowErrors: true, // so one failing cell is reported with its error instead of hiding every other check
    timeout: 300,
    outputPath: path.join(repo, "artifacts", "executed", `${name}.ipynb`),
  });
}

/** Everything printed to stdout, all cells. */
function stdout(nb: Notebook): string {
  return codeCells(nb)
    .map((c) => streamText(c))
    .join("");
}

/** "cell i: ename: evalue" for error outputs, and stderr text. */
function problems(nb: Notebook): string[] {
  const out: string[] = [];
  codeCells(nb).forEach((c: Cell, i) => {
    for (const o of c.outputs ?? []) if (o.output_type === "error") out.push(`cell ${i}: ${o.ename}: ${o.evalue}`);
    const err = streamText(c, "stderr");
    if (err) out.push(`cell ${i} stderr: ${err.slice(0, 500)}`);
  });
  return out;
}

/** Every output that carries a vega-lite spec, with its SVG. */
function charts(nb: Notebook): Chart[] {
  const out: Chart[] = [];
  codeCells(nb).forEach((c, i) => {
    for (const data of richOutputs(c)) {
      if (!(VEGALITE in data)) continue;
      const spec = data[VEGALITE] as Spec;
      const title = typeof spec.title === "string" ? spec.title : (spec.title?.text ?? "");
      out.push({ cell: i, title, spec, svg: String(data[SVG] ?? "") });
    }
  });
  return out;
}

/** The values of one dataset of a chart, ordered by step (group 0). */
function series(chart: Chart, dataset: string): number[] {
  const rows = chart.spec.datasets?.[dataset];
  assert.ok(Array.isArray(rows), `chart "${chart.title}" has a "${dataset}" dataset`);
  return rows
    .filter((r) => r.group === undefined || r.group === "group 0")
    .sort((a, b) => Number(a.step) - Number(b.step))
    .map((r) => Number(r.value));
}

function assertClose(actual: number[], expected: number[], rel: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: ${actual.length} values, PyTorch has ${expected.length}`);
  actual.forEach((a, i) => {
    const e = expected[i];
    assert.ok(Math.abs(a - e) <= rel * Math.abs(e) + 1e-15, `${what}[${i}]: ${a}, PyTorch ${e}`);
  });
}

function assertSvgChart(c: Chart): void {
  assert.match(c.svg, /^\s*<svg[\s>]/, `chart "${c.title}" has SVG`);
  assert.match(c.svg, /<path/, `chart "${c.title}" SVG draws something`);
}

/** Numbers after `label` on every line where it occurs, e.g. all "learning rate: X". */
function numbersAfter(text: string, label: RegExp): number[] {
  const flags = "g" + label.flags.replace("g", "");
  return [...text.matchAll(new RegExp(label.source + /\s*(-?[\d.e+-]+)/.source, flags))].map((m) => Number(m[1]));
}

/** "group 0 (decay): 21 tensors, 11,172,032 parameters, lr 0.01, weightDecay 0.0001" lines. */
function groupLines(text: string, names: string[]): Array<{ tensors: number; parameters: number; lr: number; weightDecay: number }> {
  return names.map((name, i) => {
    const re = new RegExp(`group ${i} \\(${name}\\): (\\d+) tensors, ([\\d,]+) parameters, lr (\\S+), weightDecay (\\S+)`);
    const m = re.exec(text);
    assert.ok(m, `a line for group ${i} (${name}) in:\n${text}`);
    return { tensors: Number(m[1]), parameters: Number(m[2].replace(/,/g, "")), lr: Number(m[3]), weightDecay: Number(m[4]) };
  });
}

interface EpochLine {
  epoch: number;
  trainLoss: number;
  validLoss: number;
  validAcc: number;
  lr: string;
}

/** The course's epoch lines printed by train(), in order. */
function epochLines(text: string): EpochLine[] {
  const re = /^Epoch (\d+)\. Train Loss: (\S+), Train Acc: (\S+), Valid Loss: (\S+), Valid Acc: (\S+), Time \d\d:\d\d:\d\d, lr (.+)$/gm;
  return [...text.matchAll(re)].map((m) => ({
    epoch: Number(m[1]),
    trainLoss: Number(m[2]),
    validLoss: Number(m[4]),
    validAcc: Number(m[5]),
    lr: m[6],
  }));
}

/** Numbers of a "label: a, b, c" line. */
function listAfter(text: string, label: string): number[] {
  const line = text.split("\n").find((l) => l.startsWith(label));
  assert.ok(line, `a line starting with ${JSON.stringify(label)} in:\n${text}`);
  return line
    .slice(label.length)
    .split(",")
    .map((v) => Number(v.trim()));
}

/** The line each notebook prints first: which backend and device its tensors run on. */
const BACKEND_LINE = /^backend: (tensorflow|wasm|cpu), device: .+$/m;

/** Every notebook's first check: each code cell ran, with no error and nothing on stderr. */
function itRanCleanly(notebook: () => Notebook): void {
  it("runs every cell without an error or stderr output", () => {
    const nb = notebook();
    assert.deepEqual(problems(nb), []);
    assert.ok(
      codeCells(nb).every((c) => typeof c.execution_count === "number"),
      "every code cell ran",
    );
  });
}

describe("notebooks, executed by nbconvert on the tsdl kernel (smoke configuration)", function () {
  this.timeout(600_000);

  describe("01-param-groups", () => {
    let nb: Notebook;
    let out: string;
    before(async () => {
      nb = await run("01-param-groups");
      out = stdout(nb);
    });

    itRanCleanly(() => nb);

    it("prints the backend and device it used", () => {
      assert.match(out, BACKEND_LINE);
    });

    it("prints lr and weight decay from paramGroups, then the edited lrs, as PyTorch's param_groups", () => {
      const pg = fixture.paramGroups;
      assert.deepEqual(numbersAfter(out, /^learning rate:/m), [pg.initial.lr, pg.afterSet]);
      assert.deepEqual(numbersAfter(out, /^weight decay:/m), [pg.initial.weightDecay]);
      const loop = /^learning rate of every group: (.+)$/m.exec(out);
      assert.ok(loop, out);
      assert.deepEqual(loop[1].split(", ").map(Number), pg.afterLoop);
      const m = /resnet\(3, 10\): (\d+) trainable tensors, ([\d,]+) parameters/.exec(out);
      assert.ok(m, out);
      assert.deepEqual([Number(m[1]), Number(m[2].replace(/,/g, ""))], [pg.groups[0].tensors, pg.groups[0].parameters]);
    });

    it("splits decay / no-decay and body / classifier groups exactly as PyTorch", () => {
      assert.deepEqual(groupLines(out, ["decay", "no decay"]), fixture.paramGroups.decaySplit);
      assert.deepEqual(groupLines(out, ["body", "classifier"]), fixture.paramGroups.classifierSplit);
    });

    it("shows paramGroups as a table (HTML and text)", () => {
      const tables = codeCells(nb)
        .flatMap((c) => richOutputs(c, "execute_result"))
        .filter((d) => String(d["text/html"] ?? "").includes("<table"));
      assert.ok(tables.length >= 3, `three paramGroups tables, got ${tables.length}`);
      assert.ok(
        tables.some((t) => /no decay/.test(String(t["text/plain"]))),
        "the decay split table names its groups",
      );
    });

    it("freezes the body with lr 0 while the classifier moves", () => {
      assert.deepEqual(numbersAfter(out, /largest change in the body \(lr 0\):/), [0]);
      const [head] = numbersAfter(out, /largest change in the classifier \(lr 0\.1\):/);
      assert.ok(head > 0, `classifier moved: ${head}`);
    });
  });

  describe("02-lr-decay", () => {
    let nb: Notebook;
    let out: string;
    let all: Chart[];
    const drop = fixture.smokeDrop as { epochs: number; milestone: number; manual: number[]; multiStep: number[] };
    before(async () => {
      nb = await run("02-lr-decay");
      out = stdout(nb);
      all = charts(nb);
    });

    itRanCleanly(() => nb);

    it("prints the backend, device and data it used", () => {
      assert.match(out, BACKEND_LINE);
      assert.match(out, /^data: (CIFAR-10|Fashion-MNIST|generated CIFAR-format images) .+$/m);
      assert.match(out, /^using 16 of \d+ training and 16 of \d+ validation images per epoch, batch size 8$/m);
    });

    it("prints the course's epoch lines for both runs, with finite losses and the lr of each epoch", () => {
      const lines = epochLines(out);
      assert.deepEqual(
        lines.map((l) => l.epoch),
        [0, 1, 2, 0, 1, 2],
      );
      for (const l of lines) assert.ok([l.trainLoss, l.validLoss, l.validAcc].every(Number.isFinite), JSON.stringify(l));
      // Epoch lines round the lr to 6 significant digits (0.010000000000000002 prints as 0.01).
      assert.deepEqual(
        lines.map((l) => Number(l.lr)),
        [...drop.manual, ...drop.multiStep].map((v) => Number(v.toPrecision(6))),
      );
    });

    it("drops the lr at the milestone exactly as PyTorch: 0.01 by hand, 0.010000000000000002 with MultiStepLR", () => {
      assert.deepEqual(listAfter(out, "lr per epoch (paramGroups edit): "), drop.manual);
      assert.deepEqual(listAfter(out, "lr per epoch (MultiStepLR): "), drop.multiStep);
    });

    it("draws the loss curve (train and valid, the lr change marked) and the comparison, as vega-lite + SVG", () => {
      const curve = all.find((c) => c.title.startsWith("lr 0.1 -> 0.01 at epoch 2"));
      assert.ok(curve, all.map((c) => c.title).join(", "));
      assertSvgChart(curve);
      const rows = curve.spec.datasets?.epochs ?? [];
      assert.deepEqual([...new Set(rows.filter((r) => r.metric === "loss").map((r) => r.split))].sort(), ["train", "valid"]);
      assert.deepEqual(
        (curve.spec.datasets?.lrChanges ?? []).map((r) => r.epoch),
        [drop.milestone],
      );
      const cmp = all.find((c) => c.title === "the same schedule, two ways");
      assert.ok(cmp);
      assertSvgChart(cmp);
      assert.deepEqual([...new Set((cmp.spec.datasets?.runs ?? []).map((r) => r.run))], ["paramGroups edit", "MultiStepLR"]);
    });

    it("shows the first training images and two augmented draws of them", () => {
      assert.equal(/^labels: (.+)$/m.exec(out)?.[1].split(", ").length, 8);
      const pngs = codeCells(nb)
        .flatMap((c) => richOutputs(c))
        .filter((d) => typeof d["image/png"] === "string");
      assert.equal(pngs.length, 3);
      const [original, draw1, draw2] = pngs.map((d) => String(d["image/png"]));
      assert.notEqual(draw1, draw2, "two draws of the random augmentation differ");
      assert.notEqual(original, draw1);
    });

    it("leaves no tensor behind after both training runs", () => {
      assert.deepEqual(numbersAfter(out, /^tensors left over by both runs:/m), [0]);
    });

    it("shows the tutorial's published losses beside ours", () => {
      const table = codeCells(nb)
        .flatMap((c) => richOutputs(c))
        .find((d) => String(d["text/plain"] ?? "").startsWith("epoch | tutorial train"));
      assert.ok(table, "the comparison table");
      assert.match(String(table["text/plain"]), /^0 \| 1\.872896 \| 1\.798441 \| \d/m);
      assert.match(String(table["text/html"]), /<table>/);
      assert.match(out, /not comparable with the tutorial's/);
    });
  });

  describe("03-lr-schedulers", () => {
    let nb: Notebook;
    let out: string;
    let all: Chart[];
    const schedules = fixture.schedules as Record<string, { lr: number[]; momentum?: number[] }>;
    before(async () => {
      nb = await run("03-lr-schedulers");
      out = stdout(nb);
      all = charts(nb);
    });

    itRanCleanly(() => nb);

    it("prints the backend, device and data it used", () => {
      assert.match(out, BACKEND_LINE);
      assert.match(out, /^data: .+$/m);
    });

    it("steps MultiStepLR by hand to PyTorch's exact lrs, 0.1 then 0.010000000000000002", () => {
      const m = /^MultiStepLR\(milestones \[20\], gamma 0\.1\): lr (.+)$/m.exec(out);
      assert.ok(m, out);
      const lrs: number[] = [];
      for (const part of m[1].split(", ")) {
        const r = /^(\S+) for epochs (\d+)-(\d+)$/.exec(part);
        assert.ok(r, part);
        for (let e = Number(r[2]); e <= Number(r[3]); e++) lrs.push(Number(r[1]));
      }
      assert.deepEqual(lrs, schedules.MultiStepLR.lr);
    });

    it("prints a table of every schedule matching PyTorch to 4 significant digits", () => {
      const lines = out.split("\n");
      const head = lines.findIndex((l) => l.startsWith("scheduler "));
      assert.ok(head >= 0, out);
      const epochs = lines[head]
        .trim()
        .split(/\s+/)
        .slice(1)
        .map((e) => Number(e.slice(1)));
      const names = [
        "StepLR",
        "MultiStepLR",
        "ExponentialLR",
        "CosineAnnealingLR",
        "LambdaLR",
        "MultiplicativeLR",
        "LinearLR",
        "ConstantLR",
        "PolynomialLR",
        "CosineAnnealingWarmRestarts",
        "CyclicLR",
        "OneCycleLR",
      ];
      names.forEach((name, i) => {
        const cells = lines[head + 1 + i].trim().split(/\s+/);
        assert.equal(cells[0], name);
        assertClose(
          cells.slice(1).map(Number),
          epochs.map((e) => schedules[name].lr[e]),
          5e-4,
          `${name} table`,
        );
      });
    });

    it("draws every schedule (vega-lite + SVG) with PyTorch's lr at every epoch", () => {
      for (const name of [
        "StepLR",
        "MultiStepLR",
        "ExponentialLR",
        "CosineAnnealingLR",
        "LambdaLR",
        "MultiplicativeLR",
        "LinearLR",
        "ConstantLR",
        "PolynomialLR",
        "CosineAnnealingWarmRestarts",
        "CyclicLR",
        "OneCycleLR",
        "warmupCosine",
        "ChainedScheduler",
      ]) {
        const chart = all.find((c) => c.title === name);
        assert.ok(chart, `a chart titled ${name}; got ${all.map((c) => c.title).join(", ")}`);
        assertSvgChart(chart);
        assertClose(series(chart, "lr"), schedules[name].lr, 1e-12, `${name} lr`);
      }
      assert.match(out, /^warmupCosine\(\) gives the same schedule: true$/m);
    });

    it("draws one-cycle's momentum as PyTorch cycles it", () => {
      const chart = all.find((c) => c.title.startsWith("OneCycleLR (lr and momentum)"));
      assert.ok(chart, all.map((c) => c.title).join(", "));
      assertSvgChart(chart);
      assertClose(series(chart, "lr"), schedules.OneCycleLR.lr, 1e-12, "OneCycleLR lr");
      assertClose(series(chart, "momentum"), schedules.OneCycleLR.momentum!, 1e-12, "OneCycleLR momentum");
      assertClose(
        series(
          all.find((c) => c.title === "CyclicLR")!,
          "momentum",
        ),
        schedules.CyclicLR.momentum!,
        1e-12,
        "CyclicLR momentum",
      );
    });

    it("reduces the lr on a plateau exactly where PyTorch does", () => {
      const m = /^lr after each epoch: (.+)$/m.exec(out);
      assert.ok(m, out);
      assert.deepEqual(m[1].split(", ").map(Number), fixture.plateau.lrAfterStep);
      const chart = all.find((c) => c.title.startsWith("ReduceLROnPlateau"));
      assert.ok(chart);
      assertSvgChart(chart);
      assert.deepEqual(series(chart, "lr"), fixture.plateau.lrAfterStep);
    });
    it("runs the lr finder over geometric lrs with a live chart, restores the weights, and shows the result as a summary", () => {
      const chart = all.find((c) => c.title.startsWith("lr finder"));
      assert.ok(chart, all.map((c) => c.title).join(", "));
      assertSvgChart(chart);
      // the live chart's last draw: every lr tried, and the suggestion marked
      const lrs = (chart.spec.datasets?.finder ?? []).map((r) => Number(r.lr));
      assert.equal(lrs.length, 6);
      // lr_i = startLr * (endLr / startLr)^(i / (steps - 1)), from 1e-5 to 10
      lrs.forEach((lr, i) => assert.ok(Math.abs(lr - 1e-5 * Math.pow(1e6, i / 5)) <= 1e-12 * lr, `lr ${i}: ${lr}`));
      const suggested = (chart.spec.datasets?.suggestion ?? []).map((r) => Number(r.lr));
      assert.equal(suggested.length, 1);
      assert.ok(
        lrs.some((lr) => Math.abs(lr - suggested[0]) <= 1e-12 * lr),
        `the suggestion is one of the lrs tried: ${suggested[0]}`,
      );
      assert.match(out, /^weights and lr restored: true$/m);
      // the result as the cell's value: one summary line, not the numbers
      const cell = codeCells(nb).find((c) => /^found \/\/ shown as a summary/m.test([c.source].flat().join("")));
      assert.ok(cell, "the lr finder cell");
      const result = (cell.outputs ?? []).find((o) => o.output_type === "execute_result");
      const text = [result?.data?.["text/plain"] ?? ""].flat().join("");
      assert.match(
        text,
        /^LrFinderResult: suggested lr [\d.e-]+ \(valley\); 6 of 6 lrs from 1e-5 to 10; lowest loss \d+\.\d{4} at lr [\d.e-]+; data in \.lrs and \.losses$/,
      );
      const printed = streamText(cell);
      assert.ok(
        printed.split("\n").every((l) => (l.match(/\d+(\.\d+)?(e-?\d+)?/g) ?? []).length < 10),
        `no wall of numbers printed:\n${printed}`,
      );
    });
  });

  describe("04-regularization", () => {
    let nb: Notebook;
    let out: string;
    let all: Chart[];
    const l2 = fixture.l2 as {
      weightDecay: number;
      withWeightDecay: { w: number[] };
      penaltyHalf: { w: number[] };
      penaltyFull: { w: number[] };
    };
    before(async () => {
      nb = await run("04-regularization");
      out = stdout(nb);
      all = charts(nb);
    });

    itRanCleanly(() => nb);

    it("prints the backend, device and data it used", () => {
      assert.match(out, BACKEND_LINE);
      assert.match(out, /^data: (CIFAR-10|Fashion-MNIST|generated CIFAR-format images) .+$/m);
    });

    it("shows weightDecay = 2 lambda with l2Penalty, with PyTorch's weights after one step", () => {
      const w = (label: string) => {
        const m = new RegExp(`^${label.replace(/[()+.]/g, "\\$&")}\\s+w = \\[(.+)\\]$`, "m").exec(out);
        assert.ok(m, `${label} in:\n${out}`);
        return m[1].split(", ").map(Number);
      };
      assertClose(w(`weightDecay ${l2.weightDecay}:`), l2.withWeightDecay.w, 1e-5, "SGD weightDecay");
      assertClose(w(`loss + l2Penalty(w, ${l2.weightDecay / 2}):`), l2.penaltyHalf.w, 1e-5, "l2Penalty(wd/2)");
      assertClose(w(`loss + l2Penalty(w, ${l2.weightDecay}):`), l2.penaltyFull.w, 1e-5, "l2Penalty(wd)");
    });

    it("trains the tutorial's run and the weight-decay comparison, printing the course's epoch lines", () => {
      const lines = epochLines(out);
      // the tutorial's run, weightDecay 0 and 1e-3 (1e-4 is the tutorial's run), then decay on weights only
      assert.deepEqual(
        lines.map((l) => l.epoch),
        [0, 1, 0, 1, 0, 1, 0, 1],
      );
      for (const l of lines) assert.ok([l.trainLoss, l.validLoss, l.validAcc].every(Number.isFinite), JSON.stringify(l));
      assert.deepEqual(
        lines.map((l) => l.lr),
        ["0.01", "0.01", "0.01", "0.01", "0.01", "0.01", "[0.01, 0.01]", "[0.01, 0.01]"],
      );
      const groupTable = codeCells(nb)
        .flatMap((c) => richOutputs(c))
        .map((d) => String(d["text/plain"] ?? ""))
        .find((t) => t.startsWith("SGD: 2 param groups"));
      assert.ok(groupTable, "the decay / no-decay paramGroups table");
      const [decay, noDecay] = fixture.paramGroups.decaySplit;
      assert.match(groupTable, new RegExp(`decay\\s+${decay.tensors}\\s+${decay.parameters.toLocaleString("en-US")}\\s`));
      assert.match(groupTable, new RegExp(`no decay\\s+${noDecay.tensors}\\s+${noDecay.parameters.toLocaleString("en-US")}\\s`));
    });

    it("plots the comparison of weightDecay 0 / 1e-4 / 1e-3 (loss and accuracy) and the decay groups", () => {
      for (const title of ["weight decay: loss", "weight decay: accuracy"]) {
        const chart = all.find((c) => c.title.startsWith(title));
        assert.ok(chart, `${title}: ${all.map((c) => c.title).join(", ")}`);
        assertSvgChart(chart);
        assert.deepEqual(
          [...new Set((chart.spec.datasets?.runs ?? []).map((r) => r.run))],
          ["weightDecay 0", "weightDecay 0.0001", "weightDecay 0.001"],
        );
      }
      const groups = all.find((c) => c.title === "decay on every parameter vs. on weights only");
      assert.ok(groups);
      assertSvgChart(groups);
    });

    it("leaves no tensor behind after the four training runs", () => {
      assert.deepEqual(numbersAfter(out, /^tensors left over by the four runs:/m), [0]);
    });

    it("shows the tutorial's published numbers beside ours", () => {
      const table = codeCells(nb)
        .flatMap((c) => richOutputs(c))
        .find((d) => String(d["text/plain"] ?? "").startsWith("epoch | tutorial train loss"));
      assert.ok(table, "the comparison table");
      assert.match(String(table["text/plain"]), /^19 \| 0\.015656 \| 0\.782832 \| {2}\| $/m);
    });
  });
});
