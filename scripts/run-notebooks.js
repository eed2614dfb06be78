#!/usr/bin/env node
// Execute the notebooks headlessly on the tsdl kernel (nbconvert on Debian's Python) and write, per notebook,
// an executed copy (trusted, so Jupyter shows its charts) and an HTML report with the charts inline.
//   node scripts/run-notebooks.js [--smoke | --laptop] [--out DIR] [--timeout SECONDS] [NAME ...]
//     NAME        notebooks to run (e.g. 01 or 03-lr-schedulers); default: every notebooks/*.ipynb
//     --smoke     the tests' tiny configuration (TSDL_SETTING=smoke, TSDL_SMOKE=1); default: the tutorial's settings
//     --laptop    02 and 04 shrunk to under 30 minutes each on a 2-core CPU (TSDL_SETTING=laptop)
//     --out DIR   where the executed notebooks and HTML go (default notebooks/executed/, git-ignored)
//     --timeout   seconds per cell (default: none for full runs, 600 with --smoke)
// The notebooks read TSDL_SETTING, TSDL_BACKEND, TSDL_DATASET, TSDL_EPOCHS, TSDL_BATCHES_PER_EPOCH and
// TSDL_BATCH_SIZE from the environment.
"use strict";
const { spawn } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");
const { repo, jupyterEnv, printUsage, PYTHON } = require("./env");

const NOTEBOOKS = path.join(repo, "notebooks");

/** A path relative to the repo when inside it, else absolute. */
function shown(p) {
  const rel = path.relative(repo, p);
  return rel.startsWith("..") || path.isAbsolute(rel) ? p : rel || ".";
}

function fail(msg) {
  console.error(`[tsdl notebooks] ${msg}`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { smoke: false, laptop: false, out: path.join(NOTEBOOKS, "executed"), timeout: undefined, names: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--smoke") opts.smoke = true;
    else if (a === "--laptop") opts.laptop = true;
    else if (a === "--out") {
      if (argv[i + 1] === undefined) fail("--out needs a directory");
      opts.out = path.resolve(argv[++i]);
    } else if (a === "--timeout") {
      const v = argv[++i];
      const n = Number(v);
      if (!(Number.isFinite(n) && n > 0)) fail(`--timeout ${JSON.stringify(v)}: expected a number of seconds > 0`);
      opts.timeout = n;
    } else if (a === "--help" || a === "-h") {
      printUsage(__filename);
      process.exit(0);
    } else if (a.startsWith("-"))
      fail(`unknown option ${JSON.stringify(a)}; accepted: --smoke, --laptop, --out DIR, --timeout SECONDS, NAME ...`);
    else opts.names.push(a);
  }
  if (opts.smoke && opts.laptop) fail("--smoke and --laptop: pick one setting");
  return opts;
}

function selectNotebooks(names) {
  const all = fs
    .readdirSync(NOTEBOOKS)
    .filter((f) => f.endsWith(".ipynb"))
    .sort();
  if (names.length === 0) return all;
  return names.map((n) => {
    const hits = all.filter((f) => f === n || f.startsWith(n));
    if (hits.length !== 1)
      fail(
        `notebook ${JSON.stringify(n)} ${hits.length ? `is ambiguous (${hits.join(", ")})` : "not found"}; available: ${all.join(", ")}`,
      );
    return hits[0];
  });
}

/** Run a command, echoing its stderr only on failure; resolves with the exit code and captured output. */
function run(cmd, args, env, cwd) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env, cwd, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("error", (e) => resolve({ code: -1, out: `${out}\n${e.message}` }));
    child.on("close", (code) => resolve({ code, out }));
  });
}

