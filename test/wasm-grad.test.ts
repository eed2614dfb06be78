// Gradient checks of tsdl's wasm conv2d gradient kernels against the cpu backend (and PyTorch goldens).
import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { backend, nn, optim, tf } from "tsdl";
import { BATCH_NORM_TRAIN } from "tsdl/dist/core/kernels";
// The instance the registered kernels read (tsdl resolves to dist/).
import { filterGradOptions, nativeStatus, wasmKernelOptions, type FilterGradStrategy } from "tsdl/dist/backend/wasm";
import { loadNative } from "tsdl/dist/backend/wasm/native/addon";
import { convGradTensors, goldenGradTensors, randn, relErr, torchConvGoldens, type ConvCase, type Pad } from "./helpers/convGrads";

type Case = ConvCase;

const P1: Pad = [
  [0, 0],
  [1, 1],
  [1, 1],
  [0, 0],
];
const P3: Pad = [
  [0, 0],
  [3, 3],
  [3, 3],
  [0, 0],
];
const named: Case[] = [
  { name: "3x3 s1 same", x: [2, 9, 9, 5], filter: [3, 3, 5, 7], strides: [1, 1], pad: "same" },
  { name: "3x3 s1 valid", x: [2, 8, 7, 4], filter: [3, 3, 4, 6], strides: [1, 1], pad: "valid" },
  { name: "3x3 s1 pad 1 (PyTorch)", x: [2, 8, 8, 6], filter: [3, 3, 6, 6], strides: [1, 1], pad: P1 },
  { name: "3x3 s2 same, even", x: [2, 10, 10, 4], filter: [3, 3, 4, 6], strides: [2, 2], pad: "same" },
  { name: "3x3 s2 same, odd", x: [2, 11, 11, 4], filter: [3, 3, 4, 6], strides: [2, 2], pad: "same" },
  { name: "3x3 s2 valid", x: [2, 12, 11, 3], filter: [3, 3, 3, 5], strides: [2, 2], pad: "valid" },
  { name: "3x3 s2 pad 1 (PyTorch), even", x: [3, 12, 12, 8], filter: [3, 3, 8, 16], strides: [2, 2], pad: P1 },
  { name: "3x3 s2 pad 1 (PyTorch), odd", x: [2, 11, 11, 8], filter: [3, 3, 8, 16], strides: [2, 2], pad: P1 },
  {
    name: "3x3 asymmetric explicit pad",
    x: [2, 9, 8, 3],
    filter: [3, 3, 3, 4],
    strides: [1, 1],
    pad: [
      [0, 0],
      [0, 2],
      [1, 0],
      [0, 0],
    ],
  },
  { name: "3x3 strides [2, 1]", x: [2, 9, 8, 3], filter: [3, 3, 3, 4], strides: [2, 1], pad: "same" },
  { name: "1x1 s1 valid", x: [2, 6, 6, 8], filter: [1, 1, 8, 12], strides: [1, 1], pad: "valid" },
  { name: "1x1 s2 valid (projection), even", x: [2, 10, 10, 8], filter: [1, 1, 8, 16], strides: [2, 2], pad: "valid" },
  { name: "1x1 s2 valid (projection), odd", x: [2, 11, 11, 8], filter: [1, 1, 8, 16], strides: [2, 2], pad: "valid" },
  { name: "1x1 s2 same", x: [2, 9, 9, 4], filter: [1, 1, 4, 5], strides: [2, 2], pad: "same" },
  { name: "7x7 s2 valid (stem)", x: [2, 23, 23, 3], filter: [7, 7, 3, 8], strides: [2, 2], pad: "valid" },
  { name: "7x7 s2 pad 3", x: [1, 20, 17, 3], filter: [7, 7, 3, 8], strides: [2, 2], pad: P3 },
  { name: "7x7 s1 same", x: [2, 12, 12, 2], filter: [7, 7, 2, 3], strides: [1, 1], pad: "same" },
];

/** Seeded random shapes over the same space: k in {1, 3, 7}, stride 1/2, same/valid/explicit padding. */
function randomCases(count: number, seed: number): Case[] {
  const r = randn(count * 8, seed).map((v) => Math.abs(v) % 1);
  const pick = <T>(xs: T[], u: number): T => xs[Math.floor(u * xs.length) % xs.length];
  const cases: Case[] = [];
  for (let i = 0; i < count; i++) {
    const u = r.subarray(i * 8, i * 8 + 8);
    const k = pick([1, 3, 3, 7], u[0]);
    const s = pick([1, 2], u[1]);
    const h = k + 1 + Math.floor(u[2] * 10);
    const w = k + 1 + Math.floor(u[3] * 10);
    const p = Math.floor(u[4] * ((k + 1) / 2));
    const pad = pick<Pad>(
      [
        "same",
        "valid",
        [
          [0, 0],
          [p, p],
          [p, p],
          [0, 0],
        ],
      ],
      u[5],
    );
    cases.push({
      name: `random ${i}: ${h}x${w} k${k} s${s} ${typeof pad === "string" ? pad : `pad ${p}`}`,
      x: [1 + Math.floor(u[6] * 3), h, w, 1 + Math.floor(u[7] * 7)],
      filter: [k, k, 1 + Math.floor(u[7] * 7), 1 + Math.floor(u[6] * 9)],
      strides: [s, s],
      pad,
    });
  }
  return cases;
}

