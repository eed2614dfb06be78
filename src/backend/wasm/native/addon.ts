// Optional native conv kernels (im2col + OpenBLAS sgemm, multi-threaded) for the wasm backend.
//
// Built on first use from the C files of this folder with the system C compiler against Debian's libopenblas-dev, and
// libdnnl-dev (oneDNN, PyTorch's CPU convolutions) when present (`apt-get install gcc libopenblas-dev libdnnl-dev`),
// into dist/native/ (a build output inside the repo), and loaded as an N-API addon that reads and writes tensors in
// place in wasm memory. When the compiler, the headers or OpenBLAS
// are missing, tsdl says why (nativeStatus()) and the XNNPACK kernels are used: nothing else changes.
// TSDL_WASM_NATIVE=0 turns it off.
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/** The addon's functions; offsets are byte offsets into the wasm heap, geometry an Int32Array(13). */
export interface NativeConv {
  forward(heap: ArrayBuffer, geo: Int32Array, x: number, w: number, bias: number, y: number, act: number): void;
  backpropInput(heap: ArrayBuffer, geo: Int32Array, dy: number, w: number, dx: number): void;
  backpropFilter(heap: ArrayBuffer, geo: Int32Array, x: number, dy: number, dw: number): void;
  tile(heap: ArrayBuffer, shape: Int32Array, reps: Int32Array, x: number, out: number): void;
  reduceSum(heap: ArrayBuffer, x: number, out: number, rows: number, cols: number, leading: number, scale: number): void;
  maxPoolGrad(heap: ArrayBuffer, geo: Int32Array, x: number, dy: number, dx: number): void;
  batchNorm(heap: ArrayBuffer, x: number, y: number, rows: number, c: number, mean: number, variance: number, scale: number, offset: number, eps: number): void;
  batchNormGrad(heap: ArrayBuffer, x: number, dy: number, rows: number, c: number, mean: number, variance: number, scale: number, eps: number, dx: number, dmean: number, dvar: number, dscale: number, doffset: number): void;
  /** oneDNN convolutions 0 off, 1 autotuned per shape against im2col + OpenBLAS, 2 always; returns its version when compiled in and not off, else "". */
  dnnl(mode?: 0 | 1 | 2): string;
  threads(n?: number): number;
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

/** Candidate paths for a file of the repo, from src/ (ts-node) or dist/ (compiled). */
function repoRoot(): string {
  return path.resolve(__dirname, "..", "..", "..", "..");
}

/** The C sources (this folder, from src/ or dist/). */
function sourceFiles(): string[] {
  const dir = path.join(repoRoot(), "src", "backend", "wasm", "native");
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /\.[ch]$/.test(f)).sort().map((f) => path.join(dir, f)) : [];
}

function nodeIncludeDir(): string | undefined {
  const candidates = [
    path.resolve(process.execPath, "..", "..", "include", "node"),
    process.env.npm_config_nodedir ? path.join(process.env.npm_config_nodedir, "include", "node") : "",
    "/usr/include/node",
    "/usr/local/include/node",
  ];
  return candidates.find((d) => d && fs.existsSync(path.join(d, "node_api.h")));
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

/** Compile with oneDNN when its headers and library are there, else with OpenBLAS alone. */
function build(srcs: string[], out: string): void {
  const include = nodeIncludeDir();
  if (!include) throw new Error("Node's C headers (node_api.h) were not found");
  const cc = process.env.CC ?? "cc";
  const tmp = `${out}.${process.pid}.tmp`;
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const base = ["-O3", "-march=native", "-fPIC", "-shared", "-fvisibility=hidden", `-I${include}`, ...srcs.filter((f) => f.endsWith(".c")), "-o", tmp];
  const attempts = process.env.TSDL_WASM_DNNL === "0" ? [[]] : [["-DTSDL_DNNL", "-ldnnl"], []];
  let failure: Error | undefined;
  for (const extra of attempts) {
    try {
      execFileSync(cc, [...base, "-lopenblas", ...extra], { stdio: ["ignore", "ignore", "pipe"] });
      fs.renameSync(tmp, out); // atomic: parallel processes never load a half-written file
      for (const old of fs.readdirSync(path.dirname(out))) {
        if (/^tsdl-wasm-conv-[0-9a-f]+\.node$/.test(old) && old !== path.basename(out)) fs.rmSync(path.join(path.dirname(out), old), { force: true });
      }
      return;
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      const err = e as { code?: string; stderr?: Buffer; message: string };
      if (err.code === "ENOENT") throw new Error(`no C compiler (${cc})`);
      const first = String(err.stderr ?? err.message).split("\n").find((l) => /error/.test(l)) ?? err.message;
      failure = new Error(`${cc} failed: ${first.trim()}`);
    }
  }
  throw failure as Error;
}

/** Load (building once if needed) the native conv kernels; undefined when unavailable (see nativeStatus()). */
export function loadNative(): NativeConv | undefined {
  if (status) return loaded;
  if (process.env.TSDL_WASM_NATIVE === "0") {
    status = { enabled: false, detail: "turned off by TSDL_WASM_NATIVE=0" };
    return undefined;
  }
  try {
    if (os.platform() === "win32") throw new Error("not built on Windows");
    const srcs = sourceFiles();
    if (srcs.length === 0) throw new Error("the C sources (src/backend/wasm/native/*.c) were not found");
    const hash = srcs.reduce((h, f) => h.update(fs.readFileSync(f)), crypto.createHash("sha1")).update(`${process.arch} ${os.cpus()[0]?.model} dnnl=${process.env.TSDL_WASM_DNNL !== "0" && fs.existsSync("/usr/include/dnnl.h")}`).digest("hex").slice(0, 12);
    const out = path.join(repoRoot(), "dist", "native", `tsdl-wasm-conv-${hash}.node`);
    if (!fs.existsSync(out)) build(srcs, out);
    chooseCoreType();
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    loaded = require(out) as NativeConv;
    const cfg = loaded.config().split(" ");
    const dnnl = loaded.dnnl(1);
    status = {
      enabled: true,
      detail: `${dnnl ? `oneDNN ${dnnl} convolutions (autotuned against im2col + sgemm per shape), ` : ""}OpenBLAS ${cfg[1]} (${process.env.OPENBLAS_CORETYPE ?? cfg[cfg.length - 2]} kernels, ${loaded.threads()} threads)`,
    };
  } catch (e) {
    loaded = undefined;
    status = { enabled: false, detail: `native conv kernels unavailable: ${(e as Error).message.split("\n")[0]}` };
  }
  return loaded;
}

/** Whether the native conv kernels are in use, and why (not). */
export function nativeStatus(): NativeStatus {
  loadNative();
  return { ...(status as NativeStatus) };
}
