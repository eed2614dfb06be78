// Rich display for notebooks. Inside the tsdl kernel, a sink installed by the kernel sends
// display_data / update_display_data / clear_output; anywhere else the text/plain form is printed.
import * as util from "util";

/** A Jupyter MIME bundle: MIME type -> data (strings, JSON for `*json` types, bytes for images). */
export type MimeBundle = { [mime: string]: unknown };

/** Deno's convention: an object with this method renders as the returned bundle. */
export const JUPYTER_DISPLAY: unique symbol = Symbol.for("Jupyter.display") as never;

export interface Displayable {
  [JUPYTER_DISPLAY](): MimeBundle;
}

/** What the kernel installs at `globalThis[Symbol.for("tsdl.displaySink")]`. */
export interface DisplaySink {
  display(bundle: MimeBundle, metadata: Record<string, unknown>, displayId?: string): void;
  update(bundle: MimeBundle, metadata: Record<string, unknown>, displayId: string): void;
  /** Clear the cell's outputs; `wait` defers the clearing until the next output arrives (no flicker). */
  clear?(wait: boolean): void;
}

export const SINK_KEY = Symbol.for("tsdl.displaySink");

function sink(): DisplaySink | undefined {
  return (globalThis as unknown as Record<symbol, DisplaySink | undefined>)[SINK_KEY];
}

/** True when running inside the tsdl kernel (displays go to the notebook). */
export function inKernel(): boolean {
  return sink() !== undefined;
}

function isDisplayable(v: unknown): v is Displayable {
  return v !== null && (typeof v === "object" || typeof v === "function") && typeof (v as Displayable)[JUPYTER_DISPLAY] === "function";
}

/** A tf.Tensor (duck-typed: tsdl must not pick one tfjs instance over another). */
function isTensor(v: unknown): v is { toString(verbose?: boolean): string; isDisposed: boolean; shape: number[]; dtype: string } {
  const t = v as { dataSync?: unknown; shape?: unknown; dtype?: unknown; rankType?: unknown };
  return v !== null && typeof v === "object" && typeof t.dataSync === "function" && Array.isArray(t.shape) && typeof t.dtype === "string";
}

function textOf(value: unknown, quoteStrings: boolean): string {
  if (typeof value === "string" && !quoteStrings) return value;
  if (isTensor(value)) {
    // Reading a disposed tensor throws; its shape and dtype are still known.
    return value.isDisposed ? `Tensor (disposed) shape=[${value.shape}] dtype=${value.dtype}` : value.toString();
  }
  return util.inspect(value, { depth: 4, colors: false, maxArrayLength: 100 });
}

/** Its own bundle for a Displayable (checked), else the text form. */
function bundleOf(value: unknown, quoteStrings: boolean): MimeBundle {
  if (!isDisplayable(value)) return { "text/plain": textOf(value, quoteStrings) };
  const b = value[JUPYTER_DISPLAY]();
  if (b === null || typeof b !== "object" || Array.isArray(b)) {
    throw new TypeError(
      `[Symbol.for("Jupyter.display")]() must return a MIME bundle object such as { "text/plain": "..." }; got ${util.inspect(b)}`,
    );
  }
  return b;
}

/** The MIME bundle `display(value)` sends: its Jupyter.display method, a `bundle(...)`, a string as is, else a text form. */
export function toBundle(value: unknown): MimeBundle {
  return bundleOf(value, false);
}

/**
 * The MIME bundle of a cell's final value (the kernel's execute_result): like `toBundle`, except that strings
 * are quoted as a REPL shows them, so `"1"` and `1` differ.
 */
export function resultBundle(value: unknown): MimeBundle {
  return bundleOf(value, true);
}

/** A MIME bundle given as such; it displays as itself (it is Displayable). */
export class MimeBundleValue implements Displayable {
  constructor(readonly bundle: MimeBundle) {}
  [JUPYTER_DISPLAY](): MimeBundle {
    return this.bundle;
  }
}

/**
 * Wrap a MIME bundle, e.g. `display(bundle({ "text/html": "<b>hi</b>", "text/plain": "hi" }))`: one output
 * carrying every form, the front end picks the richest it can render.
 */
export function bundle(b: MimeBundle): MimeBundleValue {
  if (b === null || typeof b !== "object" || Array.isArray(b) || Object.keys(b).length === 0) {
    throw new TypeError(`bundle() takes a non-empty { mimeType: data } object, e.g. { "text/plain": "hi" }; got ${util.inspect(b)}`);
  }
  for (const k of Object.keys(b)) {
    if (!/^[a-z]+\/[-+.\w]+$/i.test(k))
      throw new TypeError(`bundle(): ${JSON.stringify(k)} is not a MIME type (type/subtype, e.g. "text/html")`);
  }
  return new MimeBundleValue(b);
}

let nextId = 0;

/** A display that can be redrawn in place (progress bars, live plots). */
export class DisplayHandle {
  constructor(readonly displayId: string) {}
  /** Replace what this display shows (update_display_data with the same display_id). */
  update(value: unknown): void {
    const b = toBundle(value);
    const s = sink();
    if (s) s.update(b, {}, this.displayId);
    else printText(b, true);
  }
}

function printText(b: MimeBundle, isUpdate: boolean): void {
  const text = b["text/plain"];
  const out = typeof text === "string" ? text : `[${Object.keys(b).join(", ")}]`;
  if (isUpdate && process.stdout.isTTY && !out.includes("\n")) process.stdout.write(`\r${out}`);
  else console.log(out);
}

/**
 * Show a value in the notebook: anything with `[Symbol.for("Jupyter.display")]()`, a `bundle(...)`,
 * or any value (as text). Returns a handle whose `update()` redraws the same output.
 */
export function display(value: unknown): DisplayHandle {
  const handle = new DisplayHandle(`tsdl-${process.pid}-${Date.now().toString(36)}-${nextId++}`);
  const b = toBundle(value);
  const s = sink();
  if (s) s.display(b, {}, handle.displayId);
  else printText(b, false);
  return handle;
}

/** Clear the current cell's outputs (IPython's clear_output). Outside a kernel it does nothing. */
export function clearOutput(opts: { wait?: boolean } = {}): void {
  sink()?.clear?.(opts.wait ?? false);
}

/** Text made safe inside HTML (element content and double-quoted attributes). */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** What `withSummary` shows for a value: one line of text, and optionally HTML for notebooks. */
export interface Summary {
  text: string;
  html?: string;
}

/**
 * Gives plain data (a run's History, an lr finder result) a readable face without making it anything else: it
 * keeps its own fields, so JSON, checkpoints and deepEqual see nothing new, and gains two non-enumerable methods,
 * `[Symbol.for("Jupyter.display")]` and `util.inspect.custom`, that show `summary(value)` (computed when shown,
 * so it follows later changes) instead of thousands of numbers. The data stays one property away.
 */
export function withSummary<T extends object>(value: T, summary: (v: T) => Summary): T {
  const hidden = (v: unknown): PropertyDescriptor => ({ value: v, enumerable: false, configurable: true, writable: true });
  Object.defineProperty(
    value,
    JUPYTER_DISPLAY,
    hidden(() => {
      const s = summary(value);
      return s.html === undefined ? { "text/plain": s.text } : { "text/plain": s.text, "text/html": s.html };
    }),
  );
  Object.defineProperty(
    value,
    util.inspect.custom,
    hidden(() => summary(value).text),
  );
  return value;
}
