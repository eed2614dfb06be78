// The GPU proof, Node side: `node proof.js PHASE`, one phase per process (run.sh time-boxes each).
//   info     backend.init() as a notebook calls it (auto): the backend line naming the adapter, its limits
//   check    on this GPU: tsdl's conv kernels against tfjs's on every convolution of a ResNet step; three
//            ResNet training steps against PyTorch on the same machine (same weights and images); a small CNN
//            trained on webgpu against the cpu backend
//   speed    train() of the course ResNet at each batch size: images/s (tsdl's kernels; tfjs's own at one batch)
//   profile  one training step per kernel, tfjs's kernels against tsdl's (profile.ts)
//   ab       at the largest batch, tsdl's default kernels against variants of them in adjacent pairs, in one process
//            (PROOF_AB_VARIANTS=name,… runs only those)
//   loader   train() fed by a DataLoader with the tutorial's transforms, without and with worker threads
// Lines start with the phase's name in capitals, so `grep '^CHECK'` finds them. Sizes come from the environment
// (PROOF_* below) so the same bundle runs a few small steps on a software adapter.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { backend, data, models, nn, optim, tf, train } from "tsdl";
import { webgpuKernelOptions } from "tsdl/dist/backend/webgpu";
import { batchNormOptions } from "tsdl/dist/backend/webgpu/kernels/batchnorm_train";
import { filterGradOptions } from "tsdl/dist/backend/webgpu/kernels/conv2d_backprop_filter";
import { gemmOptions } from "tsdl/dist/backend/webgpu/kernels/gemm";
import { mainThreadCpuMs } from "../../test/helpers/threadCpu";
import golden from "../../test/fixtures/train_resnet.json";
import { countDispatches } from "../../test/helpers/dispatches";
import { pattern } from "../../test/helpers/torchPattern";
import { callTable, gpuIdle, gpuView, profileTable, recordKernels, replayKernels, type KernelCall } from "./profile";

const env = (k: string, d: string) => process.env[k] ?? d;
const HW = Number(env("PROOF_HW", "96"));
const BATCHES = env("PROOF_BATCHES", "64,128,256").split(",").map(Number);
const SECONDS = Number(env("PROOF_SECONDS", "8")); // timed training per batch size
const STOCK_BATCH = Number(env("PROOF_STOCK_BATCH", "64"));
const PROFILE_BATCH = Number(env("PROOF_PROFILE_BATCH", "128"));
const PROFILE_BUDGET_S = Number(env("PROOF_PROFILE_BUDGET", "40"));
const CHECK_BATCH = Number(env("PROOF_CHECK_BATCH", "8"));
const CHECK_HW = Number(env("PROOF_CHECK_HW", String(HW)));
const LOADER_BATCH = Number(env("PROOF_LOADER_BATCH", "256"));
const LOADER_STEPS = Number(env("PROOF_LOADER_STEPS", "20"));
const LOADER_WORKERS = Number(env("PROOF_LOADER_WORKERS", String(Math.max(1, Math.min(8, os.cpus().length - 2)))));
const PYTHON = env("PROOF_PYTHON", "python3");
const AB_ROUNDS = Number(env("PROOF_AB_ROUNDS", "3"));
const AB_SECONDS = Number(env("PROOF_AB_SECONDS", "2")); // timed training per variant per round
const HERE = __dirname;

const t0 = performance.now();
/** Images per second with 3 significant digits below 100 (a software adapter manages a fraction of one). */
const rate = (v: number) => (v >= 100 ? v.toFixed(0) : v.toPrecision(3));
const stamp = () => `[${((performance.now() - t0) / 1000).toFixed(1)}s]`;
const say = (tag: string, ...a: unknown[]) => console.log(tag, ...a, stamp());

/** Seeded images and labels, on the current backend. */
function batchOf(n: number, hw: number, seed: number): { x: tf.Tensor4D; y: tf.Tensor1D } {
  return tf.tidy(() => ({
    x: tf.randomNormal([n, hw, hw, 3], 0, 1, "float32", seed) as tf.Tensor4D,
    y: tf.tensor1d(
      Array.from({ length: n }, (_, i) => (i * 7 + seed) % 10),
      "int32",
    ),
  }));
}

