// The kernel needs tsdl's build (dist/display renders every result): a missing or stale dist/ is said out loud,
// not papered over with util.inspect text (kernel/bundle.js loadDisplay).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

type MimeBundle = Record<string, unknown>;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { loadDisplay, displayProblem } = require("../kernel/bundle.js") as {
  loadDisplay(root: string): { module: { resultBundle(v: unknown): MimeBundle }; problem?: string };
  displayProblem: string | undefined;
};

describe("kernel: tsdl's build behind the results (kernel/bundle.js)", () => {
  let root: string;
  const write = (rel: string, text: string, mtime: Date) => {
    const file = path.join(root, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
    fs.utimesSync(file, mtime, mtime);
  };
  const display = (tag: string) =>
    `exports.toBundle = (v) => ({ "text/plain": "${tag} " + v }); exports.resultBundle = (v) => ({ "text/plain": "${tag} " + v });`;

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "tsdl-kernel-build-"));
    write("src/index.ts", "export {};", new Date(2_000_000_000_000));
    write("tsconfig.json", "{}", new Date(2_000_000_000_000));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it("says dist/ is not built, and what to run; results fall back to inspect text", () => {
    const { module, problem } = loadDisplay(root);
    assert.match(
      problem ?? "",
      /display module dist\/display\/index\.js did not load \(it is not built\).*Run `npm run build`.*restart the kernel/,
    );
    assert.deepEqual(module.resultBundle({ a: 1 }), { "text/plain": "{ a: 1 }" });
  });

  it("says dist/ is older than the sources, naming the changed file, and still uses the build", () => {
    write("dist/display/index.js", display("built"), new Date(2_000_000_100_000));
    write("dist/.tsbuildinfo", "{}", new Date(2_000_000_100_000));
    write("src/display/index.ts", "export {};", new Date(2_000_000_200_000));
    const { module, problem } = loadDisplay(root);
    assert.match(
      problem ?? "",
      /dist\/ is older than the sources \(src\/display\/index\.ts changed after it was last built 2033-05-18T\d\d:\d\d:\d\d\.\d+Z\): cells import the old build\. Run `npm run build`/,
    );
    assert.deepEqual(module.resultBundle(1), { "text/plain": "built 1" });
  });

  it("says nothing when the build is current", () => {
    write("dist/display/index.js", display("current"), new Date(2_000_000_100_000));
    write("dist/.tsbuildinfo", "{}", new Date(2_000_000_100_000));
    const { module, problem } = loadDisplay(root);
    assert.equal(problem, undefined);
    assert.deepEqual(module.resultBundle(2), { "text/plain": "current 2" });
  });

  it("refuses a display module without toBundle/resultBundle", () => {
    write("dist/display/index.js", "exports.other = 1;", new Date(2_000_000_100_000));
    assert.match(loadDisplay(root).problem ?? "", /lacks toBundle\/resultBundle/);
  });

  it("this checkout's build is current (the set-up built it)", () => {
    assert.equal(displayProblem, undefined);
  });
});
