// Lint and format: the tree passes ESLint (eslint.config.js) and is laid out as Prettier lays it out (.prettierrc.json,
// .prettierignore): the two checks of `npm run lint`, run here so that `npm test` and CI fail on either.
// `npm run format` fixes what can be fixed mechanically.
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as path from "path";

const repo = path.resolve(__dirname, "..");

/** Runs a dev tool's command-line script from node_modules in the repo root. */
function tool(script: string[], args: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [path.join(repo, "node_modules", ...script), ...args], { cwd: repo, encoding: "utf8" });
  if (r.error) throw r.error;
  return { status: r.status, out: `${r.stdout}${r.stderr}`.trim() };
}

describe("lint and format", () => {
  it("ESLint reports no problem (eslint.config.js)", () => {
    const r = tool(["eslint", "bin", "eslint.js"], ["--no-color", "--max-warnings", "0", "."]);
    if (r.status !== 0) assert.fail(`ESLint (npm run lint) exited with ${r.status}; \`npm run format\` fixes some problems:\n${r.out}`);
  });

  it("every file is formatted as Prettier would format it (.prettierrc.json)", () => {
    const r = tool(["prettier", "bin", "prettier.cjs"], ["--list-different", "."]);
    if (r.status !== 0) {
      assert.fail(`not formatted as Prettier would format them (\`npm run format\` rewrites them; npm run lint checks):\n${r.out}`);
    }
  });
});
