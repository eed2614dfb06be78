// What one training step of the course ResNet costs on the webgpu backend, tsdl's kernels against tfjs's own (the
// baseline), in one run: GPU programs, kernel calls and uploads per step, the programs by name, the step's wall
// time and its main thread's CPU time (the thread that issues the programs).
//
//   node -r ts-node/register/transpile-only bench/webgpu.ts [--hw 75] [--batch 2] [--momentum 0] [--steps 1]
//   node -r ts-node/register/transpile-only bench/webgpu.ts --null [--hw 96] [--batch 8] [--steps 30]
//
// On this machine's adapter (llvmpipe) the program count is the figure that carries over to a GPU; the time is
// llvmpipe's. With --null, on Dawn's null device, which records every call and runs nothing: what issuing a step
// costs the CPU, which bounds a step on an H100 below batch 256 (bench/gpu/'s TRAIN lines give the main thread's
// time there). The null device is not one of tsdl's backends (it computes nothing): this bench adds it for itself,
// and gives it a GPU's 16 storage buffers per program (it has 8) so batch norm takes its merged passes as on the
// H100; Dawn's validation, which would refuse those, is skipped (on the H100 it is on: skipping it gained 1.02-1.05x).
//
// The tutorial's optimizer: SGD(lr 0.01, weightDecay 1e-4), no momentum (--momentum 0.9 for the other path).
import { performance } from "perf_hooks";
import { backend, models, nn, optim, tf, train } from "tsdl";
import { webgpuKernelOptions } from "tsdl/dist/backend/webgpu";
import { DAWN_BACKENDS } from "tsdl/dist/backend/webgpu/adapter";
import { randn } from "../test/helpers/convGrads";
import { countDispatches, type Dispatches } from "../test/helpers/dispatches";
import { mainThreadCpuMs } from "../test/helpers/threadCpu";

interface Args {
  hw: number;
  batch: number;
  momentum: number;
  steps: number;
  null: boolean;
}

function parseArgs(argv: string[]): Args {
  const nullDevice = argv.includes("--null");
  const a = nullDevice ? { hw: 96, batch: 8, momentum: 0, steps: 30 } : { hw: 75, batch: 2, momentum: 0, steps: 1 };
  const rest = argv.filter((x) => x !== "--null");
  for (let i = 0; i < rest.length; i += 2) {
    const k = rest[i].replace(/^--/, "");
    const v = Number(rest[i + 1]);
    if (!(k in a) || !Number.isFinite(v) || (k !== "momentum" && !(Number.isInteger(v) && v > 0))) {
      throw new Error(
        `bench/webgpu: bad argument ${JSON.stringify(rest[i])} ${JSON.stringify(rest[i + 1])}; accepted: --hw N --batch N --steps N (positive integers), --momentum M, --null`,
      );
    }
    a[k as keyof typeof a] = v;
  }
  return { ...a, null: nullDevice };
}

/** Dawn's null device as the webgpu backend, with a GPU's storage buffer limit as tfjs and tsdl's kernels see it. */
async function initNullDevice(storageBuffers: number): Promise<void> {
  (DAWN_BACKENDS as unknown as string[]).push("null");
  process.env.TSDL_WEBGPU_DAWN = "null";
  process.env.TSDL_DAWN_FLAGS = `${process.env.TSDL_DAWN_FLAGS ?? ""} enable-dawn-features=skip_validation`;
  await backend.init("webgpu", { verbose: false });
  const be = tf.backend() as unknown as { device: GPUDevice };
  const device = be.device;
  const get = (t: object, k: string | symbol) => (t as Record<string | symbol, unknown>)[k];
  const limits = new Proxy(device.limits, { get: (t, k) => (k === "maxStorageBuffersPerShaderStage" ? storageBuffers : get(t, k)) });
  be.device = new Proxy(device, {
    get: (t, k) => {
      if (k === "limits") return limits;
      const v = get(t, k);
      return typeof v === "function" ? v.bind(t) : v;
    },
  });
}

