// @ts-check
// The ZeroMQ side: tslab's ZmqServer (sockets, signing, heartbeat, kernel_info/complete/inspect/is_complete
// dispatch) with the message handling it lacks or gets wrong:
//   - shell requests handled one at a time in arrival order, each bracketed by busy ... idle (as ipykernel);
//     tslab published busy/idle as each request arrived, so the status read idle while a cell ran.
//     Control requests (interrupt, debug) are handled at once, also bracketed, with their own parent.
//   - execute: execute_input, execute_result, error, clear_output; stdout/stderr coalesced per tick,
//   - interrupt_request (interrupt_mode "message"), history_request, debug_request (see debug.js), unknown
//     types answered or logged to the kernel's own stderr (tslab printed them into the last cell's output),
//   - comm_info_reply under its own name (tslab sent "complete_reply") and shutdown_reply with status,
//   - sends that never fail: zeromq.js throws EBUSY when a socket is still writing (a few hundred messages in
//     one tick: a progress bar updated in a loop); tslab lost those messages, the idle status among them.
"use strict";
const crypto = require("crypto");
const { ZmqServer } = require("tslab/dist/jupyter");
const { debugReply } = require("./debug");

const DELIM = "<IDS|MSG>";

/** The requests tslab's ZmqServer dispatches itself (the rest are handled by handleOther). */
const TSLAB_TYPES = [
  "kernel_info_request",
  "execute_request",
  "is_complete_request",
  "inspect_request",
  "complete_request",
  "comm_info_request",
  "shutdown_request",
];

/**
 * The header of a raw multipart message, without verifying it (tslab verifies when it parses).
 * @param {Buffer[]} frames
 */
function peekHeader(frames) {
  const i = frames.findIndex((f) => f.toString() === DELIM);
  if (i < 0 || frames.length < i + 6) return undefined;
  try {
    return JSON.parse(frames[i + 2].toString());
  } catch {
    return undefined;
  }
}

/**
 * Make `sock.send` order-preserving and EBUSY-proof: when the socket is busy, messages wait in a queue that
 * drains as the socket becomes writable.
 * zeromq.js sockets are sealed, so this returns a stand-in with the two methods tslab calls (send, close).
 * @param {{ send(frames: any[]): Promise<void>, close(): void }} sock
 * @param {(text: string) => void} log
 */
function queueSends(sock, log) {
  const raw = sock.send.bind(sock);
  /** @type {unknown[][]} */
  const queue = [];
  let draining = false;
  const report = (/** @type {unknown} */ e) => log(`tsdl kernel: send failed: ${/** @type {Error} */ (e)?.message ?? e}`);
  const drain = async () => {
    draining = true;
    while (queue.length > 0) {
      try {
        await raw(queue[0]);
        queue.shift();
      } catch (e) {
        if (/** @type {NodeJS.ErrnoException} */ (e)?.code === "EBUSY") await new Promise((resolve) => setImmediate(resolve));
        else {
          report(e);
          queue.shift();
        }
      }
    }
    draining = false;
  };
  /** @param {unknown[]} frames */
  const send = (frames) => {
    if (!draining) {
      try {
        const p = raw(frames);
        p.catch(report);
        return p;
      } catch (e) {
        if (/** @type {NodeJS.ErrnoException} */ (e)?.code !== "EBUSY") throw e;
      }
    }
    queue.push(frames);
    if (!draining) void drain();
    return Promise.resolve();
  };
  return { send, close: () => sock.close() };
}

class TsdlServer extends ZmqServer {
  /**
   * @param {import("./handler").TsdlHandler} handler
   * @param {string} configPath
   * @param {{ interrupt: () => void, log: (text: string) => void }} opts
   */
  constructor(handler, configPath, opts) {
    super(handler, configPath);
    /** @type {import("./handler").TsdlHandler} */
    this.tsdl = handler;
    this.interrupt = opts.interrupt;
    this.log = opts.log;
    /** The shell requests still to handle, in arrival order. @type {Promise<unknown>} */
    this.shellQueue = Promise.resolve();
  }

