// CIFAR-10 and Fashion-MNIST readers, the synthetic generator, download/verify/extract over 127.0.0.1.
import assert from "node:assert/strict";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as util from "util";
import * as zlib from "zlib";
import { data } from "tsdl";
import { listTree, makeSyntheticArchive, serveFile, serveFileInChild, SyntheticArchive, tempDir } from "./helpers/cifarFixture";

const T = data.transforms;

/** One CIFAR record written by hand: label, then the three 32x32 planes. */
function handRecord(label: number, pixel: (c: number, y: number, x: number) => number): Buffer {
  const r = Buffer.alloc(3073);
  r[0] = label;
  for (let c = 0; c < 3; c++) for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) r[1 + c * 1024 + y * 32 + x] = pixel(c, y, x);
  return r;
}

describe("data: CIFAR-10 reader and synthetic generator", () => {
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => (t = tempDir()));
  afterEach(() => t.cleanup());

  it("reads generated files: split sizes, labels and pixels exact (HWC from channel-major)", () => {
    const w = data.writeSyntheticCifar10(t.dir, { train: 53, test: 17, seed: 5 });
    assert.deepEqual(
      w.files.map((f) => [path.basename(f.file), f.images]),
      [
        ["data_batch_1.bin", 10],
        ["data_batch_2.bin", 11],
        ["data_batch_3.bin", 10],
        ["data_batch_4.bin", 11],
        ["data_batch_5.bin", 11],
        ["test_batch.bin", 17],
      ],
    );
    const train = new data.CIFAR10(t.dir);
    const test = new data.CIFAR10(t.dir, { train: false });
    assert.equal(train.length, 53);
    assert.equal(test.length, 17);
    const raw = Buffer.concat(w.files.slice(0, 5).map((f) => fs.readFileSync(f.file)));
    for (const i of [0, 9, 10, 31, 52]) {
      const rec = raw.subarray(i * 3073, (i + 1) * 3073);
      const [img, label] = train.get(i);
      assert.equal(label, rec[0]);
      assert.deepEqual(img.shape, [32, 32, 3]);
      for (const [y, x, c] of [
        [0, 0, 0],
        [0, 0, 2],
        [5, 31, 1],
        [31, 7, 2],
        [17, 3, 0],
      ]) {
        assert.equal(img.data[(y * 32 + x) * 3 + c], rec[1 + c * 1024 + y * 32 + x], `image ${i} pixel y${y} x${x} c${c}`);
      }
    }
    assert.deepEqual(
      Array.from(train.targets),
      Array.from({ length: 53 }, (_, i) => raw[i * 3073]),
    );
    // every class is present, synthetic images are seeded
    assert.equal(new Set(train.targets).size, 10);
    const again = tempDir();
    data.writeSyntheticCifar10(again.dir, { train: 53, test: 17, seed: 5 });
    assert.deepEqual(fs.readFileSync(path.join(again.dir, "cifar-10-batches-bin", "test_batch.bin")), fs.readFileSync(w.files[5].file));
    again.cleanup();
    assert.equal(fs.readFileSync(path.join(w.folder, "batches.meta.txt"), "utf8").split("\n")[0], "airplane");
  });

  it("channel order and row-major layout on hand-written records", () => {
    const folder = path.join(t.dir, "cifar-10-batches-bin");
    fs.mkdirSync(folder);
    fs.writeFileSync(
      path.join(folder, "test_batch.bin"),
      Buffer.concat([handRecord(3, (c) => [10, 20, 30][c]), handRecord(9, (c, y, x) => (c === 0 ? y : c === 1 ? x : 200))]),
    );
    fs.writeFileSync(path.join(folder, "tsdl-records.json"), JSON.stringify({ "test_batch.bin": 2 })); // not the official 10000
    const ds = new data.CIFAR10(t.dir, { train: false });
    assert.deepEqual(Array.from(ds.targets), [3, 9]);
    assert.equal(ds.classes[9], "truck");
    const [a] = ds.get(0);
    assert.deepEqual(Array.from(a.data.subarray(0, 6)), [10, 20, 30, 10, 20, 30]);
    const [b] = ds.get(1);
    const px = (y: number, x: number): number[] => Array.from(b.data.subarray((y * 32 + x) * 3, (y * 32 + x) * 3 + 3));
    assert.deepEqual(px(0, 5), [0, 5, 200]);
    assert.deepEqual(px(7, 2), [7, 2, 200]);
    assert.deepEqual(px(31, 31), [31, 31, 200]);
    // get() returns a copy: changing it leaves the dataset intact
    b.data.fill(0);
    assert.deepEqual(ds.get(1)[0].data.subarray(0, 3), new Uint8Array([0, 0, 200]));
  });

  it("applies the transform in get(); root from TSDL_DATA; subset", () => {
    data.writeSyntheticCifar10(t.dir, { train: 20, test: 10, seed: 2 });
    const old = process.env.TSDL_DATA;
    process.env.TSDL_DATA = t.dir;
    try {
      const ds = new data.CIFAR10(undefined, { train: false, transform: new T.Compose([new T.Resize(96), new T.ToTensor()]) });
      assert.equal(ds.root, t.dir);
      const [x, y] = ds.get(4);
      assert.ok(x instanceof data.FloatImage);
      assert.deepEqual(x.shape, [96, 96, 3]);
      assert.equal(y, ds.targets[4]);
      const s = data.subset(ds, 3);
      assert.equal(s.length, 3);
      assert.equal(s.get(2)[1], ds.targets[2]);
      assert.deepEqual(data.subset(ds, [7, 1]).get(0)[1], ds.targets[7]);
      assert.throws(() => data.subset(ds, 11), /subset size must be an integer in \[0, 10\].*got 11/);
      assert.throws(() => ds.get(10), /CIFAR10 index 10 is out of range: valid indices are 0..9/);
    } finally {
      if (old === undefined) delete process.env.TSDL_DATA;
      else process.env.TSDL_DATA = old;
    }
  });

  it("missing data: the error says where it looked, what it expected and how to get it", () => {
    const root = path.join(t.dir, "nowhere");
    assert.throws(
      () => new data.CIFAR10(root),
      (e: Error) => {
        assert.match(
          e.message,
          new RegExp(`${root.replace(/[/\\]/g, "[/\\\\]")}[/\\\\]cifar-10-batches-bin[/\\\\]data_batch_1.bin does not exist`),
        );
        assert.match(e.message, /from the root argument/);
        assert.match(e.message, /data_batch_1.bin.*test_batch.bin/);
        assert.match(e.message, /download: true/);
        assert.match(e.message, /writeSyntheticCifar10/);
        return true;
      },
    );
    assert.equal(fs.existsSync(root), false, "reading creates nothing");
  });

  it("truncated or corrupt files are refused with the file, its size and the expected size", () => {
    const w = data.writeSyntheticCifar10(t.dir, { train: 10, test: 4 });
    const test = w.files[5].file;
    fs.truncateSync(test, 3073 * 4 - 100);
    assert.throws(
      () => new data.CIFAR10(t.dir, { train: false }),
      new RegExp(`${path.basename(test)} is truncated or corrupt: 12192 bytes, expected a multiple of 3073`),
    );
    // a file cut at a record boundary: caught by the counts writeSyntheticCifar10 lists in tsdl-records.json
    fs.truncateSync(test, 3073 * 3);
    assert.throws(
      () => new data.CIFAR10(t.dir, { train: false }),
      (e: Error) => {
        assert.match(
          e.message,
          /test_batch\.bin holds 3 images \(9219 bytes\), expected 4 \(12292 bytes; as tsdl-records\.json lists\): the file was cut short/,
        );
        return true;
      },
    );
    // without that list the files must be the official archive's: 10000 images each
    fs.rmSync(path.join(w.folder, "tsdl-records.json"));
    assert.throws(
      () => new data.CIFAR10(t.dir),
      /data_batch_1\.bin holds 2 images \(6146 bytes\), expected 10000 \(30730000 bytes; an official batch holds 10000\).*CIFAR-format files of your own: list each file's image count in .*tsdl-records\.json/,
    );
    data.writeSyntheticCifar10(t.dir, { train: 10, test: 4 });
    const bad = fs.readFileSync(w.files[0].file);
    bad[3073] = 12;
    fs.writeFileSync(w.files[0].file, bad);
    assert.throws(() => new data.CIFAR10(t.dir), /data_batch_1.bin is corrupt: record 1 has label 12 \(labels are 0..9\)/);
  });
});

