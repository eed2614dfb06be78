// The lrScheduler API around the schedules: validation, warnings, preview, warmup, state dicts, the tutorial's
// schedule, and driving model.fit and a manual loop with tsdl's optimizers. Values come from the PyTorch
// fixture (test/fixtures/lr_scheduler_goldens.json) or from schedules the golden tests already check.
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import * as util from "util";
import { backend, lrScheduler as L, optim, tf } from "tsdl";

const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, "fixtures", "lr_scheduler_goldens.json"), "utf8")) as {
  cases: { name: string; expected: { lr: number[][]; momentum?: number[][] } }[];
};
const golden = (name: string) => {
  const c = fixture.cases.find((x) => x.name === name);
  assert.ok(c, `fixture case ${name}`);
  return c.expected;
};

const two = (): L.SchedulableOptimizer => ({
  paramGroups: [
    { lr: 0.05, momentum: 0.9 },
    { lr: 0.5, momentum: 0.9 },
  ],
  defaults: { momentum: 0.9 },
});
const snapshot = (o: L.SchedulableOptimizer) => JSON.stringify(o.paramGroups.map((g) => ({ ...g, params: undefined })));

function closeRow(actual: number[], expected: number[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  expected.forEach((e, i) => {
    const a = actual[i];
    assert.ok(
      Math.abs(a - e) <= 1e-9 * Math.max(Math.abs(a), Math.abs(e)) || Math.abs(a - e) <= 1e-15,
      `${what}[${i}]: got ${a}, expected ${e}`,
    );
  });
}

let warnings: string[] = [];
let restore: L.WarningHandler;
before(async () => {
  await backend.init("cpu", { verbose: false });
  restore = L.setWarningHandler((m) => warnings.push(m));
});
after(() => L.setWarningHandler(restore));
beforeEach(() => (warnings = []));

describe("lrScheduler validation (clear errors; the optimizer is left as it was)", () => {
  const cases: Array<[string, (o: L.SchedulableOptimizer) => unknown, RegExp]> = [
    ["LinearLR startFactor 0", (o) => L.linearLR(o, { startFactor: 0 }), /LinearLR: startFactor must be in \(0, 1\], got 0/],
    ["LinearLR startFactor 1.5", (o) => L.linearLR(o, { startFactor: 1.5 }), /startFactor must be in \(0, 1\], got 1\.5/],
    ["LinearLR endFactor -0.1", (o) => L.linearLR(o, { endFactor: -0.1 }), /endFactor must be in \[0, 1\], got -0\.1/],
    ["ConstantLR factor 2", (o) => L.constantLR(o, { factor: 2 }), /ConstantLR: factor must be in \(0, 1\].*got 2/],
    ["ConstantLR factor 0", (o) => L.constantLR(o, { factor: 0 }), /factor must be in \(0, 1\].*got 0/],
    ["StepLR stepSize 0", (o) => L.stepLR(o, { stepSize: 0 }), /StepLR: stepSize must be a positive integer, got 0/],
    ["MultiStepLR milestones", (o) => L.multiStepLR(o, { milestones: [3, -1] }), /milestones must be an array of epoch indices.*\[3, -1\]/],
    [
      "OneCycleLR pctStart",
      (o) => L.oneCycleLR(o, { maxLr: 1, totalSteps: 10, pctStart: 1.5 }),
      /pctStart must be a number in \[0, 1\], got 1\.5/,
    ],
    [
      "OneCycleLR annealStrategy",
      (o) => L.oneCycleLR(o, { maxLr: 1, totalSteps: 10, annealStrategy: "exp" as never }),
      /annealStrategy must be one of "cos", "linear", got "exp"/,
    ],
    ["OneCycleLR no totalSteps", (o) => L.oneCycleLR(o, { maxLr: 1 }), /OneCycleLR: give totalSteps .*or epochs and stepsPerEpoch/],
    ["OneCycleLR totalSteps 0", (o) => L.oneCycleLR(o, { maxLr: 1, totalSteps: 0 }), /totalSteps must be a positive integer, got 0/],
    ["OneCycleLR epochs only", (o) => L.oneCycleLR(o, { maxLr: 1, epochs: 3 }), /stepsPerEpoch must be a positive integer, got undefined/],
    [
      "OneCycleLR maxLr per group",
      (o) => L.oneCycleLR(o, { maxLr: [1, 2, 3], totalSteps: 5 }),
      /expected 2 values for maxLr \(one per param group\), got 3/,
    ],
    [
      "CyclicLR mode",
      (o) => L.cyclicLR(o, { baseLr: 0.1, maxLr: 1, mode: "sine" as never }),
      /CyclicLR: mode must be one of "triangular", "triangular2", "exp_range", got "sine"/,
    ],
    [
      "MultiplicativeLR given a number",
      (o) => L.multiplicativeLR(o, { lrLambda: 0.95 as never }),
      /MultiplicativeLR: lrLambda must be a function epoch => factor, got 0\.95/,
    ],
    [
      "LambdaLR wrong count",
      (o) => L.lambdaLR(o, { lrLambda: [() => 1, () => 1, () => 1] }),
      /expected 2 lrLambdas \(one per param group\), got 3/,
    ],
    [
      "ReduceLROnPlateau minLr count",
      (o) => L.reduceLROnPlateau(o, { minLr: [0.1] }),
      /ReduceLROnPlateau: expected 2 values for minLr \(one per param group\), got 1/,
    ],
    ["ReduceLROnPlateau factor 1", (o) => L.reduceLROnPlateau(o, { factor: 1 }), /factor must be in \[0, 1\).*got 1/],
    ["ReduceLROnPlateau mode", (o) => L.reduceLROnPlateau(o, { mode: "down" as never }), /mode must be one of "min", "max", got "down"/],
    ["CosineAnnealingWarmRestarts t0", (o) => L.cosineAnnealingWarmRestarts(o, { t0: 2.5 }), /t0 must be a positive integer, got 2\.5/],
    [
      "resume without initialLr",
      (o) => L.stepLR(o, { stepSize: 2, lastEpoch: 4 }),
      /resuming with lastEpoch=4 needs paramGroups\[0\]\.initialLr/,
    ],
    ["not an optimizer", () => L.stepLR({} as never, { stepSize: 2 }), /expected an optimizer with paramGroups/],
    [
      "warmupCosine totalSteps",
      (o) => L.warmupCosine(o, { warmupSteps: 5, totalSteps: 5 }),
      /totalSteps \(5\) must be larger than warmupSteps \(5\)/,
    ],
    [
      "warmup then throws",
      (o) => L.warmup(o, { warmupSteps: 3, then: (x) => L.stepLR(x, { stepSize: -1 }) }),
      /stepSize must be a positive integer, got -1/,
    ],
  ];
  for (const [name, make, message] of cases) {
    it(name, () => {
      const o = two();
      const before = snapshot(o);
      assert.throws(() => make(o), message);
      assert.equal(snapshot(o), before, "the optimizer's groups changed");
    });
  }

  it("SequentialLR: milestones count, another optimizer, ReduceLROnPlateau", () => {
    const o = two();
    const a = L.constantLR(o, { factor: 0.5, totalIters: 2 });
    const b = L.exponentialLR(o, { gamma: 0.9 });
    assert.throws(
      () => L.sequentialLR(o, { schedulers: [a, b], milestones: [] }),
      /expected 1 milestones \(one fewer than the 2 schedulers\), got \[\]/,
    );
    assert.throws(() => L.sequentialLR(o, { schedulers: [a, b], milestones: [2, 4] }), /expected 1 milestones/);
    const other = L.exponentialLR(two(), { gamma: 0.9 });
    assert.throws(() => L.sequentialLR(o, { schedulers: [a, other], milestones: [2] }), /schedulers\[1\] belongs to another optimizer/);
    assert.throws(() => L.chainedScheduler([a, other]), /ChainedScheduler: schedulers\[1\] belongs to another optimizer/);
    const p = L.reduceLROnPlateau(o);
    assert.throws(() => L.sequentialLR(o, { schedulers: [a, p], milestones: [2] }), /schedulers\[1\] is a ReduceLROnPlateau/);
  });

  it("resuming with lastEpoch works once the groups have initialLr (closed form, as PyTorch)", () => {
    const o = two();
    o.paramGroups.forEach((g) => (g.initialLr = g.lr));
    const s = L.cosineAnnealingLR(o, { tMax: 10, etaMin: 0.001, lastEpoch: 12 });
    // PyTorch resumes a CosineAnnealingLR at lastEpoch + 1 with its closed form; continuing it must then
    // follow the golden run of the same schedule from epoch 13 on.
    const g = golden("CosineAnnealingLR past tMax");
    assert.equal(s.lastEpoch, 13);
    const got: number[] = [o.paramGroups[1].lr];
    for (let e = 14; e <= 20; e++) {
      s.step();
      got.push(o.paramGroups[1].lr);
    }
    closeRow(got, g.lr[1].slice(13, 21), "resumed cosine");
  });

  it("OneCycleLR: stepping past totalSteps is an error that changes nothing", () => {
    const o = two();
    const s = L.oneCycleLR(o, { maxLr: 0.1, totalSteps: 4 });
    for (let i = 0; i < 4; i++) s.step();
    const before = snapshot(o);
    const last = s.getLastLr();
    assert.throws(() => s.step(), /OneCycleLR: tried to step 6 times; the cycle has totalSteps=4/);
    assert.equal(s.lastEpoch, 4);
    assert.deepEqual(s.getLastLr(), last);
    assert.equal(snapshot(o), before);
  });

  it("ReduceLROnPlateau.step needs the metric", () => {
    const s = L.reduceLROnPlateau(two());
    assert.throws(() => (s.step as () => void)(), /ReduceLROnPlateau.step\(metric\): give the monitored value/);
    assert.deepEqual(s.getLastLr(), [0.05, 0.5], "getLastLr works before any step");
  });

  it("loadStateDict rejects the state of another scheduler, naming the keys", () => {
    const o = two();
    const step = L.stepLR(o, { stepSize: 2 });
    const cos = L.cosineAnnealingLR(two(), { tMax: 5 });
    assert.throws(() => step.loadStateDict(cos.stateDict()), /StepLR.loadStateDict: unknown keys "tMax", "etaMin"/);
    assert.throws(() => step.loadStateDict(null as never), /expected an object from stateDict\(\), got null/);
  });

  it("a param group added after the scheduler was built", () => {
    const o = two();
    const plateau = L.reduceLROnPlateau(o, { patience: 0, minLr: 0.001 });
    const perGroup = L.reduceLROnPlateau(two(), { patience: 0, minLr: [0.001, 0.002] });
    o.paramGroups.push({ lr: 1.0, momentum: 0.9 });
    perGroup.optimizer.paramGroups.push({ lr: 1.0 });
    plateau.step(1);
    plateau.step(2);
    assert.deepEqual(
      plateau.getLastLr().map((v) => Number(v.toPrecision(12))),
      [0.005, 0.05, 0.1],
      "scalar minLr re-broadcast",
    );
    perGroup.step(1);
    assert.throws(() => perGroup.step(2), /now has 3 param groups but minLr was given for 2/);

    const o2 = two();
    const cyc = L.oneCycleLR(o2, { maxLr: 0.1, totalSteps: 10 });
    o2.paramGroups.push({ lr: 1.0, momentum: 0.9 });
    const before = snapshot(o2);
    assert.throws(() => cyc.step(), /OneCycleLR: paramGroups\[2\] has no initialLr\/maxLr\/minLr/);
    assert.equal(snapshot(o2), before);
    assert.equal(cyc.lastEpoch, 0);
  });

  it("cycleMomentum needs momentum or betas in the optimizer", () => {
    const o: L.SchedulableOptimizer = { paramGroups: [{ lr: 0.1 }] };
    assert.throws(
      () => L.cyclicLR(o, { baseLr: 0.01, maxLr: 0.1 }),
      /cycleMomentum needs an optimizer with momentum.*Pass cycleMomentum: false/,
    );
    assert.equal(o.paramGroups[0].lr, 0.1);
    L.cyclicLR(o, { baseLr: 0.01, maxLr: 0.1, cycleMomentum: false });
    assert.equal(o.paramGroups[0].lr, 0.01);
  });
});

describe("lrScheduler warning when step() comes before optimizer.step()", () => {
  it("warns once with a real optimizer stepped in the wrong order, never in the right one", () => {
    const v = tf.variable(tf.zeros([1]));
    const g = tf.zeros([1]);
    const opt = new optim.SGD([v], { lr: 0.1 });
    const s = L.stepLR(opt, { stepSize: 1, gamma: 0.5 });
    s.step();
    s.step();
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /StepLR\.step\(\) was called before optimizer\.step\(\)/);

    warnings = [];
    const s2 = L.exponentialLR(opt, { gamma: 0.9 });
    for (let i = 0; i < 3; i++) {
      opt.step(new Map([[v, g]]));
      s2.step();
    }
    assert.deepEqual(warnings, []);
    opt.dispose();
    tf.dispose([v, g]);
  });
});

