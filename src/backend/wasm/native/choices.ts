// Which path, oneDNN or im2col + OpenBLAS, computes each convolution shape: chosen once per machine and kept in a
// folder next to the built add-on (build/conv-choices/), so that every process (a second run, a resumed run) uses
// the same path for a shape and gets the same bits. The two paths round differently (~1e-7 relative), neither wins
// every shape, and a choice timed anew in each process differed between processes under load (losses 0.7 % apart
// after 6 steps).
//
// The first process to meet a shape times both paths (within that call, see conv.ts) and publishes the faster with
// link(2), which fails when the file already exists: when two processes time a new shape at once, the first to
// publish wins and the other adopts its choice before it returns any result. Where the folder cannot be written and
// holds no choice for a shape, a fixed rule decides: also the same in every process.
import * as fs from "fs";
import * as path from "path";
import type { ConvGeometry } from "./geometry";

export type ConvPath = "dnnl" | "blas";
export type ConvKind = "forward" | "backpropInput" | "backpropFilter";

/** What a choice file holds (JSON). Only `path` is read back; the times (CPU ms, all threads, the best of 3) are for people. */
interface ChoiceFile {
  path: ConvPath;
  ms: { dnnl: number; blas: number };
  date: string;
}

/** One file name per kind and shape (and, for the forward conv, bias and activation), e.g. `forward-n64-96x96x3-k7x7x64-s2x2-p3x3-o48x48-bias-relu`. */
export function choiceKey(kind: ConvKind, g: ConvGeometry, fused: { bias: boolean; relu: boolean } = { bias: false, relu: false }): string {
  return [
    kind,
    `n${g.n}`,
    `${g.inH}x${g.inW}x${g.inC}`,
    `k${g.kH}x${g.kW}x${g.outC}`,
    `s${g.strideH}x${g.strideW}`,
    `p${g.padTop}x${g.padLeft}`,
    `o${g.outH}x${g.outW}`,
    ...(fused.bias ? ["bias"] : []),
    ...(fused.relu ? ["relu"] : []),
  ].join("-");
}

/**
 * The choice where none can be kept (a read-only folder): what the timings on a 2-core AVX-512 machine chose for
 * the course ResNet: oneDNN for stride-1 convolutions larger than 1x1 and for the gradient of the 7x7 stem's
 * filter, im2col + OpenBLAS for strided and 1x1 convolutions.
 */
export function ruleFor(kind: ConvKind, g: ConvGeometry): ConvPath {
  const unitStride = g.strideH === 1 && g.strideW === 1;
  if (unitStride && g.kH * g.kW > 1) return "dnnl";
  return kind === "backpropFilter" && g.kH * g.kW >= 49 ? "dnnl" : "blas";
}

export class ConvChoices {
  private readonly memo = new Map<string, ConvPath>();

  constructor(readonly dir: string) {}

  /** The path for `key` if this process or an earlier one chose it; undefined when it has yet to be timed. */
  known(key: string): ConvPath | undefined {
    const memo = this.memo.get(key);
    if (memo) return memo;
    let text: string;
    try {
      text = fs.readFileSync(path.join(this.dir, key), "utf8");
    } catch {
      return undefined;
    }
    return this.remember(key, parse(text));
  }

  /** For this process only: a shape with one possible path (oneDNN has no primitive for it). */
  remember(key: string, p: ConvPath | undefined): ConvPath | undefined {
    if (p) this.memo.set(key, p);
    return p;
  }

  /**
   * Publish the faster path for `key` unless another process published one first, and return the path every
   * process will use: the published one, or `rule` when none can be published or read.
   */
  decide(key: string, ms: ChoiceFile["ms"], rule: ConvPath): ConvPath {
    const file = path.join(this.dir, key);
    const tmp = path.join(this.dir, `.${key}.${process.pid}.tmp`);
    const mine: ChoiceFile = { path: ms.dnnl <= ms.blas ? "dnnl" : "blas", ms, date: new Date().toISOString() };
    try {
      fs.mkdirSync(this.dir, { recursive: true });
      const fd = fs.openSync(tmp, "w");
      try {
        fs.writeSync(fd, JSON.stringify(mine) + "\n");
        fs.fsyncSync(fd); // complete on disk before it becomes visible under its name
      } finally {
        fs.closeSync(fd);
      }
      try {
        fs.linkSync(tmp, file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      }
    } catch {
      // not writable: the file, if another process could write it, else the rule
    } finally {
      try {
        fs.rmSync(tmp, { force: true });
      } catch {
        /* its folder does not exist */
      }
    }
    return this.known(key) ?? this.remember(key, rule) ?? rule;
  }
}

function parse(text: string): ConvPath | undefined {
  try {
    const p = (JSON.parse(text) as Partial<ChoiceFile>).path;
    return p === "dnnl" || p === "blas" ? p : undefined;
  } catch {
    return undefined;
  }
}
