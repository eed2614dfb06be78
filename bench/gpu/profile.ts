// Per-kernel profile of a training step on any tfjs backend, by replay: run the step once recording every
// top-level kernel call (name, input shapes and dtypes, attributes), then time each distinct call alone on fresh
// inputs of the same shapes, waiting for the GPU after each batch of repeats. Works without timestamp queries
// (the software adapter has none); where the device has them, each call's GPU time is measured too (the wall time
// of a small kernel is what the CPU takes to issue it).
import { tf } from "tsdl";

export interface KernelCall {
  name: string;
  inputs: Record<string, { shape: number[]; dtype: tf.DataType }>;
  attrs: Record<string, unknown>;
  /** Output shapes. */
  outputs: number[][];
  /** The inputs were an array (Pack, Concat), not named. */
  list?: boolean;
}

export interface KernelRow {
  /** Kernel name, e.g. Conv2DBackpropFilter. */
  name: string;
  /** Calls in one step. */
  calls: number;
  /** Milliseconds per step (sum over its calls). */
  ms: number;
  /** GPU milliseconds per step by timestamp queries, where the device has them. */
  gpuMs?: number;
}

/** One distinct call (name, shapes and attributes) and its time. */
export interface CallRow {
  name: string;
  /** Input shapes, e.g. "x 128x24x24x64, dy 128x24x24x64". */
  shapes: string;
  /** Times per step. */
  count: number;
  /** Milliseconds per call. */
  ms: number;
  /** GPU milliseconds per call (timestamp queries), where the device has them. */
  gpuMs?: number;
  /** Multiply-adds x2 of a convolution (forward or either gradient); undefined for other kernels. */
  flops?: number;
}

export interface Profile {
  rows: KernelRow[];
  /** Distinct calls, most time per step first. */
  calls: CallRow[];
  /** Sum of rows' ms. */
  totalMs: number;
  /** Distinct calls that were not timed (time box reached, or replay failed). */
  untimed: number;
  /** Kernels whose replay failed, with the first error. */
  failed: string[];
  /** Why GPU times are missing (no timestamp queries on the device, or their first error); undefined when present. */
  noGpuTimes?: string;
}

type Engine = { runKernel(name: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown>): tf.Tensor | tf.Tensor[] };

/** Runs `step` once and returns the top-level kernel calls it made. */
export async function recordKernels(step: () => Promise<void>): Promise<KernelCall[]> {
  const engine = tf.engine() as unknown as Engine;
  const run = engine.runKernel;
  const calls: KernelCall[] = [];
  let depth = 0;
  engine.runKernel = function (name, inputs, attrs) {
    const top = depth === 0;
    depth++;
    try {
      const out = run.call(this, name, inputs, attrs);
      if (top) {
        const shapes: KernelCall["inputs"] = {};
        for (const [k, t] of Object.entries(inputs)) if (t) shapes[k] = { shape: [...t.shape], dtype: t.dtype };
        const outputs = (Array.isArray(out) ? out : [out]).map((t) => [...t.shape]);
        calls.push({ name, inputs: shapes, attrs: JSON.parse(JSON.stringify(attrs ?? {})), outputs, list: Array.isArray(inputs) });
      }
      return out;
    } finally {
      depth--;
    }
  };
  try {
    await step();
  } finally {
    engine.runKernel = run;
  }
  return calls;
}

/** Waits until the GPU has done everything queued so far (webgpu); other backends compute synchronously. */
export async function gpuIdle(): Promise<void> {
  if (tf.getBackend() !== "webgpu") return;
  const b = tf.backend() as unknown as {
    device: GPUDevice;
    ensureCommandEncoderReady(): void;
    endComputePassEncoder(): void;
    submitQueue(): void;
  };
  b.ensureCommandEncoderReady();
  b.endComputePassEncoder();
  b.submitQueue();
  await b.device.queue.onSubmittedWorkDone();
}

/** 2 x the multiply-adds of a convolution call (N·OH·OW·CO outputs, KH·KW·CI taps each), or undefined. */
export function convFlops(call: KernelCall): number | undefined {
  const prod = (a: number[]) => a.reduce((x, y) => x * y, 1);
  const filter = call.inputs.filter?.shape ?? (call.attrs.filterShape as number[] | undefined);
  let out: number[] | undefined;
  if (call.name === "Conv2D" || call.name === "FusedConv2D") out = call.outputs[0];
  else if (call.name === "Conv2DBackpropInput" || call.name === "Conv2DBackpropFilter") out = call.inputs.dy?.shape;
  if (!out || !filter || out.length !== 4 || filter.length !== 4) return undefined;
  return 2 * prod(out) * prod(filter.slice(0, 3));
}

