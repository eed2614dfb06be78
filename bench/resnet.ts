// The course ResNet's training step and inference on tsdl's backend vs PyTorch, in one run on this machine.
//
//   node -r ts-node/register/transpile-only bench/resnet.ts [--backend wasm] [--batch 64] [--size 96]
//        [--warmup 1] [--steps 3] [--rounds 2] [--mode train|infer|both] [--no-torch] [--profile]
//        [--no-native] [--dnnl auto|always|off]   (wasm: XNNPACK only / how the native convs use oneDNN)
//
// Alternates ../shared/reference/pytorch/bench_resnet.py (Debian python3-torch, 2 threads) and tsdl for `rounds`
// rounds, so both see the same machine load (it is shared), and reports each round's ratio and their median.
// Train step = forward (BatchNorm in training mode) + cross-entropy + backward + SGD(lr 0.01, weight decay 1e-4),
// random data, as the PyTorch script. Prints a table and one JSON line per measurement.
import { spawnSync } from "child_process";
import * as path from "path";
import { performance } from "perf_hooks";
import { backend, models, tf } from "tsdl";
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
  const a: Args = { backend: "wasm", batch: 64, size: 96, warmup: 1, steps: 3, mode: "both", rounds: 2, torch: true, profile: false, native: true, dnnl: "auto" };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    if (k === "--no-torch") a.torch = false;
    else if (k === "--profile") a.profile = true;
    else if (k === "--no-native") a.native = false;
    else if (k === "--dnnl") {
      if (!["auto", "always", "off"].includes(v)) throw new Error(`bench/resnet: --dnnl takes auto, always or off, got ${JSON.stringify(v)}`);
      (a.dnnl = v as Args["dnnl"]), i++;
    }
    else if (k === "--backend") (a.backend = v as Args["backend"]), i++;
    else if (k === "--mode") (a.mode = v as Args["mode"]), i++;
    else if (["--batch", "--size", "--warmup", "--steps", "--rounds"].includes(k)) {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new Error(`bench/resnet: ${k} needs a non-negative integer, got ${JSON.stringify(v)}`);
      (a as unknown as Record<string, number>)[k.slice(2)] = n;
      i++;
    } else throw new Error(`bench/resnet: unknown argument ${JSON.stringify(k)}; accepted: --backend --batch --size --warmup --steps --rounds --mode --no-torch --profile --no-native --dnnl`);
  }
  return a;
}

interface Result {
  framework: string;
  backend?: string;
  mode: "train" | "infer";
  batch: number;
  size: number;
  ms_per_step: number;
  images_per_s: number;
  [k: string]: unknown;
}

/** The environment as the user gave it: tsdl sets OPENBLAS_CORETYPE for its own process, PyTorch gets its own choice. */
const userEnv = { ...process.env };

function runTorch(a: Args): Result[] {
  const repo = path.resolve(__dirname, "..");
  const script = path.resolve(repo, "../shared/reference/pytorch/bench_resnet.py");
  const mode = a.mode;
  const r = spawnSync(
    process.env.TSDL_PYTHON ?? "/usr/bin/python3",
    [script, "--batch", `${a.batch}`, "--size", `${a.size}`, "--threads", "2", "--mode", mode, "--warmup", "2", "--steps", "5"],
    { encoding: "utf8", cwd: path.dirname(script), env: userEnv },
  );
  if (r.status !== 0) {
    console.error(`PyTorch reference failed (${r.error?.message ?? `exit ${r.status}`}): ${r.stderr.trim().split("\n").pop()}`);
    return [];
  }
  return r.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Result);
}

