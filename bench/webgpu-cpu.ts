// What issuing one training step of the course ResNet costs the CPU on the webgpu backend, measured without a GPU:
// on Dawn's null device, which records every call and runs nothing. tsdl's kernels against tfjs's own (the
// baseline), in one run: the main thread's CPU time per step (the thread that issues the programs) and the wall
// time. On an H100 a step below batch 256 is bound by this (bench/gpu/'s TRAIN lines give the main thread's time
// there), so a change to how programs are issued is measured here first.
//
//   node -r ts-node/register/transpile-only bench/webgpu-cpu.ts [--hw 96] [--batch 8] [--steps 30]
//
// The null device is not one of tsdl's backends (it computes nothing): this bench adds it for itself, and gives it
// a GPU's 16 storage buffers per program (it has 8) so batch norm takes its merged passes as on the H100; Dawn's
// validation, which would refuse those, is skipped (on the H100 it is on: skipping it there gained 1.02-1.05x).
import * as fs from "fs";
import { performance } from "perf_hooks";
import { backend, models, nn, optim, tf, train } from "tsdl";
import { webgpuKernelOptions } from "tsdl/dist/backend/webgpu";
import { DAWN_BACKENDS } from "tsdl/dist/backend/webgpu/adapter";
import { randn } from "../test/helpers/convGrads";

function parseArgs(argv: string[]): { hw: number; batch: number; steps: number } {
  const a = { hw: 96, batch: 8, steps: 30 };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, "");
    const v = Number(argv[i + 1]);
    if (!(k in a) || !Number.isInteger(v) || v < 1) {
      throw new Error(
        `bench/webgpu-cpu: bad argument ${JSON.stringify(argv[i])} ${JSON.stringify(argv[i + 1])}; accepted: --hw N --batch N --steps N (positive integers)`,
      );
    }
    a[k as keyof typeof a] = v;
  }
  return a;
}

/** CPU time of the main thread so far, ms (Linux: /proc, in ticks of 10 ms). */
function mainThreadCpuMs(): number {
  const fields = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** The null device with a GPU's storage buffer limit, seen by tfjs and tsdl's kernels (calls go to Dawn's device). */
function raiseStorageBufferLimit(limit: number): void {
  const be = tf.backend() as unknown as { device: GPUDevice };
  const device = be.device;
  const limits = new Proxy(device.limits, {
    get: (t, k) => (k === "maxStorageBuffersPerShaderStage" ? limit : (t as unknown as Record<string | symbol, unknown>)[k]),
  });
  be.device = new Proxy(device, {
    get: (t, k) => {
      if (k === "limits") return limits;
      const v = (t as unknown as Record<string | symbol, unknown>)[k];
      return typeof v === "function" ? v.bind(t) : v;
    },
  });
}

async function measure(label: string, hw: number, n: number, steps: number) {
  const net = models.resnet(3, 10, { seed: 0 });
  const opt = new optim.SGD(net, { lr: 0.01, weightDecay: 1e-4 });
  const ce = new nn.CrossEntropyLoss();
  const batch = {
    x: tf.tensor4d(randn(n * hw * hw * 3, 1), [n, hw, hw, 3]),
    y: tf.tensor1d(
      Array.from({ length: n }, (_, i) => i % 10),
      "int32",
    ),
  };
  const quiet = { verbose: false, progress: false } as const;
  await train(net, [batch, batch, batch], null, 1, opt, ce, quiet); // compiles
  const [t, cpu] = [performance.now(), mainThreadCpuMs()];
  await train(
    net,
    Array.from({ length: steps }, () => batch),
    null,
    1,
    opt,
    ce,
    quiet,
  );
  const r = { label, ms: (performance.now() - t) / steps, cpuMs: (mainThreadCpuMs() - cpu) / steps, tensors: tf.memory().numTensors };
  tf.dispose([batch.x, batch.y]);
  net.dispose();
  opt.dispose();
  return r;
}

async function main(): Promise<void> {
  const { hw, batch, steps } = parseArgs(process.argv.slice(2));
  (DAWN_BACKENDS as unknown as string[]).push("null");
  process.env.TSDL_WEBGPU_DAWN = "null";
  process.env.TSDL_DAWN_FLAGS = `${process.env.TSDL_DAWN_FLAGS ?? ""} enable-dawn-features=skip_validation`;
  await backend.init("webgpu", { verbose: false });
  raiseStorageBufferLimit(16);
  console.log(`Dawn's null device; course ResNet, ${hw} px, batch ${batch}, SGD(lr 0.01, weightDecay 1e-4): ${steps} train() steps`);
  webgpuKernelOptions.tsdl = false;
  const stock = await measure("tfjs's kernels", hw, batch, Math.max(3, Math.round(steps / 5)));
  webgpuKernelOptions.tsdl = true;
  const ours = await measure("tsdl's kernels", hw, batch, steps);
  console.log(`${"".padEnd(16)} ${"main thread CPU ms/step".padStart(24)} ${"wall ms/step".padStart(13)}`);
  for (const r of [stock, ours]) console.log(`${r.label.padEnd(16)} ${r.cpuMs.toFixed(1).padStart(24)} ${r.ms.toFixed(1).padStart(13)}`);
  console.log(`tsdl ÷ tfjs: main thread CPU per step ${(ours.cpuMs / stock.cpuMs).toFixed(2)}×`);
  for (const r of [stock, ours])
    console.log(
      JSON.stringify({ bench: "webgpu-cpu", hw, batch, label: r.label, cpuMsPerStep: +r.cpuMs.toFixed(2), msPerStep: +r.ms.toFixed(2) }),
    );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
