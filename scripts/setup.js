#!/usr/bin/env node
// Set-up shared by `npm start`, `npm test` and `npm run bench`: installs what is missing and nothing else.
// Plain Node (no dependencies), so it runs on a fresh clone before node_modules exists.
//   node scripts/setup.js [--for start|test|bench]
// Idempotent and quiet when everything is there. Writes only inside the repo (and apt's system packages).
"use strict";
const { spawnSync } = require("child_process");
const crypto = require("crypto");
const fs = require("fs");
const path = require("path");
const { repo, jupyterEnv, buildState, JUPYTERLAB_VERSION, venvPaths } = require("./env");

const purpose = (() => {
  const i = process.argv.indexOf("--for");
  return i > 0 ? process.argv[i + 1] : "start";
})();

function say(msg) {
  console.log(`[tsdl setup] ${msg}`);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: "inherit", cwd: repo, ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (exit ${r.status ?? r.signal})`);
}

// 1. npm dependencies: `npm ci` when node_modules is absent or was installed from another lockfile.
function npmDeps() {
  const lock = path.join(repo, "package-lock.json");
  const stamp = path.join(repo, "node_modules", ".tsdl-lock-sha1");
  const want = crypto.createHash("sha1").update(fs.readFileSync(lock)).digest("hex");
  const have = fs.existsSync(stamp) ? fs.readFileSync(stamp, "utf8").trim() : "";
  if (have === want) return;
  say(fs.existsSync(path.join(repo, "node_modules")) ? "node_modules is stale: npm ci" : "installing npm dependencies: npm ci");
  // Optional tfjs-node(-gpu) fail here without network to Google storage; npm skips them.
  run("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
  fs.writeFileSync(stamp, want + "\n");
}

// 2. `import ... from "tsdl"` resolves to this repo from notebooks, tests and benches.
function linkSelf() {
  const link = path.join(repo, "node_modules", "tsdl");
  try {
    if (fs.readlinkSync(link) === "..") return;
    fs.unlinkSync(link);
  } catch {
    /* absent */
  }
  fs.symlinkSync("..", link, "dir");
}

// 3. Build dist/ when any source is newer than the last build.
function build() {
  if (!buildState().stale) return;
  say("building dist/ (tsc)");
  run(process.execPath, [path.join(repo, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"]);
  const info = path.join(repo, "dist", ".tsbuildinfo");
  fs.utimesSync(info, new Date(), new Date());
}

// 4. Debian packages: Jupyter and the native-kernel libraries always; Fashion-MNIST for notebooks and tests;
//    Chromium and Mesa's EGL/GLES (the webgpu tests' software GPU) for tests; PyTorch for benches.
const APT = {
  // python3-venv: Debian's python3 makes JupyterLab's virtual environment only with it (ensurepip).
  jupyter: ["jupyter-notebook", "jupyter-nbconvert", "python3-nbclient", "jupyter-client", "python3-jupyter-kernel-test", "python3-venv"],
  data: ["dataset-fashion-mnist"],
  browser: ["chromium"],
  torch: ["python3-torch", "python3-torchvision"],
  // The wasm backend's native add-on is built against these by node-gyp (g++, make, python3) at install (else XNNPACK only).
  native: ["g++", "make", "libopenblas-dev", "libdnnl-dev"],
  // Dawn (npm webgpu) finds Mesa's llvmpipe through EGL + OpenGL ES when there is no GPU: TSDL_BACKEND=webgpu in tests.
  softgpu: ["libegl1", "libegl-mesa0", "libgles2", "libgl1-mesa-dri"],
};
const WANT = {
  start: [...APT.jupyter, ...APT.data, ...APT.native],
  test: [...APT.jupyter, ...APT.data, ...APT.browser, ...APT.native, ...APT.softgpu],
  bench: [...APT.jupyter, ...APT.native, ...APT.torch],
};
function dpkgInstalled(pkg) {
  const r = spawnSync("dpkg-query", ["-W", "-f=${Status}", pkg], { encoding: "utf8" });
  return r.status === 0 && r.stdout.includes("install ok installed");
}
function aptPackages() {
  const want = WANT[purpose] || WANT.start;
  const hasDpkg = spawnSync("dpkg-query", ["--version"]).status === 0;
  const missing = hasDpkg ? want.filter((p) => !dpkgInstalled(p)) : want;
  if (missing.length === 0) return;
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  const hasApt = spawnSync("apt-get", ["--version"]).status === 0;
  if (!(hasApt && isRoot)) {
    say(
      `missing: ${missing.join(" ")}. Install them with your package manager (Debian/Ubuntu: ` +
        `sudo apt-get install -y ${missing.join(" ")}), or, outside Debian, Jupyter with pip: ` +
        `python3 -m pip install notebook nbconvert nbclient jupyter_client jupyter_kernel_test`,
    );
    return;
  }
  say(`installing Debian packages: ${missing.join(" ")}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  run("apt-get", ["update", "-qq"], { env });
  run("apt-get", ["install", "-y", "-qq", ...missing], { env, stdio: ["ignore", "ignore", "inherit"] });
}

