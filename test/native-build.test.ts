// The wasm backend's native add-on is built at install (src/backend/wasm/native/build.js, run by `npm ci` and by the
// set-up after it installs the libraries), never by backend.init(); a build that failed or could not run leaves a
// reason that backend.init() shows. Each test works on a scratch copy of the add-on's files (binding.gyp, the C
// sources, build.js and the compiled addon.js), so the repo's own build/ is never touched.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const REPO = path.resolve(__dirname, "..");
const NATIVE = path.join("src", "backend", "wasm", "native");
const ADDON_JS = path.join("dist", "backend", "wasm", "native", "addon.js");
const isRoot = process.getuid?.() === 0;
const SETPRIV = ["/usr/bin/setpriv", "/bin/setpriv"].find((p) => fs.existsSync(p));

/** A scratch package holding only what the add-on's build and loader read; removed by the returned cleanup. */
function scratchPackage(): { root: string; cleanup(): void } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "tsdl-native-"));
  fs.copyFileSync(path.join(REPO, "binding.gyp"), path.join(root, "binding.gyp"));
  fs.mkdirSync(path.join(root, NATIVE), { recursive: true });
  for (const f of fs.readdirSync(path.join(REPO, NATIVE)).filter((f) => /\.(c|h|js)$/.test(f))) {
    fs.copyFileSync(path.join(REPO, NATIVE, f), path.join(root, NATIVE, f));
  }
  fs.mkdirSync(path.dirname(path.join(root, ADDON_JS)), { recursive: true });
  fs.copyFileSync(path.join(REPO, ADDON_JS), path.join(root, ADDON_JS));
  return {
    root,
    cleanup: () => {
      spawnSync("chmod", ["-R", "u+w", root]);
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

/**
 * A folder of commands for PATH: every command of this PATH except `without`; with `fakeCompilers`, every C compiler
 * name instead logs its call to `log` and fails, so a test sees any compile attempt.
 */
function toolDir(root: string, opts: { fakeCompilers: boolean; without?: string[] }): { bin: string; log: string } {
  const bin = path.join(root, "..", `${path.basename(root)}-bin`);
  fs.mkdirSync(bin, { recursive: true });
  const log = path.join(bin, "compiler-calls.log");
  fs.writeFileSync(log, "");
  const compilers = ["cc", "gcc", "g++", "c++"];
  for (const cc of opts.fakeCompilers ? compilers : []) {
    fs.writeFileSync(path.join(bin, cc), `#!/bin/sh\necho "${cc} $*" >> ${log}\nexit 1\n`, { mode: 0o755 });
  }
  fs.symlinkSync(process.execPath, path.join(bin, "node"));
  for (const dir of (process.env.PATH ?? "").split(path.delimiter).filter((d) => d && fs.existsSync(d))) {
    for (const cmd of fs.readdirSync(dir)) {
      if (opts.without?.includes(cmd) || fs.existsSync(path.join(bin, cmd)) || cmd.includes("pyenv")) continue;
      fs.symlinkSync(path.join(dir, cmd), path.join(bin, cmd));
    }
  }
  return { bin, log };
}

interface Run {
  status: number | null;
  out: string;
}

/** Run node with `args` in `root` with PATH = bin; `noOverride` drops root's right to write where the mode forbids it. */
function node(root: string, args: string[], bin: string, opts: { noOverride?: boolean } = {}): Run {
  const env = { ...process.env, PATH: bin };
  for (const k of Object.keys(env)) if (k.startsWith("npm_")) delete env[k];
  delete env.OPENBLAS_CORETYPE;
  const cmd =
    opts.noOverride && isRoot
      ? [SETPRIV as string, "--bounding-set=-dac_override,-dac_read_search", process.execPath, ...args]
      : [process.execPath, ...args];
  const r = spawnSync(cmd[0], cmd.slice(1), { cwd: root, env, encoding: "utf8" });
  return { status: r.status, out: `${r.stdout}${r.stderr}${r.error ? r.error.message : ""}` };
}

const buildArgs = (root: string, ...extra: string[]) => [path.join(root, NATIVE, "build.js"), ...extra];
const statusArgs = (root: string) => [
  "-e",
  `console.log(JSON.stringify(require(${JSON.stringify(path.join(root, ADDON_JS))}).nativeStatus()))`,
];
function nativeStatus(r: Run): { enabled: boolean; detail: string } {
  const line = r.out.trim().split("\n").pop() ?? "";
  assert.equal(r.status, 0, r.out);
  return JSON.parse(line);
}

describe("native add-on: built at install, never by backend.init()", function () {
  this.timeout(180_000);
  let scratch: { root: string; cleanup(): void };
  afterEach(() => {
    scratch.cleanup();
    fs.rmSync(`${scratch.root}-bin`, { recursive: true, force: true });
  });

  it("a read-only build folder: build.js and nativeStatus() say it is not writable, and nothing is compiled, at any start", function () {
    if (isRoot && !SETPRIV) this.skip(); // root writes anywhere without it
    scratch = scratchPackage();
    const { root } = scratch;
    const build = path.join(root, "build");
    fs.mkdirSync(build);
    fs.chmodSync(build, 0o555);
    const tools = toolDir(root, { fakeCompilers: true });

    const b = node(root, buildArgs(root), tools.bin, { noOverride: true });
    assert.equal(b.status, 0, b.out); // optional: a failed build does not fail npm ci
    assert.match(
      b.out,
      new RegExp(
        `not built: ${build.replace(/[/.]/g, "\\$&")} is not writable \\(EACCES\\).*make it writable, then run \`npm run build:native\``,
      ),
    );
    for (let start = 0; start < 2; start++) {
      const st = nativeStatus(node(root, statusArgs(root), tools.bin, { noOverride: true }));
      assert.equal(st.enabled, false);
      assert.match(st.detail, /native kernels unavailable: not built, and .*build is not writable \(EACCES\)/);
      assert.doesNotMatch(st.detail, /collect2|ld returned|cc failed/);
    }
    assert.equal(fs.readFileSync(tools.log, "utf8"), "", "nothing may be compiled");
    assert.deepEqual(fs.readdirSync(build), []);
  });

  it("npm ci before a tool is installed: the reason is kept and shown; --if-needed builds once it is there, then does nothing", function () {
    scratch = scratchPackage();
    const { root } = scratch;
    const noMake = toolDir(root, { fakeCompilers: false, without: ["make"] });
    const first = node(root, buildArgs(root, "--if-needed"), noMake.bin);
    assert.equal(first.status, 0, first.out);
    assert.match(first.out, /\[tsdl native\] not built: .*make.*\(Debian\/Ubuntu: apt-get install make\)/);
    const failed = nativeStatus(node(root, statusArgs(root), noMake.bin));
    assert.equal(failed.enabled, false);
    assert.match(failed.detail, /native kernels unavailable: not built: .*make/);

    fs.rmSync(`${root}-bin`, { recursive: true, force: true });
    const all = toolDir(root, { fakeCompilers: false });
    const second = node(root, buildArgs(root, "--if-needed"), all.bin);
    assert.match(second.out, /\[tsdl native\] built build\/Release\/tsdl_native\.node for this CPU: OpenBLAS/);
    const addon = path.join(root, "build", "Release", "tsdl_native.node");
    const built = fs.statSync(addon).mtimeMs;
    const ok = nativeStatus(node(root, statusArgs(root), all.bin));
    assert.ok(ok.enabled, ok.detail);
    assert.match(ok.detail, /OpenBLAS \d+\.\d+/);

    const third = node(root, buildArgs(root, "--if-needed"), all.bin);
    assert.equal(third.out, "", "up to date: silent");
    assert.equal(fs.statSync(addon).mtimeMs, built);

    // Sources edited after the build: the loader refuses the stale add-on and says how to rebuild; it compiles nothing.
    fs.appendFileSync(path.join(root, NATIVE, "ops.c"), "\n// edited\n");
    const fake = toolDir(`${root}-x`, { fakeCompilers: true });
    const stale = nativeStatus(node(root, statusArgs(root), fake.bin));
    assert.equal(stale.enabled, false);
    assert.match(stale.detail, /built from older sources: run `npm run build:native`/);
    assert.equal(fs.readFileSync(fake.log, "utf8"), "");
    assert.equal(fs.statSync(addon).mtimeMs, built);
    fs.rmSync(`${root}-x-bin`, { recursive: true, force: true });
  });
});
