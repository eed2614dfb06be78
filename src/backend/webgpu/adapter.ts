// Finding a WebGPU adapter through Dawn (npm `webgpu`): which of Dawn's backends, hardware or software, or why none.
//
// Dawn's Node module is `dist/<platform>-<arch>/dawn.node` inside the `webgpu` package (an ES module whose index we
// skip: CommonJS can load the .node file itself). TSDL_DAWN_NODE names another dawn.node (the GPU proof's bundle).
// Auto-selection asks the platform's own API (Vulkan on Linux, Metal on macOS, D3D12 on Windows) and takes only a
// hardware adapter; a forced webgpu also accepts a software adapter and, on Linux, falls back to OpenGL ES (Mesa
// llvmpipe through EGL without a display: EGL_PLATFORM=surfaceless). TSDL_WEBGPU_DAWN=<backend> asks only that one.
import * as fs from "fs";
import * as path from "path";

/** Dawn's backends, as its `backend=` option names them. */
export const DAWN_BACKENDS = ["vulkan", "metal", "d3d12", "opengles", "opengl", "d3d11"] as const;
export type DawnBackend = (typeof DAWN_BACKENDS)[number];

const LABEL: Record<DawnBackend, string> = {
  vulkan: "Vulkan",
  metal: "Metal",
  d3d12: "D3D12",
  opengles: "OpenGL ES",
  opengl: "OpenGL",
  d3d11: "D3D11",
};

/** What tsdl tells about the adapter it uses (backend.info().adapter). */
export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  /** The driver, or for OpenGL ES the GL version string. */
  description: string;
  /** Which of Dawn's backends drives it. */
  dawnBackend: DawnBackend;
  /** A CPU rasterizer (llvmpipe, lavapipe, SwiftShader, WARP): correct but slower than tsdl's wasm kernels. */
  software: boolean;
  /** "compatibility" for the OpenGL backends (WebGPU's reduced feature level), else "core". */
  featureLevel: "core" | "compatibility";
}

