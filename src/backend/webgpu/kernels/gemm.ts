// A tiled matrix product in WGSL, C[r, c] = Σ_q A(r, q)·B(q, c), with A and B read through functions the caller
// writes (so a convolution reads its patches in place: no im2col buffer), optionally split along q.
//
// A workgroup computes a BM×BN tile of C, each thread RM×RN values: rows ty + TY·i + (BM/4)·k and columns
// tx + TX·j + (BN/4)·k (k < 4) for a grid of TY×TX threads. A vec4 of a workgroup tile holds rows (columns) that
// far apart, so a warp's vec4 reads are conflict-free, and consecutive threads load and store consecutive rows or
// columns (coalesced). The q range is walked DEPTH at a time through workgroup memory; each operand tile is loaded
// with consecutive threads along the operand's contiguous index ("r"/"c" or "q"). Narrow outputs (few columns:
// a convolution's 3 input channels) get tall tiles, so few threads compute padding. A thread fetches its share of
// the next step's operand tiles into registers before it computes the current step (prefetch), so the global loads'
// latency passes under the arithmetic instead of stalling the workgroup at each step. Split s of S covers q in
// [s·chunk, (s+1)·chunk) and writes its own slice of the output; a second pass adds the slices.
//
// Why 8×8 per thread on wide outputs: per step of q a thread reads (RM + RN)/4 vec4s of workgroup memory for RM·RN
// multiply-adds. At 4×4 that is 2 reads for 16 FMAs; 8×8 is 4 for 64 and reuses each value 8 times, so fewer
// loads from workgroup memory per FMA (an SM's shared memory serves a quarter of its FMA lanes' bytes per cycle);
// 8×4 (128×64 tiles, for 48–95 columns) is between. They need the larger tiles, so they are used where those still
// give enough workgroups. (Scalar reads instead of vec4s measured 0.36x PyTorch on an H100 at batch 256.)
import { type Backend, flatGrid, i32, type Program } from "./program";

export interface Tile {
  /** Rows and columns of C per workgroup. */
  BM: number;
  BN: number;
  /** q per step through workgroup memory. */
  DEPTH: number;
  /** Rows and columns of C per thread (multiples of 4). */
  RM: number;
  RN: number;
}

export type WideTiles = "auto" | "8x8" | "4x4";

export interface GemmOptions {
  /**
   * Which tiles wide outputs get (TSDL_WEBGPU_GEMM sets it when tsdl selects webgpu): "auto" 8×8 per thread where there is work
   * enough for the 128-wide tiles, "8x8" wherever the columns allow (tests: small products), "4x4" never (the tiles
   * before them, for comparison).
   */
  wide: WideTiles;
  /**
   * Workgroups a product should have to fill the device: "auto" takes smaller tiles below it, and the forward
   * convolution splits its sum. 264 on a GPU (two per SM of an H100's 132); 1 on a software adapter, whose few
   * CPU cores run the workgroups one after another (there the larger tiles and no splits are faster at any size).
   */
  minWorkgroups: number;
  /**
   * Fetch the next step's operand values into registers before computing the current step (TSDL_WEBGPU_PREFETCH=0
   * turns it off when tsdl selects webgpu, for comparison): without it a workgroup waits for global memory at every
   * step, and only other workgroups on the same SM fill that time.
   */
  prefetch: boolean;
  /**
   * Let a product split its sum to take the 8×8 tiles where they would otherwise give too few workgroups
   * (productPlan; the last stages at batch 256: 2,304 × 512 outputs over 4,608 taps, 72 tiles of 128×128 split 4
   * ways instead of 288 of 64×64 at 4×4, which read twice the workgroup memory per multiply-add): the forward
   * convolution and the input gradient's stride-1 products. The filter gradient always may (its sum is the long
   * side).
   */
  splitToWiden: boolean;
}

/** gemmOptions.minWorkgroups on a GPU. */
export const GPU_MIN_WORKGROUPS = 264;

export const gemmOptions: GemmOptions = { wide: "auto", minWorkgroups: GPU_MIN_WORKGROUPS, prefetch: true, splitToWiden: true };

