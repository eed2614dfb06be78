// CIFAR-10, binary version: cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin, each record 1 label byte
// then 3072 pixel bytes, channel-major (1024 red, 1024 green, 1024 blue, rows top to bottom).
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { checkInt, fail, isObject } from "../core/check";
import { ImageDataset } from "./dataset";
import { downloadFile, extractFolder, md5File } from "./download";
import { Image } from "./image";
import { dataRoot } from "./root";
import { Spec, transformSpec, TransformLike } from "./transforms/transform";

export const CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
export const CIFAR10_MD5 = "c32a1d4ab5d03f1284b67883e8d87530";
export const CIFAR10_FOLDER = "cifar-10-batches-bin";
export const CIFAR10_TRAIN_FILES = ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];
export const CIFAR10_TEST_FILES = ["test_batch.bin"];
export const CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"] as const;
/** Bytes per record: label + 32 * 32 * 3. */
export const CIFAR10_RECORD = 3073;
/** Images per file of the official archive. */
export const CIFAR10_OFFICIAL_BATCH = 10000;
/**
 * Beside the batch files, the images each file holds when they are not the official archive's 10000:
 * `{ "data_batch_1.bin": 100, ... }`, written by writeSyntheticCifar10 (the binary format has no header, so a
 * file cut at a record boundary is only caught by its count).
 */
export const CIFAR10_COUNTS_FILE = "tsdl-records.json";

export interface CIFAR10Options<X = Image> {
  /** Training split (data_batch_1..5, 50000 images) or test split (test_batch, 10000). Default true. */
  train?: boolean;
  /** Applied to each uint8 32x32x3 image by `get()`, e.g. a `transforms.Compose`. */
  transform?: TransformLike<Image, X>;
  /** Fetch, verify (md5) and extract the official archive when the files are missing. Blocks until done. */
  download?: boolean;
  /** Archive URL (default: the official one). */
  url?: string;
  /** Expected md5 of the archive (default: the official one). */
  md5?: string;
  /** @internal The records already in (shared) memory: how DataLoader workers get them without reading the files. */
  records?: Uint8Array;
}

export interface CIFAR10DownloadOptions {
  url?: string;
  md5?: string;
  log?: (line: string) => void;
}

function howToGet(root: string): string {
  return (
    `Get it with new data.CIFAR10(${JSON.stringify(root)}, { download: true }) (fetches ${CIFAR10_URL}, 162 MB, md5 ${CIFAR10_MD5}), ` +
    `or extract that archive into the root yourself (tar xzf cifar-10-binary.tar.gz -C root). ` +
    `Offline, data.writeSyntheticCifar10(root, { train: 500, test: 100 }) writes a small synthetic stand-in.`
  );
}

/** The images each batch file must hold: tsdl-records.json's counts when there is one, else the official 10000. */
function expectedRecords(folder: string): { count(name: string): number | undefined; source: string } {
  const listing = path.join(folder, CIFAR10_COUNTS_FILE);
  if (!fs.existsSync(listing)) return { count: () => CIFAR10_OFFICIAL_BATCH, source: `an official batch holds ${CIFAR10_OFFICIAL_BATCH}` };
  let counts: unknown;
  try {
    counts = JSON.parse(fs.readFileSync(listing, "utf8"));
  } catch (e) {
    throw new Error(
      `tsdl.data: ${listing} is not valid JSON (${(e as Error).message}); it lists the images of each batch file, e.g. {"test_batch.bin": 100}`,
    );
  }
  if (!isObject(counts)) fail("tsdl.data", listing, 'an object of image counts per file, e.g. {"test_batch.bin": 100}', counts);
  return {
    count: (name) => {
      const n = (counts as Record<string, unknown>)[name];
      return n === undefined ? undefined : checkInt("tsdl.data", `${listing} key "${name}"`, n, 1);
    },
    source: `as ${CIFAR10_COUNTS_FILE} lists`,
  };
}

