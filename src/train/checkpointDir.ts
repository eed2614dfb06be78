// The checkpoint folder on disk: which folders tsdl may write into, how a save is published in one atomic
// step, where resume finds the newest complete checkpoint, and which leftovers of interrupted saves go.
//
// Layout of a checkpoint folder:
//   .tsdl-checkpoint        marker, written when tsdl first takes an absent or empty folder
//   checkpoint.json         the manifest; names its weights file. Replacing it (one rename) publishes a save
//   weights-<pid>-<id>.bin  the weights the manifest names
// A save writes and fsyncs a new weights file and a temporary manifest, then renames the manifest over the old
// one and fsyncs the folder. A kill at any instant leaves either the old checkpoint or the new one, complete,
// plus at most the new files of the unfinished save; the next save removes those (only files named as ours,
// of processes no longer running). Nothing else in the folder is touched.
// Saves of tsdl before this layout (format tsdl.checkpoint/1: checkpoint.json + weights.bin, swapped in with
// two renames) are read and overwritten too, and their leftover `<dir>.partial-PID` / `<dir>.old-PID` folders
// are searched by resume and removed by the next save.
import * as fs from "fs";
import * as path from "path";
import { randomBytes } from "crypto";

export const MARKER = ".tsdl-checkpoint";
export const MANIFEST = "checkpoint.json";
/** The weights file of a format-1 checkpoint. */
export const LEGACY_WEIGHTS = "weights.bin";
const WEIGHTS_FILE = /^weights-(\d+)-[0-9a-f]+\.bin$/;
const MANIFEST_TMP = /^checkpoint\.json\.tmp-(\d+)$/;
const MARKER_TEXT = "This folder is a tsdl checkpoint (saveCheckpoint / train({ checkpoint })). tsdl replaces its own files here.\n";

/** Where a manifest and its weights file were found. */
export interface Located {
  /** The folder read (`dir`, or a leftover folder of an interrupted format-1 save). */
  dir: string;
  /** The manifest, parsed. */
  manifest: Record<string, unknown>;
  weightsPath: string;
}

/**
 * Test hook: `TSDL_CHECKPOINT_CRASH_AT=<step>` kills this process (SIGKILL) when a save reaches that step, so
 * the crash-safety test can stop a save at each step deterministically.
 */
