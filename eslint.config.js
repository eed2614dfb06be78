// ESLint 9 flat config: ESLint's and typescript-eslint's recommended rules over the library, tests, benches, scripts
// and the kernel. Syntax only, no type information: the type-aware set takes half a minute here and mostly flags
// `any` flowing from untyped packages. Layout is Prettier's job (.prettierrc.json), so no rule here is about it.
// `npm run lint` checks (test/lint.test.ts runs it in `npm test`), `npm run format` fixes what can be fixed.
"use strict";
const fs = require("fs");
const path = require("path");
const js = require("@eslint/js");
const tseslint = require("typescript-eslint");
const globals = require("globals");

/** .gitignore's patterns as flat-config ignores (ESLint, unlike Prettier, does not read it): build output, venvs, Jupyter. */
function gitignored() {
  const lines = fs.readFileSync(path.join(__dirname, ".gitignore"), "utf8").split("\n");
  return lines
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => {
      const negated = l.startsWith("!");
      const p = negated ? l.slice(1) : l;
      // git anchors a pattern with a slash before its end at the top; one without matches at any depth.
      const glob = p.startsWith("/") ? p.slice(1) : p.replace(/\/$/, "").includes("/") ? p : `**/${p}`;
      return negated ? `!${glob}` : glob;
    });
}

module.exports = tseslint.config(
  { ignores: gitignored() },
  { linterOptions: { reportUnusedDisableDirectives: "error" } },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      // Parameters, destructured keys and variables kept on purpose are spelt with a leading underscore.
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrorsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_" },
      ],
      // The code writes two short statements as one comma expression: `if (k === "--x") (a.x = v), i++;`.
      "@typescript-eslint/no-unused-expressions": "off",
      // Tests match printed layouts whose columns are two spaces apart; `/a  b/` reads as the output does.
      "no-regex-spaces": "off",
      // `new Function(code)` runs code as the kernel would; each use says why.
      "no-new-func": "error",
    },
  },
  {
    // The kernel, the set-up scripts, the native build script and the tests' plain-JS child processes: CommonJS on
    // Node. `const crypto = require("crypto")` shadows Node's global of the same name on purpose.
    files: ["**/*.js"],
    languageOptions: { sourceType: "commonjs" },
    rules: { "@typescript-eslint/no-require-imports": "off", "no-redeclare": ["error", { builtinGlobals: false }] },
  },
);
