// plot.lossCurve: train/valid loss (and accuracy) per epoch, with the lr changes marked.
import { describeLrChanges, lrChanges, type History } from "../core/history";
import { bool, boolOrAuto, Dropped, fail, fmt, fmtValue } from "./check";
import { readHistory } from "./historyCheck";
import { Plot } from "./plot";
import { VegaLiteSpec } from "./render";
import { checkSizeOptions, frame, integerAxis, LR_RULE_COLOR, panelSize, SizeOptions, TAB10, valueScale } from "./style";

export interface LossCurveOptions extends SizeOptions {
  /** Log-scale loss axis (default false). Values <= 0 are then dropped with a note. */
  logY?: boolean;
  /** Also draw the loss of every batch (a thin line under the epoch curves; default false). */
  batches?: boolean;
  /** Draw the accuracy panel: "auto" (default) when any accuracy was recorded. */
  accuracy?: boolean | "auto";
  /** Vertical rules where any group's lr changed: "auto" (default) draws them when there are at most 12. */
  lrRules?: boolean | "auto";
  /** Points on the epoch curves: "auto" (default) when there are at most 60 epochs. */
  points?: boolean | "auto";
}

const SERIES = ["train", "valid", "train (batch)"] as const;
const COLORS: Record<(typeof SERIES)[number], string> = { train: TAB10[0], valid: TAB10[1], "train (batch)": "#9ecae1" };
const MAX_AUTO_RULES = 12;

/** A label for an lr change: "lr 0.1 → 0.01", or per group when the groups differ. */
function changeLabel(from: number[], to: number[]): string {
  if (to.length === 1) return `lr ${fmt(from[0])} → ${fmt(to[0])}`;
  const ratios = to.map((v, g) => v / from[g]);
  if (ratios.every((r) => Math.abs(r - ratios[0]) <= 1e-9 * Math.abs(ratios[0]))) return `lr ×${fmt(ratios[0])}`;
  return `lr ${to.map(fmt).join(" / ")}`;
}

/**
 * Train and valid loss per epoch (accuracy in a second panel when recorded), a dashed rule at
 * each epoch boundary where a group's lr changed (between epoch k-1 and k, x = k - 0.5), and
 * optionally the per-batch loss: batch i of n in epoch k sits at x = k - 0.5 + (i + 0.5) / n,
 * so each epoch's mean sits in the middle of its own batches.
 */
