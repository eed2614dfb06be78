#!/usr/bin/env node
// Builds tsdl's native add-on (this folder's C files; binding.gyp at the repo root) with node-gyp, for this machine:
//   node src/backend/wasm/native/build.js [--if-needed]
// `npm ci` / `npm install` run it with --if-needed (package.json "install"), and so does the set-up after it installs
// the libraries; `npm run build:native` always builds. The add-on is optional: a failure exits 0, the wasm backend
// keeps its XNNPACK kernels, and the reason is kept in build/tsdl-native.json, which backend.init() prints.
// Offline: Node's headers come from the running Node's own installation (or npm's nodedir). Writes only in build/.
// Plain Node with no dependencies: npm runs it before dist/ exists. addon.ts reads the same status through it.
"use strict";
const { spawnSync } = require("child_process");
const crypto = require("crypto");
const fs = require("fs");
const os = require("os");
const path = require("path");

const repo = path.resolve(__dirname, "..", "..", "..", "..");
const buildDir = path.join(repo, "build");
const paths = {
  buildDir,
  addon: path.join(buildDir, "Release", "tsdl_native.node"),
  status: path.join(buildDir, "tsdl-native.json"),
  /** The per-machine choice of convolution path for each shape (see conv.ts); they belong to one build. */
  convChoices: path.join(buildDir, "conv-choices"),
};
const REBUILD = "npm run build:native";

/** sha1 of binding.gyp and the C sources: the add-on is stale when they change. */
function sourcesHash() {
  const h = crypto.createHash("sha1");
  const files = fs
    .readdirSync(__dirname)
    .filter((f) => /\.[ch]$/.test(f))
    .sort();
  for (const f of [path.join(repo, "binding.gyp"), ...files.map((f) => path.join(__dirname, f))]) {
    h.update(path.basename(f))
      .update("\0")
      .update(fs.existsSync(f) ? fs.readFileSync(f) : "")
      .update("\0");
  }
  return h.digest("hex").slice(0, 16);
}

/** The CPU the add-on is compiled for (-march=native): its model and feature flags. */
function cpuSignature() {
  let flags = "";
  try {
    flags = fs.readFileSync("/proc/cpuinfo", "utf8").match(/^flags\s*:(.*)$/m)?.[1] ?? "";
  } catch {
    /* not Linux */
  }
  const digest = crypto.createHash("sha1").update(flags).digest("hex").slice(0, 8);
  return `${process.arch} ${os.cpus()[0]?.model ?? "unknown CPU"} (flags ${digest})`;
}

function onPath(cmd) {
  return (process.env.PATH ?? "").split(path.delimiter).some((d) => d && fs.existsSync(path.join(d, cmd)));
}

function header(name) {
  const dirs = [
    "/usr/include",
    "/usr/local/include",
    `/usr/include/${process.arch === "x64" ? "x86_64" : process.arch === "arm64" ? "aarch64" : process.arch}-linux-gnu`,
  ];
  return dirs.some((d) => fs.existsSync(path.join(d, name)));
}

/**
 * What a build depends on. `binary` decides whether a built add-on may be loaded; `tools` only whether a failed or
 * oneDNN-less build is worth trying again (a library or compiler was installed since).
 */
function inputs() {
  return {
    binary: { sources: sourcesHash(), cpu: cpuSignature() },
    tools: {
      dnnl: process.env.TSDL_WASM_DNNL === "0" ? "off" : "on",
      headers: ["cblas.h", "dnnl.h"].filter(header),
      commands: ["make", "c++", "g++", "cc", "python3"].filter(onPath),
    },
  };
}

function readStatus() {
  try {
    return JSON.parse(fs.readFileSync(paths.status, "utf8"));
  } catch {
    return undefined;
  }
}