/** The same batches over and over: `steps` of them (the data is not what is measured). */
function repeat(batches: Array<{ x: tf.Tensor; y: tf.Tensor }>, steps: number) {
  return {
    length: steps,
    *[Symbol.iterator]() {
      for (let i = 0; i < steps; i++) yield batches[i % batches.length];
    },
  };
}

const quiet = {
  verbose: false,
  progress: false,
  ...(process.env.PROOF_DEBUG
    ? {
        onBatchEnd: (r: { epoch: number; batch: number; loss: number; seconds?: number }) => say("DEBUG batch", r.batch, r.loss, r.seconds),
      }
    : {}),
} as const;

async function info(): Promise<void> {
  const i = await backend.init(); // auto: what a notebook gets
  say("INFO backend", JSON.stringify({ name: i.name, device: i.device, adapter: i.adapter, versions: i.versions }));
  if (i.name !== "webgpu") {
    say("INFO webgpu was not chosen:", i.skipped.map((s) => `${s.backend}: ${s.reason}`).join("; "));
    return;
  }
  const device = (tf.backend() as unknown as { device: GPUDevice }).device;
  const l = device.limits;
  say(
    "INFO limits",
    JSON.stringify({
      maxBufferSize: l.maxBufferSize,
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      // how many parameters share one SGD program (3 buffers each, 5 with momentum)
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      maxBindingsPerBindGroup: l.maxBindingsPerBindGroup,
    }),
    "features",
    [...device.features].join(","),
  );
}

/** max|a-b| / max|b| */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return den ? num / den : num;
}

/** The convolutions of one ResNet step (forward and gradients), each run by tsdl's kernel and by tfjs's on the same inputs. */
async function checkKernels(): Promise<boolean> {
  const net = models.resnet(3, 10, { seed: 0 });
  const opt = new optim.SGD(net, { lr: 0.01, momentum: 0.9 });
  const b = batchOf(CHECK_BATCH, HW, 1);
  const calls = await recordKernels(async () => {
    await train(net, [b], null, 1, opt, new nn.CrossEntropyLoss(), quiet);
  });
  const convs = calls.filter((c) => ["Conv2D", "FusedConv2D", "Conv2DBackpropFilter", "Conv2DBackpropInput"].includes(c.name));
  let worst = 0;
  let ok = true;
  for (const c of convs) {
    const inputs: Record<string, tf.Tensor> = {};
    for (const [k, s] of Object.entries(c.inputs)) inputs[k] = tf.randomNormal(s.shape, 0, 1, "float32", 3);
    const run = async (tsdl: boolean) => {
      webgpuKernelOptions.tsdl = tsdl;
      const out = tf.engine().runKernel(c.name, inputs, c.attrs as tf.NamedAttrMap) as tf.Tensor;
      const v = await out.data();
      out.dispose();
      return v;
    };
    const [mine, theirs] = [await run(true), await run(false)];
    const e = relErr(mine, theirs);
    worst = Math.max(worst, e);
    if (!(e <= 1e-4)) {
      ok = false;
      say("CHECK kernel MISMATCH", c.name, JSON.stringify(c.inputs), JSON.stringify(c.attrs), e.toExponential(2));
    }
    tf.dispose(Object.values(inputs));
  }
  webgpuKernelOptions.tsdl = true;
  tf.dispose([b.x, b.y]);
  net.dispose();
  opt.dispose();
  say(
    `CHECK kernels: ${convs.length} convolutions and conv gradients of a ResNet step (batch ${CHECK_BATCH}, ${HW} px), tsdl vs tfjs on this GPU: max rel. error ${worst.toExponential(2)}`,
    ok ? "OK" : "MISMATCH",
  );
  return ok;
}

