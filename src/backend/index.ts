// The backend ladder: tfjs-node-gpu with a CUDA device, then webgpu on a hardware GPU (Dawn), then tfjs-node, then
// wasm, then cpu.
// TSDL_BACKEND (or the argument of init) forces one; a forced backend that cannot load is an error.
import * as fs from "fs";
import * as tf from "@tensorflow/tfjs";
import { escapeHtml, JUPYTER_DISPLAY, type MimeBundle } from "../display";
import { registerGradients } from "./gradients";
import { nativeStatus, registerWasmTrainingKernels } from "./wasm";
import { AdapterDescription, selectWebgpu, webgpuHostValues, webgpuSettingsFromEnv, WebgpuUnavailable } from "./webgpu";

/** Names accepted by `init()` and `TSDL_BACKEND`. */
export const BACKEND_NAMES = ["tensorflow", "webgpu", "wasm", "cpu"] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

/** A rung of the ladder that was not taken, and why. */
export interface Skipped {
  backend: string;
  reason: string;
}

export interface BackendInfo {
  /** tfjs backend name: "tensorflow", "webgpu", "wasm" or "cpu". */
  name: string;
  /** What computes: "CUDA GPU", "GPU: <adapter> via Dawn Vulkan", "CPU (libtensorflow)", "CPU (wasm, …)", "CPU (JavaScript)". */
  device: string;
  /** On webgpu: the adapter (vendor, device, driver, Dawn backend, software or not). */
  adapter?: AdapterDescription;
  /** Why the rung was taken: "best available" or "forced by TSDL_BACKEND=…". */
  why: string;
  versions: Record<string, string>;
  skipped: Skipped[];
}

export interface InitOptions {
  /** Print the one-line summary (default true). */
  verbose?: boolean;
}

let current: BackendInfo | undefined;
let pending: Promise<BackendInfo> | undefined;

function parseForced(value: string | undefined, source: string): BackendName | undefined {
  if (value === undefined || value === "" || value === "auto") return undefined;
  const v = value.trim().toLowerCase();
  if ((BACKEND_NAMES as readonly string[]).includes(v)) return v as BackendName;
  throw new Error(
    `tsdl: unknown backend ${JSON.stringify(value)} (from ${source}); accepted: ${BACKEND_NAMES.join(", ")} ` +
      `(or "auto" / unset for the best available)`,
  );
}

function moduleMissing(e: unknown, pkg: string): boolean {
  const err = e as NodeJS.ErrnoException;
  return err?.code === "MODULE_NOT_FOUND" && String(err.message).includes(`'${pkg}'`);
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split("\n")[0];
}

function installed(pkg: string): boolean {
  try {
    require.resolve(`${pkg}/package.json`);
    return true;
  } catch {
    return false;
  }
}

/** A CUDA device is usable when the NVIDIA driver exposes one. */
function cudaDevicePresent(): boolean {
  try {
    if (fs.readdirSync("/proc/driver/nvidia/gpus").length > 0) return true;
  } catch {
    /* no driver */
  }
  return fs.existsSync("/dev/nvidia0");
}

async function tryTensorflow(pkg: string): Promise<string> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require(pkg); // registers the "tensorflow" backend with the shared tfjs-core
  if (!(await tf.setBackend("tensorflow"))) throw new Error(`${pkg} loaded but the "tensorflow" backend did not initialise`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(`${pkg}/package.json`).version as string;
}

async function tryWasm(): Promise<string> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require("@tensorflow/tfjs-backend-wasm");
  if (!(await tf.setBackend("wasm"))) throw new Error("the wasm backend did not initialise");
  // Stock wasm cannot train CNNs: register Conv2DBackpropFilter, a faster Conv2DBackpropInput and the native kernels.
  registerWasmTrainingKernels();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require("@tensorflow/tfjs-backend-wasm/package.json").version as string;
}

async function useCpu(): Promise<void> {
  await tf.setBackend("cpu");
  // The cpu backend prints a "install tfjs-node" banner on its first write; tsdl already explains the choice.
  (tf.backend() as unknown as { firstUse: boolean }).firstUse = false;
}

/** @internal A tfjs-node-gpu load failure on a missing CUDA library: libtensorflow 2.9.1 wants CUDA 11.2 + cuDNN 8.1. */
export function cudaHint(msg: string): string {
  return /lib(cudart|cublas|cudnn|cufft|curand|cusolver|cusparse)|CUDA/i.test(msg)
    ? " (tfjs-node-gpu needs CUDA 11.2 + cuDNN 8.1; webgpu is the path for CUDA 12+: npm install webgpu)"
    : "";
}

