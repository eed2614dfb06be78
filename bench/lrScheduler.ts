// Cost of scheduler.step(): tsdl vs torch.optim.lr_scheduler (torch 1.13, /usr/bin/python3), in one run.
//
//   node -r ts-node/register/transpile-only bench/lrScheduler.ts [--steps 20000] [--no-torch]
//
// Each schedule drives two param groups (lr 0.05 and 0.5); the time is per scheduler.step() (no optimizer step),
// median of 5 repeats of `steps` steps. Prints a table, then one JSON line per schedule.
import { spawnSync } from "child_process";
import { performance } from "perf_hooks";
import { lrScheduler as L } from "tsdl";

interface Case {
  name: string;
  ts: (o: L.SchedulableOptimizer, steps: number) => L.Scheduler;
  py: string; // builds `s` on `opt` (Python), `N` = steps
  metric?: boolean;
}

const CASES: Case[] = [
  { name: "StepLR", ts: (o) => L.stepLR(o, { stepSize: 30, gamma: 0.1 }), py: "S.StepLR(opt, 30, 0.1)" },
  { name: "MultiStepLR", ts: (o) => L.multiStepLR(o, { milestones: [100, 200, 300] }), py: "S.MultiStepLR(opt, [100, 200, 300])" },
  { name: "CosineAnnealingLR", ts: (o) => L.cosineAnnealingLR(o, { tMax: 100 }), py: "S.CosineAnnealingLR(opt, 100)" },
  {
    name: "CosineAnnealingWarmRestarts",
    ts: (o) => L.cosineAnnealingWarmRestarts(o, { t0: 10, tMult: 2 }),
    py: "S.CosineAnnealingWarmRestarts(opt, 10, 2)",
  },
  { name: "CyclicLR", ts: (o) => L.cyclicLR(o, { baseLr: 0.01, maxLr: 0.1, stepSizeUp: 50 }), py: "S.CyclicLR(opt, 0.01, 0.1, 50)" },
  { name: "OneCycleLR", ts: (o, n) => L.oneCycleLR(o, { maxLr: 0.1, totalSteps: n }), py: "S.OneCycleLR(opt, 0.1, total_steps=N)" },
  {
    name: "SequentialLR (warmup + cosine)",
    ts: (o, n) => L.warmupCosine(o, { warmupSteps: 100, totalSteps: n, startFactor: 0.1 }),
    py: "S.SequentialLR(opt, [S.LinearLR(opt, 0.1, 1.0, 100), S.CosineAnnealingLR(opt, N - 100)], [100])",
  },
  {
    name: "ReduceLROnPlateau",
    ts: (o) => L.reduceLROnPlateau(o, { patience: 5 }),
    py: "S.ReduceLROnPlateau(opt, patience=5)",
    metric: true,
  },
];

function parseArgs(argv: string[]): { steps: number; torch: boolean } {
  const a = { steps: 20000, torch: true };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--no-torch") a.torch = false;
    else if (argv[i] === "--steps") {
      a.steps = Number(argv[++i]);
      if (!Number.isInteger(a.steps) || a.steps < 100)
        throw new Error(`bench/lrScheduler: --steps needs an integer >= 100, got ${argv[i]}`);
    } else throw new Error(`bench/lrScheduler: unknown argument ${argv[i]}; accepted: --steps N, --no-torch`);
  }
  return a;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function tsdlMicros(c: Case, steps: number): number {
  const times: number[] = [];
  for (let r = 0; r < 5; r++) {
    const o: L.SchedulableOptimizer = {
      paramGroups: [
        { lr: 0.05, momentum: 0.9 },
        { lr: 0.5, momentum: 0.9 },
      ],
      defaults: { momentum: 0.9 },
    };
    const s = c.ts(o, steps);
    const t0 = performance.now();
    for (let i = 0; i < steps - 1; i++) {
      if (c.metric) s.step(1.0);
      else s.step();
    }
    times.push(((performance.now() - t0) * 1000) / (steps - 1));
  }
  return median(times);
}

function torchMicros(steps: number): Record<string, number> | undefined {
  const py = `
import json, time, warnings, torch
from torch.optim import lr_scheduler as S
warnings.simplefilter("ignore")
N = ${steps}
cases = json.loads(${JSON.stringify(JSON.stringify(CASES.map((c) => [c.name, c.py, !!c.metric])))})
out = {}
for name, code, metric in cases:
    times = []
    for r in range(5):
        ps = [torch.zeros(1, requires_grad=True) for _ in range(2)]
        opt = torch.optim.SGD([{"params": [ps[0]], "lr": 0.05}, {"params": [ps[1]], "lr": 0.5}], lr=0.1, momentum=0.9)
        s = eval(code)
        t0 = time.perf_counter()
        for i in range(N - 1):
            s.step(1.0) if metric else s.step()
        times.append((time.perf_counter() - t0) * 1e6 / (N - 1))
    out[name] = sorted(times)[2]
print(json.dumps(out))
`;
  const r = spawnSync(process.env.TSDL_PYTHON || "/usr/bin/python3", ["-c", py], { encoding: "utf8" });
  if (r.status !== 0) {
    console.error(`torch run failed (install python3-torch to compare): ${r.stderr.split("\n").slice(-3).join(" ")}`);
    return undefined;
  }
  return JSON.parse(r.stdout.trim().split("\n").pop() as string);
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const torch = args.torch ? torchMicros(args.steps) : undefined;
  const rows = CASES.map((c) => {
    const t = tsdlMicros(c, args.steps);
    const p = torch?.[c.name];
    return {
      bench: "lrScheduler.step",
      schedule: c.name,
      steps: args.steps,
      tsdlMicros: t,
      torchMicros: p,
      torchOverTsdl: p === undefined ? undefined : p / t,
    };
  });
  console.log(`scheduler.step() on 2 param groups, ${args.steps} steps, median of 5 (µs per step; ratio > 1: tsdl is faster)`);
  console.log(`${"schedule".padEnd(32)}${"tsdl µs".padStart(10)}${"torch µs".padStart(10)}${"torch/tsdl".padStart(12)}`);
  for (const r of rows) {
    console.log(
      `${r.schedule.padEnd(32)}${r.tsdlMicros.toFixed(3).padStart(10)}${(r.torchMicros?.toFixed(3) ?? "-").padStart(10)}${(r.torchOverTsdl?.toFixed(1) ?? "-").padStart(12)}`,
    );
  }
  for (const r of rows) console.log(JSON.stringify(r));
}

main();
