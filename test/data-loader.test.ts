// DataLoader: batching as PyTorch, seeded and resumable order, prefetch, tensor ownership.
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { backend, data, tf } from "tsdl";

const { FloatImage, Image, DataLoader, transforms: T } = data;

/** n tiny 2x2x1 images whose pixels encode their index (and a random jitter so transforms' seeds show). */
class Toy implements data.Dataset<data.Sample<InstanceType<typeof FloatImage>>> {
  gets = 0;
  constructor(
    readonly length: number,
    readonly jitter = false,
  ) {}
  get(i: number, g = data.defaultGenerator()): data.Sample<InstanceType<typeof FloatImage>> {
    this.gets++;
    const r = this.jitter ? g.random() : 0;
    return [new FloatImage(Float32Array.from([i, i + 0.25, i + 0.5, r]), 2, 2, 1), i % 7];
  }
}

async function collect(loader: InstanceType<typeof DataLoader>, limit = Infinity): Promise<{ x: number[][]; y: number[][] }> {
  const x: number[][] = [];
  const y: number[][] = [];
  for await (const b of loader) {
    x.push(Array.from(b.x.dataSync()));
    y.push(Array.from(b.y.dataSync()));
    if (x.length >= limit) break;
  }
  return { x, y };
}
const firstPixels = (xs: number[][]): number[] => xs.flatMap((b) => b.filter((_, k) => k % 4 === 0));

