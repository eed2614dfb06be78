// `npm start` (scripts/start.js): JupyterLab (from the set-up's venv) on 127.0.0.1 with a generated token, serving
// notebooks/ with the tsdl kernel; `--classic` or no JupyterLab: the classic Notebook; a clean stop on SIGINT.
import { strict as assert } from "node:assert";
import { spawn } from "child_process";
import * as http from "http";
import * as path from "path";

const repo = path.resolve(__dirname, "..");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { JUPYTERLAB_VERSION } = require("../scripts/env.js") as { JUPYTERLAB_VERSION: string };

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

/**
 * Runs start.js with `args`, waits for the URL it prints, hands it to `check`, then stops it with SIGINT and
 * checks it exits 0 with the server gone. Returns everything it printed.
 */
async function withStart(
  args: string[],
  env: NodeJS.ProcessEnv,
  check: (url: URL, token: string, base: string) => Promise<void>,
): Promise<string> {
  const child = spawn(process.execPath, [path.join(repo, "scripts", "start.js"), "--port", "0", ...args], {
    cwd: repo,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  try {
    const url = await new Promise<URL>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no URL printed within 90 s:\n${out}`)), 90_000);
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
    await check(url, token, base);
    child.kill("SIGINT");
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r("timeout"), 20_000))]);
    assert.equal(code, 0, `start.js exit after SIGINT:\n${out}`);
    assert.match(out, /\[tsdl start\] stopped/);
    await assert.rejects(get(`${base}/api/status`, token), "the server is gone");
    return out;
  } finally {
    // On a failure: SIGINT first, so start.js stops the Jupyter it started (its own process group) before it goes.
    if (child.exitCode === null) {
      child.kill("SIGINT");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  }
}

describe("npm start (scripts/start.js)", function () {
  this.timeout(150_000);

  it(`opens JupyterLab ${JUPYTERLAB_VERSION} from the repo's venv by default`, async () => {
    const out = await withStart([], {}, async (url, token, base) => {
      assert.equal(url.pathname, "/lab");
      const lab = await get(`${base}/lab`, token);
      assert.equal(lab.status, 200);
      assert.match(lab.body, /<title>JupyterLab<\/title>/);
      const version = /"appVersion": "([^"]+)"/.exec(lab.body)?.[1];
      assert.equal(version, JUPYTERLAB_VERSION);
    });
    assert.match(out, new RegExp(`\\[tsdl start\\] JupyterLab ${JUPYTERLAB_VERSION.replace(/\./g, "\\.")} serving notebooks/`));
  });

  it("--classic serves the classic Notebook", async () => {
    const out = await withStart(["--classic"], {}, async (url, token, base) => {
      assert.equal(url.pathname, "/tree");
      const tree = await get(`${base}/tree`, token);
      assert.equal(tree.status, 200);
      assert.doesNotMatch(tree.body, /JupyterLab/);
    });
    assert.match(out, /\[tsdl start\] Jupyter Notebook \S+ serving notebooks\//);
    assert.doesNotMatch(out, /JupyterLab is not installed/);
  });

  it("without JupyterLab, says so in one line and serves the classic Notebook", async () => {
    const out = await withStart([], { TSDL_VENV: path.join(repo, "artifacts", "no-such-venv") }, async (url) => {
      assert.equal(url.pathname, "/tree");
    });
    const said = out.split("\n").filter((l) => /JupyterLab is not installed/.test(l));
    assert.equal(said.length, 1, out);
    assert.match(
      said[0],
      /no artifacts\/no-such-venv\/bin\/python\), so this is the classic Notebook; `npm run setup` installs JupyterLab/,
    );
  });
});
