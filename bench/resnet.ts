// The course ResNet's training step and inference on tsdl's backend vs PyTorch 2.x and 1.13, in one run on this machine.
//
//   node -r ts-node/register/transpile-only bench/resnet.ts [--backend wasm] [--batch 64] [--size 96]
//        [--warmup 2] [--steps 5] [--rounds 4] [--mode train|infer|both] [--no-torch] [--profile]
//        [--no-native] [--dnnl auto|always|off]   (wasm: XNNPACK only / how the native convs use oneDNN)
//
// `npm run bench -- resnet` runs it after the set-up, which puts PyTorch 2.x (pip's `torch`) in bench/.venv
// (git-ignored); PyTorch 1.13 is Debian's python3-torch (/usr/bin/python3). Each round runs PyTorch 2.x (as installed,
// then with OMP_WAIT_POLICY=passive as tsdl runs its threads), PyTorch 1.13, then tsdl (bench/torch/resnet.py is the
// same network and step in PyTorch, 2 threads), so all see the same machine load (it is shared), and reports per
// round and as best / median: images/s (median of the steps), the ratio tsdl / PyTorch, and CPU ms per image (user +
// system time of the process, all threads), which other processes' load disturbs less than wall time. Both sides
// warm up 2 steps and time 5 (tsdl's first steps still fault in memory and time new conv shapes). Train step =
// forward (BatchNorm in training mode) + cross-entropy + backward + SGD(lr 0.01, weight decay 1e-4; tsdl's
// optim.SGD) on random data. --profile prints each tfjs kernel's share of a step.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { performance } from "perf_hooks";
import { backend, models, optim, tf } from "tsdl";
import { nativeStatus, wasmKernelOptions } from "tsdl/dist/backend/wasm";

interface Args {
  backend: "wasm" | "cpu" | "tensorflow";
  batch: number;
  size: number;
  warmup: number;
  steps: number;
  mode: "train" | "infer" | "both";
  rounds: number;
  torch: boolean;
  profile: boolean;
  /** wasm: use the native kernels / oneDNN inside them (on by default when they load). */
  native: boolean;
  dnnl: "auto" | "always" | "off";
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    backend: "wasm",
    batch: 64,
    size: 96,
    warmup: 2,
    steps: 5,
    mode: "both",
    rounds: 4,
    torch: true,
    profile: false,
    native: true,
    dnnl: "auto",
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    if (k === "--no-torch") a.torch = false;
    else if (k === "--profile") a.profile = true;
    else if (k === "--no-native") a.native = false;
    else if (k === "--dnnl") {
      if (!["auto", "always", "off"].includes(v))
        throw new Error(`bench/resnet: --dnnl takes auto, always or off, got ${JSON.stringify(v)}`);
      ((a.dnnl = v as Args["dnnl"]), i++);
    } else if (k === "--backend") ((a.backend = v as Args["backend"]), i++);
    else if (k === "--mode") ((a.mode = v as Args["mode"]), i++);
    else if (["--batch", "--size", "--warmup", "--steps", "--rounds"].includes(k)) {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new Error(`bench/resnet: ${k} needs a non-negative integer, got ${JSON.stringify(v)}`);
      (a as unknown as Record<string, number>)[k.slice(2)] = n;
      i++;
    } else
      throw new Error(
        `bench/resnet: unknown argument ${JSON.stringify(k)}; accepted: --backend --batch --size --warmup --steps --rounds --mode --no-torch --profile --no-native --dnnl`,
      );
  }
  return a;
}

/** PyTorch 2.x as installed, the same with OMP_WAIT_POLICY=passive (how tsdl runs its OpenMP threads), 1.13, tsdl. */
type Side = "pytorch2" | "pytorch2-passive" | "pytorch1" | "tsdl";

interface Result {
  side: Side;
  version?: string;
  mode: "train" | "infer";
  round: number;
  ms_per_step: number;
  images_per_s: number;
  cpu_ms_per_image: number;
  [k: string]: unknown;
}

