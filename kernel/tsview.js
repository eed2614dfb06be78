// @ts-check
// tslab's converter, seen through a view of its TypeScript module. tslab exposes neither its compile steps nor
// its program, and TypeScript's exports are non-configurable getters, so install() replaces the cached module
// by a proxy that changes two functions for every module loaded after it (tslab's converter):
//   - createWatchCompilerHost: the watch program emits an inline source map with each cell's ES-module
//     JavaScript, and the builder program is kept (signature help for inspect_request, inspect.js);
//   - transpileModule (tslab's ES module -> CommonJS step, input named custom.js): writes a map too, and both
//     maps are kept for takeMaps(); the map comments are removed from the JavaScript that runs.
// tslab is pinned (1.0.22); main.js installs this before it loads tslab's converter.
"use strict";
const path = require("path");

/** @typedef {import("./sourcemap").RawMap} RawMap */

/** The last conversion's maps: ES module -> TypeScript, CommonJS -> ES module. @type {{ esm?: RawMap, cjs?: RawMap }} */
let lastMaps = {};
/** The builder program of each watch program, in creation order (tslab's node converter first). @type {Array<{ current?: any }>} */
const programs = [];

const INLINE_MAP = /\n?\/\/# sourceMappingURL=data:application\/json;base64,([A-Za-z0-9+/=]+)\s*$/;
const MAP_COMMENT = /\n?\/\/# sourceMappingURL=\S*\s*$/;

let installed = false;

/** Install the view; tslab's converter must be loaded after this. */
function install() {
  if (installed) return;
  installed = true;
  const converterDir = path.dirname(require.resolve("tslab/dist/converter"));
  const file = require.resolve("@tslab/typescript-for-tslab", { paths: [converterDir] });
  if (require.cache[path.join(converterDir, "converter.js")])
    throw new Error("tsdl kernel: tsview.install() must run before tslab's converter loads");
  /** @type {any} */
  const ts = require(file);
  const createWatchCompilerHost = (/** @type {any} */ rootFiles, /** @type {any} */ options, /** @type {any[]} */ ...rest) => {
    const host = ts.createWatchCompilerHost(rootFiles, { ...options, sourceMap: false, inlineSourceMap: true }, ...rest);
    // tslab assigns afterProgramCreate to keep the builder program; keep it here too.
    const slot = /** @type {{ current?: any }} */ ({});
    programs.push(slot);
    /** @type {(b: any) => void} */
    let after = () => undefined;
    Object.defineProperty(host, "afterProgramCreate", {
      get: () => (/** @type {any} */ b) => {
        slot.current = b;
        after(b);
      },
      set: (/** @type {(b: any) => void} */ f) => {
        after = f;
      },
    });
    return host;
  };
  const transpileModule = (/** @type {string} */ input, /** @type {any} */ opts) => {
    if (opts?.fileName !== "custom.js") return ts.transpileModule(input, opts);
    const inline = INLINE_MAP.exec(input);
    const code = inline ? input.slice(0, inline.index) : input;
    const out = ts.transpileModule(code, {
      ...opts,
      compilerOptions: { ...opts.compilerOptions, sourceMap: true, inlineSourceMap: false },
    });
    lastMaps = {
      esm: inline ? JSON.parse(Buffer.from(inline[1], "base64").toString("utf8")) : undefined,
      cjs: out.sourceMapText ? JSON.parse(out.sourceMapText) : undefined,
    };
    return { ...out, outputText: out.outputText.replace(MAP_COMMENT, ""), sourceMapText: undefined };
  };
  /** @type {Map<string, unknown>} */
  const overrides = new Map([
    ["createWatchCompilerHost", createWatchCompilerHost],
    ["transpileModule", transpileModule],
  ]);
  const view = new Proxy(ts, {
    get: (target, key, receiver) =>
      typeof key === "string" && overrides.has(key) ? overrides.get(key) : Reflect.get(target, key, receiver),
  });
  const cached = require.cache[file];
  if (!cached) throw new Error(`tsdl kernel: ${file} is not in require.cache`);
  cached.exports = view;
}

/** The maps of the last cell converted, once. */
function takeMaps() {
  const maps = lastMaps;
  lastMaps = {};
  return maps;
}

/**
 * The current program of the converter created last (call right after createConverter).
 * @returns {() => import("@tslab/typescript-for-tslab").Program | undefined}
 */
function programOfLastConverter() {
  const slot = programs[programs.length - 1];
  return () => slot?.current?.getProgram();
}

module.exports = { install, takeMaps, programOfLastConverter };
