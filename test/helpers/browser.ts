// Drive notebooks in a real browser: a Jupyter server on 127.0.0.1 with a token (JupyterLab from the set-up's venv,
// or the classic Notebook; project-local Jupyter dirs from scripts/env.js), Debian Chromium through playwright-core,
// Kernel > Restart (Kernel) and Run All, then what the page shows: error outputs, stderr, charts, tables, the kernel
// indicator while cells run, a full-page screenshot.
import { spawn, ChildProcess } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { chromium, Browser, Page } from "playwright-core";

// page.evaluate() bodies read JupyterLab's and the classic Notebook's untyped globals (window.jupyterapp, Jupyter).
/* eslint-disable @typescript-eslint/no-explicit-any */

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { repo, jupyterEnv, PYTHON, LAB_ARGS, venvPaths } = require("../../scripts/env") as {
  repo: string;
  PYTHON: string;
  LAB_ARGS: string[];
  venvPaths(): { python: string; venv: string };
  jupyterEnv(base?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
};

export const REPO = repo;
export const CHROMIUM = process.env.TSDL_CHROMIUM || "/usr/bin/chromium";
/** Where screenshots go (git-ignored). */
export const ARTIFACTS = path.join(repo, "artifacts", "browser");

const HOST = "127.0.0.1";

/** Flags that keep Chromium quiet offline (environment.md); playwright adds --headless and a fresh profile. */
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export interface NotebookServerOptions {
  /** "lab": JupyterLab from the set-up's venv (default); "classic": the classic Notebook on PYTHON. */
  frontEnd?: "lab" | "classic";
  /** Folder the server serves. */
  notebookDir: string;
  /** Extra environment for the server and its kernels (e.g. TSDL_SMOKE=1). */
  env?: Record<string, string>;
  /** Kernelspec folders searched before kernel/share (each holds kernels/<name>/kernel.json). */
  extraJupyterPath?: string[];
  readyTimeoutMs?: number;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, HOST, () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function get(port: number, urlPath: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: HOST, port, path: urlPath, headers: { Authorization: `token ${token}` }, timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error(`GET ${urlPath} timed out`)));
  });
}

/**
 * JupyterLab's settings for a test server (a folder of its own, so a run neither reads nor changes the user's):
 * no autosave (a run must never write outputs back into the notebook), every cell kept in the page (the default
 * windowing detaches cells scrolled out of view, so the page could not be checked), no news or update checks
 * (no network).
 */
const LAB_TEST_SETTINGS: Record<string, Record<string, unknown>> = {
  "@jupyterlab/docmanager-extension/plugin": { autosave: false },
  "@jupyterlab/notebook-extension/tracker": { windowingMode: "none" },
  "@jupyterlab/apputils-extension/notification": { fetchNews: "false", checkForUpdates: false },
};

/** A Jupyter server (JupyterLab or the classic Notebook) on 127.0.0.1 with a generated token; `stop()` sends SIGTERM. */
export class NotebookServer {
  private log = "";
  private constructor(
    readonly frontEnd: "lab" | "classic",
    readonly port: number,
    readonly token: string,
    readonly proc: ChildProcess,
    /** Lab only: its settings and workspaces folder (removed by stop()). */
    private readonly labDir?: string,
  ) {
    proc.stdout?.on("data", (d) => (this.log += d));
    proc.stderr?.on("data", (d) => (this.log += d));
  }

  get baseUrl(): string {
    return `http://${HOST}:${this.port}`;
  }

  /** The server's own log so far (for failure messages). */
  output(): string {
    return this.log;
  }