const REPO = path.resolve(__dirname, "..");

/**
 * The PyTorch sides: 2.x from the bench venv as users run it, and again with OMP_WAIT_POLICY=passive (its OpenMP
 * threads spin between parallel regions by default, which costs it much of its speed on a loaded machine; tsdl's
 * threads wait passively), and 1.13 from Debian; those that have torch.
 */
function torchSides(): Array<{ side: Side; python: string; env: NodeJS.ProcessEnv }> {
  const venv = path.join(REPO, "bench", ".venv", "bin", "python");
  const candidates: Array<{ side: Side; python: string; env: NodeJS.ProcessEnv }> = [
    { side: "pytorch2", python: venv, env: userEnv },
    { side: "pytorch2-passive", python: venv, env: { ...userEnv, OMP_WAIT_POLICY: "passive" } },
    { side: "pytorch1", python: process.env.TSDL_PYTHON ?? "/usr/bin/python3", env: userEnv },
  ];
  const has = new Map<string, boolean>();
  return candidates.filter(({ side, python }) => {
    if (!has.has(python)) {
      const ok = fs.existsSync(python) && spawnSync(python, ["-c", "import torch"], { stdio: "ignore" }).status === 0;
      if (!ok)
        console.log(
          `(no ${python === venv ? "PyTorch 2.x: bench/.venv (`npm run bench` sets it up)" : "PyTorch 1.13: apt-get install python3-torch"})`,
        );
      has.set(python, ok);
    }
    return has.get(python) && side !== undefined;
  });
}

/** The environment as the user gave it: tsdl sets OPENBLAS_CORETYPE for its own process, PyTorch makes its own choice. */
const userEnv = { ...process.env };

function runTorch(a: Args, side: Side, python: string, env: NodeJS.ProcessEnv, round: number): Result[] {
  const r = spawnSync(
    python,
    [
      path.join(REPO, "bench", "torch", "resnet.py"),
      "--batch",
      `${a.batch}`,
      "--size",
      `${a.size}`,
      "--threads",
      "2",
      "--mode",
      a.mode,
      "--warmup",
      "2",
      "--steps",
      "5",
    ],
    { encoding: "utf8", env },
  );
  if (r.status !== 0) {
    console.error(`${side} failed (${r.error?.message ?? `exit ${r.status}`}): ${r.stderr.trim().split("\n").pop()}`);
    return [];
  }
  return r.stdout
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => ({ ...(JSON.parse(l) as Result), side, round }));
}

