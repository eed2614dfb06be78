// plot.compare: several runs' curves overlaid, one colour per run, solid train / dashed valid.
import type { History } from "../core/history";
import { describe, isObject } from "../core/check";
import { bool, Dropped, fail, fmtValue, oneOf } from "./check";
import { readHistory } from "./historyCheck";
import { Plot } from "./plot";
import { checkSizeOptions, frame, integerAxis, panelSize, SizeOptions, TAB10, valueScale } from "./style";

/** Runs to compare: a list of named histories, or a record name -> history (in insertion order). */
export type Runs = Array<{ name: string; history: History }> | Record<string, History>;

export type CompareMetric = "loss" | "accuracy";
export type Split = "train" | "valid";

export interface CompareOptions extends SizeOptions {
  /** What to compare (default "loss"). */
  metric?: CompareMetric;
  /** Which splits to draw (default both that were recorded; train solid, valid dashed). */
  splits?: Split[];
  /** Log-scale y axis (default false). */
  logY?: boolean;
}

const FIELD: Record<CompareMetric, Record<Split, "trainLoss" | "validLoss" | "trainAcc" | "validAcc">> = {
  loss: { train: "trainLoss", valid: "validLoss" },
  accuracy: { train: "trainAcc", valid: "validAcc" },
};

function readRuns(fn: string, runs: unknown): Array<{ name: string; history: History }> {
  let list: Array<{ name: string; history: History }>;
  if (Array.isArray(runs)) {
    list = runs.map((r, i) => {
      if (!isObject(r) || typeof r.name !== "string" || !("history" in r))
        fail(fn, `runs[${i}] must be { name: string, history: History }, got ${describe(r)}`);
      return r as { name: string; history: History };
    });
  } else if (isObject(runs)) {
    list = Object.entries(runs).map(([name, history]) => ({ name, history: history as History }));
  } else {
    fail(fn, `runs must be an array of { name, history } or a record name -> History, got ${describe(runs)}`);
  }
  if (list.length === 0) fail(fn, "no runs to compare (runs is empty)");
  const seen = new Set<string>();
  for (const r of list) {
    if (seen.has(r.name)) fail(fn, `two runs are named ${JSON.stringify(r.name)}; run names label the legend and must differ`);
    seen.add(r.name);
  }
  return list;
}

/**
 * Several histories on one chart, e.g. weightDecay 0 / 1e-4 / 1e-3: colour = run (legend in the
 * order given), dash = split. Runs may have different lengths; an empty run is an error.
 */
export function compare(runs: Runs, opts: CompareOptions = {}): Plot {
  const fn = "compare";
  checkSizeOptions(fn, opts);
  const list = readRuns(fn, runs);
  const metric = oneOf(fn, "metric", opts.metric, ["loss", "accuracy"] as const, "loss");
  const logY = bool(fn, "logY", opts.logY, false);
  if (opts.splits !== undefined && (!Array.isArray(opts.splits) || opts.splits.length === 0))
    fail(fn, `splits must be a non-empty array of "train" / "valid", got ${describe(opts.splits)}`);
  const wanted = (opts.splits ?? ["train", "valid"]).map((s, i) => oneOf(fn, `splits[${i}]`, s, ["train", "valid"] as const, "train"));

  const drop = new Dropped(logY);
  const rows: Array<{ run: string; epoch: number; split: Split; value: number }> = [];
  const finals: string[] = [];
  for (const { name, history } of list) {
    const { epochs } = readHistory(fn, history, `runs[${JSON.stringify(name)}]`);
    if (epochs.length === 0) fail(fn, `run ${JSON.stringify(name)} has an empty history (no epochs)`);
    for (const split of wanted) {
      for (const r of epochs) {
        const v = r[FIELD[metric][split]];
        if (v !== undefined && drop.keep(v, `${name} ${split} ${metric}`, `epoch ${r.epoch}`))
          rows.push({ run: name, epoch: r.epoch, split, value: v });
      }
    }
    const last = epochs[epochs.length - 1];
    const shownSplit = wanted.includes("valid") && last[FIELD[metric].valid] !== undefined ? "valid" : wanted[0];
    const v = last[FIELD[metric][shownSplit]];
    finals.push(`${name} ${v === undefined ? "–" : fmtValue(v)}`);
  }
  const splits = wanted.filter((s) => rows.some((r) => r.split === s));
  if (splits.length === 0)
    fail(
      fn,
      `no run recorded ${wanted.map((s) => FIELD[metric][s]).join(" or ")}${drop.count ? ` as a finite number (${drop.notes().join("; ")})` : ""}`,
    );
  const notes = drop.notes();
  const names = list.map((r) => r.name);
  const spec = frame(
    opts.title ?? `${metric}: ${names.length} runs`,
    notes,
    { runs: rows },
    {
      ...panelSize(opts),
      name: "runs",
      data: { name: "runs" },
      mark: { type: "line", strokeWidth: 2 },
      encoding: {
        x: {
          field: "epoch",
          type: "quantitative",
          title: "epoch",
          scale: { nice: false },
          axis: integerAxis(Math.min(...rows.map((r) => r.epoch)), Math.max(...rows.map((r) => r.epoch))),
        },
        y: {
          field: "value",
          type: "quantitative",
          title: logY ? `${metric} (log)` : metric,
          scale: valueScale(
            rows.map((r) => r.value),
            logY,
          ),
        },
        color: {
          field: "run",
          type: "nominal",
          title: "run",
          sort: names,
          scale: { domain: names, range: names.map((_, i) => TAB10[i % TAB10.length]) },
        },
        strokeDash: {
          field: "split",
          type: "nominal",
          title: "split",
          scale: { domain: splits, range: splits.map((s) => (s === "train" ? [1, 0] : [6, 4])) },
          ...(splits.length > 1 ? {} : { legend: null }),
        },
        detail: { field: "split" },
        tooltip: [{ field: "run" }, { field: "split" }, { field: "epoch" }, { field: "value", format: ".4f" }],
      },
    },
  );
  const shown = splits.includes("valid") ? "valid" : splits[0];
  return new Plot(spec, `compare ${names.length} runs, final ${shown} ${metric}: ${finals.join(", ")}`, notes);
}
