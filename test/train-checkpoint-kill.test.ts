// Crash safety of checkpoints: a process saving in a loop is killed (SIGKILL) at random moments, and at each
// step of a save through the TSDL_CHECKPOINT_CRASH_AT hook. After every kill the folder must hold the newest
// checkpoint that finished (or the one being saved), loadable and uncorrupted, and the next save must leave
// no debris.
import assert from "node:assert/strict";
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { backend, loadCheckpoint, readCheckpoint, saveCheckpoint, tf } from "tsdl";

const SAVER = path.join(__dirname, "helpers", "checkpointSaver.js");
const STEPS = ["folder-made", "claimed", "weights-written", "manifest-written", "published", "cleaning"] as const;
const KILLS = 50;
/**
 * Entries a kill at each step leaves (none before the marker; the marker, then: new weights, temporary manifest;
 * once published the manifest and, over an earlier save, the old weights until the cleaning removes them).
 */
const LEFT = {
  fresh: { "folder-made": 0, claimed: 1, "weights-written": 2, "manifest-written": 3, published: 3, cleaning: NaN },
  over: { "folder-made": NaN, claimed: 3, "weights-written": 4, "manifest-written": 5, published: 4, cleaning: 3 },
};

interface Run {
  saved: number[];
  signal: NodeJS.Signals | null;
  code: number | null;
  stderr: string;
  /** Milliseconds from the saver's "ready" to its end. */
  ms: number;
}

/** Runs the saver; `killAfterMs` (counted from its "ready") ends it with SIGKILL. */
function runSaver(dir: string, first: number, count: number | "loop", opts: { killAfterMs?: number; crashAt?: string } = {}): Promise<Run> {
  const env = { ...process.env, TSDL_CHECKPOINT_CRASH_AT: opts.crashAt ?? "" };
  const child = spawn(process.execPath, [SAVER, dir, String(first), String(count)], { env, stdio: ["ignore", "pipe", "pipe"] });
  const saved: number[] = [];
  let out = "";
  let stderr = "";
  let ready = NaN;
  child.stdout.on("data", (c: Buffer) => {
    out += c;
    for (let i = out.indexOf("\n"); i >= 0; i = out.indexOf("\n")) {
      const line = out.slice(0, i);
      out = out.slice(i + 1);
      if (line === "ready") ready = performance.now();
      if (line === "ready" && opts.killAfterMs !== undefined) setTimeout(() => child.kill("SIGKILL"), opts.killAfterMs);
      const m = /^saved (\d+)$/.exec(line);
      if (m) saved.push(Number(m[1]));
    }
  });
  child.stderr.on("data", (c: Buffer) => (stderr += c));
  return new Promise((resolve) =>
    child.on("close", (code, signal) => resolve({ saved, signal, code, stderr, ms: performance.now() - ready })),
  );
}

/** The saver's model in this process, for loading what it wrote. */
function saverModel(): tf.LayersModel {
  return tf.sequential({
    layers: [tf.layers.dense({ inputShape: [256], units: 512, name: "a" }), tf.layers.dense({ units: 64, name: "b" })],
  });
}

/** Loads the checkpoint and checks every weight holds its epoch (a torn or mixed save would not). */
async function assertIntact(dir: string, model: tf.LayersModel): Promise<number> {
  const { epoch } = await loadCheckpoint(dir, { model });
  for (const w of model.getWeights()) {
    const v = w.dataSync();
    for (let i = 0; i < v.length; i++) if (v[i] !== epoch) assert.fail(`checkpoint of epoch ${epoch} has ${v[i]} at ${w.name}[${i}]`);
  }
  return epoch;
}

/** Saves `model`, every weight set to `epoch`, in this process. */
async function saveHere(dir: string, model: tf.LayersModel, epoch: number): Promise<void> {
  model.setWeights(model.weights.map((w) => tf.fill(w.shape, epoch)));
  await saveCheckpoint(dir, { model, epoch });
}

/**
 * What a checkpoint folder holds when no save is under way: the marker, the manifest and its weights file; and
 * nothing beside it (each test's folder has a parent of its own).
 */
function assertClean(dir: string): void {
  assert.deepEqual(fs.readdirSync(path.dirname(dir)), [path.basename(dir)], "debris beside the checkpoint folder");
  const entries = fs.readdirSync(dir).sort();
  assert.equal(entries.length, 3, `debris left: ${entries.join(", ")}`);
  assert.deepEqual(entries.slice(0, 2), [".tsdl-checkpoint", "checkpoint.json"]);
  assert.match(entries[2], /^weights-\d+-[0-9a-f]+\.bin$/);
}