/** Dawn's module: create(flags) gives a `navigator.gpu`; globals are the GPU* constants (GPUBufferUsage, …). */
export interface DawnModule {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

export interface FoundAdapter {
  gpu: GPU;
  adapter: GPUAdapter;
  description: AdapterDescription;
}

/** The outcome of a search: the adapter, or one reason per Dawn backend tried. */
export interface AdapterSearch {
  found?: FoundAdapter;
  reasons: string[];
}

/** A skipped rung's reason, with the help a user needs. */
export class WebgpuUnavailable extends Error {}

const SOFTWARE = /llvmpipe|lavapipe|softpipe|swiftshader|microsoft basic render|\bwarp\b/i;

/** GPUAdapter.info (newer than the @webgpu/types that tfjs pins). */
export function adapterInfo(adapter: GPUAdapter): GPUAdapterInfo & { isFallbackAdapter?: boolean } {
  return (adapter as unknown as { info: GPUAdapterInfo & { isFallbackAdapter?: boolean } }).info;
}

/** Whether an adapter is a CPU rasterizer rather than a GPU. */
export function isSoftwareAdapter(info: {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}): boolean {
  if (info.isFallbackAdapter) return true;
  return SOFTWARE.test([info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(" "));
}

/** One line: "NVIDIA H100 80GB HBM3 (nvidia hopper; NVIDIA: 580.159.04) via Dawn Vulkan". */
export function describeAdapter(a: AdapterDescription): string {
  const name = a.device || a.description || "unnamed adapter";
  const detail = [[a.vendor, a.architecture].filter(Boolean).join(" "), a.description !== name ? a.description : ""]
    .filter(Boolean)
    .join("; ");
  const kind = a.software ? "software adapter " : "";
  const level = a.featureLevel === "compatibility" ? ", compatibility mode" : "";
  return `${kind}${name}${detail ? ` (${detail})` : ""} via Dawn ${LABEL[a.dawnBackend]}${level}`;
}

/** The platform's own GPU API in Dawn. */
export function nativeDawnBackend(platform = process.platform): DawnBackend {
  if (platform === "darwin") return "metal";
  if (platform === "win32") return "d3d12";
  return "vulkan";
}

/** The dawn.node to load: TSDL_DAWN_NODE, else the `webgpu` package's build for this platform. */
export function dawnNodePath(): string {
  const override = process.env.TSDL_DAWN_NODE;
  if (override) {
    if (!fs.existsSync(override)) throw new WebgpuUnavailable(`TSDL_DAWN_NODE=${override}: no such file`);
    return override;
  }
  let pkg: string;
  try {
    pkg = require.resolve("webgpu/package.json");
  } catch {
    throw new WebgpuUnavailable("not installed (webgpu)");
  }
  const arch = process.platform === "darwin" ? "universal" : process.arch;
  const file = path.join(path.dirname(pkg), "dist", `${process.platform}-${arch}`, "dawn.node");
  if (!fs.existsSync(file)) throw new WebgpuUnavailable(`the webgpu package has no build for ${process.platform}-${process.arch}`);
  return file;
}

let dawn: DawnModule | undefined;

/** Loads dawn.node once (its GPU* constants become globals, as tfjs-backend-webgpu expects them). */
export function loadDawn(): DawnModule {
  if (dawn) return dawn;
  const file = dawnNodePath();
  let mod: DawnModule;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require(file) as DawnModule;
  } catch (e) {
    const msg = String((e as Error)?.message ?? e).split("\n")[0];
    const hint = /GLIBC_/.test(msg) ? " (Dawn's Linux build needs glibc 2.34 or newer)" : "";
    throw new WebgpuUnavailable(`dawn.node failed to load: ${msg}${hint}`);
  }
  for (const [k, v] of Object.entries(mod.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  dawn = mod;
  return mod;
}

/**
 * Whether the dynamic loader finds a shared library (by dlopen, as Dawn will): true, or the loader's message.
 * A library that is not a Node add-on loads and then fails with "did not self-register", which means found.
 */
export function sharedLibraryFound(name: string): true | string {
  try {
    process.dlopen({ exports: {} } as NodeJS.Module, name);
    return true;
  } catch (e) {
    const msg = String((e as Error)?.message ?? e);
    return /self-register/.test(msg) ? true : msg.split("\n")[0];
  }
}

/** Why a Dawn backend cannot start here (a missing loader library), or undefined. */
function missingLibrary(backend: DawnBackend): string | undefined {
  if (process.platform !== "linux") return undefined;
  if (backend === "vulkan" && sharedLibraryFound("libvulkan.so.1") !== true) {
    return "no libvulkan.so.1 (the Vulkan loader: apt-get install libvulkan1, plus the GPU driver's Vulkan ICD)";
  }
  if ((backend === "opengles" || backend === "opengl") && sharedLibraryFound("libEGL.so.1") !== true) {
    return "no libEGL.so.1 (apt-get install libegl1 libegl-mesa0 libgles2)";
  }
  return undefined;
}

function parseDawnBackend(v: string): DawnBackend {
  const b = v.trim().toLowerCase();
  if ((DAWN_BACKENDS as readonly string[]).includes(b)) return b as DawnBackend;
  throw new Error(`tsdl: TSDL_WEBGPU_DAWN=${JSON.stringify(v)} is not one of Dawn's backends: ${DAWN_BACKENDS.join(", ")}`);
}

/** Extra Dawn instance flags from TSDL_DAWN_FLAGS (space-separated, e.g. "enable-dawn-features=disable_robustness"). */
function extraFlags(): string[] {
  return (process.env.TSDL_DAWN_FLAGS ?? "").split(/\s+/).filter(Boolean);
}

async function requestOn(mod: DawnModule, backend: DawnBackend): Promise<FoundAdapter | string> {
  const compat = backend === "opengles" || backend === "opengl";
  const restoreEgl = compat && process.platform === "linux" && process.env.EGL_PLATFORM === undefined;
  // No display: Mesa's EGL then renders off-screen (it is read when EGL initialises, during requestAdapter).
  if (restoreEgl) process.env.EGL_PLATFORM = "surfaceless";
  try {
    const gpu = mod.create([`backend=${backend}`, ...extraFlags()]);
    const options = {
      powerPreference: "high-performance",
      ...(compat ? { featureLevel: "compatibility" } : {}),
    } as GPURequestAdapterOptions;
    const adapter = await gpu.requestAdapter(options);
    if (!adapter) return `no adapter (no ${LABEL[backend]} driver that Dawn can use)`;
    const info = adapterInfo(adapter);
    const description: AdapterDescription = {
      vendor: info.vendor ?? "",
      architecture: info.architecture ?? "",
      device: info.device ?? "",
      description: info.description ?? "",
      dawnBackend: backend,
      software: isSoftwareAdapter(info),
      featureLevel: compat ? "compatibility" : "core",
    };
    return { gpu, adapter, description };
  } catch (e) {
    return `failed: ${String((e as Error)?.message ?? e).split("\n")[0]}`;
  } finally {
    if (restoreEgl) delete process.env.EGL_PLATFORM;
  }
}

/**
 * Looks for an adapter. `forced`: accept a software adapter, and on Linux try OpenGL ES after Vulkan.
 * Throws WebgpuUnavailable when Dawn itself cannot load.
 */
export async function findAdapter(forced: boolean): Promise<AdapterSearch> {
  const mod = loadDawn();
  const chosen = process.env.TSDL_WEBGPU_DAWN;
  const native = nativeDawnBackend();
  const order: DawnBackend[] = chosen
    ? [parseDawnBackend(chosen)]
    : forced && process.platform === "linux"
      ? [native, "opengles"]
      : [native];
  const reasons: string[] = [];
  for (const backend of order) {
    const missing = missingLibrary(backend);
    if (missing) {
      reasons.push(`${LABEL[backend]}: ${missing}`);
      continue;
    }
    const r = await requestOn(mod, backend);
    if (typeof r === "string") {
      reasons.push(`${LABEL[backend]}: ${r}`);
      continue;
    }
    if (r.description.software && !forced) {
      reasons.push(`${LABEL[backend]}: software adapter only (${describeAdapter(r.description)}; TSDL_BACKEND=webgpu uses it)`);
      continue;
    }
    return { found: r, reasons };
  }
  return { reasons };
}
