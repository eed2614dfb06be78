// Architecture: dependencies in src/ point one way. No import cycle between files or between top-level folders
// (type-only imports count: they couple the code as much as value imports), and src/core imports nothing else.
import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tsdl from "tsdl";
import { cycles, folderGraph, folderOf, importGraph } from "./helpers/importGraph";

const SRC = path.join(__dirname, "..", "src");

const show = (cs: string[][]): string => cs.map((c) => c.join(" -> ")).join("\n  ");

describe("architecture: imports in src/", () => {
  const g = importGraph(SRC);

  it("reads the real graph (sanity: train/loop.ts imports train/step.ts and core/history.ts)", () => {
    assert.ok(g.files.length > 50, `only ${g.files.length} files found under ${SRC}`);
    const loop = g.edges.get("train/loop.ts");
    assert.ok(loop?.has("train/step.ts") && loop.has("core/history.ts"), `train/loop.ts imports: ${[...(loop ?? [])].join(", ")}`);
  });

  it("has no import cycle between files", () => {
    const found = cycles(g.edges);
    assert.equal(found.length, 0, `import cycles between files:\n  ${show(found)}`);
  });

  it("has no import cycle between top-level folders", () => {
    const found = cycles(folderGraph(g));
    assert.equal(found.length, 0, `import cycles between folders of src/:\n  ${show(found)}`);
  });

  it("src/core imports no other tsdl module", () => {
    const out: string[] = [];
    for (const [from, tos] of g.edges) {
      if (folderOf(from) !== "core") continue;
      for (const to of tos) if (folderOf(to) !== "core") out.push(`${from} -> ${to}`);
    }
    assert.deepEqual(out, []);
  });

  it("nothing in src/ imports the package root (src/index.ts)", () => {
    const out = [...g.edges].filter(([, tos]) => tos.has("index.ts")).map(([from]) => from);
    assert.deepEqual(out, []);
  });
});

describe("architecture: the package root", () => {
  it("exports what users need, by name (no `export *` of a folder into the root)", () => {
    const text = fs.readFileSync(path.join(SRC, "index.ts"), "utf8");
    assert.deepEqual(text.match(/^export \* from .*$/gm) ?? [], []);
    // Adding a root name is a decision: add it here too.
    const expected = [
      "DisplayHandle",
      "JUPYTER_DISPLAY",
      "NonFiniteLossError",
      "backend",
      "bundle",
      "clearOutput",
      "data",
      "display",
      "epochLine",
      "evaluate",
      "inKernel",
      "loadCheckpoint",
      "lrFinder",
      "lrScheduler",
      "models",
      "nn",
      "optim",
      "plot",
      "readCheckpoint",
      "saveCheckpoint",
      "tf",
      "train",
      "trainStep",
    ];
    assert.deepEqual(
      Object.keys(tsdl)
        .filter((k) => k !== "default" && k !== "__esModule")
        .sort(),
      expected.sort(),
    );
  });
});

describe("architecture: the cycle check itself", () => {
  let dir: string;
  const write = (file: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), text);
  };
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsdl-imports-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("finds a file cycle through type-only imports, namespace re-exports, require(), import types and index files", () => {
    write("a/index.ts", 'export * as one from "./one";\n');
    write("a/one.ts", 'import type { B } from "../b/two";\nexport type A = B;\n');
    write("b/two.ts", 'const c = require("../c");\nexport type B = number;\n');
    write("c/index.ts", 'export { x } from "../a";\nimport "fs";\nimport "@tensorflow/tfjs";\n');
    write("d.ts", 'let z: import("./d").Z;\n');
    write("e.ts", 'import f = require("./f");\n');
    write("f.ts", 'export const load = () => import("./e");\n');
    const gr = importGraph(dir);
    const sorted = (cs: string[][]) => [...cs].sort((p, q) => p[0].localeCompare(q[0]));
    assert.deepEqual(sorted(cycles(gr.edges)), [
      ["a/index.ts", "a/one.ts", "b/two.ts", "c/index.ts", "a/index.ts"],
      ["d.ts", "d.ts"],
      ["e.ts", "f.ts", "e.ts"],
    ]);
    assert.deepEqual(cycles(folderGraph(gr)), [["a", "b", "c", "a"]]);
  });

  it("finds a cycle between folders that is no cycle between files", () => {
    write("x/one.ts", 'import { y } from "../y/one";\n');
    write("y/one.ts", "export const y = 1;\n");
    write("y/two.ts", 'import { x } from "../x/two";\n');
    write("x/two.ts", "export const x = 1;\n");
    const gr = importGraph(dir);
    assert.deepEqual(cycles(gr.edges), []);
    assert.deepEqual(cycles(folderGraph(gr)), [["x", "y", "x"]]);
  });
});
