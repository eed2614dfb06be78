// Every schedule against real PyTorch: fixtures from test/goldens/lr_scheduler_goldens.py (torch 1.13).
// Each case runs on a plain-object optimizer and on tsdl's real optim.SGD / optim.Adam, and must match within
// 1e-9 relative (values PyTorch computes as exactly 0 must be within 1e-15).
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { backend, lrScheduler as L, optim, tf } from "tsdl";

type Spec = { type: string; options?: Record<string, unknown>; schedulers?: Spec[]; milestones?: number[] };
interface Case {
  name: string;
  groups: { lr: number }[];
  optimizer?: "sgd" | "adam";
  momentum?: number;
  schedulers: Spec[];
  steps: number;
  metrics?: number[];
  epochArgs?: (number | null)[];
  roundTrip?: number;
  torchState?: boolean;
  expected: {
    lr: number[][];
    momentum?: number[][];
    torchState?: { afterSteps: number; groupLrs: number[]; states: Record<string, unknown>[] };
  };
}

const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, "fixtures", "lr_scheduler_goldens.json"), "utf8")) as {
  torch: string;
  cases: Case[];
};

const LAMBDAS: Record<string, (e: number) => number> = {
  pow095: (e) => 0.95 ** e,
  inv: (e) => 1.0 / (1 + e),
  halfEvery3: (e) => 0.5 ** Math.floor(e / 3),
  const09: () => 0.9,
  alt: (e) => (e % 2 ? 0.9 : 1.05),
};

const CLASSES: Record<string, new (opt: L.SchedulableOptimizer, o: never) => L.Scheduler> = {
  LambdaLR: L.LambdaLR,
  MultiplicativeLR: L.MultiplicativeLR,
  StepLR: L.StepLR,
  MultiStepLR: L.MultiStepLR,
  ConstantLR: L.ConstantLR,
  LinearLR: L.LinearLR,
  ExponentialLR: L.ExponentialLR,
  PolynomialLR: L.PolynomialLR,
  CosineAnnealingLR: L.CosineAnnealingLR,
  CosineAnnealingWarmRestarts: L.CosineAnnealingWarmRestarts,
  ReduceLROnPlateau: L.ReduceLROnPlateau,
  CyclicLR: L.CyclicLR,
  OneCycleLR: L.OneCycleLR,
};

export function build(opt: L.SchedulableOptimizer, spec: Spec): L.Scheduler {
  if (spec.type === "SequentialLR") {
    const children = spec.schedulers!.map((c) => build(opt, c));
    return new L.SequentialLR(opt, { schedulers: children, milestones: spec.milestones! });
  }
  if (spec.type === "ChainedScheduler") return new L.ChainedScheduler(spec.schedulers!.map((c) => build(opt, c)));
  const options: Record<string, unknown> = { ...spec.options };
  if (typeof options.lrLambda === "string") options.lrLambda = LAMBDAS[options.lrLambda];
  else if (Array.isArray(options.lrLambda)) options.lrLambda = (options.lrLambda as string[]).map((n) => LAMBDAS[n]);
  const Cls = CLASSES[spec.type];
  assert.ok(Cls, `no class for ${spec.type}`);
  return new Cls(opt, options as never);
}

/** A plain-object optimizer, as PyTorch's groups: SGD(momentum) or Adam(betas). */
function fakeOptimizer(c: Case): L.SchedulableOptimizer {
  if (c.optimizer === "adam") {
    return { paramGroups: c.groups.map((g) => ({ lr: g.lr, betas: [0.9, 0.999] })), defaults: { betas: [0.9, 0.999] } };
  }
  const m = c.momentum ?? 0;
  return { paramGroups: c.groups.map((g) => ({ lr: g.lr, momentum: m })), defaults: { momentum: m } };
}

interface Driven {
  opt: L.SchedulableOptimizer;
  /** One optimizer step (a no-op for the plain-object optimizer). */
  optimizerStep(): void;
  dispose(): void;
}

