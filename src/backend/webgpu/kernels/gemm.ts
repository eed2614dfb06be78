// A tiled matrix product in WGSL, C[r, c] = Σ_q A(r, q)·B(q, c), with A and B read through functions the caller
// writes (so a convolution reads its patches in place: no im2col buffer), optionally split along q.
//
// A workgroup computes a BM×BN tile of C, each thread 4×4 values: rows ty + TY·i and columns tx + TX·j for a grid
// of TY×TX threads (so a warp reads shared memory without bank conflicts and writes C coalesced along c). The q
// range is walked DEPTH at a time through workgroup memory; each operand tile is loaded with consecutive threads
// along the operand's contiguous index ("r"/"c" or "q"), so global reads coalesce. Narrow outputs (few columns:
// a convolution's 3 input channels) get tall tiles, so few threads compute padding. Split s of S covers q in
// [s·chunk, (s+1)·chunk) and writes its own slice of the output; a second pass adds the slices.
import { i32 } from "./program";

export interface Tile {
  /** Rows and columns of C per workgroup. */
  BM: number;
  BN: number;
  /** q per step through workgroup memory. */
  DEPTH: number;
}

/** 64×64 for wide outputs, 256×16 and 512×4 for narrow ones (workgroup memory stays within 17 KB). */
export function tileFor(cols: number): Tile {
  if (cols >= 48) return { BM: 64, BN: 64, DEPTH: 16 };
  if (cols >= 12) return { BM: 256, BN: 16, DEPTH: 16 };
  return { BM: 512, BN: 4, DEPTH: 8 };
}

/** Workgroup size of a tile: one thread per 4×4 block of C. */
export function tileThreads(t: Tile): [number, number, number] {
  return [t.BN / 4, t.BM / 4, 1];
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
   * WGSL: `fn loadA(r: i32, q: i32) -> f32` and `fn loadB(q: i32, c: i32) -> f32` (called in range only) and
   * `fn store(split: i32, r: i32, c: i32, v: f32)` (called in range only).
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
  const { BM, BN, DEPTH } = g.tile;
  if (g.chunk % DEPTH !== 0) throw new Error(`tsdl: gemm chunk ${g.chunk} is not a multiple of ${DEPTH}`);
  const [TX, TY] = tileThreads(g.tile);
  const threads = TX * TY;
  const steps = g.chunk / DEPTH;
  // Padded rows (odd strides): a column of the tile written by consecutive threads hits distinct banks.
  const SA = BM + 1;
  const SB = BN + 1;
  const groups = g.groups;
  const rowBound = groups ? "rowsEnd" : i32(g.rows);
  const tileLoad = (which: "A" | "B", along: "r" | "c" | "q") => {
    const [origin, span, stride] = which === "A" ? ["r0", BM, SA] : ["c0", BN, SB];
    const bound = which === "A" ? rowBound : i32(g.cols);
    const call = which === "A" ? "loadA(o, q)" : "loadB(q, o)";
    const count = Math.ceil((span * DEPTH) / threads);
    // e -> (qq: q within the tile, oo: r or c within the tile), consecutive threads along the contiguous index.
    const split = along === "q" ? `let qq = e % ${DEPTH}; let oo = e / ${DEPTH};` : `let oo = e % ${span}; let qq = e / ${span};`;
    return `
    for (var l = 0; l < ${count}; l++) {
      let e = t + l * ${threads};
      if (e < ${span * DEPTH}) {
        ${split}
        let q = q0 + qq;
        let o = ${origin} + oo;
        var v = 0.0;
        if (q < qEnd && o < ${bound}) { v = ${call}; }
        ${which}s[qq * ${stride} + oo] = v;
      }
    }`;
  };
  const rowsOf = (k: number) => `As[a + ${TY * k}]`;
  return `
${g.functions}

${groups ? "var<private> group: i32;\nvar<workgroup> groupOfWorkgroup: i32;" : ""}
var<workgroup> As : array<f32, ${DEPTH * SA}>;
var<workgroup> Bs : array<f32, ${DEPTH * SB}>;

fn main() {
  _ = uniforms.NAN; // tfjs binds its uniforms to every program: use them, or the pipeline's layout lacks the binding
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
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var step = 0; ${groups ? `step * ${DEPTH} < qEnd` : `step < ${steps}`}; step++) {
    let q0 = qBegin + step * ${DEPTH};
    ${tileLoad("A", g.aAlong)}
    ${tileLoad("B", g.bAlong)}
    workgroupBarrier();
    for (var qq = 0; qq < ${DEPTH}; qq++) {
      let a = qq * ${SA} + ty;
      let b = qq * ${SB} + tx;
      let bv = vec4<f32>(Bs[b], Bs[b + ${TX}], Bs[b + ${2 * TX}], Bs[b + ${3 * TX}]);
      acc0 = fma(vec4<f32>(${rowsOf(0)}), bv, acc0);
      acc1 = fma(vec4<f32>(${rowsOf(1)}), bv, acc1);
      acc2 = fma(vec4<f32>(${rowsOf(2)}), bv, acc2);
      acc3 = fma(vec4<f32>(${rowsOf(3)}), bv, acc3);
    }
    workgroupBarrier();
  }
  let accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
  for (var i = 0; i < 4; i++) {
    let r = r0 + ty + ${TY} * i;
    if (r < ${rowBound}) {
      for (var j = 0; j < 4; j++) {
        let c = c0 + tx + ${TX} * j;
        if (c < ${i32(g.cols)}) { store(split, r, c, accs[i][j]); }
      }
    }
  }
}
`;
}

/** WGSL `main()` summing `splits` slices of `size` floats from input `partial` into result. Dispatch [ceil(size/256), 1, 1]. */
export function splitSumSource(splits: number, size: number): string {
  return `
fn main() {
  _ = uniforms.NAN;
  let i = i32(workgroupId.x) * 256 + i32(localId.x);
  if (i < ${i32(size)}) {
    var s = 0.0;
    for (var k = 0; k < ${i32(splits)}; k++) { s = s + partial[k * ${i32(size)} + i]; }
    result[i] = s;
  }
}
`;
}
