// `npm run bench [-- NAME ...]`: runs the benches one after another (each compares tsdl with PyTorch or the tfjs
// baseline in one run on this machine) and prints their tables. NAME: resnet, optim, data, plot, kernel, ...
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

// The ones the README quotes come first; wasm-conv profiles the convolution paths.
const ORDER = ["resnet", "optim", "lrScheduler", "data", "train", "plot", "kernel", "wasm-conv"];
// Mesa (llvmpipe, the webgpu benches' adapter) keeps compiled shaders in ~/.cache unless told where: in the repo.
process.env.MESA_SHADER_CACHE_DIR = process.env.MESA_SHADER_CACHE_DIR ?? path.join(__dirname, "..", "artifacts", "mesa-shader-cache");
const available = fs
  .readdirSync(__dirname)
  .filter((f) => f.endsWith(".ts") && f !== "run.ts")
  .map((f) => f.slice(0, -3));
const wanted = process.argv.slice(2);
for (const name of wanted) {
  if (!available.includes(name)) {
    console.error(`unknown bench ${JSON.stringify(name)}; accepted: ${available.join(", ")}`);
    process.exit(2);
  }
}
const names = wanted.length ? wanted : [...ORDER.filter((n) => available.includes(n)), ...available.filter((n) => !ORDER.includes(n))];
let failed = 0;
for (const name of names) {
  console.log(`\n=== bench/${name}.ts ===`);
  const r = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", path.join(__dirname, `${name}.ts`)], {
    stdio: "inherit",
    cwd: path.resolve(__dirname, ".."),
  });
  if (r.status !== 0) {
    console.error(`bench/${name}.ts failed (exit ${r.status ?? r.signal})`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
