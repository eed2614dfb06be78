// The worker threads of one DataLoader. Kept apart from the loader, and its event handlers referring only to the
// pool, so that a loader nobody references can be garbage-collected and its pool closed (see DataLoader).
import * as path from "path";
import { Worker } from "worker_threads";
import type { HostBatch } from "./batch";
import type { Spec } from "./transforms/transform";
import type { BatchRequest } from "./worker";

const WORKER_FILE = path.join(__dirname, __filename.endsWith(".ts") ? "worker.ts" : "worker.js");

interface Pending {
  resolve(b: HostBatch): void;
  reject(e: Error): void;
}

export class WorkerPool {
  private readonly workers: Worker[] = [];
  /** Requests in flight per worker; a worker with some is ref'd so that awaiting it keeps Node running. */
  private readonly busy: number[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextRequest = 0;
  private closed = false;

  /** Starts `size` threads that rebuild the dataset from `spec`; idle ones do not keep the process alive. */
  constructor(size: number, spec: Spec) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(WORKER_FILE, {
        workerData: { dataset: spec },
        execArgv: WORKER_FILE.endsWith(".ts") ? ["-r", "ts-node/register/transpile-only"] : [],
      });
      w.on("message", (m: { id: number; batch?: HostBatch; error?: string }) => {
        if (--this.busy[i] === 0) w.unref();
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.batch) p.resolve(m.batch);
        else p.reject(new Error(`${m.error?.startsWith("tsdl") ? m.error : `tsdl.data: ${m.error}`} (in DataLoader worker ${i})`));
      });
      w.on("error", (e) => this.close(new Error(`tsdl.data: DataLoader worker ${i} failed: ${e.message}`)));
      // an exit we did not ask for must not leave the loop waiting
      w.on("exit", (code) => this.close(new Error(`tsdl.data: DataLoader worker ${i} exited (code ${code})`)));
      w.unref();
      this.workers.push(w);
      this.busy.push(0);
    }
  }

  /** Threads running (0 once closed). */
  get size(): number {
    return this.closed ? 0 : this.workers.length;
  }

  /** Makes a batch in worker `k`. */
  request(k: number, req: Omit<BatchRequest, "id">): Promise<HostBatch> {
    if (this.closed) return Promise.reject(new Error("tsdl.data: DataLoader workers were closed"));
    const id = this.nextRequest++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.busy[k]++ === 0) this.workers[k].ref();
      this.workers[k].postMessage({ ...req, id });
    });
  }

  /** Ends the threads; requests in flight are rejected with `reason`. Closing again does nothing. */
  close(reason = new Error("tsdl.data: DataLoader workers were closed")): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending.values()) p.reject(reason);
    this.pending.clear();
    for (const w of this.workers) void w.terminate();
  }
}
