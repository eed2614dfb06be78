// @ts-check
// MIME bundles on the wire: tsdl's display module (src/display, built to dist/display) decides what a value
// looks like; this file makes the result valid Jupyter JSON (bytes -> base64, text types -> strings).
// The kernel ships with the library and needs its build: loadDisplay() says loudly when dist/ is missing
// (results fall back to util.inspect text) or older than src/ (cells would import the old build).
"use strict";
const path = require("path");
const util = require("util");
const { buildState } = require("../scripts/env");

/** @typedef {Record<string, unknown>} MimeBundle */
/** @typedef {{ toBundle(v: unknown): MimeBundle, resultBundle(v: unknown): MimeBundle }} DisplayModule */

/** What the kernel shows without tsdl's display module: util.inspect text, as plain tslab does. */
const plainText = (() => {
  const text = (/** @type {unknown} */ v, /** @type {boolean} */ quote) => ({
    "text/plain": typeof v === "string" && !quote ? v : util.inspect(v, { depth: 4 }),
  });
  return { toBundle: (/** @type {unknown} */ v) => text(v, false), resultBundle: (/** @type {unknown} */ v) => text(v, true) };
})();

/**
 * tsdl's display module from the build in `root`, and what is wrong with that build (undefined: nothing).
 * @param {string} root the tsdl checkout (dist/ and src/ inside)
 * @returns {{ module: DisplayModule, problem?: string }}
 */
function loadDisplay(root) {
  const file = path.join(root, "dist", "display", "index.js");
  const fix = "Run `npm run build` (or `npm start`) in " + root + ", then restart the kernel.";
  /** @type {DisplayModule} */
  let module;
  try {
    module = require(file);
  } catch (e) {
    const why =
      /** @type {NodeJS.ErrnoException} */ (e)?.code === "MODULE_NOT_FOUND"
        ? "it is not built"
        : String(/** @type {Error} */ (e)?.message ?? e);
    return {
      module: plainText,
      problem: `tsdl kernel: tsdl's display module ${path.relative(root, file)} did not load (${why}): results show as plain text and tsdl cannot be imported. ${fix}`,
    };
  }
  if (typeof module?.resultBundle !== "function" || typeof module?.toBundle !== "function") {
    return {
      module: plainText,
      problem: `tsdl kernel: ${path.relative(root, file)} lacks toBundle/resultBundle (an old build?): results show as plain text. ${fix}`,
    };
  }
  let state;
  try {
    state = buildState(root);
  } catch {
    return { module }; // an installed package without src/: nothing to compare
  }
  if (state.stale) {
    const changed = path.relative(root, state.changed.file);
    const when = state.built ? `last built ${new Date(state.built).toISOString()}` : "never built by tsc";
    return {
      module,
      problem: `tsdl kernel: dist/ is older than the sources (${changed} changed after it was ${when}): cells import the old build. ${fix}`,
    };
  }
  return { module };
}

/** This checkout's display module, loaded when the kernel starts. */
const loaded = loadDisplay(path.join(__dirname, ".."));

/**
 * A bundle as Jupyter JSON: binary data base64-encoded (images), JSON types (`application/json`,
 * `*+json`) kept as objects, every other type as a string.
 * @param {MimeBundle} bundle
 * @returns {MimeBundle}
 */
function toWire(bundle) {
  /** @type {MimeBundle} */
  const out = {};
  for (const [mime, data] of Object.entries(bundle)) {
    if (data instanceof Uint8Array) out[mime] = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("base64");
    else if (/json$/.test(mime)) out[mime] = typeof data === "string" ? JSON.parse(data) : data;
    else out[mime] = typeof data === "string" ? data : String(data);
  }
  return out;
}

/**
 * The execute_result bundle of a cell's final value.
 * @param {unknown} value
 */
function resultWire(value) {
  return toWire(loaded.module.resultBundle(value));
}

/** What is wrong with the build the kernel runs (undefined: nothing): shown once, on the first cell. */
const displayProblem = loaded.problem;

module.exports = { toWire, resultWire, loadDisplay, displayProblem };
