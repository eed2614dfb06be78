// The CPU time of the main thread alone (the one that issues a step's GPU programs), which process.cpuUsage() mixes
// with Dawn's and V8's threads. Used by bench/webgpu.ts and the GPU proof.
import * as fs from "fs";

/** CPU time of the main thread so far, ms (Linux: /proc, in ticks of 10 ms), or undefined elsewhere. */
export function mainThreadCpuMs(): number | undefined {
  try {
    const fields = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10; // utime + stime, in clock ticks of 1/100 s
  } catch {
    return undefined;
  }
}
