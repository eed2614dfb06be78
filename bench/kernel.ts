// Kernel start-up time and per-cell overhead of the tsdl kernel against plain tslab 1.0.22 (`tslab kernel`,
// launched through a temporary kernelspec inside the repo), measured by a real Jupyter client in one run.
//   node -r ts-node/register/transpile-only bench/kernel.ts [--starts 3] [--cells 20]
// Prints a table and one JSON line per row: {"bench":"kernel","what":...,"tsdl_s":...,"tslab_s":...,"ratio":...}.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { repo, jupyterEnv, PYTHON } = require("../scripts/env.js") as {
  repo: string;
  PYTHON: string;
  jupyterEnv(base?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
};

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

interface Row {
  kernel: string;
  what: string;
  seconds: number | number[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** A kernelspec for plain tslab, as `tslab install` would write it, under artifacts/ (git-ignored). */
function plainTslabSpec(): string {
  const root = path.join(repo, "artifacts", "bench-kernels");
  const dir = path.join(root, "kernels", "tslab-plain");
  fs.mkdirSync(dir, { recursive: true });
  const spec = {
    argv: ["node", path.join(repo, "node_modules", "tslab", "bin", "tslab"), "kernel", "--config-path", "{connection_file}"],
    display_name: "TypeScript (plain tslab 1.0.22)",
    language: "typescript",
  };
  fs.writeFileSync(path.join(dir, "kernel.json"), JSON.stringify(spec, null, 2));
  return root;
}

async function main(): Promise<void> {
  const starts = arg("starts", 3);
  const cells = arg("cells", 20);
  const specRoot = plainTslabSpec();
  const env = jupyterEnv(process.env);
  env.JUPYTER_PATH = `${env.JUPYTER_PATH}${path.delimiter}${specRoot}`;
  const rows: Row[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(
        PYTHON,
        [path.join(__dirname, "kernel-driver.py"), "--kernels", "tsdl,tslab-plain", "--starts", String(starts), "--cells", String(cells)],
        { cwd: repo, env, stdio: ["ignore", "pipe", "inherit"] },
      );
      let buf = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => {
        buf += d;
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.startsWith("{")) rows.push(JSON.parse(line) as Row);
        }
      });
      child.on("error", reject);
      child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`kernel-driver.py exited ${code}`))));
    });
  } finally {
    fs.rmSync(specRoot, { recursive: true, force: true });
  }

  const whats = [...new Set(rows.map((r) => r.what))];
  const values = (kernel: string, what: string): number[] =>
    rows.filter((r) => r.kernel === kernel && r.what === what).flatMap((r) => (Array.isArray(r.seconds) ? r.seconds : [r.seconds]));
  const out = whats.map((what) => {
    const a = values("tsdl", what);
    const b = values("tslab-plain", what);
    const tsdl = median(a);
    const tslab = median(b);
    // The minimum is the sample least disturbed by other load on a shared machine.
    const minRatio = Math.min(...a) / Math.min(...b);
    return {
      bench: "kernel",
      what,
      n: a.length,
      tsdl_s: +tsdl.toFixed(4),
      tslab_s: +tslab.toFixed(4),
      ratio: +(tsdl / tslab).toFixed(3),
      min_ratio: +minRatio.toFixed(3),
    };
  });

  const ms = (s: number): string => (s * 1000).toFixed(1).padStart(9);
  console.log(`kernel bench (medians; ${starts} start-ups each, ${cells} cells of each kind per kernel, interleaved)`);
  console.log(`${"measure".padEnd(16)}${"tsdl ms".padStart(9)}${"tslab ms".padStart(10)}${"ratio".padStart(8)}${"min ratio".padStart(11)}`);
  for (const r of out) {
    console.log(
      `${r.what.padEnd(16)}${ms(r.tsdl_s)} ${ms(r.tslab_s)}${r.ratio.toFixed(2).padStart(8)}${r.min_ratio.toFixed(2).padStart(11)}`,
    );
  }
  for (const r of out) console.log(JSON.stringify(r));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
