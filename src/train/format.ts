// How a run is printed: the course's epoch line and the lr of each group.
import { formatNumber } from "../core/check";
import type { EpochRecord } from "../core/history";
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