/** Three ResNet steps from the PyTorch goldens' deterministic weights and images, on webgpu. */
async function resnetSteps(batch: number, hw: number, steps: number, lr: number): Promise<number[]> {
  const net = models.resnet(3, 10);
  const sd: models.TorchStateDict = {};
  for (const e of golden.entries) sd[e.name] = { shape: e.shape, data: pattern(e.name, e.shape, e.kind, e.fanIn) };
  models.loadTorchStateDict(net, sd);
  const opt = new optim.SGD(net, { lr, momentum: 0.9, weightDecay: 1e-4 });
  const batches = Array.from({ length: steps }, (_, k) =>
    tf.tidy(() => ({
      x: tf.transpose(
        tf.tensor4d(
          pattern(`input${k}`, [batch, 3, hw, hw], "bias", 0).map((v) => v * 10),
          [batch, 3, hw, hw],
        ),
        [0, 2, 3, 1],
      ),
      y: tf.tensor1d(
        Array.from({ length: batch }, (_, i) => (i + k) % 10),
        "int32",
      ),
    })),
  );
  const h = await train(net, batches, null, 1, opt, new nn.CrossEntropyLoss(), quiet);
  tf.dispose(batches.flatMap((b) => [b.x, b.y]));
  net.dispose();
  opt.dispose();
  return h.batches.map((b) => b.loss);
}

function torch(args: string[]): Array<Record<string, unknown>> {
  const r = spawnSync(PYTHON, [path.join(HERE, "resnet_torch.py"), ...args], { encoding: "utf8", timeout: 300_000 });
  if (r.status !== 0)
    throw new Error(
      `python3 resnet_torch.py ${args.join(" ")} failed (${r.status}): ${(r.stderr || r.stdout).trim().split("\n").slice(-3).join(" | ")}`,
    );
  return r.stdout
    .trim()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l));
}

/** A small CNN (every replaced kernel, BatchNorm) trained 6 steps on webgpu and on the cpu backend. */
async function smallCnnLosses(be: "webgpu" | "cpu"): Promise<number[]> {
  await backend.init(be, { verbose: false });
  const init = (s: number) => tf.initializers.glorotUniform({ seed: s });
  const input = tf.input({ shape: [16, 16, 3] });
  let x = tf.layers
    .conv2d({ filters: 8, kernelSize: 7, strides: 2, padding: "valid", kernelInitializer: init(1) })
    .apply(input) as tf.SymbolicTensor;
  x = nn.batchNorm2d().apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
  x = tf.layers
    .conv2d({ filters: 16, kernelSize: 3, strides: 2, padding: "same", useBias: false, kernelInitializer: init(2) })
    .apply(x) as tf.SymbolicTensor;
  x = nn.batchNorm2d().apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
  const net = tf.model({
    inputs: input,
    outputs: tf.layers.dense({ units: 10, kernelInitializer: init(3) }).apply(x) as tf.SymbolicTensor,
  });
  const opt = new optim.SGD(net, { lr: 0.05, momentum: 0.9, weightDecay: 1e-3 });
  const batches = [0, 1, 2].map((i) => batchOf(8, 16, 20 + i));
  const h = await train(net, repeat(batches, 6), null, 1, opt, new nn.CrossEntropyLoss(), quiet);
  tf.dispose(batches.flatMap((b) => [b.x, b.y]));
  net.dispose();
  opt.dispose();
  return h.batches.map((b) => b.loss);
}

