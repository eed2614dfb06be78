// @ts-check
// Where a position in a cell's JavaScript came from in the TypeScript the user wrote, so tracebacks name the
// cell's own line (`at check (In[3]:2:15)`, that TypeScript line shown) instead of tslab's output
// (`exports.optim.SGD(exports.net, …)`). tslab compiles a cell in two steps (its watch program emits ES-module
// JavaScript, then ts.transpileModule makes CommonJS); tsview.js has both write source maps, composed here.
// The kernel's own rewrites of the output (shorthand.js, interrupt.js) only insert text: `Insertions` undoes them.
"use strict";

/** @typedef {{ version: number, sources: string[], mappings: string }} RawMap */
/** @typedef {{ line: number, column: number }} Position 0-based */

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/**
 * A source map's mappings, per generated line: segments [generatedColumn, source, line, column], sorted.
 * @param {RawMap} map
 * @returns {number[][][]}
 */
function decode(map) {
  /** @type {number[][][]} */
  const lines = [];
  const state = [0, 0, 0, 0]; // source, line, column, name: relative across the whole map
  for (const text of map.mappings.split(";")) {
    /** @type {number[][]} */
    const segments = [];
    let column = 0;
    for (const seg of text.split(",")) {
      if (!seg) continue;
      const fields = [];
      let value = 0;
      let shift = 0;
      for (const ch of seg) {
        const digit = B64.indexOf(ch);
        value += (digit & 31) << shift;
        if (digit & 32) shift += 5;
        else {
          fields.push(value & 1 ? -(value >>> 1) : value >>> 1);
          value = 0;
          shift = 0;
        }
      }
      column += fields[0];
      if (fields.length < 4) continue; // a segment with no source
      for (let k = 1; k < 4; k++) state[k - 1] += fields[k];
      if (fields.length > 4) state[3] += fields[4];
      segments.push([column, state[0], state[1], state[2]]);
    }
    segments.sort((a, b) => a[0] - b[0]);
    lines.push(segments);
  }
  return lines;
}

/**
 * The original position of a generated one: the last segment of its line at or before its column (else the
 * line's first segment).
 * @param {number[][][]} lines
 * @param {Position} pos
 * @returns {Position | undefined}
 */
function lookup(lines, pos) {
  const segments = lines[pos.line];
  if (!segments || segments.length === 0) return undefined;
  let best = segments[0];
  for (const s of segments) if (s[0] <= pos.column) best = s;
  return { line: best[2], column: best[3] };
}

/**
 * Text inserted into a string (never removed), to map positions of the result back to the input.
 */
class Insertions {
  constructor() {
    /** @type {Array<{ at: number, length: number }>} positions in the input */
    this.list = [];
  }

  /** @param {number} at @param {number} length */
  add(at, length) {
    if (length > 0) this.list.push({ at, length });
  }

  /**
   * The input offset of an output offset (inside inserted text: the input character after it).
   * @param {number} offset
   */
  toInput(offset) {
    let shift = 0;
    for (const ins of [...this.list].sort((a, b) => a.at - b.at)) {
      if (offset < ins.at + shift) break;
      if (offset < ins.at + shift + ins.length) return ins.at;
      shift += ins.length;
    }
    return offset - shift;
  }
}

/** @param {string} text @param {number} offset @returns {Position} */
function positionOf(text, offset) {
  const before = text.slice(0, offset);
  const line = before.split("\n").length - 1;
  return { line, column: offset - (before.lastIndexOf("\n") + 1) };
}

/** @param {string} text @param {Position} pos */
function offsetOf(text, pos) {
  let offset = 0;
  for (let l = 0; l < pos.line; l++) {
    const nl = text.indexOf("\n", offset);
    if (nl < 0) return text.length;
    offset = nl + 1;
  }
  return offset + pos.column;
}

/**
 * Maps positions in the JavaScript a cell runs to the cell's TypeScript.
 */
class CellMap {
  /**
   * @param {{ esm?: RawMap, cjs?: RawMap }} maps tsview.takeMaps() after this cell's conversion
   * @param {string} cjs tslab's output (CommonJS), before the kernel's rewrites
   * @param {Array<{ text: string, insertions: Insertions }>} rewrites the kernel's rewrites of it, in order
   * @param {string} source the cell's TypeScript
   */
  constructor(maps, cjs, rewrites, source) {
    this.maps = maps;
    /** Decoded when a traceback first needs them. @type {{ esm: number[][][], cjs: number[][][] } | undefined} */
    this.decoded = undefined;
    this.cjsText = cjs;
    this.rewrites = rewrites;
    this.source = source.split("\n");
  }

  /**
   * The cell position (0-based line and column of its TypeScript) of a 0-based position in the JavaScript
   * that ran, or undefined where the compiled code has no counterpart in the cell.
   * @param {Position} pos
   * @returns {Position | undefined}
   */
  original(pos) {
    const { esm: esmMap, cjs: cjsMap } = this.maps;
    if (!esmMap || !cjsMap) return undefined;
    this.decoded ??= { esm: decode(esmMap), cjs: decode(cjsMap) };
    // Undo the kernel's rewrites, last first.
    let p = pos;
    for (let i = this.rewrites.length - 1; i >= 0; i--) {
      const before = i > 0 ? this.rewrites[i - 1].text : this.cjsText;
      p = positionOf(before, this.rewrites[i].insertions.toInput(offsetOf(this.rewrites[i].text, p)));
    }
    const esm = lookup(this.decoded.cjs, p);
    const ts = esm && lookup(this.decoded.esm, esm);
    // The converter compiles "export {};\n" + the cell: its line 0 is not the user's.
    if (!ts || ts.line < 1 || ts.line > this.source.length) return undefined;
    return { line: ts.line - 1, column: ts.column };
  }

  /** The cell's TypeScript line (0-based). @param {number} line */
  sourceLine(line) {
    return this.source[line];
  }
}

module.exports = { CellMap, Insertions, decode, lookup };
