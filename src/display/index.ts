// Rich display for notebooks. Inside the tsdl kernel, a sink installed by the kernel sends
// display_data / update_display_data; anywhere else the text/plain form is printed.

/** A Jupyter MIME bundle: MIME type -> data. */
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

/** The MIME bundle of a value: its Jupyter.display method, a bundle given as such, or a text form. */
export function toBundle(value: unknown): MimeBundle {
  if (isDisplayable(value)) return value[JUPYTER_DISPLAY]();
  if (value instanceof MimeBundleValue) return value.bundle;
  if (typeof value === "string") return { "text/plain": value };
  return { "text/plain": require("util").inspect(value, { depth: 4, colors: false }) };
}

/** Marks a plain object as a MIME bundle for `display` (a plain object alone is displayed as data). */
export class MimeBundleValue {
  constructor(readonly bundle: MimeBundle) {}
}

/** Wrap a MIME bundle, e.g. `display(bundle({ "text/html": "<b>hi</b>", "text/plain": "hi" }))`. */
export function bundle(b: MimeBundle): MimeBundleValue {
  return new MimeBundleValue(b);
}

let nextId = 0;

/** A display that can be redrawn in place (progress bars, live plots). */
export class DisplayHandle {
  constructor(readonly displayId: string) {}
  /** Replace what this display shows. */
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