async function check(): Promise<void> {
  await backend.init("webgpu");
  let ok = await checkKernels();
  const steps = 3;
  const mine = await resnetSteps(CHECK_BATCH, CHECK_HW, steps, 1e-3);
  try {
    const [theirs] = torch(["steps", "--batch", String(CHECK_BATCH), "--size", String(CHECK_HW), "--steps", String(steps), "--lr", "1e-3"]);
    const want = theirs.losses as number[];
    const e = Math.max(...mine.map((v, i) => Math.abs(v - want[i]) / Math.abs(want[i])));
    ok = ok && e <= 1e-3;
    say(
      `CHECK ResNet ${steps} steps (batch ${CHECK_BATCH}, ${CHECK_HW} px, same weights and images): webgpu ${mine.map((v) => v.toFixed(5)).join(" ")} | PyTorch (${theirs.device}, fp32) ${want.map((v) => v.toFixed(5)).join(" ")} | max rel. diff ${e.toExponential(2)}`,
      e <= 1e-3 ? "OK" : "MISMATCH",
    );
  } catch (err) {
    say("CHECK ResNet against PyTorch not run:", (err as Error).message, "| webgpu losses", mine.map((v) => v.toFixed(5)).join(" "));
  }
  const gpu = await smallCnnLosses("webgpu");
  const cpu = await smallCnnLosses("cpu");
  const e = Math.max(...gpu.map((v, i) => Math.abs(v - cpu[i]) / Math.abs(cpu[i])));
  ok = ok && e <= 1e-3;
  say(
    `CHECK small CNN, 6 steps of train(): webgpu ${gpu.map((v) => v.toFixed(5)).join(" ")} | cpu backend ${cpu.map((v) => v.toFixed(5)).join(" ")} | max rel. diff ${e.toExponential(2)}`,
    e <= 1e-3 ? "OK" : "MISMATCH",
  );
  say(ok ? "CHECK PASS" : "CHECK FAIL");
}

/** train() of the ResNet at batch n: warm-up steps, then about SECONDS of timed steps. */
async function trainSpeed(n: number, label: string, seconds = SECONDS): Promise<number> {
  const net = models.resnet(3, 10, { seed: 0 });
  const opt = new optim.SGD(net, { lr: 0.01, weightDecay: 1e-4 });
  const batches = [0, 1].map((i) => batchOf(n, HW, i));
  const ce = new nn.CrossEntropyLoss();
  let t = performance.now();
  await train(net, repeat(batches, 2), null, 1, opt, ce, quiet); // compiles the shaders
  const first = (performance.now() - t) / 1000;
  t = performance.now();
  await train(net, repeat(batches, 2), null, 1, opt, ce, quiet); // how long a step takes, roughly
  const perStep = (performance.now() - t) / 2000;
  const steps = Math.max(3, Math.min(200, Math.round(seconds / perStep)));
  t = performance.now();
  const cpu = process.cpuUsage();
  const main0 = mainThreadCpuMs();
  const h = await train(net, repeat(batches, steps), null, 1, opt, ce, quiet);
  const s = (performance.now() - t) / 1000;
  // CPU time per step of the process (JavaScript, tfjs, Dawn's and V8's threads) and of the main thread, which
  // issues the programs: the main thread's near the wall time means the step is bound by issuing its programs.
  const used = process.cpuUsage(cpu);
  const cpuMs = (used.user + used.system) / 1000 / steps;
  const mainMs = main0 === undefined ? undefined : (mainThreadCpuMs()! - main0) / steps;
  const ips = (n * steps) / s;
  say(
    `TRAIN webgpu ${label} resnet ${HW}px batch ${n}: ${steps} steps in ${s.toFixed(2)} s = ${((s / steps) * 1000).toFixed(1)} ms/step (CPU ${cpuMs.toFixed(1)} ms/step, main thread ${mainMs === undefined ? "-" : mainMs.toFixed(1)}) = ${rate(ips)} images/s (first 2 steps, compiling, ${first.toFixed(1)} s; last loss ${h.batches[h.batches.length - 1].loss.toFixed(4)}; tensors ${tf.memory().numTensors})`,
  );
  tf.dispose(batches.flatMap((b) => [b.x, b.y]));
  net.dispose();
  opt.dispose();
  return ips;
}

async function speed(): Promise<void> {
  await backend.init("webgpu");
  const results: Record<number, number> = {};
  for (const n of BATCHES) results[n] = await trainSpeed(n, "tsdl-kernels");
  const best = Math.max(...Object.values(results));
  say(`TRAIN best ${rate(best)} images/s: one epoch of 50,000 images at ${HW} px in ${(50000 / best).toFixed(1)} s`);
  if (STOCK_BATCH > 0) {
    webgpuKernelOptions.tsdl = false;
    await trainSpeed(STOCK_BATCH, "tfjs-kernels", Math.min(SECONDS, 5));
    webgpuKernelOptions.tsdl = true;
  }
}

