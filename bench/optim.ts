// One SGD(momentum 0.9, weightDecay 1e-4) step over the course ResNet's 11.2 M parameters:
// tsdl's optim.SGD against tfjs's own tf.train.momentum plus a hand-written decay (g + wd·p), and PyTorch's
// torch.optim.SGD for scale, in one run on this machine.
//
//   node -r ts-node/register/transpile-only bench/optim.ts [--backends wasm,cpu] [--reps 10] [--cpu-reps 4] [--warmup 2] [--no-torch]
//
// Variables have the course ResNet's shapes (58 tensors, 11,180,682 parameters); gradients are random and
// fixed. tsdl and the baseline alternate in ABBA order so machine load and GC hit both alike; the ratio of
// medians is reported (target <= 1.1). Prints a table and one JSON line per measurement.
import { spawnSync } from "child_process";
import { performance } from "perf_hooks";
import { backend, optim, tf } from "tsdl";

interface Args {
  backends: string[];
  reps: number;
  /** The cpu backend takes seconds per step: fewer reps there. */
  cpuReps: number;
  warmup: number;
  torch: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { backends: ["wasm", "cpu"], reps: 10, cpuReps: 4, warmup: 2, torch: true };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    if (k === "--no-torch") a.torch = false;
    else if (k === "--backends") ((a.backends = v.split(",")), i++);
    else if (k === "--reps" || k === "--cpu-reps" || k === "--warmup") {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new Error(`bench/optim: ${k} needs a positive integer, got ${JSON.stringify(v)}`);
      a[k === "--reps" ? "reps" : k === "--warmup" ? "warmup" : "cpuReps"] = n;
      i++;
    } else
      throw new Error(`bench/optim: unknown argument ${JSON.stringify(k)}; accepted: --backends --reps --cpu-reps --warmup --no-torch`);
  }
  return a;
}

/** The course ResNet's parameter shapes, in tfjs layout (conv HWIO, dense [in, out]). */
function resnetShapes(): number[][] {
  const s: number[][] = [[7, 7, 3, 64], [64]];
  const blocks: Array<[number, number, boolean]> = [
    [64, 64, true],
    [64, 64, true],
    [64, 128, false],
    [128, 128, true],
    [128, 256, false],
    [256, 256, true],
    [256, 512, false],
    [512, 512, true],
  ];
  for (const [cin, cout, same] of blocks) {
    s.push([3, 3, cin, cout], [cout], [cout], [3, 3, cout, cout], [cout], [cout]);
    if (!same) s.push([1, 1, cin, cout], [cout]);
  }
  s.push([512, 10], [10]);
  return s;
}

const LR = 0.01;
const MOMENTUM = 0.9;
const WD = 1e-4;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Runs `fn` and waits until the backend has finished (wasm and cpu are synchronous; this reads one value). */
function timed(fn: () => void, probe: tf.Variable): number {
  const t0 = performance.now();
  fn();
  probe.dataSync();
  return performance.now() - t0;
}

