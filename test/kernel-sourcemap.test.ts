// The kernel's source maps (kernel/sourcemap.js): decoding TypeScript's maps and undoing the kernel's own
// insertions, so a traceback position in the JavaScript a cell ran maps back to the TypeScript the user wrote.
import assert from "node:assert/strict";
import * as ts from "typescript";

interface Position {
  line: number;
  column: number;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { decode, lookup, Insertions } = require("../kernel/sourcemap.js") as {
  decode(map: object): number[][][];
  lookup(lines: number[][][], pos: Position): Position | undefined;
  Insertions: new () => { add(at: number, length: number): void; toInput(offset: number): number };
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { instrumentAwaits } = require("../kernel/interrupt.js") as {
  instrumentAwaits(js: string): { js: string; insertions: { toInput(offset: number): number } };
};

describe("kernel: source maps for tracebacks", () => {
  it("decodes a TypeScript source map: each token of the output maps to where it was written", () => {
    const src = "type T = number;\ninterface I { a: T }\nconst a: T = 1;\n\nfunction f(x: I): number {\n  return x.a + a;\n}\n";
    const out = ts.transpileModule(src, { compilerOptions: { sourceMap: true, target: ts.ScriptTarget.ES2020 }, fileName: "c.ts" });
    const js = out.outputText.split("\n");
    const lines = decode(JSON.parse(out.sourceMapText!));
    const where = (needle: string): Position | undefined => {
      const line = js.findIndex((l) => l.includes(needle));
      return lookup(lines, { line, column: js[line].indexOf(needle) });
    };
    // The type-only lines are gone from the JavaScript, so lines shift: `const a` is JS line 0, TS line 2.
    assert.deepEqual(where("a = 1"), { line: 2, column: 6 });
    assert.deepEqual(where("x.a + a"), { line: 5, column: 9 });
    assert.deepEqual(where("function f"), { line: 4, column: 0 });
  });

  it("undoes insertions: positions after inserted text shift back, positions inside it go to what follows", () => {
    const ins = new Insertions();
    ins.add(2, 3); // "ab" + "XYZ" + "cd" + "Q" + "e"
    ins.add(4, 1);
    const out = "abXYZcdQe";
    const input = "abcde";
    for (const [o, i] of [
      [0, 0],
      [1, 1],
      [2, 2],
      [4, 2],
      [5, 2],
      [6, 3],
      [7, 4],
      [8, 4],
    ])
      assert.equal(ins.toInput(o), i, `output ${o} (${out[o]}) -> input ${i} (${input[i]})`);
  });

  it("the await instrumentation reports its insertions, so positions map back to tslab's output", () => {
    const js = "const a = await p;\nfoo(await q, bar);";
    const { js: inst, insertions } = instrumentAwaits(js);
    for (const token of ["a = ", "await p", "foo(", "await q", "bar)"])
      assert.equal(insertions.toInput(inst.indexOf(token)), js.indexOf(token), token);
  });
});
