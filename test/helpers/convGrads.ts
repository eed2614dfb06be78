// What the conv-gradient tests of every backend share: seeded inputs, the case shape, dx and dW through tf.grads,
// and the error measure.
import assert from "node:assert/strict";
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
