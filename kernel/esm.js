// @ts-check
// tslab compiles cells to CommonJS, so `import x from "pkg"` (and even `await import("pkg")`) becomes
// `require("pkg")`. The kernelspec runs Node with --experimental-require-module, which loads ES modules
// through require; what still cannot load that way (top-level await, or a Node without the flag) gets an
// error that says how to import it instead.
"use strict";

/**
 * @param {NodeJS.Require} req tslab's require for cells
 * @param {string} cwd where cells resolve packages from
 * @returns {NodeJS.Require}
 */
function wrapRequire(req, cwd) {
  return new Proxy(req, {
    apply(target, thisArg, args) {
      try {
        return Reflect.apply(target, thisArg, args);
      } catch (e) {
        const err = /** @type {NodeJS.ErrnoException} */ (e);
        if (err && (err.code === "ERR_REQUIRE_ESM" || err.code === "ERR_REQUIRE_ASYNC_MODULE")) {
          const name = String(args[0]);
          const why =
            err.code === "ERR_REQUIRE_ASYNC_MODULE"
              ? "it is an ES module with top-level await, which cannot load synchronously"
              : "it is an ES module and this Node cannot require() ES modules (Node >= 20.17 can, with --experimental-require-module)";
          const fix = new Error(
            `cannot import ${JSON.stringify(name)}: ${why}. Load it asynchronously instead:\n` +
              `    const m = await importESM(${JSON.stringify(name)});\n` +
              `(importESM resolves the package from ${cwd} and returns its module namespace.)`,
          );
          fix.name = "ImportError";
          /** @type {any} */ (fix).code = err.code;
          /** @type {any} */ (fix).cause = err;
          throw fix;
        }
        throw e;
      }
    },
  });
}

module.exports = { wrapRequire };