/**
 * The GPU time of `f`'s programs in ms (tf.time's kernelMs: each program in a compute pass of its own between two
 * timestamps), or a string saying why there is none. A call's wall time in a replay is its CPU cost where the GPU
 * finishes first (small kernels); this is the GPU's own. Dawn quantizes timestamps unless started with
 * TSDL_DAWN_FLAGS=disable-dawn-features=timestamp_quantization (run.sh's profile phase does).
 */
export async function gpuMs(f: () => void): Promise<number | string> {
  if (tf.getBackend() !== "webgpu") return "not on webgpu";
  if (!(tf.backend() as unknown as { supportTimestampQuery?: boolean }).supportTimestampQuery) return "the device has no timestamp queries";
  const info = await tf.time(f);
  const k = info.kernelMs as number | { error: string };
  if (typeof k !== "number") return `tf.time: ${k.error}`;
  // (Dawn's null backend, which has the feature and no GPU, gives garbage such as -3e5 ms)
  return Number.isFinite(k) && k >= 0 ? k : `timestamps unusable (tf.time gave ${k} ms)`;
}

function inputFor(spec: { shape: number[]; dtype: tf.DataType }): tf.Tensor {
  // Filled on the device (random values would be drawn in JavaScript: seconds for a batch of activations). 0.5 is
  // in range for every op here (log, sqrt, division); index-like inputs (int32, bool) get zeros.
  return spec.dtype === "float32" ? tf.fill(spec.shape, 0.5) : tf.zeros(spec.shape, spec.dtype);
}

/**
 * Times each distinct call of `calls` (grouped by name, shapes and attributes) and sums per kernel name.
 * Stops timing new calls after `budgetMs` (they count in `untimed`).
 */
export async function replayKernels(
  calls: KernelCall[],
  opts: { budgetMs?: number; minMs?: number; maxRepeats?: number } = {},
): Promise<Profile> {
  const budget = opts.budgetMs ?? 60_000;
  const minMs = opts.minMs ?? 20;
  const maxRepeats = opts.maxRepeats ?? 20;
  const groups = new Map<string, { call: KernelCall; count: number }>();
  for (const c of calls) {
    const key = JSON.stringify([c.name, c.inputs, c.attrs]);
    const g = groups.get(key);
    if (g) g.count++;
    else groups.set(key, { call: c, count: 1 });
  }
  const engine = tf.engine() as unknown as Engine;
  const byName = new Map<string, KernelRow>();
  const rows: CallRow[] = [];
  let untimed = 0;
  const failed: string[] = [];
  let noGpuTimes: string | undefined;
  const t0 = performance.now();
  for (const { call, count } of groups.values()) {
    const row = byName.get(call.name) ?? { name: call.name, calls: 0, ms: 0 };
    byName.set(call.name, row);
    row.calls += count;
    if (performance.now() - t0 > budget) {
      untimed++;
      continue;
    }
    const inputs: Record<string, tf.Tensor> = {};
    for (const [k, spec] of Object.entries(call.inputs)) inputs[k] = inputFor(spec);
    const args = call.list ? (Object.values(inputs) as unknown as Record<string, tf.Tensor>) : inputs;
    const once = () => tf.dispose(engine.runKernel(call.name, args, call.attrs));
    try {
      once(); // compiles its shader and uploads the inputs
      await gpuIdle();
      let repeats = 1;
      let ms = 0;
      for (;;) {
        const t = performance.now();
        for (let i = 0; i < repeats; i++) once();
        await gpuIdle();
        ms = (performance.now() - t) / repeats;
        if (ms * repeats >= minMs || repeats >= maxRepeats) break;
        repeats = Math.min(maxRepeats, Math.ceil((minMs / Math.max(ms, 0.01)) * 1.2));
      }
      row.ms += ms * count;
      // The GPU's time: the least of a few timed calls (the first may include uploads).
      let gpu: number | undefined;
      if (noGpuTimes === undefined) {
        try {
          for (let i = 0; i < 3; i++) {
            const g = await gpuMs(once);
            if (typeof g === "string") {
              noGpuTimes = g;
              break;
            }
            gpu = Math.min(gpu ?? Infinity, g);
          }
        } catch (e) {
          noGpuTimes = `timing failed: ${String((e as Error)?.message ?? e).split("\n")[0]}`;
        }
        if (noGpuTimes !== undefined) gpu = undefined;
      }
      if (gpu !== undefined) row.gpuMs = (row.gpuMs ?? 0) + gpu * count;
      const shapes = Object.entries(call.inputs)
        .map(([k, v]) => `${k} ${v.shape.join("x")}`)
        .join(", ");
      rows.push({ name: call.name, shapes, count, ms, gpuMs: gpu, flops: convFlops(call) });
    } catch (e) {
      untimed++;
      if (!failed.some((f) => f.startsWith(`${call.name}:`)))
        failed.push(`${call.name}: ${String((e as Error)?.message ?? e).split("\n")[0]}`);
    } finally {
      tf.dispose(Object.values(inputs));
    }
  }
  if (noGpuTimes !== undefined) {
    for (const r of byName.values()) delete r.gpuMs;
    for (const r of rows) delete r.gpuMs;
  }
  const kernels = [...byName.values()].sort((a, b) => b.ms - a.ms);
  const time = (c: CallRow) => (c.gpuMs ?? c.ms) * c.count;
  rows.sort((a, b) => time(b) - time(a));
  return { rows: kernels, calls: rows, totalMs: kernels.reduce((s, r) => s + r.ms, 0), untimed, failed, noGpuTimes };
}

