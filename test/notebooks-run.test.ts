// scripts/run-notebooks.js: executes notebooks headlessly and writes executed copies and HTML reports whose
// charts are inline SVG (Debian nbconvert's HTML export would strip them without the script's filter).
import { strict as assert } from "node:assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const repo = path.resolve(__dirname, "..");
const script = path.join(repo, "scripts", "run-notebooks.js");

describe("scripts/run-notebooks.js", function () {
  this.timeout(300_000);
  let out: string;
  before(() => {
    out = fs.mkdtempSync(path.join(os.tmpdir(), "tsdl-run-notebooks-"));
  });
  after(() => fs.rmSync(out, { recursive: true, force: true }));

  it("executes a notebook and writes the executed copy and an HTML report with every chart as inline SVG", () => {
    const r = spawnSync(process.execPath, [script, "--smoke", "--out", out, "03"], { cwd: repo, encoding: "utf8" });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const report = JSON.parse(r.stdout.trim().split("\n").pop()!);
    assert.deepEqual(
      { notebook: report.notebook, ok: report.ok, smoke: report.smoke, error: report.error },
      { notebook: "03-lr-schedulers.ipynb", ok: true, smoke: true, error: null },
    );
    const nb = JSON.parse(fs.readFileSync(path.join(out, "03-lr-schedulers.ipynb"), "utf8"));
    const svgs = nb.cells.flatMap((c: { outputs?: Array<{ data?: Record<string, unknown> }> }) =>
      (c.outputs ?? []).filter((o) => o.data?.["image/svg+xml"]),
    );
    assert.ok(svgs.length >= 10, `charts in the executed notebook: ${svgs.length}`);
    const html = fs.readFileSync(path.join(out, "03-lr-schedulers.html"), "utf8");
    const inline = html.match(/<svg[\s>][\s\S]*?<\/svg>/g) ?? [];
    const charts = inline.filter((s) => s.includes("<path") && /class="marks"|role="graphics-document"/.test(s));
    assert.equal(charts.length, svgs.length, "every chart of the notebook is inline SVG in the HTML");
  });

  it("names an unknown notebook and lists the available ones", () => {
    const r = spawnSync(process.execPath, [script, "99-nope"], { cwd: repo, encoding: "utf8" });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /notebook "99-nope" not found; available: 01-param-groups\.ipynb, 02-lr-decay\.ipynb/);
  });

  it("rejects a bad option with what is accepted", () => {
    const r = spawnSync(process.execPath, [script, "--timeout", "soon"], { cwd: repo, encoding: "utf8" });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--timeout "soon": expected a number of seconds > 0/);
  });
});