function fakeDriven(c: Case): Driven {
  return { opt: fakeOptimizer(c), optimizerStep: () => undefined, dispose: () => undefined };
}

function realDriven(c: Case): Driven {
  const vars = c.groups.map(() => tf.variable(tf.zeros([1])));
  const groups = c.groups.map((g, i) => ({ params: [vars[i]], lr: g.lr }));
  const opt =
    c.optimizer === "adam"
      ? new optim.Adam(groups, { lr: 0.001, betas: [0.9, 0.999] })
      : new optim.SGD(groups, { lr: 0.001, momentum: c.momentum ?? 0 });
  const zeros = tf.zeros([1]);
  const grads = new Map(vars.map((v) => [v, zeros] as [tf.Variable, tf.Tensor]));
  return {
    opt: opt as unknown as L.SchedulableOptimizer,
    optimizerStep: () => opt.step(grads),
    dispose: () => {
      opt.dispose();
      zeros.dispose();
      vars.forEach((v) => v.dispose());
    },
  };
}

function momentumOf(g: L.SchedulableGroup, adam: boolean): number {
  return adam ? (g.betas as number[])[0] : (g.momentum as number);
}

function cycles(spec: Spec): boolean {
  if (spec.type === "CyclicLR" || spec.type === "OneCycleLR") return spec.options?.cycleMomentum !== false;
  return (spec.schedulers ?? []).some(cycles);
}

function stepAll(c: Case, scheds: L.Scheduler[], t: number): void {
  for (const s of scheds) {
    if (c.metrics) s.step(c.metrics[t]);
    else if (c.epochArgs && c.epochArgs[t] !== null && c.epochArgs[t] !== undefined) s.step(c.epochArgs[t] as number);
    else s.step();
  }
}

/** Runs a case; `restore` rebuilds mid-run from saved state (our stateDict after JSON, or PyTorch's). */
function run(c: Case, make: (c: Case) => Driven, mode: "plain" | "roundTrip" | "torchState" = "plain") {
  let d = make(c);
  const adam = c.optimizer === "adam";
  let scheds = c.schedulers.map((s) => build(d.opt, s));
  const withMomentum = c.schedulers.some(cycles);
  const lr: number[][] = c.groups.map(() => []);
  const mom: number[][] = c.groups.map(() => []);
  const record = () =>
    d.opt.paramGroups.forEach((g, i) => {
      lr[i].push(g.lr);
      if (withMomentum) mom[i].push(momentumOf(g, adam));
    });
  record();
  let start = 0;
  if (mode === "torchState") {
    const ts = c.expected.torchState!;
    for (let t = 0; t < ts.afterSteps; t++) lr.forEach((row, i) => row.push(c.expected.lr[i][t + 1]));
    d.opt.paramGroups.forEach((g, i) => (g.lr = ts.groupLrs[i]));
    scheds.forEach((s, i) => s.loadStateDict(ts.states[i]));
    start = ts.afterSteps;
  }
  const scratch: Driven[] = [];
  let tensorsAfterFirstStep = -1;
  for (let t = start; t < c.steps; t++) {
    if (mode === "roundTrip" && c.roundTrip === t) {
      const saved = JSON.parse(JSON.stringify(scheds.map((s) => s.stateDict())));
      const groups = JSON.parse(JSON.stringify(d.opt.paramGroups.map((g) => ({ ...g, params: undefined }))));
      scratch.push(d);
      d = make(c);
      scheds = c.schedulers.map((s) => build(d.opt, s));
      // As PyTorch: build the schedulers, then load the optimizer's state (its groups), then the schedulers'.
      d.opt.paramGroups.forEach((g, i) => {
        for (const [k, v] of Object.entries(groups[i])) if (k !== "params") (g as Record<string, unknown>)[k] = v;
      });
      scheds.forEach((s, i) => s.loadStateDict(saved[i]));
    }
    d.optimizerStep();
    stepAll(c, scheds, t);
    record();
    if (t === start) tensorsAfterFirstStep = tf.memory().numTensors;
  }
  const tensorsAtEnd = tf.memory().numTensors;
  d.dispose();
  scratch.forEach((x) => x.dispose());
  return { lr, momentum: withMomentum ? mom : undefined, tensorsAfterFirstStep, tensorsAtEnd };
}