export const CRASH_STEPS = ["folder-made", "claimed", "weights-written", "manifest-written", "published", "cleaning"] as const;
function crashPoint(step: (typeof CRASH_STEPS)[number]): void {
  if (process.env.TSDL_CHECKPOINT_CRASH_AT === step) process.kill(process.pid, "SIGKILL");
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** A format-1 manifest readable as JSON, or undefined. */
function legacyManifest(dir: string): Record<string, unknown> | undefined {
  try {
    const m = JSON.parse(fs.readFileSync(path.join(dir, MANIFEST), "utf8")) as Record<string, unknown>;
    return m && m.format === "tsdl.checkpoint/1" ? m : undefined;
  } catch {
    return undefined;
  }
}

function listing(entries: string[]): string {
  const shown = entries.slice(0, 5).map((e) => JSON.stringify(e));
  return shown.join(", ") + (entries.length > 5 ? `, … (${entries.length} entries)` : "");
}

/**
 * Throws unless `dir` may receive a checkpoint: absent, an empty folder (not the working directory), or a
 * folder that already holds a tsdl checkpoint. Reads only.
 */
export function checkTarget(dir: string, caller: string): void {
  const abs = path.resolve(dir);
  const refuse = (why: string): never => {
    throw new Error(
      `${caller}: ${JSON.stringify(dir)} ${why}. Nothing was changed. Checkpoints go into a new or empty folder, or one tsdl wrote before (with ${MARKER}), e.g. "runs/my-run".`,
    );
  };
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch {
    return; // absent: created by the save
  }
  const real = fs.realpathSync(abs);
  const cwd = fs.realpathSync(process.cwd());
  if (real === cwd || cwd.startsWith(real.endsWith(path.sep) ? real : real + path.sep))
    refuse(`is the working directory${real === cwd ? "" : " or a folder above it"}, not a checkpoint folder`);
  if (!st.isDirectory()) refuse(`is a file, not a checkpoint folder`);
  if (fs.existsSync(path.join(abs, MARKER))) return;
  const entries = fs.readdirSync(abs);
  if (entries.length === 0) return;
  if (legacyManifest(abs)) return;
  if (entries.includes(MANIFEST))
    refuse(`holds a ${MANIFEST} that is not a tsdl checkpoint (no ${MARKER} marker, and not a readable tsdl.checkpoint/1 manifest)`);
  refuse(`is a folder that is not a tsdl checkpoint (no ${MARKER} marker; it holds ${listing(entries)})`);
}

function fsyncPath(p: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(p, "r");
    fs.fsyncSync(fd);
  } catch (e) {
    // Windows cannot open or fsync a directory; its renames are durable without it
    if (process.platform !== "win32") throw e;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Writes a new file and forces it to disk before returning. */
function writeDurably(file: string, data: Buffer | string, flag: "wx" | "w"): void {
  const fd = fs.openSync(file, flag);
  try {
    const buf = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    for (let off = 0; off < buf.byteLength;) off += fs.writeSync(fd, buf, off, buf.byteLength - off);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Whether process `pid` still runs (so its unfinished save must not be cleaned away). */
function alive(pid: number): boolean {
  if (pid === process.pid) return false; // this process is not saving anything else now (saves are synchronous)
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Publishes one checkpoint into `dir`: `manifest(weightsFile)` gives the manifest's text once the weights
 * file's name is known. Creates `dir` (and its parents) when absent; refuses folders that are not ours.
 */
export function publish(dir: string, weights: Buffer, manifest: (weightsFile: string) => string, caller: string): void {
  checkTarget(dir, caller);
  const abs = path.resolve(dir);
  if (!fs.existsSync(path.join(abs, MARKER))) {
    const created = fs.mkdirSync(abs, { recursive: true }); // the topmost folder made, if any
    if (created) fsyncPath(path.dirname(created));
    crashPoint("folder-made"); // an empty folder: checkTarget takes it again, readCheckpoint finds no checkpoint
    writeDurably(path.join(abs, MARKER), MARKER_TEXT, "w");
    fsyncPath(abs);
  }
  const previous = currentWeights(abs);
  removeLeftovers(abs, previous, false);
  crashPoint("claimed");
  const weightsFile = `weights-${process.pid}-${randomBytes(6).toString("hex")}.bin`;
  const weightsPath = path.join(abs, weightsFile);
  const tmp = path.join(abs, `${MANIFEST}.tmp-${process.pid}`);
  try {
    writeDurably(weightsPath, weights, "wx");
    crashPoint("weights-written");
    writeDurably(tmp, manifest(weightsFile), "w");
    fsyncPath(abs); // both new names on disk before the manifest names them
    crashPoint("manifest-written");
    fs.renameSync(tmp, path.join(abs, MANIFEST));
  } catch (e) {
    for (const f of [tmp, weightsPath]) fs.rmSync(f, { force: true });
    throw e;
  }
  crashPoint("published");
  fsyncPath(abs);
  removeLeftovers(abs, weightsFile, true, previous);
}

/**
 * Removes what interrupted saves left: our temporary names only, of processes that no longer run, except
 * `keep` (the weights the manifest names; undefined: keep every weights file). Before a save this bounds the
 * debris to one unfinished save; after it (`published`) it also removes the weights the manifest named before
 * (`replaced`, whichever process wrote them) and the format-1 leftovers.
 */
function removeLeftovers(abs: string, keep: string | undefined, published: boolean, replaced?: string): void {
  let first = true;
  const remove = (p: string, recursive = false): void => {
    fs.rmSync(p, { force: true, recursive });
    if (first && published) crashPoint("cleaning");
    first = false;
  };
  for (const name of fs.readdirSync(abs)) {
    const m = MANIFEST_TMP.exec(name) ?? (keep === undefined ? null : WEIGHTS_FILE.exec(name));
    if (name !== keep && ((m && !alive(Number(m[1]))) || (published && name === replaced))) remove(path.join(abs, name));
  }
  if (!published) return;
  for (const d of legacySiblings(abs)) if (!alive(d.pid)) remove(d.dir, true);
}

/**
 * The weights file the folder's manifest names ("" when there is no manifest), or undefined when the manifest
 * cannot be read or names something not ours.
 */
function currentWeights(abs: string): string | undefined {
  try {
    const m = JSON.parse(fs.readFileSync(path.join(abs, MANIFEST), "utf8")) as { weightsFile?: unknown };
    const name = m.weightsFile ?? LEGACY_WEIGHTS;
    return typeof name === "string" && (WEIGHTS_FILE.test(name) || name === LEGACY_WEIGHTS) ? name : undefined;
  } catch (e) {
    // no manifest yet: no weights file is named, all are leftovers
    return (e as NodeJS.ErrnoException).code === "ENOENT" ? "" : undefined;
  }
}

/**
 * `<dir>.partial-PID` and `<dir>.old-PID` folders that format-1 saves left when interrupted: recognised by
 * name and by holding nothing but a format-1 manifest and weights.bin.
 */
function legacySiblings(abs: string): { dir: string; pid: number }[] {
  const parent = path.dirname(abs);
  const base = path.basename(abs);
  let names: string[];
  try {
    names = fs.readdirSync(parent);
  } catch {
    return [];
  }
  const out: { dir: string; pid: number }[] = [];
  for (const name of names) {
    const m = /^\.(partial|old)-(\d+)$/.exec(name.slice(base.length));
    if (!name.startsWith(base) || !m) continue;
    const dir = path.join(parent, name);
    if (!isDir(dir)) continue;
    const entries = fs.readdirSync(dir);
    if (entries.every((e) => e === MANIFEST || e === LEGACY_WEIGHTS)) out.push({ dir, pid: Number(m[2]) });
  }
  return out;
}

/** The bytes a manifest's tensors need (largest offset + byteLength), or undefined when it does not say. */
function bytesNeeded(m: Record<string, unknown>): number | undefined {
  if (typeof m.weightsBytes === "number") return m.weightsBytes;
  const opt = m.optimizer as { weights?: unknown } | undefined;
  const entries = [m.weights, opt?.weights].flatMap((w) => (Array.isArray(w) ? w : [])) as { offset?: unknown; byteLength?: unknown }[];
  let end = 0;
  for (const e of entries) {
    if (typeof e?.offset !== "number" || typeof e.byteLength !== "number") return undefined;
    end = Math.max(end, e.offset + e.byteLength);
  }
  return end;
}

/**
 * The newest complete checkpoint for `dir`: its manifest when there is one; else (a format-1 save killed
 * between its renames) the newest complete leftover folder beside it. Throws with what was found otherwise.
 */
export function locate(dir: string, where: string): Located {
  const abs = path.resolve(dir);
  const manifestPath = path.join(abs, MANIFEST);
  if (fs.existsSync(manifestPath)) {
    let manifest: Record<string, unknown>;
    const text = fs.readFileSync(manifestPath, "utf8");
    try {
      manifest = JSON.parse(text) as Record<string, unknown>;
    } catch (e) {
      throw new Error(`${where}: ${manifestPath} is not valid JSON (${(e as Error).message}); was it edited by hand?`);
    }
    if (!manifest || typeof manifest !== "object" || Array.isArray(manifest)) {
      throw new Error(
        `${where}: ${manifestPath} holds ${text.length > 40 ? text.slice(0, 40) + "…" : text}, expected a JSON object (a tsdl checkpoint manifest)`,
      );
    }
    const wf = manifest.weightsFile ?? LEGACY_WEIGHTS;
    if (typeof wf !== "string" || !(WEIGHTS_FILE.test(wf) || wf === LEGACY_WEIGHTS)) {
      throw new Error(
        `${where}: ${MANIFEST} key "weightsFile" is ${JSON.stringify(wf)}; accepted: a file name weights-<pid>-<hex>.bin in the same folder`,
      );
    }
    return { dir: abs, manifest, weightsPath: path.join(abs, wf) };
  }
  const found = legacySiblings(abs)
    .map((s) => ({ ...s, manifest: legacyManifest(s.dir) }))
    .filter((s): s is typeof s & { manifest: Record<string, unknown> } => {
      if (!s.manifest) return false;
      const need = bytesNeeded(s.manifest);
      const bin = path.join(s.dir, LEGACY_WEIGHTS);
      return need !== undefined && fs.existsSync(bin) && fs.statSync(bin).size >= need;
    })
    .sort(
      (a, b) => Number(b.manifest.epoch) - Number(a.manifest.epoch) || String(b.manifest.savedAt).localeCompare(String(a.manifest.savedAt)),
    );
  if (found.length) return { dir: found[0].dir, manifest: found[0].manifest, weightsPath: path.join(found[0].dir, LEGACY_WEIGHTS) };
  const expected = `expected ${manifestPath} as written by saveCheckpoint or train({ checkpoint })`;
  if (fs.existsSync(path.join(abs, MARKER)))
    throw new Error(`${where}: no complete checkpoint there yet: the first save into it was interrupted (${expected})`);
  throw new Error(`${where}: no checkpoint there (${expected})`);
}
