// Rendering plots to SVG in Node: tsdl's synchronous path vs vega's own async View.toSVG(), and vs matplotlib
// (what PyTorch users plot with) drawing the same lines to SVG, in one run on this machine.
//
//   node -r ts-node/register/transpile-only bench/plot.ts [--reps 11] [--no-matplotlib]
//
// Cases: plot.compare of 5 runs x 100 epochs (train + valid: 10 lines, 1000 points; the issue's target is a
// median under 0.5 s), plot.lossCurve of 100 epochs with 5000 per-batch losses, and one live redraw.
// Each timing builds a new Plot (no cache). Prints a table and one JSON line per measurement.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { performance } from "perf_hooks";
import { plot } from "tsdl";
import type { History } from "tsdl";

function parseArgs(argv: string[]): { reps: number; matplotlib: boolean } {
  const a = { reps: 11, matplotlib: true };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--no-matplotlib") a.matplotlib = false;
    else if (argv[i] === "--reps") {
      a.reps = Number(argv[++i]);
      if (!Number.isInteger(a.reps) || a.reps < 1)
        throw new Error(`bench/plot: --reps needs a positive integer, got ${JSON.stringify(argv[i])}`);
    } else throw new Error(`bench/plot: unknown argument ${JSON.stringify(argv[i])}; accepted: --reps N, --no-matplotlib`);
  }
  return a;
}