describe("lrScheduler.preview", () => {
  it("simulates a scheduler from its current state without touching it or its optimizer", () => {
    const o = two();
    const s = L.cosineAnnealingLR(o, { tMax: 10, etaMin: 0.001 });
    for (let i = 0; i < 4; i++) s.step();
    const before = { groups: snapshot(o), state: JSON.stringify(s.stateDict()), last: s.getLastLr() };
    const p = L.preview(s, 8);
    assert.equal(snapshot(o), before.groups);
    assert.equal(JSON.stringify(s.stateDict()), before.state);
    assert.deepEqual(s.getLastLr(), before.last);
    const g = golden("CosineAnnealingLR past tMax");
    closeRow(p.lr[0], g.lr[0].slice(4, 12), "preview group 0");
    closeRow(p.lr[1], g.lr[1].slice(4, 12), "preview group 1");
    assert.equal(p.name, "CosineAnnealingLR(tMax=10, etaMin=0.001)");
    assert.equal(p.momentum, undefined);
    // The real schedule, continued, agrees with its preview.
    const cont = [o.paramGroups[0].lr];
    for (let i = 0; i < 7; i++) {
      s.step();
      cont.push(o.paramGroups[0].lr);
    }
    assert.deepEqual(cont, p.lr[0]);
  });

  it("builds a factory on a copy of a real optimizer's groups and reports cycled momentum (Adam's beta1)", () => {
    const v = tf.variable(tf.zeros([2]));
    const opt = new optim.Adam([{ params: [v], lr: 0.05 }], { lr: 0.001 });
    const before = snapshot(opt as unknown as L.SchedulableOptimizer);
    const p = L.preview((o) => L.oneCycleLR(o, { maxLr: [0.01], totalSteps: 15, baseMomentum: 0.8, maxMomentum: 0.9 }), 16, {
      optimizer: opt as unknown as L.SchedulableOptimizer,
    });
    assert.equal(snapshot(opt as unknown as L.SchedulableOptimizer), before);
    assert.deepEqual(opt.paramGroups[0].betas, [0.9, 0.999]);
    const g = golden("OneCycleLR Adam betas");
    closeRow(p.lr[0], g.lr[0], "lr");
    closeRow(p.momentum![0], g.momentum![0], "beta1");
    opt.dispose();
    v.dispose();
  });

  it("takes plain lrs for a factory, and metrics for ReduceLROnPlateau", () => {
    const down = golden("ReduceLROnPlateau min/rel cooldown minLr");
    const metrics = [1.0, 0.9, 0.95, 0.9, 0.89995, 0.91, 0.85, 0.86, 0.87, 0.88, 0.849, 0.9, 0.9, 0.9, 0.9, 0.9];
    const p = L.preview(
      (o) =>
        L.reduceLROnPlateau(o, {
          mode: "min",
          factor: 0.5,
          patience: 2,
          threshold: 0.01,
          thresholdMode: "rel",
          cooldown: 2,
          minLr: [0.01, 0.05],
        }),
      metrics.length + 1,
      { lr: [0.05, 0.5], metrics },
    );
    closeRow(p.lr[0], down.lr[0].slice(0, metrics.length + 1), "plateau group 0");
    closeRow(p.lr[1], down.lr[1].slice(0, metrics.length + 1), "plateau group 1");
    assert.throws(
      () => L.preview((o) => L.reduceLROnPlateau(o), 5),
      /ReduceLROnPlateau needs options\.metrics.*at least 4 values for 5 steps/,
    );
    assert.throws(() => L.preview((o) => L.stepLR(o, { stepSize: 1 }), 0), /steps must be a positive integer, got 0/);
    assert.throws(() => L.preview(() => ({}) as never, 3), /the factory must return a scheduler/);
    const d = L.preview((o) => L.stepLR(o, { stepSize: 2, gamma: 0.5 }), 5);
    assert.equal(d.lr.length, 1, "one group by default");
    assert.equal(d.lr[0][0], 0.1, "default lr 0.1");
  });
});

