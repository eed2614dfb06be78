// @ts-check
// The execute side of the kernel: tslab's JupyterHandlerImpl (completion, inspection, is_complete come from it
// unchanged) with execution redone to speak the protocol fully:
//   - execute_input with the execution count, execute_result for the final expression (rich where it can be),
//   - an `error` message with ename/evalue/traceback instead of stderr text,
//   - no silent aborts: after an error only requests already queued are aborted, and only when the request
//     asks for it (stop_on_error, true by default as in ipykernel); nbconvert --allow-errors sends false.
"use strict";
const { JupyterHandlerImpl } = require("tslab/dist/jupyter");
const tslabJupyter = require("tslab/dist/jupyter");
const ts = require("@tslab/typescript-for-tslab");
const { compileError, runtimeError } = require("./errors");
const { displayProblem, resultWire, toWire } = require("./bundle");
const { interruptState, Interrupted } = require("./interrupt");

/**
 * Where one execute request's outputs go (the server binds these to its iopub socket and parent header).
 * @typedef {object} CellIO
 * @property {(count: number) => void} executeInput
 * @property {(name: "stdout" | "stderr", text: string) => void} stream
 * @property {(content: { data: Record<string, unknown>, metadata: Record<string, unknown>, transient?: Record<string, unknown> }, update: boolean) => void} display
 * @property {(wait: boolean) => void} clear
 * @property {(count: number, data: Record<string, unknown>) => void} result
 * @property {(content: import("./errors").ErrorContent) => void} error
 * @property {() => void} flush
 */

/**
 * What the executor reports while one cell runs (tslab calls `console.log(value)` for the final
 * expression and `console.error(...)` for diagnostics and exceptions on the console it was given).
 * @typedef {{ diagnostics: import("./errors").Diagnostic[], errors: unknown[], hasResult: boolean, result: unknown }} Capture
 */

const tslabVersion = require("tslab/dist/util").getVersion();

const DIAGNOSTIC_FORMAT = "%s%d:%d - %s";

/**
 * After an error with stop_on_error, requests that reach the kernel within this window were sent before the
 * error reply (the reply is held until it ends), i.e. they were queued behind the failing cell ("Run All"):
 * they are aborted. A request sent after the reply is never aborted. ipykernel drains its queue the same way.
 */
const ABORT_WINDOW_MS = 20;

/** How many cells' compiled code is kept for tracebacks. */
const COMPILED_KEPT = 200;

/** How much of a result's text/plain history_request can return per cell. */
const HISTORY_OUTPUT_CHARS = 10_000;

class TsdlHandler extends JupyterHandlerImpl {
  /**
   * @param {import("tslab/dist/executor").Executor} executor
   * @param {{ version: string, log: (text: string) => void, prepare: (code: string, name: string) => void }} opts
   */
  constructor(executor, opts) {
    super(executor, false);
    this.prepare = opts.prepare;
    this.version = opts.version;
    this.log = opts.log;
    /** Execute requests waiting their turn, by msg_id; an error with stop_on_error aborts them. @type {Map<string, { aborted: boolean }>} */
    this.waiting = new Map();
    /** True during the abort window after an error. */
    this.aborting = false;
    /** @type {Capture | null} */
    this.capture = null;
    /**
     * Inputs (and text outputs) of the cells run with store_history, for history_request.
     * @type {Array<{ line: number, input: string, output: string | null }>}
     */
    this.history = [];
    /** Compiled JavaScript of recent cells by name ("In[3]"), to map traceback frames to the cell. @type {Map<string, import("./errors").CompiledCell>} */
    this.compiled = new Map();
    /** tslab's own fields are private in its typings; these are the kernel's. */
    this.exec = executor;
    this.count = 0;
    /** Whether the problem with tsdl's build (bundle.js) was shown, on the first cell. */
    this.warnedBuild = false;
    /** Outputs of the cell that ran last: output written after a cell finished goes there, as in ipykernel. @type {CellIO | null} */
    this.io = null;
  }

  /** The console handed to tslab's executor: it reports results and errors here instead of printing. */
  executorConsole() {
    return {
      log: (/** @type {unknown} */ value) => {
        if (this.capture) {
          this.capture.hasResult = true;
          this.capture.result = value;
        } else this.log(String(value));
      },
      error: (/** @type {unknown[]} */ ...args) => {
        const c = this.capture;
        // Diagnostics arrive with their codes through recordDiagnostics(); tslab's printed copy is dropped.
        if (args[0] === DIAGNOSTIC_FORMAT) return;
        if (c) c.errors.push(args[0]);
        else this.log(args.map(String).join(" "));
      },
    };
  }