/** Checks one batch file and returns its bytes; errors say where, what was expected and how to get the data. */
function readBatch(file: string, rootInfo: string, root: string): Buffer {
  if (!fs.existsSync(file)) {
    throw new Error(
      `tsdl.data: CIFAR-10 not found: ${file} does not exist (root ${root}, from ${rootInfo}). ` +
        `Expected the binary version: ${CIFAR10_FOLDER}/ with ${[...CIFAR10_TRAIN_FILES, ...CIFAR10_TEST_FILES].join(", ")}. ` +
        howToGet(root),
    );
  }
  const buf = fs.readFileSync(file);
  if (buf.length === 0 || buf.length % CIFAR10_RECORD !== 0) {
    throw new Error(
      `tsdl.data: CIFAR-10 file ${file} is truncated or corrupt: ${buf.length} bytes, expected a multiple of ` +
        `${CIFAR10_RECORD} (1 label + 3072 pixel bytes per image; 30730000 for an official batch). ` +
        `Delete ${path.join(root, CIFAR10_FOLDER)} and download again. ` +
        howToGet(root),
    );
  }
  const expected = expectedRecords(path.dirname(file));
  const want = expected.count(path.basename(file));
  const listing = path.join(path.dirname(file), CIFAR10_COUNTS_FILE);
  if (want === undefined)
    throw new Error(
      `tsdl.data: ${listing} lists no image count for ${path.basename(file)}; add it, e.g. {"${path.basename(file)}": ${buf.length / CIFAR10_RECORD}}`,
    );
  if (buf.length !== want * CIFAR10_RECORD) {
    throw new Error(
      `tsdl.data: CIFAR-10 file ${file} holds ${buf.length / CIFAR10_RECORD} images (${buf.length} bytes), expected ${want} ` +
        `(${want * CIFAR10_RECORD} bytes; ${expected.source}): the file was cut short or is not from this dataset. ` +
        `Delete ${path.join(root, CIFAR10_FOLDER)} and download again, or write the synthetic stand-in again. ` +
        `CIFAR-format files of your own: list each file's image count in ${listing}.`,
    );
  }
  for (let off = 0; off < buf.length; off += CIFAR10_RECORD) {
    if (buf[off] > 9) {
      throw new Error(
        `tsdl.data: CIFAR-10 file ${file} is corrupt: record ${off / CIFAR10_RECORD} has label ${buf[off]} (labels are 0..9). ` +
          `Delete ${path.join(root, CIFAR10_FOLDER)} and download again.`,
      );
    }
  }
  return buf;
}

/**
 * CIFAR-10 (torchvision.datasets.CIFAR10): `new data.CIFAR10(root, { train, transform, download })`.
 * Root: the argument, else $TSDL_DATA, else ./data; files in `root/cifar-10-batches-bin/`.
 * `get(i)` returns `[image, label]`, the image a uint8 32x32x3 `Image` before the transform.
 */
export class CIFAR10<X = Image> extends ImageDataset<X> {
  static readonly URL = CIFAR10_URL;
  static readonly MD5 = CIFAR10_MD5;
  readonly root: string;
  readonly train: boolean;
  readonly classes: readonly string[] = CIFAR10_CLASSES;
  readonly targets: Uint8Array;
  /** The raw records (label byte + CHW pixels), all files concatenated. */
  private readonly records: Uint8Array;

  constructor(root?: string, opts: CIFAR10Options<X> = {}) {
    super(opts.transform);
    const r = dataRoot(root);
    this.root = r.root;
    this.train = opts.train ?? true;
    const folder = path.join(this.root, CIFAR10_FOLDER);
    const files = (this.train ? CIFAR10_TRAIN_FILES : CIFAR10_TEST_FILES).map((f) => path.join(folder, f));
    if (opts.records) {
      this.records = opts.records;
    } else {
      if (opts.download && !files.every((f) => fs.existsSync(f))) downloadSync(this.root, { url: opts.url, md5: opts.md5 });
      // in shared memory, so DataLoader worker threads read the same bytes instead of a copy each
      const bufs = files.map((f) => readBatch(f, r.from, this.root));
      this.records = sharedCopy(bufs);
    }
    const n = this.records.length / CIFAR10_RECORD;
    this.targets = new Uint8Array(n);
    for (let i = 0; i < n; i++) this.targets[i] = this.records[i * CIFAR10_RECORD];
  }