/**
 * Variants of tsdl's kernels that the ab phase runs against the default, each set and undone at run time (what is
 * cached is keyed by these options, so switching compiles each variant once).
 */
const AB_VARIANTS: Array<{ name: string; what: string; set: () => () => void }> = [
  {
    name: "no-prefetch",
    what: "the convolutions' gemm without prefetching the next step's operands (TSDL_WEBGPU_PREFETCH=0)",
    set: () => setTo(gemmOptions, "prefetch", false),
  },
  {
    name: "no-split-to-widen",
    what: "forward convolutions and input gradients on the tiles before splitToWiden (no split where smaller tiles give workgroups enough)",
    set: () => setTo(gemmOptions, "splitToWiden", false),
  },
  {
    name: "bn-unmerged",
    what: "batch norm in 3 programs each way (the statistics reduced once, by a small program) instead of 2",
    set: () => setTo(batchNormOptions, "maxStorageBuffers", 9),
  },
  {
    name: "bn-chunks-128",
    what: `batch norm's statistics in about 128 workgroups instead of ${batchNormOptions.targetWorkgroups} (more rows per thread, fewer partials to add up again)`,
    set: () => setTo(batchNormOptions, "targetWorkgroups", 128),
  },
  ...[512, 2048].map((w) => ({
    name: `filter-grad-${w}`,
    what: `the filter gradient split for ${w} workgroups instead of ${filterGradOptions.targetWorkgroups}`,
    set: () => setTo(filterGradOptions, "targetWorkgroups", w),
  })),
];

/** The variants PROOF_AB_VARIANTS names (comma-separated), default all. */
function abVariants(): typeof AB_VARIANTS {
  const names = env("PROOF_AB_VARIANTS", "").split(",").filter(Boolean);
  const unknown = names.filter((n) => !AB_VARIANTS.some((v) => v.name === n));
  if (unknown.length)
    throw new Error(`PROOF_AB_VARIANTS: no variant ${unknown.join(", ")}; accepted: ${AB_VARIANTS.map((v) => v.name).join(", ")}`);
  return names.length ? AB_VARIANTS.filter((v) => names.includes(v.name)) : AB_VARIANTS;
}

/** Sets `o[key]` to `value`; returns what sets it back. */
function setTo<T, K extends keyof T>(o: T, key: K, value: T[K]): () => void {
  const was = o[key];
  o[key] = value;
  return () => {
    o[key] = was;
  };
}

/**
 * At the largest batch, in one process and on one network: each variant against the default kernels in adjacent
 * pairs (default then variant, the next round variant then default), AB_SECONDS of timed steps each, AB_ROUNDS
 * rounds; a variant's figure is the median of its pairs' ratios. Paired because a machine's speed drifts during a
 * run (the third H100 proof ran every phase after PyTorch's slower, and one round of the all-variants order put the
 * default 10% behind every variant), which runs far apart would book to whichever came later.
 */