async function select(forced: BackendName | undefined, why: string): Promise<BackendInfo> {
  const skipped: Skipped[] = [];
  const versions: Record<string, string> = { "@tensorflow/tfjs": tf.version.tfjs };
  const done = (name: string, device: string): BackendInfo => withDisplay({ name, device, why, versions, skipped });
  const failure = (e: unknown, pkg: string) => (moduleMissing(e, pkg) ? `not installed (${pkg})` : `failed to load: ${firstLine(e)}`);

  if (forced === undefined || forced === "tensorflow") {
    // GPU rung
    if (!installed("@tensorflow/tfjs-node-gpu")) {
      skipped.push({ backend: "tensorflow (GPU)", reason: "not installed (@tensorflow/tfjs-node-gpu)" });
    } else if (!cudaDevicePresent()) {
      skipped.push({ backend: "tensorflow (GPU)", reason: "no CUDA device" });
    } else {
      try {
        versions["@tensorflow/tfjs-node-gpu"] = await tryTensorflow("@tensorflow/tfjs-node-gpu");
        return done("tensorflow", "CUDA GPU");
      } catch (e) {
        skipped.push({ backend: "tensorflow (GPU)", reason: failure(e, "@tensorflow/tfjs-node-gpu") + cudaHint(firstLine(e)) });
      }
    }
  }
  if (forced === undefined || forced === "webgpu") {
    webgpuSettingsFromEnv(); // a bad TSDL_WEBGPU_GEMM, TSDL_WEBGPU_PREFETCH or TSDL_WEBGPU_STOCK is the user's error, not a missing GPU
    try {
      const sel = await selectWebgpu(forced === "webgpu");
      Object.assign(versions, sel.versions);
      for (const reason of sel.passedOver) skipped.push({ backend: "webgpu", reason });
      const info = done("webgpu", sel.device);
      info.adapter = sel.adapter;
      return info;
    } catch (e) {
      const reason = e instanceof WebgpuUnavailable ? e.message : `failed to initialise: ${firstLine(e)}`;
      if (forced === "webgpu") {
        throw new Error(
          `tsdl: backend "webgpu" was forced (${why}) but cannot load: ${reason}. It needs the webgpu package ` +
            `(npm install webgpu) and a GPU driver with Vulkan (Linux), Metal (macOS) or D3D12 (Windows); without a GPU, ` +
            `Mesa's llvmpipe through OpenGL ES (apt-get install libegl1 libegl-mesa0 libgles2) serves for checks.`,
        );
      }
      skipped.push({ backend: "webgpu", reason });
    }
  }
  if (forced === undefined || forced === "tensorflow") {
    // CPU libtensorflow rung
    try {
      versions["@tensorflow/tfjs-node"] = await tryTensorflow("@tensorflow/tfjs-node");
      return done("tensorflow", "CPU (libtensorflow)");
    } catch (e) {
      skipped.push({ backend: "tensorflow (CPU)", reason: failure(e, "@tensorflow/tfjs-node") });
    }
    if (forced === "tensorflow") {
      throw new Error(
        `tsdl: backend "tensorflow" was forced (${why}) but cannot load: ` +
          skipped.map((s) => `${s.backend}: ${s.reason}`).join("; ") +
          ". Install @tensorflow/tfjs-node (CPU) or @tensorflow/tfjs-node-gpu (CUDA 11.2 + cuDNN 8.1), " +
          "or choose TSDL_BACKEND=webgpu, wasm or cpu.",
      );
    }
  }
  if (forced === undefined || forced === "wasm") {
    try {
      versions["@tensorflow/tfjs-backend-wasm"] = await tryWasm();
      const native = nativeStatus();
      return done("wasm", native.enabled ? `CPU (wasm + native kernels: ${native.detail})` : `CPU (wasm, XNNPACK SIMD; ${native.detail})`);
    } catch (e) {
      if (forced === "wasm") throw new Error(`tsdl: backend "wasm" was forced (${why}) but cannot load: ${firstLine(e)}`);
      skipped.push({ backend: "wasm", reason: `failed to load: ${firstLine(e)}` });
    }
  }
  await useCpu();
  return done("cpu", "CPU (JavaScript)");
}

/** The rows of a BackendInfo's summary: its property names and their values as text. */
function infoRows(info: BackendInfo): [string, string[]][] {
  return [
    ["name", [info.name]],
    ["device", [info.device]],
    ["why", [info.why]],
    [
      "versions",
      [
        Object.entries(info.versions)
          .map(([pkg, v]) => `${pkg} ${v}`)
          .join(", "),
      ],
    ],
    ["skipped", info.skipped.length ? info.skipped.map((s) => `${s.backend}: ${s.reason}`) : ["none"]],
  ];
}

