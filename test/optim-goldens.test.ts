// tsdl's optimizers against real PyTorch trajectories (test/fixtures/optim_goldens.json, written by
// test/goldens/optim_goldens.py with torch 1.13): same initial parameters, same gradients at every step,
// the same mid-run edits of paramGroups; parameters must match after every step.
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { backend, optim, tf } from "tsdl";

interface Edit {
  step: number;
  group: number | "all";
  key: string;
  value: unknown;
}
interface Case {
  name: string;
  optimizer: "SGD" | "Adam" | "AdamW" | "RMSprop" | "Adagrad";
  defaults: Record<string, unknown>;
  groups: Array<{ params: string[]; options?: Record<string, unknown> }>;
  edits?: Edit[];
  steps: number;
  shapes: Record<string, number[]>;
  init: Record<string, number[]>;
  grads: Array<Record<string, number[]>>;
  params: Array<Record<string, number[]>>;
}

const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, "fixtures", "optim_goldens.json"), "utf8")) as {
  torch: string;
  cases: Case[];
};

/** float32 against float32 PyTorch: 1e-5 relative, with a 1e-6 floor for values near 0. */
const RTOL = 1e-5;
const ATOL = 1e-6;

function build(c: Case, values: Record<string, number[] | Float32Array>, tag: string) {
  const vars: Record<string, tf.Variable> = {};
  for (const [n, shape] of Object.entries(c.shapes))
    vars[n] = tf.variable(tf.tensor(values[n], shape), true, `golden/${c.name}/${tag}/${n}`);
  const groups = c.groups.map((g) => ({ params: g.params.map((n) => vars[n]), ...(g.options ?? {}) }));
  const Cls = optim[c.optimizer] as unknown as new (p: unknown, o: unknown) => optim.Optimizer;
  return { vars, opt: new Cls(groups, c.defaults) };
}

/** Runs steps [from, to) of a case: edits, then one step with the recorded PyTorch gradients. */
function replay(c: Case, opt: optim.Optimizer, vars: Record<string, tf.Variable>, from: number, to: number, byName: boolean): number {
  let worst = 0;
  for (let t = from; t < to; t++) {
    for (const e of c.edits ?? []) {
      if (e.step !== t) continue;
      const targets = e.group === "all" ? [...opt.paramGroups] : [opt.paramGroups[e.group]];
      for (const g of targets) g[e.key] = Array.isArray(e.value) ? [...e.value] : e.value;
    }
    const grads = Object.entries(c.grads[t]).map(([n, data]) => [vars[n], tf.tensor(data, c.shapes[n])] as const);
    if (byName) opt.step(Object.fromEntries(grads.map(([v, g]) => [v.name, g])));
    else opt.step(new Map(grads));
    tf.dispose(grads.map(([, g]) => g));
    for (const [n, want] of Object.entries(c.params[t])) {
      const got = vars[n].dataSync();
      for (let i = 0; i < want.length; i++) {
        const err = Math.abs(got[i] - want[i]);
        worst = Math.max(worst, err / (Math.abs(want[i]) + ATOL / RTOL));
        assert.ok(
          err <= RTOL * Math.abs(want[i]) + ATOL,
          `${c.name}: step ${t + 1}, ${n}[${i}] = ${got[i]}, PyTorch ${want[i]} (|diff| ${err})`,
        );
      }
    }
  }
  return worst;
}

describe("optim goldens (PyTorch " + fixture.torch + ")", () => {
  before(async () => {
    await backend.init("cpu", { verbose: false });
  });

  it("has at least 30 cases covering every optimizer", () => {
    assert.ok(fixture.cases.length >= 30, `${fixture.cases.length} cases`);
    for (const k of ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
      assert.ok(
        fixture.cases.some((c) => c.optimizer === k),
        k,
      );
  });

  for (const c of fixture.cases) {
    it(`${c.name}: ${c.steps} steps match PyTorch`, () => {
      const { vars, opt } = build(c, c.init, "run");
      replay(c, opt, vars, 0, c.steps, c.name.length % 2 === 0);
      assert.equal(opt.stepCount, c.steps);
      opt.dispose();
      tf.dispose(Object.values(vars));
    });
  }

  describe("on the wasm backend", () => {
    before(async () => {
      await backend.init("wasm", { verbose: false });
    });
    after(async () => {
      await backend.init("cpu", { verbose: false });
    });
    it(`all ${fixture.cases.length} cases match PyTorch`, () => {
      assert.equal(tf.getBackend(), "wasm");
      for (const c of fixture.cases) {
        const { vars, opt } = build(c, c.init, "wasm");
        replay(c, opt, vars, 0, c.steps, true);
        opt.dispose();
        tf.dispose(Object.values(vars));
      }
    });
  });

  for (const c of fixture.cases) {
    it(`${c.name}: stateDict after 4 steps, loaded into fresh variables, continues as PyTorch`, () => {
      const a = build(c, c.init, "a");
      replay(c, a.opt, a.vars, 0, 4, true);
      const saved = JSON.parse(JSON.stringify(a.opt.stateDict()));
      const now = Object.fromEntries(Object.entries(a.vars).map(([n, v]) => [n, v.dataSync() as Float32Array]));
      a.opt.dispose();
      tf.dispose(Object.values(a.vars));
      // Fresh defaults on purpose: loadStateDict must restore every group's hyperparameters (edits included).
      const b = build(c, now, "b");
      b.opt.loadStateDict(saved);
      assert.equal(b.opt.stepCount, 4);
      replay(c, b.opt, b.vars, 4, c.steps, false);
      b.opt.dispose();
      tf.dispose(Object.values(b.vars));
    });
  }
});