function close(actual: number[][], expected: number[][], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: number of groups`);
  expected.forEach((row, g) => {
    assert.equal(actual[g].length, row.length, `${what}[${g}]: number of steps`);
    row.forEach((e, t) => {
      const a = actual[g][t];
      const ok = Math.abs(a - e) <= 1e-9 * Math.max(Math.abs(a), Math.abs(e)) || Math.abs(a - e) <= 1e-15;
      assert.ok(ok, `${what}[group ${g}][step ${t}]: got ${a}, PyTorch ${e}`);
    });
  });
}

function check(c: Case, got: { lr: number[][]; momentum?: number[][] }): void {
  close(got.lr, c.expected.lr, "lr");
  if (c.expected.momentum) close(got.momentum!, c.expected.momentum, "momentum");
  else assert.equal(got.momentum, undefined);
}

describe(`lrScheduler goldens (PyTorch ${fixture.torch})`, () => {
  let restoreWarnings: L.WarningHandler;
  const warnings: string[] = [];
  before(async () => {
    await backend.init("cpu", { verbose: false });
    restoreWarnings = L.setWarningHandler((m) => warnings.push(m));
  });
  after(() => {
    L.setWarningHandler(restoreWarnings);
  });

  it("covers every scheduler class", () => {
    const seen = new Set<string>();
    const visit = (s: Spec) => {
      seen.add(s.type);
      (s.schedulers ?? []).forEach(visit);
    };
    fixture.cases.forEach((c) => c.schedulers.forEach(visit));
    assert.deepEqual([...seen].sort(), [...Object.keys(CLASSES), "SequentialLR", "ChainedScheduler"].sort());
  });

  describe("plain-object optimizer", () => {
    for (const c of fixture.cases) it(c.name, () => check(c, run(c, fakeDriven)));
  });

  describe("tsdl optim.SGD / optim.Adam", () => {
    for (const c of fixture.cases) {
      it(c.name, () => {
        warnings.length = 0;
        const got = run(c, realDriven);
        check(c, got);
        assert.equal(got.tensorsAtEnd, got.tensorsAfterFirstStep, "tf.memory().numTensors grew during the run");
        assert.deepEqual(warnings, [], "no call-order warning when optimizer.step() comes first");
      });
    }
  });

  describe("state-dict round trips mid-schedule (JSON)", () => {
    for (const c of fixture.cases.filter((x) => x.roundTrip !== undefined)) {
      it(c.name, () => check(c, run(c, fakeDriven, "roundTrip")));
    }
  });

  describe("loading PyTorch's own state_dict mid-schedule", () => {
    for (const c of fixture.cases.filter((x) => x.expected.torchState)) {
      it(c.name, () => check(c, run(c, fakeDriven, "torchState")));
    }
  });

  it("CyclicLR cycles Adam's betas[0] with the momentum values PyTorch gives SGD", () => {
    // torch 1.13 cycles SGD momentum only; torch >= 2.0 writes the same values into betas[0] for Adam.
    for (const c of fixture.cases.filter((x) => x.schedulers[0].type === "CyclicLR" && x.expected.momentum)) {
      const adamCase: Case = { ...c, optimizer: "adam" };
      for (const make of [fakeDriven, realDriven]) {
        const got = run(adamCase, make);
        close(got.lr, c.expected.lr, `${c.name} (Adam) lr`);
        close(got.momentum!, c.expected.momentum!, `${c.name} (Adam) beta1`);
      }
    }
  });

  // PyTorch 1.13 cannot nest a container inside SequentialLR (it fails with TypeError/AttributeError). tsdl
  // runs a nested container from initialLr with fresh initial steps, so each piece follows its own PyTorch run.
  function runSpec(spec: Spec, steps: number): number[][] {
    const opt = fakeOptimizer({ groups: [{ lr: 0.05 }, { lr: 0.5 }] } as Case);
    const s = build(opt, spec);
    const lr: number[][] = [[], []];
    const rec = () => opt.paramGroups.forEach((g, i) => lr[i].push(g.lr));
    rec();
    for (let t = 0; t < steps; t++) {
      s.step();
      rec();
    }
    return lr;
  }
  const specOf = (name: string) => fixture.cases.find((x) => x.name === name)!;
  const joined = (first: string, m: number, second: string, steps: number) =>
    [0, 1].map((g) => [...specOf(first).expected.lr[g].slice(0, m), ...specOf(second).expected.lr[g].slice(0, steps + 1 - m)]);

  it("SequentialLR with a ChainedScheduler after a milestone (tsdl extension)", () => {
    const chained = specOf("ChainedScheduler ConstantLR + ExponentialLR (doc)").schedulers[0];
    const spec: Spec = {
      type: "SequentialLR",
      schedulers: [{ type: "ConstantLR", options: { factor: 0.25, totalIters: 4 } }, chained],
      milestones: [3],
    };
    close(runSpec(spec, 12), joined("ConstantLR", 3, "ChainedScheduler ConstantLR + ExponentialLR (doc)", 12), "nested chained");
  });

  it("SequentialLR whose first schedule is a SequentialLR or a ChainedScheduler (tsdl extension)", () => {
    const inner = specOf("SequentialLR warmup then cosine").schedulers[0];
    const spec: Spec = { type: "SequentialLR", schedulers: [inner, { type: "ExponentialLR", options: { gamma: 0.9 } }], milestones: [12] };
    close(runSpec(spec, 20), joined("SequentialLR warmup then cosine", 12, "ExponentialLR", 20), "nested sequential");
    const chained = specOf("ChainedScheduler StepLR + CosineAnnealingLR").schedulers[0];
    const spec2: Spec = {
      type: "SequentialLR",
      schedulers: [chained, { type: "StepLR", options: { stepSize: 3, gamma: 0.5 } }],
      milestones: [7],
    };
    close(runSpec(spec2, 13), joined("ChainedScheduler StepLR + CosineAnnealingLR", 7, "StepLR", 13), "chained first");
  });

  it("warmupCosine equals PyTorch's SequentialLR(LinearLR, CosineAnnealingLR)", () => {
    const c = fixture.cases.find((x) => x.name === "SequentialLR warmup then cosine")!;
    const opt = fakeOptimizer(c);
    const s = L.warmupCosine(opt, { warmupSteps: 5, totalSteps: 20, startFactor: 0.1 });
    const lr: number[][] = [[], []];
    const rec = () => opt.paramGroups.forEach((g, i) => lr[i].push(g.lr));
    rec();
    for (let t = 0; t < c.steps; t++) {
      s.step();
      rec();
    }
    close(lr, c.expected.lr, "warmupCosine");
  });

  it("preview of each case equals the PyTorch run, and leaves the optimizer alone", () => {
    for (const c of fixture.cases.filter((x) => x.schedulers.length === 1 && !x.epochArgs)) {
      const opt = fakeOptimizer(c);
      const before = JSON.stringify(opt.paramGroups);
      const p = L.preview((o) => build(o, c.schedulers[0]), c.steps + 1, { optimizer: opt, metrics: c.metrics });
      assert.equal(JSON.stringify(opt.paramGroups), before, `${c.name}: preview changed the optimizer`);
      close(p.lr, c.expected.lr, `${c.name} preview lr`);
      if (c.expected.momentum) close(p.momentum!, c.expected.momentum, `${c.name} preview momentum`);
    }
  });
});
