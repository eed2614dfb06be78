// Paths and environment shared by the set-up, `npm start`, tests and benches.
"use strict";
const fs = require("fs");
const path = require("path");

const repo = path.resolve(__dirname, "..");

/** Debian's Python, which has the Jupyter modules (the pyenv python3 on PATH does not). */
const PYTHON = process.env.TSDL_PYTHON || "/usr/bin/python3";

/** JupyterLab, pinned, in a virtual environment of its own inside the repo (the set-up makes it with pip). */
const JUPYTERLAB_VERSION = "4.6.4";
const VENV = process.env.TSDL_VENV ? path.resolve(process.env.TSDL_VENV) : path.join(repo, ".jupyter", "venv");

/**
 * Arguments every JupyterLab launch gets. jupyter_lsp (language servers; none for TypeScript is installed) runs
 * `npm prefix --global` at start-up, which writes a log under ~/.npm: off.
 */
const LAB_ARGS = ["--ServerApp.jpserver_extensions=jupyter_lsp=False"];

/** The venv's Python, and the stamp the set-up writes once JupyterLab JUPYTERLAB_VERSION is installed there. */
function venvPaths(venv = VENV) {
  return {
    venv,
    python: path.join(venv, "bin", "python"),
    /** Written when the set-up creates the venv: only a venv with it is ever repaired or replaced. */
    marker: path.join(venv, ".tsdl-venv"),
    stamp: path.join(venv, ".tsdl-jupyterlab"),
    /** pip's output of the last install. */
    log: `${venv}-install.log`,
  };
}

/** Everything Jupyter reads or writes stays inside the repo; the tsdl kernelspec is found in kernel/. */
function jupyterEnv(base = process.env) {
  const dot = path.join(repo, ".jupyter");
  return {
    ...base,
    JUPYTER_PATH: path.join(repo, "kernel", "share"),
    JUPYTER_DATA_DIR: path.join(dot, "data"),
    JUPYTER_RUNTIME_DIR: path.join(dot, "runtime"),
    JUPYTER_CONFIG_DIR: path.join(dot, "config"),
    JUPYTER_CONFIG_PATH: path.join(dot, "config"),
    JUPYTER_PLATFORM_DIRS: "0",
    IPYTHONDIR: path.join(dot, "ipython"),
  };
}

/**
 * The most recently modified file under `dir`: { mtimeMs, file } (mtimeMs 0 when there is none).
 * @param {string} dir
 * @returns {{ mtimeMs: number, file: string }}
 */
function newestFile(dir) {
  let newest = { mtimeMs: 0, file: "" };
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    const n = e.isDirectory() ? newestFile(p) : { mtimeMs: fs.statSync(p).mtimeMs, file: p };
    if (n.mtimeMs > newest.mtimeMs) newest = n;
  }
  return newest;
}

/**
 * Whether dist/ (the build of src/) in `root` is current: `built` is when tsc last ran (0: never), `changed`
 * the newest of src/ and tsconfig.json; stale when changed > built. The set-up rebuilds then; the kernel warns.
 * @param {string} [root]
 */
function buildState(root = repo) {
  const info = path.join(root, "dist", ".tsbuildinfo");
  const built = fs.existsSync(info) ? fs.statSync(info).mtimeMs : 0;
  const config = path.join(root, "tsconfig.json");
  let changed = newestFile(path.join(root, "src"));
  if (fs.existsSync(config) && fs.statSync(config).mtimeMs > changed.mtimeMs)
    changed = { mtimeMs: fs.statSync(config).mtimeMs, file: config };
  return { built, changed, stale: changed.mtimeMs > built };
}

/** `--help`: the script's header comment (its lines 2-10 without the `//`). */
function printUsage(file) {
  const lines = fs.readFileSync(file, "utf8").split("\n").slice(1, 10);
  console.log(lines.join("\n").replace(/^\/\/ ?/gm, ""));
}

module.exports = { repo, printUsage, PYTHON, JUPYTERLAB_VERSION, LAB_ARGS, VENV, venvPaths, jupyterEnv, buildState };