  /** Image i as uint8 HWC (converted from the file's channel-major layout). */
  image(index: number): Image {
    const off = index * CIFAR10_RECORD + 1;
    const src = this.records;
    const out = new Uint8Array(3072);
    for (let p = 0; p < 1024; p++) {
      out[p * 3] = src[off + p];
      out[p * 3 + 1] = src[off + 1024 + p];
      out[p * 3 + 2] = src[off + 2048 + p];
    }
    return new Image(out, 32, 32, 3);
  }

  /**
   * Downloads (if needed), verifies and extracts the archive into `root` (async). Keeps the verified archive
   * as root/cifar-10-binary.tar.gz, like torchvision; a present archive with the right md5 is not fetched again.
   */
  static async download(root?: string, opts: CIFAR10DownloadOptions = {}): Promise<string> {
    const r = dataRoot(root).root;
    const url = opts.url ?? CIFAR10_URL;
    const md5 = opts.md5 ?? CIFAR10_MD5;
    const log = opts.log ?? ((l: string) => console.error(l));
    fs.mkdirSync(r, { recursive: true });
    const archive = path.join(r, path.basename(new URL(url).pathname) || "cifar-10-binary.tar.gz");
    let fetched = false;
    if (md5 && fs.existsSync(archive) && (await md5File(archive)) === md5.toLowerCase()) {
      log(`tsdl.data: ${archive} already downloaded and verified`);
    } else {
      log(`tsdl.data: downloading ${url} to ${archive}`);
      try {
        await downloadFile(url, archive, { md5, log });
      } catch (e) {
        const msg = (e as Error).message;
        if (msg.includes("checksum mismatch")) throw e;
        throw new Error(
          `${msg}. Nothing was written. Offline? Put cifar-10-binary.tar.gz (from ${CIFAR10_URL}) into ${r} and call this again, ` +
            `or use data.writeSyntheticCifar10(${JSON.stringify(r)}) for a small synthetic stand-in.`,
        );
      }
      fetched = true;
    }
    let dir: string;
    try {
      dir = await extractFolder(archive, r, CIFAR10_FOLDER);
    } catch (e) {
      if (fetched) fs.rmSync(archive, { force: true }); // a broken download is not kept either
      throw e;
    }
    log(`tsdl.data: extracted ${dir}`);
    return dir;
  }

  /** How a DataLoader worker rebuilds this dataset (sharing its memory); undefined for custom transforms. */
  workerSpec(): Spec | undefined {
    const t = this.transform === undefined ? undefined : transformSpec(this.transform);
    if (this.transform !== undefined && t === undefined) return undefined;
    return { kind: "CIFAR10", args: [this.root, { train: this.train, transform: t, records: this.records }] };
  }

  override toString(): string {
    return `Dataset CIFAR10\n    Number of datapoints: ${this.length}\n    Root location: ${this.root}\n    Split: ${this.train ? "Train" : "Test"}`;
  }
}

/** The buffers concatenated into one SharedArrayBuffer (structured clone to a worker shares, not copies, it). */
export function sharedCopy(bufs: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(new SharedArrayBuffer(bufs.reduce((n, b) => n + b.length, 0)));
  let o = 0;
  for (const b of bufs) {
    out.set(b, o);
    o += b.length;
  }
  return out;
}

/** Runs CIFAR10.download in a child Node process so the constructor can block, as torchvision's does. */
function downloadSync(root: string, opts: { url?: string; md5?: string }): void {
  const self = __filename;
  const script =
    `require(${JSON.stringify(self)}).CIFAR10.download(${JSON.stringify(root)}, ${JSON.stringify(opts)})` +
    `.then(() => process.exit(0), (e) => { process.stdout.write(JSON.stringify(String(e && e.message || e))); process.exit(1); });`;
  const pre = self.endsWith(".ts") ? ["-r", "ts-node/register/transpile-only"] : [];
  const r = spawnSync(process.execPath, [...pre, "-e", script], { stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" });
  if (r.status !== 0) {
    let msg = `the download process exited with ${r.status ?? r.signal}`;
    try {
      msg = JSON.parse(r.stdout);
    } catch {
      /* keep the generic message */
    }
    throw new Error(msg);
  }
}