  static async start(opts: NotebookServerOptions): Promise<NotebookServer> {
    const frontEnd = opts.frontEnd ?? "lab";
    const port = await freePort();
    const token = crypto.randomBytes(24).toString("hex");
    const env = { ...jupyterEnv({ ...process.env, ...opts.env }), JUPYTER_TOKEN: token } as NodeJS.ProcessEnv;
    if (opts.extraJupyterPath?.length) env.JUPYTER_PATH = [...opts.extraJupyterPath, env.JUPYTER_PATH].join(path.delimiter);
    for (const k of ["JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR"]) fs.mkdirSync(env[k]!, { recursive: true });
    const common = [`--ip=${HOST}`, `--port=${port}`, "--port-retries=0", "--no-browser", `--notebook-dir=${opts.notebookDir}`];
    if (process.getuid?.() === 0) common.push("--allow-root");
    let cmd = PYTHON;
    let args = ["-m", "notebook", ...common];
    let labDir: string | undefined;
    if (frontEnd === "lab") {
      cmd = venvPaths().python;
      if (!fs.existsSync(cmd)) throw new Error(`JupyterLab is not installed (no ${path.relative(repo, cmd)}): run \`npm run setup\``);
      labDir = fs.mkdtempSync(path.join(os.tmpdir(), "tsdl-lab-"));
      for (const [plugin, values] of Object.entries(LAB_TEST_SETTINGS)) {
        const file = path.join(labDir, "settings", `${plugin}.jupyterlab-settings`);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, JSON.stringify(values));
      }
      args = [
        "-m",
        "jupyterlab",
        ...LAB_ARGS,
        ...common,
        `--LabApp.user_settings_dir=${path.join(labDir, "settings")}`,
        `--LabApp.workspaces_dir=${path.join(labDir, "workspaces")}`,
        // window.jupyterapp: the tests read the notebook model (outputs as saved) and shut kernels down through it.
        "--LabApp.expose_app_in_browser=True",
      ];
    }
    // Own process group, so stop() reaches the server and nothing else.
    const proc = spawn(cmd, args, { env, cwd: opts.notebookDir, stdio: ["ignore", "pipe", "pipe"], detached: true });
    const server = new NotebookServer(frontEnd, port, token, proc, labDir);
    const name = frontEnd === "lab" ? "JupyterLab" : "Jupyter Notebook";
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 90_000);
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`${name} exited (code ${proc.exitCode}) before answering:\n${server.log}`);
      const ok = await get(port, "/api/status", token).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) return server;
      if (Date.now() > deadline) {
        await server.stop();
        throw new Error(`${name} did not answer on ${HOST}:${port}:\n${server.log}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** GET a REST path with the token, parsed as JSON. */
  async api<T = unknown>(urlPath: string): Promise<T> {
    const r = await get(this.port, urlPath, this.token);
    if (r.status !== 200) throw new Error(`GET ${urlPath}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
    return JSON.parse(r.body) as T;
  }

  /** SIGTERM (Notebook shuts its kernels down; SIGINT would wait for a y/n answer); SIGKILL after 15 s. */
  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const p = this.proc;
    if (p.exitCode !== null || p.signalCode !== null) {
      if (this.labDir) fs.rmSync(this.labDir, { recursive: true, force: true });
      return { code: p.exitCode, signal: p.signalCode };
    }
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      p.once("exit", (code, signal) => resolve({ code, signal })),
    );
    p.kill("SIGTERM");
    const timer = setTimeout(() => {
      try {
        process.kill(-p.pid!, "SIGKILL");
      } catch {
        /* gone */
      }
    }, 15_000);
    const r = await exited;
    clearTimeout(timer);
    if (this.labDir) fs.rmSync(this.labDir, { recursive: true, force: true });
    return r;
  }
}

