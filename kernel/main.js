#!/usr/bin/env node
// @ts-check
// The tsdl Jupyter kernel: tslab 1.0.22's converter (TypeScript -> JS with type checking) and executor
// (variables kept across cells, top-level await) behind a handler and server that speak the protocol fully.
//   node kernel/main.js --connection-file <file>      (what kernel/share/kernels/tsdl/kernel.json runs)
// The kernelspec starts Node with --experimental-require-module, so ESM-only packages load with `import`.
"use strict";
// First: tslab's converter must load through the kernel's view of its TypeScript (tsview.js).
const tsview = require("./tsview");
tsview.install();
const fs = require("fs");
const path = require("path");
const { createConverter } = require("tslab/dist/converter");
const { createExecutor } = require("tslab/dist/executor");
const { getCodeMetadata } = require("tslab/dist/metadata");
const { TsdlHandler } = require("./handler");
const { TsdlServer } = require("./server");
const { instrumentAwaits, interruptState } = require("./interrupt");
const { wrapRequire } = require("./esm");
const { expandShorthand } = require("./shorthand");
const { displayProblem } = require("./bundle");
const sourcemap = require("./sourcemap");
const { signatureInfo } = require("./inspect");

/** What tslab's executor puts before a cell's JavaScript, on its first line. */
const TSLAB_WRAPPER = { async: "(async function(exports, require) { ", sync: "(function(exports, require) { " };

function connectionFile() {
  const args = process.argv.slice(2);
  const i = args.findIndex((a) => a === "--connection-file" || a === "-f" || a === "--config-path");
  const file = i >= 0 ? args[i + 1] : args.find((a) => !a.startsWith("-"));
  if (!file || !fs.existsSync(file)) {
    process.stderr.write(`usage: node kernel/main.js --connection-file <jupyter connection file>; got ${JSON.stringify(file)}\n`);
    process.exit(2);
  }
  return file;
}

/**
 * An exception thrown in a timer or callback, or a promise rejected with no handler, must not end the kernel
 * (every variable would be lost): it is reported, as ipykernel reports an exception in a thread. Other
 * code's listeners for these events still run, but what they throw is caught: tfjs-backend-wasm (emscripten)
 * registers listeners that rethrow, which made Node exit. Patching emit, rather than adding one more
 * listener, covers listeners registered later (the wasm backend loads when a cell selects it).
 * @param {(kind: "uncaughtException" | "unhandledRejection", error: unknown) => void} report
 * @param {(text: string) => void} log the kernel's own stderr
 */
function survivePromiseAndTimerErrors(report, log) {
  const emit = process.emit;
  /** @type {(type: string | symbol, ...args: any[]) => boolean} */
  const guarded = function (type, ...args) {
    if (type !== "uncaughtException" && type !== "unhandledRejection") return Reflect.apply(emit, process, [type, ...args]);
    const error = args[0];
    const safeReport = (/** @type {typeof type} */ kind, /** @type {unknown} */ e) => {
      try {
        report(kind, e);
      } catch (failed) {
        log(`tsdl kernel: cannot report ${kind}: ${failed}`);
      }
    };
    safeReport(type, error);
    for (const listener of process.rawListeners(type)) {
      try {
        listener.apply(process, args);
      } catch (thrown) {
        if (thrown !== error) safeReport("uncaughtException", thrown);
      }
    }
    // Handled: Node neither exits nor rethrows it.
    return true;
  };
  process.emit = /** @type {typeof process.emit} */ (guarded);
}