/** Deterministic noise (mulberry32), so every run draws the same curves. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function history(run: number, epochs: number, batchesPerEpoch: number): History {
  const r = rng(run + 1);
  const h: History = { epochs: [], batches: [] };
  let step = 0;
  for (let e = 0; e < epochs; e++) {
    const lr = e < 60 ? 0.1 : e < 85 ? 0.01 : 0.001;
    const base = 0.25 + 1.8 * Math.exp(-e / (15 + 3 * run)) - (e >= 60 ? 0.08 : 0);
    for (let b = 0; b < batchesPerEpoch; b++)
      h.batches.push({ epoch: e, batch: b, step: step++, loss: base * (0.8 + 0.4 * r()), lr: [lr] });
    h.epochs.push({ epoch: e, trainLoss: base, validLoss: base + 0.15 + 0.1 * r(), lr: [lr], seconds: 1 });
  }
  return h;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function time(reps: number, f: () => unknown): number {
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    f();
    ms.push(performance.now() - t);
  }
  return median(ms);
}

async function timeAsync(reps: number, f: () => Promise<unknown>): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await f();
    ms.push(performance.now() - t);
  }
  return median(ms);
}

const MATPLOTLIB = `
import io, json, sys, time, statistics
import matplotlib
matplotlib.use("svg")
import matplotlib.pyplot as plt
runs, reps = json.load(open(sys.argv[1])), int(sys.argv[2])
def draw():
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    for i, (name, h) in enumerate(runs.items()):
        ep = [r["epoch"] for r in h["epochs"]]
        ax.plot(ep, [r["trainLoss"] for r in h["epochs"]], color=f"C{i}", label=f"{name} train")
        ax.plot(ep, [r["validLoss"] for r in h["epochs"]], color=f"C{i}", ls="--", label=f"{name} valid")
    ax.set_xlabel("epoch"); ax.set_ylabel("loss"); ax.legend()
    buf = io.StringIO(); fig.savefig(buf, format="svg"); plt.close(fig)
    return buf.getvalue()
draw()
ms = []
for _ in range(reps):
    t = time.perf_counter(); draw(); ms.append((time.perf_counter() - t) * 1000)
print(json.dumps({"median_ms": statistics.median(ms), "matplotlib": matplotlib.__version__}))
`;

function matplotlibMs(runs: Record<string, History>, reps: number): { ms: number; version: string } | string {
  const file = path.join(os.tmpdir(), `tsdl-bench-plot-${process.pid}.json`);
  fs.writeFileSync(file, JSON.stringify(Object.fromEntries(Object.entries(runs).map(([k, h]) => [k, { epochs: h.epochs }]))));
  try {
    const r = spawnSync(process.env.TSDL_PYTHON ?? "/usr/bin/python3", ["-c", MATPLOTLIB, file, String(reps)], { encoding: "utf8" });
    if (r.status !== 0) return `matplotlib not run: ${(r.stderr || r.error?.message || "").trim().split("\n").pop()}`;
    const out = JSON.parse(r.stdout.trim().split("\n").pop()!);
    return { ms: out.median_ms, version: out.matplotlib };
  } finally {
    fs.rmSync(file, { force: true });
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const runs: Record<string, History> = {};
  for (let i = 0; i < 5; i++) runs[`run ${i}`] = history(i, 100, 50);
  const rows: Array<{ case: string; ms: number; vs?: string; ratio?: number }> = [];

  // Cold: the first plot of a session also loads vega and vega-lite.
  const t = performance.now();
  plot.compare(runs).toSVG();
  rows.push({ case: "compare 5 runs x 100 epochs, first call (loads vega)", ms: performance.now() - t });

  const sync = time(args.reps, () => plot.compare(runs).toSVG());
  rows.push({ case: "compare 5 runs x 100 epochs: build + SVG (tsdl)", ms: sync });
  // Rendering alone, sync vs vega's async API, alternated so both see the same machine load.
  const spec = JSON.stringify(plot.compare(runs).spec);
  const syncMs: number[] = [];
  const asyncMs: number[] = [];
  for (let i = 0; i < args.reps; i++) {
    syncMs.push(time(1, () => plot.renderSvg(JSON.parse(spec))));
    asyncMs.push(await timeAsync(1, () => plot.renderSvgAsync(JSON.parse(spec))));
  }
  rows.push({ case: "  its rendering: plot.renderSvg (sync)", ms: median(syncMs) });
  rows.push({
    case: "  its rendering: vega View.toSVG() (async)",
    ms: median(asyncMs),
    vs: "sync / async",
    ratio: median(syncMs) / median(asyncMs),
  });

  const one = runs["run 0"];
  rows.push({
    case: "lossCurve 100 epochs + 5000 batch losses -> SVG",
    ms: time(args.reps, () => plot.lossCurve(one, { batches: true }).toSVG()),
  });
  const g = globalThis as unknown as Record<symbol, unknown>;
  const sinkKey = Symbol.for("tsdl.displaySink");
  g[sinkKey] = { display: () => undefined, update: () => undefined };
  try {
    const live = plot.live({ every: 1 });
    let k = 0;
    const partial = () => ({ epochs: one.epochs.slice(0, 50 + (k++ % 50)), batches: [] });
    rows.push({ case: "live redraw of a 50-100 epoch loss curve (bundle with SVG)", ms: time(args.reps, () => live.update(partial())) });
  } finally {
    delete g[sinkKey];
  }

  if (args.matplotlib) {
    const m = matplotlibMs(runs, args.reps);
    if (typeof m === "string") console.log(m);
    else
      rows.push({
        case: `same 10 lines, matplotlib ${m.version} savefig(svg)`,
        ms: m.ms,
        vs: "tsdl sync / matplotlib",
        ratio: sync / m.ms,
      });
  }

  console.log(`\nplot rendering, median of ${args.reps} (node ${process.version}, ${os.cpus().length} cores)`);
  console.log(`${"case".padEnd(62)} ${"ms".padStart(8)}  ratio`);
  for (const r of rows)
    console.log(`${r.case.padEnd(62)} ${r.ms.toFixed(1).padStart(8)}  ${r.ratio ? `${r.ratio.toFixed(2)} (${r.vs})` : ""}`);
  console.log(`target: compare 5 x 100 under 500 ms: ${sync < 500 ? "met" : "NOT met"} (${sync.toFixed(0)} ms)\n`);
  for (const r of rows) console.log(JSON.stringify({ bench: "plot", ...r, ms: Number(r.ms.toFixed(2)), reps: args.reps }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
