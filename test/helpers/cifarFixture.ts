// Test fixtures for the CIFAR-10 download path: a synthetic archive in the official layout and a server on
// 127.0.0.1 that serves it (in this process, or in a child process for code that blocks this one).
import { spawn } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import * as tar from "tar";
import { data } from "tsdl";

export interface SyntheticArchive {
  /** The .tar.gz (cifar-10-batches-bin/ inside, as the official archive). */
  archive: string;
  md5: string;
  /** The folder it was made from (to compare with what the loader reads). */
  source: string;
  /** Remove everything this fixture wrote. */
  cleanup(): void;
}

/** A temporary directory under os.tmpdir(), removed by the returned cleanup. */
export function tempDir(prefix = "tsdl-data-"): { dir: string; cleanup(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Writes a synthetic CIFAR-10 and packs it as cifar-10-binary.tar.gz. */
export async function makeSyntheticArchive(opts: { train?: number; test?: number; seed?: number } = {}): Promise<SyntheticArchive> {
  const t = tempDir("tsdl-cifar-src-");
  const src = path.join(t.dir, "src");
  data.writeSyntheticCifar10(src, { train: opts.train ?? 25, test: opts.test ?? 10, seed: opts.seed ?? 1 });
  const archive = path.join(t.dir, "cifar-10-binary.tar.gz");
  await tar.c({ gzip: true, file: archive, cwd: src, portable: true }, ["cifar-10-batches-bin"]);
  const md5 = crypto.createHash("md5").update(fs.readFileSync(archive)).digest("hex");
  return { archive, md5, source: path.join(src, "cifar-10-batches-bin"), cleanup: t.cleanup };
}

export interface FileServer {
  /** URL of the file: http://127.0.0.1:<port>/cifar-10-binary.tar.gz */
  url: string;
  /** GET requests served so far. */
  requests(): number;
  close(): Promise<void>;
}

/** Serves `file` at /<basename> on 127.0.0.1 (404 elsewhere), in this process. */
export function serveFile(file: string): Promise<FileServer> {
  let count = 0;
  const name = `/${path.basename(file)}`;
  const server = http.createServer((req, res) => {
    if (req.url !== name) {
      res.writeHead(404).end("not found");
      return;
    }
    count++;
    const body = fs.readFileSync(file);
    res.writeHead(200, { "content-type": "application/gzip", "content-length": body.length }).end(body);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as import("net").AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}${name}`,
        requests: () => count,
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    });
  });
}

/**
 * The same server in a child Node process: needed when the code under test blocks this process's event loop
 * (the synchronous `new CIFAR10(root, { download: true })`). requests() is not tracked there (returns -1).
 */
export function serveFileInChild(file: string): Promise<FileServer> {
  const script = `
    const fs = require("fs"), http = require("http");
    const file = ${JSON.stringify(file)}, name = "/" + require("path").basename(file);
    const s = http.createServer((req, res) => {
      if (req.url !== name) { res.writeHead(404).end("not found"); return; }
      const body = fs.readFileSync(file);
      res.writeHead(200, { "content-length": body.length }).end(body);
    });
    s.listen(0, "127.0.0.1", () => process.stdout.write(String(s.address().port) + "\\n"));
    process.stdin.on("end", () => s.close(() => process.exit(0))); process.stdin.resume();`;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["pipe", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.stdout.once("data", (chunk: Buffer) => {
      const port = Number(String(chunk).trim());
      resolve({
        url: `http://127.0.0.1:${port}/${path.basename(file)}`,
        requests: () => -1,
        close: () =>
          new Promise<void>((r) => {
            child.once("exit", () => r());
            child.stdin.end();
          }),
      });
    });
  });
}

/** Everything in a directory tree, relative paths, sorted (to show what a failed download left behind). */
export function listTree(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      out.push(path.relative(dir, p) + (e.isDirectory() ? "/" : ""));
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}