describe("checkpoints survive kill -9", function () {
  this.timeout(180_000);
  let root: string;
  let model: tf.LayersModel;
  before(async () => {
    await backend.init("cpu", { verbose: false });
    root = fs.mkdtempSync(path.join(os.tmpdir(), "tsdl-kill-"));
    model = saverModel();
  });
  after(() => {
    model.dispose();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it(`at ${KILLS} random moments of a saving loop: always resumable, never corrupt, no debris after the next save`, async () => {
    const dir = path.join(root, "loop", "ck");
    let durable = -1; // newest epoch whose save returned
    let next = 0;
    const landed = new Set<number>(); // saves finished per run: shows the kills fall at different points
    let partial = 0; // runs that left an unfinished save's files behind
    // Kills spread over about three saves of this machine, however loaded it is (a fixed window would, on a busy
    // machine, fall mostly before the first save ends).
    const timed = await runSaver(path.join(root, "timing", "ck"), 0, 4);
    assert.deepEqual(timed.saved, [0, 1, 2, 3], `the saver failed: ${timed.stderr}`);
    const window = Math.max(200, (3 * timed.ms) / 4);
    for (let k = 0; k < KILLS; k++) {
      const r = await runSaver(dir, next, "loop", { killAfterMs: Math.random() * window });
      assert.equal(r.signal, "SIGKILL", `saver ended by itself (code ${r.code}): ${r.stderr}`);
      landed.add(r.saved.length);
      if (r.saved.length) durable = r.saved[r.saved.length - 1];
      const attempted = durable + 1;
      if (durable < 0 && !fs.existsSync(path.join(dir, "checkpoint.json"))) {
        // killed during the very first save: nothing to resume yet, and the folder is still ours. Killed between
        // making the folder and writing its marker, the folder is empty (and a later save takes an empty folder).
        if (fs.existsSync(dir)) {
          const marked = fs.existsSync(path.join(dir, ".tsdl-checkpoint"));
          if (!marked) assert.deepEqual(fs.readdirSync(dir), [], "an unmarked folder left by the first save holds nothing");
          assert.throws(
            () => readCheckpoint(dir),
            marked ? /no complete checkpoint there yet: the first save into it was interrupted/ : /: no checkpoint there \(expected/,
          );
        }
        next = 0;
        continue;
      }
      const epoch = await assertIntact(dir, model);
      assert.ok(
        epoch === durable || epoch === attempted,
        `kill ${k}: checkpoint holds epoch ${epoch}, expected ${durable} or ${attempted}`,
      );
      durable = epoch;
      next = epoch + 1;
      const entries = [...fs.readdirSync(dir), ...fs.readdirSync(path.dirname(dir)).filter((e) => e !== "ck")];
      if (entries.length > 3) partial++;
      assert.ok(entries.length <= 5, `kill ${k}: debris accumulates: ${entries.join(", ")}`);
    }
    assert.ok(landed.size >= 3, `kills landed at too few points (saves per run: ${[...landed]})`);
    assert.ok(partial >= 5, `only ${partial} kills fell inside a save's writes`);
    await saveHere(dir, model, next); // the next save, in this process
    assertClean(dir);
    assert.equal(await assertIntact(dir, model), next);
    console.log(
      `      ${KILLS} kills within ${window.toFixed(0)} ms, ${durable + 1} saves finished, ${partial} kills left an unfinished save's files (removed by the next save)`,
    );
  });

  for (const fresh of [true, false]) {
    for (const step of STEPS) {
      if (fresh && step === "cleaning") continue; // a first save has nothing to clean
      if (!fresh && step === "folder-made") continue; // the folder and its marker are there already
      it(`killed at step "${step}" of ${fresh ? "the first save into a new folder" : "a save over an earlier checkpoint"}`, async () => {
        const dir = path.join(root, `${fresh ? "new" : "over"}-${step}`, "ck");
        if (!fresh) await saveHere(dir, model, 3);
        const r = await runSaver(dir, 4, 1, { crashAt: step });
        assert.equal(r.signal, "SIGKILL", `the hook did not fire at ${step} (code ${r.code}): ${r.stderr}`);
        const published = step === "published" || step === "cleaning";
        if (fresh && step === "folder-made") {
          assert.throws(() => readCheckpoint(dir), /: no checkpoint there \(expected/);
        } else if (fresh && !published) {
          assert.throws(() => readCheckpoint(dir), /no complete checkpoint there yet: the first save into it was interrupted/);
        } else {
          assert.equal(await assertIntact(dir, model), published ? 4 : 3);
        }
        assert.equal(fs.readdirSync(dir).length, LEFT[fresh ? "fresh" : "over"][step], `entries after the kill: ${fs.readdirSync(dir)}`);
        await saveHere(dir, model, 5); // the next save (another process) is allowed and cleans up
        assertClean(dir);
        assert.equal(await assertIntact(dir, model), 5);
      });
    }
  }
});
