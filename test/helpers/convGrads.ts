// What the conv-gradient tests of every backend share: seeded inputs, the case shape, dx and dW through tf.grads,
// and the error measure.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { tf } from "tsdl";

export type Pad = "same" | "valid" | [[number, number], [number, number], [number, number], [number, number]];

export interface ConvCase {
  name: string;
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: [number, number];
  pad: Pad;
}

/** Seeded standard normal values (Box–Muller on mulberry32). */
export function randn(size: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const uniform = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 1) / 4294967297;
  };
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  return out;
}

/** max|a - b| / max|b|: robust where b has entries near zero. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return den === 0 ? num : num / den;
}

/** [dx, dW] of Σ conv2d(x, W)·dy through tf.grads on the current backend (x, W, dy seeded; call inside tf.tidy). */
export function convGradTensors(c: ConvCase, seed: number): [tf.Tensor, tf.Tensor] {
  const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
  const x = tf.tensor4d(randn(size(c.x), seed), c.x);
  const w = tf.tensor4d(randn(size(c.filter), seed + 1), c.filter);
  const yShape = tf.conv2d(x, w, c.strides, c.pad).shape;
  const dy = tf.tensor(randn(size(yShape), seed + 2), yShape);
  const f = (xx: tf.Tensor, ww: tf.Tensor): tf.Tensor =>
    tf.sum(tf.mul(tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, c.strides, c.pad), dy));
  const [dx, dw] = tf.grads(f)([x, w]);
  return [dx, dw];
}

/** A case of test/fixtures/conv2d-grads.json (test/goldens: torch.autograd on NCHW, stored NHWC). */
export interface TorchConvGolden {
  name: string;
  stride: number;
  padding: number;
  x: number[];
  xShape: [number, number, number, number];
  w: number[];
  wShape: [number, number, number, number];
  dy: number[];
  dyShape: [number, number, number, number];
  dx: number[];
  dw: number[];
}

export function torchConvGoldens(): TorchConvGolden[] {
  return JSON.parse(fs.readFileSync(path.join(__dirname, "..", "fixtures", "conv2d-grads.json"), "utf8")) as TorchConvGolden[];
}

/** [dx, dW] of a golden's Σ conv2d(x, W)·dy on the current backend, PyTorch's symmetric padding (call inside tf.tidy). */
export function goldenGradTensors(g: TorchConvGolden): [tf.Tensor, tf.Tensor] {
  const x = tf.tensor4d(g.x, g.xShape);
  const w = tf.tensor4d(g.w, g.wShape);
  const dy = tf.tensor4d(g.dy, g.dyShape);
  const p = g.padding;
  const pad: Pad = [
    [0, 0],
    [p, p],
    [p, p],
    [0, 0],
  ];
  const f = (xx: tf.Tensor, ww: tf.Tensor): tf.Tensor => tf.sum(tf.mul(tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, g.stride, pad), dy));
  const [dx, dw] = tf.grads(f)([x, w]);
  return [dx, dw];
}
