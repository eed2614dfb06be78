// @ts-check
// Jupyter `error` contents (ename, evalue, traceback) for the two ways a cell fails: TypeScript diagnostics
// (from tslab's converter, positions relative to the cell) and exceptions thrown while it runs.
"use strict";
const util = require("util");

/**
 * @typedef {{ ename: string, evalue: string, traceback: string[] }} ErrorContent
 * @typedef {{ start: { line: number, character: number }, messageText: string, code: number, category: number, fileName?: string }} Diagnostic
 * @typedef {{ lines: string[], map?: import("./sourcemap").CellMap, wrapper?: string }} CompiledCell a cell's JavaScript as it ran
 */

// The real stderr write, saved before cells redirect process.stderr into the notebook.
const debugLog = process.stderr.write.bind(process.stderr);

/** Marks errors raised by an interrupt (SIGINT / interrupt_request). */
const INTERRUPTED = "Interrupted";

/**
 * TypeScript diagnostics as one error: ename "TSError" (as ts-node names it), evalue the first message with
 * its code and cell line:col, traceback every diagnostic with the offending source line and a caret.
 * @param {Diagnostic[]} diags
 * @param {string} code the cell source (positions are relative to it)
 * @returns {ErrorContent}
 */
function compileError(diags, code) {
  const lines = code.split("\n");
  const where = (/** @type {Diagnostic} */ d) => `${d.fileName ? d.fileName + " " : "cell "}${d.start.line + 1}:${d.start.character + 1}`;
  const traceback = [];
  for (const d of diags) {
    traceback.push(`${where(d)} - error TS${d.code}: ${d.messageText}`);
    const src = d.fileName ? undefined : lines[d.start.line];
    if (src !== undefined) {
      traceback.push(`    ${src}`);
      traceback.push(`    ${" ".repeat(d.start.character)}^`);
    }
  }
  const first = diags[0];
  const more = diags.length > 1 ? ` (and ${diags.length - 1} more)` : "";
  return {
    ename: "TSError",
    evalue: `TS${first.code} at ${where(first)}: ${first.messageText}${more}`,
    traceback,
  };
}

// Stack frames from the kernel machinery (tslab, this folder, Node internals) say nothing about the user's code.
const KERNEL_DIR = __dirname + require("path").sep;
const INTERNAL_FRAME = /node_modules[\\/]tslab[\\/]|\(node:|at node:|<anonymous>\)$/;

/**
 * An exception thrown by a cell: ename its class name, evalue its message, traceback the stack without
 * kernel frames. Cells run as scripts named In[n] (see main.js); each frame in a cell is mapped to the cell's
 * TypeScript, `at check (In[3]:2:15)` (line:col of what the user wrote), and that line follows the frame.
 * Where the compiled code has no counterpart in the cell the frame keeps the JavaScript position and shows
 * the compiled line. Scripts without a name read `evalmachine.<anonymous>`, shown as `<cell>`.
 * @param {unknown} e
 * @param {Map<string, CompiledCell>} [compiled] compiled cells by name
 * @returns {ErrorContent}
 */
function runtimeError(e, compiled = new Map()) {
  // TSDL_KERNEL_DEBUG=1: the full stack (kernel frames included) in the kernel's log.
  if (process.env.TSDL_KERNEL_DEBUG) debugLog(`[tsdl kernel] ${e instanceof Error ? e.stack : util.inspect(e)}\n`);
  if (isInterrupt(e)) {
    return {
      ename: INTERRUPTED,
      evalue: "execution interrupted (SIGINT / interrupt_request)",
      traceback: [`${INTERRUPTED}: execution interrupted`],
    };
  }
  if (e instanceof Error || (e !== null && typeof e === "object" && "message" in e && "stack" in e)) {
    const err = /** @type {Error} */ (e);
    const ename = err.name || err.constructor?.name || "Error";
    const evalue = String(err.message);
    const stack = typeof err.stack === "string" ? err.stack.split("\n") : [];
    // The first stack lines repeat "Name: message" (possibly multi-line); frames start with "    at ".
    const frames = stack
      .filter((l) => /^\s+at /.test(l) && !INTERNAL_FRAME.test(l) && !l.includes(KERNEL_DIR))
      .flatMap((l) => cellFrame(l.replace(/evalmachine\.<anonymous>/g, "<cell>"), compiled));
    return { ename, evalue, traceback: [`${ename}: ${evalue}`, ...frames] };
  }
  // `throw "text"` or `throw 42`: JavaScript allows throwing anything.
  const evalue = typeof e === "string" ? e : util.inspect(e, { depth: 3 });
  return { ename: "Uncaught", evalue, traceback: [`Uncaught ${evalue}`] };
}

/**
 * A stack frame and the cell line it ran, mapped to the cell's TypeScript where it can be; [] for tslab's
 * call of the cell's wrapper (the line after the cell's code).
 * @param {string} frame
 * @param {Map<string, CompiledCell>} compiled
 * @returns {string[]}
 */
function cellFrame(frame, compiled) {
  const m = /(In\[\d+\]):(\d+):(\d+)(\)?)$/.exec(frame);
  const cell = m ? compiled.get(m[1]) : undefined;
  if (!m || !cell) return [frame];
  const line = Number(m[2]);
  if (line > cell.lines.length) return [];
  // Line 1 also holds the wrapper tslab puts around the cell.
  const skip = line === 1 && cell.wrapper ? cell.wrapper.length : 0;
  const pos = cell.map?.original({ line: line - 1, column: Math.max(0, Number(m[3]) - 1 - skip) });
  const text = pos ? cell.map?.sourceLine(pos.line)?.trim() : undefined;
  if (pos && text) return [`${frame.slice(0, m.index)}${m[1]}:${pos.line + 1}:${pos.column + 1}${m[4]}`, `        ${text}`];
  const js = cell.lines[line - 1]?.slice(skip).trim();
  return js ? [frame, `        ${js}`] : [frame];
}

/** @param {unknown} e */
function isInterrupt(e) {
  const err = /** @type {{ code?: string, message?: string, name?: string }} */ (e);
  return (
    err !== null &&
    typeof err === "object" &&
    (err.code === "ERR_SCRIPT_EXECUTION_INTERRUPTED" || err.message === "Interrupted asynchronously" || err.name === INTERRUPTED)
  );
}

module.exports = { compileError, runtimeError, isInterrupt, INTERRUPTED };