// 5. Project-local Jupyter: config, data and runtime dirs in the repo; the kernelspec lives in kernel/.
// Registration is JUPYTER_PATH=<repo>/kernel/share (scripts/env.js): Jupyter started with jupyterEnv() finds
// kernel/share/kernels/tsdl/kernel.json, which runs `node kernel/main.js` (node from PATH, as npm scripts set it).
function jupyterDirs() {
  const env = jupyterEnv();
  for (const k of ["JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR"]) fs.mkdirSync(env[k], { recursive: true });
  privateRuntimeDir(env.JUPYTER_RUNTIME_DIR);
  const spec = path.join(repo, "kernel", "share", "kernels", "tsdl", "kernel.json");
  const argv = JSON.parse(fs.readFileSync(spec, "utf8")).argv;
  // The kernelspec passes Node flags (ESM-only packages load through require); an older Node refuses to start.
  const nodeFlags = argv
    .slice(
      1,
      argv.findIndex((a) => a.endsWith("main.js")),
    )
    .map((a) => a.split("=")[0]);
  const missing = nodeFlags.filter((flag) => !process.allowedNodeEnvironmentFlags.has(flag));
  if (missing.length > 0) {
    throw new Error(
      `Node ${process.version} lacks ${missing.join(", ")}, which the tsdl kernel (${path.relative(repo, spec)}) starts Node with; ` +
        "use Node >= 20.17 (or 22+)",
    );
  }
}

// The runtime dir holds the server's token (nbserver-PID.json) and the kernels' connection keys: only its owner
// may enter it, as Jupyter makes its default one (0700). Also tightens a dir an earlier set-up made 0755, and
// the files already in it (classic Notebook writes its server file with the umask's 0644).
function privateRuntimeDir(dir) {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    // Special bits are kept (Jupyter sets the sticky bit on its runtime dir).
    fs.chmodSync(dir, (fs.statSync(dir).mode & 0o7000) | 0o700);
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (!e.isFile()) continue;
      const file = path.join(dir, e.name);
      const mode = fs.statSync(file).mode & 0o777;
      if (mode & 0o077) fs.chmodSync(file, mode & 0o700);
    }
  } catch (e) {
    say(`cannot make ${path.relative(repo, dir)} private (mode 0700): ${e.message}`);
  }
}

// 6. The native add-on for the wasm backend: `npm ci` built it (or recorded why not) before step 4 installed its
//    libraries, so build it again when what it depends on changed since (sources, CPU, libraries, compilers).
//    Quiet when up to date; its failure is not the set-up's (wasm then uses its XNNPACK kernels, and says why).
function nativeAddon() {
  run(process.execPath, [path.join(repo, "src", "backend", "wasm", "native", "build.js"), "--if-needed"]);
}

// 7. Benches compare with PyTorch 2.x too: pip's torch in a bench-only venv inside the repo (bench/.venv, ignored by
//    git), made once; Debian's python3-torch (step 4) is the 1.13 anchor. A failure leaves the bench without the
//    2.x row and says why. `--retries 0`: where pip has only a local mirror, the unreachable index costs no minutes.
function benchVenv() {
  const venv = path.join(repo, "bench", ".venv");
  const python = path.join(venv, "bin", "python");
  if (fs.existsSync(python) && spawnSync(python, ["-c", "import torch, numpy"], { stdio: "ignore" }).status === 0) return;
  const base = ["python3", "/usr/bin/python3"].find((p) => spawnSync(p, ["-m", "venv", "--help"], { stdio: "ignore" }).status === 0);
  if (!base) return say("no python3 with venv: the bench compares with Debian's PyTorch 1.13 only (apt-get install python3-venv)");
  say("setting up PyTorch 2.x for the benches in bench/.venv (pip install torch)");
  try {
    if (!fs.existsSync(python)) run(base, ["-m", "venv", venv]);
    // numpy: torch warns without it. No cache: pip's cache is under the home directory.
    run(python, ["-m", "pip", "install", "--quiet", "--retries", "0", "--no-cache-dir", "--disable-pip-version-check", "torch", "numpy"]);
  } catch (e) {
    say(`PyTorch 2.x not installed (${e.message}): the bench compares with Debian's PyTorch 1.13 only`);
  }
}