interface Grads {
  dx: Float32Array;
  dw: Float32Array;
}

/** dx and dW of Σ conv2d(x, W) · dy through tf.grads, on the current backend. */
function convGrads(c: Case, seed: number): Grads {
  return tf.tidy(() => {
    const [dx, dw] = convGradTensors(c, seed);
    return { dx: dx.dataSync() as Float32Array, dw: dw.dataSync() as Float32Array };
  });
}

function onBackend<T>(name: "cpu" | "wasm", body: () => T): Promise<T> {
  return backend.init(name, { verbose: false }).then(() => body());
}

/** run() on the cpu backend (the reference), then on wasm with the native kernels on and off (left on after). */
async function cpuThenWasmNativeOnOff<T>(run: () => T): Promise<{ want: T; got: Array<[on: boolean, result: T]> }> {
  const want = await onBackend("cpu", run);
  await backend.init("wasm", { verbose: false });
  try {
    return { want, got: [true, false].map((on): [boolean, T] => ((wasmKernelOptions.native = on), [on, run()])) };
  } finally {
    wasmKernelOptions.native = true;
  }
}

const TOL = 1e-4;

describe("wasm conv2d gradients vs the cpu backend", function () {
  this.timeout(120_000);
  const cases = [...named, ...randomCases(14, 20261123)];
  const reference = new Map<string, Grads>();
  const saved = { ...filterGradOptions };

  before(async () => {
    await onBackend("cpu", () => cases.forEach((c, i) => reference.set(c.name, convGrads(c, 1000 + 10 * i))));
    await backend.init("wasm", { verbose: false });
  });
  afterEach(() => {
    Object.assign(filterGradOptions, saved);
    Object.assign(wasmKernelOptions, { native: true, dnnl: "auto" });
  });

  /** The three ways the kernels can run: native OpenBLAS (when it builds), XNNPACK with dW by conv or by im2col. */
  const modes: Array<{ name: string; native: boolean; dnnl: "always" | "off"; strategy: FilterGradStrategy }> = [
    { name: "native oneDNN", native: true, dnnl: "always", strategy: "conv" },
    { name: "native im2col + OpenBLAS", native: true, dnnl: "off", strategy: "conv" },
    { name: "XNNPACK, dW by conv", native: false, dnnl: "off", strategy: "conv" },
    { name: "XNNPACK, dW by im2col", native: false, dnnl: "off", strategy: "im2col" },
  ];
  for (const mode of modes) {
    it(`${mode.name}: dx and dW match on ${cases.length} shapes, max rel. error <= ${TOL}`, function () {
      if (mode.native && !nativeStatus().enabled) this.skip(); // reported by the next test
      if (mode.dnnl === "always" && !/oneDNN/.test(nativeStatus().detail)) this.skip(); // built without libdnnl-dev
      Object.assign(wasmKernelOptions, { native: mode.native, dnnl: mode.dnnl });
      filterGradOptions.strategy = mode.strategy;
      const errors: string[] = [];
      cases.forEach((c, i) => {
        const got = convGrads(c, 1000 + 10 * i);
        const want = reference.get(c.name)!;
        const ex = relErr(got.dx, want.dx);
        const ew = relErr(got.dw, want.dw);
        if (!(ex <= TOL && ew <= TOL)) errors.push(`${c.name}: dx ${ex.toExponential(2)}, dW ${ew.toExponential(2)}`);
      });
      assert.deepEqual(errors, []);
    });
  }

  it("native kernels: built and loaded where a C compiler and OpenBLAS exist (else a reason)", () => {
    const st = nativeStatus();
    if (process.env.TSDL_WASM_NATIVE === "0") return assert.match(st.detail, /TSDL_WASM_NATIVE=0/);
    const canBuild =
      ["/usr/bin/g++", "/usr/bin/make"].every((p) => fs.existsSync(p)) &&
      ["/usr/include/cblas.h", "/usr/include/x86_64-linux-gnu/cblas.h", "/usr/include/aarch64-linux-gnu/cblas.h"].some((p) =>
        fs.existsSync(p),
      );
    if (!canBuild) return assert.match(st.detail, /native kernels unavailable: .+/);
    assert.ok(st.enabled, st.detail);
    assert.match(st.detail, /OpenBLAS \d+\.\d+/);
    if (fs.existsSync("/usr/include/dnnl.h")) assert.match(st.detail, /oneDNN \d+\.\d+/);
  });

  it("native kernels: a malformed call throws naming the kernel, the argument and what is accepted", function () {
    const n = loadNative();
    if (!n) this.skip();
    const heap = new ArrayBuffer(64);
    const cases: Array<[() => void, RegExp]> = [
      [() => (n!.backpropInput as (...a: unknown[]) => void)(heap, new Int32Array(13)), /conv: got 2 arguments, expected 7/],
      [() => n!.backpropInput({} as ArrayBuffer, new Int32Array(13), 0, 0, 0, 0, 0), /conv: argument 0 must be the wasm heap ArrayBuffer/],
      [() => n!.backpropFilter(heap, new Int32Array(12), 0, 0, 0, 0), /conv: argument 1 must be an Int32Array\(13\) geometry/],
      [() => n!.maxPoolGrad(heap, new Int32Array(13), 0, 0, 0), /maxPoolGrad: argument 1 must be an Int32Array\(12\) geometry/],
      [
        () => n!.tile(heap, new Int32Array([2, 2]), new Int32Array([1]), 0, 0),
        /tile: argument 2 must be an Int32Array of reps, one per dimension/,
      ],
      [() => (n!.batchNorm as (...a: unknown[]) => void)(heap, 0, 0), /batchNorm: got 3 arguments, expected 10/],
    ];
    for (const [call, message] of cases) assert.throws(call, message);
  });

  it("native forward conv (Conv2D, FusedConv2D with bias + relu) matches the cpu backend", async function () {
    if (!nativeStatus().enabled) this.skip();
    const fwd = () =>
      named.map((c, i) =>
        tf.tidy(() => {
          const x = tf.tensor4d(
            randn(
              c.x.reduce((a, b) => a * b),
              7 + i,
            ),
            c.x,
          );
          const w = tf.tensor4d(
            randn(
              c.filter.reduce((a, b) => a * b),
              8 + i,
            ),
            c.filter,
          );
          const b = tf.tensor1d(randn(c.filter[3], 9 + i));
          const plain = tf.conv2d(x, w, c.strides, c.pad).dataSync() as Float32Array;
          const fused = tf.fused
            .conv2d({ x, filter: w, strides: c.strides, pad: c.pad, bias: b, activation: "relu" })
            .dataSync() as Float32Array;
          return { plain, fused };
        }),
      );
    await backend.init("cpu", { verbose: false });
    const want = fwd();
    await backend.init("wasm", { verbose: false });
    for (const dnnl of ["always", "off"] as const) {
      Object.assign(wasmKernelOptions, { native: true, dnnl });
      const got = fwd();
      const errors = named
        .map((c, i) => ({ c, p: relErr(got[i].plain, want[i].plain), f: relErr(got[i].fused, want[i].fused) }))
        .filter(({ p, f }) => !(p <= TOL && f <= TOL))
        .map(
          ({ c, p, f }) =>
            `${dnnl === "always" ? "oneDNN" : "OpenBLAS"} ${c.name}: conv2d ${p.toExponential(2)}, fused ${f.toExponential(2)}`,
        );
      assert.deepEqual(errors, []);
    }
  });

  it("autotuned (dnnl auto): every call of a new shape gives the same bits, the first one included", function () {
    if (!/oneDNN/.test(nativeStatus().detail)) this.skip(); // one path only: nothing to choose between
    // An empty choices folder, so the first call is the one that times oneDNN against im2col + OpenBLAS.
    const choices = fs.mkdtempSync(path.join(os.tmpdir(), "tsdl-choices-"));
    const saved = wasmKernelOptions.convChoices;
    Object.assign(wasmKernelOptions, { native: true, dnnl: "auto", convChoices: choices });
    const c: Case = { name: "autotune", x: [2, 13, 13, 24], filter: [3, 3, 24, 20], strides: [1, 1], pad: "same" };
    let runs;
    try {
      runs = Array.from({ length: 6 }, () => {
        const g = convGrads(c, 77);
        const y = tf.tidy(
          () =>
            tf
              .conv2d(tf.tensor4d(randn(2 * 13 * 13 * 24, 78), c.x), tf.tensor4d(randn(3 * 3 * 24 * 20, 79), c.filter), 1, "same")
              .dataSync() as Float32Array,
        );
        return { y, ...g };
      });
      assert.equal(fs.readdirSync(choices).length, 3, "one choice each for the forward conv, dx and dW");
    } finally {
      wasmKernelOptions.convChoices = saved;
      fs.rmSync(choices, { recursive: true, force: true });
    }
    const differ = runs
      .slice(1)
      .flatMap((r, i) => (["y", "dx", "dw"] as const).filter((k) => relErr(r[k], runs[0][k]) !== 0).map((k) => `call ${i + 2} ${k}`));
    assert.deepEqual(differ, []);
  });

  it("splits the im2col batch into chunks with the same result", () => {
    wasmKernelOptions.native = false;
    filterGradOptions.strategy = "im2col";
    filterGradOptions.maxColumns = 500; // forces one image per chunk
    const errors: string[] = [];
    cases.forEach((c, i) => {
      if (c.x[0] < 2) return;
      const got = convGrads(c, 1000 + 10 * i);
      const ew = relErr(got.dw, reference.get(c.name)!.dw);
      if (!(ew <= TOL)) errors.push(`${c.name}: dW ${ew.toExponential(2)}`);
    });
    assert.deepEqual(errors, []);
  });

  it("leaves no tensors or backend buffers behind", () => {
    const c = named[6];
    convGrads(c, 1); // warm-up
    const before = { tensors: tf.memory().numTensors, data: tf.backend().numDataIds() };
    for (let i = 0; i < 3; i++) convGrads(c, 1);
    for (const mode of modes) {
      Object.assign(wasmKernelOptions, { native: mode.native, dnnl: mode.dnnl });
      filterGradOptions.strategy = mode.strategy;
      convGrads(named[14], 2);
    }
    assert.deepEqual({ tensors: tf.memory().numTensors, data: tf.backend().numDataIds() }, before);
  });

  it("rejects NCHW and dilations with an error naming the value", () => {
    const x = tf.zeros([1, 5, 5, 2]);
    const dy = tf.zeros([1, 5, 5, 3]);
    const w = tf.zeros([3, 3, 2, 3]);
    const attrs = { strides: 1, pad: "same" };
    assert.throws(
      () => tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, { ...attrs, dataFormat: "NCHW", filterShape: [3, 3, 2, 3] }),
      /dataFormat "NCHW" is not supported; accepted: "NHWC"/,
    );
    assert.throws(
      () =>
        tf
          .engine()
          .runKernel("Conv2DBackpropInput", { dy, filter: w }, { ...attrs, dataFormat: "NHWC", dilations: 2, inputShape: [1, 5, 5, 2] }),
      /dilations 2 are not supported; accepted: 1/,
    );
    tf.dispose([x, dy, w]);
  });
});