async function ab(): Promise<void> {
  await backend.init("webgpu");
  const n = Math.max(...BATCHES);
  const net = models.resnet(3, 10, { seed: 0 });
  const opt = new optim.SGD(net, { lr: 0.01, weightDecay: 1e-4 });
  const batches = [0, 1].map((i) => batchOf(n, HW, i));
  const ce = new nn.CrossEntropyLoss();
  // Pipelines each variant compiled: none would mean it changed nothing (a setting the kernels do not read).
  const compiled = new Map<string, number>();
  const pipelines = () => Object.keys((tf.backend() as unknown as { pipelineCache: object }).pipelineCache).length;
  await train(net, repeat(batches, 2), null, 1, opt, ce, quiet); // compiles the default
  let t = performance.now();
  await train(net, repeat(batches, 2), null, 1, opt, ce, quiet);
  const steps = Math.max(3, Math.min(200, Math.round(AB_SECONDS / ((performance.now() - t) / 2000))));
  /** images/s of `set`'s kernels (set: applies a variant, returns its undo). */
  const timed = async (name: string, set: () => () => void): Promise<number> => {
    const undo = set();
    try {
      const before = pipelines();
      await train(net, repeat(batches, 2), null, 1, opt, ce, quiet); // compiles a variant the first time; warms up
      if (!compiled.has(name)) compiled.set(name, pipelines() - before);
      t = performance.now();
      await train(net, repeat(batches, steps), null, 1, opt, ce, quiet);
      return (n * steps) / ((performance.now() - t) / 1000);
    } finally {
      undo();
    }
  };
  const none = () => () => undefined;
  const variants = abVariants();
  const ratios = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  const defaults: number[] = [];
  for (let round = 0; round < AB_ROUNDS; round++) {
    const line: string[] = [];
    for (const v of variants) {
      const [a, b] =
        round % 2 ? [await timed(v.name, v.set), await timed("default", none)] : [await timed("default", none), await timed(v.name, v.set)];
      const [base, variant] = round % 2 ? [b, a] : [a, b];
      defaults.push(base);
      ratios.get(v.name)!.push(variant / base);
      line.push(`${v.name} ${rate(variant)}/${rate(base)}`);
    }
    say(`AB round ${round + 1} at batch ${n} (images/s, variant/default): ${line.join(" | ")}`);
  }
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
  for (const v of variants) {
    const r = ratios.get(v.name)!;
    say(
      `AB ${v.name}: ${v.what}: ${median(r).toFixed(3)}x the default's images/s at batch ${n} (median of ${r.length} adjacent pairs: ${r.map((x) => x.toFixed(3)).join(", ")}; ${compiled.get(v.name)} programs of its own)`,
    );
  }
  say(
    `AB default: median ${rate(median(defaults))} images/s over ${defaults.length} runs of ${steps} steps; tensors after: ${tf.memory().numTensors}`,
  );
  tf.dispose(batches.flatMap((b) => [b.x, b.y]));
  net.dispose();
  opt.dispose();
}

/**
 * What one program costs to issue, alone: 2,000 ReLUs of 4 values in a chain (each a GPU program doing nothing
 * worth timing), the CPU time to enqueue them and the wall time until the last is done.
 */
async function dispatchCost(): Promise<void> {
  const n = 2000;
  let y = tf.tensor1d([1, -2, 3, -4]);
  for (const round of [0, 1]) {
    await gpuIdle();
    const t = performance.now();
    const cpu = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      const next = tf.relu(y);
      y.dispose();
      y = next;
    }
    const used = process.cpuUsage(cpu);
    const enqueued = performance.now() - t;
    await y.data();
    const done = performance.now() - t;
    if (round === 1)
      say(
        `PROFILE dispatch cost: ${n} one-program ops (tsdl's Relu of 4 values) enqueued in ${enqueued.toFixed(1)} ms = ${((enqueued / n) * 1000).toFixed(1)} µs each (CPU ${((used.user + used.system) / n) | 0} µs), all done after ${done.toFixed(1)} ms`,
      );
  }
  y.dispose();
}

