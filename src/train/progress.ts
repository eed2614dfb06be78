// The progress bar of a run (training, evaluation, the lr finder): one output redrawn in place in a notebook, one
// line rewritten in a terminal, nothing when stdout is neither (CI logs, pipes).
import { bundle, display, DisplayHandle, escapeHtml, inKernel } from "../display";

/** "auto": notebook display inside the kernel, terminal line on a TTY, else nothing. */
export type ProgressMode = "auto" | "display" | "terminal" | "none";
export const PROGRESS_MODES: readonly ProgressMode[] = ["auto", "display", "terminal", "none"];

/** What one redraw shows. */
export interface ProgressState {
  /** What runs: "Epoch 3/30", "Epoch 3/30 valid", "evaluate", "lr finder". */
  label: string;
  /** Steps (batches) done so far. */
  batch: number;
  /** Steps there will be, when known (a DataLoader's length, or the count of the epoch before). */
  batches?: number;
  /** Running mean of the batch losses (lr finder: the smoothed loss). */
  loss?: number;
  acc?: number;
  /** The lr of this step (lr finder). */
  lr?: number;
  imagesPerSecond?: number;
  /** Seconds since this started. */
  elapsed: number;
  /** Finished: the bar shows complete and the text "<label> done in hh:mm:ss". */
  done?: boolean;
  /** Stopped early (an error or an interrupt): the bar stays where it was and says so. */
  stopped?: boolean;
  /** Said after "done in …" (e.g. the loss and accuracy of an evaluation). */
  note?: string;
}

/** A `progress` option (a mode, or true = "auto", false = "none") as a mode; `where` names the caller in errors. */
export function progressMode(where: string, p: boolean | ProgressMode | undefined): ProgressMode {
  if (p === undefined || p === true) return "auto";
  if (p === false) return "none";
  if (!PROGRESS_MODES.includes(p))
    throw new Error(
      `${where}: progress must be one of ${PROGRESS_MODES.map((m) => `"${m}"`).join(", ")} or a boolean, got ${JSON.stringify(p)}`,
    );
  return p;
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

/** The bar as text: `Epoch 3/30  [########............] 120/196  loss 1.2345  acc 0.4567  52.1 img/s  ETA 00:00:41`. */
export function progressText(p: ProgressState, width = 20): string {
  const tail = p.note ? `: ${p.note}` : "";
  if (p.done) return `${p.label} done in ${hms(p.elapsed)}${tail}`;
  const parts = [p.label];
  if (p.batches) {
    const filled = Math.min(width, Math.round((p.batch / p.batches) * width));
    parts.push(`[${"#".repeat(filled)}${".".repeat(width - filled)}] ${p.batch}/${p.batches}`);
  } else parts.push(`batch ${p.batch}`);
  if (p.lr !== undefined) parts.push(`lr ${p.lr.toExponential(2)}`);
  if (p.loss !== undefined && Number.isFinite(p.loss)) parts.push(`loss ${p.loss.toFixed(4)}`);
  if (p.acc !== undefined && Number.isFinite(p.acc)) parts.push(`acc ${p.acc.toFixed(4)}`);
  if (p.imagesPerSecond !== undefined && Number.isFinite(p.imagesPerSecond)) parts.push(`${p.imagesPerSecond.toFixed(1)} img/s`);
  if (p.stopped) parts.push(`stopped after ${hms(p.elapsed)}${tail}`);
  else if (p.batches && p.batch > 0 && p.batch < p.batches) parts.push(`ETA ${hms((p.elapsed / p.batch) * (p.batches - p.batch))}`);
  else parts.push(hms(p.elapsed));
  return parts.join("  ");
}

/** The `<progress>` attributes: a value only where one is known, so a bar without a total animates while it runs. */
function progressAttrs(p: ProgressState): string {
  if (p.done) return `value="1" max="1"`;
  if (p.batches) return `value="${Math.min(p.batch, p.batches)}" max="${p.batches}"`;
  // stopped with no total: an empty, still bar (no value would keep animating)
  return p.stopped ? `value="0" max="1"` : "";
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
  private lastState?: ProgressState;
  private readonly minInterval: number;
  /** How many times it drew (for tests and curiosity). */
  draws = 0;

  constructor(
    mode: ProgressMode = "auto",
    private readonly out: TerminalLike = process.stdout,
    minInterval?: number,
  ) {
    progressMode("ProgressBar", mode);
    this.minInterval = minInterval ?? (mode === "display" || (mode === "auto" && inKernel()) ? 0.25 : 0.1);
    this.mode = mode === "auto" ? (inKernel() ? "display" : out.isTTY ? "terminal" : "none") : mode;
  }

  update(p: ProgressState, force = false): void {
    if (this.mode === "none") return;
    this.lastState = p;
    const now = performance.now() / 1000;
    if (!force && now - this.last < this.minInterval) return;
    this.last = now;
    this.draws++;
    const text = progressText(p);
    if (this.mode === "display") {
      const html = `<div style="font-family:monospace"><progress ${progressAttrs(p)} style="width:16em;vertical-align:middle"></progress> ${escapeHtml(text)}</div>`;
      const b = bundle({ "text/html": html, "text/plain": text });
      if (this.handle) this.handle.update(b);
      else this.handle = display(b);
    } else {
      const cols = this.out.columns ?? 120;
      this.out.write(`\r\x1b[2K${text.slice(0, Math.max(20, cols - 1))}`);
      this.lineOpen = true;
    }
  }

  /** Draws the finished state: a complete bar, "<label> done in hh:mm:ss[: note]". */
  finish(p: Omit<ProgressState, "done" | "stopped">): void {
    this.update({ ...p, done: true }, true);
  }

  /**
   * After an error or an interrupt: the notebook bar is redrawn where it stopped, still, and says so (a bar
   * without a value would go on animating); a terminal line is cleared so the error prints cleanly.
   */
  stop(elapsed: number, reason?: string): void {
    if (this.mode === "display" && this.handle && this.lastState && !this.lastState.done)
      this.update({ ...this.lastState, elapsed, stopped: true, note: reason }, true);
    this.clearLine();
  }

  /** Clears the terminal line so a log line (the epoch summary) prints cleanly; a no-op elsewhere. */
  clearLine(): void {
    if (this.mode === "terminal" && this.lineOpen) {
      this.out.write("\r\x1b[2K");
      this.lineOpen = false;
    }
  }
}
