// plot.lrSchedule: the lr (and momentum, when it cycles) of every param group at every step.
import { preview as previewSchedule, Scheduler } from "../lrScheduler";
import type { PreviewOptions, SchedulePreview, SchedulerFactory } from "../lrScheduler";
import { describe, isObject } from "../core/check";
import { bool, Dropped, fail, fmt, positiveInt } from "./check";
import { Plot } from "./plot";
import { VegaLiteSpec } from "./render";
import { checkSizeOptions, frame, integerAxis, panelSize, SizeOptions, TAB10 } from "./style";

/** What `lrScheduler.preview(scheduler, steps)` returns: lr[group][step], momentum when cycled, name. */
export type { SchedulePreview };

export interface LrScheduleOptions extends SizeOptions {
  /** Log-scale lr axis (default false). */
  logY?: boolean;
  /** Title of the x axis (default "step"; say "epoch" for schedulers stepped once per epoch). */
  xTitle?: string;
}

function isPreview(v: unknown): v is SchedulePreview {
  return isObject(v) && Array.isArray(v.lr);
}

/** Checks a [group][step] table; every group must have as many steps as the first. */
function readTable(fn: string, name: string, v: unknown, groups?: number, steps?: number): number[][] {
  if (!Array.isArray(v) || v.length === 0)
    fail(fn, `${name} must be an array with one array of values per param group ([group][step]), got ${describe(v)}`);
  if (groups !== undefined && v.length !== groups) fail(fn, `${name} has ${v.length} param groups but lr has ${groups}; they must match`);
  const n = steps ?? (Array.isArray(v[0]) ? v[0].length : -1);
  v.forEach((row, g) => {
    if (!Array.isArray(row)) fail(fn, `${name}[${g}] must be an array of numbers (one per step), got ${describe(row)}`);
    if (row.length === 0) fail(fn, `${name}[${g}] is empty; a schedule preview needs at least one step`);
    if (row.length !== n)
      fail(
        fn,
        `${name}[${g}] has ${row.length} steps but ${steps === undefined ? `${name}[0]` : "lr[0]"} has ${n}; every group needs a value at every step`,
      );
    row.forEach((x, i) => {
      if (typeof x !== "number") fail(fn, `${name}[${g}][${i}] must be a number, got ${describe(x)}`);
    });
  });
  return v as number[][];
}

/** The number of steps at which some group's value differs from the step before. */
function changes(table: number[][]): number {
  let n = 0;
  for (let s = 1; s < table[0].length; s++) if (table.some((row) => row[s] !== row[s - 1])) n++;
  return n;
}

/** True when any group's values change over the steps. */
function varies(table: number[][]): boolean {
  return table.some((row) => row.some((x) => Number.isFinite(x) && Math.abs(x - row[0]) > 1e-12 * Math.abs(row[0])));
}

/**
 * The lr of each param group at each step, drawn as steps (the lr holds for a whole step), and
 * the momentum in a second panel when it varies (OneCycleLR, CyclicLR with cycleMomentum).
 * Takes a preview (`lrScheduler.preview(scheduler, steps)`), or a scheduler (or a factory
 * `opt => lrScheduler.oneCycleLR(opt, …)`) and a number of steps, previewed with
 * `lrScheduler.preview` on a copy of the param groups: the optimizer and scheduler are not touched.
 */