async function profile(): Promise<void> {
  await backend.init("webgpu");
  const net = models.resnet(3, 10, { seed: 0 });
  const opt = new optim.SGD(net, { lr: 0.01, weightDecay: 1e-4 });
  const b = batchOf(PROFILE_BATCH, HW, 5);
  await train(net, [b, b], null, 1, opt, new nn.CrossEntropyLoss(), quiet); // compile
  await gpuIdle();
  const t = performance.now();
  let calls: KernelCall[] = [];
  calls = await recordKernels(async () => {
    await train(net, [b], null, 1, opt, new nn.CrossEntropyLoss(), quiet);
  });
  await gpuIdle();
  say(
    `PROFILE one step (batch ${PROFILE_BATCH}, ${HW} px): ${calls.length} kernel calls, ${((performance.now() - t) / 1000).toFixed(2)} s recorded`,
  );
  // What one step dispatches (a step on a GPU is bound by it): tsdl's kernels, then tfjs's own.
  for (const tsdlKernels of [true, false]) {
    webgpuKernelOptions.tsdl = tsdlKernels;
    await train(net, [b], null, 1, opt, new nn.CrossEntropyLoss(), quiet); // compiles
    const d = await countDispatches(async () => {
      await train(net, [b], null, 1, opt, new nn.CrossEntropyLoss(), quiet);
      await gpuIdle();
    });
    say(
      `PROFILE one step with ${tsdlKernels ? "tsdl" : "tfjs"}'s kernels: ${d.programs} GPU programs, ${d.kernels} kernel calls, ${d.uploads} uploads`,
    );
  }
  webgpuKernelOptions.tsdl = true;
  await dispatchCost();
  const budget = (PROFILE_BUDGET_S * 1000) / 2;
  webgpuKernelOptions.tsdl = true;
  const tsdl = await replayKernels(calls, { budgetMs: budget });
  webgpuKernelOptions.tsdl = false;
  const stock = await replayKernels(calls, { budgetMs: budget });
  webgpuKernelOptions.tsdl = true;
  const gpuStock = gpuView(stock);
  const gpuTsdl = gpuView(tsdl);
  const table = profileTable(
    { "tfjs kernels": stock, "tsdl kernels": tsdl, ...(gpuStock && gpuTsdl ? { "tfjs GPU": gpuStock, "tsdl GPU": gpuTsdl } : {}) },
    16,
  );
  for (const line of table.split("\n")) say(`PROFILE ${line}`);
  say(`PROFILE GPU times (timestamp queries): ${tsdl.noGpuTimes ?? stock.noGpuTimes ?? "measured (the GPU columns)"}`);
  // Which calls of tsdl's kernels take the time (the next kernel to improve), with the convolutions' GFLOP/s.
  for (const line of callTable(tsdl).split("\n")) say(`PROFILE call ${line}`);
  if (tsdl.untimed || stock.untimed)
    say(
      `PROFILE untimed distinct calls (time box or failure): tsdl ${tsdl.untimed}, tfjs ${stock.untimed}; failed: ${[...new Set([...tsdl.failed, ...stock.failed])].join("; ") || "none"}`,
    );
  tf.dispose([b.x, b.y]);
}

async function loader(): Promise<void> {
  await backend.init("webgpu");
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "tsdl-proof-data-"));
  const images = Math.max(LOADER_BATCH * (LOADER_STEPS + 2), 512);
  data.writeSyntheticCifar10(root, { train: images, test: 100, seed: 0 });
  const T = data.transforms;
  const tfm = new T.Compose([
    new T.Resize(Math.round((HW * 120) / 96)),
    new T.RandomHorizontalFlip(),
    new T.RandomCrop(HW),
    new T.ColorJitter({ brightness: 0.5, contrast: 0.5, hue: 0.5 }),
    new T.ToTensor(),
    new T.Normalize([0.5, 0.5, 0.5], [0.5, 0.5, 0.5]),
  ]);
  const set = new data.CIFAR10(root, { train: true, transform: tfm });
  const net = models.resnet(3, 10, { seed: 0 });
  const opt = new optim.SGD(net, { lr: 0.01, weightDecay: 1e-4 });
  const ce = new nn.CrossEntropyLoss();
  for (const workers of [0, LOADER_WORKERS]) {
    const dl = new data.DataLoader(data.subset(set, LOADER_BATCH * (LOADER_STEPS + 2)), {
      batchSize: LOADER_BATCH,
      shuffle: true,
      seed: 0,
      numWorkers: workers,
    });
    const h = await train(net, dl, null, 1, opt, ce, quiet);
    const timed = h.batches.slice(2); // after compiling and the workers' start
    const s = timed.reduce((a, r) => a + (r.seconds ?? NaN), 0); // (train() records every batch's seconds)
    dl.close();
    say(
      `LOADER train() fed by a DataLoader (the tutorial's transforms: Resize, RandomHorizontalFlip, RandomCrop, ColorJitter, ToTensor, Normalize), batch ${LOADER_BATCH}, numWorkers ${workers}: ${rate((LOADER_BATCH * timed.length) / s)} images/s over ${timed.length} batches`,
    );
  }
  net.dispose();
  opt.dispose();
  fs.rmSync(root, { recursive: true, force: true });
}