/**
 * The `top` distinct calls taking most time per step (GPU time where measured, else wall), one line each: wall and
 * GPU ms per call, a convolution's GFLOP/s (of the GPU time where measured).
 */
export function callTable(p: Profile, top = 12): string {
  return p.calls
    .slice(0, top)
    .map((c) => {
      const ms = c.gpuMs ?? c.ms;
      const gpu = c.gpuMs === undefined ? "" : ` GPU ${c.gpuMs.toFixed(3).padStart(7)} ms`;
      // (an optimizer step's inputs are every parameter and gradient: a few of them say which call it is)
      const shapes = c.shapes.length > 160 ? `${c.shapes.slice(0, 160)}… (${c.shapes.split(", ").length} inputs)` : c.shapes;
      return `${c.name.padEnd(22)} x${String(c.count).padEnd(3)} ${c.ms.toFixed(3).padStart(7)} ms each${gpu}${c.flops ? ` ${(c.flops / ms / 1e6).toFixed(1).padStart(7)} GFLOP/s` : "".padStart(16)}  ${shapes}`;
    })
    .join("\n");
}

/** The profile with its GPU times as its times (for profileTable), or undefined where it has none. */
export function gpuView(p: Profile): Profile | undefined {
  if (p.noGpuTimes !== undefined) return undefined;
  const rows = p.rows.map((r) => ({ ...r, ms: r.gpuMs ?? 0 }));
  return { ...p, rows, totalMs: rows.reduce((s, r) => s + r.ms, 0) };
}

/** A text table of one or two profiles side by side (e.g. stock and tsdl kernels), biggest first. */
export function profileTable(named: Record<string, Profile>, top = 15): string {
  const names = Object.keys(named);
  const all = new Map<string, number>();
  for (const p of Object.values(named)) for (const r of p.rows) all.set(r.name, Math.max(all.get(r.name) ?? 0, r.ms));
  const order = [...all.entries()].sort((a, b) => b[1] - a[1]).map(([n]) => n);
  const shown = order.slice(0, top);
  const cell = (p: Profile, n: string) => {
    const r = p.rows.find((x) => x.name === n);
    return r ? `${r.ms.toFixed(1).padStart(9)} ${((100 * r.ms) / (p.totalMs || 1)).toFixed(0).padStart(3)}%` : `${"-".padStart(9)}     `;
  };
  const lines = [`${"kernel".padEnd(26)} ${"calls".padStart(5)} ${names.map((n) => `${(n + " ms").padStart(9)}     `).join(" ")}`];
  for (const n of shown) {
    const calls = Object.values(named).map((p) => p.rows.find((r) => r.name === n)?.calls ?? 0)[0];
    lines.push(`${n.padEnd(26)} ${String(calls).padStart(5)} ${names.map((k) => cell(named[k], n)).join(" ")}`);
  }
  const rest = order.slice(top);
  if (rest.length) {
    const sum = (p: Profile) => p.rows.filter((r) => rest.includes(r.name)).reduce((s, r) => s + r.ms, 0);
    lines.push(
      `${`(${rest.length} others)`.padEnd(26)} ${"".padStart(5)} ${names.map((k) => `${sum(named[k]).toFixed(1).padStart(9)}     `).join(" ")}`,
    );
  }
  lines.push(`${"total".padEnd(26)} ${"".padStart(5)} ${names.map((k) => `${named[k].totalMs.toFixed(1).padStart(9)}     `).join(" ")}`);
  return lines.join("\n");
}