describe("data: images in notebooks", () => {
  it("an Image displays as a PNG (valid chunks and CRCs, pixels scaled up), with a text form", () => {
    const img = new data.Image(
      Uint8Array.from({ length: 2 * 3 * 3 }, (_, i) => i * 13),
      2,
      3,
      3,
    );
    const bundle = (img as unknown as Record<symbol, () => Record<string, string>>)[Symbol.for("Jupyter.display")]();
    assert.equal(bundle["text/plain"], "Image(RGB, 3x2)");
    const png = Buffer.from(bundle["image/png"], "base64");
    assert.deepEqual(png.subarray(0, 8), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    const chunks: { type: string; body: Buffer }[] = [];
    for (let o = 8; o < png.length;) {
      const len = png.readUInt32BE(o);
      const type = png.toString("ascii", o + 4, o + 8);
      const body = png.subarray(o + 8, o + 8 + len);
      assert.equal(png.readUInt32BE(o + 8 + len), zlib.crc32(png.subarray(o + 4, o + 8 + len)), `CRC of ${type}`);
      chunks.push({ type, body });
      o += 12 + len;
    }
    assert.deepEqual(
      chunks.map((c) => c.type),
      ["IHDR", "IDAT", "IEND"],
    );
    const scale = 8; // small images are enlarged towards 96 px, at most 8 times
    assert.equal(chunks[0].body.readUInt32BE(0), 3 * scale);
    assert.equal(chunks[0].body.readUInt32BE(4), 2 * scale);
    assert.deepEqual([chunks[0].body[8], chunks[0].body[9]], [8, 2]);
    const raw = zlib.inflateSync(chunks[1].body);
    const row = 1 + 3 * scale * 3;
    assert.equal(raw.length, 2 * scale * row);
    const pixel = (y: number, x: number): number[] => Array.from(raw.subarray(y * row + 1 + x * 3, y * row + 1 + x * 3 + 3));
    assert.equal(raw[0], 0, "filter type none");
    assert.deepEqual(pixel(0, 0), [0, 13, 26]);
    assert.deepEqual(pixel(scale - 1, 2 * scale - 1), [39, 52, 65]);
    assert.deepEqual(pixel(2 * scale - 1, 3 * scale - 1), [195, 208, 221]);
    assert.equal(new data.Image(new Uint8Array(4), 2, 2, 1).toPng(1).readUInt32BE(16), 2);
    assert.throws(() => img.toPng(0), /PNG scale must be an integer in \[1, 32\], got 0/);
  });
});

describe("data: makeGrid", () => {
  it("lays images out nrow per row with padding; floats mapped from valueRange; batch tensors accepted", async () => {
    const { backend, tf } = await import("tsdl");
    await backend.init("cpu", { verbose: false });
    const a = new data.Image(new Uint8Array([10, 20, 30, 40, 50, 60]), 1, 2, 3);
    const g = data.makeGrid([a, a, a], { nrow: 2, padding: 1, padValue: 7 });
    assert.deepEqual(g.shape, [2 * (1 + 1) + 1, 2 * (2 + 1) + 1, 3]);
    const px = (img: InstanceType<typeof data.Image>, y: number, x: number): number[] =>
      Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));
    assert.deepEqual(px(g, 0, 0), [7, 7, 7]);
    assert.deepEqual(px(g, 1, 1), [10, 20, 30]);
    assert.deepEqual(px(g, 1, 5), [40, 50, 60]);
    assert.deepEqual(px(g, 3, 2), [40, 50, 60], "third image starts the second row");
    assert.deepEqual(px(g, 3, 4), [7, 7, 7], "the empty cell stays padding");
    // a normalized batch from the DataLoader, shown with valueRange [-1, 1]; gray becomes RGB
    const x = tf.tensor4d([-1, 0, 1, 0.5], [2, 1, 2, 1]);
    const t = data.makeGrid(x, { padding: 0, valueRange: [-1, 1] });
    x.dispose();
    assert.deepEqual(t.shape, [1, 4, 3]);
    assert.deepEqual(Array.from(t.data), [0, 0, 0, 128, 128, 128, 255, 255, 255, 191, 191, 191]);
    const f = data.makeGrid(new data.FloatImage(Float32Array.from([2, 4, 6]), 1, 1, 3), { padding: 0, valueRange: "minmax" });
    assert.deepEqual(Array.from(f.data), [0, 128, 255]);
    assert.throws(() => data.makeGrid([a], { valueRange: [1, 0] }), /valueRange must be \[low, high\] with low < high/);
    assert.throws(() => data.makeGrid([]), /no images/);
    assert.throws(() => data.makeGrid([3 as never]), /takes Images, FloatImages or tensors, got 3/);
  });
});

