// What one training step of the course ResNet dispatches on the webgpu backend, tsdl's kernels against tfjs's own
// (the baseline), in one run: GPU programs, kernel calls and uploads per step, the programs by name, and the step
// time on this machine's adapter. On a GPU a step is bound by its dispatches (each costs the CPU more than the GPU
// spends on it: bench/gpu/ measures that on an H100), so the program count is the figure that carries over from
// a software adapter; the time here is llvmpipe's, not a GPU's.
//
//   node -r ts-node/register/transpile-only bench/webgpu.ts [--hw 75] [--batch 2] [--momentum 0]
//
// The tutorial's optimizer: SGD(lr 0.01, weightDecay 1e-4), no momentum (--momentum 0.9 for the other path).
import { performance } from "perf_hooks";
import { backend, models, nn, optim, tf, train } from "tsdl";
import { webgpuKernelOptions } from "tsdl/dist/backend/webgpu";
import { randn } from "../test/helpers/convGrads";
import { countDispatches, type Dispatches } from "../test/helpers/dispatches";

function parseArgs(argv: string[]): { hw: number; batch: number; momentum: number } {
  const a = { hw: 75, batch: 2, momentum: 0 };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, "");
    const v = Number(argv[i + 1]);
    if (!(k in a) || !Number.isFinite(v)) {
      throw new Error(
        `bench/webgpu: bad argument ${JSON.stringify(argv[i])} ${JSON.stringify(argv[i + 1])}; accepted: --hw N --batch N --momentum M`,
      );
    }
    a[k as keyof typeof a] = v;
  }
  return a;
}

async function measure(label: string, hw: number, n: number, momentum: number): Promise<{ label: string; d: Dispatches; ms: number }> {
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
  const step = () => train(net, [batch], null, 1, opt, ce, quiet).then(() => undefined);
  await step(); // compiles the shaders, fills the momentum buffers
  await step();
  const t = performance.now();
  const d = await countDispatches(step);
  const ms = performance.now() - t;
  tf.dispose([batch.x, batch.y]);
  net.dispose();
  opt.dispose();
  return { label, d, ms };
}

async function main(): Promise<void> {
  const { hw, batch, momentum } = parseArgs(process.argv.slice(2));
  const info = await backend.init("webgpu", { verbose: false });
  console.log(`webgpu adapter: ${info.device}`);
  console.log(`course ResNet, ${hw} px, batch ${batch}, SGD(lr 0.01, momentum ${momentum}, weightDecay 1e-4): one train() step`);
  webgpuKernelOptions.tsdl = false;
  const stock = await measure("tfjs's kernels", hw, batch, momentum);
  webgpuKernelOptions.tsdl = true;
  const ours = await measure("tsdl's kernels", hw, batch, momentum);
  const row = (r: typeof ours) =>
    `${r.label.padEnd(16)} ${String(r.d.programs).padStart(8)} ${String(r.d.kernels).padStart(8)} ${String(r.d.uploads).padStart(8)} ${r.ms.toFixed(0).padStart(9)}`;
  console.log(`${"".padEnd(16)} ${"programs".padStart(8)} ${"kernels".padStart(8)} ${"uploads".padStart(8)} ${"ms/step".padStart(9)}`);
  console.log(row(stock));
  console.log(row(ours));
  console.log(
    `tsdl ÷ tfjs: programs ${(ours.d.programs / stock.d.programs).toFixed(2)}×, kernel calls ${(ours.d.kernels / stock.d.kernels).toFixed(2)}×`,
  );
  console.log("\ntsdl's programs per step, by name:");
  for (const [name, count] of [...ours.d.byProgram.entries()].sort((a, b) => b[1] - a[1]))
    console.log(`  ${String(count).padStart(4)}  ${name}`);
  for (const r of [stock, ours])
    console.log(
      JSON.stringify({
        bench: "webgpu",
        hw,
        batch,
        momentum,
        label: r.label,
        programs: r.d.programs,
        kernels: r.d.kernels,
        uploads: r.d.uploads,
        ms: Math.round(r.ms),
      }),
    );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