function writeStatus(status) {
  const tmp = `${paths.status}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(status, null, 2) + "\n");
  fs.renameSync(tmp, paths.status);
}

/** Why `dir` (or the folder that would hold it) cannot be written, or undefined when it can. */
function notWritable(dir) {
  let d = dir;
  while (!fs.existsSync(d) && path.dirname(d) !== d) d = path.dirname(d);
  const probe = path.join(d, `.tsdl-write-test-${process.pid}`);
  try {
    fs.writeFileSync(probe, "");
    fs.rmSync(probe);
    return undefined;
  } catch (e) {
    return `${d} is not writable (${e.code ?? e.message})`;
  }
}

/**
 * Why the built add-on cannot be used, or undefined when it can (then `status` says how it was built).
 * Read by addon.ts at run time: nothing is compiled there.
 */
function loadable() {
  const status = readStatus();
  if (!status || !fs.existsSync(paths.addon)) {
    const ro = notWritable(paths.buildDir);
    if (status && !status.built) return { reason: `not built: ${status.reason}` };
    return {
      reason: ro
        ? `not built, and ${ro}: make it writable, then run \`${REBUILD}\``
        : `not built: run \`${REBUILD}\` (it needs g++, make, python3 and OpenBLAS)`,
    };
  }
  if (!status.built) return { reason: `not built: ${status.reason}` };
  const now = inputs().binary;
  if (status.inputs?.binary?.sources !== now.sources) return { reason: `built from older sources: run \`${REBUILD}\`` };
  if (status.inputs?.binary?.cpu !== now.cpu)
    return { reason: `built for another CPU (${status.inputs?.binary?.cpu}; this one is ${now.cpu}): run \`${REBUILD}\`` };
  return { status };
}

/** The node-gyp that npm runs for add-ons: npm's own (npm passes it to scripts), else the one next to npm. */
function nodeGyp() {
  const candidates = [process.env.npm_config_node_gyp];
  if (process.env.npm_execpath)
    candidates.push(path.join(path.dirname(process.env.npm_execpath), "..", "node_modules", "node-gyp", "bin", "node-gyp.js"));
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    const npm = path.join(dir, "npm");
    if (dir && fs.existsSync(npm))
      candidates.push(path.join(fs.realpathSync(npm), "..", "..", "node_modules", "node-gyp", "bin", "node-gyp.js"));
  }
  candidates.push(
    path.join(path.dirname(process.execPath), "..", "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js"),
  );
  return candidates.find((c) => c && fs.existsSync(c));
}

/** Node's C headers without a download: npm's nodedir, else the running Node's installation prefix. */
function nodeDir() {
  const candidates = [process.env.npm_config_nodedir, path.resolve(process.execPath, "..", "..")];
  return candidates.find(
    (d) =>
      d && fs.existsSync(path.join(d, "include", "node", "node_api.h")) && fs.existsSync(path.join(d, "include", "node", "common.gypi")),
  );
}

const HINTS = [
  [/cblas\.h|-lopenblas/, "libopenblas-dev"],
  [/dnnl\.h|-ldnnl/, "libdnnl-dev"],
  [/\bmake\b/, "make"],
  [/\b(g\+\+|c\+\+|cc|gcc)\b.*(not found|No such file)/, "g++"],
  [/[Pp]ython/, "python3"],
];