describe("data: DataLoader", () => {
  before(async () => {
    await backend.init("cpu", { verbose: false });
  });

  it("batches in order with the last smaller batch (as PyTorch), or drops it; x float32 NHWC, y int32", async () => {
    const ds = new Toy(10);
    const loader = new DataLoader(ds, { batchSize: 4 });
    assert.equal(loader.length, 3);
    const shapes: number[][] = [];
    for await (const { x, y } of loader) {
      shapes.push(x.shape);
      assert.equal(x.dtype, "float32");
      assert.equal(y.dtype, "int32");
      assert.deepEqual(y.shape, [x.shape[0]]);
    }
    assert.deepEqual(shapes, [
      [4, 2, 2, 1],
      [4, 2, 2, 1],
      [2, 2, 2, 1],
    ]);
    const { x, y } = await collect(loader);
    assert.deepEqual(firstPixels(x), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(y.flat(), [0, 1, 2, 3, 4, 5, 6, 0, 1, 2]);
    const dropped = new DataLoader(ds, { batchSize: 4, dropLast: true });
    assert.equal(dropped.length, 2);
    assert.deepEqual(firstPixels((await collect(dropped)).x), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.equal(new DataLoader(ds).length, 10, "batchSize defaults to 1");
  });

  it("shuffles a permutation per epoch, reproducible from the seed", async () => {
    const ds = new Toy(50);
    const a = new DataLoader(ds, { batchSize: 8, shuffle: true, seed: 42 });
    const e0 = firstPixels((await collect(a)).x);
    const e1 = firstPixels((await collect(a)).x);
    assert.deepEqual(
      [...e0].sort((p, q) => p - q),
      Array.from({ length: 50 }, (_, i) => i),
    );
    assert.notDeepEqual(e0, e1, "each epoch reshuffles");
    assert.notDeepEqual(
      e0,
      Array.from({ length: 50 }, (_, i) => i),
    );
    const b = new DataLoader(ds, { batchSize: 5, shuffle: true, seed: 42, prefetch: 0 });
    assert.deepEqual(firstPixels((await collect(b)).x), e0, "same seed, same order (whatever batch size and prefetch)");
    assert.deepEqual(firstPixels((await collect(b)).x), e1);
    const c = new DataLoader(ds, { batchSize: 8, shuffle: true, seed: 43 });
    assert.notDeepEqual(firstPixels((await collect(c)).x), e0);
    // unseeded loaders follow data.manualSeed, like torch.manual_seed
    data.manualSeed(7);
    const d1 = firstPixels((await collect(new DataLoader(ds, { batchSize: 8, shuffle: true }))).x);
    data.manualSeed(7);
    const d2 = firstPixels((await collect(new DataLoader(ds, { batchSize: 8, shuffle: true }))).x);
    assert.deepEqual(d1, d2);
  });

  it("stateDict/loadStateDict resume mid-epoch and at epoch boundaries with identical data and augmentations", async () => {
    const ds = new Toy(23, true);
    const opts = { batchSize: 4, shuffle: true, seed: 9, prefetch: 3 };
    const ref = new DataLoader(ds, opts);
    const epochs = [await collect(ref), await collect(ref), await collect(ref)];

    // stop after 2 batches of epoch 1, save, and continue in a fresh loader (a restarted process)
    const first = new DataLoader(ds, opts);
    await collect(first);
    let saved: data.DataLoaderState | undefined;
    let seen = 0;
    for await (const b of first) {
      void b;
      if (++seen === 2) {
        saved = first.stateDict();
        break;
      }
    }
    assert.deepEqual(saved, { seed: 9, epoch: 1, batch: 2 });
    const resumed = new DataLoader(ds, { ...opts, seed: 1234, prefetch: 0 });
    resumed.loadStateDict(JSON.parse(JSON.stringify(saved)));
    const rest = await collect(resumed);
    assert.deepEqual(rest.x, epochs[1].x.slice(2));
    assert.deepEqual(rest.y, epochs[1].y.slice(2));
    assert.deepEqual(resumed.stateDict(), { seed: 9, epoch: 2, batch: 0 });
    assert.deepEqual((await collect(resumed)).x, epochs[2].x, "the next epoch follows");

    // at a boundary
    const atBoundary = new DataLoader(ds, opts);
    atBoundary.loadStateDict({ seed: 9, epoch: 2, batch: 0 });
    assert.deepEqual((await collect(atBoundary)).x, epochs[2].x);
    // a loop left early counts as an epoch (as re-iterating a PyTorch DataLoader reshuffles)
    const early = new DataLoader(ds, opts);
    await collect(early, 1);
    assert.deepEqual(early.stateDict(), { seed: 9, epoch: 1, batch: 0 });
  });

  it("each sample's transform draws from a generator seeded by (seed, epoch, index)", async () => {
    const ds = new Toy(6, true);
    const l = new DataLoader(ds, { batchSize: 6, seed: 5 });
    const e0 = (await collect(l)).x[0].filter((_, k) => k % 4 === 3);
    const e1 = (await collect(l)).x[0].filter((_, k) => k % 4 === 3);
    assert.equal(new Set(e0).size, 6, "samples get different draws");
    assert.notDeepEqual(e0, e1, "epochs get different draws");
    const l2 = new DataLoader(ds, { batchSize: 2, seed: 5 });
    assert.deepEqual(
      (await collect(l2)).x.flat().filter((_, k) => k % 4 === 3),
      e0,
    );
  });

  it("disposes what it made: flat numTensors over epochs, on break and on an exception", async () => {
    const ds = new Toy(30);
    const loader = new DataLoader(ds, { batchSize: 4, shuffle: true, seed: 1 });
    const base = tf.memory().numTensors;
    for (let e = 0; e < 3; e++) {
      for await (const { x } of loader) {
        assert.ok(tf.memory().numTensors <= base + 2, "only the current batch is alive");
        tf.tidy(() => {
          x.square().sum();
        });
      }
      assert.equal(tf.memory().numTensors, base);
    }
    for await (const b of loader) {
      void b;
      break;
    }
    assert.equal(tf.memory().numTensors, base);
    await assert.rejects(
      (async () => {
        for await (const b of loader) {
          void b;
          throw new Error("step failed");
        }
      })(),
      /step failed/,
    );
    assert.equal(tf.memory().numTensors, base);
    // a consumer that disposes the batch itself is fine too
    for await (const { x, y } of loader) tf.dispose([x, y]);
    assert.equal(tf.memory().numTensors, base);
  });

  it("prefetches ahead while the consumer awaits, never past the epoch; stats count the batches", async () => {
    const ds = new Toy(40);
    const loader = new DataLoader(ds, { batchSize: 4, prefetch: 2 });
    let i = 0;
    for await (const b of loader) {
      void b;
      await new Promise((r) => setImmediate(r)); // an async training step that yields to the event loop
      // by now the batches after this one were made (up to prefetch + 1 ahead)
      assert.ok(ds.gets >= Math.min(40, (i + 2) * 4), `after batch ${i}: ${ds.gets} samples made`);
      i++;
    }
    assert.equal(ds.gets, 40, "each sample made once");
    assert.equal(loader.stats.batches, 10);
    assert.ok(loader.stats.produceMs >= 0 && loader.stats.waitMs >= 0);
  });

  it("works with a real dataset and transform chain: CIFAR-format files through ToTensor + Normalize", async () => {
    const { tempDir } = await import("./helpers/cifarFixture");
    const t = tempDir();
    try {
      data.writeSyntheticCifar10(t.dir, { train: 10, test: 5 });
      const ds = new data.CIFAR10(t.dir, {
        train: false,
        transform: new T.Compose([new T.ToTensor(), new T.Normalize([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])]),
      });
      const loader = new DataLoader(ds, { batchSize: 4 });
      const batches = await collect(loader);
      assert.equal(batches.x.length, 2);
      const [img] = new data.CIFAR10(t.dir, { train: false }).get(4);
      assert.deepEqual(batches.x[1], Array.from(img.data, (v) => (Math.fround(v / 255) - 0.5) / 0.5).map(Math.fround));
      assert.deepEqual(batches.y.flat(), Array.from(ds.targets));
    } finally {
      t.cleanup();
    }
  });

  it("numWorkers: worker threads make the same batches, bit for bit; resume, subsets, disposal, close()", async function () {
    this.timeout(60_000);
    const { tempDir } = await import("./helpers/cifarFixture");
    const t = tempDir();
    try {
      data.writeSyntheticCifar10(t.dir, { train: 40, test: 5, seed: 4 });
      const chain = new T.Compose([
        new T.Resize(40),
        new T.RandomHorizontalFlip(),
        new T.RandomCrop(36),
        new T.ColorJitter({ brightness: 0.5, contrast: 0.5, hue: 0.5 }),
        new T.ToTensor(),
        new T.Normalize([0.5, 0.5, 0.5], [0.5, 0.5, 0.5]),
      ]);
      const ds = data.subset(new data.CIFAR10(t.dir, { transform: chain }), 30);
      const opts = { batchSize: 8, shuffle: true, seed: 21 };
      const here = new DataLoader(ds, opts);
      const want = [await collect(here), await collect(here)];
      const base = tf.memory().numTensors;
      const par = new DataLoader(ds, { ...opts, numWorkers: 2 });
      try {
        assert.deepEqual(await collect(par), want[0]);
        assert.deepEqual(await collect(par), want[1]);
        assert.equal(tf.memory().numTensors, base);
        assert.equal(par.stats.batches, 4);
        const resumed = new DataLoader(ds, { ...opts, numWorkers: 1 });
        resumed.loadStateDict({ seed: 21, epoch: 1, batch: 3 });
        assert.deepEqual((await collect(resumed)).x, want[1].x.slice(3));
        resumed.close();
        await collect(par, 1); // left early: outstanding requests are dropped
        assert.equal(tf.memory().numTensors, base);
      } finally {
        par.close();
      }
      // custom transforms cannot be rebuilt in a worker: said up front
      const custom = new data.CIFAR10(t.dir, { transform: new T.Compose([new T.ToTensor(), (x: unknown) => x]) });
      assert.throws(
        () => new DataLoader(custom, { numWorkers: 1 }),
        /numWorkers 1 needs a dataset a worker thread can rebuild.*Use numWorkers: 0/,
      );
      assert.throws(() => new DataLoader(new Toy(3), { numWorkers: 1 }), /numWorkers 1 needs a dataset/);
      // an error inside a worker reaches the loop with its message
      const raw = new DataLoader(new data.CIFAR10(t.dir, { train: false }), { batchSize: 2, numWorkers: 1 });
      await assert.rejects(
        collect(raw),
        /item 0 of the dataset is Image\(RGB, 32x32\): end the dataset's transform with transforms.ToTensor\(\)/,
      );
      raw.close();
      // workers share the dataset's memory: they never read the files (gone now)
      fs.rmSync(path.join(t.dir, "cifar-10-batches-bin"), { recursive: true });
      const shared = new DataLoader(ds, { ...opts, numWorkers: 1 });
      assert.deepEqual(await collect(shared), want[0]);
      shared.close();
    } finally {
      t.cleanup();
    }
  });

  it("numWorkers with Fashion-MNIST: workers share the images (no re-read) and give the same batches", async function () {
    if (!fs.existsSync(data.FASHION_MNIST_DEBIAN_ROOT)) this.skip(); // dataset-fashion-mnist not installed
    this.timeout(60_000);
    const fm = new data.FashionMNIST(undefined, {
      train: false,
      transform: new T.Compose([new T.Grayscale(3), new T.RandomCrop(24), new T.ToTensor()]),
    });
    assert.ok(fm.data.buffer instanceof SharedArrayBuffer, "the images live in shared memory");
    const ds = data.subset(fm, 48);
    const want = await collect(new DataLoader(ds, { batchSize: 16, shuffle: true, seed: 2 }));
    const par = new DataLoader(ds, { batchSize: 16, shuffle: true, seed: 2, numWorkers: 2 });
    try {
      assert.deepEqual(await collect(par), want);
    } finally {
      par.close();
    }
  });

  it("numWorkers: a script awaiting worker batches runs to the end (idle workers do not hold the process)", async function () {
    this.timeout(60_000);
    const { tempDir } = await import("./helpers/cifarFixture");
    const { spawnSync } = await import("child_process");
    const t = tempDir();
    try {
      data.writeSyntheticCifar10(t.dir, { train: 20, test: 5 });
      const script = `
        const { data } = require("tsdl");
        const T = data.transforms;
        (async () => {
          const ds = new data.CIFAR10(${JSON.stringify(t.dir)}, { transform: new T.Compose([new T.ToTensor()]) });
          const loader = new data.DataLoader(ds, { batchSize: 4, numWorkers: 2 });
          let n = 0;
          for await (const { x } of loader) n += x.shape[0];
          console.log("images", n);
        })();`;
      const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 50_000 });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /images 20/);
    } finally {
      t.cleanup();
    }
  });

  describe("worker threads end with the loader's use", function () {
    this.timeout(120_000);
    let t: { dir: string; cleanup(): void };
    before(async function () {
      if (process.platform !== "linux") this.skip(); // threads are counted in /proc/self/status
      const { tempDir } = await import("./helpers/cifarFixture");
      t = tempDir();
      data.writeSyntheticCifar10(t.dir, { train: 100, test: 5 });
    });
    after(() => t?.cleanup());
    const run = async (mode: string, ...args: string[]) => {
      const { spawnSync } = await import("child_process");
      const r = spawnSync(process.execPath, ["--expose-gc", path.join(__dirname, "helpers", "loaderWorkers.js"), mode, t.dir, ...args], {
        encoding: "utf8",
        timeout: 100_000,
      });
      const lines = r.stdout
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l));
      return { status: r.status, signal: r.signal, stderr: r.stderr, lines };
    };

    it("ten loaders iterated and never closed (a cell run ten times) add no threads and no memory", async () => {
      const r = await run("unclosed");
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.lines.length, 10);
      for (const l of r.lines) {
        assert.equal(l.images, 100);
        assert.equal(l.threads, l.base, `loader ${l.loader}: ${l.threads} threads, ${l.base} before any loader`);
      }
      const growth = r.lines[9].rss - r.lines[0].rss;
      assert.ok(growth < 40, `RSS grew ${growth.toFixed(0)} MB from the first loader to the tenth`); // was ~40 MB per loader
    });

    it("persistentWorkers keep their threads while the loader lives; garbage collection ends them, and those of an abandoned loop", async () => {
      const r = await run("persistent");
      assert.equal(r.status, 0, r.stderr);
      const [alive, dropped] = r.lines;
      assert.equal(alive.threads, alive.base + 12, "5 persistent loaders and one loop in progress, 2 workers each");
      assert.equal(dropped.threads, dropped.base);
    });

    for (const workers of ["2", "0"]) {
      it(`close() in the middle of a loop stops it with an error saying so (numWorkers ${workers}), never a silent exit`, async () => {
        const r = await run("close-mid-loop", workers);
        assert.equal(r.status, 1, `exit ${r.status ?? r.signal}, stdout ${JSON.stringify(r.lines)}`);
        assert.match(
          r.stderr,
          /^tsdl\.data: DataLoader\.close\(\) was called during an iteration \(epoch 0, after batch 2 of 10\); the loop stops here\. Close the loader after the loop, or break out of it first\.$/m,
        );
      });
    }

    it("an error thrown by a transform names the sample, in a worker as on this thread", async () => {
      const ds = new data.CIFAR10(t.dir, { transform: new T.Compose([new T.RandomCrop(40), new T.ToTensor()]) }); // 40 > 32: throws
      for (const numWorkers of [1, 0]) {
        const loader = new DataLoader(ds, { batchSize: 4, shuffle: true, seed: 3, numWorkers });
        const first = loader.indices(0)[0];
        await assert.rejects(
          collect(loader),
          new RegExp(
            `^Error: tsdl\\.data: sample ${first} of the dataset \\(epoch 0\\) failed in get\\(\\) or its transform: Error: tsdl\\.data: RandomCrop size 40x40 is larger than the \\(padded\\) image 32x32` +
              (numWorkers ? ".* \\(in DataLoader worker 0\\)$" : ""),
          ),
        );
      }
    });

    it("persistentWorkers needs workers", () => {
      assert.throws(
        () => new DataLoader(new Toy(3), { persistentWorkers: true }),
        /persistentWorkers needs numWorkers > 0 .*, got numWorkers 0/,
      );
    });
  });

  it("bad input: clear errors, and the loader stays usable", async () => {
    assert.throws(() => new DataLoader(new Toy(3), { batchSize: 0 }), /batchSize must be a positive integer, got 0/);
    assert.throws(() => new DataLoader(new Toy(3), { prefetch: -1 }), /prefetch must be an integer >= 0, got -1/);
    assert.throws(() => new DataLoader({} as never), /needs a dataset with length and get\(i\)/);
    const raw = { length: 2, get: (i: number) => [new Image(new Uint8Array(4), 2, 2, 1), i] as data.Sample<unknown> };
    await assert.rejects(
      collect(new DataLoader(raw as never, { batchSize: 2 })),
      /item 0 of the dataset is Image\(L, 2x2\): end the dataset's transform with transforms.ToTensor\(\)/,
    );
    const mixed = {
      length: 2,
      get: (i: number) =>
        [new FloatImage(new Float32Array(i === 0 ? 4 : 9), i === 0 ? 2 : 3, i === 0 ? 2 : 3, 1), 0] as data.Sample<unknown>,
    };
    await assert.rejects(
      collect(new DataLoader(mixed as never, { batchSize: 2 })),
      /item 1 is 3x3x1 but the batch started with 2x2x1; add a Resize/,
    );
    const loader = new DataLoader(new Toy(8), { batchSize: 4, seed: 3 });
    assert.throws(() => loader.loadStateDict({ seed: 3, epoch: 0, batch: 5 }), /batch 5 is past the end of an epoch \(2 batches\)/);
    assert.throws(() => loader.loadStateDict({ seed: 3, epoch: -1, batch: 0 } as never), /must be \{ seed, epoch, batch \}/);
    assert.deepEqual(loader.stateDict(), { seed: 3, epoch: 0, batch: 0 }, "a refused state changes nothing");
    assert.equal((await collect(loader)).x.length, 2);
  });
});