describe("data: CIFAR-10 download over 127.0.0.1", function () {
  this.timeout(60_000);
  let arch: SyntheticArchive;
  let t: ReturnType<typeof tempDir>;
  before(async () => (arch = await makeSyntheticArchive({ train: 25, test: 10, seed: 3 })));
  after(() => arch.cleanup());
  beforeEach(() => (t = tempDir()));
  afterEach(() => t.cleanup());
  const quiet = { log: () => undefined };

  it("downloads, verifies the md5, extracts; reads what was packed; a verified archive is not fetched again", async () => {
    const server = await serveFile(arch.archive);
    try {
      const dir = await data.CIFAR10.download(t.dir, { url: server.url, md5: arch.md5, ...quiet });
      assert.equal(dir, path.join(t.dir, "cifar-10-batches-bin"));
      assert.deepEqual(listTree(t.dir), [
        "cifar-10-batches-bin/",
        "cifar-10-batches-bin/batches.meta.txt",
        "cifar-10-batches-bin/data_batch_1.bin",
        "cifar-10-batches-bin/data_batch_2.bin",
        "cifar-10-batches-bin/data_batch_3.bin",
        "cifar-10-batches-bin/data_batch_4.bin",
        "cifar-10-batches-bin/data_batch_5.bin",
        "cifar-10-batches-bin/test_batch.bin",
        "cifar-10-batches-bin/tsdl-records.json",
        "cifar-10-binary.tar.gz",
      ]);
      for (const f of ["data_batch_3.bin", "test_batch.bin"])
        assert.deepEqual(fs.readFileSync(path.join(dir, f)), fs.readFileSync(path.join(arch.source, f)));
      assert.equal(new data.CIFAR10(t.dir).length, 25);
      assert.equal(server.requests(), 1);
      await data.CIFAR10.download(t.dir, { url: server.url, md5: arch.md5, ...quiet });
      assert.equal(server.requests(), 1, "the kept archive matched its md5: no second request");
    } finally {
      await server.close();
    }
  });

  it("checksum mismatch: error with both md5s, and nothing written", async () => {
    const server = await serveFile(arch.archive);
    try {
      const wrong = "0".repeat(32);
      await assert.rejects(data.CIFAR10.download(t.dir, { url: server.url, md5: wrong, ...quiet }), (e: Error) => {
        assert.match(
          e.message,
          new RegExp(`checksum mismatch for ${server.url.replace(/\./g, "\\.")}: md5 ${arch.md5}, expected ${wrong}`),
        );
        assert.match(e.message, /nothing was kept/);
        return true;
      });
      assert.deepEqual(listTree(t.dir), [], "no partial archive, no extracted folder");
    } finally {
      await server.close();
    }
  });

  it("a corrupt archive (md5 not checked) and an HTTP error leave no half-written data", async () => {
    const broken = path.join(t.dir, "src", "cifar-10-binary.tar.gz");
    fs.mkdirSync(path.dirname(broken));
    const full = fs.readFileSync(arch.archive);
    fs.writeFileSync(broken, full.subarray(0, Math.floor(full.length / 2)));
    const root = path.join(t.dir, "root");
    const server = await serveFile(broken);
    try {
      await assert.rejects(
        data.CIFAR10.download(root, { url: server.url, md5: "", ...quiet }),
        /could not extract .*cifar-10-binary.tar.gz/,
      );
      assert.deepEqual(listTree(root), [], "no archive, no extracted folder, no temp dirs");
      await assert.rejects(
        data.CIFAR10.download(path.join(t.dir, "r2"), { url: server.url + "x", ...quiet }),
        /answered HTTP 404.*Nothing was written. Offline\? Put cifar-10-binary.tar.gz .*writeSyntheticCifar10/,
      );
      assert.deepEqual(listTree(path.join(t.dir, "r2")), []);
    } finally {
      await server.close();
    }
  });

  it("new CIFAR10(root, { download: true }) blocks until the data is there (server in a child process)", async () => {
    const server = await serveFileInChild(arch.archive);
    try {
      const ds = new data.CIFAR10(t.dir, { train: false, download: true, url: server.url, md5: arch.md5 });
      assert.equal(ds.length, 10);
      assert.deepEqual(Array.from(ds.targets), Array.from(new data.CIFAR10(path.dirname(arch.source), { train: false }).targets));
      assert.throws(
        () => new data.CIFAR10(path.join(t.dir, "x"), { download: true, url: server.url, md5: "f".repeat(32) }),
        /checksum mismatch/,
      );
      assert.deepEqual(listTree(path.join(t.dir, "x")), []);
    } finally {
      await server.close();
    }
  });
});

