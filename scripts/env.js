// Paths and environment shared by the set-up, `npm start`, tests and benches.
"use strict";
const path = require("path");

const repo = path.resolve(__dirname, "..");

/** Debian's Python, which has the Jupyter modules (the pyenv python3 on PATH does not). */
const PYTHON = process.env.TSDL_PYTHON || "/usr/bin/python3";

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

module.exports = { repo, PYTHON, jupyterEnv };
