// Mean's and Sum's gradients (src/backend/gradients.ts): tfjs's values, bit for bit, without a full-size ones tensor
// (on a GPU that tensor is filled on the CPU and uploaded every step).
import assert from "node:assert/strict";
import { backend, tf } from "tsdl";

/** tfjs's own formulas: (reshape(dy) · ones(x.shape)) / n for Mean, reshape(dy) · ones(x.shape) for Sum. */
function reference(kind: "mean" | "sum", x: tf.Tensor, dy: tf.Tensor, axes: number[]): tf.Tensor {
  return tf.tidy(() => {
    const shape = x.shape.map((s, i) => (axes.includes(i) ? 1 : s));
    const full = tf.mul(tf.reshape(dy, shape), tf.ones(x.shape, "float32"));
    return kind === "mean" ? tf.div(full, tf.util.sizeFromShape(axes.map((a) => x.shape[a]))) : full;
  });
}

for (const name of ["cpu", "wasm"] as const) {
  describe(`Mean and Sum gradients on ${name}`, function () {
    this.timeout(60_000);
    before(async () => void (await backend.init(name, { verbose: false })));

    const cases: Array<{ kind: "mean" | "sum"; shape: number[]; axes: number[] }> = [
      { kind: "mean", shape: [4, 5, 6, 3], axes: [0, 1, 2] }, // batch-norm statistics (NHWC)
      { kind: "mean", shape: [4, 5, 6, 3], axes: [1, 2] }, // global average pooling
      { kind: "mean", shape: [7, 3], axes: [0, 1] },
      { kind: "sum", shape: [4, 5, 6, 3], axes: [0, 1, 2] },
      { kind: "sum", shape: [6, 10], axes: [1] },
    ];
    for (const c of cases) {
      it(`${c.kind} over axes [${c.axes}] of [${c.shape}]: tfjs's values bit for bit, and no full-size multiply or divide`, async () => {
        const x = tf.randomNormal(c.shape, 0, 1, "float32", 1);
        const outShape = c.shape.filter((_, i) => !c.axes.includes(i));
        const dy = tf.randomNormal(outShape, 0, 1, "float32", 2);
        const f = (t: tf.Tensor) => (c.kind === "mean" ? tf.mean(t, c.axes) : tf.sum(t, c.axes));
        const before = tf.memory().numTensors;
        const prof = await tf.profile(() => tf.grad(f)(x, dy));
        const got = prof.result as tf.Tensor;
        const want = reference(c.kind, x, dy, c.axes);
        assert.deepEqual(Array.from(await got.data()), Array.from(await want.data()));
        const size = tf.util.sizeFromShape(c.shape);
        const fullSize = prof.kernels.filter(
          (k) => ["Multiply", "RealDiv"].includes(k.name) && k.outputShapes.some((s) => tf.util.sizeFromShape(s) === size),
        );
        assert.deepEqual(
          fullSize.map((k) => k.name),
          [],
          `full-size ${fullSize.map((k) => k.name)} in the gradient (a ones tensor)`,
        );
        tf.dispose([got, want]);
        assert.equal(tf.memory().numTensors, before);
        tf.dispose([x, dy]);
      });
    }
  });
}