describe("lrScheduler conveniences", () => {
  it("ReduceLROnPlateau.step takes a scalar tensor as PyTorch takes a 0-dim tensor", () => {
    const a = two();
    const b = two();
    const sa = L.reduceLROnPlateau(a, { patience: 0 });
    const sb = L.reduceLROnPlateau(b, { patience: 0 });
    for (const m of [3, 2, 2.5, 2.5]) {
      const t = tf.scalar(m);
      sa.step(t);
      t.dispose();
      sb.step(m);
    }
    assert.deepEqual(sa.getLastLr(), sb.getLastLr());
    assert.notDeepEqual(sa.getLastLr(), [0.05, 0.5], "the plateau cut the lr");
  });

  it("a scheduler prints its options, epoch and current lrs", () => {
    const s = L.stepLR(two(), { stepSize: 30, gamma: 0.1 });
    assert.equal(util.inspect(s), "StepLR(stepSize=30, gamma=0.1) lastEpoch=0 lr=[0.05, 0.5]");
    const display = Symbol.for("Jupyter.display");
    const bundle = (s as unknown as Record<symbol, () => Record<string, string>>)[display]();
    assert.equal(bundle["text/plain"], "StepLR(stepSize=30, gamma=0.1) lastEpoch=0 lr=[0.05, 0.5]");
    assert.match(bundle["text/html"], /^<div class="tsdl-lr-scheduler"><code>StepLR\(stepSize=30, gamma=0\.1\)<\/code> lastEpoch=0<table>/);
    assert.match(
      bundle["text/html"],
      /<th[^>]*>group<\/th><th[^>]*>lr<\/th><\/tr><\/thead><tbody><tr><td[^>]*>0<\/td><td[^>]*>0\.05<\/td><\/tr><tr><td[^>]*>1<\/td><td[^>]*>0\.5<\/td><\/tr>/,
    );
    // numbers to 6 digits; a schedule that cycles momentum shows it too
    const w = L.warmupCosine(two(), { warmupSteps: 5, totalSteps: 50 });
    assert.equal(
      String(w),
      "SequentialLR(schedulers=[LinearLR(startFactor=0.166667, endFactor=1, totalIters=5), CosineAnnealingLR(tMax=45, etaMin=0)], milestones=[5])",
    );
    const one = L.oneCycleLR(two(), { maxLr: 0.1, totalSteps: 10 });
    const html = (one as unknown as Record<symbol, () => Record<string, string>>)[display]()["text/html"];
    assert.match(html, /<th[^>]*>momentum<\/th>/);
    assert.match(html, /<td[^>]*>0\.004<\/td><td[^>]*>0\.95<\/td>/);
  });
});