/** TSDL_WEBGPU_GEMM's value (unset: "auto"); anything else is an error naming the accepted ones. */
export function wideTiles(v: string | undefined): WideTiles {
  if (v === undefined || v === "") return "auto";
  if (v === "auto" || v === "8x8" || v === "4x4") return v;
  throw new Error(`tsdl: TSDL_WEBGPU_GEMM=${JSON.stringify(v)} is not one of auto, 8x8, 4x4`);
}

/** TSDL_WEBGPU_PREFETCH's value (unset: on); anything but 1 or 0 is an error naming them. */
export function prefetchSetting(v: string | undefined): boolean {
  if (v === undefined || v === "" || v === "1") return true;
  if (v === "0") return false;
  throw new Error(`tsdl: TSDL_WEBGPU_PREFETCH=${JSON.stringify(v)} is not one of 1 (on, the default), 0 (off)`);
}

/**
 * The tile for a product with `cols` columns and `rows` rows, `splits` times over: 128×128 (8×8 per thread) or
 * 128×64 (8×4) for wide outputs with work enough, else 64×64 (4×4); 256×16 and 512×4 for narrow ones. Workgroup
 * memory (workgroupBytes) stays within WebGPU's guaranteed maxComputeWorkgroupStorageSize, 16,384 bytes.
 */
export function tileFor(cols: number, rows: number, splits = 1): Tile {
  const wide = gemmOptions.wide;
  const workgroups = (bm: number, bn: number) => (wide === "8x8" ? Infinity : Math.ceil(rows / bm) * Math.ceil(cols / bn) * splits);
  if (wide !== "4x4") {
    if (cols >= 96 && workgroups(128, 128) >= gemmOptions.minWorkgroups) return { BM: 128, BN: 128, DEPTH: 8, RM: 8, RN: 8 };
    if (cols >= 48 && workgroups(128, 64) >= gemmOptions.minWorkgroups) return { BM: 128, BN: 64, DEPTH: 16, RM: 8, RN: 4 };
  }
  if (cols >= 48) return { BM: 64, BN: 64, DEPTH: 16, RM: 4, RN: 4 };
  if (cols >= 12) return { BM: 256, BN: 16, DEPTH: 8, RM: 4, RN: 4 };
  return { BM: 512, BN: 4, DEPTH: 4, RM: 4, RN: 4 };
}

/** Bytes of workgroup memory a tile takes: its two vec4 tiles, each row padded by one vec4 (gemmSource). */
export function workgroupBytes(t: Tile): number {
  return 16 * t.DEPTH * (t.BM / 4 + 1 + t.BN / 4 + 1);
}

/** Workgroup size of a tile: one thread per RM×RN block of C. */
export function tileThreads(t: Tile): [number, number, number] {
  return [t.BN / t.RN, t.BM / t.RM, 1];
}

export interface GemmSource {
  tile: Tile;
  rows: number; // R
  cols: number; // C
  depth: number; // Q
  /** q per split (a multiple of tile.DEPTH); the split index is workgroupId.z. */
  chunk: number;
  /** Which index of A consecutive threads read: "r" or "q" (the one contiguous in memory). */
  aAlong: "r" | "q";
  bAlong: "q" | "c";
  /**
   * WGSL: `fn rowA(r: i32) -> RowA` and `fn loadA(a: RowA, q: i32) -> f32`, `fn colB(c: i32) -> ColB` and
   * `fn loadB(q: i32, b: ColB) -> f32` (RowA, ColB: any types the caller chooses), and
   * `fn store(split: i32, r: i32, c: i32, v: f32)`; all called in range only. A thread loads the same rows of A
   * and columns of B at every step of q, so rowA and colB run once, before the loop: what a load needs of its
   * row (a convolution's pixel or tap, decoded by divisions) is not recomputed per value.
   */
  functions: string;
  /**
   * Several independent products in one dispatch instead of splits: product g = workgroupId.z has its own rows and
   * depth (rows and depth above are their maxima), and `prologue` (WGSL run first in main(), with `group` = g)
   * sets what the functions need of it; store() gets g as its split.
   */
  groups?: { rows: number[]; depths: number[]; prologue: string };
}