/** A cell's error, as nbconvert left it in the executed notebook (with --allow-errors). */
function firstError(nbPath) {
  try {
    const nb = JSON.parse(fs.readFileSync(nbPath, "utf8"));
    for (const [i, cell] of nb.cells.entries()) {
      for (const o of cell.outputs ?? []) {
        if (o.output_type === "error") return `cell ${i}: ${o.ename}: ${o.evalue}`;
      }
    }
  } catch {
    /* no executed notebook */
  }
  return undefined;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const notebooks = selectNotebooks(opts.names);
  fs.mkdirSync(opts.out, { recursive: true });
  // The setting comes from the flags only, not from whatever TSDL_SMOKE / TSDL_SETTING the shell has.
  const setting = opts.smoke ? "smoke" : opts.laptop ? "laptop" : "tutorial";
  const base = { ...process.env, TSDL_SETTING: setting };
  if (opts.smoke) base.TSDL_SMOKE = "1";
  else delete base.TSDL_SMOKE;
  const env = jupyterEnv(base);
  for (const k of ["JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR"]) fs.mkdirSync(env[k], { recursive: true });
  // Debian nbconvert 6.5's HTML export passes SVG through lxml's clean_html, which drops inline <svg>;
  // an identity filter in its place keeps the charts (our own notebooks, so nothing untrusted is rendered).
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tsdl-nbconvert-"));
  const htmlConfig = path.join(tmp, "keep_svg.py");
  fs.writeFileSync(htmlConfig, "c.TemplateExporter.filters = {'clean_html': 'builtins.format'}\n");
  const timeout = opts.timeout ?? (opts.smoke ? 600 : -1);
  console.log(
    `[tsdl notebooks] ${notebooks.length} notebook(s), ${{ smoke: "smoke configuration (TSDL_SMOKE=1)", laptop: "laptop setting (TSDL_SETTING=laptop)", tutorial: "the tutorial's settings" }[setting]}, ` +
      `backend ${process.env.TSDL_BACKEND || "auto"}, output ${shown(opts.out)}/`,
  );
  const results = [];
  try {
    for (const nb of notebooks) {
      const name = nb.replace(/\.ipynb$/, "");
      const executed = path.join(opts.out, `${name}.ipynb`);
      const t0 = Date.now();
      process.stdout.write(`[tsdl notebooks] ${nb} ... `);
      // --allow-errors: a failing cell still yields a report showing where it failed; the exit code says it failed.
      const exec = await run(
        PYTHON,
        [
          "-m",
          "nbconvert",
          "--to",
          "notebook",
          "--execute",
          "--allow-errors",
          "--ExecutePreprocessor.kernel_name=tsdl",
          `--ExecutePreprocessor.timeout=${timeout}`,
          "--output-dir",
          opts.out,
          "--output",
          `${name}.ipynb`,
          path.join(NOTEBOOKS, nb),
        ],
        env,
        NOTEBOOKS,
      );
      const seconds = (Date.now() - t0) / 1000;
      const error = exec.code !== 0 ? exec.out.trim().split("\n").slice(-5).join("\n") : firstError(executed);
      let html;
      if (fs.existsSync(executed)) {
        await run(PYTHON, ["-m", "nbformat.sign", executed], env, NOTEBOOKS);
        const h = await run(
          PYTHON,
          ["-m", "nbconvert", "--config", htmlConfig, "--to", "html", "--output-dir", opts.out, executed],
          env,
          NOTEBOOKS,
        );
        if (h.code === 0) html = path.join(opts.out, `${name}.html`);
        else console.error(`\n[tsdl notebooks] HTML export of ${nb} failed:\n${h.out.trim().split("\n").slice(-5).join("\n")}`);
      }
      console.log(error ? `FAILED (${seconds.toFixed(1)} s)` : `ok (${seconds.toFixed(1)} s)`);
      if (error) console.error(`  ${error.replace(/\n/g, "\n  ")}`);
      results.push({ notebook: nb, ok: !error && html !== undefined, seconds, executed, html, error });
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  console.log("");
  console.log("| notebook | status | seconds | HTML report |");
  console.log("| --- | --- | --- | --- |");
  for (const r of results)
    console.log(`| ${r.notebook} | ${r.ok ? "ok" : "FAILED"} | ${r.seconds.toFixed(1)} | ${r.html ? shown(r.html) : "-"} |`);
  for (const r of results)
    console.log(JSON.stringify({ notebook: r.notebook, ok: r.ok, seconds: r.seconds, setting, smoke: opts.smoke, error: r.error ?? null }));
  process.exit(results.every((r) => r.ok) ? 0 : 1);
}

main().catch((e) => fail(e.stack || String(e)));