describe("lrScheduler state dicts", () => {
  it("are plain JSON-safe data named as PyTorch's (camelCase)", () => {
    const s = L.stepLR(two(), { stepSize: 3, gamma: 0.5 });
    s.step();
    assert.deepEqual(s.stateDict(), { lastEpoch: 1, lastLr: [0.05, 0.5], stepCount: 2, baseLrs: [0.05, 0.5], stepSize: 3, gamma: 0.5 });
    const p = L.reduceLROnPlateau(two());
    const sd = JSON.parse(JSON.stringify(p.stateDict()));
    assert.equal(sd.best, null, "Infinity becomes null in JSON");
    const q = L.reduceLROnPlateau(two());
    q.loadStateDict(sd);
    assert.equal(q.best, Infinity, "and comes back as 'no best yet'");
  });

  it("of SequentialLR and ChainedScheduler nest their children's; another number of children is refused, changing nothing", () => {
    const seq = L.warmupCosine(two(), { warmupSteps: 2, totalSteps: 6 });
    for (let i = 0; i < 3; i++) seq.step();
    const sd = JSON.parse(JSON.stringify(seq.stateDict()));
    assert.equal(sd.lastEpoch, 3);
    assert.deepEqual(
      sd.schedulers.map((c: { lastEpoch: number }) => c.lastEpoch),
      [1, 1],
      "LinearLR stopped at the milestone, the cosine runs",
    );
    const fresh = L.warmupCosine(two(), { warmupSteps: 2, totalSteps: 6 });
    const before = JSON.stringify(fresh.stateDict());
    assert.throws(
      () => fresh.loadStateDict({ ...sd, schedulers: sd.schedulers.slice(0, 1) }),
      /SequentialLR\.loadStateDict: expected 2 scheduler states, got an array of length 1/,
    );
    assert.equal(JSON.stringify(fresh.stateDict()), before);
    fresh.loadStateDict(sd);
    assert.deepEqual(JSON.parse(JSON.stringify(fresh.stateDict())), sd);

    const o = two();
    const chained = L.chainedScheduler([L.constantLR(o, { factor: 0.5, totalIters: 2 }), L.exponentialLR(o, { gamma: 0.9 })]);
    chained.step();
    const csd = chained.stateDict();
    assert.deepEqual(
      (csd.schedulers as Array<{ lastEpoch: number }>).map((c) => c.lastEpoch),
      [1, 1],
    );
    assert.throws(
      () => chained.loadStateDict({ ...csd, schedulers: [] }),
      /ChainedScheduler\.loadStateDict: expected 2 scheduler states, got \[\]/,
    );
    assert.throws(
      () => chained.loadStateDict({ lastEpoch: 0 }),
      /ChainedScheduler\.loadStateDict: expected 2 scheduler states, got undefined/,
    );
    assert.deepEqual(chained.stateDict(), csd);
  });

  it("bad values are refused before anything changes, naming the key as given, the value and what is accepted", () => {
    const torch = {
      step_size: 3,
      gamma: 0.5,
      base_lrs: [0.05, 0.5],
      last_epoch: 5,
      verbose: false,
      _step_count: 6,
      _get_lr_called_within_step: false,
      _last_lr: [0.025, 0.25],
    };
    const cases: Array<[string, () => L.Scheduler, Record<string, unknown>, RegExp]> = [
      [
        'lastEpoch "abc"',
        () => L.stepLR(two(), { stepSize: 3 }),
        { lastEpoch: "abc" },
        /StepLR\.loadStateDict: lastEpoch must be an integer >= -1, got "abc"/,
      ],
      [
        "gamma null",
        () => L.stepLR(two(), { stepSize: 3 }),
        { gamma: null },
        /StepLR\.loadStateDict: gamma must be a finite number, got null/,
      ],
      [
        "3 baseLrs for 2 groups",
        () => L.stepLR(two(), { stepSize: 3 }),
        { baseLrs: [0.1, 0.1, 0.1] },
        /baseLrs must be an array of 2 finite numbers \(one per param group\), got \[0\.1, 0\.1, 0\.1\]/,
      ],
      [
        'PyTorch\'s last_epoch "7"',
        () => L.stepLR(two(), { stepSize: 3 }),
        { ...torch, last_epoch: "7" },
        /StepLR\.loadStateDict: last_epoch must be an integer >= -1, got "7"/,
      ],
      ["stepSize 0", () => L.stepLR(two(), { stepSize: 3 }), { step_size: 0 }, /step_size must be a positive integer, got 0/],
      [
        "milestones not epochs",
        () => L.multiStepLR(two(), { milestones: [2] }),
        { milestones: [2, "x"] },
        /milestones must be an array of epoch indices \(integers >= 0\), got \[2, "x"\]/,
      ],
      [
        "a CyclicLR mode",
        () => L.cyclicLR(two(), { baseLr: 0.01, maxLr: 0.1 }),
        { mode: "sine" },
        /CyclicLR\.loadStateDict: mode must be one of "triangular", "triangular2", "exp_range", "custom", got "sine"/,
      ],
      [
        "a ReduceLROnPlateau threshold_mode",
        () => L.reduceLROnPlateau(two()),
        { threshold_mode: "relative" },
        /threshold_mode must be one of "rel", "abs", got "relative"/,
      ],
      [
        'best "low"',
        () => L.reduceLROnPlateau(two()),
        { best: "low" },
        /best must be a number, ±Infinity or null \(no metric yet\), got "low"/,
      ],
      [
        "a OneCycleLR phase",
        () => L.oneCycleLR(two(), { maxLr: 0.1, totalSteps: 10 }),
        { schedulePhases: [{ endStep: "2" }] },
        /schedulePhases\[0\]\.endStep must be a finite number, got "2"/,
      ],
      [
        'cycleMomentum "yes"',
        () => L.oneCycleLR(two(), { maxLr: 0.1, totalSteps: 10 }),
        { cycle_momentum: "yes" },
        /cycle_momentum must be true or false, got "yes"/,
      ],
    ];
    for (const [what, make, state, expected] of cases) {
      const s = make();
      const before = JSON.stringify(s.stateDict());
      assert.throws(() => s.loadStateDict(state), expected, what);
      assert.equal(JSON.stringify(s.stateDict()), before, `${what}: changed the scheduler`);
    }
    // a child's bad state is found before the container or an earlier child changes
    const seq = L.warmupCosine(two(), { warmupSteps: 2, totalSteps: 6 });
    for (let i = 0; i < 3; i++) seq.step();
    const sd = JSON.parse(JSON.stringify(seq.stateDict()));
    const fresh = L.warmupCosine(two(), { warmupSteps: 2, totalSteps: 6 });
    const before = JSON.stringify(fresh.stateDict());
    sd.schedulers[1].tMax = "6";
    assert.throws(() => fresh.loadStateDict(sd), /CosineAnnealingLR\.loadStateDict: tMax must be a finite number, got "6"/);
    assert.equal(JSON.stringify(fresh.stateDict()), before);
    // the real PyTorch dict loads, and its Counter of milestones too
    const s = L.stepLR(two(), { stepSize: 3 });
    s.loadStateDict(torch);
    s.step();
    assert.equal(s.lastEpoch, 6);
    const m = L.multiStepLR(two(), { milestones: [1] });
    m.loadStateDict({ milestones: { "4": 1, "2": 2 }, gamma: 0.5 });
    assert.deepEqual(m.stateDict().milestones, [2, 2, 4]);
  });
});