/** Wrap every kernel of `backendName` to add its wall time to `table` (exclusive of nested kernel calls). */
function profileKernels(backendName: string): Map<string, { ms: number; calls: number }> {
  const table = new Map<string, { ms: number; calls: number }>();
  const stack: number[] = [];
  for (const config of tf.getKernelsForBackend(backendName)) {
    const inner = config.kernelFunc;
    const name = config.kernelName;
    (config as { kernelFunc: tf.KernelFunc }).kernelFunc = (args) => {
      stack.push(0);
      const t0 = performance.now();
      try {
        return inner(args);
      } finally {
        const total = performance.now() - t0;
        const nested = stack.pop() as number;
        if (stack.length) stack[stack.length - 1] += total;
        const row = table.get(name) ?? { ms: 0, calls: 0 };
        row.ms += total - nested;
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

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const results: Array<Result & { round: number }> = [];
  const info = await backend.init(a.backend, { verbose: true });
  Object.assign(wasmKernelOptions, { native: a.native, dnnl: a.dnnl });
  const kernels = info.name !== "wasm" ? "" : !a.native ? "XNNPACK" : !nativeStatus().enabled ? `XNNPACK (${nativeStatus().detail})` : a.dnnl === "off" ? nativeStatus().detail.replace(/oneDNN .*?\), /, "") : a.dnnl === "always" ? nativeStatus().detail.replace(/\(or im2col[^)]*\)/, "(always)") : nativeStatus().detail;
  if (kernels) console.log(`wasm kernels: ${kernels}`);
  const model = models.resnet(3, 10, { seed: 0, inputSize: a.size });
  const x = tf.randomNormal([a.batch, a.size, a.size, 3], 0, 1, "float32", 1) as tf.Tensor4D;
  const labels = tf.randomUniform([a.batch], 0, 10, "int32", 2);
  const y = tf.oneHot(labels, 10);
  const params = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  const lr = 0.01;
  const wd = 1e-4;

  const trainStep = (): void => {
    tf.tidy(() => {
      const { grads } = tf.variableGrads(
        () => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
        params,
      );
      // torch.optim.SGD(lr, weight_decay): p ← p - lr·(g + wd·p)
      for (const p of params) p.assign(tf.sub(p, tf.mul(lr, tf.add(grads[p.name], tf.mul(wd, p)))));
    });
    tf.backend().readSync((params[0] as unknown as { dataId: object }).dataId as never); // wait for the step (sync on wasm/cpu)
  };
  const inferStep = (): void => {
    tf.tidy(() => (model.predict(x, { batchSize: a.batch }) as tf.Tensor).dataSync()); // the whole batch at once, as PyTorch
  };

  const table = a.profile ? profileKernels(info.name) : undefined;
  const measure = (mode: "train" | "infer", step: () => void, round: number): void => {
    const times: number[] = [];
    for (let i = 0; i < a.warmup + a.steps; i++) {
      if (table && i === a.warmup) table.clear();
      const t0 = performance.now();
      step();
      if (i >= a.warmup) times.push(performance.now() - t0);
    }
    const ms = median(times);
    const r: Result = {
      framework: "tsdl",
      backend: info.name,
      device: info.device,
      kernels,
      mode,
      batch: a.batch,
      size: a.size,
      ms_per_step: Math.round(ms * 10) / 10,
      images_per_s: Math.round((a.batch / ms) * 1e5) / 100,
      numTensors: tf.memory().numTensors,
    };
    console.log(JSON.stringify({ ...r, round }));
    results.push({ ...r, round });
    if (table) {
      const rows = [...table.entries()].sort((p, q) => q[1].ms - p[1].ms);
      const total = rows.reduce((s, [, v]) => s + v.ms, 0);
      console.log(`  per-kernel time over ${a.steps} ${mode} steps (exclusive ms per step, share):`);
      for (const [name, v] of rows.slice(0, 18)) {
        console.log(`    ${name.padEnd(24)} ${(v.ms / a.steps).toFixed(0).padStart(7)} ms  ${((100 * v.ms) / total).toFixed(1).padStart(5)}%  ${(v.calls / a.steps).toFixed(0)} calls`);
      }
      table.clear();
    }
  };
  for (let round = 1; round <= a.rounds; round++) {
    if (a.torch) {
      for (const r of runTorch(a)) {
        console.log(JSON.stringify({ ...r, round }));
        results.push({ ...r, round });
      }
    }
    if (a.mode !== "infer") measure("train", trainStep, round);
    if (a.mode !== "train") measure("infer", inferStep, round);
  }

  console.log(`\ncourse ResNet, batch ${a.batch}, ${a.size}x${a.size}: images/s (median of ${a.steps} steps) per round, PyTorch and tsdl alternating`);
  console.log(`  ${"mode".padEnd(6)} ${"round".padStart(5)} ${"PyTorch".padStart(9)} ${`tsdl ${info.name}`.padStart(12)} ${"ratio".padStart(7)}`);
  for (const mode of ["train", "infer"] as const) {
    const ratios: number[] = [];
    for (let round = 1; round <= a.rounds; round++) {
      const t = results.find((r) => r.framework === "pytorch" && r.mode === mode && r.round === round);
      const s = results.find((r) => r.framework === "tsdl" && r.mode === mode && r.round === round);
      if (!s) continue;
      const ratio = t ? s.images_per_s / t.images_per_s : NaN;
      if (t) ratios.push(ratio);
      console.log(`  ${mode.padEnd(6)} ${String(round).padStart(5)} ${(t ? t.images_per_s.toFixed(1) : "-").padStart(9)} ${s.images_per_s.toFixed(2).padStart(12)} ${(t ? ratio.toFixed(3) : "-").padStart(7)}`);
    }
    if (ratios.length) {
      const tsdl = median(results.filter((r) => r.framework === "tsdl" && r.mode === mode).map((r) => r.images_per_s));
      const torch = median(results.filter((r) => r.framework === "pytorch" && r.mode === mode).map((r) => r.images_per_s));
      const ratio = median(ratios);
      // On a shared machine the fastest round of each is the one least disturbed by others' load.
      const tsdlBest = Math.max(...results.filter((r) => r.framework === "tsdl" && r.mode === mode).map((r) => r.images_per_s));
      const torchBest = Math.max(...results.filter((r) => r.framework === "pytorch" && r.mode === mode).map((r) => r.images_per_s));
      console.log(`  ${mode.padEnd(6)} ${"median".padStart(5)} ${torch.toFixed(1).padStart(9)} ${tsdl.toFixed(2).padStart(12)} ${ratio.toFixed(3).padStart(7)}   (median of the per-round ratios)`);
      console.log(`  ${mode.padEnd(6)} ${"best".padStart(5)} ${torchBest.toFixed(1).padStart(9)} ${tsdlBest.toFixed(2).padStart(12)} ${(tsdlBest / torchBest).toFixed(3).padStart(7)}   (fastest round of each)`);
      console.log(JSON.stringify({
        bench: "resnet", mode, batch: a.batch, size: a.size, backend: info.name, kernels,
        pytorch_median: torch, tsdl_median: tsdl, ratio_median: Math.round(ratio * 1000) / 1000,
        pytorch_best: torchBest, tsdl_best: tsdlBest, ratio_best: Math.round((tsdlBest / torchBest) * 1000) / 1000,
        rounds: ratios.map((q) => Math.round(q * 1000) / 1000),
      }));
    }
  }
  tf.dispose([x, labels, y]);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
