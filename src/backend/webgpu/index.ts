// The webgpu rung: tfjs-backend-webgpu on a Dawn device (npm `webgpu`), with tsdl's training kernels.
//
// tfjs-backend-webgpu registers its own "webgpu" backend only when `navigator.gpu` exists as it loads, and asks
// for a core-level adapter. tsdl registers the backend itself instead, on the adapter it found (adapter.ts), so the
// OpenGL ES fallback (compatibility level) works too, and names that adapter in the backend line.
import * as tf from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { AdapterDescription, adapterInfo, describeAdapter, findAdapter, WebgpuUnavailable } from "./adapter";
import { registerWebgpuKernels } from "./kernels";

export { describeAdapter, isSoftwareAdapter, DAWN_BACKENDS } from "./adapter";
export type { AdapterDescription, DawnBackend } from "./adapter";
export { webgpuKernelOptions, webgpuKernelNames, webgpuSettingsFromEnv } from "./kernels";
export type { WebgpuKernelOptions } from "./kernels";

export interface WebgpuSelection {
  adapter: AdapterDescription;
  /** "GPU: NVIDIA H100 80GB HBM3 (nvidia hopper; …) via Dawn Vulkan" */
  device: string;
  versions: Record<string, string>;
  /** Dawn backends tried before the one used, and why they were not (a forced webgpu falls back to OpenGL ES). */
  passedOver: string[];
}

let selection: WebgpuSelection | undefined;

/** GPU errors not yet reported (validation, out of memory, device lost): the next read throws the first. */
const gpuErrors: string[] = [];

function watchErrors(device: GPUDevice): void {
  device.addEventListener("uncapturederror", (e) => {
    const err = (e as GPUUncapturedErrorEvent).error;
    gpuErrors.push(`${err.constructor?.name ?? "GPUError"}: ${String(err.message).split("\n")[0]}`);
  });
  void device.lost.then((info) => gpuErrors.push(`the GPU device was lost (${info.reason}): ${String(info.message).split("\n")[0]}`));
}

/**
 * tfjs-backend-webgpu ignores errors the GPU reports: the results are then garbage (zeros, often), silently.
 * Every read (await t.data()) checks for them and throws the first, so nothing goes on from wrong values.
 */
function checkErrorsOnRead(Backend: typeof WebGPUBackend): void {
  const proto = Backend.prototype as unknown as { read(dataId: object): Promise<unknown>; tsdlChecked?: boolean };
  if (proto.tsdlChecked) return;
  const read = proto.read;
  proto.read = async function (this: WebGPUBackend, dataId: object) {
    const values = await read.call(this, dataId);
    if (gpuErrors.length) {
      const [first, ...rest] = gpuErrors.splice(0);
      throw new Error(
        `tsdl: the GPU reported an error (webgpu backend), so values computed since then are not valid: ${first}` +
          (rest.length ? ` (and ${rest.length} more)` : ""),
      );
    }
    return values;
  };
  proto.tsdlChecked = true;
}

/** The limits tsdl asks of the device: the adapter's own maxima (WebGPU's defaults are far lower). */
const LIMITS = [
  "maxBufferSize",
  "maxStorageBufferBindingSize",
  "maxStorageBuffersPerShaderStage",
  "maxComputeWorkgroupStorageSize",
  "maxComputeWorkgroupsPerDimension",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
] as const;

function packageVersion(pkg: string): string | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(`${pkg}/package.json`).version as string;
  } catch {
    return undefined; // bundled (the GPU proof): no package.json beside it
  }
}

/** `navigator.gpu` for tfjs-backend-webgpu (Node ≤ 20 has no navigator; 21+ has one without gpu). */
function exposeGpu(gpu: GPU): void {
  const g = globalThis as { navigator?: { gpu?: GPU } };
  if (g.navigator && typeof g.navigator === "object")
    Object.defineProperty(g.navigator, "gpu", { value: gpu, configurable: true, writable: true });
  else Object.defineProperty(globalThis, "navigator", { value: { gpu }, configurable: true, writable: true });
}

