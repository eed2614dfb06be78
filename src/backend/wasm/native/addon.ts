// The native add-on (this folder's C files) for the wasm backend: conv2d by oneDNN or im2col + OpenBLAS sgemm on
// every core, batch norm and its gradient, and other kernels that are slow in stock wasm, in place in wasm memory.
//
// It is built at install by node-gyp (build.js, run by `npm ci` and the set-up; `npm run build:native` re-runs it)
// for this machine's CPU, against Debian's libopenblas-dev and, when present, libdnnl-dev (oneDNN, PyTorch's CPU
// convolutions). Nothing is compiled here: when it was not built, is stale or was built for another CPU, tsdl says
// why (nativeStatus()) and the XNNPACK kernels are used; nothing else changes. TSDL_WASM_NATIVE=0 turns it off.
import * as fs from "fs";
import * as path from "path";

/** The addon's functions; offsets are byte offsets into the wasm heap, geometry an Int32Array(13). */
export interface NativeConv {
  /**
   * The convolutions; `path` 0 im2col + OpenBLAS, 1 oneDNN (OpenBLAS where oneDNN has no primitive for the shape),
   * 2 both, timed: returns [oneDNN ms, OpenBLAS ms] with oneDNN's result in the output (-1 ms: it cannot, and the
   * output is OpenBLAS's). Otherwise returns the path that ran. `wid`: an id of the filter's data (0 = unknown);
   * the same id promises the same weights, so oneDNN's reordered copy is reused.
   */
  forward(
    heap: ArrayBuffer,
    geo: Int32Array,
    x: number,
    w: number,
    bias: number,
    y: number,
    act: number,
    path: 0 | 1 | 2,
    wid: number,
  ): number | [number, number];
  backpropInput(
    heap: ArrayBuffer,
    geo: Int32Array,
    dy: number,
    w: number,
    dx: number,
    path: 0 | 1 | 2,
    wid: number,
  ): number | [number, number];
  backpropFilter(heap: ArrayBuffer, geo: Int32Array, x: number, dy: number, dw: number, path: 0 | 1 | 2): number | [number, number];
  tile(heap: ArrayBuffer, shape: Int32Array, reps: Int32Array, x: number, out: number): void;
  reduceSum(heap: ArrayBuffer, x: number, out: number, rows: number, cols: number, leading: number, scale: number): void;
  maxPoolGrad(heap: ArrayBuffer, geo: Int32Array, x: number, dy: number, dx: number): void;
  batchNorm(
    heap: ArrayBuffer,
    x: number,
    y: number,
    rows: number,
    c: number,
    mean: number,
    variance: number,
    scale: number,
    offset: number,
    eps: number,
  ): void;
  batchNormGrad(
    heap: ArrayBuffer,
    x: number,
    dy: number,
    rows: number,
    c: number,
    mean: number,
    variance: number,
    scale: number,
    eps: number,
    dx: number,
    dmean: number,
    dvar: number,
    dscale: number,
    doffset: number,
  ): void;
  relu(heap: ArrayBuffer, x: number, y: number, n: number): void;
  reluGrad(heap: ArrayBuffer, dy: number, x: number, dx: number, n: number): void;
  /** out = a op b; op 0 add, 1 subtract, 2 multiply; a or b a scalar when its flag is 1. */
  sgdStep(heap: ArrayBuffer, p: number, grad: number, out: number, n: number, weightDecay: number, negLr: number, maximize: number): void;
  binary(heap: ArrayBuffer, op: number, a: number, b: number, out: number, n: number, aScalar: number, bScalar: number): void;
  /** A 4-D slice (shape, begin, size Int32Array(4)) of a tensor of 4-byte elements. */
  slice(heap: ArrayBuffer, x: number, out: number, shape: Int32Array, begin: Int32Array, size: Int32Array): void;
  /** geo: n, inH, inW, c, outH, outW, kH, kW, sH, sW (windows inside the input). */
  avgPoolGrad(heap: ArrayBuffer, geo: Int32Array, dy: number, dx: number): void;
  batchNormTrain(
    heap: ArrayBuffer,
    x: number,
    y: number,
    rows: number,
    c: number,
    scale: number,
    offset: number,
    eps: number,
    relu: number,
    mean: number,
    variance: number,
  ): void;
  batchNormTrainGrad(
    heap: ArrayBuffer,
    x: number,
    dy: number,
    y: number,
    rows: number,
    c: number,
    mean: number,
    variance: number,
    scale: number,
    eps: number,
    dmean: number,
    dvar: number,
    dx: number,
    dscale: number,
    doffset: number,
  ): void;
  /** oneDNN's version when compiled in, else "". */
  dnnl(): string;
  threads(): number;
  config(): string;
}

