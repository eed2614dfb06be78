// The kernel's fix for tslab's shorthand properties: `{ x }` where x is an earlier cell's variable, run through
// tslab's own converter and executor (as the kernel runs cells), without Jupyter.
import assert from "node:assert/strict";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { expandShorthand } = require("../kernel/shorthand.js") as { expandShorthand(js: string, decls: string): string };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { createConverter } = require("tslab/dist/converter");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { createExecutor } = require("tslab/dist/executor");

interface ConvertResult {
  output?: string;
  declOutput?: string;
  diagnostics: unknown[];
}
interface Converter {
  convert(prev: string, src: string): ConvertResult;
  close(): void;
}

/** Cells run as the kernel runs them: tslab's converter and executor, the emitted JS passed through `fix`. */
function notebook(fix: (js: string, decls: string) => string) {
  const tslab = createConverter({ isJS: false, isBrowser: false }) as Converter;
  // Seeded as the kernel seeds importESM: declared for the type checker, defined in the executor's locals.
  let decls = "declare const seen: unknown[];\n";
  const converter = {
    convert(_prev: string, src: string): ConvertResult {
      const earlier = decls;
      const r = tslab.convert(earlier, src);
      if (r.diagnostics.length === 0) decls = r.declOutput ?? "";
      if (r.output) r.output = fix(r.output, earlier);
      return r;
    },
  };
  // Cells report through `seen`; errors through the executor's console.
  const seen: unknown[] = [];
  const errors: string[] = [];
  const cons = {
    log: () => undefined,
    error: (...a: unknown[]) => errors.push(a.map((e) => (e as Error)?.message ?? String(e)).join(" ")),
  };
  const executor = createExecutor(process.cwd(), { node: converter, close: () => tslab.close() }, cons);
  executor.locals.seen = seen;
  return {
    seen,
    errors,
    run: (code: string): Promise<boolean> => executor.execute(code),
    close: () => executor.close(),
  };
}

describe("kernel: shorthand properties name earlier cells' variables", function () {
  this.timeout(60_000);

  it("{ x, f, C } of earlier cells' const, let, function and class evaluate to their values; locals stay local", async () => {
    const nb = notebook(expandShorthand);
    try {
      assert.ok(await nb.run("const x = 1; let y = 2; function f() { return 3; } class C {}"), nb.errors.join("\n"));
      assert.ok(await nb.run("y = 20;"), nb.errors.join("\n"));
      // The shadowing cases: a local x in the cell, a parameter y in a function; and an await (async wrapper).
      await nb.run("const o = { x, y, f: f(), isC: new C() instanceof C }; seen.push(o);");
      await nb.run("const p = ((y: number) => ({ y }))(5); const q = await Promise.resolve({ x }); seen.push(p, q);");
      await nb.run("{ const x = 'inner'; seen.push({ x }); }");
      assert.deepEqual(nb.errors, []);
      assert.deepEqual(nb.seen, [{ x: 1, y: 20, f: 3, isC: true }, { y: 5 }, { x: 1 }, { x: "inner" }]);
    } finally {
      nb.close();
    }
  });

  it("without the fix, tslab fails on { x } with 'x is not defined' (what the fix is for)", async () => {
    const nb = notebook((js) => js);
    try {
      await nb.run("const x = 1;");
      await nb.run("seen.push({ x });");
      assert.deepEqual(nb.errors, ["x is not defined"]);
    } finally {
      nb.close();
    }
  });

  it("keeps every line where it was (tracebacks name the cell's compiled line)", () => {
    const js = "const a = { x,\n  y };\nthrow new Error();\n";
    const out = expandShorthand(js, "declare const x = 1;\ndeclare let y: number;\n");
    assert.equal(out, "const a = { x: exports.x,\n  y: exports.y };\nthrow new Error();\n");
  });
});
