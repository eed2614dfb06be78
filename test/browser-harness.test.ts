// The browser harness itself, in JupyterLab and in the classic Notebook, on tiny notebooks run by tslab's own
// kernel: it must see outputs and charts, and it must report an error (and the cells it aborted) when a notebook
// fails.
import { strict as assert } from "node:assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { Browser } from "playwright-core";
import { NotebookServer, launchChromium, makeNotebook, runAllInBrowser, streamText, tslabKernelspec, ARTIFACTS } from "./helpers/browser";

for (const frontEnd of ["lab", "classic"] as const)
  describe(`browser harness (${frontEnd === "lab" ? "JupyterLab" : "classic Notebook"} + Chromium)`, function () {
    this.timeout(400_000);
    let dir: string;
    let server: NotebookServer;
    let browser: Browser;

    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsdl-browser-harness-"));
      const nbDir = path.join(dir, "nb");
      fs.mkdirSync(nbDir);
      const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="120" height="60"><rect width="100" height="40" fill="steelblue"/></svg>`;
      fs.writeFileSync(
        path.join(nbDir, "ok.ipynb"),
        makeNotebook("tslab", [
          "md:# ok",
          "const x = 6 * 7;\nconsole.log('x =', x);",
          `import * as tslab from "tslab";\ntslab.display.svg(${JSON.stringify(svg)});`,
        ]),
      );
      fs.writeFileSync(
        path.join(nbDir, "bad.ipynb"),
        makeNotebook("tslab", ["console.log('before');", "throw new Error('boom 17');", "console.log('after');"]),
      );
      server = await NotebookServer.start({
        frontEnd,
        notebookDir: nbDir,
        extraJupyterPath: [tslabKernelspec(path.join(dir, "kernelspecs"))],
      });
      browser = await launchChromium();
    });

    after(async () => {
      await browser?.close();
      if (server) {
        const { code, signal } = await server.stop();
        assert.ok(code === 0 || signal === "SIGTERM", `server stopped with ${code ?? signal}`);
      }
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it("runs every cell and sees stdout and the rendered SVG", async () => {
      const shot = path.join(ARTIFACTS, `harness-${frontEnd}-ok.png`);
      const run = await runAllInBrowser(browser, server, "ok.ipynb", { timeoutMs: 150_000, screenshot: shot });
      assert.deepEqual(run.errors, []);
      assert.deepEqual(run.stderr, []);
      assert.deepEqual(run.shownErrors, []);
      assert.deepEqual(run.notRun, []);
      // Plain tslab makes JupyterLab throw "No active debugger session" after each cell (the tsdl kernel does not,
      // which browser.test.ts checks).
      assert.deepEqual(
        run.pageErrors.filter((e) => !/No active debugger session/.test(e)),
        [],
      );
      assert.equal(streamText(run), "x = 42\n");
      const chart = run.cells.find((c) => c.svgOutputs > 0);
      assert.ok(chart, "an SVG output in the model");
      assert.equal(chart.svgRendered, 1);
      assert.ok(fs.statSync(shot).size > 5_000, "a screenshot was written");
    });

    it("reports a failing cell and the cells it aborted, and leaves the notebook file untouched", async () => {
      const file = path.join(dir, "nb", "bad.ipynb");
      const before = fs.readFileSync(file, "utf8");
      const run = await runAllInBrowser(browser, server, "bad.ipynb", {
        timeoutMs: 150_000,
        screenshot: path.join(ARTIFACTS, `harness-${frontEnd}-bad.png`),
      });
      // tslab reports errors as stderr text (no `error` message); the tsdl kernel sends proper errors.
      const reported = [...run.errors, ...run.stderr].join("\n");
      assert.match(reported, /boom 17/);
      assert.ok(
        run.shownErrors.some((t) => t.includes("boom 17")),
        "the error is shown in the page",
      );
      assert.deepEqual(run.notRun, [2]);
      assert.equal(streamText(run), "before\n");
      assert.equal(fs.readFileSync(file, "utf8"), before);
    });
  });
