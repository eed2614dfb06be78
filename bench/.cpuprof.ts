import { backend, models, nn, optim, tf, train } from "tsdl";
async function main() {
  await backend.init("webgpu", { verbose: false });
  const net = models.resnet(3, 10, { seed: 0 });
  const opt = new optim.SGD(net, { lr: 0.01, weightDecay: 1e-4 });
  const ce = new nn.CrossEntropyLoss();
  const hw = 75,
    n = 1;
  const batch = { x: tf.randomNormal([n, hw, hw, 3]), y: tf.tensor1d([1], "int32") };
  const quiet = { verbose: false, progress: false } as const;
  const batches = Array.from({ length: 30 }, () => batch);
  await train(net, batches.slice(0, 3), null, 1, opt, ce, quiet);
  const t = performance.now();
  const c0 = process.cpuUsage();
  await train(net, batches, null, 1, opt, ce, quiet);
  const c = process.cpuUsage(c0);
  console.log(`ms/step ${((performance.now() - t) / 30).toFixed(1)} cpu ms/step ${((c.user + c.system) / 1000 / 30).toFixed(1)}`);
}
main();
