// Download-verify-extract for dataset archives: streamed into a temporary file with its md5 computed on the
// way, renamed into place only when the checksum matches, extracted (npm `tar`, no shelling out) into a
// temporary folder that is renamed into place only when extraction succeeded. A failure leaves nothing behind.
import * as crypto from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as https from "https";
import * as path from "path";
import { pipeline } from "stream/promises";
import { Transform as StreamTransform } from "stream";
import * as tar from "tar";

export interface DownloadOptions {
  /** Expected md5 (hex) of the archive; a mismatch is an error and nothing is kept. */
  md5?: string;
  /** Progress lines (default: console.error). Pass () => {} for silence. */
  log?: (line: string) => void;
}

/** md5 (hex) of a file. */
export function md5File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = crypto.createHash("md5");
    fs.createReadStream(file)
      .on("data", (c) => h.update(c))
      .on("error", reject)
      .on("end", () => resolve(h.digest("hex")));
  });
}

function request(url: string, redirects = 5): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      reject(new Error(`tsdl.data: not a valid URL: ${JSON.stringify(url)}`));
      return;
    }
    const mod = u.protocol === "https:" ? https : u.protocol === "http:" ? http : undefined;
    if (!mod) {
      reject(new Error(`tsdl.data: unsupported URL scheme ${u.protocol} in ${url} (accepted: http:, https:)`));
      return;
    }
    const req = mod.get(u, { timeout: 60_000 }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        if (redirects <= 0) reject(new Error(`tsdl.data: too many redirects fetching ${url}`));
        else request(new URL(res.headers.location, u).toString(), redirects - 1).then(resolve, reject);
        return;
      }
      if (status !== 200) {
        res.resume();
        reject(new Error(`tsdl.data: GET ${url} answered HTTP ${status} ${res.statusMessage ?? ""}`.trim()));
        return;
      }
      resolve(res);
    });
    req.on("timeout", () => req.destroy(new Error(`tsdl.data: GET ${url} timed out`)));
    req.on("error", (e) => reject(new Error(`tsdl.data: could not download ${url}: ${e.message}`)));
  });
}

function rmQuiet(p: string): void {
  try {
    fs.rmSync(p, { recursive: true, force: true });
  } catch {
    /* best effort */
  }
}

/**
 * Fetches `url` into `dest` (created only if complete and, when `md5` is given, matching).
 * Resolves with the md5 of what was received.
 */
export async function downloadFile(url: string, dest: string, opts: DownloadOptions = {}): Promise<string> {
  const log = opts.log ?? ((l: string) => console.error(l));
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  const tmp = `${dest}.${process.pid}.${Date.now().toString(36)}.part`;
  try {
    const res = await request(url);
    const total = Number(res.headers["content-length"] ?? 0);
    const hash = crypto.createHash("md5");
    let got = 0;
    let nextReport = 0.1;
    const tap = new StreamTransform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        got += chunk.length;
        if (total > 0 && got / total >= nextReport) {
          log(`tsdl.data: downloading ${path.basename(dest)}: ${Math.round((100 * got) / total)}% of ${(total / 1e6).toFixed(1)} MB`);
          nextReport += 0.1;
        }
        cb(null, chunk);
      },
    });
    await pipeline(res, tap, fs.createWriteStream(tmp));
    if (total > 0 && got !== total) throw new Error(`tsdl.data: download of ${url} stopped at ${got} of ${total} bytes`);
    const digest = hash.digest("hex");
    if (opts.md5 && digest !== opts.md5.toLowerCase()) {
      throw new Error(
        `tsdl.data: checksum mismatch for ${url}: md5 ${digest}, expected ${opts.md5}. The file was deleted; nothing was kept. ` +
          `Retry, or download it yourself and check it with md5sum.`,
      );
    }
    fs.renameSync(tmp, dest);
    return digest;
  } finally {
    rmQuiet(tmp);
  }
}

/**
 * Extracts `archive` (.tar.gz) and moves `folder` from it to `root/folder`, replacing what was there.
 * Extraction goes to a temporary folder under root first, so a broken archive leaves root as it was.
 */
export async function extractFolder(archive: string, root: string, folder: string): Promise<string> {
  const tmp = fs.mkdtempSync(path.join(root, ".extract-"));
  const target = path.join(root, folder);
  try {
    try {
      await tar.x({ file: archive, cwd: tmp, strict: true });
    } catch (e) {
      throw new Error(`tsdl.data: could not extract ${archive}: ${(e as Error).message}`);
    }
    const extracted = path.join(tmp, folder);
    if (!fs.existsSync(extracted) || !fs.statSync(extracted).isDirectory()) {
      throw new Error(`tsdl.data: ${archive} has no folder ${folder}/ (found: ${fs.readdirSync(tmp).join(", ") || "nothing"})`);
    }
    const old = `${target}.old-${process.pid}`;
    if (fs.existsSync(target)) fs.renameSync(target, old);
    fs.renameSync(extracted, target);
    rmQuiet(old);
    return target;
  } finally {
    rmQuiet(tmp);
  }
}