/**
 * tfjs's synchronous read on webgpu goes through OffscreenCanvas, which Node lacks ("OffscreenCanvas is not
 * defined"). Values already on the CPU (not yet uploaded, or read once with await) still read synchronously;
 * anything else gets an error that says what to do.
 */
function explainSyncReads(Backend: typeof WebGPUBackend): void {
  const proto = Backend.prototype as unknown as { readSync(dataId: object): unknown; tsdlExplained?: boolean };
  if (proto.tsdlExplained) return;
  const readSync = proto.readSync;
  proto.readSync = function (this: WebGPUBackend, dataId: object) {
    const d = this.tensorMap.get(dataId) as { values?: unknown; dtype?: string } | undefined;
    if (
      d &&
      d.values == null &&
      d.dtype !== "string" &&
      d.dtype !== "complex64" &&
      typeof (globalThis as { OffscreenCanvas?: unknown }).OffscreenCanvas === "undefined"
    ) {
      throw new Error(
        "tsdl: dataSync()/arraySync() cannot read a tensor that lives on the GPU (webgpu backend): Node has no " +
          "synchronous GPU read. Use `await t.data()` or `await t.array()` (after one await, sync reads of that tensor work).",
      );
    }
    return readSync.call(this, dataId);
  };
  proto.tsdlExplained = true;
}

/**
 * The values of a tensor held by the webgpu backend when they are on the CPU (not yet uploaded, or read once
 * with await), else undefined: reading them then would wait for the GPU.
 */
export function webgpuHostValues(t: tf.Tensor): tf.TypedArray | undefined {
  const b = tf.findBackend("webgpu") as WebGPUBackend | null;
  const d = b?.tensorMap.has(t.dataId) ? (b.tensorMap.get(t.dataId) as { values?: tf.TypedArray | null }) : undefined;
  return d?.values ?? undefined;
}

/**
 * Selects tfjs's webgpu backend on the best adapter. `forced` (TSDL_BACKEND=webgpu / init("webgpu")) also takes a
 * software adapter. Throws WebgpuUnavailable with the reason when there is none.
 */
export async function selectWebgpu(forced: boolean): Promise<WebgpuSelection> {
  if (selection && tf.findBackend("webgpu")) {
    if (!(await tf.setBackend("webgpu"))) throw new WebgpuUnavailable("the webgpu backend did not initialise");
    return selection;
  }
  const search = await findAdapter(forced);
  if (!search.found) throw new WebgpuUnavailable(search.reasons.join("; "));
  const { gpu, adapter, description } = search.found;
  const requiredLimits: Record<string, number> = {};
  const limits = adapter.limits as unknown as Record<string, number>;
  for (const k of LIMITS) if (typeof limits[k] === "number") requiredLimits[k] = limits[k];
  const requiredFeatures = (["timestamp-query"] as GPUFeatureName[]).filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  watchErrors(device);
  exposeGpu(gpu);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const webgpu = require("@tensorflow/tfjs-backend-webgpu") as typeof import("@tensorflow/tfjs-backend-webgpu");
  if (tf.findBackendFactory("webgpu")) tf.removeBackend("webgpu");
  tf.registerBackend("webgpu", () => new webgpu.WebGPUBackend(device, adapterInfo(adapter)), 0);
  explainSyncReads(webgpu.WebGPUBackend);
  checkErrorsOnRead(webgpu.WebGPUBackend);
  if (!(await tf.setBackend("webgpu")))
    throw new WebgpuUnavailable(`the webgpu backend did not initialise on ${describeAdapter(description)}`);
  registerWebgpuKernels(description);
  const versions: Record<string, string> = {};
  for (const pkg of ["webgpu", "@tensorflow/tfjs-backend-webgpu"]) {
    const v = packageVersion(pkg);
    if (v) versions[pkg] = v;
  }
  selection = {
    adapter: description,
    device: `${description.software ? "" : "GPU: "}${describeAdapter(description)}`,
    versions,
    passedOver: search.reasons,
  };
  return selection;
}

export { WebgpuUnavailable };
