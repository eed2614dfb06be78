// What tsdl's training loop and its PyTorch-exact BatchNorm cost, as ratios measured in one run.
//
//   node -r ts-node/register/transpile-only bench/train.ts [--backend wasm|cpu] [--repeats 5]
//
// 1. train() against a bare loop (tf.variableGrads + optimizer.step) on the same model and batches: the
//    overhead of History, loss read-back + NaN guard, progress and epoch bookkeeping. Measured on a small CNN,
//    where any per-batch overhead shows most.
// 2. nn.BatchNorm2d (PyTorch numerics: unbiased running variance) against tf.layers.batchNormalization, forward +
//    backward in training mode on a ResNet-sized activation [32, 22, 22, 64].
// The course ResNet's training step against PyTorch is bench/resnet.ts.
import { performance } from "perf_hooks";
import { backend, nn, optim, tf, train } from "tsdl";

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function smallCnn(seed: number): tf.LayersModel {
  const input = tf.input({ shape: [32, 32, 3] });
  let x = input as tf.SymbolicTensor;
  for (const [i, f] of [16, 32].entries()) {
    x = tf.layers
      .conv2d({
        filters: f,
        kernelSize: 3,
        padding: "same",
        useBias: false,
        kernelInitializer: tf.initializers.glorotUniform({ seed: seed + i }),
      })
      .apply(x) as tf.SymbolicTensor;
    x = nn.batchNorm2d().apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
    x = tf.layers.maxPooling2d({ poolSize: 2 }).apply(x) as tf.SymbolicTensor;
  }
  x = tf.layers.flatten().apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: tf.layers.dense({ units: 10 }).apply(x) as tf.SymbolicTensor });
}

async function loopOverhead(repeats: number): Promise<{ bare: number; loop: number }> {
  const batches = Array.from({ length: 8 }, (_, i) => ({
    x: tf.randomNormal([32, 32, 32, 3], 0, 1, "float32", i) as tf.Tensor4D,
    y: tf.tensor1d(
      Array.from({ length: 32 }, (_, k) => (k * 7 + i) % 10),
      "int32",
    ),
  }));
  const ce = new nn.CrossEntropyLoss();
  const bareTimes: number[] = [];
  const loopTimes: number[] = [];
  for (let r = 0; r < repeats + 1; r++) {
    // bare: the minimal correct loop a user would write
    {
      const net = smallCnn(r);
      const opt = new optim.SGD(net, { lr: 0.01, momentum: 0.9 });
      const vars = opt.params();
      const t0 = performance.now();
      for (const b of batches) {
        const { value, grads } = tf.variableGrads(() => ce(net.apply(b.x, { training: true }) as tf.Tensor, b.y) as tf.Scalar, vars);
        opt.step(grads);
        value.dataSync();
        tf.dispose([value, ...Object.values(grads)]);
      }
      if (r > 0) bareTimes.push(performance.now() - t0);
      net.dispose();
      opt.dispose();
    }
    {
      const net = smallCnn(r);
      const opt = new optim.SGD(net, { lr: 0.01, momentum: 0.9 });
      const t0 = performance.now();
      await train(net, batches, null, 1, opt, ce, { verbose: false, progress: false });
      if (r > 0) loopTimes.push(performance.now() - t0);
      net.dispose();
      opt.dispose();
    }
  }
  tf.dispose(batches.flatMap((b) => [b.x, b.y]));
  return { bare: median(bareTimes), loop: median(loopTimes) };
}

function batchNormCost(repeats: number): { torchBn: number; tfjsBn: number } {
  const x = tf.randomNormal([32, 22, 22, 64]) as tf.Tensor4D;
  const time = (layer: tf.layers.Layer): number => {
    layer.apply(x, { training: true }); // build
    const vars = layer.trainableWeights.map((w) => w.read() as tf.Variable);
    const times: number[] = [];
    for (let r = 0; r < repeats + 1; r++) {
      const t0 = performance.now();
      const { value, grads } = tf.variableGrads(
        () => tf.sum(tf.square(layer.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar,
        vars,
      );
      value.dataSync();
      tf.dispose([value, ...Object.values(grads)]);
      if (r > 0) times.push(performance.now() - t0);
    }
    return median(times);
  };
  const torchBn = time(nn.batchNorm2d());
  const tfjsBn = time(tf.layers.batchNormalization({ epsilon: 1e-5, momentum: 0.9 }));
  x.dispose();
  return { torchBn, tfjsBn };
}

async function main(): Promise<void> {
  const be = arg("backend", "wasm") as "wasm" | "cpu";
  const repeats = Number(arg("repeats", "5"));
  const info = await backend.init(be, { verbose: false });
  const loop = await loopOverhead(repeats);
  const bn = batchNormCost(repeats);
  const rows = [
    {
      what: "train() epoch of 8 batches (small CNN, batch 32, 32x32)",
      ms: loop.loop,
      baseline: "bare variableGrads+step loop",
      baseMs: loop.bare,
    },
    { what: "nn.BatchNorm2d fwd+bwd [32,22,22,64]", ms: bn.torchBn, baseline: "tf.layers.batchNormalization", baseMs: bn.tfjsBn },
  ];
  console.log(`backend ${info.name} (${info.device}), median of ${repeats}`);
  console.log("| measurement | tsdl ms | baseline | baseline ms | ratio |");
  console.log("| --- | --- | --- | --- | --- |");
  for (const r of rows)
    console.log(`| ${r.what} | ${r.ms.toFixed(1)} | ${r.baseline} | ${r.baseMs.toFixed(1)} | ${(r.ms / r.baseMs).toFixed(3)} |`);
  for (const r of rows)
    console.log(
      JSON.stringify({
        bench: "train",
        backend: info.name,
        what: r.what,
        ms: +r.ms.toFixed(2),
        baseline: r.baseline,
        baseline_ms: +r.baseMs.toFixed(2),
        ratio: +(r.ms / r.baseMs).toFixed(4),
      }),
    );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
