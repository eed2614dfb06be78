// Each notebook in a real browser, as a user runs it: JupyterLab (the set-up's venv) on 127.0.0.1 with a token,
// Debian Chromium via playwright-core, Run > Run All Cells in the smoke configuration. No
// error may show, every chart must be drawn and every paramGroups table shown, and the kernel indicator must say
// Busy while cells run and Idle after. One notebook also runs in the classic Notebook. Screenshots stay in
// artifacts/browser/ (git-ignored).
import { strict as assert } from "node:assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { Browser } from "playwright-core";
import {
  ARTIFACTS,
  BrowserRun,
  launchChromium,
  longestWhilePending,
  NotebookServer,
  REPO,
  runAllInBrowser,
  streamText,
} from "./helpers/browser";
import { makeNotebook } from "./helpers/jupyter";

const NOTEBOOKS = path.join(REPO, "notebooks");

interface Expect {
  /** Lines the notebook must print (they show it really ran to the end with tsdl). */
  prints: RegExp[];
  /** Charts the notebook draws, at least. */
  charts: number;
  /** Cells whose source matches: each must show a table (paramGroups). */
  tables: RegExp[];
}
const EXPECT: Record<string, Expect> = {
  "01-param-groups.ipynb": {
    prints: [/^learning rate: 0\.01$/m, /^group 1 \(no decay\): 37 tensors/m, /largest change in the body \(lr 0\): 0$/m],
    charts: 0,
    tables: [/^optimizer\.paramGroups$/m, /^decaySplit\.paramGroups$/m, /^finetune\.paramGroups$/m],
  },
  "02-lr-decay.ipynb": { prints: [/^Epoch 0\. Train Loss: /m], charts: 2, tables: [] },
  "03-lr-schedulers.ipynb": {
    prints: [/0\.1 for epochs 0-19, 0\.010000000000000002 for epochs 20-29/, /^lr after each epoch: /m],
    charts: 10,
    tables: [],
  },
  "04-regularization.ipynb": { prints: [/^Epoch 0\. Train Loss: /m], charts: 3, tables: [/display\(decayGroups\(probe\)\.paramGroups\)/] },
};

/** What every Run All must show: no error anywhere, every cell run, the expected lines. */
function assertRanCleanly(run: BrowserRun, prints: RegExp[]): void {
  assert.deepEqual(run.errors, [], "error outputs");
  assert.deepEqual(run.stderr, [], "stderr outputs");
  assert.deepEqual(run.shownErrors, [], "errors shown in the page");
  assert.deepEqual(run.notRun, [], "code cells that did not run");
  assert.deepEqual(run.pageErrors, [], "JavaScript errors in the page");
  const out = streamText(run);
  for (const re of prints) assert.match(out, re);
  assert.ok(fs.statSync(run.screenshot).size > 10_000, "screenshot written");
}

/**
 * The kernel indicators during Run All (the toolbar's and the status bar's "TypeScript (tsdl) | Busy"): Busy while
 * cells are pending (Idle at most a moment between two), Idle after.
 */
function assertIndicator(run: BrowserRun): void {
  const samples = run.indicator;
  const trace = samples.map((s) => `${s.t.toFixed(1)}:${s.status}/${s.statusBar}/${s.pending}`).join(" ");
  for (const which of ["status", "statusBar"] as const) {
    const name = which === "status" ? "toolbar" : "status bar";
    assert.ok(
      samples.some((s) => s[which] === "busy" && s.pending > 0),
      `the ${name} said Busy while cells ran:\n${trace.slice(0, 3000)}`,
    );
    const idle = longestWhilePending(samples, "idle", which);
    assert.ok(
      idle <= 1.0,
      `the ${name} said Idle for ${idle.toFixed(1)} s while cells were still queued or running:\n${trace.slice(0, 3000)}`,
    );
    assert.equal(samples[samples.length - 1][which], "idle", `the ${name} says Idle after the run`);
  }
}