/** Wrap every kernel of `backendName` to add its wall and CPU time to `table` (exclusive of nested kernel calls). */
function profileKernels(backendName: string): Map<string, { ms: number; cpuMs: number; calls: number }> {
  const table = new Map<string, { ms: number; cpuMs: number; calls: number }>();
  const stack: Array<{ ms: number; cpuMs: number }> = [];
  for (const config of tf.getKernelsForBackend(backendName)) {
    const inner = config.kernelFunc;
    const name = config.kernelName;
    (config as { kernelFunc: tf.KernelFunc }).kernelFunc = (args) => {
      stack.push({ ms: 0, cpuMs: 0 });
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      try {
        return inner(args);
      } finally {
        const c = process.cpuUsage(c0);
        const total = { ms: performance.now() - t0, cpuMs: (c.user + c.system) / 1e3 };
        const nested = stack.pop()!;
        if (stack.length) {
          stack[stack.length - 1].ms += total.ms;
          stack[stack.length - 1].cpuMs += total.cpuMs;
        }
        const row = table.get(name) ?? { ms: 0, cpuMs: 0, calls: 0 };
        row.ms += total.ms - nested.ms;
        row.cpuMs += total.cpuMs - nested.cpuMs;
        row.calls++;
        table.set(name, row);
      }
    };
  }
  return table;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const round1 = (v: number) => Math.round(v * 10) / 10;
const round3 = (v: number) => Math.round(v * 1000) / 1000;

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const results: Result[] = [];
  const info = await backend.init(a.backend, { verbose: true });
  Object.assign(wasmKernelOptions, { native: a.native, dnnl: a.dnnl });
  const kernels =
    info.name !== "wasm"
      ? ""
      : !a.native
        ? "XNNPACK"
        : !nativeStatus().enabled
          ? `XNNPACK (${nativeStatus().detail})`
          : a.dnnl === "off"
            ? nativeStatus().detail.replace(/oneDNN .*?\), /, "")
            : a.dnnl === "always"
              ? nativeStatus().detail.replace(/\(or im2col[^)]*\)/, "(always)")
              : nativeStatus().detail;
  if (kernels) console.log(`wasm kernels: ${kernels}`);
  const sides = a.torch ? torchSides() : [];
  const model = models.resnet(3, 10, { seed: 0, inputSize: a.size });
  const x = tf.randomNormal([a.batch, a.size, a.size, 3], 0, 1, "float32", 1) as tf.Tensor4D;
  const labels = tf.randomUniform([a.batch], 0, 10, "int32", 2);
  const y = tf.oneHot(labels, 10);
  const params = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  const lr = 0.01;
  const wd = 1e-4;

  const opt = new optim.SGD(params, { lr, weightDecay: wd }); // as torch.optim.SGD(lr, weight_decay)
  const trainStep = (): void => {
    tf.tidy(() => {
      const { grads } = tf.variableGrads(
        () => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
        params,
      );
      opt.step(grads);
    });
    tf.backend().readSync((params[0] as unknown as { dataId: object }).dataId as never); // wait for the step (sync on wasm/cpu)
  };
  const inferStep = (): void => {
    tf.tidy(() => (model.predict(x, { batchSize: a.batch }) as tf.Tensor).dataSync()); // the whole batch at once, as PyTorch
  };

  const table = a.profile ? profileKernels(info.name) : undefined;
  const measure = (mode: "train" | "infer", step: () => void, round: number): void => {
    const wall: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < a.warmup + a.steps; i++) {
      if (table && i === a.warmup) table.clear();
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      step();
      const c = process.cpuUsage(c0);
      if (i >= a.warmup) {
        wall.push(performance.now() - t0);
        cpu.push((c.user + c.system) / 1e3);
      }
    }
    const ms = median(wall);
    const r: Result = {
      side: "tsdl",
      backend: info.name,
      mode,
      round,
      ms_per_step: round1(ms),
      images_per_s: Math.round((a.batch / ms) * 1e5) / 100,
      cpu_ms_per_image: Math.round((median(cpu) / a.batch) * 100) / 100,
      numTensors: tf.memory().numTensors,
    };
    console.log(JSON.stringify(r));
    results.push(r);
    if (table) {
      const rows = [...table.entries()].sort((p, q) => q[1].cpuMs - p[1].cpuMs);
      const total = rows.reduce((s, [, v]) => s + v.cpuMs, 0);
      console.log(`  per-kernel time over ${a.steps} ${mode} steps (exclusive, per step: wall ms, CPU ms, share of CPU, calls):`);
      for (const [name, v] of rows.slice(0, 24)) {
        console.log(
          `    ${name.padEnd(24)} ${(v.ms / a.steps).toFixed(0).padStart(7)} ms ${(v.cpuMs / a.steps).toFixed(0).padStart(7)} ms  ${((100 * v.cpuMs) / total).toFixed(1).padStart(5)}%  ${(v.calls / a.steps).toFixed(0)} calls`,
        );
      }
      console.log(
        `    ${"all kernels".padEnd(24)} ${(rows.reduce((s, [, v]) => s + v.ms, 0) / a.steps).toFixed(0).padStart(7)} ms ${(total / a.steps).toFixed(0).padStart(7)} ms`,
      );
      table.clear();
    }
  };
  for (let round = 1; round <= a.rounds; round++) {
    for (const { side, python, env } of sides) {
      for (const r of runTorch(a, side, python, env, round)) {
        console.log(JSON.stringify(r));
        results.push(r);
      }
    }
    if (a.mode !== "infer") measure("train", trainStep, round);
    if (a.mode !== "train") measure("infer", inferStep, round);
  }

  report(a, results, info.name, kernels);
  tf.dispose([x, labels, y]);
}