export interface NativeStatus {
  /** The native kernels are loaded and used. */
  enabled: boolean;
  /** Why not, or what was loaded. */
  detail: string;
}

let loaded: NativeConv | undefined;
let status: NativeStatus | undefined;

/** What build.js exports (plain JS beside this file in src/, run by npm before dist/ exists). */
interface BuildScript {
  paths: { addon: string; buildDir: string; convChoices: string };
  loadable(): { reason: string; status?: undefined } | { reason?: undefined; status: { dnnl: string; dnnlReason?: string } };
}

/** build.js, from src/ (ts-node) or dist/ (compiled): the repo root is four folders up from either. */
export function buildScript(): BuildScript {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(path.resolve(__dirname, "..", "..", "..", "..", "src", "backend", "wasm", "native", "build.js")) as BuildScript;
}

/**
 * OpenBLAS's DYNAMIC_ARCH picks its slowest kernels (Prescott) on CPUs it does not recognise, as virtual
 * machines often report; measured here: 16 GFLOP/s vs 104 with SkylakeX kernels. Choose from the CPU flags.
 */
function chooseCoreType(): void {
  if (process.env.OPENBLAS_CORETYPE) return;
  let flags = "";
  try {
    flags = fs.readFileSync("/proc/cpuinfo", "utf8").match(/^flags\s*:(.*)$/m)?.[1] ?? "";
  } catch {
    return;
  }
  const has = (f: string): boolean => new RegExp(`\\b${f}\\b`).test(flags);
  if (has("avx512f") && has("avx512bw") && has("avx512vl")) process.env.OPENBLAS_CORETYPE = "SkylakeX";
  else if (has("avx2") && has("fma")) process.env.OPENBLAS_CORETYPE = "Haswell";
}

/**
 * OpenMP threads (oneDNN's and the add-on's own) spin after each parallel region by default, burning the CPU that
 * other work needs: a training step took 30 % more CPU time and 20-40 % more wall time with the default policy on
 * this 2-core machine under load. libgomp reads the policy once, when it is loaded with the add-on.
 */
function waitPassively(): void {
  if (process.env.OMP_WAIT_POLICY === undefined) process.env.OMP_WAIT_POLICY = "passive";
}

/** Load the native kernels built at install; undefined when unavailable (see nativeStatus()). Compiles nothing. */
export function loadNative(): NativeConv | undefined {
  if (status) return loaded;
  if (process.env.TSDL_WASM_NATIVE === "0") {
    status = { enabled: false, detail: "turned off by TSDL_WASM_NATIVE=0" };
    return undefined;
  }
  try {
    const script = buildScript();
    const built = script.loadable();
    if (built.reason !== undefined) throw new Error(built.reason);
    chooseCoreType();
    waitPassively();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = require(script.paths.addon) as NativeConv;
    const cfg = loaded.config().split(" ");
    const dnnlOff = process.env.TSDL_WASM_DNNL === "0";
    const dnnl = dnnlOff ? "" : loaded.dnnl();
    const blas = `OpenBLAS ${cfg[1]} (${process.env.OPENBLAS_CORETYPE ?? cfg[cfg.length - 2]} kernels, ${loaded.threads()} threads)`;
    status = {
      enabled: true,
      detail: dnnl
        ? `oneDNN ${dnnl} convolutions (or im2col + sgemm where faster, chosen once per shape on this machine), ${blas}`
        : `${blas}, ${dnnlOff ? "oneDNN off (TSDL_WASM_DNNL=0)" : `without oneDNN (${built.status.dnnlReason ?? "built without it"})`}`,
    };
  } catch (e) {
    loaded = undefined;
    status = { enabled: false, detail: `native kernels unavailable: ${(e as Error).message.split("\n")[0]}` };
  }
  return loaded;
}

/** Whether the native kernels are in use, and why (not). */
export function nativeStatus(): NativeStatus {
  loadNative();
  return { ...(status as NativeStatus) };
}
