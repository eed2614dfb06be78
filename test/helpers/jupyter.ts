// Run notebooks headless through the real Jupyter stack (Debian's nbconvert on /usr/bin/python3) with the
// project-local Jupyter dirs, so tests see exactly what a user's "Run All" produces.
//
//   const nb = await executeCells(['import { tf } from "tsdl";', "tf.tensor([1, 2]).sum().dataSync()[0]"]);
//   const nb = await executeNotebook("notebooks/lr-decay.ipynb", { allowErrors: true, timeout: 600 });
import { spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { repo, jupyterEnv, PYTHON } = require("../../scripts/env.js") as {
  repo: string;
  PYTHON: string;
  jupyterEnv(base?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
};

export { repo, PYTHON, jupyterEnv };

/** One output of a code cell (nbformat 4). */
export interface CellOutput {
  output_type: "stream" | "display_data" | "execute_result" | "error" | "update_display_data";
  name?: "stdout" | "stderr";
  text?: string | string[];
  data?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  execution_count?: number | null;
  ename?: string;
  evalue?: string;
  traceback?: string[];
  transient?: Record<string, unknown>;
}

export interface Cell {
  cell_type: "code" | "markdown" | "raw";
  source: string | string[];
  metadata: Record<string, unknown>;
  execution_count?: number | null;
  outputs?: CellOutput[];
  id?: string;
}

export interface Notebook {
  cells: Cell[];
  metadata: Record<string, unknown>;
  nbformat: number;
  nbformat_minor: number;
}

export type CellSpec = string | { source: string; cellType?: "code" | "markdown"; metadata?: Record<string, unknown> };

/** A notebook (nbformat 4.5) for the tsdl kernel holding these cells; strings are code cells. */
export function makeNotebook(cells: CellSpec[], opts: { kernelName?: string } = {}): Notebook {
  const kernelName = opts.kernelName ?? "tsdl";
  return {
    cells: cells.map((c, i) => {
      const spec = typeof c === "string" ? { source: c } : c;
      const type = spec.cellType ?? "code";
      const cell: Cell = { cell_type: type, id: `cell-${i}`, metadata: spec.metadata ?? {}, source: spec.source };
      if (type === "code") Object.assign(cell, { execution_count: null, outputs: [] });
      return cell;
    }),
    metadata: {
      kernelspec: { name: kernelName, display_name: kernelName === "tsdl" ? "TypeScript (tsdl)" : kernelName, language: "typescript" },
      language_info: { name: "typescript", file_extension: ".ts", mimetype: "text/typescript" },
    },
    nbformat: 4,
    nbformat_minor: 5,
  };
}

export interface ExecuteOptions {
  /** Keep executing after a cell fails (nbconvert --allow-errors). Default false: the run fails. */
  allowErrors?: boolean;
  /** Seconds each cell may take (ExecutePreprocessor.timeout). Default 120. */
  timeout?: number;
  /** Extra environment for nbconvert and the kernel (e.g. { TSDL_BACKEND: "cpu" }). */
  env?: NodeJS.ProcessEnv;
  /** Kernel to run; default "tsdl". */
  kernelName?: string;
  /** Where the executed notebook is written; default artifacts/executed/<name>.ipynb (git-ignored). */
  outputPath?: string;
}

/** nbconvert exited non-zero: `stderr` holds its report (e.g. CellExecutionError with the cell and error). */
export class NotebookExecutionError extends Error {
  constructor(
    readonly notebookPath: string,
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(`nbconvert --execute ${notebookPath} failed (exit ${exitCode}):\n${stderr.split("\n").slice(-40).join("\n")}`);
    this.name = "NotebookExecutionError";
  }
}

function run(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Execute the notebook at `notebookPath` with `nbconvert --to notebook --execute` and return the executed notebook.
 * The kernel starts in the notebook's folder (as in Jupyter), so `import ... from "tsdl"` resolves when the
 * notebook is inside the repo. Throws NotebookExecutionError when nbconvert fails (a cell error without
 * `allowErrors`, a timeout, a kernel that died).
 */
export async function executeNotebook(notebookPath: string, opts: ExecuteOptions = {}): Promise<Notebook> {
  const input = path.resolve(notebookPath);
  const output = opts.outputPath ?? path.join(repo, "artifacts", "executed", path.basename(input).replace(/\.ipynb$/, "") + ".ipynb");
  fs.mkdirSync(path.dirname(output), { recursive: true });
  const args = [
    "-m",
    "nbconvert",
    "--to",
    "notebook",
    "--execute",
    `--ExecutePreprocessor.kernel_name=${opts.kernelName ?? "tsdl"}`,
    `--ExecutePreprocessor.timeout=${opts.timeout ?? 120}`,
    "--output-dir",
    path.dirname(output),
    "--output",
    path.basename(output),
  ];
  if (opts.allowErrors) args.push("--allow-errors");
  args.push(input);
  const env = jupyterEnv({ ...process.env, ...opts.env });
  const r = await run(PYTHON, args, env, path.dirname(input));
  if (r.code !== 0) throw new NotebookExecutionError(input, r.code, r.stderr);
  return JSON.parse(fs.readFileSync(output, "utf8")) as Notebook;
}

/**
 * Build a notebook from cell sources, execute it, and return the executed notebook. The notebook is written
 * under artifacts/ (inside the repo, git-ignored, so "tsdl" resolves) and removed afterwards.
 */
export async function executeCells(cells: CellSpec[], opts: ExecuteOptions = {}): Promise<Notebook> {
  const dir = path.join(repo, "artifacts", `nb-${process.pid}-${crypto.randomBytes(4).toString("hex")}`);
  fs.mkdirSync(dir, { recursive: true });
  try {
    const input = path.join(dir, "cells.ipynb");
    fs.writeFileSync(input, JSON.stringify(makeNotebook(cells, opts), null, 1));
    return await executeNotebook(input, { ...opts, outputPath: opts.outputPath ?? path.join(dir, "executed.ipynb") });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The code cells of a notebook, in order. */
export function codeCells(nb: Notebook): Cell[] {
  return nb.cells.filter((c) => c.cell_type === "code");
}

function joinText(t: string | string[] | undefined): string {
  return Array.isArray(t) ? t.join("") : (t ?? "");
}

/** Everything a cell printed to stdout (or `name`). */
export function streamText(cell: Cell, name: "stdout" | "stderr" = "stdout"): string {
  return (cell.outputs ?? [])
    .filter((o) => o.output_type === "stream" && o.name === name)
    .map((o) => joinText(o.text))
    .join("");
}

/** The cell's error output, if any. */
export function errorOutput(cell: Cell): CellOutput | undefined {
  return (cell.outputs ?? []).find((o) => o.output_type === "error");
}

/** The data bundles of the cell's display_data / execute_result outputs, in order (multi-line strings joined). */
export function richOutputs(cell: Cell, type?: "display_data" | "execute_result"): Record<string, unknown>[] {
  return (cell.outputs ?? [])
    .filter((o) => (type ? o.output_type === type : o.output_type === "display_data" || o.output_type === "execute_result"))
    .map((o) => {
      const data: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(o.data ?? {}))
        data[k] = Array.isArray(v) && v.every((x) => typeof x === "string") ? v.join("") : v;
      return data;
    });
}