describe("wasm conv2d gradients vs PyTorch goldens", () => {
  const goldens = torchConvGoldens();
  before(() => backend.init("wasm", { verbose: false }));

  for (const g of goldens) {
    it(`${g.name}: dx and dW match torch.autograd (rel. error <= ${TOL})`, () => {
      const [dx, dw] = tf.tidy(() => goldenGradTensors(g).map((t) => t.dataSync() as Float32Array));
      assert.ok(relErr(dx, g.dx) <= TOL, `dx rel. error ${relErr(dx, g.dx)}`);
      assert.ok(relErr(dw, g.dw) <= TOL, `dW rel. error ${relErr(dw, g.dw)}`);
    });
  }
});

describe("native Tile, Sum, Mean, MaxPoolGrad, AvgPoolGrad, Slice and FusedBatchNorm on wasm vs the cpu backend", () => {
  /** Results of the ops under test on the current backend, flattened. */
  const run = (): Record<string, Float32Array | Int32Array> =>
    tf.tidy(() => {
      const x = tf.tensor4d(randn(3 * 9 * 7 * 5, 11), [3, 9, 7, 5]);
      const v = tf.tensor(randn(5, 12), [1, 1, 1, 5]);
      const ints = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3], "int32");
      const out: Record<string, tf.Tensor> = {
        "tile [1,1,1,C] by [N,H,W,1]": tf.tile(v, [3, 9, 7, 1]),
        "tile 4-d by [2,1,3,2]": tf.tile(x, [2, 1, 3, 2]),
        "tile int32 2-d": tf.tile(ints, [3, 2]),
        "sum over N,H,W": tf.sum(x, [0, 1, 2]),
        "sum over N,H,W keepDims": tf.sum(x, [0, 1, 2], true),
        "sum over trailing H,W,C": tf.sum(x, [1, 2, 3]),
        "sum over H (fallback)": tf.sum(x, 1),
        "sum of all": tf.sum(x),
        "mean over N,H,W": tf.mean(x, [0, 1, 2]),
        "mean over C": tf.mean(x, -1, true),
        "grad of mean over N,H,W": tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.mean(t, [0, 1, 2]), tf.linspace(1, 2, 5))))(x),
        "grad of mean over H, keepDims": tf.grad((t: tf.Tensor) =>
          tf.sum(tf.mul(tf.mean(t, 1, true), tf.onesLike(tf.mean(t, 1, true)).mul(3))),
        )(x),
        "batchNorm with scale and offset": tf.batchNorm(
          x,
          tf.mean(x, [0, 1, 2]),
          tf.add(tf.moments(x, [0, 1, 2]).variance, 0.5),
          tf.linspace(-1, 1, 5),
          tf.linspace(0.5, 2, 5),
          1e-5,
        ),
        "batchNorm without scale/offset, rank-4 stats": tf.batchNorm(
          x,
          tf.fill([1, 1, 1, 5], 0.25),
          tf.fill([1, 1, 1, 5], 2),
          undefined,
          undefined,
          1e-3,
        ),
      };
      const pool = (pad: "valid" | "same", k: number, s: number) =>
        tf.grad((t: tf.Tensor) =>
          tf.sum(
            tf.mul(
              tf.maxPool(t as tf.Tensor4D, k, s, pad),
              tf.linspace(-1, 2, tf.maxPool(t as tf.Tensor4D, k, s, pad).size).reshape(tf.maxPool(t as tf.Tensor4D, k, s, pad).shape),
            ),
          ),
        )(x);
      out["maxPoolGrad 3x3/2 valid"] = pool("valid", 3, 2);
      out["maxPoolGrad 3x3/2 same"] = pool("same", 3, 2);
      out["maxPoolGrad 2x2/2 valid"] = pool("valid", 2, 2);
      out["maxPoolGrad ties (first max wins)"] = tf.grad((t: tf.Tensor) => tf.sum(tf.maxPool(t as tf.Tensor4D, 3, 2, "valid")))(
        tf.ones([1, 7, 7, 2]),
      );
      const big = tf.tensor4d(randn(4 * 23 * 23 * 16, 13), [4, 23, 23, 16]); // enough for both threads
      out["maxPoolGrad 3x3/2 valid, 4 images on two threads"] = tf.grad((t: tf.Tensor) =>
        tf.sum(tf.mul(tf.maxPool(t as tf.Tensor4D, 3, 2, "valid"), 1.5)),
      )(big);
      const avg = (k: number, s: number, pad: "valid" | "same") => {
        const weights = tf.avgPool(big, k, s, pad).neg();
        return tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.avgPool(t as tf.Tensor4D, k, s, pad), weights)))(big);
      };
      out["avgPoolGrad 3x3/3 valid"] = avg(3, 3, "valid");
      out["avgPoolGrad 2x2/1 valid (overlapping windows)"] = avg(2, 1, "valid");
      out["avgPoolGrad 3x3/2 same (stock)"] = avg(3, 2, "same");
      const wide = tf.tensor4d(randn(4 * 30 * 30 * 16, 14), [4, 30, 30, 16]);
      out["slice 4-d"] = tf.slice(wide, [1, 2, 3, 1], [3, 28, 27, 15]);
      out["slice 4-d, whole rows"] = tf.slice(wide, [0, 1, 0, 0], [4, 28, 30, 16]);
      out["slice 2-d int32"] = tf.slice(tf.range(0, 60000, 1, "int32").reshape([300, 200]), [7, 3], [290, 190]);
      out["slice 1-d"] = tf.slice(big.reshape([-1]), [5], [33800]);
      out["slice gradient (a pad's)"] = tf.grad((t: tf.Tensor) =>
        tf.sum(
          tf.mul(
            tf.pad(t, [
              [0, 0],
              [1, 1],
              [1, 1],
              [0, 0],
            ]),
            2,
          ),
        ),
      )(big);
      return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.dataSync() as Float32Array | Int32Array]));
    });

  it("match (max rel. error <= 1e-5) with the native kernels on, and with them off", async function () {
    if (!nativeStatus().enabled) this.skip();
    const n = loadNative()!;
    const calls = { slice: 0, avgPoolGrad: 0 };
    const saved = { slice: n.slice, avgPoolGrad: n.avgPoolGrad };
    for (const k of Object.keys(calls) as Array<keyof typeof calls>) {
      (n as unknown as Record<string, unknown>)[k] = (...args: unknown[]) => (calls[k]++, (saved[k] as (...a: unknown[]) => void)(...args));
    }
    let result: Awaited<ReturnType<typeof cpuThenWasmNativeOnOff<ReturnType<typeof run>>>>;
    try {
      result = await cpuThenWasmNativeOnOff(run);
    } finally {
      Object.assign(n, saved);
    }
    assert.deepEqual(calls, { slice: 5, avgPoolGrad: 2 }, "the large slices and the valid pools ran natively");
    const { want, got } = result;
    for (const [on, g] of got) {
      const bad = Object.keys(want).filter((k) => !(relErr(g[k] as Float32Array, want[k] as Float32Array) <= 1e-5));
      assert.deepEqual(bad, [], `native ${on}`);
    }
  });
});