async function benchBackend(name: string, a: Args) {
  await backend.init(name as backend.BackendName, { verbose: false });
  const shapes = resnetShapes();
  const numel = shapes.reduce((n, sh) => n + sh.reduce((x, y) => x * y, 1), 0);
  // Seeds start at 1: tfjs treats seed 0 as "unseeded".
  const make = (tag: string) =>
    shapes.map((sh, i) => tf.variable(tf.randomNormal(sh, 0, 0.05, "float32", i + 1), true, `bench/${name}/${tag}/${i}`));
  const ours = make("tsdl");
  const theirs = make("tfjs");
  const grads = shapes.map((sh, i) => tf.randomNormal(sh, 0, 0.01, "float32", 1000 + i));
  const gradsByName = (vars: tf.Variable[]) => Object.fromEntries(vars.map((v, i) => [v.name, grads[i]]));
  const oursGrads = gradsByName(ours);

  const sgd = new optim.SGD(ours, { lr: LR, momentum: MOMENTUM, weightDecay: WD });
  const tfMomentum = tf.train.momentum(LR, MOMENTUM);
  const tsdlStep = () => sgd.step(oursGrads);
  const tfjsStep = () =>
    tf.tidy(() => {
      // Hand-written coupled decay, as PyTorch: g + wd·p, then tfjs's momentum (v = μv + g; p -= lr·v).
      tfMomentum.applyGradients(theirs.map((v, i) => ({ name: v.name, tensor: tf.add(grads[i], tf.mul(v, WD)) })));
    });

  for (let i = 0; i < a.warmup; i++) {
    timed(tsdlStep, ours[0]);
    timed(tfjsStep, theirs[0]);
  }
  const before = tf.memory().numTensors;
  const t: number[] = [];
  const b: number[] = [];
  const reps = name === "cpu" ? a.cpuReps : a.reps;
  for (let i = 0; i < reps; i++) {
    if (i % 2 === 0) {
      t.push(timed(tsdlStep, ours[0]));
      b.push(timed(tfjsStep, theirs[0]));
    } else {
      b.push(timed(tfjsStep, theirs[0]));
      t.push(timed(tsdlStep, ours[0]));
    }
  }
  const leaked = tf.memory().numTensors - before;
  // Same update rule: after the same number of steps from the same start, the parameters agree.
  const maxDiff = Math.max(...ours.map((v, i) => tf.tidy(() => tf.max(tf.abs(tf.sub(v, theirs[i]))).dataSync()[0])));
  sgd.dispose();
  tfMomentum.dispose();
  tf.dispose([...ours, ...theirs, ...grads]);
  // ratio: of the medians; pairRatio: median of rep-by-rep ratios (robust to load drifting during the run).
  const pairRatio = median(t.map((x, i) => x / b[i]));
  return {
    backend: name,
    reps,
    tensors: shapes.length,
    params: numel,
    tsdl_ms: median(t),
    tfjs_ms: median(b),
    ratio: median(t) / median(b),
    pairRatio,
    leaked,
    maxDiff,
  };
}

function torchStep(reps: number, warmup: number): number | undefined {
  const py = `
import time, torch
torch.set_num_threads(2)
torch.manual_seed(0)
shapes = ${JSON.stringify(resnetShapes())}
ps = [torch.nn.Parameter(torch.randn(*s) * 0.05) for s in shapes]
for p in ps: p.grad = torch.randn_like(p) * 0.01
opt = torch.optim.SGD(ps, lr=${LR}, momentum=${MOMENTUM}, weight_decay=${WD})
for _ in range(${warmup}): opt.step()
ts = []
for _ in range(${reps}):
    t0 = time.perf_counter(); opt.step(); ts.append((time.perf_counter() - t0) * 1000)
ts.sort(); print(ts[len(ts) // 2])
`;
  const r = spawnSync(process.env.TSDL_PYTHON || "/usr/bin/python3", ["-c", py], { encoding: "utf8" });
  if (r.status !== 0) {
    console.error(`bench/optim: PyTorch run skipped: ${(r.stderr || r.error?.message || "").trim().split("\n").pop()}`);
    return undefined;
  }
  return Number(r.stdout.trim());
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const torchMs = a.torch ? torchStep(Math.max(a.reps, 5), a.warmup) : undefined;
  const rows = [];
  for (const name of a.backends) rows.push(await benchBackend(name, a));
  console.log(
    `\nSGD(lr ${LR}, momentum ${MOMENTUM}, weightDecay ${WD}) step over ${rows[0]?.params.toLocaleString("en-US")} parameters (${rows[0]?.tensors} tensors), median of ${rows.map((r) => `${r.reps} on ${r.backend}`).join(", ")}`,
  );
  console.log("backend  tsdl ms  tfjs momentum+decay ms  tsdl/tfjs  (rep by rep)  tsdl/PyTorch  leaked tensors  max |tsdl-tfjs|");
  for (const r of rows) {
    const vsTorch = torchMs ? (r.tsdl_ms / torchMs).toFixed(1) + "x" : "-";
    console.log(
      `${r.backend.padEnd(7)}  ${r.tsdl_ms.toFixed(0).padStart(7)}  ${r.tfjs_ms.toFixed(0).padStart(21)}  ${r.ratio.toFixed(2).padStart(9)}  ${r.pairRatio.toFixed(2).padStart(12)}  ${vsTorch.padStart(12)}  ${String(r.leaked).padStart(14)}  ${r.maxDiff.toExponential(1).padStart(15)}`,
    );
  }
  if (torchMs) console.log(`PyTorch ${torchMs.toFixed(0)} ms (torch.optim.SGD, 2 threads)`);
  for (const r of rows) console.log(JSON.stringify({ bench: "optim.sgd_step", ...r, torch_ms: torchMs ?? null }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