export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium, or set TSDL_CHROMIUM`);
  // Chromium writes its crash-report settings under XDG_CONFIG_HOME (~/.config/chromium) and, without
  // XDG_RUNTIME_DIR, GLib's settings (dconf) under ~/.cache: private ones in the repo's artifacts/ instead.
  const xdg = (name: string) => {
    const dir = path.join(repo, "artifacts", `xdg-${name}`);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  };
  const env = { ...process.env, XDG_RUNTIME_DIR: xdg("runtime"), XDG_CONFIG_HOME: xdg("config"), XDG_CACHE_HOME: xdg("cache") };
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true, env });
}

/** One output of a cell as the notebook model holds it after the run. */
export interface CellOutput {
  output_type: string;
  name?: string;
  text?: string;
  data?: Record<string, unknown>;
  ename?: string;
  evalue?: string;
  traceback?: string[];
}

export interface CellRun {
  index: number;
  source: string;
  /** Execution count shown in the prompt; null when the cell did not run (e.g. aborted after an error). */
  executionCount: number | null;
  outputs: CellOutput[];
  /** SVG outputs in the model, and rendered, non-empty <svg> elements in the cell's output area (classic). */
  svgOutputs: number;
  svgRendered: number;
  /** Vega-Lite outputs in the model, and `.vega-embed` charts drawn (a non-empty svg or canvas) in the page (lab). */
  vegaOutputs: number;
  vegaRendered: number;
  /** HTML tables shown in the cell's output area. */
  tables: number;
}

/** The notebook's kernel indicators, sampled while a run goes on. */
export interface IndicatorSample {
  /** Seconds since Run All was clicked. */
  t: number;
  /** What the toolbar's indicator says: "idle", "busy", "restarting", ... (JupyterLab's data-status, lower case). */
  status: string;
  /** What the status bar says after the kernel's name ("TypeScript (tsdl) | Busy" -> "busy"). */
  statusBar: string;
  /** Cells whose prompt shows `[*]` (queued or running). */
  pending: number;
}

export interface BrowserRun {
  notebook: string;
  cells: CellRun[];
  /** Error outputs (ename: evalue) and stderr text, with the cell index. */
  errors: string[];
  stderr: string[];
  /** Cells with code that produced no execution count. */
  notRun: number[];
  /** Error and stderr output areas the page shows (text), as a check on the model. */
  shownErrors: string[];
  /** Uncaught exceptions in the page's JavaScript. */
  pageErrors: string[];
  /** Lab: the kernel indicator from the click on Run All until the run was over. */
  indicator: IndicatorSample[];
  screenshot: string;
  seconds: number;
}

/**
 * The longest stretch (seconds) during which an indicator (the toolbar's or the status bar's) said `status` while
 * cells were still pending, from the first pending cell on.
 */
export function longestWhilePending(samples: IndicatorSample[], status: string, which: "status" | "statusBar" = "status"): number {
  let longest = 0;
  let since: number | undefined;
  const startedAt = samples.findIndex((s) => s.pending > 0);
  if (startedAt < 0) return 0;
  for (const s of samples.slice(startedAt)) {
    if (s[which] === status && s.pending > 0) {
      since ??= s.t;
      longest = Math.max(longest, s.t - since);
    } else since = undefined;
  }
  return longest;
}

export interface RunAllOptions {
  timeoutMs?: number;
  /** Screenshot path (default artifacts/browser/<notebook>.png). */
  screenshot?: string;
}

/** Text of every stdout stream of a run, cell by cell. */
export function streamText(run: BrowserRun, name: "stdout" | "stderr" = "stdout"): string {
  return run.cells.flatMap((c) => c.outputs.filter((o) => o.output_type === "stream" && o.name === name).map((o) => o.text ?? "")).join("");
}

/**
 * Open `notebook` (path relative to the server's folder) in the server's front end, restart the kernel and run
 * every cell from the menu, wait until every code cell has finished and the kernel is idle, then read the result
 * from the page and take a screenshot.
 */
export function runAllInBrowser(browser: Browser, server: NotebookServer, notebook: string, opts: RunAllOptions = {}): Promise<BrowserRun> {
  return server.frontEnd === "lab" ? runAllInLab(browser, server, notebook, opts) : runAllInClassic(browser, server, notebook, opts);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * JupyterLab: Run > Run All Cells on the kernel the notebook just started (a fresh one: earlier runs shut theirs
 * down); the toolbar's and the status bar's kernel indicators are sampled every 200 ms.
 */
async function runAllInLab(browser: Browser, server: NotebookServer, notebook: string, opts: RunAllOptions): Promise<BrowserRun> {
  const t0 = Date.now();
  const timeout = opts.timeoutMs ?? 300_000;
  const page: Page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const pageErrors: string[] = [];
  let clicked = 0;
  // When it happened (seconds after Run All was clicked) helps tell a restart race from a cell's error.
  page.on("pageerror", (e) =>
    pageErrors.push(`${clicked ? `${((Date.now() - clicked) / 1000).toFixed(1)} s after Run All` : "before Run All"}: ${String(e)}`),
  );
  try {
    // `reset`: a fresh workspace, so the notebooks of earlier runs are not reopened beside this one.
    const url = `${server.baseUrl}/lab/tree/${notebook.split("/").map(encodeURIComponent).join("/")}?reset&token=${server.token}`;
    await page.goto(url, { waitUntil: "load", timeout: 90_000 });
    // The notebook is open and its kernel started and connected (the toolbar's indicator can say idle before that).
    await page.waitForFunction(
      (name: string) => {
        const panel = (window as any).jupyterapp?.shell?.currentWidget;
        const indicator = panel?.node?.querySelector(".jp-Notebook-ExecutionIndicator");
        const kernel = panel?.sessionContext?.session?.kernel;
        return !!(
          panel?.content?.widgets &&
          panel.context?.isReady &&
          panel.context.path.endsWith(name) &&
          panel.sessionContext.isReady &&
          kernel?.status === "idle" &&
          kernel?.connectionStatus === "connected" &&
          indicator?.getAttribute("data-status") === "idle"
        );
      },
      notebook.split("/").pop()!,
      { timeout: 120_000, polling: 250 },
    );
    // The real menu: Run > Run All Cells.
    await page.click(".lm-MenuBar-item:has(.lm-MenuBar-itemLabel:text-is('Run'))");
    await page.click(".lm-Menu-item[data-command='runmenu:run-all']");
    clicked = Date.now();
    const indicator: IndicatorSample[] = [];
    let started = false;
    let quiet = 0;
    for (;;) {
      const s = await page.evaluate(() => {
        // This notebook's panel only (the toolbar's indicator and the cells' prompts).
        const node: HTMLElement = (window as any).jupyterapp.shell.currentWidget.node;
        const prompts = Array.from(node.querySelectorAll(".jp-Cell .jp-InputPrompt")).map((e) => e.textContent ?? "");
        const bar = Array.from(document.querySelectorAll(".jp-StatusBar-TextItem")).find((e) =>
          (e.getAttribute("title") ?? "").startsWith("Change kernel for"),
        );
        return {
          status: (node.querySelector(".jp-Notebook-ExecutionIndicator")?.getAttribute("data-status") ?? "").toLowerCase(),
          statusBar: (bar?.textContent ?? "").split("|").pop()!.trim().toLowerCase(),
          pending: prompts.filter((t) => t.includes("*")).length,
          // The served copies have no execution counts: a number in a prompt means that cell ran.
          counted: prompts.filter((t) => /\d/.test(t)).length,
        };
      });
      indicator.push({ t: (Date.now() - clicked) / 1000, status: s.status, statusBar: s.statusBar, pending: s.pending });
      if (s.pending > 0 || s.counted > 0 || s.status === "busy") started = true;
      // Over when nothing is pending and the kernel is idle, twice in a row (a next cell may start in between).
      quiet = started && s.pending === 0 && s.status === "idle" ? quiet + 1 : 0;
      if (quiet >= 2) break;
      if (Date.now() - clicked > timeout) {
        const seen = [...new Set(indicator.map((x) => x.status))].join(", ");
        const shot = path.join(ARTIFACTS, `${path.basename(notebook, ".ipynb")}-timeout.png`);
        await page.screenshot({ path: shot }).catch(() => undefined);
        throw new Error(
          `${notebook}: Run All did not finish within ${timeout / 1000} s; the indicator said ${seen}, last ${JSON.stringify(s)}; screenshot ${shot}`,
        );
      }
      await sleep(200);
    }
    // Let renderers (vega-embed, markdown) settle.
    await page.waitForTimeout(500);
    const cells: CellRun[] = await page.evaluate(() => {
      const panel = (window as any).jupyterapp.shell.currentWidget;
      const drawn = (e: Element) => {
        const r = e.getBoundingClientRect();
        return r.width > 0 && r.height > 0;
      };
      return (panel.content.widgets as any[])
        .map((cell, index) => ({ cell, index }))
        .filter(({ cell }) => cell.model.type === "code")
        .map(({ cell, index }) => {
          const json = cell.model.toJSON();
          const outputs = (json.outputs ?? []).map((o: any) => ({ ...o, text: Array.isArray(o.text) ? o.text.join("") : o.text }));
          const area = cell.node.querySelector(".jp-OutputArea") as HTMLElement | null;
          const embeds = area ? Array.from(area.querySelectorAll(".vega-embed")) : [];
          // JupyterLab draws an image/svg+xml output as an <img> of it; vega-embed draws inline <svg>.
          const svgs = area
            ? [
                ...(Array.from(area.querySelectorAll(".jp-RenderedSVG svg, .jp-RenderedImage svg")) as Element[]).filter(
                  (e) => !e.parentElement?.closest("svg"),
                ),
                ...Array.from(area.querySelectorAll('.jp-RenderedSVG img, .jp-RenderedImage img[src^="data:image/svg+xml"]')),
              ]
            : [];
          return {
            index,
            source: cell.model.sharedModel.getSource(),
            executionCount: typeof json.execution_count === "number" ? json.execution_count : null,
            outputs,
            svgOutputs: outputs.filter((o: any) => o.data && o.data["image/svg+xml"] !== undefined).length,
            svgRendered: svgs.filter(drawn).length,
            vegaOutputs: outputs.filter((o: any) => o.data && Object.keys(o.data).some((k) => k.startsWith("application/vnd.vegalite")))
              .length,
            vegaRendered: embeds.filter(
              (e) => Array.from(e.querySelectorAll("svg, canvas")).some(drawn) && e.querySelector("svg path, svg text, canvas"),
            ).length,
            tables: area ? area.querySelectorAll("table").length : 0,
          };
        });
    });
    const { errors, stderr, notRun } = collectErrors(cells);
    const shownErrors = await page.evaluate(() =>
      Array.from(
        ((window as any).jupyterapp.shell.currentWidget.node as HTMLElement).querySelectorAll(
          '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]',
        ),
      ).map((e) => (e.textContent ?? "").slice(0, 500)),
    );
    // A screenshot of every cell: make the window as tall as the notebook (cells are kept in the page).
    const height = await page.evaluate(
      () => (window as any).jupyterapp.shell.currentWidget.node.querySelector(".jp-WindowedPanel-outer")?.scrollHeight ?? 900,
    );
    await page.setViewportSize({ width: 1280, height: Math.min(Math.max(900, height + 150), 30_000) });
    await page.evaluate(() => (window as any).jupyterapp.shell.currentWidget.node.querySelector(".jp-WindowedPanel-outer")?.scrollTo(0, 0));
    await page.waitForTimeout(500);
    const shot = opts.screenshot ?? path.join(ARTIFACTS, `${path.basename(notebook, ".ipynb")}.png`);
    fs.mkdirSync(path.dirname(shot), { recursive: true });
    await page.screenshot({ path: shot });
    // Shut this notebook's kernel down now rather than with the server, to free the CPU for the next one.
    await page.evaluate(() => (window as any).jupyterapp.shell.currentWidget.sessionContext.shutdown());
    return {
      notebook,
      cells,
      errors,
      stderr,
      notRun,
      shownErrors,
      pageErrors,
      indicator,
      screenshot: shot,
      seconds: (Date.now() - t0) / 1000,
    };
  } finally {
    await page.close();
  }
}

function collectErrors(cells: CellRun[]): { errors: string[]; stderr: string[]; notRun: number[] } {
  const errors: string[] = [];
  const stderr: string[] = [];
  const notRun: number[] = [];
  for (const cell of cells) {
    if (cell.source.trim() && cell.executionCount === null) notRun.push(cell.index);
    for (const o of cell.outputs) {
      if (o.output_type === "error") errors.push(`cell ${cell.index}: ${o.ename}: ${o.evalue}`);
      if (o.output_type === "stream" && o.name === "stderr") stderr.push(`cell ${cell.index}: ${o.text}`);
    }
  }
  return { errors, stderr, notRun };
}

/** The classic Notebook: Kernel > Restart & Run All, confirm; completion from the notebook's own events. */
async function runAllInClassic(browser: Browser, server: NotebookServer, notebook: string, opts: RunAllOptions): Promise<BrowserRun> {
  const t0 = Date.now();
  const timeout = opts.timeoutMs ?? 300_000;
  const page: Page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const pageErrors: string[] = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  try {
    const url = `${server.baseUrl}/notebooks/${notebook.split("/").map(encodeURIComponent).join("/")}?token=${server.token}`;
    await page.goto(url, { waitUntil: "load", timeout: 90_000 });
    await page.waitForFunction(
      () => {
        const J = (window as any).Jupyter;
        return !!(J && J.notebook && J.notebook._fully_loaded && J.notebook.kernel && J.notebook.kernel.is_connected());
      },
      undefined,
      { timeout: 120_000 },
    );
    // No autosave: a run must never write outputs back into the notebook file.
    await page.evaluate(() => (window as any).Jupyter.notebook.set_autosave_interval(0));
    // Count executions from the notebook's own events: a cell starts (execute.CodeCell) and ends when the
    // kernel is idle for its request (finished_execute.CodeCell), aborted cells included.
    const expected = await page.evaluate(() => {
      const J = (window as any).Jupyter;
      const w = window as any;
      w.__tsdlRun = { started: 0, finished: 0 };
      J.notebook.events.on("execute.CodeCell", () => w.__tsdlRun.started++);
      J.notebook.events.on("finished_execute.CodeCell", () => w.__tsdlRun.finished++);
      return J.notebook.get_cells().filter((c: any) => c.cell_type === "code" && c.get_text().trim().length > 0).length;
    });
    // The real menu: Kernel > Restart & Run All, then the confirmation dialog.
    await page.click("#kernellink");
    await page.click("#restart_run_all");
    await page.click(".modal-dialog .modal-footer button.btn-danger", { timeout: 10_000 });
    await page.waitForFunction(
      (n: number) => {
        const r = (window as any).__tsdlRun;
        const idle = document.querySelector("#kernel_indicator_icon.kernel_idle_icon") !== null;
        return r.started === n && r.finished === n && idle && document.querySelectorAll(".cell.running").length === 0;
      },
      expected,
      { timeout, polling: 250 },
    );
    // Let renderers (SVG, markdown) settle.
    await page.waitForTimeout(300);
    const cells: CellRun[] = await page.evaluate(() => {
      const J = (window as any).Jupyter;
      return J.notebook
        .get_cells()
        .map((c: any, index: number) => ({ c, index }))
        .filter(({ c }: any) => c.cell_type === "code")
        .map(({ c, index }: any) => {
          const json = c.toJSON();
          const outputs = (json.outputs ?? []).map((o: any) => ({
            ...o,
            text: Array.isArray(o.text) ? o.text.join("") : o.text,
          }));
          const svgs = Array.from(c.element[0].querySelectorAll(".output_area svg")) as SVGSVGElement[];
          const top = svgs.filter((s) => !s.parentElement?.closest("svg"));
          const rendered = top.filter((s) => {
            const r = s.getBoundingClientRect();
            return r.width > 0 && r.height > 0 && s.querySelector("path, text, rect, line") !== null;
          }).length;
          return {
            index,
            source: c.get_text(),
            executionCount: typeof json.execution_count === "number" ? json.execution_count : null,
            outputs,
            svgOutputs: outputs.filter((o: any) => o.data && o.data["image/svg+xml"] !== undefined).length,
            svgRendered: rendered,
            vegaOutputs: 0,
            vegaRendered: 0,
            tables: c.element[0].querySelectorAll(".output_area table").length,
          };
        });
    });
    const { errors, stderr, notRun } = collectErrors(cells);
    const shownErrors = await page.evaluate(() =>
      Array.from(document.querySelectorAll(".output_area .output_error, .output_area .output_stderr")).map((e) =>
        (e.textContent ?? "").slice(0, 500),
      ),
    );
    // The classic Notebook scrolls inside #site; let the page grow so a full-page screenshot shows every cell.
    await page.evaluate(() => {
      // Long outputs are collapsed into scroll boxes; unfold them so the screenshot shows every chart.
      document.querySelectorAll(".output_scroll").forEach((e) => e.classList.remove("output_scroll"));
      for (const sel of ["html", "body", "#site"]) {
        const el = document.querySelector(sel) as HTMLElement | null;
        if (el) {
          el.style.height = "auto";
          el.style.overflow = "visible";
        }
      }
    });
    const shot = opts.screenshot ?? path.join(ARTIFACTS, `${path.basename(notebook, ".ipynb")}.png`);
    fs.mkdirSync(path.dirname(shot), { recursive: true });
    await page.screenshot({ path: shot, fullPage: true });
    // Shut this notebook's kernel down now rather than with the server, to free the CPU for the next one.
    await page.evaluate(
      () =>
        new Promise<void>((resolve) => {
          const J = (window as any).Jupyter;
          J.notebook.session.delete(
            () => resolve(),
            () => resolve(),
          );
        }),
    );
    return {
      notebook,
      cells,
      errors,
      stderr,
      notRun,
      shownErrors,
      pageErrors,
      indicator: [],
      screenshot: shot,
      seconds: (Date.now() - t0) / 1000,
    };
  } finally {
    await page.close();
  }
}

/** A kernelspec folder for tslab's own TypeScript kernel (to test the harness without the tsdl kernel). */
export function tslabKernelspec(dir: string): string {
  const spec = path.join(dir, "kernels", "tslab");
  fs.mkdirSync(spec, { recursive: true });
  const bin = path.join(repo, "node_modules", "tslab", "bin", "tslab");
  fs.writeFileSync(
    path.join(spec, "kernel.json"),
    JSON.stringify({
      argv: [process.execPath, bin, "kernel", "--config-path", "{connection_file}"],
      display_name: "TypeScript (tslab)",
      language: "typescript",
    }),
  );
  return dir;
}

/** A minimal nbformat 4 notebook from cell sources ("md:" prefix = markdown). */
export function makeNotebook(kernel: string, cells: string[]): string {
  return JSON.stringify(
    {
      cells: cells.map((src) =>
        src.startsWith("md:")
          ? { cell_type: "markdown", metadata: {}, source: src.slice(3) }
          : { cell_type: "code", metadata: {}, source: src, outputs: [], execution_count: null },
      ),
      metadata: { kernelspec: { name: kernel, display_name: kernel, language: "typescript" } },
      nbformat: 4,
      nbformat_minor: 5,
    },
    null,
    1,
  );
}
