// vega-lite spec -> vega spec -> SVG string, in Node, with no canvas and without awaiting.
//
// Why synchronous: a notebook cell that ends with a plot is shown through
// `[Symbol.for("Jupyter.display")]()`, which kernels call synchronously, while vega's own
// `View.toSVG()` is async. For inline data (all tsdl plots) no vega operator is truly
// asynchronous: `Dataflow.evaluate` is an async function only because it awaits data loads and
// its post-run callbacks. `renderSvg` runs the same evaluation, collects the post-run callbacks
// itself (the autosize pass) and runs them at once, then renders with vega's SVGStringRenderer,
// exactly as `View.toSVG()` does. The tests check that both give the same SVG, byte for byte.

/** A vega-lite v5 spec (plain JSON). */
export type VegaLiteSpec = { [key: string]: unknown };
/** A compiled vega spec (plain JSON). */
export type VegaSpec = { [key: string]: unknown };

/* eslint-disable @typescript-eslint/no-explicit-any */
interface Libs {
  vega: any;
  vl: any;
}
let libs: Libs | undefined;

/** vega and vega-lite load on first use, so `import "tsdl"` does not pay for them. */
function load(): Libs {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  if (!libs) libs = { vega: require("vega"), vl: require("vega-lite") };
  return libs;
}

/** Compile vega-lite to vega; vega-lite's warnings are returned, not printed. */
export function compile(spec: VegaLiteSpec): { vega: VegaSpec; warnings: string[] } {
  const { vl } = load();
  const warnings: string[] = [];
  const collect = (...args: unknown[]) => {
    warnings.push(args.map(String).join(" "));
    return logger;
  };
  const logger = {
    level: () => logger,
    error: (...args: unknown[]) => {
      throw new Error(`tsdl.plot: vega-lite rejected the spec: ${args.map(String).join(" ")}`);
    },
    warn: collect,
    info: () => logger,
    debug: () => logger,
  };
  const out = vl.compile(spec, { logger });
  return { vega: out.spec as VegaSpec, warnings };
}

function newView(vgSpec: VegaSpec): any {
  const { vega } = load();
  return new vega.View(vega.parse(vgSpec), { renderer: "none", logLevel: vega.Error });
}

/** Run a view's dataflow to completion without yielding to the event loop. */
function runSync(view: any): void {
  const { vega } = load();
  const queue: Array<{ callback: (v: unknown) => void; priority: number }> = [];
  // Post-run callbacks (e.g. the autosize resize) go to our queue instead of being awaited.
  view.runAfter = function (callback: (v: unknown) => void, enqueue?: boolean, priority?: number) {
    if (this._pulse || enqueue) queue.push({ callback, priority: priority ?? 0 });
    else callback(this);
    return this;
  };
  const evaluate = () => {
    if (view._pending) throw new Error("tsdl.plot: the spec loads data asynchronously; use toSVGAsync()");
    void vega.Dataflow.prototype.evaluate.call(view);
    // A pulse still set here means an operator returned a promise: the run is not synchronous.
    if (view._pulse) throw new Error("tsdl.plot: the spec has asynchronous operators; use toSVGAsync()");
  };
  evaluate();
  for (let round = 0; queue.length > 0; round++) {
    if (round > 100) throw new Error("tsdl.plot: vega's layout did not settle after 100 passes");
    queue.sort((a, b) => b.priority - a.priority);
    for (const { callback } of queue.splice(0)) callback(view);
    if (view._touched.length) evaluate();
  }
}

/** SVG markup of a vega-lite spec, rendered synchronously by vega's SVG string renderer. */
export function renderSvg(spec: VegaLiteSpec): string {
  const { vega } = load();
  const view = newView(compile(spec).vega);
  try {
    runSync(view);
    const pad = view.padding();
    const width = Math.max(0, view._viewWidth + pad.left + pad.right);
    const height = Math.max(0, view._viewHeight + pad.top + pad.bottom);
    const origin = [pad.left + view._origin[0], pad.top + view._origin[1]];
    const renderer = new vega.SVGStringRenderer(view.loader())
      .initialize(null, width, height, origin, undefined, undefined)
      .background(view.background());
    renderer.render(view._scenegraph.root);
    return renderer.svg() as string;
  } finally {
    view.finalize();
  }
}

/** The same SVG through vega's public async API (`View.toSVG()`). */
export async function renderSvgAsync(spec: VegaLiteSpec): Promise<string> {
  const view = newView(compile(spec).vega);
  try {
    return (await view.toSVG()) as string;
  } finally {
    view.finalize();
  }
}
