// A Plot: a plain vega-lite spec plus a one-line summary, displayable in any Jupyter frontend.
import * as fs from "fs";
import * as path from "path";
import * as util from "util";
import { display, DisplayHandle, escapeHtml, JUPYTER_DISPLAY, MimeBundle } from "../display";
import { compile, renderSvg, renderSvgAsync, VegaLiteSpec, VegaSpec } from "./render";

export const VEGALITE_MIME = "application/vnd.vegalite.v5+json";
export const SVG_MIME = "image/svg+xml";

/**
 * What every plot helper returns. `spec` is plain vega-lite v5 JSON: restyle it freely
 * (`p.spec.title = "…"`; data sits in `p.spec.datasets`), the SVG follows the current spec.
 *
 * A cell that ends with a Plot shows one output carrying
 * `application/vnd.vegalite.v5+json` (JupyterLab draws it), `image/svg+xml` (classic Notebook,
 * nbconvert, GitHub) and `text/plain` (the summary).
 */
export class Plot {
  private cache?: { key: string; svg: string };

  constructor(
    /** The vega-lite v5 spec. */
    readonly spec: VegaLiteSpec,
    /** One line: what is drawn and the final values. */
    readonly summary: string,
    /** What was not drawn and why (e.g. non-finite values dropped). Also shown as the subtitle. */
    readonly notes: readonly string[] = [],
  ) {}

  /** The spec compiled to vega (what vega-lite hands to the renderer). */
  toVega(): VegaSpec {
    return compile(this.spec).vega;
  }

  /** SVG markup, rendered in Node by vega (no canvas). Synchronous; cached until the spec changes. */
  toSVG(): string {
    const key = JSON.stringify(this.spec);
    // vega tags the data objects it ingests, so it renders a copy and `spec` stays plain JSON.
    if (this.cache?.key !== key) this.cache = { key, svg: renderSvg(JSON.parse(key)) };
    return this.cache.svg;
  }

  /** The same SVG through vega's async `View.toSVG()`. */
  toSVGAsync(): Promise<string> {
    return renderSvgAsync(JSON.parse(JSON.stringify(this.spec)));
  }

  /** The MIME bundle a notebook shows. If SVG rendering fails, the bundle keeps the other two and says why. */
  toBundle(): MimeBundle {
    // A copy: the output keeps what was shown even if the spec is restyled later.
    const bundle: MimeBundle = { [VEGALITE_MIME]: JSON.parse(JSON.stringify(this.spec)) };
    let text = this.toString();
    try {
      bundle[SVG_MIME] = this.toSVG();
    } catch (e) {
      text += `\n(no SVG: ${(e as Error).message})`;
    }
    bundle["text/plain"] = text;
    return bundle;
  }

  [JUPYTER_DISPLAY](): MimeBundle {
    return this.toBundle();
  }

  /** Show now (mid-cell); the handle can redraw the same output with another Plot. */
  show(): DisplayHandle {
    return display(this);
  }

  /** Write `.svg` (rendered), `.json` / `.vl.json` (the vega-lite spec) or `.html` (a standalone page). */
  save(file: string): string {
    const ext = path.extname(file).toLowerCase();
    let content: string;
    if (ext === ".svg") content = this.toSVG();
    else if (ext === ".json") content = JSON.stringify(this.spec, null, 1);
    else if (ext === ".html")
      content = `<!doctype html><meta charset="utf-8"><title>${escapeHtml(this.summary)}</title>\n${this.toSVG()}\n`;
    else throw new Error(`tsdl.plot: save() writes .svg, .json or .html files, got ${JSON.stringify(file)}`);
    fs.writeFileSync(file, content);
    return file;
  }

  toString(): string {
    return this.notes.length ? `${this.summary} (${this.notes.join("; ")})` : this.summary;
  }

  /** console.log(plot) prints the summary, as a matplotlib Figure prints its size, not its data (see `.spec`). */
  [util.inspect.custom](): string {
    return `Plot: ${this.toString()}`;
  }

  toJSON(): VegaLiteSpec {
    return this.spec;
  }
}