/** The line of a failed node-gyp run that says why, with the Debian package that fixes it when known. */
function why(output) {
  const lines = output
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  const line =
    lines.find(
      (l) =>
        /fatal error|error:|cannot find -l|: not found|No such file/.test(l) &&
        !/^gyp (info|ERR! (not ok|cwd|node|command|System))/.test(l),
    ) ??
    lines.find((l) => /^gyp ERR! stack Error/.test(l)) ??
    lines[lines.length - 1] ??
    "node-gyp failed";
  const short = line
    .replace(/^gyp ERR! stack (Error: )?/, "")
    .replace(/^[^\s]*\/src\/backend\/wasm\/native\//, "")
    .replace(/^\.\.\//, "");
  const hint = HINTS.find(([re]) => re.test(line));
  return hint ? `${short} (Debian/Ubuntu: apt-get install ${hint[1]})` : short;
}

function runGyp(gyp, args) {
  const r = spawnSync(process.execPath, [gyp, ...args], {
    cwd: repo,
    encoding: "utf8",
    env: { ...process.env, npm_config_loglevel: "error" },
  });
  return { ok: r.status === 0, output: `${r.stdout ?? ""}\n${r.stderr ?? ""}${r.error ? `\n${r.error.message}` : ""}` };
}

/** Load the add-on in a child process (a bad binary or a missing library must not take this one down). */
function probe() {
  const code = `const a = require(${JSON.stringify(paths.addon)}); process.stdout.write(JSON.stringify({ dnnl: a.dnnl(), openblas: a.config() }));`;
  const r = spawnSync(process.execPath, ["-e", code], { encoding: "utf8" });
  if (r.status !== 0)
    throw new Error(
      `the built add-on does not load: ${(r.stderr || r.signal || "").split("\n").find((l) => /Error|error/.test(l)) ?? r.signal}`,
    );
  return JSON.parse(r.stdout);
}

function fileHash(f) {
  return fs.existsSync(f) ? crypto.createHash("sha1").update(fs.readFileSync(f)).digest("hex") : "";
}

/** Build; returns the status written (or, when build/ cannot be written, the one that could not be). */
function build() {
  const started = Date.now();
  const ins = inputs();
  const fail = (reason, extra = {}) => ({ built: false, reason, inputs: ins, date: new Date().toISOString(), ...extra });
  if (process.platform === "win32") return fail("not built on Windows (it needs a Unix C toolchain)");
  const gyp = nodeGyp();
  if (!gyp) return fail("node-gyp (npm's) was not found");
  const dir = nodeDir();
  const common = dir ? [`--nodedir=${dir}`] : [`--devdir=${path.join(buildDir, "node-gyp")}`]; // a download stays in build/
  const before = fileHash(paths.addon);
  const attempt = (dnnl) => {
    const c = runGyp(gyp, ["configure", ...common, `--tsdl-dnnl=${dnnl}`]);
    return c.ok ? runGyp(gyp, ["build", ...common]) : c;
  };
  let dnnlReason;
  let r = { ok: false, output: "" };
  if (ins.tools.dnnl === "off") dnnlReason = "TSDL_WASM_DNNL=0";
  else {
    r = attempt(1);
    if (!r.ok) dnnlReason = why(r.output);
  }
  if (!r.ok) r = attempt(0);
  if (!r.ok)
    return fail(why(r.output) + (dir ? "" : " (Node's C headers are not installed next to node, so node-gyp had to download them)"));
  let versions;
  try {
    versions = probe();
  } catch (e) {
    return fail(e.message);
  }
  if (fileHash(paths.addon) !== before) fs.rmSync(paths.convChoices, { recursive: true, force: true });
  return {
    built: true,
    dnnl: versions.dnnl,
    ...(dnnlReason ? { dnnlReason } : {}),
    openblas: versions.openblas,
    inputs: ins,
    seconds: (Date.now() - started) / 1000,
    date: new Date().toISOString(),
  };
}

/**
 * Nothing to do when the last attempt had the same sources, CPU and TSDL_WASM_DNNL, and either gave a complete add-on
 * or failed (or lacked oneDNN) with the same libraries and tools at hand: a library installed since is worth a retry.
 */
function upToDate(old, now) {
  if (!old?.inputs || JSON.stringify(old.inputs.binary) !== JSON.stringify(now.binary)) return false;
  if (old.inputs.tools?.dnnl !== now.tools.dnnl || (old.built && !fs.existsSync(paths.addon))) return false;
  const complete = old.built && (Boolean(old.dnnl) || now.tools.dnnl === "off");
  return complete || JSON.stringify(old.inputs.tools) === JSON.stringify(now.tools);
}

function say(msg) {
  console.log(`[tsdl native] ${msg}`);
}

function describe(status) {
  if (!status.built)
    return `not built: ${status.reason}. The wasm backend uses its XNNPACK kernels (about 10× slower to train); fix it, then run \`${REBUILD}\``;
  const dnnl = status.dnnl ? `oneDNN ${status.dnnl}` : `without oneDNN (${status.dnnlReason})`;
  return `built ${path.relative(repo, paths.addon)} for this CPU: OpenBLAS, ${dnnl}`;
}

function main() {
  const ifNeeded = process.argv.includes("--if-needed");
  const unknown = process.argv.slice(2).filter((a) => a !== "--if-needed");
  if (unknown.length) {
    console.error(`[tsdl native] unknown argument ${JSON.stringify(unknown[0])}; accepted: --if-needed`);
    process.exit(2);
  }
  if (ifNeeded) {
    const old = readStatus();
    if (upToDate(old, inputs())) {
      if (!old.built) say(describe(old));
      return;
    }
  }
  const ro = notWritable(buildDir);
  if (ro) {
    say(`not built: ${ro}. The wasm backend uses its XNNPACK kernels; make it writable, then run \`${REBUILD}\``);
    return;
  }
  fs.mkdirSync(buildDir, { recursive: true });
  const status = build();
  writeStatus(status);
  say(describe(status) + (status.built ? ` (${status.seconds.toFixed(1)} s)` : ""));
}

module.exports = { paths, loadable, REBUILD };

if (require.main === module) main();
