// The param-group table shown by `opt` and `opt.paramGroups`: HTML for Jupyter, aligned text elsewhere.
import { escapeHtml, type MimeBundle } from "../display";
import type { BaseHyper } from "./options";
import type { ParamGroup } from "./params";

export interface GroupTable {
  caption: string;
  columns: string[];
  rows: string[][];
  /** Which columns hold numbers (right-aligned). */
  numeric: boolean[];
}

/** Numbers to 6 significant digits: a table of scheduled lrs should read 0.950485, not 0.9504846320134737. */
function fmt(v: unknown): string {
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
  if (Array.isArray(v)) return `[${v.map(fmt).join(", ")}]`;
  if (v === undefined) return "";
  if (typeof v === "object" && v !== null) return "{…}";
  return String(v);
}

/** Rows: one per group. Columns: group, name (when any group has one), tensors, parameters, then hyperparameters. */
export function groupTable(caption: string, groups: ReadonlyArray<ParamGroup<BaseHyper>>, hyperKeys: readonly string[]): GroupTable {
  const extra: string[] = [];
  for (const g of groups)
    for (const k of Object.keys(g)) if (k !== "params" && k !== "name" && !hyperKeys.includes(k) && !extra.includes(k)) extra.push(k);
  const named = groups.some((g) => g.name !== undefined);
  const keys = [...hyperKeys, ...extra];
  const columns = ["group", ...(named ? ["name"] : []), "tensors", "parameters", ...keys];
  const rows = groups.map((g, i) => {
    let numel = 0;
    for (const v of g.params) numel += v.size;
    return [
      String(i),
      ...(named ? [g.name ?? ""] : []),
      String(g.params.length),
      numel.toLocaleString("en-US"),
      ...keys.map((k) => fmt(g[k])),
    ];
  });
  const numeric = columns.map((_, c) => rows.length > 0 && rows.every((r) => r[c] === "" || /^-?[\d,.]+(e[-+]?\d+)?$/.test(r[c])));
  return { caption, columns, rows, numeric };
}

export function tableText(t: GroupTable): string {
  const widths = t.columns.map((c, i) => Math.max(c.length, ...t.rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((s, i) => (t.numeric[i] ? s.padStart(widths[i]) : s.padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  return [t.caption, line(t.columns), ...t.rows.map(line)].join("\n");
}

export function tableHtml(t: GroupTable): string {
  const cell = (tag: string, s: string, i: number) =>
    `<${tag} style="text-align:${t.numeric[i] ? "right" : "left"}">${escapeHtml(s)}</${tag}>`;
  return (
    `<table class="tsdl-param-groups"><caption style="text-align:left">${escapeHtml(t.caption)}</caption>` +
    `<thead><tr>${t.columns.map((c, i) => cell("th", c, i)).join("")}</tr></thead>` +
    `<tbody>${t.rows.map((r) => `<tr>${r.map((s, i) => cell("td", s, i)).join("")}</tr>`).join("")}</tbody></table>`
  );
}

export function tableBundle(t: GroupTable): MimeBundle {
  return { "text/html": tableHtml(t), "text/plain": tableText(t) };
}
