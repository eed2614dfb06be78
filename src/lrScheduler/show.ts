// How a scheduler shows: one line in Node, and in a notebook its options over a table of each group's lr
// (and cycled momentum).
import { formatNumber } from "../core/check";
import type { SchedulableGroup } from "../core/protocols";
import { escapeHtml, MimeBundle } from "../display";
import { MomentumKey, readMomentum } from "./momentum";

/** `StepLR(stepSize=30, gamma=0.1)`: numbers to 6 significant digits. */
export function optionsText(name: string, options: Record<string, unknown>): string {
  const show = (v: unknown): string =>
    Array.isArray(v) ? `[${v.map(show).join(", ")}]` : typeof v === "number" ? formatNumber(v) : String(v);
  return `${name}(${Object.entries(options)
    .map(([k, v]) => `${k}=${show(v)}`)
    .join(", ")})`;
}

/** `StepLR(stepSize=30, gamma=0.1) lastEpoch=3 lr=[0.1]`. */
export function stateText(head: string, lastEpoch: number, groups: readonly SchedulableGroup[]): string {
  return `${head} lastEpoch=${lastEpoch} lr=[${groups.map((g) => formatNumber(g.lr)).join(", ")}]`;
}

/** The notebook form: the text, and in HTML the options over a table of each group's lr (and momentum). */
export function schedulerBundle(
  head: string,
  lastEpoch: number,
  groups: readonly SchedulableGroup[],
  key: MomentumKey | undefined,
): MimeBundle {
  const cols = ["group", "lr", ...(key ? ["momentum"] : [])];
  const rows = groups.map((g, i) => [String(i), formatNumber(g.lr), ...(key ? [formatNumber(readMomentum(g, key))] : [])]);
  const cells = (tag: string, r: string[]) =>
    `<tr>${r.map((c, i) => `<${tag} style="text-align:${i ? "right" : "left"}">${c}</${tag}>`).join("")}</tr>`;
  const html =
    `<div class="tsdl-lr-scheduler"><code>${escapeHtml(head)}</code> lastEpoch=${lastEpoch}` +
    `<table><thead>${cells("th", cols)}</thead><tbody>${rows.map((r) => cells("td", r)).join("")}</tbody></table></div>`;
  return { "text/html": html, "text/plain": stateText(head, lastEpoch, groups) };
}
