// @ts-check
// Interrupting asynchronous loops. A synchronous loop is stopped by Node itself (tslab runs cells with
// vm's breakOnSigint), but a loop that awaits (a training loop awaiting each batch) runs in promise jobs:
// tslab only stops *waiting* for it, and the loop keeps running in the background.
//
// So the emitted JavaScript checks at every `await`: each async function records the interrupt epoch when it
// starts, and each `await x` becomes `__tsdlInt.after(await x, epoch)`, which throws `Interrupted` once an
// interrupt happened after the function started. Work started after the interrupt runs normally. Insertions
// never add lines, so stack line numbers are unchanged.
"use strict";
const ts = require("@tslab/typescript-for-tslab");
const { Insertions } = require("./sourcemap");

class Interrupted extends Error {
  constructor() {
    super("execution interrupted (SIGINT / interrupt_request)");
    this.name = "Interrupted";
  }
}

const interruptState = {
  /** Incremented by every interrupt. */
  epoch: 0,
  interrupt() {
    this.epoch++;
  },
  /**
   * The value of an await, unless an interrupt came since the awaiting function started.
   * @template T @param {T} value @param {number} epoch @returns {T}
   */
  after(value, epoch) {
    if (epoch !== this.epoch) throw new Interrupted();
    return value;
  },
  /** @param {number} epoch */
  check(epoch) {
    if (epoch !== this.epoch) throw new Interrupted();
  },
};
Object.defineProperty(globalThis, "__tsdlInt", { value: interruptState, configurable: true });
// The library's loops (train, evaluate, lrFinder) check it between batches: src/core/interrupt.ts.
Object.defineProperty(globalThis, Symbol.for("tsdl.interrupt"), { value: interruptState, configurable: true });

const EPOCH = "__tsdlE";
const CAPTURE = `const ${EPOCH} = __tsdlInt.epoch; `;

/**
 * Add interrupt checks to a cell's compiled JavaScript (the body tslab wraps in a function).
 * Also reports whether the code awaits at top level: tslab misses some cases (`(await x).y`) and would then
 * run the cell in a non-async wrapper, a SyntaxError.
 * @param {string} js
 * @returns {{ js: string, topLevelAwait: boolean, insertions: Insertions }} insertions: what was inserted where
 */
function instrumentAwaits(js) {
  const insertions = new Insertions();
  if (!js.includes("await")) return { js, topLevelAwait: false, insertions };
  const sf = ts.createSourceFile("cell.js", js, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  /** Insertions; `close` ones end a wrapper opened earlier. @type {Array<{ pos: number, text: string, close: boolean }>} */
  const edits = [{ pos: 0, text: CAPTURE, close: false }];
  const open = (/** @type {number} */ pos, /** @type {string} */ text) => edits.push({ pos, text, close: false });
  const close = (/** @type {number} */ pos, /** @type {string} */ text) => edits.push({ pos, text, close: true });
  let found = false;
  let topLevelAwait = false;
  let depth = 0;
  /** @param {import("@tslab/typescript-for-tslab").Node} node */
  const visit = (node) => {
    if (ts.isAwaitExpression(node)) {
      found = true;
      if (depth === 0) topLevelAwait = true;
      open(node.getStart(sf), "__tsdlInt.after(");
      close(node.getEnd(), `, ${EPOCH})`);
    } else if (ts.isForOfStatement(node) && node.awaitModifier && ts.isBlock(node.statement)) {
      found = true;
      if (depth === 0) topLevelAwait = true;
      open(node.statement.getStart(sf) + 1, ` __tsdlInt.check(${EPOCH});`);
    } else if (ts.isFunctionLike(node) && isAsync(node) && "body" in node && node.body) {
      const body = /** @type {import("@tslab/typescript-for-tslab").Node} */ (node.body);
      if (ts.isBlock(body)) open(body.getStart(sf) + 1, " " + CAPTURE);
      else {
        open(body.getStart(sf), `{ ${CAPTURE}return (`);
        close(body.getEnd(), "); }");
      }
    }
    const fn = ts.isFunctionLike(node);
    if (fn) depth++;
    ts.forEachChild(node, visit);
    if (fn) depth--;
  };
  visit(sf);
  if (!found) return { js, topLevelAwait, insertions };
  // Text order at one position: closings first, innermost (visited last) first; then openings, outermost first.
  const order = edits.map((e, i) => ({ ...e, i }));
  order.sort((a, b) => a.pos - b.pos || Number(a.close ? 0 : 1) - Number(b.close ? 0 : 1) || (a.close ? b.i - a.i : a.i - b.i));
  let out = "";
  let at = 0;
  for (const e of order) {
    out += js.slice(at, e.pos) + e.text;
    at = e.pos;
    insertions.add(e.pos, e.text.length);
  }
  return { js: out + js.slice(at), topLevelAwait, insertions };
}

/** @param {import("@tslab/typescript-for-tslab").Node} node */
function isAsync(node) {
  const mods = /** @type {{ modifiers?: readonly import("@tslab/typescript-for-tslab").Node[] }} */ (node).modifiers;
  return !!mods && mods.some((m) => m.kind === ts.SyntaxKind.AsyncKeyword);
}

module.exports = { instrumentAwaits, interruptState, Interrupted };