describe("wasm Identity and same-dtype Cast share data instead of copying", () => {
  before(() => backend.init("wasm", { verbose: false }));

  it("a clone outlives its source, same-dtype casts too, and nothing leaks", () => {
    const start = { tensors: tf.memory().numTensors, data: tf.backend().numDataIds() };
    const a = tf.tensor1d([1, 2, 3]);
    const b = tf.clone(a);
    const c = tf.cast(a, "float32");
    const d = tf.cast(a, "int32");
    assert.equal(tf.backend().numDataIds(), start.data + 2, "clone and same-dtype cast add no buffer; a real cast does");
    a.dispose();
    assert.deepEqual([...b.dataSync()], [1, 2, 3]);
    b.dispose();
    assert.deepEqual([...c.dataSync()], [1, 2, 3]);
    assert.deepEqual([...d.dataSync()], [1, 2, 3]);
    tf.dispose([c, d]);
    assert.deepEqual({ tensors: tf.memory().numTensors, data: tf.backend().numDataIds() }, start);
  });
});

describe("batch-norm gradient on wasm (fused native kernel) vs the cpu backend", () => {
  /**
   * dx, dγ, dβ of Σ w·BN(x) with batch statistics, as BatchNorm2d trains, and dx alone. (tfjs 4.22 cannot
   * differentiate batchNorm with rank-4 statistics or without both γ and β, on any backend: not covered.)
   */
  const run = (): Float32Array[] =>
    tf.tidy(() => {
      const x = tf.tensor4d(
        randn(4 * 6 * 5 * 7, 21).map((v) => 3 * v + 1),
        [4, 6, 5, 7],
      );
      const w = tf.tensor4d(randn(4 * 6 * 5 * 7, 22), [4, 6, 5, 7]);
      const gamma = tf.tensor1d(randn(7, 23));
      const beta = tf.tensor1d(randn(7, 24));
      const bn = (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
        const { mean, variance } = tf.moments(xx, [0, 1, 2]);
        return tf.sum(tf.mul(tf.batchNorm(xx, mean, variance, b as tf.Tensor1D, g as tf.Tensor1D, 1e-5), w));
      };
      const full = tf.grads((xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => bn(xx, g, b))([x, gamma, beta]);
      const xOnly = tf.grads((xx: tf.Tensor) => bn(xx, gamma, beta))([x]);
      return [...full, ...xOnly].map((t) => t.dataSync() as Float32Array);
    });

  it("dx, dγ, dβ match (max rel. error <= 1e-4) with the native kernels on and off", async function () {
    await backend.init("wasm", { verbose: false }); // registers the kernels (and the gradient wrapper)
    if (!nativeStatus().enabled) this.skip();
    const { want, got } = await cpuThenWasmNativeOnOff(run);
    for (const [on, g] of got) {
      const errs = g.map((t, i) => relErr(t, want[i]));
      assert.ok(
        errs.every((e) => e <= 1e-4),
        `native ${on}: ${errs.map((e) => e.toExponential(1))}`,
      );
    }
  });

  it("uses the fused kernel on wasm (one kernel call instead of tfjs's elementwise chain)", async function () {
    await backend.init("wasm", { verbose: false });
    if (!nativeStatus().enabled) this.skip();
    const config = tf.getKernel("TsdlFusedBatchNormGrad", "wasm") as { kernelFunc: tf.KernelFunc };
    const inner = config.kernelFunc;
    let calls = 0;
    config.kernelFunc = (args) => (calls++, inner(args));
    try {
      run();
    } finally {
      config.kernelFunc = inner;
    }
    assert.equal(calls, 2, "both cases go through the fused kernel");
  });
});

describe("BatchNorm2d in training mode on wasm (one native kernel each way) vs the cpu backend", () => {
  /**
   * The layer's output, running statistics and the gradients of Σ w·y for x, γ and β, at two
   * shapes (many rows in few channels as the ResNet's stem, few rows in many as its last block); and the kernel
   * called directly with a loss on its mean and variance outputs too (their gradients reach x).
   */
  const run = (): Float32Array[] =>
    tf.tidy(() => {
      const out: tf.Tensor[] = [];
      // (Not affine = no γ, β: tfjs 4.22 cannot differentiate batchNorm without them, so the cpu reference cannot.)
      for (const [shape, affine, seed] of [
        [[4, 9, 7, 6], true, 31],
        [[3, 2, 2, 40], true, 41],
      ] as const) {
        const x = tf.tensor4d(
          randn(
            shape.reduce((a, b) => a * b),
            seed,
          ).map((v) => 3 * v + 1),
          [...shape],
        );
        const w = tf.tensor4d(randn(x.size, seed + 1), [...shape]);
        const layer = nn.batchNorm2d({ affine, momentum: 0.3 });
        layer.build(x.shape);
        if (affine)
          layer.setWeights([
            tf.tensor1d(randn(shape[3], seed + 2)),
            tf.tensor1d(randn(shape[3], seed + 3)),
            tf.zeros([shape[3]]),
            tf.ones([shape[3]]),
          ]);
        const vars = layer.trainableWeights.map((v) => (v as unknown as { val: tf.Variable }).val);
        const f = (xx: tf.Tensor) => tf.sum(tf.mul(layer.apply(xx, { training: true }) as tf.Tensor, w)) as tf.Scalar;
        if (vars.length) {
          const { value, grads } = tf.variableGrads(() => f(x), vars);
          out.push(value, ...vars.map((v) => grads[v.name]));
        }
        out.push(tf.grad(f)(x), ...layer.getWeights().slice(affine ? 2 : 0));
      }
      return out.map((t) => t.dataSync() as Float32Array);
    });

  it("y, running statistics, dx, dγ, dβ match (max rel. error <= 1e-5), and the kernel is the one used", async function () {
    await backend.init("wasm", { verbose: false });
    if (!nativeStatus().enabled) this.skip();
    const want = await onBackend("cpu", run);
    await backend.init("wasm", { verbose: false });
    const config = tf.getKernel(BATCH_NORM_TRAIN, "wasm") as { kernelFunc: tf.KernelFunc };
    const inner = config.kernelFunc;
    let calls = 0;
    config.kernelFunc = (args) => (calls++, inner(args));
    let got: Float32Array[];
    try {
      got = run();
    } finally {
      config.kernelFunc = inner;
    }
    assert.equal(calls, 4, "every training-mode forward pass");
    const errs = got.map((t, i) => relErr(t, want[i]));
    assert.ok(
      errs.every((e) => e <= 1e-5),
      errs.map((e) => e.toExponential(1)).join(" "),
    );
    wasmKernelOptions.native = false; // without the add-on the layer composes tfjs ops again
    try {
      const off = run();
      assert.ok(off.every((t, i) => relErr(t, want[i]) <= 1e-5));
    } finally {
      wasmKernelOptions.native = true;
    }
  });

  it("the gradients reaching the batch mean and variance outputs go to x (the kernel called directly)", async function () {
    await backend.init("wasm", { verbose: false });
    if (!nativeStatus().enabled) this.skip();
    const loss = (xx: tf.Tensor, direct: boolean) => {
      const w = tf.tensor4d(randn(xx.size, 52), xx.shape as [number, number, number, number]);
      const g = tf.tensor1d(randn(5, 53));
      const b = tf.tensor1d(randn(5, 54));
      const [y, mean, variance] = direct
        ? (tf.engine().runKernel(BATCH_NORM_TRAIN, { x: xx, scale: g, offset: b }, {
            varianceEpsilon: 1e-3,
            relu: true,
          } as unknown as tf.NamedAttrMap) as tf.Tensor[])
        : (() => {
            const m = tf.moments(xx, [0, 1, 2]);
            return [tf.relu(tf.batchNorm(xx, m.mean, m.variance, b, g, 1e-3)), m.mean, m.variance];
          })();
      return tf.addN([tf.sum(tf.mul(y, w)), tf.sum(tf.mul(mean, tf.range(1, 6))), tf.sum(tf.mul(variance, tf.range(2, 7)))]);
    };
    const x = () =>
      tf.tensor4d(
        randn(3 * 4 * 4 * 5, 51).map((v) => 2 * v - 1),
        [3, 4, 4, 5],
      );
    const want = await onBackend("cpu", () =>
      tf.tidy(
        () =>
          tf
            .grad((xx: tf.Tensor) => loss(xx, false))(x())
            .dataSync() as Float32Array,
      ),
    );
    await backend.init("wasm", { verbose: false });
    const got = tf.tidy(
      () =>
        tf
          .grad((xx: tf.Tensor) => loss(xx, true))(x())
          .dataSync() as Float32Array,
    );
    assert.ok(relErr(got, want) <= 1e-5, `dx: ${relErr(got, want).toExponential(1)}`);
  });
});

describe("native Relu, Relu's gradient, Add, Sub, Multiply on wasm: the stock kernels' bits, on both threads", () => {
  const N = 40_000; // above the size where the add-on takes over
  const special = [NaN, Infinity, -Infinity, 0, -0, 1e-40, -1e-40, 3.5];
  const data = (seed: number) => Float32Array.from(randn(N, seed), (v, i) => (i < special.length ? special[i] : v));
  const run = (): Float32Array[] =>
    tf.tidy(() => {
      const a = tf.tensor2d(data(61), [200, 200]);
      const b = tf.tensor2d(data(62).reverse(), [200, 200]);
      const s = tf.scalar(0.37);
      const outs = [tf.relu(a), tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.relu(t), b)))(a)];
      for (const f of [tf.add, tf.sub, tf.mul]) outs.push(f(a, b), f(a, s), f(s, b), f(a, tf.tensor2d([[2.5]])));
      return outs.map((t) => t.dataSync() as Float32Array);
    });
  const bits = (x: Float32Array) => Array.from(new Uint32Array(x.buffer), (u, i) => (Number.isNaN(x[i]) ? "NaN" : u));

  it("equal bit for bit (NaN, ±Infinity, ±0 and subnormals included) to the stock kernels, and run natively", async function () {
    await backend.init("wasm", { verbose: false });
    if (!nativeStatus().enabled) this.skip();
    const n = loadNative()!;
    const calls: Record<string, number> = { relu: 0, reluGrad: 0, binary: 0 };
    const saved = { relu: n.relu, reluGrad: n.reluGrad, binary: n.binary };
    for (const k of Object.keys(calls) as Array<keyof typeof saved>) {
      (n as unknown as Record<string, unknown>)[k] = (...args: unknown[]) => (calls[k]++, (saved[k] as (...a: unknown[]) => void)(...args));
    }
    let on: Float32Array[];
    try {
      on = run();
    } finally {
      Object.assign(n, saved);
    }
    assert.deepEqual([calls.relu, calls.reluGrad], [2, 1]);
    assert.ok(calls.binary >= 12, `binary: ${calls.binary} calls`); // 12 here, more from the gradient's loss
    wasmKernelOptions.native = false;
    let off: Float32Array[];
    try {
      off = run();
    } finally {
      wasmKernelOptions.native = true;
    }
    on.forEach((t, i) => assert.deepEqual(bits(t), bits(off[i]), `output ${i}`));
  });
});