describe("notebooks in JupyterLab (Chromium, Run All Cells, smoke configuration)", function () {
  this.timeout(900_000);
  const notebooks = fs
    .readdirSync(NOTEBOOKS)
    .filter((f) => f.endsWith(".ipynb"))
    .sort();
  // The server serves copies inside the repo (so `import ... from "tsdl"` resolves); the committed files are never opened.
  const served = path.join(REPO, "artifacts", "browser-notebooks");
  // The server and its kernels get an empty home directory: nothing may be written there.
  let home: string;
  let server: NotebookServer;
  let browser: Browser;

  before(async () => {
    fs.rmSync(served, { recursive: true, force: true });
    fs.mkdirSync(served, { recursive: true });
    for (const nb of notebooks) fs.copyFileSync(path.join(NOTEBOOKS, nb), path.join(served, nb));
    home = fs.mkdtempSync(path.join(os.tmpdir(), "tsdl-lab-home-"));
    server = await NotebookServer.start({ notebookDir: served, env: { TSDL_SMOKE: "1", HOME: home } });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    if (server) {
      const { code, signal } = await server.stop();
      assert.ok(code === 0 || signal === "SIGTERM", `server stopped with ${code ?? signal}:\n${server.output().slice(-2000)}`);
    }
    fs.rmSync(served, { recursive: true, force: true });
    if (home) {
      const written = fs.readdirSync(home, { recursive: true });
      fs.rmSync(home, { recursive: true, force: true });
      assert.deepEqual(written, [], "JupyterLab or the kernel wrote under the home directory");
    }
  });

  it("has the four tutorial notebooks", () => {
    assert.deepEqual(notebooks, Object.keys(EXPECT));
  });

  for (const [nb, expect] of Object.entries(EXPECT)) {
    it(`${nb}: Run All shows no error, draws every chart and table, Busy while it runs`, async function () {
      if (!fs.existsSync(path.join(NOTEBOOKS, nb))) assert.fail(`${nb} is missing from notebooks/`);
      const run = await runAllInBrowser(browser, server, nb, {
        timeoutMs: 600_000,
        screenshot: path.join(ARTIFACTS, nb.replace(/\.ipynb$/, ".png")),
      });
      assertRanCleanly(run, expect.prints);
      const charts = run.cells.reduce((n, c) => n + c.vegaOutputs, 0);
      assert.ok(charts >= expect.charts, `${charts} charts, expected at least ${expect.charts}`);
      for (const cell of run.cells)
        assert.equal(
          cell.vegaRendered,
          cell.vegaOutputs,
          `cell ${cell.index}: ${cell.vegaOutputs} vega-lite outputs, ${cell.vegaRendered} drawn in the page`,
        );
      for (const re of expect.tables) {
        const cell = run.cells.find((c) => re.test(c.source));
        assert.ok(cell, `a cell matching ${re}`);
        assert.ok(cell.tables > 0, `cell ${cell.index} (${re}) shows a table`);
      }
      assertIndicator(run);
      console.log(`      ${nb}: ${run.cells.length} code cells, ${charts} charts, ${run.seconds.toFixed(1)} s`);
    });
  }

  it("the kernel indicator says Busy through three queued cells and Idle after", async () => {
    const file = path.join(served, "busy-idle.ipynb");
    fs.writeFileSync(
      file,
      JSON.stringify(
        makeNotebook([
          "await new Promise((r) => setTimeout(r, 2000));\nconsole.log('first');",
          "const t0 = Date.now();\nwhile (Date.now() - t0 < 3000) {}\nconsole.log('second');",
          "await new Promise((r) => setTimeout(r, 1000));\nconsole.log('third');",
        ]),
      ),
    );
    const run = await runAllInBrowser(browser, server, "busy-idle.ipynb", {
      timeoutMs: 120_000,
      screenshot: path.join(ARTIFACTS, "busy-idle.png"),
    });
    assertRanCleanly(run, [/^first\nsecond\nthird\n$/]);
    assertIndicator(run);
    // About 6 s of cells: the indicator said Busy for most of it.
    const busy = run.indicator.filter((s) => s.status === "busy");
    assert.ok(busy.length > 0 && busy[busy.length - 1].t - busy[0].t >= 4, `Busy from ${busy[0]?.t} s to ${busy[busy.length - 1]?.t} s`);
  });
});

describe("a notebook in the classic Notebook (Chromium, Restart & Run All, smoke configuration)", function () {
  this.timeout(600_000);
  const nb = "02-lr-decay.ipynb";
  const served = path.join(REPO, "artifacts", "browser-notebooks-classic");
  let server: NotebookServer;
  let browser: Browser;

  before(async () => {
    fs.rmSync(served, { recursive: true, force: true });
    fs.mkdirSync(served, { recursive: true });
    fs.copyFileSync(path.join(NOTEBOOKS, nb), path.join(served, nb));
    server = await NotebookServer.start({ frontEnd: "classic", notebookDir: served, env: { TSDL_SMOKE: "1" } });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    if (server) {
      const { code, signal } = await server.stop();
      assert.ok(code === 0 || signal === "SIGTERM", `server stopped with ${code ?? signal}:\n${server.output().slice(-2000)}`);
    }
    fs.rmSync(served, { recursive: true, force: true });
  });

  it(`${nb}: Run All shows no error and renders every chart's SVG`, async () => {
    const run = await runAllInBrowser(browser, server, nb, {
      timeoutMs: 600_000,
      screenshot: path.join(ARTIFACTS, "classic-" + nb.replace(/\.ipynb$/, ".png")),
    });
    assertRanCleanly(run, EXPECT[nb].prints);
    const charts = run.cells.reduce((n, c) => n + c.svgOutputs, 0);
    assert.ok(charts >= EXPECT[nb].charts, `${charts} SVG charts, expected at least ${EXPECT[nb].charts}`);
    for (const cell of run.cells)
      assert.equal(
        cell.svgRendered,
        cell.svgOutputs,
        `cell ${cell.index}: ${cell.svgOutputs} SVG outputs, ${cell.svgRendered} rendered in the page`,
      );
  });
});