/** Per mode: each side's images/s and CPU ms per image per round, then tsdl's ratios to each PyTorch side. */
function report(a: Args, results: Result[], backendName: string, kernels: string): void {
  const name = (s: Side) =>
    s === "tsdl"
      ? `tsdl ${backendName}`
      : `PyTorch ${results.find((r) => r.side === s)?.version ?? "?"}${s === "pytorch2-passive" ? " passive" : ""}`;
  const torchSides = (["pytorch2", "pytorch2-passive", "pytorch1"] as Side[]).filter((s) => results.some((r) => r.side === s));
  const sides: Side[] = [...torchSides, "tsdl"];
  const pick = (side: Side, mode: string, round: number) => results.find((r) => r.side === side && r.mode === mode && r.round === round);
  console.log(
    `\ncourse ResNet, batch ${a.batch}, ${a.size}x${a.size}, ${new Date().toISOString().slice(0, 10)}, rounds alternating the sides`,
  );
  console.log("  images/s (median of the steps) / CPU ms per image (user + system, all threads) per round:");
  for (const mode of ["train", "infer"] as const) {
    const rounds = Array.from({ length: a.rounds }, (_, i) => i + 1).filter((r) => sides.every((s) => pick(s, mode, r)));
    if (!rounds.length) continue;
    for (const side of sides) {
      const cells = rounds.map(
        (r) => `${pick(side, mode, r)!.images_per_s.toFixed(1)}/${pick(side, mode, r)!.cpu_ms_per_image.toFixed(1)}`,
      );
      console.log(`  ${mode.padEnd(6)} ${name(side).padEnd(30)} ${cells.map((c) => c.padStart(12)).join("")}`);
    }
    for (const side of torchSides) {
      const ratio = rounds.map((r) => pick("tsdl", mode, r)!.images_per_s / pick(side, mode, r)!.images_per_s);
      const cpu = rounds.map((r) => pick(side, mode, r)!.cpu_ms_per_image / pick("tsdl", mode, r)!.cpu_ms_per_image);
      const best = (s: Side, k: "images_per_s" | "cpu_ms_per_image") =>
        (k === "images_per_s" ? Math.max : Math.min)(...rounds.map((r) => pick(s, mode, r)![k]));
      const summary = {
        ratio_median: round3(median(ratio)),
        ratio_best: round3(best("tsdl", "images_per_s") / best(side, "images_per_s")),
        cpu_ratio_median: round3(median(cpu)),
        cpu_ratio_best: round3(best(side, "cpu_ms_per_image") / best("tsdl", "cpu_ms_per_image")),
      };
      console.log(
        `  ${mode.padEnd(6)} tsdl ÷ ${name(side).padEnd(23)} images/s ${ratio.map((q) => q.toFixed(2)).join(" ")}: median ${summary.ratio_median.toFixed(2)}×, ` +
          `best ${summary.ratio_best.toFixed(2)}×; CPU ms per image, PyTorch ÷ tsdl: median ${summary.cpu_ratio_median.toFixed(2)}, best ${summary.cpu_ratio_best.toFixed(2)}`,
      );
      console.log(
        JSON.stringify({
          bench: "resnet",
          mode,
          batch: a.batch,
          size: a.size,
          backend: backendName,
          kernels,
          vs: name(side),
          ...summary,
          rounds: ratio.map(round3),
        }),
      );
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