interface Measured {
  label: string;
  d: Dispatches;
  /** Wall and main-thread CPU time per step. */
  ms: number;
  cpuMs: number;
}

async function measure(label: string, a: Args, steps: number): Promise<Measured> {
  const { hw, batch: n, momentum } = a;
  const net = models.resnet(3, 10, { seed: 0 });
  const opt = new optim.SGD(net, { lr: 0.01, momentum, weightDecay: 1e-4 });
  const ce = new nn.CrossEntropyLoss();
  const batch = {
    x: tf.tensor4d(randn(n * hw * hw * 3, 1), [n, hw, hw, 3]),
    y: tf.tensor1d(
      Array.from({ length: n }, (_, i) => i % 10),
      "int32",
    ),
  };
  const quiet = { verbose: false, progress: false } as const;
  const run = (k: number) =>
    train(
      net,
      Array.from({ length: k }, () => batch),
      null,
      1,
      opt,
      ce,
      quiet,
    ).then(() => undefined);
  await run(2); // compiles the shaders, fills the momentum buffers
  // The counted step is timed alone; with steps > 1, the steps after it instead.
  const now = () => [performance.now(), mainThreadCpuMs() ?? NaN];
  const before = now();
  const d = await countDispatches(() => run(1));
  const after = now();
  if (steps > 1) await run(steps);
  const [[t, cpu], [t1, cpu1]] = steps > 1 ? [after, now()] : [before, after];
  const r = { label, d, ms: (t1 - t) / steps, cpuMs: (cpu1 - cpu) / steps };
  tf.dispose([batch.x, batch.y]);
  net.dispose();
  opt.dispose();
  return r;
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  if (a.null) await initNullDevice(16);
  const info = a.null ? undefined : await backend.init("webgpu", { verbose: false });
  console.log(`webgpu adapter: ${info ? info.device : "Dawn's null device (no GPU work)"}`);
  console.log(
    `course ResNet, ${a.hw} px, batch ${a.batch}, SGD(lr 0.01, momentum ${a.momentum}, weightDecay 1e-4): ${a.steps} train() step(s) timed`,
  );
  webgpuKernelOptions.tsdl = false;
  const stock = await measure("tfjs's kernels", a, Math.max(1, Math.round(a.steps / 5)));
  webgpuKernelOptions.tsdl = true;
  const ours = await measure("tsdl's kernels", a, a.steps);
  const cols = ["programs", "kernels", "uploads", "ms/step", "main CPU ms"];
  console.log(`${"".padEnd(16)} ${cols.map((c) => c.padStart(11)).join(" ")}`);
  for (const r of [stock, ours]) {
    const cells = [r.d.programs, r.d.kernels, r.d.uploads, r.ms.toFixed(1), r.cpuMs.toFixed(1)];
    console.log(`${r.label.padEnd(16)} ${cells.map((c) => String(c).padStart(11)).join(" ")}`);
  }
  console.log(
    `tsdl ÷ tfjs: programs ${(ours.d.programs / stock.d.programs).toFixed(2)}×, kernel calls ${(ours.d.kernels / stock.d.kernels).toFixed(2)}×, main thread CPU per step ${(ours.cpuMs / stock.cpuMs).toFixed(2)}×`,
  );
  console.log("\ntsdl's programs per step, by name:");
  for (const [name, count] of [...ours.d.byProgram.entries()].sort((x, y) => y[1] - x[1]))
    console.log(`  ${String(count).padStart(4)}  ${name}`);
  for (const r of [stock, ours])
    console.log(
      JSON.stringify({
        bench: "webgpu",
        device: a.null ? "null" : "adapter",
        hw: a.hw,
        batch: a.batch,
        momentum: a.momentum,
        label: r.label,
        programs: r.d.programs,
        kernels: r.d.kernels,
        uploads: r.d.uploads,
        msPerStep: +r.ms.toFixed(2),
        mainCpuMsPerStep: +r.cpuMs.toFixed(2),
      }),
    );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