/** The result lines of a run's log (argv[3]): images/s per batch against PyTorch, the goals, the checks. */
async function summary(): Promise<void> {
  const log = fs.readFileSync(process.argv[3] ?? "", "utf8").split("\n");
  const ours = new Map<number, number>();
  const stock = new Map<number, number>();
  for (const l of log) {
    const m = /^TRAIN webgpu (tsdl|tfjs)-kernels resnet \d+px batch (\d+): .* = ([\d.]+) images\/s/.exec(l);
    if (m) (m[1] === "tsdl" ? ours : stock).set(Number(m[2]), Number(m[3]));
  }
  const torchRuns = log.filter((l) => l.startsWith("TORCH {")).map((l) => JSON.parse(l.slice(6)) as Record<string, unknown>);
  const fp32 = new Map(torchRuns.filter((r) => r.what === "speed" && !r.tf32).map((r) => [r.batch as number, r.images_per_s as number]));
  const tf32 = torchRuns.filter((r) => r.what === "speed" && r.tf32);
  const device = torchRuns.find((r) => r.device)?.device ?? "?";
  for (const [n, v] of ours) {
    const t = fp32.get(n);
    say(
      `SUMMARY batch ${n}, ${HW} px: tsdl on webgpu ${v} images/s; PyTorch ${device} fp32 ${t ?? "-"} images/s${t ? `; ratio ${(v / t).toFixed(2)}x` : ""}`,
    );
  }
  for (const r of tf32) say(`SUMMARY PyTorch with TF32 (its default for convolutions) at batch ${r.batch}: ${r.images_per_s} images/s`);
  for (const [n, v] of stock)
    if (ours.has(n))
      say(`SUMMARY tsdl's kernels against tfjs's own at batch ${n}: ${ours.get(n)} vs ${v} images/s = ${(ours.get(n)! / v).toFixed(1)}x`);
  for (const l of log) if (/^AB [\w-]+: /.test(l)) say(`SUMMARY ${l.replace(/ \[[\d.]+s\]$/, "")}`);
  if (ours.size) {
    const [bestN, best] = [...ours.entries()].sort((a, b) => b[1] - a[1])[0];
    const t = fp32.get(bestN);
    say(
      `SUMMARY goals: epoch of 50,000 images ${(50000 / best).toFixed(1)} s (goal <= 27 s), ${best} images/s (goal >= 1850), ${t ? `${(best / t).toFixed(2)}x PyTorch fp32` : "PyTorch not measured"} (goal >= 0.5x), at batch ${bestN}`,
    );
  }
  await backend.init("cpu", { verbose: false });
  const net = models.resnet(3, 10);
  const mine = net.trainableWeights.reduce((k, w) => k + w.shape.reduce((a: number, b) => a * (b as number), 1), 0);
  const theirs = torchRuns.find((r) => r.what === "params")?.params;
  say(
    `SUMMARY parameters: tsdl's models.resnet ${mine}, the bench's PyTorch ResNet ${theirs ?? "-"}${theirs === undefined ? "" : theirs === mine ? " (same)" : " (DIFFERENT)"}`,
  );
  const verdict = log.find((l) => /^CHECK (PASS|FAIL)/.test(l));
  say(`SUMMARY correctness: ${verdict ? verdict.replace(/ \[[\d.]+s\]$/, "") : "CHECK did not finish"}`);
}

const PHASES: Record<string, () => Promise<void>> = { info, check, speed, profile, ab, loader, summary };

const phase = process.argv[2] ?? "";
if (!PHASES[phase]) {
  console.error(`usage: node proof.js ${Object.keys(PHASES).join("|")}`);
  process.exit(2);
}
PHASES[phase]().then(
  () => process.exit(0),
  (e) => {
    say(`${phase.toUpperCase()} FAILED:`, (e as Error)?.stack ?? e);
    process.exit(1);
  },
);
