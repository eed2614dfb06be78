// nn losses against torch.nn on the same inputs (values and input gradients), and their errors.
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { backend, nn, tf } from "tsdl";

interface Case {
  kind: "CrossEntropyLoss" | "NLLLoss" | "MSELoss" | "L1Loss";
  opts: Record<string, unknown>;
  input: number[][];
  target: number[] | number[][];
  targetDtype: "int32" | "float32";
  output: number | number[];
  grad: number[][];
}

const golden: { cases: Case[] } = JSON.parse(fs.readFileSync(path.join(__dirname, "fixtures", "train_losses.json"), "utf8"));

function make(c: Case): nn.Loss {
  const o = c.opts as never;
  switch (c.kind) {
    case "CrossEntropyLoss":
      return new nn.CrossEntropyLoss(o);
    case "NLLLoss":
      return new nn.NLLLoss(o);
    case "MSELoss":
      return new nn.MSELoss(o);
    case "L1Loss":
      return new nn.L1Loss(o);
  }
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  assert.equal(actual.length, expected.length, what);
  for (let i = 0; i < expected.length; i++) {
    const tol = 1e-5 * Math.max(1, Math.abs(expected[i]));
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `${what}[${i}]: ${actual[i]} vs torch ${expected[i]}`);
  }
}

describe("nn losses match torch.nn", () => {
  before(async () => {
    await backend.init("cpu", { verbose: false });
  });

  for (const c of golden.cases) {
    it(`${c.kind}(${JSON.stringify(c.opts)}) with ${c.targetDtype} targets: value and d/dinput`, () => {
      const loss = make(c);
      const x = tf.tensor2d(c.input);
      const y = c.targetDtype === "int32" ? tf.tensor1d(c.target as number[], "int32") : tf.tensor2d(c.target as number[][]);
      const out = loss(x, y);
      close(out.dataSync(), typeof c.output === "number" ? [c.output] : c.output, "value");
      // torch backpropagated out.sum() for reduction "none"
      const g = tf.grad((t: tf.Tensor) => tf.sum(loss(t, y)))(x);
      close(g.dataSync(), c.grad.flat(), "grad");
      tf.dispose([x, y, out, g]);
    });
  }

  it("is callable like a torch module and shows its options", () => {
    const ce = new nn.CrossEntropyLoss({ labelSmoothing: 0.1 });
    assert.equal(typeof ce, "function");
    assert.ok(ce instanceof nn.CrossEntropyLoss && ce instanceof nn.Loss);
    assert.equal(String(ce), "CrossEntropyLoss(reduction='mean', labelSmoothing=0.1)");
    const x = tf.tensor2d([[1, 2, 3]]);
    const y = tf.tensor1d([2], "int32");
    assert.equal(ce(x, y).dataSync()[0], ce.forward(x, y).dataSync()[0]);
  });

  it("lower-case factories build the same losses, as nn.batchNorm2d and optim.sgd", () => {
    const pairs: Array<[nn.Loss, nn.Loss, new (...args: never[]) => nn.Loss]> = [
      [nn.crossEntropyLoss({ labelSmoothing: 0.1 }), new nn.CrossEntropyLoss({ labelSmoothing: 0.1 }), nn.CrossEntropyLoss],
      [nn.nllLoss({ reduction: "sum" }), new nn.NLLLoss({ reduction: "sum" }), nn.NLLLoss],
      [nn.mseLoss(), new nn.MSELoss(), nn.MSELoss],
      [nn.l1Loss({ reduction: "none" }), new nn.L1Loss({ reduction: "none" }), nn.L1Loss],
    ];
    const x = tf.tensor2d([
      [-1, 0.5, 2],
      [0.3, -0.2, 0.1],
    ]);
    const labels = tf.tensor1d([2, 0], "int32");
    const probs = tf.tensor2d([
      [0, 0, 1],
      [1, 0, 0],
    ]);
    for (const [made, built, cls] of pairs) {
      assert.ok(made instanceof cls, String(made));
      assert.equal(String(made), String(built));
      const y = made instanceof nn.CrossEntropyLoss || made instanceof nn.NLLLoss ? labels : probs;
      tf.tidy(() => assert.deepEqual(Array.from(made(x, y).dataSync()), Array.from(built(x, y).dataSync())));
    }
    tf.dispose([x, labels, probs]);
  });

  it("rejects bad labels, shapes and options with the value and what is accepted", () => {
    const ce = new nn.CrossEntropyLoss();
    const x = tf.zeros([2, 3]);
    assert.throws(() => ce(x, tf.tensor1d([0, 3], "int32")), /target 3 \(sample 1\) is out of bounds: class indices must be in \[0, 2\]/);
    assert.throws(() => ce(x, tf.tensor1d([0, -1], "int32")), /target -1 \(sample 1\) is out of bounds/);
    assert.throws(() => ce(x, tf.tensor1d([0, 1, 2], "int32")), /must have shape \[2\].*got \[3\]/);
    assert.throws(() => ce(tf.zeros([2, 3, 4]), tf.tensor1d([0, 1], "int32")), /input must be \[N, C\].*got shape \[2, 3, 4\]/);
    assert.throws(() => ce(x, tf.zeros([2, 4])), /float target holds class probabilities.*\[2, 3\], got \[2, 4\]/);
    assert.throws(
      () => new nn.CrossEntropyLoss({ reduction: "avg" as never }),
      /reduction must be one of "mean", "sum", "none", got "avg"/,
    );
    assert.throws(() => new nn.CrossEntropyLoss({ labelSmoothing: 1.5 }), /labelSmoothing must be in \[0, 1\], got 1.5/);
    assert.throws(
      () => new nn.CrossEntropyLoss({ weight: [1, 2] })(x, tf.tensor1d([0, 1], "int32")),
      /weight has 2 entries but input has 3 classes/,
    );
    assert.throws(
      () => new nn.MSELoss()(x, tf.zeros([3, 2])),
      /^Error: MSELoss: input \[2, 3\] and target \[3, 2\] must have the same shape/,
    );
    assert.throws(() => new nn.L1Loss()(x, tf.zeros([2])), /^Error: L1Loss: input \[2, 3\] and target \[2\] must have the same shape/);
    assert.throws(
      () => new nn.L1Loss({ reduction: "avg" as never }),
      /^Error: L1Loss: reduction must be one of "mean", "sum", "none", got "avg"/,
    );
    assert.equal(String(new nn.MSELoss({ reduction: "sum" })), "MSELoss(reduction='sum')");
    assert.throws(() => new nn.NLLLoss()(x, tf.zeros([2])), /target must be int32 class indices, got dtype float32/);
  });

  it("leaks no tensors", () => {
    const ce = new nn.CrossEntropyLoss({ labelSmoothing: 0.2, weight: [1, 2, 3], ignoreIndex: 1 });
    const x = tf.randomNormal([4, 3]);
    const y = tf.tensor1d([0, 1, 2, 2], "int32");
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) tf.dispose([ce(x, y), tf.grad((t: tf.Tensor) => ce(t, y) as tf.Scalar)(x)]);
    assert.equal(tf.memory().numTensors, before);
  });
});