  /**
   * Every shell and control message, as tslab's receive loops hand them over. Shell requests wait their turn
   * (one at a time, in arrival order); control requests run at once. An execute request is admitted on
   * arrival, so the abort rules (handler.js) see the order requests came in.
   * @param {any} sock
   * @param {Buffer[]} frames
   */
  handleShellMessage(sock, ...frames) {
    if (sock !== this.shell) return this.dispatch(sock, frames);
    const header = peekHeader(frames);
    if (header?.msg_type === "execute_request" && typeof header.msg_id === "string") this.tsdl.admit(header.msg_id);
    const run = () => this.dispatch(sock, frames);
    const p = this.shellQueue.then(run, run);
    this.shellQueue = p.catch(() => undefined);
    return p;
  }

  /**
   * One request: busy, its handling (replies and outputs), idle. Messages tslab does not know are answered
   * here; the rest go to tslab's dispatch, whose own status messages are suppressed (publishStatus).
   * @param {any} sock
   * @param {Buffer[]} frames
   */
  async dispatch(sock, frames) {
    const type = peekHeader(frames)?.msg_type;
    if (typeof type !== "string" || !this.verified(frames)) {
      this.log(`tsdl kernel: dropped a message ${typeof type === "string" ? `(${type}) with a bad signature` : "without a header"}`);
      return;
    }
    this.sendRaw(this.iopub, frames, "status", { execution_state: "busy" });
    try {
      if (TSLAB_TYPES.includes(type)) await super.handleShellMessage(sock, ...frames);
      else this.handleOther(sock, frames, type);
    } catch (e) {
      this.log(`tsdl kernel: ${type} failed: ${/** @type {Error} */ (e)?.stack ?? e}`);
    } finally {
      this.sendRaw(this.iopub, frames, "status", { execution_state: "idle" });
    }
  }

  /** tslab's status messages (sent as each request arrived) are replaced by dispatch()'s, sent in order. */
  publishStatus() {}

  /**
   * Reply to a raw request: identities copied, parent header set, signed with the session key.
   * @param {any} sock
   * @param {Buffer[]} frames
   * @param {string} msgType
   * @param {Record<string, unknown>} content
   */
  sendRaw(sock, frames, msgType, content) {
    const i = frames.findIndex((f) => f.toString() === DELIM);
    const parent = JSON.parse(frames[i + 2].toString());
    const header = {
      msg_id: crypto.randomBytes(16).toString("hex"),
      username: parent.username,
      session: parent.session,
      date: new Date().toISOString(),
      msg_type: msgType,
      version: "5.3",
    };
    const bodies = [JSON.stringify(header), JSON.stringify(parent), "{}", JSON.stringify(content)];
    const hmac = crypto.createHmac("sha256", this.connInfo.key);
    for (const b of bodies) hmac.update(b);
    const idents = sock === this.iopub ? [] : frames.slice(0, i);
    sock.send([...idents, DELIM, this.connInfo.key ? hmac.digest("hex") : "", ...bodies]);
  }

  /**
   * The HMAC of a raw message matches the session key (tslab checks the messages it parses itself).
   * @param {Buffer[]} frames
   */
  verified(frames) {
    const i = frames.findIndex((f) => f.toString() === DELIM);
    if (!this.connInfo.key) return true;
    const hmac = crypto.createHmac("sha256", this.connInfo.key);
    for (const f of frames.slice(i + 2, i + 6)) hmac.update(f);
    const want = Buffer.from(hmac.digest("hex"));
    const got = Buffer.from(frames[i + 1].toString());
    return want.length === got.length && crypto.timingSafeEqual(want, got);
  }