describe("optim.SGD on wasm: one native pass per parameter, the composed ops' bits", () => {
  // A large parameter (both threads) and a small one (below the size where the add-on runs Add and Multiply).
  const shapes: Array<[number, number]> = [
    [300, 200],
    [7, 5],
  ];
  const special = [NaN, Infinity, -Infinity, 0, -0, 1e-40, -1e-40, 3.5];
  const run = (options: { weightDecay: number; maximize: boolean }): Float32Array[] => {
    const params = tf.tidy(() =>
      shapes.map(([r, c], k) =>
        tf.variable(
          tf.tensor2d(
            Float32Array.from(randn(r * c, 70 + k), (v, i) => (i < special.length ? special[i] : v)),
            [r, c],
          ),
        ),
      ),
    );
    const opt = new optim.SGD(params, { lr: 0.013, ...options });
    for (let step = 0; step < 3; step++) {
      tf.tidy(() => {
        const grads: tf.NamedTensorMap = {};
        params.forEach((p, k) => (grads[p.name] = tf.tensor2d(randn(p.size, 80 + 10 * step + k), p.shape as [number, number])));
        opt.step(grads);
      });
    }
    const out = params.map((p) => p.dataSync() as Float32Array);
    tf.dispose(params);
    return out;
  };
  const bits = (x: Float32Array) => Array.from(new Uint32Array(x.buffer), (u, i) => (Number.isNaN(x[i]) ? "NaN" : u));

  it("weight decay or none, maximize or not: equal bit for bit to tfjs's ops, the fused kernel once per parameter and step, nothing leaks", async function () {
    await backend.init("wasm", { verbose: false });
    if (!nativeStatus().enabled) this.skip();
    const n = loadNative()!;
    for (const options of [
      { weightDecay: 1e-4, maximize: false },
      { weightDecay: 0, maximize: false },
      { weightDecay: 0.5, maximize: true },
    ]) {
      const saved = n.sgdStep;
      let calls = 0;
      n.sgdStep = (...args) => (calls++, saved(...args));
      const before = tf.memory().numTensors;
      let on: Float32Array[];
      try {
        on = run(options);
      } finally {
        n.sgdStep = saved;
      }
      assert.equal(calls, 3 * shapes.length, JSON.stringify(options));
      assert.equal(tf.memory().numTensors, before, "tensors leaked");
      wasmKernelOptions.native = false;
      let off: Float32Array[];
      try {
        off = run(options);
      } finally {
        wasmKernelOptions.native = true;
      }
      on.forEach((t, i) => assert.deepEqual(bits(t), bits(off[i]), `${JSON.stringify(options)}: parameter ${i}`));
    }
  });
});