/** A notebook shows a BackendInfo as a short table (the data stays in its properties; JSON and inspect unchanged). */
function showInfo(this: BackendInfo): MimeBundle {
  const rows = infoRows(this);
  const text = ["BackendInfo", ...rows.flatMap(([k, vs]) => vs.map((v, i) => `  ${(i ? "" : k).padEnd(9)}${v}`))].join("\n");
  const html =
    `<table><caption style="text-align:left">BackendInfo</caption>` +
    rows
      .map(([k, vs]) => `<tr><th style="text-align:left">${k}</th><td style="text-align:left">${vs.map(escapeHtml).join("<br>")}</td></tr>`)
      .join("") +
    `</table>`;
  return { "text/html": html, "text/plain": text };
}

function withDisplay(info: BackendInfo): BackendInfo {
  return Object.defineProperty(info, JUPYTER_DISPLAY, { value: showInfo, enumerable: false });
}

/** One line: the chosen backend and why each better one was skipped. */
export function describe(info: BackendInfo): string {
  const skipped = info.skipped.length ? `; skipped ${info.skipped.map((s) => `${s.backend}: ${s.reason}`).join("; ")}` : "";
  return `tsdl backend: ${info.name} on ${info.device} (${info.why})${skipped}`;
}

/**
 * Select the best available backend, or the one forced by `name` / `TSDL_BACKEND`
 * ("tensorflow", "webgpu", "wasm", "cpu"). Prints one line unless `verbose: false`. Calling it again
 * with the same request returns the current selection.
 */
export async function init(name?: BackendName | "auto", opts: InitOptions = {}): Promise<BackendInfo> {
  const fromArg = parseForced(name, "the argument of backend.init()");
  const fromEnv = fromArg === undefined && name === undefined ? parseForced(process.env.TSDL_BACKEND, "TSDL_BACKEND") : undefined;
  const forced = fromArg ?? fromEnv;
  const why = fromArg ? `forced by backend.init("${fromArg}")` : fromEnv ? `forced by TSDL_BACKEND=${fromEnv}` : "best available";
  if (current && (forced === undefined || forced === current.name)) return current;
  registerGradients();
  if (pending) await pending.catch(() => undefined);
  pending = select(forced, why);
  try {
    current = await pending;
  } finally {
    pending = undefined;
  }
  if (opts.verbose ?? true) console.log(describe(current));
  return current;
}

/** The current selection (after `init()`), as data. */
export function info(): BackendInfo {
  if (!current) throw new Error("tsdl: no backend selected yet; call `await backend.init()` first");
  return withDisplay({
    ...current,
    skipped: [...current.skipped],
    versions: { ...current.versions },
    ...(current.adapter ? { adapter: { ...current.adapter } } : {}),
  });
}

/**
 * A tensor's values when reading them does not wait for a GPU: always on CPU backends; on webgpu only while they
 * are still (or again) on the CPU. Undefined otherwise: read with `await t.data()` instead.
 */
export function hostValues(t: tf.Tensor): tf.TypedArray | undefined {
  const owner = (tf.engine() as unknown as { state: { tensorInfo: WeakMap<object, { backend: tf.KernelBackend }> } }).state.tensorInfo.get(
    t.dataId,
  )?.backend;
  if (owner && owner === tf.findBackend("webgpu")) return webgpuHostValues(t);
  return t.dataSync() as tf.TypedArray;
}

/**
 * A clearer error for a wasm heap failure (emscripten reports running past its 4 GB heap as "memory access out of
 * bounds", then "Aborted()" on every later call), or the error itself when it is something else.
 */
export function explainFailure(e: unknown, where: string, what: string): unknown {
  const msg = String((e as Error)?.message ?? e);
  const wasmDead = e instanceof WebAssembly.RuntimeError || /memory access out of bounds|^Aborted\(/.test(msg);
  if (!wasmDead || tf.getBackend() !== "wasm") return e;
  return new Error(
    `${where}: the wasm backend failed on ${what} (${msg.split("\n")[0]}): its heap is limited to 4 GB, so this is ` +
      `most likely a batch too large for it. Use a smaller batch size (batch 64 at 96x96 px fits the course ResNet; ` +
      `256 does not) or the tensorflow backend (TSDL_BACKEND=tensorflow). The wasm runtime cannot continue after ` +
      `this: restart the kernel (or process) and run again; files and saved checkpoints are unaffected.`,
  );
}
