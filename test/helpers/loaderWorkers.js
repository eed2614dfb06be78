// DataLoader worker threads seen from a process of their own (thread count from /proc/self/status, RSS), for
// test/data-loader.test.ts: `node --expose-gc loaderWorkers.js MODE CIFAR_ROOT`. Prints one JSON line per
// measurement. Plain JS so that it starts fast and measures nothing of mocha's.
const fs = require("fs");
const { data } = require("tsdl");

const T = data.transforms;
const [mode, root] = process.argv.slice(2);
const threads = () => Number(/Threads:\s+(\d+)/.exec(fs.readFileSync("/proc/self/status", "utf8"))[1]);
const rssMb = () => process.memoryUsage().rss / 1e6;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const report = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const loader = (seed, opts = {}) =>
  new data.DataLoader(new data.CIFAR10(root, { transform: new T.Compose([new T.RandomCrop(32, { padding: 4 }), new T.ToTensor()]) }), {
    batchSize: 10,
    shuffle: true,
    seed,
    numWorkers: 2,
    ...opts,
  });

/** Threads once those of ended workers are gone (they end asynchronously), after collecting garbage. */
async function settledThreads(atMost) {
  for (let i = 0; i < 40; i++) {
    global.gc();
    await sleep(50);
    if (threads() <= atMost) break;
  }
  return threads();
}

/** What the persistent mode keeps referenced (its loaders are made in a function of their own, so that no
 * stale reference stays in main's suspended frame). */
const held = [];
async function usePersistent() {
  for (let k = 0; k < 5; k++) {
    const l = loader(k, { persistentWorkers: true });
    for await (const b of l) void b;
    held.push(l);
  }
  await loader(9)[Symbol.asyncIterator]().next(); // abandoned after its first batch
}

async function main() {
  const base = threads();
  if (mode === "unclosed") {
    // a notebook cell run ten times: a new loader each time, iterated once, never closed
    for (let k = 0; k < 10; k++) {
      let n = 0;
      for await (const b of loader(k)) n += b.x.shape[0];
      report({ loader: k, images: n, threads: await settledThreads(base), base, rss: rssMb() });
    }
  } else if (mode === "persistent") {
    // persistentWorkers keep their threads while the loader lives, and end once it is garbage-collected;
    // so do the workers of a loop abandoned half-way (an iterator nobody finishes)
    await usePersistent();
    report({ phase: "alive", threads: threads(), base });
    held.length = 0;
    report({ phase: "dropped", threads: await settledThreads(base), base });
  } else if (mode === "close-mid-loop") {
    const l = loader(1, { numWorkers: Number(process.argv[4] ?? 2) });
    let n = 0;
    for await (const _batch of l) {
      n += 1;
      if (n === 2) l.close();
    }
    report({ finished: n }); // never reached: the loop throws after close()
  }
}

main().catch((e) => {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
});
