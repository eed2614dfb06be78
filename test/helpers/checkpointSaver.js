// The crash-safety test's saving process: `node checkpointSaver.js DIR FIRST_EPOCH COUNT` saves checkpoints of
// epochs FIRST_EPOCH, FIRST_EPOCH + 1, … into DIR (COUNT of them, or forever with "loop"), every weight set to
// the epoch number, printing "ready" before the first and "saved N" after each. Plain JS so that it starts in
// a fraction of a second (the test starts it dozens of times). TSDL_CHECKPOINT_CRASH_AT stops it at a step.
const { saveCheckpoint, tf } = require("tsdl");

async function main() {
  const [dir, first, count] = process.argv.slice(2);
  await tf.setBackend("cpu");
  const model = tf.sequential({
    layers: [tf.layers.dense({ inputShape: [256], units: 512, name: "a" }), tf.layers.dense({ units: 64, name: "b" })],
  });
  const n = count === "loop" ? Infinity : Number(count);
  process.stdout.write("ready\n");
  for (let epoch = Number(first); epoch < Number(first) + n; epoch++) {
    model.setWeights(model.weights.map((w) => tf.fill(w.shape, epoch)));
    await saveCheckpoint(dir, { model, epoch, extra: { pid: process.pid } });
    process.stdout.write(`saved ${epoch}\n`);
  }
}

main().catch((e) => {
  process.stderr.write(String((e && e.stack) || e) + "\n");
  process.exit(1);
});
