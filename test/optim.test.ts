// optim: param groups, errors, training-loop integration, state, display, memory and regularization.
// Update-rule numerics against PyTorch are in optim-goldens.test.ts.
import assert from "node:assert/strict";
import * as util from "util";
import { backend, JUPYTER_DISPLAY, models, optim, tf } from "tsdl";

let uid = 0;
/** A float32 variable with a unique name. */
function v(values: number[], shape?: number[], name?: string): tf.Variable {
  return tf.variable(tf.tensor(values, shape), true, name ?? `t${uid++}`);
}

/** A small conv + batch-norm + dense model (kernels, biases, gamma/beta). */
function smallModel(seed = 1): tf.LayersModel {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [6, 6, 2], filters: 3, kernelSize: 3, kernelInitializer: tf.initializers.glorotUniform({ seed }) }),
      tf.layers.batchNormalization(),
      tf.layers.flatten(),
      tf.layers.dense({ units: 2, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }),
    ],
  });
}

function denseModel(seed: number, regularizer?: ReturnType<typeof tf.regularizers.l2>): tf.LayersModel {
  return tf.sequential({
    layers: [
      tf.layers.dense({
        inputShape: [3],
        units: 4,
        activation: "tanh",
        kernelInitializer: tf.initializers.glorotUniform({ seed }),
        kernelRegularizer: regularizer,
      }),
      tf.layers.dense({ units: 2, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }), kernelRegularizer: regularizer }),
    ],
  });
}

const values = (vars: tf.Variable[]) => vars.map((x) => Array.from(x.dataSync()));
function assertClose(a: number[][], b: number[][], tol: number, what: string) {
  assert.equal(a.length, b.length);
  a.forEach((row, i) =>
    row.forEach((x, j) => assert.ok(Math.abs(x - b[i][j]) <= tol * (1 + Math.abs(b[i][j])), `${what}: [${i}][${j}] ${x} vs ${b[i][j]}`)),
  );
}

/** Throws with a message matching every pattern. */
function throwsAll(fn: () => unknown, ...patterns: RegExp[]) {
  let msg = "";
  try {
    fn();
  } catch (e) {
    msg = (e as Error).message;
  }
  assert.notEqual(msg, "", "expected an error");
  for (const p of patterns) assert.match(msg, p);
}

