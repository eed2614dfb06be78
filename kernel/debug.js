// @ts-check
// debug_request (Jupyter's Debug Adapter Protocol channel) for a kernel without a debugger.
//
// JupyterLab 4 sends `modules` after every execute_reply and throws "No active debugger session" (an uncaught
// page error, once per cell) unless the kernelspec advertises `metadata.debugger`, which makes it open a
// session. So the kernelspec advertises it and this module answers the requests that session sends while
// no debugger runs (debugInfo, modules, inspectVariables) with what is true: not started, nothing loaded.
// Starting one (initialize) and everything else are refused with a reason; the debugger toggle stays off.
"use strict";
const os = require("os");
const path = require("path");

/** What a refused request says. */
const NO_DEBUGGER =
  "the tsdl kernel has no debugger: cells run as JavaScript in Node's vm (use console.log, or TSDL_KERNEL_DEBUG=1 for full stacks)";

/**
 * @typedef {{ type?: string, seq?: number, command?: string, arguments?: Record<string, unknown> }} DapRequest
 * @typedef {{ type: "response", seq: number, request_seq: number, command: string, success: boolean, message?: string, body: Record<string, unknown> }} DapResponse
 */

/**
 * The debug_reply content (a DAP response) to a debug_request's content.
 * @param {DapRequest} req
 * @returns {DapResponse}
 */
function debugReply(req) {
  const command = typeof req?.command === "string" ? req.command : "";
  const base = { type: /** @type {const} */ ("response"), seq: 0, request_seq: typeof req?.seq === "number" ? req.seq : 0, command };
  switch (command) {
    case "debugInfo":
      return {
        ...base,
        success: true,
        body: {
          isStarted: false,
          // JupyterLab requires a hash method it knows even when nothing is debugged.
          hashMethod: "Murmur2",
          hashSeed: 0,
          tmpFilePrefix: path.join(os.tmpdir(), `tsdl_${process.pid}`) + path.sep,
          tmpFileSuffix: ".ts",
          breakpoints: [],
          stoppedThreads: [],
          richRendering: false,
          exceptionPaths: [],
          copyToGlobals: false,
        },
      };
    case "modules":
      return { ...base, success: true, body: { modules: [], totalModules: 0 } };
    case "inspectVariables":
      return { ...base, success: true, body: { variables: [] } };
    default:
      return { ...base, success: false, message: NO_DEBUGGER, body: {} };
  }
}

module.exports = { debugReply, NO_DEBUGGER };
