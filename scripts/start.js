#!/usr/bin/env node
// `npm start`: after scripts/setup.js, start Jupyter on 127.0.0.1 with a fresh token in notebooks/ and print the URL.
// JupyterLab (installed by the set-up in .jupyter/venv; it renders vega-lite natively), else the classic Notebook
// (which shows the SVG of each chart). Everything Jupyter reads or writes stays in the repo (scripts/env.js jupyterEnv()).
//   node scripts/start.js [--port N] [--notebook-dir DIR] [--classic] [--open] [-- extra Jupyter args]
//     --port N          port on 127.0.0.1 (default 8888, or a free one when 8888 is taken; 0 = any free port)
//     --notebook-dir    folder Jupyter serves (default notebooks/)
//     --classic         the classic Notebook instead of JupyterLab
//     --open            also open a web browser
// Ctrl-C (SIGINT) or SIGTERM stops the server cleanly (Jupyter itself would ask for a confirmation on SIGINT).
"use strict";
const { spawn, spawnSync } = require("child_process");
const crypto = require("crypto");
const fs = require("fs");
const http = require("http");
const net = require("net");
const path = require("path");
const { repo, jupyterEnv, LAB_ARGS, printUsage, PYTHON, venvPaths } = require("./env");

const HOST = "127.0.0.1";
const READY_TIMEOUT_MS = 60_000;

function say(msg) {
  console.log(`[tsdl start] ${msg}`);
}

function fail(msg) {
  console.error(`[tsdl start] ${msg}`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { port: undefined, notebookDir: path.join(repo, "notebooks"), classic: false, open: false, extra: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) fail(`${a} needs a value`);
      return v;
    };
    if (a === "--") {
      opts.extra = argv.slice(i + 1);
      break;
    } else if (a === "--port") {
      const v = value();
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535) fail(`--port ${JSON.stringify(v)}: expected an integer 0-65535 (0 = any free port)`);
      opts.port = n;
    } else if (a === "--notebook-dir") {
      opts.notebookDir = path.resolve(value());
      if (!fs.existsSync(opts.notebookDir) || !fs.statSync(opts.notebookDir).isDirectory())
        fail(`--notebook-dir ${JSON.stringify(opts.notebookDir)}: not a directory`);
    } else if (a === "--classic") opts.classic = true;
    else if (a === "--open") opts.open = true;
    else if (a === "--help" || a === "-h") {
      printUsage(__filename);
      process.exit(0);
    } else fail(`unknown option ${JSON.stringify(a)}; accepted: --port N, --notebook-dir DIR, --classic, --open, -- <Jupyter args>`);
  }
  return opts;
}

/**
 * Which Jupyter front end to run: JupyterLab from the set-up's venv (else one importable by PYTHON), or the
 * classic Notebook with --classic or when there is no JupyterLab (saying so once).
 */
function chooseFrontEnd(env, classic) {
  const version = (cmd, args) => {
    const r = spawnSync(cmd, args, { env, encoding: "utf8", timeout: 30_000 });
    return r.status === 0 ? r.stdout.trim().split("\n").pop() : undefined;
  };
  if (!classic) {
    const venv = venvPaths();
    for (const py of [venv.python, PYTHON]) {
      const v = fs.existsSync(py) ? version(py, ["-m", "jupyterlab", "--version"]) : undefined;
      if (v) return { name: "JupyterLab", version: v, cmd: py, args: ["-m", "jupyterlab", ...LAB_ARGS], home: "lab" };
    }
    say(
      `JupyterLab is not installed (no ${path.relative(repo, venv.python)}), so this is the classic Notebook; ` +
        "`npm run setup` installs JupyterLab (the reason it failed is in its output)",
    );
  }
  const v = version(PYTHON, ["-m", "notebook", "--version"]);
  if (v) return { name: "Jupyter Notebook", version: v, cmd: PYTHON, args: ["-m", "notebook"], home: "tree" };
  fail(
    `no Jupyter found for ${PYTHON} (tried jupyterlab and notebook). Run \`npm run setup\`, or install it: ` +
      "Debian/Ubuntu `sudo apt-get install jupyter-notebook`, or `python3 -m pip install notebook` " +
      "(set TSDL_PYTHON to that python).",
  );
}

function portFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once("error", () => resolve(false));
    s.listen(port, HOST, () => s.close(() => resolve(true)));
  });
}

function anyFreePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, HOST, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function choosePort(requested) {
  if (requested === undefined) return (await portFree(8888)) ? 8888 : anyFreePort();
  if (requested === 0) return anyFreePort();
  if (!(await portFree(requested))) fail(`port ${requested} on ${HOST} is in use; pick another with --port N (0 = any free port)`);
  return requested;
}

/** GET /api/status with the token; resolves true once the server answers 200. */
function statusOk(port, token) {
  return new Promise((resolve) => {
    const req = http.get({ host: HOST, port, path: "/api/status", headers: { Authorization: `token ${token}` }, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => {
      req.destroy();
      resolve(false);
    });
  });
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const token = crypto.randomBytes(24).toString("hex");
  // The token goes through the environment (both Notebook 6 and jupyter_server read JUPYTER_TOKEN), not argv,
  // so it does not show in `ps`.
  const env = { ...jupyterEnv(process.env), JUPYTER_TOKEN: token };
  for (const k of ["JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR"]) fs.mkdirSync(env[k], { recursive: true });
  if (!fs.existsSync(path.join(repo, "kernel", "share", "kernels", "tsdl", "kernel.json")))
    say("warning: the tsdl kernelspec (kernel/share/kernels/tsdl) is missing; run `npm run setup`");

  const fe = chooseFrontEnd(env, opts.classic);
  const port = await choosePort(opts.port);
  const args = [
    ...fe.args,
    `--ip=${HOST}`,
    `--port=${port}`,
    "--port-retries=0",
    `--notebook-dir=${opts.notebookDir}`,
    ...(opts.open ? [] : ["--no-browser"]),
    // Containers and CI often run as root, which Jupyter refuses without this flag.
    ...(typeof process.getuid === "function" && process.getuid() === 0 ? ["--allow-root"] : []),
    ...opts.extra,
  ];
  // Own process group: Ctrl-C in the terminal reaches only us, and we stop Jupyter with SIGTERM (no y/n prompt).
  const child = spawn(fe.cmd, args, { env, cwd: opts.notebookDir, stdio: ["ignore", "inherit", "inherit"], detached: true });
  let stopping = false;
  const stop = (signal) => {
    if (stopping) return;
    stopping = true;
    say(`${signal}: stopping Jupyter`);
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      /* already gone */
    }
    // Jupyter shuts its kernels down on SIGTERM; if it hangs, end the group.
    setTimeout(() => {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }, 15_000).unref();
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("exit", () => {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
  });
  child.on("error", (e) => fail(`could not start ${fe.cmd}: ${e.message}`));
  child.on("exit", (code, signal) => {
    if (stopping) {
      say("stopped");
      process.exit(0);
    }
    console.error(`[tsdl start] Jupyter exited (${signal ?? `code ${code}`})`);
    process.exit(code || 1);
  });

  const t0 = Date.now();
  while (!(await statusOk(port, token))) {
    if (stopping || child.exitCode !== null) return;
    if (Date.now() - t0 > READY_TIMEOUT_MS) {
      stop("timeout");
      console.error(`[tsdl start] ${fe.name} did not answer on ${HOST}:${port} within ${READY_TIMEOUT_MS / 1000} s`);
      return;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const url = `http://${HOST}:${port}/${fe.home}?token=${token}`;
  say(`${fe.name} ${fe.version} serving ${path.relative(repo, opts.notebookDir) || "."}/ (kernel "tsdl")`);
  say(`open: ${url}`);
  say("Ctrl-C stops the server.");
}

main().catch((e) => fail(e.stack || String(e)));