describe("optim", () => {
  before(async () => {
    await backend.init("cpu", { verbose: false });
  });

  describe("param groups", () => {
    it("reads and edits groups as in the course notebook", () => {
      const net = smallModel();
      const opt = new optim.SGD(net, { lr: 0.01, weightDecay: 1e-4 });
      assert.equal(opt.paramGroups.length, 1);
      assert.equal(opt.paramGroups[0].lr, 0.01);
      assert.equal(opt.paramGroups[0].weightDecay, 0.0001);
      assert.equal(opt.paramGroups[0].momentum, 0);
      assert.deepEqual(
        opt.paramGroups[0].params.map((p) => p.name),
        net.trainableWeights.map((w) => (w.read() as tf.Variable).name),
      );
      opt.paramGroups[0].lr = 1e-5;
      for (const g of opt.paramGroups) g.lr = 0.1;
      assert.equal(opt.paramGroups[0].lr, 0.1);
      assert.deepEqual(opt.defaults, { lr: 0.01, momentum: 0, dampening: 0, weightDecay: 1e-4, nesterov: false, maximize: false });
    });

    it("an edited lr takes effect at the next step", () => {
      const p = v([1, 2]);
      const opt = new optim.SGD([p], { lr: 0.1 });
      const g = { [p.name]: tf.tensor([1, 1]) };
      opt.step(g);
      assert.deepEqual(Array.from(p.dataSync()), [0.9, 1.9].map(Math.fround));
      opt.paramGroups[0].lr = 0.5;
      opt.step(g);
      assert.deepEqual(Array.from(p.dataSync()), [Math.fround(Math.fround(0.9) - 0.5), Math.fround(Math.fround(1.9) - 0.5)]);
      tf.dispose(Object.values(g));
    });

    it("accepts a model, a layer, variables, an object with parameters(), and group objects with defaults", () => {
      const net = smallModel();
      const vars = net.trainableWeights.map((w) => w.read() as tf.Variable);
      assert.equal(new optim.Adam(net).params().length, 6);
      assert.equal(new optim.Adam(net.layers[3]).params().length, 2);
      assert.equal(new optim.Adam(vars.slice(0, 2)).params().length, 2);
      assert.equal(new optim.Adam({ parameters: () => vars.slice(2) }).params().length, 4);
      const opt = new optim.Adam(
        [
          { params: vars.slice(0, 2), lr: 0.1, betas: [0.8, 0.9] },
          { params: net.layers[3], name: "head" },
        ],
        { lr: 0.01, eps: 1e-6 },
      );
      assert.equal(opt.paramGroups[0].lr, 0.1);
      assert.deepEqual(opt.paramGroups[0].betas, [0.8, 0.9]);
      assert.equal(opt.paramGroups[0].eps, 1e-6);
      assert.equal(opt.paramGroups[1].lr, 0.01);
      assert.deepEqual(opt.paramGroups[1].betas, [0.9, 0.999]);
      assert.equal(opt.paramGroups[1].name, "head");
      // Groups do not share the defaults' betas array: editing one in place leaves the others.
      opt.paramGroups[1].betas[0] = 0.5;
      assert.deepEqual(opt.defaults.betas, [0.9, 0.999]);
    });

    it("lower-case factories build the same optimizers", () => {
      const p = [v([1])];
      assert.ok(optim.sgd(p, { lr: 0.1 }) instanceof optim.SGD);
      assert.equal(optim.adamW(p).defaults.weightDecay, 0.01);
      assert.ok(
        optim.adam(p) instanceof optim.Adam && optim.rmsprop(p) instanceof optim.RMSprop && optim.adagrad(p) instanceof optim.Adagrad,
      );
      assert.ok(optim.sgd(p) instanceof tf.Optimizer);
    });

    it("has PyTorch's defaults (AdamW weightDecay 0.01, decoupled)", () => {
      const p = [v([1])];
      assert.deepEqual(
        { ...new optim.AdamW(p).defaults },
        { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01, amsgrad: false, maximize: false, decoupledWeightDecay: true },
      );
      assert.equal(new optim.Adam(p).defaults.weightDecay, 0);
      assert.deepEqual(
        { ...new optim.RMSprop(p).defaults },
        { lr: 0.01, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, maximize: false },
      );
      assert.deepEqual(
        { ...new optim.Adagrad(p).defaults },
        { lr: 0.01, lrDecay: 0, weightDecay: 0, initialAccumulatorValue: 0, eps: 1e-10, maximize: false },
      );
    });

    it("addParamGroup fills defaults and rejects a parameter already in a group, changing nothing", () => {
      const [a, b, c] = [v([1]), v([2]), v([3])];
      const opt = new optim.SGD([a], { lr: 0.1, momentum: 0.9 });
      const g = opt.addParamGroup({ params: [b], lr: 0.01 });
      assert.equal(g, opt.paramGroups[1]);
      assert.equal(g.momentum, 0.9);
      throwsAll(() => opt.addParamGroup({ params: [c, a] }), /more than one parameter group/, new RegExp(a.name), /paramGroups\[0\]/);
      assert.equal(opt.paramGroups.length, 2);
      throwsAll(() => opt.addParamGroup({ params: [c, c] }), /given twice/);
      throwsAll(() => new optim.SGD([{ params: [a] }, { params: [b, a] }], { lr: 0.1 }), /more than one parameter group/);
    });

    it("tolerates keys added by schedulers, and keeps them in the table and the state dict", () => {
      const p = v([1, 2]);
      const opt = new optim.SGD([p], { lr: 0.1, momentum: 0.9 });
      const g = opt.paramGroups[0];
      g.initialLr = 0.1;
      g.maxMomentum = 0.95;
      g.someSchedulerKey = 3;
      const grads = new Map([[p, tf.tensor([1, 1])]]);
      opt.step(grads);
      assert.match(util.inspect(opt), /initialLr/);
      assert.equal(opt.stateDict().paramGroups[0].initialLr, 0.1);
      assert.equal(opt.stateDict().paramGroups[0].someSchedulerKey, 3);
      tf.dispose([...grads.values()]);
    });
  });

  describe("bad input", () => {
    const p = () => [v([1, 2])];
    it("negative or non-numeric lr", () => {
      throwsAll(() => new optim.SGD(p(), { lr: -0.1 }), /SGD/, /lr must be a finite number >= 0, got -0\.1/, /finite number >= 0/);
      throwsAll(() => new optim.Adam(p(), { lr: "0.1" as unknown as number }), /lr must be .*, got "0\.1"/);
      throwsAll(() => new optim.Adam([{ params: p(), lr: NaN }]), /paramGroups\[0\]/, /lr must be .*, got NaN/);
    });

    it("nesterov without momentum or with dampening", () => {
      throwsAll(() => new optim.SGD(p(), { lr: 0.1, nesterov: true }), /nesterov/, /momentum > 0 and dampening = 0/);
      throwsAll(() => new optim.SGD(p(), { lr: 0.1, nesterov: true, momentum: 0.9, dampening: 0.1 }), /dampening 0\.1/);
    });

    it("betas outside [0, 1)", () => {
      throwsAll(() => new optim.Adam(p(), { betas: [0.9, 1] }), /betas must be .*, got \[0\.9, 1\]/, /\[0, 1\)/);
      throwsAll(() => new optim.AdamW(p(), { betas: [-0.1, 0.9] }), /betas/);
      throwsAll(() => new optim.Adam(p(), { betas: [0.9] as unknown as [number, number] }), /pair/);
    });

    it("unknown option keys name the key, suggest the camelCase one and list what is accepted", () => {
      throwsAll(
        () => new optim.SGD(p(), { lr: 0.1, weight_decay: 1e-4 } as never),
        /unknown option "weight_decay"/,
        /did you mean "weightDecay"/,
        /accepted: lr, momentum, dampening, weightDecay, nesterov, maximize/,
      );
      throwsAll(() => new optim.Adam([{ params: p(), beta1: 0.9 } as never]), /unknown option "beta1"/, /betas/);
      throwsAll(() => new optim.AdamW(p(), { decoupledWeightDecay: false } as never), /always true/);
    });

    it("params that are not variables, empty lists, and a variable given twice", () => {
      throwsAll(
        () => new optim.SGD([tf.tensor([1])] as never, { lr: 0.1 }),
        /params\[0\] is a tf\.Tensor, not a tf\.Variable/,
        /tf\.variable/,
      );
      throwsAll(() => new optim.SGD([], { lr: 0.1 }), /empty parameter list/);
      throwsAll(() => new optim.SGD(42 as never, { lr: 0.1 }), /cannot take parameters from 42/);
      const a = v([1]);
      throwsAll(() => new optim.SGD([a, a], { lr: 0.1 }), /given twice/, new RegExp(a.name));
    });

    it("a bad value edited into a group fails the next step before anything is updated", () => {
      const [a, b] = [v([1]), v([2])];
      const opt = new optim.SGD([{ params: [a] }, { params: [b] }], { lr: 0.1, momentum: 0.9 });
      const grads = new Map([
        [a, tf.tensor([1])],
        [b, tf.tensor([1])],
      ]);
      opt.paramGroups[1].lr = -1;
      throwsAll(() => opt.step(grads), /paramGroups\[1\]/, /lr must be .*, got -1/);
      assert.deepEqual(values([a, b]), [[1], [2]]);
      assert.equal(opt.stepCount, 0);
      assert.equal(opt.state.size, 0);
      opt.paramGroups[1].lr = 0.1;
      opt.paramGroups[0].nesterov = true;
      opt.paramGroups[0].dampening = 0.5;
      throwsAll(() => opt.step(grads), /paramGroups\[0\]/, /nesterov/);
      opt.paramGroups[0].nesterov = false;
      delete (opt.paramGroups[0] as Partial<optim.ParamGroup>).momentum;
      throwsAll(() => opt.step(grads), /paramGroups\[0\]: momentum is missing/);
      assert.deepEqual(values([a, b]), [[1], [2]]);
      tf.dispose([...grads.values()]);
    });

    it("gradients of the wrong shape or for no parameter of the optimizer", () => {
      const a = v([1, 2]);
      const opt = new optim.SGD([a], { lr: 0.1 });
      const bad = tf.tensor([1, 2, 3]);
      throwsAll(() => opt.step({ [a.name]: bad }), /shape \[3\]/, /\[2\]/);
      throwsAll(() => opt.step({ nope: bad }), /none of the gradients/, /nope/);
      throwsAll(() => opt.step(), /no gradients/, /backward/);
      const whole = tf.variableGrads(() => tf.sum(a));
      throwsAll(() => opt.step(whole as never), /pass its \.grads/);
      tf.dispose([whole.value, whole.grads]);
      throwsAll(() => opt.step((() => tf.sum(a)) as never), /step\(closure\) is opt\.minimize/);
      assert.deepEqual(values([a]), [[1, 2]]);
      bad.dispose();
    });
  });

  describe("training loops", () => {
    const x = () =>
      tf.tensor([
        [0.5, -1, 2],
        [1, 0.3, -0.7],
        [-0.2, 0.8, 0.1],
        [1.5, -0.5, 0.2],
      ]);
    const y = () =>
      tf.tensor([
        [1, 0],
        [0, 1],
        [1, 1],
        [0, 0],
      ]);
    const loss = (m: tf.LayersModel, xs: tf.Tensor, ys: tf.Tensor) => () =>
      tf.losses.meanSquaredError(ys, m.apply(xs) as tf.Tensor) as tf.Scalar;

    it("zeroGrad/backward/step, step(grads) and minimize give the same trajectory", () => {
      const [xs, ys] = [x(), y()];
      const runs = [0, 1, 2].map(() => denseModel(7));
      const opts = runs.map((m) => new optim.SGD(m, { lr: 0.1, momentum: 0.9, weightDecay: 0.01 }));
      for (let i = 0; i < 5; i++) {
        opts[0].zeroGrad();
        opts[0].backward(loss(runs[0], xs, ys)).dispose();
        opts[0].step();
        const { value, grads } = tf.variableGrads(loss(runs[1], xs, ys), opts[1].params());
        opts[1].step(grads);
        tf.dispose([value, grads]);
        opts[2].minimize(loss(runs[2], xs, ys));
      }
      const w = runs.map((m) => values(m.trainableWeights.map((t) => t.read() as tf.Variable)));
      assert.deepEqual(w[1], w[0]);
      assert.deepEqual(w[2], w[0]);
      assert.notDeepEqual(w[0], values(denseModel(7).trainableWeights.map((t) => t.read() as tf.Variable)));
      assert.equal(opts[0].stepCount, 5);
    });

    it("backward accumulates until zeroGrad, like PyTorch's .grad", () => {
      const a = v([1, -2]);
      const opt = new optim.SGD([a], { lr: 1 });
      const f = () => tf.sum(tf.square(a)) as tf.Scalar;
      opt.backward(f).dispose();
      opt.backward(f).dispose();
      assert.deepEqual(Array.from(opt.grads.get(a)!.dataSync()), [4, -8]);
      opt.zeroGrad();
      assert.equal(opt.grads.size, 0);
      opt.backward(f).dispose();
      assert.deepEqual(Array.from(opt.grads.get(a)!.dataSync()), [2, -4]);
      opt.zeroGrad();
    });

    it("works as the optimizer of model.compile + model.fit, matching the manual loop", async () => {
      const [xs, ys] = [x(), y()];
      const a = denseModel(3);
      const b = denseModel(3);
      const optA = new optim.Adam(a, { lr: 0.01, weightDecay: 0.1, amsgrad: true });
      a.compile({ optimizer: optA, loss: "meanSquaredError" });
      await a.fit(xs, ys, { epochs: 4, batchSize: 4, shuffle: false, verbose: 0 });
      const optB = new optim.Adam(b, { lr: 0.01, weightDecay: 0.1, amsgrad: true });
      for (let i = 0; i < 4; i++) optB.minimize(loss(b, xs, ys));
      assert.equal(optA.stepCount, 4);
      assertClose(
        values(a.trainableWeights.map((t) => t.read() as tf.Variable)),
        values(b.trainableWeights.map((t) => t.read() as tf.Variable)),
        1e-6,
        "fit vs minimize",
      );
    });

    it("keeps state per variable, not by position", () => {
      const mk = (reverse: boolean) => {
        const vars = [v([1, 2]), v([3]), v([-1, 0.5, 2])];
        const opt = new optim.Adam(vars, { lr: 0.1 });
        const f = () => tf.addN(vars.map((t, i) => tf.sum(tf.mul(tf.square(t), i + 1)))) as tf.Scalar;
        for (let i = 0; i < 6; i++) {
          if (reverse && i === 3) opt.paramGroups[0].params.reverse();
          opt.minimize(f);
        }
        return values(vars);
      };
      assert.deepEqual(mk(true), mk(false));
    });

    it("skips parameters without gradient and counts their steps separately", () => {
      const [a, b] = [v([1]), v([2])];
      const opt = new optim.Adam([a, b], { lr: 0.1 });
      const g = tf.tensor([1]);
      opt.step(new Map([[a, g]]));
      opt.step(
        new Map([
          [a, g],
          [b, g],
        ]),
      );
      assert.equal(opt.state.get(a)!.step, 2);
      assert.equal(opt.state.get(b)!.step, 1);
      assert.equal(opt.stepCount, 2);
      g.dispose();
    });

    it("in model.fit, updates only its own parameters (fine-tuning the head)", async () => {
      const m = denseModel(13);
      const body = values([m.layers[0].trainableWeights[0].read() as tf.Variable]);
      const opt = new optim.SGD(m.layers[1], { lr: 0.1 });
      m.compile({ optimizer: opt, loss: "meanSquaredError" });
      const headBefore = values([m.layers[1].trainableWeights[0].read() as tf.Variable]);
      await m.fit(x(), y(), { epochs: 2, batchSize: 4, verbose: 0 });
      assert.deepEqual(values([m.layers[0].trainableWeights[0].read() as tf.Variable]), body);
      assert.notDeepEqual(values([m.layers[1].trainableWeights[0].read() as tf.Variable]), headBefore);
      const other = [v([1])];
      throwsAll(
        () => opt.minimize(() => tf.sum(other[0]), false, other),
        /no trainable parameter of this optimizer/,
        new RegExp(other[0].name),
      );
    });

    it("adopts the variables of its first update when built by fromConfig (model deserialization)", async () => {
      const m = denseModel(11);
      const opt = optim.SGD.fromConfig(optim.SGD, { lr: 0.05, momentum: 0.9 }) as optim.SGD;
      assert.equal(opt.getClassName(), "tsdl.SGD");
      assert.deepEqual(opt.getConfig(), { lr: 0.05, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false, maximize: false });
      m.compile({ optimizer: opt, loss: "meanSquaredError" });
      await m.fit(x(), y(), { epochs: 2, batchSize: 4, verbose: 0 });
      assert.equal(opt.paramGroups.length, 1);
      assert.equal(opt.paramGroups[0].params.length, 4);
      assert.equal(opt.stepCount, 2);
    });
  });

  describe("stateDict", () => {
    it("is JSON, and a reloaded optimizer continues exactly as the original (matched by name)", () => {
      const vars = [v([1, 2, 3], [3], "sd/a"), v([0.5, -0.5], [2], "sd/b")];
      const f = () => tf.addN(vars.map((t) => tf.sum(tf.sin(t)))) as tf.Scalar;
      const opt = new optim.RMSprop([{ params: [vars[0]] }, { params: [vars[1]], centered: true, name: "second" }], {
        lr: 0.01,
        momentum: 0.9,
      });
      for (let i = 0; i < 3; i++) opt.minimize(f);
      opt.paramGroups[1].lr = 0.02;
      const text = JSON.stringify(opt.stateDict());
      const sd = JSON.parse(text) as optim.OptimizerStateDict;
      assert.equal(sd.format, "tsdl.optim/1");
      assert.equal(sd.optimizer, "RMSprop");
      assert.deepEqual(sd.paramGroups[1].params, ["sd/b"]);
      assert.equal(sd.paramGroups[1].lr, 0.02);
      assert.equal(sd.paramGroups[1].name, "second");
      assert.deepEqual(Object.keys(sd.state["sd/b"].buffers).sort(), ["gradAvg", "momentumBuffer", "squareAvg"]);
      const saved = values(vars);
      for (let i = 0; i < 3; i++) opt.minimize(f);
      const want = values(vars);
      // Back to the saved point: same variables (same names), a fresh optimizer with other settings.
      vars.forEach((t, i) => t.assign(tf.tensor(saved[i])));
      const fresh = new optim.RMSprop([{ params: [vars[0]] }, { params: [vars[1]] }], { lr: 0.5 });
      fresh.loadStateDict(sd);
      assert.equal(fresh.paramGroups[1].centered, true);
      assert.equal(fresh.paramGroups[1].name, "second");
      assert.equal(fresh.stepCount, 3);
      for (let i = 0; i < 3; i++) fresh.minimize(f);
      assert.deepEqual(values(vars), want);
    });

    it("rejects a mismatching state dict and keeps the current state", () => {
      const a = v([1, 2]);
      const opt = new optim.SGD([a], { lr: 0.1, momentum: 0.9 });
      const g = tf.tensor([1, 1]);
      opt.step(new Map([[a, g]]));
      const good = opt.stateDict();
      throwsAll(() => new optim.Adam([v([1, 2])]).loadStateDict(good as never), /from SGD/, /Adam/);
      throwsAll(
        () => opt.loadStateDict({ ...good, paramGroups: [good.paramGroups[0], good.paramGroups[0]] }),
        /paramGroups must be an array of 1 group \(one per param group of this optimizer\), got an array of length 2/,
      );
      const wrongShape = JSON.parse(JSON.stringify(good));
      wrongShape.state[a.name].buffers.momentumBuffer.shape = [1, 2];
      throwsAll(() => opt.loadStateDict(wrongShape), /buffers\.momentumBuffer\.shape must be \[2\] \(the shape of .*\), got \[1, 2\]/);
      const badLr = JSON.parse(JSON.stringify(good));
      badLr.paramGroups[0].lr = -3;
      throwsAll(() => opt.loadStateDict(badLr), /lr must be .*, got -3/);
      throwsAll(() => opt.loadStateDict({ format: "x" } as never), /not a tsdl optimizer state dict/);
      assert.equal(opt.paramGroups[0].lr, 0.1);
      assert.deepEqual(opt.stateDict(), good);
      g.dispose();
    });

    it("checks every value of a hand-edited state dict before changing anything, naming key, value and what is accepted", () => {
      const a = v([1, 2], [2], "ckw");
      const opt = new optim.Adam([a], { lr: 0.1 });
      const g = tf.tensor([1, 1]);
      opt.step(new Map([[a, g]]));
      const good = opt.stateDict();
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the cases damage a state dict in any way
      const cases: Array<[string, (d: any) => void, RegExp]> = [
        ["stepCount", (d) => (d.stepCount = "x"), /Adam\.loadStateDict: stepCount must be an integer >= 0, got "x"/],
        ["a state that is null", (d) => (d.state.ckw = null), /Adam\.loadStateDict: state\["ckw"\] must be \{ step, buffers \}, got null/],
        ["a state's step", (d) => (d.state.ckw.step = 1.5), /state\["ckw"\]\.step must be an integer >= 0, got 1\.5/],
        [
          "params that are not names",
          (d) => (d.paramGroups[0].params = [5]),
          /paramGroups\[0\]\.params must be an array of 1 variable name \(the group's parameters here\), got \[5\]/,
        ],
        [
          "no paramGroups",
          (d) => delete d.paramGroups,
          /paramGroups must be an array of 1 group \(one per param group of this optimizer\), got undefined/,
        ],
        [
          "a negative dimension",
          (d) => (d.state.ckw.buffers.expAvg.shape = [-2]),
          /state\["ckw"\]\.buffers\.expAvg\.shape must be an array of integers >= 0, got \[-2\]/,
        ],
        [
          "a misspelt buffer",
          (d) => (d.state.ckw.buffers = { exp_avg: d.state.ckw.buffers.expAvg }),
          /state\["ckw"\]\.buffers must be an object with keys among "expAvg", "expAvgSq", "maxExpAvgSq" \(what Adam keeps\), got an object with keys \[exp_avg\]/,
        ],
        ["a dtype", (d) => (d.state.ckw.buffers.expAvg.dtype = "float64"), /buffers\.expAvg\.dtype must be "float32", got "float64"/],
        [
          "cut base64",
          (d) => (d.state.ckw.buffers.expAvg.base64 = "AAAA"),
          /buffers\.expAvg\.base64 must hold 8 bytes \(the float32 values of shape \[2\]\), got 3 bytes/,
        ],
        ["a scheduler key", (d) => (d.paramGroups[0].initialLr = "0.1"), /param group 0: initialLr must be a finite number, got "0\.1"/],
        ["betas", (d) => (d.paramGroups[0].betas = [0.9]), /param group 0: betas must be/],
        [
          "a state for an unknown variable",
          (d) => (d.state.other = d.state.ckw),
          /state\["other"\] is for a variable in no saved param group; accepted: the names in paramGroups\[\]\.params \(\["ckw"\]\)/,
        ],
      ];
      for (const [what, edit, expected] of cases) {
        const bad = JSON.parse(JSON.stringify(good));
        edit(bad);
        throwsAll(() => opt.loadStateDict(bad), expected);
        assert.deepEqual(opt.stateDict(), good, `${what}: changed the optimizer`);
      }
      g.dispose();
      opt.dispose();
    });

    it("getWeights/setWeights (tfjs's optimizer API) round-trip the state", async () => {
      const a = v([1, 2]);
      const opt = new optim.Adam([a], { lr: 0.1 });
      const g = tf.tensor([0.3, -0.2]);
      opt.step(new Map([[a, g]]));
      const w = await opt.getWeights();
      assert.deepEqual(
        w.map((n) => n.name),
        ["iter", `${a.name}/step`, `${a.name}/expAvg`, `${a.name}/expAvgSq`],
      );
      const other = new optim.Adam([a], { lr: 0.1 });
      await other.setWeights(w);
      assert.deepEqual(other.stateDict().state, opt.stateDict().state);
      assert.equal(other.stepCount, 1);
      tf.dispose([g, ...w.map((n) => n.tensor)]);
    });
  });

  describe("display", () => {
    it("shows the groups as an HTML table and an aligned text table", () => {
      const net = smallModel();
      const opt = new optim.SGD(optim.paramGroupsForDecay(net, { weightDecay: 1e-4 }), { lr: 0.01, momentum: 0.9 });
      for (const shown of [opt, opt.paramGroups]) {
        const b = (shown as unknown as Record<symbol, () => Record<string, string>>)[JUPYTER_DISPLAY]();
        assert.match(b["text/html"], /^<table/);
        assert.match(b["text/html"], /<th[^>]*>weightDecay<\/th>/);
        assert.match(b["text/html"], /<td[^>]*>0\.0001<\/td>/);
        const lines = b["text/plain"].split("\n");
        assert.equal(lines[0], "SGD: 2 param groups, 6 tensors, 161 parameters, step 0");
        assert.match(lines[1], /^group +name +tensors +parameters +lr +momentum +dampening +weightDecay +nesterov +maximize$/);
        assert.match(lines[2], /^ +0 +decay +2 +150 +0\.01 +0\.9 +0 +0\.0001 +false +false$/);
        assert.match(lines[3], /^ +1 +no decay +4 +11 +0\.01 +0\.9 +0 +0 +false +false$/);
        // Aligned: every column starts at the same offset on every line.
        assert.equal(lines[2].indexOf("0.01") + 4, lines[1].indexOf(" lr") + 3);
      }
      assert.equal(util.inspect(opt), opt[JUPYTER_DISPLAY]()["text/plain"]);
      assert.equal(util.inspect(opt.paramGroups), opt[JUPYTER_DISPLAY]()["text/plain"]);
      // Scheduled lrs print to 6 significant digits in the table.
      opt.paramGroups[0].lr = 0.1 * 0.1;
      opt.paramGroups[1].lr = 0.9504846320134737;
      assert.match(util.inspect(opt).split("\n")[2], / 0\.01 /);
      assert.match(util.inspect(opt).split("\n")[3], / 0\.950485 /);
    });

    it("console.log of a group shows names and shapes, never tensor data", () => {
      const a = v([123.456, 7], [2], "display/a");
      const opt = new optim.Adam([a], { lr: 0.01 });
      opt.step(new Map([[a, tf.tensor([1, 1])]]));
      const text = util.inspect(opt.paramGroups[0]);
      assert.match(text, /display\/a float32\[2\]/);
      assert.match(text, /lr: 0\.01/);
      assert.match(text, /betas: \[ 0\.9, 0\.999 \]/);
      assert.doesNotMatch(text, /123\.45|dataId|kept/);
      assert.doesNotMatch(util.inspect(opt), /123\.45|dataId/);
    });
  });

  describe("memory", () => {
    const kinds: Array<[string, (p: tf.Variable[]) => optim.Optimizer]> = [
      ["SGD nesterov + weightDecay", (p) => new optim.SGD(p, { lr: 0.01, momentum: 0.9, nesterov: true, weightDecay: 1e-4 })],
      ["Adam amsgrad + maximize", (p) => new optim.Adam(p, { lr: 1e-3, amsgrad: true, weightDecay: 0.1 })],
      ["AdamW", (p) => new optim.AdamW(p, { lr: 1e-3 })],
      ["RMSprop centered + momentum", (p) => new optim.RMSprop(p, { centered: true, momentum: 0.9 })],
      ["Adagrad", (p) => new optim.Adagrad(p, { lrDecay: 0.01 })],
    ];
    for (const [name, make] of kinds) {
      it(`${name}: 1000 steps leave tf.memory().numTensors unchanged after the first`, () => {
        const vars = [v([1, 2, 3, 4], [2, 2]), v([0.5, -0.5])];
        const opt = make(vars);
        const f = () => tf.addN(vars.map((t) => tf.sum(tf.square(t)))) as tf.Scalar;
        const loop = (i: number) => {
          if (i % 3 === 0) opt.minimize(f);
          else if (i % 3 === 1) {
            opt.zeroGrad();
            opt.backward(f).dispose();
            opt.step();
          } else {
            const { value, grads } = tf.variableGrads(f, vars);
            opt.step(grads);
            tf.dispose([value, grads]);
          }
        };
        loop(0);
        loop(1);
        const after = tf.memory().numTensors;
        for (let i = 2; i < 1000; i++) loop(i);
        assert.equal(tf.memory().numTensors, after);
        opt.zeroGrad();
        opt.dispose();
      });
    }
  });

  describe("weight decay and regularization", () => {
    it("paramGroupsForDecay keeps biases and BatchNorm gamma/beta out of decay", () => {
      const net = smallModel();
      const [decay, keep] = optim.paramGroupsForDecay(net, { weightDecay: 5e-4 });
      const names = (g: optim.ParamGroupInput) => (g.params as tf.Variable[]).map((p) => p.name.replace(/_[A-Z]\w*?\d+\//, "/"));
      assert.deepEqual(names(decay), ["conv2d/kernel", "dense/kernel"]);
      assert.deepEqual(names(keep), ["conv2d/bias", "batch_normalization/gamma", "batch_normalization/beta", "dense/bias"]);
      assert.equal(decay.weightDecay, 5e-4);
      assert.equal(keep.weightDecay, 0);
      const [, keep2] = optim.paramGroupsForDecay(net, { weightDecay: 5e-4, noDecay: /dense_.*kernel/ });
      assert.equal((keep2.params as tf.Variable[]).length, 5);
      const conv = (decay.params as tf.Variable[])[0];
      const [decay3, keep3] = optim.paramGroupsForDecay(net, { weightDecay: 5e-4, noDecay: [conv.name] });
      assert.deepEqual(names(decay3), ["dense/kernel"]);
      assert.ok((keep3.params as tf.Variable[]).includes(conv));
      const [decay4] = optim.paramGroupsForDecay(net, { weightDecay: 5e-4, noDecay: (p) => p.shape.length === 4 });
      assert.deepEqual(names(decay4), ["dense/kernel"]);
      throwsAll(
        () => optim.paramGroupsForDecay(net, { weightDecay: 1, noDecay: "conv" as never }),
        /noDecay must be a RegExp, a list of names or a predicate, got "conv"/,
      );
      throwsAll(() => optim.paramGroupsForDecay(net, { weightDecay: -1 }), /weightDecay must be a finite number >= 0, got -1/);
      throwsAll(() => optim.paramGroupsForDecay(net, { weight_decay: 1 } as never), /unknown option "weight_decay"/);
    });

    it("paramGroupsForDecay splits the course ResNet as PyTorch's ndim rule does", () => {
      // Reference (shared/reference/pytorch-optim-semantics.md, from torch): 21 tensors / 11,172,032 params
      // with decay, 37 tensors / 8,650 without.
      const net = models.resnet(3, 10);
      const opt = new optim.SGD(optim.paramGroupsForDecay(net, { weightDecay: 1e-4 }), { lr: 0.01, momentum: 0.9 });
      assert.deepEqual(
        opt.paramGroups.map((g) => [g.params.length, g.params.numel, g.weightDecay]),
        [
          [21, 11172032, 1e-4],
          [37, 8650, 0],
        ],
      );
      net.dispose();
    });

    it("l2Penalty is λ·Σ‖p‖²", () => {
      const vars = [v([1, 2]), v([3], [1])];
      const pen = optim.l2Penalty(vars, 0.5);
      assert.equal(pen.rank, 0);
      assert.ok(Math.abs(pen.dataSync()[0] - 0.5 * 14) < 1e-6);
      throwsAll(() => optim.l2Penalty(vars, -1), /lambda must be a finite number >= 0, got -1/);
      throwsAll(
        () => optim.l2Penalty([], 0.1),
        /l2Penalty: no parameters given/,
        /pass a model or layer, variables or tensors, or param groups/,
      );
      pen.dispose();
    });

    it("plain SGD on loss + l2Penalty(λ) follows SGD({ weightDecay: 2λ }), with and without momentum", () => {
      const lam = 0.05;
      for (const momentum of [0, 0.9]) {
        const runs = [0, 1].map(() => [v([1, -2, 0.5]), v([0.3, 0.7])]);
        const base = (vs: tf.Variable[]) => tf.addN(vs.map((t) => tf.sum(tf.cos(t)))) as tf.Scalar;
        const penalized = new optim.SGD(runs[0], { lr: 0.1, momentum });
        const decayed = new optim.SGD(runs[1], { lr: 0.1, momentum, weightDecay: 2 * lam });
        for (let i = 0; i < 20; i++) {
          penalized.minimize(() => tf.add(base(runs[0]), optim.l2Penalty(runs[0], lam)) as tf.Scalar);
          decayed.minimize(() => base(runs[1]));
        }
        assertClose(values(runs[0]), values(runs[1]), 1e-6, `momentum ${momentum}`);
        // ... and differs from weightDecay = λ (the course's reading), so the factor 2 is real.
        const wrong = [v([1, -2, 0.5]), v([0.3, 0.7])];
        const o = new optim.SGD(wrong, { lr: 0.1, momentum, weightDecay: lam });
        for (let i = 0; i < 20; i++) o.minimize(() => base(wrong));
        assert.ok(Math.abs(values(wrong)[0][0] - values(runs[1])[0][0]) > 1e-3);
      }
    });

    it("tf.regularizers.l2({ l2: λ }) in model.fit equals weightDecay 2λ on the kernels", async () => {
      const lam = 0.02;
      const xs = tf.tensor([
        [0.5, -1, 2],
        [1, 0.3, -0.7],
        [-0.2, 0.8, 0.1],
        [1.5, -0.5, 0.2],
      ]);
      const ys = tf.tensor([
        [1, 0],
        [0, 1],
        [1, 1],
        [0, 0],
      ]);
      const reg = denseModel(21, tf.regularizers.l2({ l2: lam }));
      reg.compile({ optimizer: new optim.SGD(reg, { lr: 0.1 }), loss: "meanSquaredError" });
      await reg.fit(xs, ys, { epochs: 10, batchSize: 4, shuffle: false, verbose: 0 });
      const plain = denseModel(21);
      const kernels = plain.trainableWeights.filter((w) => w.name.endsWith("kernel"));
      const biases = plain.trainableWeights.filter((w) => w.name.endsWith("bias"));
      const opt = new optim.SGD([{ params: kernels, weightDecay: 2 * lam }, { params: biases }], { lr: 0.1 });
      plain.compile({ optimizer: opt, loss: "meanSquaredError" });
      await plain.fit(xs, ys, { epochs: 10, batchSize: 4, shuffle: false, verbose: 0 });
      assertClose(
        values(reg.trainableWeights.map((w) => w.read() as tf.Variable)),
        values(plain.trainableWeights.map((w) => w.read() as tf.Variable)),
        1e-5,
        "l2 vs weightDecay",
      );
    });
  });
});
