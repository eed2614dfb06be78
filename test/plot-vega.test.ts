// plot/render.ts drives vega's private dataflow (`_pulse`, `_touched`, `_scenegraph`, `_viewWidth`, `_origin`,
// `Dataflow.prototype.evaluate`) to render without awaiting. Private members may change in any release, so vega
// and vega-lite are pinned exactly, and this checks that what is installed is the pinned, locked version and that
// the private-API render gives what vega's public async API gives.
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { plot } from "tsdl";
import { renderSvg, renderSvgAsync } from "tsdl/dist/plot/render";

const ROOT = path.join(__dirname, "..");
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string> };
const lock = JSON.parse(fs.readFileSync(path.join(ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, { version: string }> };
const installed = (p: string): string =>
  (JSON.parse(fs.readFileSync(require.resolve(`${p}/package.json`), "utf8")) as { version: string }).version;

describe("plot: vega pinned for the private-API render", () => {
  it("package.json pins vega and vega-lite to one exact version", () => {
    for (const p of ["vega", "vega-lite"])
      assert.match(pkg.dependencies[p], /^\d+\.\d+\.\d+$/, `${p} is "${pkg.dependencies[p]}" in package.json`);
  });

  it("the installed vega packages are the pinned and locked versions", () => {
    for (const p of ["vega", "vega-lite"]) assert.equal(installed(p), pkg.dependencies[p], `installed ${p}`);
    // The private members live in these (vega depends on them with ~ ranges; the lock file fixes them).
    for (const p of ["vega", "vega-lite", "vega-view", "vega-dataflow", "vega-scenegraph"])
      assert.equal(installed(p), lock.packages[`node_modules/${p}`]?.version, `installed ${p} against package-lock.json`);
  });

  it("the private members render.ts uses exist on the pinned vega", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const vega = require("vega");
    const view = new vega.View(vega.parse({ width: 10, height: 10, marks: [] }), { renderer: "none" });
    try {
      for (const k of ["_pulse", "_touched", "_scenegraph", "_viewWidth", "_viewHeight", "_origin"]) assert.ok(k in view, `View.${k}`);
      assert.equal(typeof vega.Dataflow.prototype.evaluate, "function");
      assert.equal(typeof vega.SVGStringRenderer, "function");
    } finally {
      view.finalize();
    }
  });

  it("renders synchronously the same SVG as vega's public async toSVG() (up to clip-path ids)", async () => {
    const h = {
      epochs: [0, 1, 2, 3].map((e) => ({
        epoch: e,
        trainLoss: 2 / (e + 1),
        validLoss: 2.2 / (e + 1),
        lr: [e < 2 ? 0.1 : 0.01],
        seconds: 1,
      })),
      batches: [],
    };
    const spec = plot.lossCurve(h).spec;
    const ids = (svg: string) => svg.replace(/clip\d+/g, "clip");
    const sync = renderSvg(spec);
    assert.match(sync, /^<svg[\s\S]*<\/svg>$/);
    assert.equal(ids(sync), ids(await renderSvgAsync(spec)));
  });
});