  /**
   * Remember a cell's compiled JavaScript and how it maps to the cell's TypeScript (the last COMPILED_KEPT cells).
   * @param {string} name
   * @param {string} js
   * @param {import("./sourcemap").CellMap} map
   * @param {string} wrapper what tslab's executor puts before the JavaScript on its first line
   */
  recordCompiled(name, js, map, wrapper) {
    this.compiled.delete(name);
    this.compiled.set(name, { lines: js.split("\n"), map, wrapper });
    if (this.compiled.size > COMPILED_KEPT) this.compiled.delete(/** @type {string} */ (this.compiled.keys().next().value));
  }

  /**
   * Called by the converter wrapper with every diagnostics list tslab computes for the running cell.
   * @param {import("./errors").Diagnostic[]} diagnostics
   */
  recordDiagnostics(diagnostics) {
    if (this.capture) this.capture.diagnostics.push(...diagnostics);
  }

  /** kernel_info_reply content: tslab's plus the fields it lacks. */
  handleKernel() {
    const base = super.handleKernel();
    return {
      ...base,
      status: "ok",
      protocol_version: "5.3",
      implementation: "tsdl",
      implementation_version: this.version,
      language_info: { ...base.language_info, version: ts.version, pygments_lexer: "typescript" },
      banner: `TypeScript ${ts.version} on Node.js ${process.version} (tsdl kernel ${this.version}, tslab ${tslabVersion})`,
      help_links: /** @type {[{ text: string, url: string }]} */ ([
        { text: "TensorFlow.js API", url: "https://js.tensorflow.org/api/latest/" },
      ]),
      // No debugger; debug_request is answered all the same (debug.js says why the kernelspec advertises one).
      debugger: false,
    };
  }

  /**
   * An execute_request arrived (the server handles requests one at a time, so it may wait): it is aborted
   * if an error with stop_on_error happens before its turn, or happened just before it arrived.
   * @param {string} msgId
   */
  admit(msgId) {
    const ticket = { aborted: this.aborting };
    this.waiting.set(msgId, ticket);
  }

  /**
   * Run an admitted execute_request (its turn has come).
   * @param {string} msgId
   * @param {{ code: string, silent?: boolean, store_history?: boolean, stop_on_error?: boolean }} req
   * @param {CellIO} io
   */
  async execute(msgId, req, io) {
    const ticket = this.waiting.get(msgId) ?? { aborted: false };
    this.waiting.delete(msgId);
    if (ticket.aborted) return { status: "aborted", execution_count: this.count };
    return this.runCell(req, io);
  }

  /**
   * @param {{ code: string, silent?: boolean, store_history?: boolean, stop_on_error?: boolean }} req
   * @param {CellIO} io
   */
  async runCell(req, io) {
    const silent = req.silent === true;
    const storeHistory = req.store_history ?? !silent;
    if (storeHistory) this.count++;
    const count = this.count;
    /** @type {{ line: number, input: string, output: string | null }} */
    const entry = { line: count, input: req.code, output: null };
    if (storeHistory) this.history.push(entry);
    this.bind(io);
    if (!silent) io.executeInput(count);
    if (displayProblem && !this.warnedBuild) {
      this.warnedBuild = true;
      io.stream("stderr", displayProblem + "\n");
    }

    /** @type {Capture} */
    const cap = { diagnostics: [], errors: [], hasResult: false, result: undefined };
    this.capture = cap;
    const epoch = interruptState.epoch;
    let ok;
    try {
      // Compile first, then let pending signal handlers run: an interrupt that arrived while TypeScript was
      // compiling stops the cell here. Otherwise it would be lost: Node delivers a signal to JS in the event
      // loop's poll phase, and vm's breakOnSigint detaches the SIGINT listeners while the cell runs.
      // Two immediates: the second runs after a full loop turn, i.e. after a poll phase.
      this.prepare(req.code, `In[${count}]`);
      await new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
      if (interruptState.epoch !== epoch) throw new Interrupted();
      ok = await this.exec.execute(req.code);
    } catch (e) {
      ok = false;
      cap.errors.push(e);
    } finally {
      this.capture = null;
    }
    io.flush();

    if (!ok) {
      const err = cap.diagnostics.length > 0 ? compileError(cap.diagnostics, req.code) : runtimeError(cap.errors[0], this.compiled);
      if (!silent) io.error(err);
      if (req.stop_on_error ?? true) {
        this.aborting = true;
        for (const t of this.waiting.values()) t.aborted = true;
        await new Promise((resolve) => setTimeout(resolve, ABORT_WINDOW_MS));
        this.aborting = false;
      }
      return { status: "error", execution_count: count, ...err };
    }
    // `//@module` cells register a module even when it has type errors; tslab prints those, so does this.
    for (const d of cap.diagnostics)
      io.stream("stderr", `${d.fileName ?? ""} ${d.start.line + 1}:${d.start.character + 1} - ${d.messageText}\n`);
    if (cap.hasResult && !silent) {
      try {
        const data = resultWire(cap.result);
        io.result(count, data);
        // History keeps a bounded text copy: a printed tensor can be megabytes.
        if (typeof data["text/plain"] === "string")
          entry.output = /** @type {string} */ (data["text/plain"]).slice(0, HISTORY_OUTPUT_CHARS);
      } catch (e) {
        // A broken [Symbol.for("Jupyter.display")] must not lose the cell: report it like a thrown error.
        const err = runtimeError(e);
        io.error(err);
        return { status: "error", execution_count: count, ...err };
      }
    }
    return { status: "ok", execution_count: count, user_expressions: {}, payload: [] };
  }

