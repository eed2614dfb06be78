// Conv2d gradient kernels on wasm, per course-ResNet layer shape: time of dx and dW relative to the forward conv.
//
//   node -r ts-node/register/transpile-only bench/wasm-conv.ts [--batch 64] [--reps 3] [--stock] [--only NAME]
//
// For every conv of the course ResNet at 96x96 input it times, on the wasm backend, the forward Conv2D (XNNPACK),
// tsdl's Conv2DBackpropInput, and Conv2DBackpropFilter by each strategy; with --stock also wasm's stock
// Conv2DBackpropInput (slow: minutes at batch 64). Ratios to the forward conv are printed, since the machine is
// shared and absolute times move with its load. A backward conv costs the same FLOPs as the forward one, so
// 1.0 is the target.
import { performance } from "perf_hooks";
import { backend, tf } from "tsdl";
import { filterGradOptions, stockKernels, type FilterGradStrategy } from "tsdl/dist/backend/wasm";

type Pad = "same" | "valid";
interface Layer {
  name: string;
  hw: number;
  cin: number;
  cout: number;
  k: number;
  stride: number;
  pad: Pad;
  count: number;
}

// The course ResNet at 96x96: explicit PyTorch padding 1 for stride 2 is a zero-padded input + "valid".
const LAYERS: Layer[] = [
  { name: "stem 7x7/2", hw: 96, cin: 3, cout: 64, k: 7, stride: 2, pad: "valid", count: 1 },
  { name: "b2 3x3 64", hw: 22, cin: 64, cout: 64, k: 3, stride: 1, pad: "same", count: 4 },
  { name: "b3.0 3x3/2 64-128", hw: 24, cin: 64, cout: 128, k: 3, stride: 2, pad: "valid", count: 1 },
  { name: "b3.0 1x1/2 64-128", hw: 22, cin: 64, cout: 128, k: 1, stride: 2, pad: "valid", count: 1 },
  { name: "b3 3x3 128", hw: 11, cin: 128, cout: 128, k: 3, stride: 1, pad: "same", count: 3 },
  { name: "b4.0 3x3/2 128-256", hw: 13, cin: 128, cout: 256, k: 3, stride: 2, pad: "valid", count: 1 },
  { name: "b4.0 1x1/2 128-256", hw: 11, cin: 128, cout: 256, k: 1, stride: 2, pad: "valid", count: 1 },
  { name: "b4 3x3 256", hw: 6, cin: 256, cout: 256, k: 3, stride: 1, pad: "same", count: 3 },
  { name: "b5.0 3x3/2 256-512", hw: 8, cin: 256, cout: 512, k: 3, stride: 2, pad: "valid", count: 1 },
  { name: "b5.0 1x1/2 256-512", hw: 6, cin: 256, cout: 512, k: 1, stride: 2, pad: "valid", count: 1 },
  { name: "b5 3x3 512", hw: 3, cin: 512, cout: 512, k: 3, stride: 1, pad: "same", count: 3 },
];

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

function best(reps: number, f: () => tf.Tensor): number {
  let bestMs = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    const out = f();
    out.dataSync();
    bestMs = Math.min(bestMs, performance.now() - t0);
    out.dispose();
  }
  return bestMs;
}

async function main(): Promise<void> {
  const batch = arg("--batch", 64);
  const reps = arg("--reps", 3);
  const stock = process.argv.includes("--stock");
  const onlyIdx = process.argv.indexOf("--only");
  const only = onlyIdx > 0 ? process.argv[onlyIdx + 1] : undefined;
  await backend.init("wasm", { verbose: true });
  const strategies: FilterGradStrategy[] = ["im2col", "conv"];
  const rows: Record<string, unknown>[] = [];
  console.log(`batch ${batch}, best of ${reps}; ms, and ratio to the forward conv`);
  console.log(`${"layer".padEnd(20)} ${"fwd".padStart(7)} ${"dx".padStart(14)} ${strategies.map((s) => `dW ${s}`.padStart(16)).join(" ")}${stock ? "  dx stock" : ""}`);
  const totals: Record<string, number> = { fwd: 0, dx: 0, ...Object.fromEntries(strategies.map((s) => [`dW ${s}`, 0])) };
  for (const L of LAYERS) {
    if (only && !L.name.includes(only)) continue;
    const x = tf.randomNormal([batch, L.hw, L.hw, L.cin]) as tf.Tensor4D;
    const w = tf.randomNormal([L.k, L.k, L.cin, L.cout]) as tf.Tensor4D;
    const y = tf.conv2d(x, w, L.stride, L.pad);
    const dy = tf.randomNormal(y.shape) as tf.Tensor4D;
    const attrs = { strides: L.stride, pad: L.pad, dataFormat: "NHWC", dimRoundingMode: undefined };
    const fwd = best(reps, () => tf.conv2d(x, w, L.stride, L.pad));
    const dx = best(reps, () => tf.engine().runKernel("Conv2DBackpropInput", { dy, filter: w }, { ...attrs, inputShape: x.shape }) as tf.Tensor);
    const dw: Record<string, number> = {};
    for (const s of strategies) {
      filterGradOptions.strategy = s;
      dw[s] = best(reps, () => tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, { ...attrs, filterShape: w.shape }) as tf.Tensor);
    }
    filterGradOptions.strategy = "conv";
    let dxStock = NaN;
    if (stock) {
      const k = stockKernels.get("Conv2DBackpropInput")!;
      const backendWasm = tf.backend();
      dxStock = best(1, () => {
        const info = k.kernelFunc({ inputs: { dy, filter: w }, attrs: { ...attrs, inputShape: x.shape } as never, backend: backendWasm }) as tf.TensorInfo;
        return tf.engine().makeTensorFromTensorInfo(info);
      });
    }
    const f = (ms: number) => `${ms.toFixed(1).padStart(7)} ${`(${(ms / fwd).toFixed(2)})`.padStart(7)}`;
    console.log(`${L.name.padEnd(20)} ${fwd.toFixed(1).padStart(7)} ${f(dx)} ${strategies.map((s) => `  ${f(dw[s])}`).join(" ")}${stock ? `  ${f(dxStock)}` : ""}`);
    totals.fwd += fwd * L.count;
    totals.dx += dx * L.count;
    for (const s of strategies) totals[`dW ${s}`] += dw[s] * L.count;
    const gflop = (2 * batch * y.shape[1] * y.shape[2] * L.k * L.k * L.cin * L.cout) / 1e9;
    rows.push({ bench: "wasm-conv", layer: L.name, batch, fwd_ms: +fwd.toFixed(1), fwd_gflops: +(gflop / (fwd / 1e3)).toFixed(1), dx_ms: +dx.toFixed(1), ...Object.fromEntries(strategies.map((s) => [`dW_${s}_ms`, +dw[s].toFixed(1)])), ...(stock ? { dx_stock_ms: +dxStock.toFixed(1) } : {}) });
    tf.dispose([x, w, y, dy]);
  }
  console.log(`${"total (x count)".padEnd(20)} ${totals.fwd.toFixed(0).padStart(7)} ${`${totals.dx.toFixed(0)} (${(totals.dx / totals.fwd).toFixed(2)})`.padStart(15)} ${strategies.map((s) => `${totals[`dW ${s}`].toFixed(0)} (${(totals[`dW ${s}`] / totals.fwd).toFixed(2)})`.padStart(17)).join(" ")}`);
  rows.forEach((r) => console.log(JSON.stringify(r)));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