describe("data: Fashion-MNIST", () => {
  const root = data.FASHION_MNIST_DEBIAN_ROOT;
  const golden = JSON.parse(fs.readFileSync(path.join(__dirname, "fixtures", "data-fashion-mnist.json"), "utf8"));

  it("loads the Debian files: 60000/10000 images, labels and pixels as torchvision reads them", function () {
    if (!fs.existsSync(root)) this.skip(); // dataset-fashion-mnist not installed (npm test's set-up installs it)
    for (const [split, train] of [
      ["train", true],
      ["test", false],
    ] as const) {
      const ds = new data.FashionMNIST(undefined, { train });
      const g = golden[split];
      assert.equal(ds.length, g.length);
      assert.deepEqual(Array.from(ds.targets.subarray(0, 20)), g.firstLabels);
      const counts = new Array(10).fill(0);
      ds.targets.forEach((v) => counts[v]++);
      assert.deepEqual(counts, g.classCounts);
      assert.equal(crypto.createHash("md5").update(ds.data).digest("hex"), g.imagesMd5);
      const [img, label] = ds.get(0);
      assert.deepEqual(img.shape, [28, 28, 1]);
      assert.equal(label, g.firstLabels[0]);
      assert.deepEqual(Buffer.from(img.data).toString("base64"), g.first.data);
      assert.deepEqual(ds.classes, g.classes);
    }
  });

  it("Grayscale(3) feeds a 3-channel model: 3 equal channels", function () {
    if (!fs.existsSync(root)) this.skip();
    const ds = new data.FashionMNIST(root, { train: false, transform: new T.Compose([new T.Grayscale(3), new T.ToTensor()]) });
    const [x] = ds.get(0);
    assert.deepEqual(x.shape, [28, 28, 3]);
    for (let p = 0; p < 784; p++) assert.ok(x.data[p * 3] === x.data[p * 3 + 1] && x.data[p * 3] === x.data[p * 3 + 2]);
  });

  it("finds torchvision's layout (root/FashionMNIST/raw, uncompressed); missing and truncated files are clear errors", () => {
    const t = tempDir();
    try {
      const raw = path.join(t.dir, "FashionMNIST", "raw");
      fs.mkdirSync(raw, { recursive: true });
      const labels = Buffer.concat([Buffer.from([0, 0, 8, 1, 0, 0, 0, 3]), Buffer.from([4, 0, 9])]);
      const images = Buffer.concat([Buffer.from([0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 28, 0, 0, 0, 28]), Buffer.alloc(3 * 784, 7)]);
      images[16 + 784 + 5] = 99;
      fs.writeFileSync(path.join(raw, "t10k-labels-idx1-ubyte"), labels);
      fs.writeFileSync(path.join(raw, "t10k-images-idx3-ubyte.gz"), zlib.gzipSync(images));
      const ds = new data.FashionMNIST(t.dir, { train: false });
      assert.equal(ds.length, 3);
      assert.deepEqual(Array.from(ds.targets), [4, 0, 9]);
      assert.equal(ds.get(1)[0].data[5], 99);
      assert.throws(
        () => new data.FashionMNIST(t.dir, { train: true }),
        (e: Error) => {
          assert.match(e.message, /Fashion-MNIST not found: no train-images-idx3-ubyte or train-images-idx3-ubyte.gz in /);
          assert.ok(e.message.includes(raw), "names the folders it looked in");
          assert.match(e.message, /apt-get install dataset-fashion-mnist/);
          return true;
        },
      );
      const gz = zlib.gzipSync(images);
      fs.writeFileSync(path.join(raw, "t10k-images-idx3-ubyte.gz"), gz.subarray(0, gz.length - 10));
      assert.throws(() => new data.FashionMNIST(t.dir, { train: false }), /t10k-images-idx3-ubyte.gz is truncated or corrupt \(gunzip/);
      fs.writeFileSync(path.join(raw, "t10k-images-idx3-ubyte.gz"), zlib.gzipSync(images.subarray(0, 1000)));
      assert.throws(() => new data.FashionMNIST(t.dir, { train: false }), /truncated: header says 3x28x28 = 2352 bytes, found 984/);
      // a label outside the 10 classes
      fs.writeFileSync(path.join(raw, "t10k-images-idx3-ubyte.gz"), zlib.gzipSync(images));
      labels[8 + 1] = 200;
      fs.writeFileSync(path.join(raw, "t10k-labels-idx1-ubyte"), labels);
      assert.throws(
        () => new data.FashionMNIST(t.dir, { train: false }),
        /t10k-labels-idx1-ubyte is corrupt: label 200 at index 1; accepted: 0\.\.9 \(the 10 Fashion-MNIST classes\)/,
      );
    } finally {
      t.cleanup();
    }
  });
});

describe("data: what console.log and a notebook show", () => {
  it("a dataset, a loader, a subset and an image print a summary (torchvision's repr), not their pixel data", function () {
    if (!fs.existsSync(data.FASHION_MNIST_DEBIAN_ROOT)) this.skip(); // dataset-fashion-mnist not installed
    const T = data.transforms;
    const ds = new data.FashionMNIST(data.FASHION_MNIST_DEBIAN_ROOT, {
      train: false,
      transform: new T.Compose([new T.ToTensor(), new T.Normalize([0.5], [0.5])]),
    });
    assert.equal(
      util.inspect(ds),
      "Dataset FashionMNIST\n    Number of datapoints: 10000\n    Root location: /usr/share/datasets/fashion-mnist\n    Split: Test\n" +
        "    Transform: Compose(\n        ToTensor()\n        Normalize(mean=[0.5], std=[0.5])\n    )",
    );
    const loader = new data.DataLoader(ds, { batchSize: 64 });
    assert.equal(
      util.inspect(loader),
      "DataLoader(FashionMNIST, 10000 samples; batchSize 64, shuffle false, dropLast false, numWorkers 0: 157 batches per epoch)",
    );
    assert.match(util.inspect(data.subset(ds, 100)), /^Subset of 100 from Dataset FashionMNIST\n/);
    const [x, y] = ds.get(0);
    assert.equal(util.inspect([x, y]), "[ FloatImage(28x28x1), 9 ]");
    assert.equal(util.inspect(ds.image(0)), "Image(L, 28x28)");
    assert.ok(x.data.length === 784, "the pixels stay one property away");
  });
});
