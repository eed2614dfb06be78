// The progress bar of a training run: one output redrawn in place in a notebook, one line rewritten
// in a terminal, nothing when stdout is neither (CI logs, pipes).
import { bundle, display, DisplayHandle, escapeHtml, inKernel } from "../display";

/** "auto": notebook display inside the kernel, terminal line on a TTY, else nothing. */
export type ProgressMode = "auto" | "display" | "terminal" | "none";
export const PROGRESS_MODES: readonly ProgressMode[] = ["auto", "display", "terminal", "none"];

/** What one redraw shows. */
export interface ProgressState {
  epoch: number;
  epochs: number;
  batch: number;
  /** Batches per epoch, when the data source knows its length. */
  batches?: number;
  /** Running mean of this epoch's batch losses. */
  loss?: number;
  acc?: number;
  imagesPerSecond?: number;
  /** Seconds since the epoch started. */
  elapsed: number;
  /** Phase being run. */
  phase: "train" | "valid" | "done";
}

/** Where terminal output goes: process.stdout by default (a test passes its own). */
export interface TerminalLike {
  isTTY?: boolean;
  columns?: number;
  write(s: string): unknown;
}

export function hms(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${pad(h)}:${pad(m)}:${pad(s % 60)}`;
}

/** The bar as text: `Epoch 3/30 [########............] 120/196 loss 1.2345 acc 0.4567 52.1 img/s ETA 00:00:41`. */
export function progressText(p: ProgressState, width = 20): string {
  const head = `Epoch ${p.epoch}/${p.epochs}${p.phase === "valid" ? " valid" : ""}`;
  if (p.phase === "done") return `${head} done in ${hms(p.elapsed)}`;
  const parts = [head];
  if (p.batches) {
    const filled = Math.min(width, Math.round((p.batch / p.batches) * width));
    parts.push(`[${"#".repeat(filled)}${".".repeat(width - filled)}] ${p.batch}/${p.batches}`);
  } else parts.push(`batch ${p.batch}`);
  if (p.loss !== undefined) parts.push(`loss ${p.loss.toFixed(4)}`);
  if (p.acc !== undefined) parts.push(`acc ${p.acc.toFixed(4)}`);
  if (p.imagesPerSecond !== undefined && Number.isFinite(p.imagesPerSecond)) parts.push(`${p.imagesPerSecond.toFixed(1)} img/s`);
  if (p.batches && p.batch > 0 && p.batch < p.batches) parts.push(`ETA ${hms((p.elapsed / p.batch) * (p.batches - p.batch))}`);
  else parts.push(hms(p.elapsed));
  return parts.join("  ");
}

/**
 * One progress output per run. In "display" mode it is a notebook display updated in place (HTML
 * `<progress>` plus the text); in "terminal" mode one line rewritten with `\r`. Redraws are throttled to
 * `minInterval` seconds except when forced (end of an epoch).
 */
export class ProgressBar {
  readonly mode: Exclude<ProgressMode, "auto">;
  private handle?: DisplayHandle;
  private last = -Infinity;
  private lineOpen = false;
  /** How many times it drew (for tests and curiosity). */
  draws = 0;

  constructor(
    mode: ProgressMode = "auto",
    private readonly out: TerminalLike = process.stdout,
    private readonly minInterval = mode === "display" || (mode === "auto" && inKernel()) ? 0.25 : 0.1,
  ) {
    if (!PROGRESS_MODES.includes(mode)) {
      throw new Error(`train: progress must be one of ${PROGRESS_MODES.map((m) => `"${m}"`).join(", ")} or a boolean, got ${JSON.stringify(mode)}`);
    }
    this.mode = mode === "auto" ? (inKernel() ? "display" : out.isTTY ? "terminal" : "none") : mode;
  }

  update(p: ProgressState, force = false): void {
    if (this.mode === "none") return;
    const now = performance.now() / 1000;
    if (!force && now - this.last < this.minInterval) return;
    this.last = now;
    this.draws++;
    const text = progressText(p);
    if (this.mode === "display") {
      const value = p.batches ? `value="${p.batch}" max="${p.batches}"` : "";
      const html = `<div style="font-family:monospace"><progress ${value} style="width:16em;vertical-align:middle"></progress> ${escapeHtml(text)}</div>`;
      const b = bundle({ "text/html": html, "text/plain": text });
      if (this.handle) this.handle.update(b);
      else this.handle = display(b);
    } else {
      const cols = this.out.columns ?? 120;
      this.out.write(`\r\x1b[2K${text.slice(0, Math.max(20, cols - 1))}`);
      this.lineOpen = true;
    }
  }

  /** Clears the terminal line so a log line (the epoch summary) prints cleanly; a no-op elsewhere. */
  clearLine(): void {
    if (this.mode === "terminal" && this.lineOpen) {
      this.out.write("\r\x1b[2K");
      this.lineOpen = false;
    }
  }
}