export function lossCurve(history: History, opts: LossCurveOptions = {}): Plot {
  const fn = "lossCurve";
  checkSizeOptions(fn, opts);
  const { epochs, batches } = readHistory(fn, history);
  const wantBatches = bool(fn, "batches", opts.batches, false);
  if (epochs.length === 0 && !(wantBatches && batches.length > 0))
    fail(
      fn,
      `the history is empty (history.epochs has no records${wantBatches ? " and history.batches neither" : ""}); train for at least one epoch first`,
    );
  if (wantBatches && batches.length === 0)
    fail(fn, "batches: true needs per-batch records, but history.batches is empty; record batches in the training loop or drop the option");
  const logY = bool(fn, "logY", opts.logY, false);
  const accMode = boolOrAuto(fn, "accuracy", opts.accuracy);
  const rulesMode = boolOrAuto(fn, "lrRules", opts.lrRules);
  const pointsMode = boolOrAuto(fn, "points", opts.points);

  const dropLoss = new Dropped(logY);
  const dropAcc = new Dropped();
  const rows: Array<{ epoch: number; metric: "loss" | "accuracy"; split: string; value: number }> = [];
  const hasAcc = epochs.some((r) => r.trainAcc !== undefined || r.validAcc !== undefined);
  const showAcc = accMode === "auto" ? hasAcc : accMode;
  if (showAcc && !hasAcc) fail(fn, "accuracy: true, but no epoch record has trainAcc or validAcc");
  for (const r of epochs) {
    const at = `epoch ${r.epoch}`;
    if (dropLoss.keep(r.trainLoss, "train loss", at)) rows.push({ epoch: r.epoch, metric: "loss", split: "train", value: r.trainLoss });
    if (r.validLoss !== undefined && dropLoss.keep(r.validLoss, "valid loss", at))
      rows.push({ epoch: r.epoch, metric: "loss", split: "valid", value: r.validLoss });
    if (!showAcc) continue;
    if (r.trainAcc !== undefined && dropAcc.keep(r.trainAcc, "train accuracy", at))
      rows.push({ epoch: r.epoch, metric: "accuracy", split: "train", value: r.trainAcc });
    if (r.validAcc !== undefined && dropAcc.keep(r.validAcc, "valid accuracy", at))
      rows.push({ epoch: r.epoch, metric: "accuracy", split: "valid", value: r.validAcc });
  }

  // Per-batch loss: position within the epoch; n from the fullest epoch so a partial last epoch stays put.
  const batchRows: Array<{ x: number; step: number; value: number; split: string }> = [];
  if (wantBatches) {
    const perEpoch = new Map<number, number>();
    for (const b of batches) perEpoch.set(b.epoch, (perEpoch.get(b.epoch) ?? 0) + 1);
    const n = Math.max(...perEpoch.values());
    const index = new Map<number, number>();
    for (const b of batches) {
      const i = index.get(b.epoch) ?? 0;
      index.set(b.epoch, i + 1);
      if (dropLoss.keep(b.loss, "batch loss", `step ${b.step}`))
        batchRows.push({ x: b.epoch - 0.5 + (i + 0.5) / n, step: b.step, value: b.loss, split: "train (batch)" });
    }
  }

  const changes = lrChanges(epochs);
  const notes = [...dropLoss.notes(), ...dropAcc.notes()];
  let drawRules = rulesMode === true || (rulesMode === "auto" && changes.length <= MAX_AUTO_RULES);
  if (rulesMode === "auto" && changes.length > MAX_AUTO_RULES) {
    notes.push(`the lr changed at ${changes.length} epochs; rules omitted (lrRules: true draws them)`);
    drawRules = false;
  }
  const ruleRows = drawRules ? changes.map((c) => ({ x: c.epoch - 0.5, epoch: c.epoch, label: changeLabel(c.from, c.to) })) : [];

  const lossRows = rows.filter((r) => r.metric === "loss");
  if (lossRows.length === 0 && batchRows.length === 0) fail(fn, `no finite loss to plot (${notes.join("; ")})`);

  const showPoints = pointsMode === "auto" ? epochs.length <= 60 : pointsMode;
  const present = SERIES.filter((s) => rows.some((r) => r.split === s) || batchRows.some((r) => r.split === s));
  const color = {
    field: "split",
    type: "nominal",
    title: null,
    scale: { domain: present, range: present.map((s) => COLORS[s]) },
  };
  const epochNumbers = rows.map((r) => r.epoch);
  const x = {
    field: "epoch",
    type: "quantitative",
    title: "epoch",
    axis: integerAxis(Math.min(...epochNumbers), Math.max(...epochNumbers)),
    scale: { nice: false },
  };

  const panel = (metric: "loss" | "accuracy", second: boolean): VegaLiteSpec => {
    const layer: VegaLiteSpec[] = [];
    const values = [...rows.filter((r) => r.metric === metric), ...(metric === "loss" ? batchRows : [])].map((r) => r.value);
    const yScale = valueScale(values, metric === "loss" && logY);
    const y = {
      field: "value",
      type: "quantitative",
      title: metric === "loss" ? (logY ? "loss (log)" : "loss") : "accuracy",
      scale: yScale,
    };
    if (metric === "loss" && batchRows.length)
      layer.push({
        name: "batch_loss",
        data: { name: "batches" },
        mark: { type: "line", strokeWidth: 1, opacity: 0.7, clip: true },
        encoding: { x: { ...x, field: "x" }, y, color },
      });
    layer.push({
      name: `${metric}_lines`,
      data: { name: "epochs" },
      transform: [{ filter: `datum.metric === '${metric}'` }],
      mark: { type: "line", strokeWidth: 2 },
      encoding: { x, y, color },
    });
    if (showPoints)
      layer.push({
        name: `${metric}_points`,
        data: { name: "epochs" },
        transform: [{ filter: `datum.metric === '${metric}'` }],
        mark: { type: "point", filled: true, size: 24 },
        encoding: { x, y, color, tooltip: [{ field: "epoch" }, { field: "split" }, { field: "value", format: ".4f" }] },
      });
    if (ruleRows.length) {
      layer.push({
        name: `${metric}_lr_rules`,
        data: { name: "lrChanges" },
        mark: { type: "rule", strokeDash: [5, 4], color: LR_RULE_COLOR },
        encoding: { x: { ...x, field: "x" }, tooltip: [{ field: "label" }] }, // same axis, or its ticks go fractional
      });
      if (!second)
        layer.push({
          name: "lr_labels",
          data: { name: "lrChanges" },
          mark: { type: "text", align: "left", baseline: "top", dx: 4, dy: 4, color: LR_RULE_COLOR, fontSize: 11 },
          encoding: { x: { ...x, field: "x" }, y: { value: 0 }, text: { field: "label" } },
        });
    }
    return { ...panelSize(opts, second), layer };
  };

  const datasets: Record<string, unknown[]> = { epochs: rows, batches: batchRows, lrChanges: ruleRows };
  const body = showAcc
    ? { vconcat: [panel("loss", false), panel("accuracy", true)], resolve: { scale: { x: "shared" } } }
    : panel("loss", false);
  const spec = frame(opts.title ?? "loss", notes, datasets, body);
  return new Plot(spec, summarize(epochs, changes, batchRows.length), notes);
}

function summarize(epochs: History["epochs"], changes: ReturnType<typeof lrChanges>, nBatches: number): string {
  if (epochs.length === 0) return `loss curve: ${nBatches} batches, no complete epoch yet`;
  const last = epochs[epochs.length - 1];
  const parts = [`loss curve: ${epochs.length} epoch${epochs.length > 1 ? "s" : ""}`, `final train loss ${fmtValue(last.trainLoss)}`];
  if (last.validLoss !== undefined) {
    parts.push(`valid loss ${fmtValue(last.validLoss)}`);
    let best = epochs[0];
    for (const r of epochs) if ((r.validLoss ?? Infinity) < (best.validLoss ?? Infinity)) best = r;
    if (best.validLoss !== undefined && Number.isFinite(best.validLoss))
      parts.push(`best valid loss ${fmtValue(best.validLoss)} at epoch ${best.epoch}`);
  }
  if (last.validAcc !== undefined) parts.push(`valid acc ${fmtValue(last.validAcc)}`);
  const lrLine = describeLrChanges(changes);
  if (lrLine) parts.push(lrLine);
  return parts.join(", ");
}
