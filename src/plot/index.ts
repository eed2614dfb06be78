// Plots for training runs, as vega-lite specs rendered to SVG in Node: loss curves, lr schedules,
// run comparisons, lr finder results, and live charts redrawn in place during training.
export { Plot, VEGALITE_MIME, SVG_MIME } from "./plot";
export { lossCurve } from "./lossCurve";
export type { LossCurveOptions } from "./lossCurve";
export { lrSchedule } from "./lrSchedule";
export type { LrScheduleOptions, SchedulePreview } from "./lrSchedule";
export { compare } from "./compare";
export type { CompareOptions, CompareMetric, Runs, Split } from "./compare";
export { lrFinder } from "./lrFinder";
export type { LrFinderPlotOptions } from "./lrFinder";
export { live, LivePlot } from "./live";
export type { LiveOptions } from "./live";
export { PlotInputError } from "./check";
export { renderSvg, renderSvgAsync, compile } from "./render";
export type { VegaLiteSpec, VegaSpec } from "./render";
export type { SizeOptions } from "./style";