/** WGSL: the value of `values` at index `index` (an i32 expression), as a chain of selects (uniform when index is). */
export function pick(values: number[], index: string): string {
  return values.slice(1).reduce((e, v, k) => `select(${e}, ${i32(v)}, ${index} == ${k + 1})`, i32(values[0]));
}

/** WGSL `main()` of the product (with the caller's functions). Dispatch [ceil(C/BN), ceil(R/BM), splits]. */
export function gemmSource(g: GemmSource): string {
  const { BM, BN, DEPTH, RM, RN } = g.tile;
  if (RM % 4 !== 0 || RN % 4 !== 0 || BM % RM !== 0 || BN % RN !== 0)
    throw new Error(`tsdl: gemm tile ${JSON.stringify(g.tile)} is not RM×RN blocks`);
  if (g.chunk % DEPTH !== 0) throw new Error(`tsdl: gemm chunk ${g.chunk} is not a multiple of ${DEPTH}`);
  const [TX, TY] = tileThreads(g.tile);
  const threads = TX * TY;
  const steps = g.chunk / DEPTH;
  // The tiles are vec4 arrays (4 rows of A, 4 columns of B per element), so the inner loop reads RM/4 + RN/4 vec4s
  // per step of q, not RM + RN floats. A row of a tile is padded by one vec4: loaded along q, a quarter-warp's 8
  // vec4 stores (one 128-byte wavefront) then fall in distinct banks.
  const SA = BM / 4 + 1; // (workgroupBytes counts these)
  const SB = BN / 4 + 1;
  const groups = g.groups;
  const rowBound = groups ? "rowsEnd" : i32(g.rows);
  // Each thread loads a vec4 of the operand tile: rows (or columns) o + (span/4)·k at one q, consecutive threads
  // along the contiguous index, so global reads coalesce; a whole vec4 is stored (a store of one component could be
  // a read-modify-write of the vector on some backends: a race). Load l of a thread is the same vec4 of rows (or
  // columns) at every step: `prepare` decodes them before the loop, clamped into range (a row past the end then
  // loads a real row's values, which reach only outputs that are never stored).
  const loads = (which: "A" | "B", along: "r" | "c" | "q") => {
    const [origin, span] = which === "A" ? ["r0", BM] : ["c0", BN];
    const vecs = (span / 4) * DEPTH;
    const count = Math.ceil(vecs / threads);
    const bound = which === "A" ? rowBound : i32(g.cols);
    const prepare = which === "A" ? "rowA" : "colB";
    return range(count).map((l) => {
      const id = `${which}${l}`;
      const [qq, m] = along === "q" ? [`e${id} % ${DEPTH}`, `e${id} / ${DEPTH}`] : [`e${id} / ${span / 4}`, `e${id} % ${span / 4}`];
      return {
        id,
        live: count * threads > vecs ? `e${id} < ${vecs}` : "",
        before: `let e${id} = t + ${l * threads};
  let qq${id} = ${qq};
  let m${id} = ${m};
  let o${id} = ${origin} + m${id};
  ${range(4)
    .map((k) => `let p${id}_${k} = ${prepare}(min(o${id} + ${(k * span) / 4}, ${bound} - 1));`)
    .join("\n  ")}`,
      };
    });
  };
  // A thread's share of an operand tile at q0: into registers (fetch), then into workgroup memory (put). With
  // prefetch, step s + 1's fetch is issued before step s's products, so its global-memory latency passes while the
  // thread computes (a load is waited for only where its value is used: at the next put).
  const fetch = (which: "A" | "B", along: "r" | "c" | "q", q0: string) =>
    loads(which, along)
      .map(({ id, live }) => {
        const call = (k: number) => (which === "A" ? `loadA(p${id}_${k}, q)` : `loadB(q, p${id}_${k})`);
        const body = `{
      let q = ${q0} + qq${id};
      v${id} = vec4<f32>(0.0);
      if (q < qEnd) {${range(4)
        .map(
          (k) => `
        v${id}[${k}] = ${call(k)};`,
        )
        .join("")}
      }
    }`;
        return live ? `if (${live}) ${body}` : body;
      })
      .join("\n    ");
  const put = (which: "A" | "B", along: "r" | "c" | "q") =>
    loads(which, along)
      .map(({ id, live }) => {
        const store = `${which}s[qq${id} * ${which === "A" ? SA : SB} + m${id}] = v${id};`;
        return live ? `if (${live}) { ${store} }` : store;
      })
      .join("\n    ");
  const registers = [...loads("A", g.aAlong), ...loads("B", g.bAlong)].map(({ id }) => `var v${id} = vec4<f32>(0.0);`);
  const fetchBoth = (q0: string) => `${fetch("A", g.aAlong, q0)}\n    ${fetch("B", g.bAlong, q0)}`;
  const putBoth = `${put("A", g.aAlong)}\n    ${put("B", g.bAlong)}`;
  const prefetch = gemmOptions.prefetch;
  // Accumulator (i, j): row ty + TY·(i div 4) + (BM/4)·(i mod 4), columns tx + TX·j + (BN/4)·(0 .. 3).
  const acc = (i: number, j: number) => `acc${i}_${j}`;
  const accs = range(RM).flatMap((i) => range(RN / 4).map((j) => acc(i, j)));
  const lane = "xyzw";
  return `
${g.functions}

${groups ? "var<private> group: i32;\nvar<workgroup> groupOfWorkgroup: i32;" : ""}
var<workgroup> As : array<vec4<f32>, ${DEPTH * SA}>;
var<workgroup> Bs : array<vec4<f32>, ${DEPTH * SB}>;

fn main() {
  let tx = i32(localId.x);
  let ty = i32(localId.y);
  let t = ty * ${TX} + tx;
  let c0 = i32(workgroupId.x) * ${BN};
  let r0 = i32(workgroupId.y) * ${BM};
  let split = i32(workgroupId.z);
${
  groups
    ? `  // The product's depth bounds a loop with barriers: read through workgroupUniformLoad, WGSL then knows it is the
  // same for the whole workgroup (tfjs passes workgroupId through a private variable, which it cannot know of).
  if (t == 0) { groupOfWorkgroup = split; }
  let g = workgroupUniformLoad(&groupOfWorkgroup);
  group = g; // for the caller's functions (a private variable: not uniform to WGSL, so not for the loop below)
  ${groups.prologue}
  let rowsEnd = ${pick(groups.rows, "g")};
  let qBegin = 0;
  let qEnd = ${pick(groups.depths, "g")};`
    : `  let qBegin = split * ${i32(g.chunk)};
  let qEnd = min(${i32(g.depth)}, qBegin + ${i32(g.chunk)});`
}
  ${[...loads("A", g.aAlong), ...loads("B", g.bAlong)].map((x) => x.before).join("\n  ")}
  ${accs.map((a) => `var ${a} = vec4<f32>(0.0);`).join("\n  ")}
  ${registers.join("\n  ")}
  ${prefetch ? fetchBoth("qBegin") : ""}
  for (var step = 0; ${groups ? `step * ${DEPTH} < qEnd` : `step < ${steps}`}; step++) {
    let q0 = qBegin + step * ${DEPTH};
    ${prefetch ? "" : fetchBoth("q0")}
    ${putBoth}
    workgroupBarrier();
    ${prefetch ? fetchBoth(`q0 + ${DEPTH}`) : ""}
    for (var qq = 0; qq < ${DEPTH}; qq++) {
      let a = qq * ${SA} + ty;
      let b = qq * ${SB} + tx;
      ${range(RN / 4)
        .map((j) => `let b${j} = Bs[b + ${TX * j}];`)
        .join("\n      ")}
      ${range(RM / 4)
        .map((i) => `let a${i} = As[a + ${TY * i}];`)
        .join("\n      ")}
      ${range(RM)
        .flatMap((i) => range(RN / 4).map((j) => `${acc(i, j)} = fma(vec4<f32>(a${i >> 2}.${lane[i & 3]}), b${j}, ${acc(i, j)});`))
        .join("\n      ")}
    }
    workgroupBarrier();
  }
  ${range(RM)
    .map(
      (i) => `{
    let r = r0 + ty + ${TY * (i >> 2) + (i & 3) * (BM / 4)};
    if (r < ${rowBound}) {${range(RN)
      .map(
        (j) => `
      { let c = c0 + tx + ${TX * (j >> 2) + (j & 3) * (BN / 4)}; if (c < ${i32(g.cols)}) { store(split, r, c, ${acc(i, j >> 2)}.${lane[j & 3]}); } }`,
      )
      .join("")}
    }
  }`,
    )
    .join("\n  ")}
}
`;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** A split keeps at least this many steps through workgroup memory. */
const MIN_STEPS = 8;
/** Upper bound on the partial sums buffer (bytes). */
const MAX_PARTIAL_BYTES = 256 * 1024 * 1024;

/**
 * How the q range (`depth` long, `step` per step) of a product with `tiles` workgroups and `outSize` values is split
 * to give about `target` workgroups: each split at least MIN_STEPS steps, the partial sums within MAX_PARTIAL_BYTES.
 * `chunk` is q per split (a multiple of step).
 */
export function splitPlan(target: number, tiles: number, depth: number, outSize: number, step: number): { splits: number; chunk: number } {
  if (!(depth > 0)) return { splits: 1, chunk: step }; // (an empty sum: the product is zeros)
  let splits = Math.max(1, Math.min(Math.ceil(target / tiles), Math.floor(depth / (MIN_STEPS * step))));
  splits = Math.max(1, Math.min(splits, Math.floor(MAX_PARTIAL_BYTES / (4 * outSize))));
  const chunk = Math.ceil(depth / splits / step) * step;
  return { splits: Math.ceil(depth / chunk), chunk };
}

/**
 * The tile and the split of a product of `rows` × `cols` over `depth` that may split its sum (a forward
 * convolution; the input gradient's stride-1 products): the widest tile that gives gemmOptions.minWorkgroups
 * workgroups, counting splits of the sum where splitToWiden allows them (as many as the depth allows), then as
 * many splits as that tile needs.
 */
export function productPlan(rows: number, cols: number, depth: number): { tile: Tile; splits: number; chunk: number } {
  const tile = tileFor(cols, rows, gemmOptions.splitToWiden ? splitPlan(gemmOptions.minWorkgroups, 1, depth, rows * cols, 16).splits : 1);
  const tiles = Math.ceil(rows / tile.BM) * Math.ceil(cols / tile.BN);
  return { tile, ...splitPlan(gemmOptions.minWorkgroups, tiles, depth, rows * cols, tile.DEPTH) };
}

/**
 * The program adding `splits` slices of `size` floats of its first input ("partial") into an output of
 * `outputShape`, one thread per value; each sum is written as `finish(sum, index)` (WGSL, default the sum), which
 * may read `inputs` (bound after partial) and call what `prelude` (WGSL) defines.
 */
export function splitSumProgram(
  backend: Backend,
  splits: number,
  size: number,
  outputShape: number[],
  opts: { inputs?: string[]; finish?: (s: string, i: string) => string; prelude?: string } = {},
): Program {
  const grid = flatGrid(size, backend, "tsdlSplitSum");
  const finish = opts.finish ?? ((s: string) => s);
  return {
    variableNames: ["partial", ...(opts.inputs ?? [])],
    outputShape,
    name: "tsdlSplitSum",
    dispatch: [...grid.dispatch, 1],
    workgroupSize: [256, 1, 1],
    code: `${opts.prelude ?? ""}
fn main() {
  let i = ${grid.index};
  if (i < ${i32(size)}) {
    var s = 0.0;
    for (var k = 0; k < ${i32(splits)}; k++) { s = s + partial[k * ${i32(size)} + i]; }
    result[i] = ${finish("s", "i")};
  }
}
`,
  };
}
