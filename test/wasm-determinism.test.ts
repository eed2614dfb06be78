// Runs reproduce across processes on wasm with the native kernels: which path (oneDNN or im2col + OpenBLAS) computes
// each convolution shape is chosen once per machine and kept (src/backend/wasm/native/choices.ts), so a second
// process and a resumed run compute with the same paths as the first and give the same bits. Each run is a separate
// node process (test/helpers/determinismRun.ts), with a fresh choices folder so that the shapes are timed here.
import assert from "node:assert/strict";
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ConvChoices } from "tsdl/dist/backend/wasm/native/choices";

const REPO = path.resolve(__dirname, "..");

interface RunResult {
  losses: number[];
  weights: string[];
  native: string;
}

/** One training run in its own node process; resolves with what it wrote. */
function run(dir: string, name: string, epochs: number, ...args: string[]): Promise<RunResult> {
  const out = path.join(dir, `${name}.json`);
  const child = spawn(
    process.execPath,
    [
      "-r",
      "ts-node/register/transpile-only",
      path.join(REPO, "test", "helpers", "determinismRun.ts"),
      String(epochs),
      out,
      "--choices",
      path.join(dir, "choices"),
      ...args,
    ],
    {
      cwd: REPO,
      env: { ...process.env, TSDL_BACKEND: "wasm" },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  return new Promise((resolve, reject) => {
    child.on("exit", (code) =>
      code === 0 ? resolve(JSON.parse(fs.readFileSync(out, "utf8")) as RunResult) : reject(new Error(`${name} exited ${code}: ${err}`)),
    );
  });
}

describe("wasm + native kernels: runs reproduce bit for bit across processes", function () {
  this.timeout(120_000);
  let dir: string;
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsdl-determinism-"))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("two processes timing the same new shapes at once give identical losses; resumed in a third = uninterrupted", async () => {
    const ck = path.join(dir, "checkpoint");
    // Started together on an empty choices folder: both time every conv shape, and must still agree.
    const [whole, first] = await Promise.all([run(dir, "whole", 2), run(dir, "first", 1, "--checkpoint", ck)]);
    const resumed = await run(dir, "resumed", 2, "--resume", ck);
    console.log(`      ${whole.native}`);
    assert.equal(whole.losses.length, 12);
    assert.deepEqual(first.losses, whole.losses.slice(0, 6), "two processes, same first epoch");
    assert.deepEqual(resumed.losses, whole.losses, "resumed in a new process vs uninterrupted: every batch loss");
    assert.deepEqual(resumed.weights, whole.weights, "final weights, bit for bit");
    if (/oneDNN/.test(whole.native)) assert.ok(fs.readdirSync(path.join(dir, "choices")).length >= 12, "the choices were kept");
  });
});

describe("conv path choices (one per shape and machine, kept in a folder)", () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsdl-choices-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const key = "forward-n8-16x16x3-k3x3x16-s1x1-p1x1-o16x16-bias";

  it("the first choice published wins: a process that timed the other path faster adopts it", () => {
    const a = new ConvChoices(path.join(dir, "c"));
    const b = new ConvChoices(path.join(dir, "c")); // another process: its own memory, the same folder
    assert.equal(b.known(key), undefined);
    assert.equal(a.decide(key, { dnnl: 1, blas: 2 }, "blas"), "dnnl");
    assert.equal(b.decide(key, { dnnl: 9, blas: 1 }, "blas"), "dnnl");
    assert.equal(new ConvChoices(path.join(dir, "c")).known(key), "dnnl");
    assert.deepEqual(fs.readdirSync(path.join(dir, "c")), [key], "no temporary files left");
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, "c", key), "utf8")).ms, { dnnl: 1, blas: 2 });
  });

  it("where no choice can be kept or read, the fixed rule decides, in every process alike", () => {
    const file = path.join(dir, "a-file");
    fs.writeFileSync(file, "");
    const blocked = new ConvChoices(path.join(file, "choices")); // cannot be created
    assert.equal(blocked.decide(key, { dnnl: 1, blas: 2 }, "blas"), "blas");
    assert.equal(blocked.known(key), "blas");
    fs.mkdirSync(path.join(dir, "c"));
    fs.writeFileSync(path.join(dir, "c", key), "{ damaged");
    assert.equal(new ConvChoices(path.join(dir, "c")).decide(key, { dnnl: 1, blas: 2 }, "blas"), "blas");
    assert.equal(fs.readFileSync(path.join(dir, "c", key), "utf8"), "{ damaged", "another's file is never replaced");
  });
});
