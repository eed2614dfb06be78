// `npm start` (scripts/start.js): Jupyter on 127.0.0.1 with a generated token, serving notebooks/ with the tsdl
// kernel, and a clean stop on SIGINT.
import { strict as assert } from "node:assert";
import { spawn } from "child_process";
import * as http from "http";
import * as path from "path";

const repo = path.resolve(__dirname, "..");

function get(url: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: token ? { Authorization: `token ${token}` } : {}, timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
  });
}

describe("npm start (scripts/start.js)", function () {
  this.timeout(90_000);

  it("serves notebooks/ on 127.0.0.1 behind a fresh token, lists the tsdl kernel, and stops on SIGINT", async () => {
    const child = spawn(process.execPath, [path.join(repo, "scripts", "start.js"), "--port", "0", "--classic"], {
      cwd: repo,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      const url = await new Promise<URL>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no URL printed within 60 s:\n${out}`)), 60_000);
        const check = () => {
          const m = /\[tsdl start\] open: (http:\/\/\S+)/.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(new URL(m[1]));
          }
        };
        child.stdout.on("data", check);
        child.on("exit", () => reject(new Error(`start.js exited early:\n${out}`)));
      });
      assert.equal(url.hostname, "127.0.0.1");
      const token = url.searchParams.get("token") ?? "";
      assert.match(token, /^[0-9a-f]{48}$/);
      const base = `${url.protocol}//${url.host}`;
      // Nothing without the token.
      assert.equal((await get(`${base}/api/contents`)).status, 403);
      const contents = JSON.parse((await get(`${base}/api/contents`, token)).body) as { content: { name: string }[] };
      const names = contents.content.map((c) => c.name);
      assert.ok(names.includes("01-param-groups.ipynb"), `notebooks/ is served; got ${names.join(", ")}`);
      const specs = JSON.parse((await get(`${base}/api/kernelspecs`, token)).body) as { kernelspecs: Record<string, unknown> };
      assert.ok("tsdl" in specs.kernelspecs, `the tsdl kernel is listed; got ${Object.keys(specs.kernelspecs).join(", ")}`);
      child.kill("SIGINT");
      const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r("timeout"), 20_000))]);
      assert.equal(code, 0, `start.js exit after SIGINT:\n${out}`);
      assert.match(out, /\[tsdl start\] stopped/);
      await assert.rejects(get(`${base}/api/status`, token), "the server is gone");
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
});
