// @ts-check
// MIME bundles on the wire: tsdl's display module decides what a value looks like; this file makes the
// result valid Jupyter JSON (bytes -> base64, text types -> strings).
"use strict";
const path = require("path");
const util = require("util");

/** @typedef {Record<string, unknown>} MimeBundle */

/** @type {{ toBundle(v: unknown): MimeBundle, resultBundle(v: unknown): MimeBundle } | undefined} */
let displayModule;
function display() {
  if (displayModule === undefined) {
    try {
      displayModule = require(path.join(__dirname, "..", "dist", "display", "index.js"));
    } catch {
      // dist/ not built yet: plain inspect output still works.
      const text = (/** @type {unknown} */ v, /** @type {boolean} */ quote) => ({
        "text/plain": typeof v === "string" && !quote ? v : util.inspect(v, { depth: 4 }),
      });
      displayModule = { toBundle: (v) => text(v, false), resultBundle: (v) => text(v, true) };
    }
  }
  return /** @type {NonNullable<typeof displayModule>} */ (displayModule);
}

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
  return toWire(display().resultBundle(value));
}

module.exports = { toWire, resultWire };
