// One training run on wasm with the native kernels, in its own process, for test/wasm-determinism.test.ts:
//   node -r ts-node/register/transpile-only test/helpers/determinismRun.ts <epochs> <out.json>
//     [--checkpoint DIR] [--resume DIR] [--dnnl auto|always|off] [--choices DIR]
// A small CNN whose convolutions (3x3 stride 1 and 2, 1x1, with bias + relu fused or not) are the shapes where
// oneDNN and im2col + OpenBLAS take about the same time, so a choice made by timing in each process would differ.
// Writes the per-batch losses and the final weights (float32 bytes, base64) to out.json.
import * as fs from "fs";
import { backend, data, nn, optim, tf, train } from "tsdl";
import { wasmKernelOptions } from "tsdl/dist/backend/wasm";

const [epochsArg, out, ...rest] = process.argv.slice(2);
const flag = (name: string) => (rest.includes(name) ? rest[rest.indexOf(name) + 1] : undefined);

class Images implements data.Dataset<data.Sample<data.FloatImage>> {
  readonly length = 48;
  get(i: number, g?: data.Generator): data.Sample<data.FloatImage> {
    const label = i % 4;
    const px = new Float32Array(16 * 16 * 3);
    const jitter = g ? g.random() * 0.1 : 0;
    for (let k = 0; k < px.length; k++) px[k] = Math.sin(k * 0.37 + i * 1.3) * 0.5 + (k % 4 === label ? 0.6 : 0) + jitter;
    return [new data.FloatImage(px, 16, 16, 3), label];
  }
}

function net(): tf.LayersModel {
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  const input = tf.input({ shape: [16, 16, 3] });
  let x = tf.layers
    .conv2d({ filters: 16, kernelSize: 3, padding: "same", kernelInitializer: init(1), name: "c1" })
    .apply(input) as tf.SymbolicTensor;
  x = nn.batchNorm2d({ name: "bn1" }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
  x = tf.layers
    .conv2d({ filters: 32, kernelSize: 3, strides: 2, padding: "same", kernelInitializer: init(2), name: "c2", useBias: false })
    .apply(x) as tf.SymbolicTensor;
  x = nn.batchNorm2d({ name: "bn2" }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
  x = tf.layers
    .conv2d({ filters: 32, kernelSize: 3, padding: "same", activation: "relu", kernelInitializer: init(3), name: "c3" })
    .apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 32, kernelSize: 1, kernelInitializer: init(4), name: "c4" }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
  const y = tf.layers.dense({ units: 4, kernelInitializer: init(5), name: "fc" }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: y });
}

async function main(): Promise<void> {
  await backend.init("wasm", { verbose: false });
  const dnnl = flag("--dnnl");
  if (dnnl) wasmKernelOptions.dnnl = dnnl as typeof wasmKernelOptions.dnnl;
  const choices = flag("--choices");
  if (choices) Object.assign(wasmKernelOptions, { convChoices: choices });
  const model = net();
  const opt = new optim.SGD(model, { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 });
  const loader = new data.DataLoader(new Images(), { batchSize: 8, shuffle: true, seed: 3 });
  const checkpoint = flag("--checkpoint");
  const resume = flag("--resume");
  const history = await train(model, loader, undefined, Number(epochsArg), opt, new nn.CrossEntropyLoss(), {
    verbose: false,
    progress: false,
    ...(checkpoint ? { checkpoint } : {}),
    ...(resume ? { resume } : {}),
  });
  const weights = model.getWeights().map((w) => Buffer.from((w.dataSync() as Float32Array).buffer).toString("base64"));
  fs.writeFileSync(out, JSON.stringify({ losses: history.batches.map((b) => b.loss), weights, native: backend.info()?.device }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
