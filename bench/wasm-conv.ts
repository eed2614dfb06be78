// Conv2d gradient kernels on wasm, per course-ResNet layer shape: time of dx and dW relative to the forward conv.
//
//   node -r ts-node/register/transpile-only bench/wasm-conv.ts [--batch 64] [--reps 3] [--stock] [--only NAME]
//
// For every conv of the course ResNet at 96x96 input it times, on the wasm backend: the forward Conv2D on XNNPACK
// (stock) and on the native addon (blas: im2col + OpenBLAS; dnnl: oneDNN); Conv2DBackpropInput on XNNPACK (tsdl's
// conv of the upsampled dy) and native; Conv2DBackpropFilter on XNNPACK by each strategy and native; with --stock also wasm's stock
// Conv2DBackpropInput (slow: minutes at batch 64). Times are also given relative to the XNNPACK forward conv,
// since the machine is shared and absolute times move with its load. A backward conv costs the same FLOPs as the
// forward one.
import { performance } from "perf_hooks";
import { backend, tf } from "tsdl";
import { filterGradOptions, nativeStatus, stockKernels, wasmKernelOptions, type FilterGradStrategy } from "tsdl/dist/backend/wasm";

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
  const nat = nativeStatus();
  console.log(`native kernels: ${nat.enabled ? nat.detail : `off (${nat.detail})`}`);
  const strategies: FilterGradStrategy[] = ["conv", "im2col"];
  const dnnl = /oneDNN/.test(nat.detail);
  const nativeModes = nat.enabled ? ["blas", ...(dnnl ? ["dnnl"] : [])] : [];
  const columns = [
    "fwd xnn",
    ...nativeModes.map((m) => `fwd ${m}`),
    "dx xnn",
    ...nativeModes.map((m) => `dx ${m}`),
    ...strategies.map((s) => `dW xnn-${s}`),
    ...nativeModes.map((m) => `dW ${m}`),
    ...(stock ? ["dx stock"] : []),
  ];
  const rows: Record<string, unknown>[] = [];
  const totals = new Map<string, number>(columns.map((c) => [c, 0]));
  console.log(`batch ${batch}, best of ${reps}: ms (ratio to the XNNPACK forward conv)`);
  console.log(`${"layer".padEnd(20)} ${columns.map((c) => c.padStart(15)).join("")}`);
  for (const L of LAYERS) {
    if (only && !L.name.includes(only)) continue;
    const x = tf.randomNormal([batch, L.hw, L.hw, L.cin]) as tf.Tensor4D;
    const w = tf.randomNormal([L.k, L.k, L.cin, L.cout]) as tf.Tensor4D;
    const y = tf.conv2d(x, w, L.stride, L.pad);
    const dy = tf.randomNormal(y.shape) as tf.Tensor4D;
    const attrs = { strides: L.stride, pad: L.pad, dataFormat: "NHWC" };
    const fwd = () => tf.conv2d(x, w, L.stride, L.pad);
    const dx = () => tf.engine().runKernel("Conv2DBackpropInput", { dy, filter: w }, { ...attrs, inputShape: x.shape }) as tf.Tensor;
    const dW = () => tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, { ...attrs, filterShape: w.shape }) as tf.Tensor;
    const ms: Record<string, number> = {};
    for (const tag of ["xnn", ...nativeModes]) {
      Object.assign(wasmKernelOptions, { native: tag !== "xnn", dnnl: tag === "dnnl" ? "always" : "off" });
      ms[`fwd ${tag}`] = best(reps, fwd);
      ms[`dx ${tag}`] = best(reps, dx);
      if (tag !== "xnn") ms[`dW ${tag}`] = best(reps, dW);
      else {
        for (const s of strategies) {
          filterGradOptions.strategy = s;
          ms[`dW xnn-${s}`] = best(reps, dW);
        }
        filterGradOptions.strategy = "conv";
      }
    }
    Object.assign(wasmKernelOptions, { native: true, dnnl: "auto" });
    if (stock) {
      const k = stockKernels.get("Conv2DBackpropInput")!;
      const backendWasm = tf.backend();
      ms["dx stock"] = best(1, () => {
        const info = k.kernelFunc({
          inputs: { dy, filter: w },
          attrs: { ...attrs, inputShape: x.shape } as never,
          backend: backendWasm,
        }) as tf.TensorInfo;
        return tf.engine().makeTensorFromTensorInfo(info);
      });
    }
    const base = ms["fwd xnn"];
    const cell = (c: string) =>
      ms[c] === undefined ? "-".padStart(15) : `${ms[c].toFixed(0)} (${(ms[c] / base).toFixed(2)})`.padStart(15);
    console.log(`${L.name.padEnd(20)} ${columns.map(cell).join("")}`);
    for (const c of columns) if (ms[c] !== undefined) totals.set(c, (totals.get(c) ?? 0) + ms[c] * L.count);
    const gflop = (2 * batch * y.shape[1] * y.shape[2] * L.k * L.k * L.cin * L.cout) / 1e9;
    rows.push({
      bench: "wasm-conv",
      layer: L.name,
      batch,
      count: L.count,
      gflop: +gflop.toFixed(3),
      ...Object.fromEntries(Object.entries(ms).map(([k, v]) => [k.replace(/ /g, "_") + "_ms", +v.toFixed(1)])),
    });
    tf.dispose([x, w, y, dy]);
  }
  const base = totals.get("fwd xnn")!;
  console.log(
    `${"ResNet step (x count)".padEnd(20)} ${columns.map((c) => `${totals.get(c)!.toFixed(0)} (${(totals.get(c)! / base).toFixed(2)})`.padStart(15)).join("")}`,
  );
  rows.forEach((r) => console.log(JSON.stringify(r)));
  console.log(JSON.stringify({ bench: "wasm-conv", batch, total_ms: Object.fromEntries([...totals].map(([k, v]) => [k, +v.toFixed(0)])) }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
