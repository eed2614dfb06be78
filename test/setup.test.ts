// The set-up (scripts/setup.js) behind `npm start` / `npm test`: idempotent, quiet, and writes only inside the repo.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const repo = path.resolve(__dirname, "..");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { jupyterEnv, PYTHON, JUPYTERLAB_VERSION, venvPaths } = require("../scripts/env.js");

function listTree(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    out.push(p);
    if (e.isDirectory()) out.push(...listTree(p));
  }
  return out;
}

describe("set-up", function () {
  let home: string;
  let env: NodeJS.ProcessEnv;
  const globalKernelDirs = ["/usr/share/jupyter/kernels/tsdl", "/usr/local/share/jupyter/kernels/tsdl"];

  before(() => {
    // A home directory of its own: anything the set-up or Jupyter wrote under ~ would land here.
    home = fs.mkdtempSync(path.join(os.tmpdir(), "tsdl-home-"));
    env = { ...process.env, HOME: home, XDG_DATA_HOME: undefined, XDG_CONFIG_HOME: undefined, XDG_RUNTIME_DIR: undefined };
  });
  after(() => fs.rmSync(home, { recursive: true, force: true }));

  it("is idempotent and quiet when everything is there, and writes nothing under the home directory", () => {
    const r = spawnSync(process.execPath, ["scripts/setup.js", "--for", "test"], { cwd: repo, env, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), "", `set-up printed when nothing was missing:\n${r.stdout}`);
    assert.deepEqual(listTree(home), []);
    for (const d of globalKernelDirs) assert.equal(fs.existsSync(d), false, `${d} exists`);
  });

  it("registers the tsdl kernel inside the repo: `jupyter kernelspec list` finds it there", () => {
    const r = spawnSync(PYTHON, ["-m", "jupyter_client.kernelspecapp", "list", "--json"], {
      cwd: repo,
      env: jupyterEnv(env),
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    const specs = JSON.parse(r.stdout).kernelspecs;
    assert.ok(specs.tsdl, `tsdl not among ${Object.keys(specs).join(", ")}`);
    assert.equal(specs.tsdl.spec.display_name, "TypeScript (tsdl)");
    assert.ok(fs.realpathSync(specs.tsdl.resource_dir).startsWith(repo + path.sep), specs.tsdl.resource_dir);
    assert.deepEqual(listTree(home), [], "jupyter wrote under the home directory");
  });

  it("makes the Jupyter runtime dir private (0700) and the files already in it unreadable to others, as Jupyter does", () => {
    const runtime = jupyterEnv().JUPYTER_RUNTIME_DIR as string;
    // As an earlier set-up left it: 0755, with a server info file (it holds the token) written 0644.
    fs.mkdirSync(runtime, { recursive: true });
    fs.chmodSync(runtime, 0o755);
    const info = path.join(runtime, `nbserver-${process.pid}-test.json`);
    fs.writeFileSync(info, "{}", { mode: 0o644 });
    fs.chmodSync(info, 0o644);
    try {
      const r = spawnSync(process.execPath, ["scripts/setup.js", "--for", "test"], { cwd: repo, env, encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
      assert.equal((fs.statSync(runtime).mode & 0o777).toString(8), "700");
      assert.equal((fs.statSync(info).mode & 0o777).toString(8), "600");
      assert.equal(fs.readFileSync(info, "utf8"), "{}", "the file is kept as it was");
    } finally {
      fs.rmSync(info, { force: true });
    }
  });

  it("generated Jupyter dirs and JupyterLab's venv are git-ignored", () => {
    const r = spawnSync("git", ["check-ignore", ".jupyter/runtime", ".jupyter/venv", "node_modules", "dist"], {
      cwd: repo,
      encoding: "utf8",
    });
    assert.deepEqual(r.stdout.trim().split("\n"), [".jupyter/runtime", ".jupyter/venv", "node_modules", "dist"]);
  });

  it(`installs JupyterLab ${JUPYTERLAB_VERSION} (pinned) in the repo's venv`, () => {
    const v = venvPaths();
    assert.ok(v.venv.startsWith(repo + path.sep), `venv ${v.venv} is inside the repo`);
    assert.equal(fs.readFileSync(v.stamp, "utf8").trim(), JUPYTERLAB_VERSION);
    const r = spawnSync(v.python, ["-m", "jupyterlab", "--version"], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), JUPYTERLAB_VERSION);
    // It is the venv's own JupyterLab, not one from the system.
    const where = spawnSync(v.python, ["-c", "import jupyterlab, sys; print(jupyterlab.__file__); print(sys.prefix)"], {
      encoding: "utf8",
    });
    const [file, prefix] = where.stdout.trim().split("\n");
    assert.ok(file.startsWith(v.venv + path.sep), file);
    assert.equal(fs.realpathSync(prefix), fs.realpathSync(v.venv));
  });
});

describe("set-up where pip cannot install JupyterLab", function () {
  this.timeout(180_000);
  // A venv of its own inside the repo (git-ignored artifacts/), and a pip that finds nothing to install.
  const venv = path.join(repo, "artifacts", "setup-test-venv");
  const empty = path.join(repo, "artifacts", "setup-test-empty-index");
  const setup = (extra: NodeJS.ProcessEnv = {}) =>
    spawnSync(process.execPath, ["scripts/setup.js", "--for", "start"], {
      cwd: repo,
      encoding: "utf8",
      env: { ...process.env, TSDL_VENV: venv, PIP_NO_INDEX: "1", PIP_FIND_LINKS: empty, ...extra },
    });
  beforeEach(() => {
    fs.rmSync(venv, { recursive: true, force: true });
    fs.rmSync(`${venv}-install.log`, { force: true });
    fs.mkdirSync(empty, { recursive: true });
  });
  after(() => {
    for (const p of [venv, `${venv}-install.log`, empty]) fs.rmSync(p, { recursive: true, force: true });
  });

  it("says in one line why and what to run, keeps going, and `npm start` falls back to the classic Notebook", () => {
    const r = setup();
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout
      .trim()
      .split("\n")
      .filter((l) => !/installing JupyterLab/.test(l));
    assert.equal(lines.length, 1, r.stdout);
    assert.match(lines[0], /JupyterLab not installed \(pip: No matching distribution found for jupyterlab==\d/);
    assert.match(lines[0], /opens the classic Notebook/);
    assert.ok(lines[0].includes(`artifacts/setup-test-venv/bin/python -m pip install jupyterlab==${JUPYTERLAB_VERSION}`), lines[0]);
    assert.match(fs.readFileSync(`${venv}-install.log`, "utf8"), /No matching distribution/);
    assert.equal(fs.existsSync(venvPaths(venv).stamp), false);
  });

  it("leaves a folder it did not make alone", () => {
    fs.mkdirSync(venv, { recursive: true });
    fs.writeFileSync(path.join(venv, "mine.txt"), "user data");
    const r = setup();
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /artifacts\/setup-test-venv exists and was not made by the set-up; it is left alone/);
    assert.deepEqual(fs.readdirSync(venv), ["mine.txt"]);
    assert.equal(fs.readFileSync(path.join(venv, "mine.txt"), "utf8"), "user data");
  });
});