  /**
   * history_reply content: `tail` (last n), `range` (lines start..stop-1), `search` (glob pattern, `unique`, last n).
   * There is one session, numbered 1; any session asked for means it.
   * @param {{ output?: boolean, hist_access_type?: string, start?: number, stop?: number, n?: number, pattern?: string, unique?: boolean }} req
   */
  historyReply(req) {
    let entries = this.history;
    const n = typeof req.n === "number" && req.n > 0 ? req.n : undefined;
    if (req.hist_access_type === "range") {
      const start = req.start ?? 0;
      const stop = req.stop ?? Infinity;
      entries = entries.filter((e) => e.line >= start && e.line < stop);
    } else if (req.hist_access_type === "search") {
      const glob = (req.pattern ?? "*")
        .replace(/[.+^${}()|[\]\\]/g, "\\$&")
        .replace(/\*/g, "[\\s\\S]*")
        .replace(/\?/g, "[\\s\\S]");
      const re = new RegExp(`^${glob}$`);
      entries = entries.filter((e) => re.test(e.input));
      if (req.unique) {
        // The latest occurrence of each input, in order.
        const latest = new Map();
        for (const e of entries) latest.set(e.input, e);
        entries = [...latest.values()].sort((a, b) => a.line - b.line);
      }
      if (n) entries = entries.slice(-n);
    } else if (req.hist_access_type === "tail") {
      entries = entries.slice(-(n ?? 1000));
    }
    const history = entries.map((e) => [1, e.line, req.output ? [e.input, e.output] : e.input]);
    return { status: "ok", history };
  }

  /**
   * Route console output, tslab's display API and tsdl's display sink to this cell.
   * @param {CellIO} io
   */
  bind(io) {
    this.io = io;
    const write = (/** @type {"stdout" | "stderr"} */ name) =>
      /** @type {typeof process.stdout.write} */ (
        (/** @type {string | Uint8Array} */ chunk, /** @type {unknown[]} */ ...rest) => {
          io.stream(name, typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
          const cb = rest.find((x) => typeof x === "function");
          if (cb) /** @type {() => void} */ (cb)();
          return true;
        }
      );
    process.stdout.write = write("stdout");
    process.stderr.write = write("stderr");
    tslabJupyter.lastWriteDisplayData = (/** @type {any} */ content, /** @type {boolean} */ update) => {
      io.display({ ...content, data: toWire(content.data) }, update);
    };
  }

  /**
   * An exception thrown outside any cell's await chain (a timer, a callback) or a rejected promise nobody
   * handles: shown as stderr on the running cell, or on the cell that ran last (where ipykernel prints an
   * exception raised in a thread). The cell itself is not failed.
   * @param {"uncaughtException" | "unhandledRejection"} kind
   * @param {unknown} error
   */
  reportUncaught(kind, error) {
    const what = kind === "unhandledRejection" ? "Unhandled promise rejection" : "Uncaught exception in a callback";
    const text = `${what} (the kernel keeps running):\n${runtimeError(error, this.compiled).traceback.join("\n")}\n`;
    if (this.io) this.io.stream("stderr", text);
    else this.log(text);
  }

  /** The sink tsdl's `display()` finds at globalThis[Symbol.for("tsdl.displaySink")]. */
  displaySink() {
    const current = () => {
      if (!this.io) throw new Error("tsdl kernel: display() before any cell ran");
      return this.io;
    };
    return {
      display: (
        /** @type {Record<string, unknown>} */ bundle,
        /** @type {Record<string, unknown>} */ metadata,
        /** @type {string | undefined} */ displayId,
      ) =>
        current().display({ data: toWire(bundle), metadata: metadata ?? {}, transient: displayId ? { display_id: displayId } : {} }, false),
      update: (
        /** @type {Record<string, unknown>} */ bundle,
        /** @type {Record<string, unknown>} */ metadata,
        /** @type {string} */ displayId,
      ) => current().display({ data: toWire(bundle), metadata: metadata ?? {}, transient: { display_id: displayId } }, true),
      clear: (/** @type {boolean} */ wait) => current().clear(wait),
    };
  }
}

module.exports = { TsdlHandler };