describe("lrScheduler and optim share the schedulable-group protocol", () => {
  // Every key a scheduler writes into a group must be one optim accepts and keeps (SCHEDULER_KEYS, core/protocols).
  const build: Array<[string, (o: L.SchedulableOptimizer) => unknown]> = [
    ["StepLR", (o) => L.stepLR(o, { stepSize: 2 })],
    ["CosineAnnealingWarmRestarts", (o) => L.cosineAnnealingWarmRestarts(o, { t0: 3 })],
    ["CyclicLR", (o) => L.cyclicLR(o, { baseLr: 0.01, maxLr: 0.1, stepSizeUp: 2 })],
    ["OneCycleLR", (o) => L.oneCycleLR(o, { maxLr: 0.1, totalSteps: 10 })],
    ["ReduceLROnPlateau", (o) => L.reduceLROnPlateau(o, { minLr: 1e-4 })],
    ["warmupCosine", (o) => L.warmupCosine(o, { warmupSteps: 2, totalSteps: 10 })],
  ];
  for (const [name, make] of build) {
    it(`${name} adds only SCHEDULER_KEYS to a group, and an optimizer keeps them through stateDict`, () => {
      const o: L.SchedulableOptimizer = { paramGroups: [{ lr: 0.05, momentum: 0.9 }], defaults: { momentum: 0.9 } };
      make(o);
      const added = Object.keys(o.paramGroups[0]).filter((k) => k !== "lr" && k !== "momentum");
      for (const k of added)
        assert.ok((optim.SCHEDULER_KEYS as readonly string[]).includes(k), `${name} wrote ${k}, not in SCHEDULER_KEYS`);
      const v = tf.variable(tf.zeros([2]));
      const opt = new optim.SGD([{ params: [v], ...o.paramGroups[0] }], { lr: 0.05 });
      const back = new optim.SGD([{ params: [v] }], { lr: 1 });
      back.loadStateDict(JSON.parse(JSON.stringify(opt.stateDict())));
      for (const k of added) assert.equal(back.paramGroups[0][k], o.paramGroups[0][k], k);
      v.dispose();
    });
  }
});
