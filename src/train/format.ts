// How a run is printed: the course's epoch line and the lr of each group.
import { formatNumber } from "../core/check";
import { describeLrChanges, lrChanges, type EpochRecord, type History } from "../core/history";
import { escapeHtml, type Summary } from "../display";
import { hms } from "./progress";

/** Each group's lr in 6 significant digits: 0.1, 0.010000000000000002 -> 0.01; several: [0.01, 0.1]. */
export function formatLr(lr: number[]): string {
  return lr.length === 1 ? formatNumber(lr[0]) : `[${lr.map((v) => formatNumber(v)).join(", ")}]`;
}

/**
 * The course's epoch line plus the lr: `Epoch 0. Train Loss: 1.429834, Train Acc: 0.476982, Valid Loss:
 * 1.261334, Valid Acc: 0.546776, Time 00:00:26, lr 0.01` (fields without a value are left out).
 */
export function epochLine(r: EpochRecord): string {
  const f = (v: number) => (Number.isFinite(v) ? v.toFixed(6) : String(v).toLowerCase());
  let s = `Epoch ${r.epoch}. Train Loss: ${f(r.trainLoss)}, `;
  if (r.trainAcc !== undefined) s += `Train Acc: ${f(r.trainAcc)}, `;
  if (r.validLoss !== undefined) s += `Valid Loss: ${f(r.validLoss)}, `;
  if (r.validAcc !== undefined) s += `Valid Acc: ${f(r.validAcc)}, `;
  return `${s}Time ${hms(r.seconds)}, lr ${formatLr(r.lr)}`;
}

/** Most epochs the History's table shows (the first and the last ones, with a gap marked between). */
const TABLE_EPOCHS = 12;

/**
 * How a History reads in a notebook or console.log: its size, the last epoch, where the lr changed, and (HTML) a
 * table of the epochs; never the thousands of batch records, which stay in `.batches`.
 */
export function historySummary(h: History): Summary {
  const epochs = h.epochs ?? [];
  const batches = h.batches ?? [];
  const n = epochs.length;
  const count = (k: number, one: string, many: string) => `${k.toLocaleString("en-US")} ${k === 1 ? one : many}`;
  const parts = [`History: ${count(n, "epoch", "epochs")}, ${count(batches.length, "batch", "batches")}`];
  const f4 = (v: number | undefined) => (v === undefined ? "" : Number.isFinite(v) ? v.toFixed(4) : String(v));
  if (n > 0) {
    const last = epochs[n - 1];
    const fields = [`train loss ${f4(last.trainLoss)}`];
    if (last.trainAcc !== undefined) fields.push(`train acc ${f4(last.trainAcc)}`);
    if (last.validLoss !== undefined) fields.push(`valid loss ${f4(last.validLoss)}`);
    if (last.validAcc !== undefined) fields.push(`valid acc ${f4(last.validAcc)}`);
    parts.push(`epoch ${last.epoch}: ${fields.join(", ")}, lr ${formatLr(last.lr)}`);
    const changes = lrChanges(epochs);
    const lrLine = describeLrChanges(changes);
    if (lrLine) parts.push(lrLine);
  }
  const text = `${parts.join("; ")}; data in .epochs and .batches`;
  const head = ["epoch", "train loss", "train acc", "valid loss", "valid acc", "lr", "time"];
  const row = (r: EpochRecord) => [
    String(r.epoch),
    f4(r.trainLoss),
    f4(r.trainAcc),
    f4(r.validLoss),
    f4(r.validAcc),
    formatLr(r.lr),
    hms(r.seconds),
  ];
  const shown =
    n <= TABLE_EPOCHS ? epochs.map(row) : [...epochs.slice(0, 6).map(row), head.map(() => "…"), ...epochs.slice(n - 5).map(row)];
  const cell = (tag: string, v: string) => `<${tag} style="text-align:right">${escapeHtml(v)}</${tag}>`;
  const html =
    `<div>${escapeHtml(parts.join("; "))}</div>` +
    (n
      ? `<table><thead><tr>${head.map((h) => cell("th", h)).join("")}</tr></thead><tbody>${shown.map((r) => `<tr>${r.map((v) => cell("td", v)).join("")}</tr>`).join("")}</tbody></table>`
      : "") +
    `<div style="color:#777">data: history.epochs, history.batches; plot.lossCurve(history) draws it</div>`;
  return { text, html };
}
