// plot in an executed notebook (the tsdl kernel through nbconvert): a cell that ends with a plot holds one
// output with the vega-lite spec, the SVG and the text summary; a live plot updated 50 times leaves one output.
import assert from "node:assert/strict";
import * as path from "node:path";
import { codeCells, executeCells, type Cell, type Notebook } from "./helpers/jupyter";

const FIXTURE = path.join(__dirname, "fixtures", "plot.json");
const MIMES = ["application/vnd.vegalite.v5+json", "image/svg+xml", "text/plain"];

/** Count SVG elements inside the vega mark group named `<name>_marks`. */
function countItems(svg: string, name: string): number {
  let n = 0;
  for (const m of svg.matchAll(new RegExp(`<g class="[^"]*role-mark ${name}_marks"[^>]*>(.*?)</g>`, "g")))
    n += (m[1].match(/<(path|line|text)\b/g) ?? []).length;
  return n;
}
const joined = (v: unknown) => (Array.isArray(v) ? v.join("") : (v as string));
const rich = (cell: Cell) => (cell.outputs ?? []).filter((o) => o.output_type === "display_data" || o.output_type === "execute_result");

describe("plot in an executed notebook (tsdl kernel)", function () {
  this.timeout(180_000);
  let nb: Notebook;
  let cells: Cell[];

  before(async () => {
    nb = await executeCells(
      [
        `import { plot } from "tsdl";\nimport * as fs from "fs";\nconst F = JSON.parse(fs.readFileSync(${JSON.stringify(FIXTURE)}, "utf8"));`,
        // a cell that ends with a plot
        `plot.lossCurve(F.history_multistep)`,
        // a live plot: 50 epochs, redrawn after each
        [
          `const live = plot.live({ accuracy: false });`,
          `const h = { epochs: [] as any[], batches: [] as any[] };`,
          `for (let e = 0; e < 50; e++) {`,
          `  h.epochs.push({ epoch: e, trainLoss: 2 * Math.exp(-e / 10) + 0.2, validLoss: 2 * Math.exp(-e / 12) + 0.4, lr: [e < 35 ? 0.1 : 0.01], seconds: 0 });`,
          `  live.update(h);`,
          `}`,
        ].join("\n"),
        `console.log(\`redraws=\${live.redraws}\`)`,
      ],
      { env: { TSDL_BACKEND: "cpu" }, timeout: 120 },
    );
    cells = codeCells(nb);
  });

  it("shows a cell that ends with a plot as one output with all three MIME types", () => {
    const outs = rich(cells[1]);
    assert.equal((cells[1].outputs ?? []).length, 1, JSON.stringify(cells[1].outputs?.map((o) => o.output_type)));
    assert.equal(outs.length, 1);
    const data = outs[0].data ?? {};
    assert.deepEqual(Object.keys(data).sort(), MIMES);
    const spec = data[MIMES[0]] as Record<string, unknown>;
    assert.equal(spec.$schema, "https://vega.github.io/schema/vega-lite/v5.json");
    const svg = joined(data["image/svg+xml"]);
    assert.match(svg, /^<svg /);
    assert.equal(countItems(svg, "loss_points"), 60, "30 epochs of train and valid loss");
    assert.match(joined(data["text/plain"]), /^loss curve: 30 epochs, final train loss \d\.\d{4}/);
  });

  it("leaves one output for a live plot updated 50 times, showing the last update", () => {
    const outs = cells[2].outputs ?? [];
    assert.equal(outs.length, 1, JSON.stringify(outs.map((o) => o.output_type)));
    assert.equal(outs[0].output_type, "display_data");
    const data = outs[0].data ?? {};
    assert.deepEqual(Object.keys(data).sort(), MIMES);
    const svg = joined(data["image/svg+xml"]);
    assert.equal(countItems(svg, "loss_points"), 100, "the output holds the 50th redraw (50 epochs x train, valid)");
    assert.equal(countItems(svg, "loss_lr_rules"), 1);
    assert.match(joined(data["text/plain"]), /^loss curve: 50 epochs/);
    const printed = (cells[3].outputs ?? [])
      .filter((o) => o.output_type === "stream")
      .map((o) => joined(o.text))
      .join("");
    assert.equal(printed.trim(), "redraws=50");
  });
});