// 8. JupyterLab (pinned) in a virtual environment inside the repo, installed with pip: Debian does not package it
//    and its python3 refuses `pip install` outside a venv. Where that fails, `npm start` opens the classic Notebook.
const rel = (p) => path.relative(repo, p) || ".";
function jupyterLab() {
  const v = venvPaths();
  const installed = () => fs.existsSync(v.stamp) && fs.readFileSync(v.stamp, "utf8").trim() === JUPYTERLAB_VERSION;
  if (installed() && fs.existsSync(v.python)) return;
  const t0 = Date.now();
  const log = [];
  const attempt = (cmd, args) => {
    const r = spawnSync(cmd, args, { cwd: repo, encoding: "utf8", env: { ...process.env, PIP_NO_INPUT: "1" } });
    log.push(`$ ${cmd} ${args.join(" ")}\n${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? r.error.message : ""}\n`);
    return r.status === 0;
  };
  const giveUp = (why) => {
    fs.mkdirSync(path.dirname(v.log), { recursive: true });
    fs.writeFileSync(v.log, log.join("\n"));
    say(
      `JupyterLab not installed (${why}; pip's output: ${rel(v.log)}), so \`npm start\` opens the classic Notebook. ` +
        `To install it: ${rel(v.python)} -m pip install jupyterlab==${JUPYTERLAB_VERSION} (then \`npm run setup\`)`,
    );
  };
  if (fs.existsSync(v.venv) && !fs.existsSync(v.marker))
    return giveUp(`${rel(v.venv)} exists and was not made by the set-up; it is left alone`);
  if (!fs.existsSync(v.python)) {
    // A venv of ours whose interpreter is gone (e.g. its base Python was removed) is made again.
    if (fs.existsSync(v.venv)) fs.rmSync(v.venv, { recursive: true, force: true });
    // The python3 that `python3 -m venv` means in the user's shell, else Debian's.
    const made = ["python3", "/usr/bin/python3"].some((py) => attempt(py, ["-m", "venv", v.venv]));
    if (!made) {
      fs.rmSync(v.venv, { recursive: true, force: true });
      return giveUp("`python3 -m venv` failed; on Debian/Ubuntu: sudo apt-get install python3-venv");
    }
    fs.writeFileSync(v.marker, "made by scripts/setup.js for JupyterLab\n");
  }
  say(`installing JupyterLab ${JUPYTERLAB_VERSION} into ${rel(v.venv)} (pip, about half a minute)`);
  // --retries 0: where the default index is unreachable (a local mirror configured instead), pip's retries cost minutes.
  // No cache: pip's cache is under the home directory.
  const pipArgs = [
    "-m",
    "pip",
    "install",
    "--retries",
    "0",
    "--no-cache-dir",
    "--disable-pip-version-check",
    "-q",
    `jupyterlab==${JUPYTERLAB_VERSION}`,
  ];
  if (!attempt(v.python, pipArgs)) {
    const err = log[log.length - 1]
      .split("\n")
      .filter((l) => /^ERROR:/.test(l))
      .pop();
    return giveUp(err ? `pip: ${err.replace(/^ERROR:\s*/, "").slice(0, 160)}` : "pip failed");
  }
  if (!attempt(v.python, ["-m", "jupyterlab", "--version"])) return giveUp("it does not start after the install");
  fs.writeFileSync(v.stamp, JUPYTERLAB_VERSION + "\n");
  fs.writeFileSync(v.log, log.join("\n"));
  say(`JupyterLab ${JUPYTERLAB_VERSION} installed in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

function main() {
  npmDeps();
  linkSelf();
  build();
  aptPackages();
  nativeAddon();
  jupyterDirs();
  if (purpose === "bench") benchVenv();
  if (purpose === "start" || purpose === "test") jupyterLab();
}

try {
  main();
} catch (e) {
  console.error(`[tsdl setup] ${e.message}`);
  process.exit(1);
}
