// The backend ladder, seen as a user sees it: a fresh Node process, TSDL_BACKEND, the printed line.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";

const repo = path.resolve(__dirname, "..");

/** Run a snippet in a fresh node process (so the backend choice starts from nothing). */
function node(code: string, env: Record<string, string | undefined> = {}) {
  const r = spawnSync(process.execPath, ["-e", code], {
    cwd: repo,
    env: { ...process.env, TSDL_BACKEND: undefined, ...env },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const initAndReport = `
const { backend, tf } = require("tsdl");
backend.init().then((info) => {
  tf.tidy(() => tf.add(tf.ones([2, 2]), 1).dataSync());
  console.log("INFO " + JSON.stringify(backend.info()));
}, (e) => { console.log("ERROR " + e.message); process.exitCode = 3; });`;

function infoOf(stdout: string) {
  const line = stdout.split("\n").find((l) => l.startsWith("INFO "));
  assert.ok(line, `no INFO line in:\n${stdout}`);
  return JSON.parse(line.slice(5));
}

describe("backend ladder", () => {
  it("picks the best available backend and says why each better one was skipped", () => {
    const r = node(initAndReport);
    assert.equal(r.status, 0, r.stderr);
    const info = infoOf(r.stdout);
    // No tfjs-node here (it cannot install offline), so wasm is the best rung.
    assert.equal(info.name, "wasm");
    assert.equal(info.why, "best available");
    assert.deepEqual(
      info.skipped.map((s: { backend: string }) => s.backend),
      ["tensorflow (GPU)", "webgpu", "tensorflow (CPU)"],
    );
    assert.match(info.skipped[1].reason, /^Vulkan: /); // no GPU here (test/webgpu.test.ts covers the rung)
    assert.match(info.skipped[2].reason, /not installed \(@tensorflow\/tfjs-node\)/);
    const lines = r.stdout.split("\n").filter((l) => l.startsWith("tsdl backend:"));
    assert.equal(lines.length, 1, "exactly one summary line");
    assert.match(lines[0], /^tsdl backend: wasm .*skipped tensorflow \(GPU\): .*webgpu: .*tensorflow \(CPU\): not installed/);
  });

  for (const name of ["cpu", "wasm"]) {
    it(`honours TSDL_BACKEND=${name}`, () => {
      const r = node(initAndReport, { TSDL_BACKEND: name });
      assert.equal(r.status, 0, r.stderr);
      const info = infoOf(r.stdout);
      assert.equal(info.name, name);
      assert.equal(info.why, `forced by TSDL_BACKEND=${name}`);
    });
  }

  it("the argument of init() wins over TSDL_BACKEND", () => {
    const r = node(initAndReport.replace("backend.init()", 'backend.init("cpu")'), { TSDL_BACKEND: "wasm" });
    assert.equal(infoOf(r.stdout).name, "cpu");
  });

  it("keeps the tfjs 'install tfjs-node' banner away from users on cpu", () => {
    const r = node(initAndReport, { TSDL_BACKEND: "cpu" });
    assert.equal(r.status, 0);
    assert.doesNotMatch(r.stdout + r.stderr, /looks like you are running TensorFlow\.js in Node/);
  });

  it("TSDL_BACKEND=tensorflow without tfjs-node is an error naming the missing package, not a fallback", () => {
    const r = node(initAndReport, { TSDL_BACKEND: "tensorflow" });
    assert.equal(r.status, 3);
    assert.match(r.stdout, /ERROR tsdl: backend "tensorflow" was forced .*not installed \(@tensorflow\/tfjs-node\)/);
    assert.doesNotMatch(r.stdout, /INFO/);
  });

  it("an unknown TSDL_BACKEND lists the accepted values", () => {
    const r = node(initAndReport, { TSDL_BACKEND: "cuda" });
    assert.equal(r.status, 3);
    assert.match(r.stdout, /unknown backend "cuda" \(from TSDL_BACKEND\); accepted: tensorflow, webgpu, wasm, cpu/);
  });

  it("info() before init() says what to do", () => {
    const r = node(`try { require("tsdl").backend.info() } catch (e) { console.log(e.message) }`);
    assert.match(r.stdout, /no backend selected yet; call `await backend.init\(\)` first/);
  });
});