export function lrSchedule(schedule: SchedulePreview, opts?: LrScheduleOptions): Plot;
export function lrSchedule(scheduler: Scheduler | SchedulerFactory, steps: number, opts?: LrScheduleOptions & PreviewOptions): Plot;
export function lrSchedule(
  schedule: SchedulePreview | Scheduler | SchedulerFactory,
  stepsOrOpts?: number | LrScheduleOptions,
  maybeOpts?: LrScheduleOptions & PreviewOptions,
): Plot {
  const fn = "lrSchedule";
  let preview: SchedulePreview;
  let opts: LrScheduleOptions;
  if (isPreview(schedule)) {
    if (typeof stepsOrOpts === "number")
      fail(fn, "got a schedule preview and a number of steps; pass steps only with a scheduler (a preview already has its steps)");
    preview = schedule;
    opts = stepsOrOpts === undefined ? {} : stepsOrOpts;
  } else {
    if (!(schedule instanceof Scheduler) && typeof schedule !== "function")
      fail(
        fn,
        `expected a schedule preview ({ lr: number[][] }), an lr scheduler or a factory (opt => scheduler), got ${describe(schedule)}`,
      );
    if (stepsOrOpts === undefined || typeof stepsOrOpts === "object")
      fail(fn, "with a scheduler, pass the number of steps to preview: plot.lrSchedule(scheduler, steps)");
    const steps = positiveInt(fn, "steps", stepsOrOpts, 1);
    const { optimizer, lr, betas, metrics, ...plotOpts } = maybeOpts ?? {};
    preview = previewSchedule(schedule, steps, { optimizer, lr, betas, metrics });
    opts = plotOpts;
  }

  checkSizeOptions(fn, opts);
  const lr = readTable(fn, "lr", preview.lr);
  const nSteps = lr[0].length;
  const momentum = preview.momentum === undefined ? undefined : readTable(fn, "momentum", preview.momentum, lr.length, nSteps);
  const logY = bool(fn, "logY", opts.logY, false);
  const xTitle = opts.xTitle ?? "step";
  const groupName = (g: number) => `group ${g}`;

  const dropLr = new Dropped(logY);
  const dropMom = new Dropped();
  const lrRows: Array<{ step: number; group: string; value: number }> = [];
  const momRows: Array<{ step: number; group: string; value: number }> = [];
  lr.forEach((row, g) =>
    row.forEach(
      (v, s) => dropLr.keep(v, `${groupName(g)} lr`, `${xTitle} ${s}`) && lrRows.push({ step: s, group: groupName(g), value: v }),
    ),
  );
  const showMomentum = momentum !== undefined && varies(momentum);
  if (showMomentum)
    momentum.forEach((row, g) =>
      row.forEach(
        (v, s) => dropMom.keep(v, `${groupName(g)} momentum`, `${xTitle} ${s}`) && momRows.push({ step: s, group: groupName(g), value: v }),
      ),
    );
  if (lrRows.length === 0) fail(fn, `no finite lr to plot (${dropLr.notes().join("; ")})`);
  const notes = [...dropLr.notes(), ...dropMom.notes()];

  const groups = lr.map((_, g) => groupName(g));
  // One group needs no legend; several get matplotlib's colours in group order.
  const color =
    groups.length > 1
      ? { field: "group", type: "nominal", title: null, scale: { domain: groups, range: groups.map((_, g) => TAB10[g % TAB10.length]) } }
      : { value: TAB10[0] };
  // Piecewise-constant schedules (StepLR, MultiStepLR) are drawn as steps, smooth ones as lines.
  const interpolate = changes(lr) <= nSteps / 4 ? "step-after" : "linear";
  const x = { field: "step", type: "quantitative", title: xTitle, scale: { nice: false }, axis: integerAxis(0, nSteps - 1) };
  const panel = (what: "lr" | "momentum", second: boolean): VegaLiteSpec => ({
    ...panelSize(opts, second),
    name: `${what}_panel`,
    data: { name: what },
    mark: { type: "line", interpolate, strokeWidth: 2 },
    encoding: {
      x,
      y: {
        field: "value",
        type: "quantitative",
        title: what === "lr" ? (logY ? "lr (log)" : "lr") : "momentum",
        scale: what === "lr" ? (logY ? { type: "log" } : { zero: true }) : { zero: false },
      },
      color,
      tooltip: [{ field: "step" }, { field: "group" }, { field: "value", format: ".4g" }],
    },
  });
  const datasets = { lr: lrRows, momentum: momRows };
  const body = showMomentum ? { vconcat: [panel("lr", false), panel("momentum", true)] } : panel("lr", false);
  const spec = frame(opts.title ?? preview.name ?? "lr schedule", notes, datasets, body);
  return new Plot(spec, summarize(preview.name, lr, momentum, showMomentum, xTitle), notes);
}

function summarize(
  name: string | undefined,
  lr: number[][],
  momentum: number[][] | undefined,
  showMomentum: boolean,
  xTitle: string,
): string {
  const n = lr[0].length;
  const per = lr.map((row, g) => {
    const finite = row.filter(Number.isFinite);
    const lo = Math.min(...finite);
    const hi = Math.max(...finite);
    return `${lr.length > 1 ? `group ${g} ` : ""}lr ${fmt(row[0])} → ${fmt(row[n - 1])} (min ${fmt(lo)}, max ${fmt(hi)})`;
  });
  let s = `${name ?? "lr schedule"}: ${n} ${xTitle}${n > 1 ? "s" : ""}, ${per.join("; ")}`;
  if (momentum && showMomentum) s += `; momentum ${fmt(Math.min(...momentum[0]))}–${fmt(Math.max(...momentum[0]))}`;
  else if (momentum) s += `; momentum constant ${fmt(momentum[0][0])}`;
  return s;
}
