// Each notebook in a real browser: a classic Notebook server on 127.0.0.1 with a token, Debian Chromium via
// playwright-core, Kernel > Restart & Run All in the smoke configuration; no error may show and every chart's
// SVG must be in the page. Screenshots stay in artifacts/browser/ (git-ignored).
import { strict as assert } from "node:assert";
import * as fs from "fs";
import * as path from "path";
import type { Browser } from "playwright-core";
import { ARTIFACTS, BrowserRun, launchChromium, NotebookServer, REPO, runAllInBrowser, streamText } from "./helpers/browser";

const NOTEBOOKS = path.join(REPO, "notebooks");
/** What each notebook must print (a line that shows it really ran to the end with tsdl). */
const EXPECT: Record<string, RegExp[]> = {
  "01-param-groups.ipynb": [/^learning rate: 0\.01$/m, /^group 1 \(no decay\): 37 tensors/m, /largest change in the body \(lr 0\): 0$/m],
  "02-lr-decay.ipynb": [/^Epoch 0\. Train Loss: /m],
  "03-lr-schedulers.ipynb": [/0\.1 for epochs 0-19, 0\.010000000000000002 for epochs 20-29/, /^lr after each epoch: /m],
  "04-regularization.ipynb": [/^Epoch 0\. Train Loss: /m],
};

describe("notebooks in Chromium (classic Notebook, Restart & Run All, smoke configuration)", function () {
  this.timeout(900_000);
  const notebooks = fs.readdirSync(NOTEBOOKS).filter((f) => f.endsWith(".ipynb")).sort();
  // The server serves copies inside the repo (so `import ... from "tsdl"` resolves); the committed files are never opened.
  const served = path.join(REPO, "artifacts", "browser-notebooks");
  let server: NotebookServer;
  let browser: Browser;

  before(async () => {
    fs.rmSync(served, { recursive: true, force: true });
    fs.mkdirSync(served, { recursive: true });
    for (const nb of notebooks) fs.copyFileSync(path.join(NOTEBOOKS, nb), path.join(served, nb));
    server = await NotebookServer.start({ notebookDir: served, env: { TSDL_SMOKE: "1" } });
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

  it("has the four tutorial notebooks", () => {
    assert.deepEqual(notebooks, Object.keys(EXPECT));
  });

  for (const nb of Object.keys(EXPECT)) {
    it(`${nb}: Run All shows no error and renders every chart`, async function () {
      if (!fs.existsSync(path.join(NOTEBOOKS, nb))) assert.fail(`${nb} is missing from notebooks/`);
      const run: BrowserRun = await runAllInBrowser(browser, server, nb, { timeoutMs: 600_000, screenshot: path.join(ARTIFACTS, nb.replace(/\.ipynb$/, ".png")) });
      assert.deepEqual(run.errors, [], "error outputs");
      assert.deepEqual(run.stderr, [], "stderr outputs");
      assert.deepEqual(run.shownErrors, [], "errors shown in the page");
      assert.deepEqual(run.notRun, [], "code cells that did not run");
      assert.deepEqual(run.pageErrors, [], "JavaScript errors in the page");
      const out = streamText(run);
      for (const re of EXPECT[nb]) assert.match(out, re);
      for (const cell of run.cells)
        assert.equal(cell.svgRendered, cell.svgOutputs, `cell ${cell.index}: ${cell.svgOutputs} SVG outputs, ${cell.svgRendered} rendered in the page`);
      assert.ok(fs.statSync(run.screenshot).size > 10_000, "screenshot written");
      console.log(`      ${nb}: ${run.cells.length} code cells, ${run.cells.reduce((n, c) => n + c.svgOutputs, 0)} charts, ${run.seconds.toFixed(1)} s`);
    });
  }
});
