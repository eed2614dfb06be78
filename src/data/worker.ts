// A DataLoader worker thread: rebuilds the dataset from its spec and makes the batches it is asked for.
import { parentPort, workerData } from "worker_threads";
import { buildHostBatch } from "./batch";
import { datasetFromSpec } from "./spec";
import type { Spec } from "./transforms/transform";

export interface BatchRequest {
  id: number;
  seed: number;
  epoch: number;
  indices: Int32Array;
}

if (parentPort) {
  const port = parentPort;
  let dataset: ReturnType<typeof datasetFromSpec> | undefined;
  let setupError: string | undefined;
  try {
    dataset = datasetFromSpec((workerData as { dataset: Spec }).dataset);
  } catch (e) {
    setupError = (e as Error).message;
  }
  port.on("message", (req: BatchRequest) => {
    try {
      if (!dataset) throw new Error(setupError);
      const b = buildHostBatch(dataset, req.seed, req.epoch, req.indices);
      port.postMessage({ id: req.id, batch: b }, [b.x.buffer as ArrayBuffer, b.y.buffer as ArrayBuffer]); // fresh buffers, never shared
    } catch (e) {
      port.postMessage({ id: req.id, error: (e as Error).message });
    }
  });
}