  /**
   * @param {any} sock
   * @param {Buffer[]} frames
   * @param {string} type
   */
  handleOther(sock, frames, type) {
    const i = frames.findIndex((f) => f.toString() === DELIM);
    const content = () => JSON.parse(frames[i + 5].toString());
    if (type === "interrupt_request") {
      this.interrupt();
      this.sendRaw(sock, frames, "interrupt_reply", { status: "ok" });
    } else if (type === "history_request") {
      this.sendRaw(sock, frames, "history_reply", this.tsdl.historyReply(content()));
    } else if (type === "debug_request") {
      this.sendRaw(sock, frames, "debug_reply", debugReply(content()));
    } else if (type.endsWith("_request")) {
      this.log(`tsdl kernel: unsupported request ${type}`);
      const reply = type.replace(/_request$/, "_reply");
      this.sendRaw(sock, frames, reply, {
        status: "error",
        ename: "NotImplemented",
        evalue: `${type} is not supported by the tsdl kernel`,
        traceback: [],
      });
    } else {
      this.log(`tsdl kernel: ignored message ${type}`);
    }
  }

  /** @param {any} sock @param {any} msg */
  async handleExecute(sock, msg) {
    const send = (/** @type {string} */ type, /** @type {Record<string, unknown>} */ content) => {
      const r = msg.createReply();
      r.header.msg_type = type;
      r.content = content;
      r.signAndSend(this.connInfo.key, this.iopub);
    };
    // Output is batched until the running JavaScript yields (a microtask): many small writes (a print loop) become one stream message per
    // name, and repeated updates of one display (a progress bar in a loop) only send the latest. A burst
    // of thousands of messages would otherwise overflow ZeroMQ's send queue (1000), which drops the rest.
    /** @type {{ name: "stdout" | "stderr", text: string } | null} */
    let stream = null;
    /** Latest update_display_data content per display_id, in first-update order. @type {Map<string, Record<string, unknown>>} */
    const updates = new Map();
    let scheduled = false;
    const flushStream = () => {
      if (stream) send("stream", stream);
      stream = null;
    };
    const flush = () => {
      flushStream();
      for (const content of updates.values()) send("update_display_data", content);
      updates.clear();
    };
    const later = () => {
      if (scheduled) return;
      scheduled = true;
      queueMicrotask(() => {
        scheduled = false;
        flush();
      });
    };
    /** @type {import("./handler").CellIO} */
    const io = {
      executeInput: (count) => send("execute_input", { code: msg.content.code, execution_count: count }),
      stream: (name, text) => {
        if (stream && stream.name !== name) flushStream();
        stream = stream ? { name, text: stream.text + text } : { name, text };
        later();
      },
      display: (content, update) => {
        const id = /** @type {{ display_id?: string } | undefined} */ (content.transient)?.display_id;
        if (update && id) {
          // An update changes an existing output in place: its order relative to new outputs does not matter.
          updates.delete(id);
          updates.set(id, content);
          later();
          return;
        }
        flush();
        send(update ? "update_display_data" : "display_data", content);
      },
      clear: (wait) => {
        flush();
        send("clear_output", { wait });
      },
      result: (count, data) => {
        flush();
        send("execute_result", { execution_count: count, data, metadata: {} });
      },
      error: (content) => {
        flush();
        send("error", content);
      },
      flush,
    };
    const content = await this.tsdl.execute(msg.header.msg_id, msg.content, io);
    flush();
    const reply = msg.createReply();
    reply.header.msg_type = "execute_reply";
    reply.content = content;
    reply.signAndSend(this.connInfo.key, sock);
  }

  async init() {
    await super.init();
    // The receive loops keep the real sockets; replies and publications go through the stand-ins.
    this.iopub = /** @type {any} */ (queueSends(this.iopub, this.log));
    this.shell = /** @type {any} */ (queueSends(this.shell, this.log));
    this.control = /** @type {any} */ (queueSends(this.control, this.log));
  }

  /** @param {any} sock @param {any} msg */
  handleCommInfoRequest(sock, msg) {
    const reply = msg.createReply();
    reply.header.msg_type = "comm_info_reply";
    reply.content = { status: "ok", comms: {} };
    reply.signAndSend(this.connInfo.key, sock);
  }

  /** @param {any} sock @param {any} msg */
  handleShutdown(sock, msg) {
    const reply = msg.createReply();
    reply.header.msg_type = "shutdown_reply";
    reply.content = { status: "ok", restart: Boolean(msg.content?.restart) };
    reply.signAndSend(this.connInfo.key, sock);
  }
}

module.exports = { TsdlServer, peekHeader };
