// Small synthetic CIFAR-10 in the exact official binary layout, for tests and offline smoke runs.
import * as fs from "fs";
import * as path from "path";
import { CIFAR10_CLASSES, CIFAR10_COUNTS_FILE, CIFAR10_FOLDER, CIFAR10_RECORD, CIFAR10_TEST_FILES, CIFAR10_TRAIN_FILES } from "./cifar10";
import { Generator } from "./random";
import { dataRoot } from "./root";

export interface SyntheticCifar10Options {
  /** Training images, spread over data_batch_1..5 (default 500). */
  train?: number;
  /** Test images in test_batch.bin (default 100). */
  test?: number;
  /** Seed of pixels and labels (default 0). */
  seed?: number;
}

export interface SyntheticCifar10 {
  /** root/cifar-10-batches-bin */
  folder: string;
  /** Files written, with their record counts. */
  files: { file: string; images: number }[];
}

/**
 * One synthetic record: label byte then 32x32 channel-major pixels. Each class has its own base colour and
 * stripe direction, plus noise, so a model can learn something in a smoke run.
 */
function record(label: number, g: Generator): Uint8Array {
  const rec = new Uint8Array(CIFAR10_RECORD);
  rec[0] = label;
  const base = [(label * 97) % 256, (label * 53 + 80) % 256, (label * 181 + 160) % 256];
  const vertical = label % 2 === 0;
  const period = 4 + (label % 5) * 2;
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        const stripe = Math.floor((vertical ? x : y) / period) % 2 === 0 ? 40 : -40;
        const v = base[c] + stripe + (g.nextUint32() % 61) - 30;
        rec[1 + c * 1024 + y * 32 + x] = Math.min(255, Math.max(0, v));
      }
    }
  }
  return rec;
}

function checkCount(name: string, n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`tsdl.data: writeSyntheticCifar10 ${name} must be a positive integer, got ${n}`);
}

/**
 * Writes `root/cifar-10-batches-bin/` (data_batch_1..5.bin, test_batch.bin, batches.meta.txt, and
 * tsdl-records.json with each file's image count) with `train`
 * and `test` random images in the official format; `new CIFAR10(root)` then reads it. Labels cycle through
 * the 10 classes in a seeded random order. Root: the argument, else $TSDL_DATA, else ./data.
 */
export function writeSyntheticCifar10(root?: string, opts: SyntheticCifar10Options = {}): SyntheticCifar10 {
  const train = opts.train ?? 500;
  const test = opts.test ?? 100;
  checkCount("train", train);
  checkCount("test", test);
  if (train < CIFAR10_TRAIN_FILES.length)
    throw new Error(`tsdl.data: writeSyntheticCifar10 train must be at least 5 (one per data_batch file), got ${train}`);
  const g = new Generator(opts.seed ?? 0);
  const folder = path.join(dataRoot(root).root, CIFAR10_FOLDER);
  fs.mkdirSync(folder, { recursive: true });
  const files: { file: string; images: number }[] = [];
  const write = (name: string, n: number): void => {
    const labels = Array.from({ length: n }, (_, i) => i % 10);
    const perm = g.randperm(n);
    const buf = new Uint8Array(n * CIFAR10_RECORD);
    for (let i = 0; i < n; i++) buf.set(record(labels[perm[i]], g), i * CIFAR10_RECORD);
    const file = path.join(folder, name);
    fs.writeFileSync(file, buf);
    files.push({ file, images: n });
  };
  CIFAR10_TRAIN_FILES.forEach((name, k) => {
    const n = Math.floor((train * (k + 1)) / 5) - Math.floor((train * k) / 5);
    write(name, n);
  });
  CIFAR10_TEST_FILES.forEach((name) => write(name, test));
  fs.writeFileSync(path.join(folder, "batches.meta.txt"), CIFAR10_CLASSES.join("\n") + "\n\n");
  // the format has no header: the counts let the reader catch a file cut at a record boundary
  const counts = Object.fromEntries(files.map((f) => [path.basename(f.file), f.images]));
  fs.writeFileSync(path.join(folder, CIFAR10_COUNTS_FILE), JSON.stringify(counts, null, 1) + "\n");
  return { folder, files };
}
