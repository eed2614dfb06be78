// plot.lrFinder: loss against lr on a log axis, with the suggested lr marked.
import type { LrFinderResult } from "../core/history";
import { describe, isObject } from "../core/check";
import { bool, Dropped, fail, fmt, fmtValue, nonNegativeInt } from "./check";
import { Plot } from "./plot";
import { checkSizeOptions, frame, panelSize, SizeOptions, SUGGESTION_COLOR, TAB10, valueScale } from "./style";

export interface LrFinderPlotOptions extends SizeOptions {
  /** Leave out the first points (default 0), as pytorch-lr-finder's skip_start. */
  skipStart?: number;
  /** Leave out the last points (default 0), e.g. where the loss diverged, as skip_end. */
  skipEnd?: number;
  /**
   * Top of the loss axis. "auto" (default): the highest loss up to the lowest one, so the
   * divergence at the end does not flatten the useful part (what is cut off is noted).
   * `Infinity` shows everything.
   */
  yMax?: number | "auto";
  /** Mark the suggested lr (default true); false draws the curve alone, e.g. while the range test still runs. */
  suggestion?: boolean;
}

/**
 * The loss at each lr tried (x on a log axis) and, when the result has one, the suggested lr
 * as a red dashed rule with a point on the curve at the nearest lr tried and its value as text.
 * Points with a non-finite loss or an lr <= 0 are dropped with a note.
 */
export function lrFinder(result: LrFinderResult, opts: LrFinderPlotOptions = {}): Plot {
  const fn = "lrFinder";
  checkSizeOptions(fn, opts);
  if (!isObject(result)) fail(fn, `expected an LrFinderResult ({ lrs, losses, suggestedLr }), got ${describe(result)}`);
  const { lrs, losses, suggestedLr } = result;
  if (!Array.isArray(lrs)) fail(fn, `result.lrs must be an array of numbers, got ${describe(lrs)}`);
  if (!Array.isArray(losses)) fail(fn, `result.losses must be an array of numbers, got ${describe(losses)}`);
  if (lrs.length !== losses.length)
    fail(fn, `result.lrs has ${lrs.length} values but result.losses has ${losses.length}; they must pair up, one loss per lr`);
  if (lrs.length === 0) fail(fn, "the result is empty (no lr was tried)");
  const skipStart = nonNegativeInt(fn, "skipStart", opts.skipStart, 0);
  const skipEnd = nonNegativeInt(fn, "skipEnd", opts.skipEnd, 0);
  if (skipStart + skipEnd >= lrs.length) fail(fn, `skipStart (${skipStart}) + skipEnd (${skipEnd}) leave none of the ${lrs.length} points`);

  const drop = new Dropped();
  const dropLr = new Dropped(true);
  const rows: Array<{ lr: number; loss: number }> = [];
  for (let i = skipStart; i < lrs.length - skipEnd; i++) {
    const lr = lrs[i];
    const loss = losses[i];
    if (typeof lr !== "number" || typeof loss !== "number")
      fail(fn, `result.lrs[${i}] and result.losses[${i}] must be numbers, got ${describe(lr)} and ${describe(loss)}`);
    if (dropLr.keep(lr, "lr", `point ${i}`) && drop.keep(loss, "loss", `lr ${fmt(lr)}`)) rows.push({ lr, loss });
  }
  const notes = [...dropLr.notes(), ...drop.notes()];
  if (rows.length === 0) fail(fn, `no point with a finite loss and a positive lr (${notes.join("; ")})`);

  // The marker sits on the curve at the lr tried nearest (in log distance) to the suggestion.
  const suggestion: Array<{ lr: number; loss: number; label: string }> = [];
  const markSuggestion = bool(fn, "suggestion", opts.suggestion, true);
  if (markSuggestion && typeof suggestedLr === "number" && Number.isFinite(suggestedLr) && suggestedLr > 0) {
    let near = rows[0];
    for (const r of rows) if (Math.abs(Math.log(r.lr / suggestedLr)) < Math.abs(Math.log(near.lr / suggestedLr))) near = r;
    suggestion.push({ lr: suggestedLr, loss: near.loss, label: `suggested lr ${fmt(suggestedLr)}` });
  } else if (markSuggestion) {
    notes.push(`no suggested lr (suggestedLr is ${describe(suggestedLr)})`);
  }

  // The loss axis stops at the highest loss seen before the minimum (the divergence is cut off).
  const yMaxOpt = opts.yMax ?? "auto";
  if (yMaxOpt !== "auto" && (typeof yMaxOpt !== "number" || Number.isNaN(yMaxOpt)))
    fail(fn, `yMax must be a number, Infinity or "auto", got ${describe(yMaxOpt)}`);
  const iMin = rows.reduce((m, r, i) => (r.loss < rows[m].loss ? i : m), 0);
  const maxLoss = Math.max(...rows.map((r) => r.loss));
  const minLoss = rows[iMin].loss;
  let top = yMaxOpt === "auto" ? Math.max(...rows.slice(0, iMin + 1).map((r) => r.loss)) : yMaxOpt;
  if (yMaxOpt === "auto" && top - minLoss < 1e-12 * Math.abs(minLoss) + 1e-12) top = maxLoss; // the loss only rises: show it all
  const cut = top < maxLoss;
  if (cut) notes.push(`loss axis cut at ${fmt(top)} (the loss reaches ${fmt(maxLoss)}; yMax: Infinity shows all)`);

  const x = { field: "lr", type: "quantitative", title: "learning rate (log)", scale: { type: "log" }, axis: { format: ".0e" } };
  const y = {
    field: "loss",
    type: "quantitative",
    title: "loss",
    scale: cut ? { zero: false, domainMax: top } : valueScale(rows.map((r) => r.loss)),
  };
  const layer: Record<string, unknown>[] = [
    {
      name: "finder_line",
      data: { name: "finder" },
      mark: { type: "line", strokeWidth: 2, color: TAB10[0], clip: true },
      encoding: {
        x,
        y,
        tooltip: [
          { field: "lr", format: ".3e" },
          { field: "loss", format: ".4f" },
        ],
      },
    },
  ];
  if (suggestion.length)
    layer.push(
      {
        name: "suggestion_rule",
        data: { name: "suggestion" },
        mark: { type: "rule", strokeDash: [5, 4], color: SUGGESTION_COLOR },
        encoding: { x },
      },
      {
        name: "suggestion_point",
        data: { name: "suggestion" },
        mark: { type: "point", filled: true, size: 80, color: SUGGESTION_COLOR },
        encoding: { x, y },
      },
      {
        name: "suggestion_label",
        data: { name: "suggestion" },
        mark: { type: "text", align: "left", baseline: "top", dx: 5, dy: 4, color: SUGGESTION_COLOR, fontSize: 11 },
        encoding: { x, y: { value: 0 }, text: { field: "label" } },
      },
    );
  const spec = frame(opts.title ?? "lr finder", notes, { finder: rows, suggestion }, { ...panelSize(opts), layer });
  const lo = rows[0].lr;
  const hi = rows[rows.length - 1].lr;
  const best = rows.reduce((a, b) => (b.loss < a.loss ? b : a));
  const sug = suggestion.length ? `, suggested lr ${fmt(suggestion[0].lr)}` : markSuggestion ? ", no suggested lr" : "";
  return new Plot(
    spec,
    `lr finder: ${rows.length} lrs from ${fmt(lo)} to ${fmt(hi)}${sug}, lowest loss ${fmtValue(best.loss)} at lr ${fmt(best.lr)}`,
    notes,
  );
}