function main() {
  const configPath = connectionFile();
  // Kernel diagnostics go to the kernel's own stderr (the Jupyter server log), never into a cell.
  const stderrWrite = process.stderr.write.bind(process.stderr);
  const log = (/** @type {string} */ text) => void stderrWrite(text.endsWith("\n") ? text : text + "\n");
  const version = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "package.json"), "utf8")).version;

  /** @type {TsdlHandler} */
  let handler;
  // tslab's converter, wrapped: diagnostics reach the handler with their TS codes, and the emitted JS checks
  // for interrupts at every `await` (see interrupt.js).
  const node = createConverter({ isJS: false, isBrowser: false });
  const nodeProgram = tsview.programOfLastConverter();
  // The declarations the type checker sees from earlier cells. tslab keeps a cell's declarations only when it
  // ran to the end; here a cell that compiled keeps them even if it then threw or was interrupted, because
  // its variables exist at run time (as in Python: `x = 1; raise` leaves x defined).
  // Seeded with the kernel's own global, so `await importESM("pkg")` type-checks in cells.
  /** @type {string | undefined} */
  let decls = "declare function importESM(specifier: string): Promise<any>;\n";
  /**
   * @param {string} src
   * @param {string} [name] the cell's name in stack traces, e.g. "In[3]"
   */
  const convert = (src, name) => {
    const earlier = decls ?? "";
    const r = node.convert(earlier, src);
    const maps = tsview.takeMaps();
    if (r.diagnostics.length === 0) decls = r.declOutput ?? "";
    handler.recordDiagnostics(r.diagnostics);
    if (r.output) {
      const compiled = r.output;
      const shorthand = new sourcemap.Insertions();
      const expanded = expandShorthand(compiled, earlier, shorthand);
      const inst = instrumentAwaits(expanded);
      r.output = inst.js;
      if (inst.topLevelAwait) r.hasToplevelAwait = true;
      // Stack frames then read `In[3]:5:15` instead of `evalmachine.<anonymous>:5:15` (V8 honours sourceURL);
      // errors.js maps them to the cell's TypeScript.
      if (name) {
        const map = new sourcemap.CellMap(
          maps,
          compiled,
          [
            { text: expanded, insertions: shorthand },
            { text: inst.js, insertions: inst.insertions },
          ],
          src,
        );
        r.output += `\n//# sourceURL=${name}`;
        handler.recordCompiled(name, r.output, map, r.hasToplevelAwait ? TSLAB_WRAPPER.async : TSLAB_WRAPPER.sync);
      }
    }
    return r;
  };
  // A cell compiled ahead by prepare() (see TsdlHandler.runCell), handed to the executor when it asks.
  /** @type {{ src: string, result: import("tslab/dist/converter").ConvertResult } | null} */
  let prepared = null;
  /** @param {string} src @param {string} name */
  const prepare = (src, name) => {
    const meta = getCodeMetadata(src);
    prepared = meta.module || meta.mode === "browser" ? null : { src, result: convert(src, name) };
  };
  /** @type {import("tslab/dist/converter").Converter} */
  const wrapped = {
    convert(_prevDecl, src) {
      if (prepared && prepared.src === src) {
        const r = prepared.result;
        prepared = null;
        return r;
      }
      return convert(src);
    },
    addModule(name, content, meta) {
      const diags = node.addModule(name, content, meta);
      handler.recordDiagnostics(diags);
      return diags;
    },
    // On a name: tslab's quick info; inside a call's arguments (`new optim.SGD(|`): the signature being called.
    inspect: (prevDecl, src, pos) => node.inspect(decls ?? prevDecl, src, pos) ?? signatureInfo(nodeProgram(), pos),
    complete: (prevDecl, src, pos) => node.complete(decls ?? prevDecl, src, pos),
    close: () => node.close(),
  };
  /** @type {import("tslab/dist/converter").Converter | undefined} */
  let browser;
  const convs = {
    node: wrapped,
    get browser() {
      return (browser ??= createConverter({ isJS: false, isBrowser: true }));
    },
    close() {
      node.close();
      browser?.close();
    },
  };

  /** @type {ReturnType<TsdlHandler["executorConsole"]>} */
  const executorConsole = { log: (v) => handler.executorConsole().log(v), error: (...a) => handler.executorConsole().error(...a) };
  const executor = createExecutor(process.cwd(), convs, executorConsole);
  handler = new TsdlHandler(executor, { version, log, prepare });

  // Cells call `require` through tslab's hook; ESM load failures get an explanation of what to do.
  const tslabGlobal = /** @type {{ __tslab__: { require: NodeJS.Require } }} */ (/** @type {unknown} */ (globalThis)).__tslab__;
  tslabGlobal.require = wrapRequire(tslabGlobal.require, process.cwd());
  Object.defineProperty(globalThis, Symbol.for("tsdl.displaySink"), { value: handler.displaySink(), configurable: true });
  // importESM(specifier): a real dynamic import, resolved from the notebook's folder. Cells see it as a
  // variable of an earlier cell (tslab compiles those to `exports.<name>`), and as a global.
  const importESM = (/** @type {string} */ specifier) => import(require.resolve(specifier, { paths: [process.cwd()] }));
  executor.locals.importESM = importESM;
  Object.defineProperty(globalThis, "importESM", { value: importESM, configurable: true, writable: true });

  const interrupt = () => {
    if (process.env.TSDL_KERNEL_DEBUG) log(`[tsdl kernel] interrupt (epoch ${interruptState.epoch + 1})`);
    interruptState.interrupt();
    executor.interrupt();
  };
  process.on("SIGINT", interrupt);
  survivePromiseAndTimerErrors((kind, error) => handler.reportUncaught(kind, error), log);

  if (displayProblem) log(displayProblem);
  const server = new TsdlServer(handler, configPath, { interrupt, log });
  server.init().catch((e) => {
    log(`tsdl kernel: cannot start: ${e?.stack ?? e}`);
    process.exit(1);
  });
}

main();
