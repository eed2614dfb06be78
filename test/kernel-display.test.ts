// tsdl's display API without a kernel (text fallback) and with a sink installed (what the kernel sees), plus
// the kernel's await instrumentation for interrupts (pure functions, no Jupyter needed).
import assert from "node:assert/strict";
import { backend, bundle, display, DisplayHandle, JUPYTER_DISPLAY, tf } from "tsdl";
import { clearOutput, inKernel, resultBundle, SINK_KEY, toBundle, type DisplaySink, type MimeBundle } from "tsdl/dist/display";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { instrumentAwaits, interruptState } = require("../kernel/interrupt.js") as {
  instrumentAwaits(js: string): { js: string; topLevelAwait: boolean };
  interruptState: { epoch: number; interrupt(): void };
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { toWire } = require("../kernel/bundle.js") as { toWire(b: MimeBundle): MimeBundle };

type Sent = { kind: "display" | "update" | "clear"; bundle?: MimeBundle; id?: string; wait?: boolean };

function withSink<T>(fn: (sent: Sent[]) => T): T {
  const sent: Sent[] = [];
  const sink: DisplaySink = {
    display: (b, _m, id) => void sent.push({ kind: "display", bundle: b, id }),
    update: (b, _m, id) => void sent.push({ kind: "update", bundle: b, id }),
    clear: (wait) => void sent.push({ kind: "clear", wait }),
  };
  const g = globalThis as unknown as Record<symbol, unknown>;
  g[SINK_KEY] = sink;
  try {
    return fn(sent);
  } finally {
    delete g[SINK_KEY];
  }
}

/** What fn prints, as a pipe (not a TTY) would receive it. */
function captureStdout(fn: () => void): string {
  const orig = process.stdout.write.bind(process.stdout);
  const tty = process.stdout.isTTY;
  process.stdout.isTTY = false;
  let out = "";
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString();
    return true;
  }) as typeof process.stdout.write;
  try {
    fn();
  } finally {
    process.stdout.write = orig;
    process.stdout.isTTY = tty;
  }
  return out;
}

class Chart {
  [JUPYTER_DISPLAY](): MimeBundle {
    return { "image/svg+xml": "<svg/>", "text/plain": "Chart(3 points)" };
  }
}

describe("display: outside a kernel", () => {
  it("is not in a kernel and prints the text form instead of failing", () => {
    assert.equal(inKernel(), false);
    const out = captureStdout(() => {
      display("hello");
      display(new Chart());
      display(bundle({ "text/html": "<b>x</b>" }));
    });
    assert.equal(out, "hello\nChart(3 points)\n[text/html]\n");
  });

  it("update() prints the new text, a line each when stdout is not a TTY", () => {
    const out = captureStdout(() => {
      const h = display("0%");
      assert.ok(h instanceof DisplayHandle);
      h.update("50%");
      h.update("100%");
    });
    assert.equal(out, "0%\n50%\n100%\n");
  });

  it("clearOutput() does nothing", () => {
    assert.equal(
      captureStdout(() => clearOutput()),
      "",
    );
  });
});

describe("display: with the kernel's sink", () => {
  it("sends the whole bundle of a Displayable in one display, with a fresh display_id", () => {
    withSink((sent) => {
      const h1 = display(new Chart());
      const h2 = display("text");
      assert.deepEqual(sent[0], {
        kind: "display",
        bundle: { "image/svg+xml": "<svg/>", "text/plain": "Chart(3 points)" },
        id: h1.displayId,
      });
      assert.deepEqual(sent[1], { kind: "display", bundle: { "text/plain": "text" }, id: h2.displayId });
      assert.notEqual(h1.displayId, h2.displayId);
    });
  });

  it("update() redraws the same display_id", () => {
    withSink((sent) => {
      const h = display(bundle({ "text/plain": "epoch 1", "text/html": "<i>epoch 1</i>" }));
      h.update(bundle({ "text/plain": "epoch 2", "text/html": "<i>epoch 2</i>" }));
      assert.equal(sent.length, 2);
      assert.deepEqual(sent[1], { kind: "update", bundle: { "text/plain": "epoch 2", "text/html": "<i>epoch 2</i>" }, id: h.displayId });
    });
  });

  it("clearOutput({ wait }) reaches the sink", () => {
    withSink((sent) => {
      clearOutput({ wait: true });
      clearOutput();
      assert.deepEqual(sent, [
        { kind: "clear", wait: true },
        { kind: "clear", wait: false },
      ]);
    });
  });
});

describe("display: bundles", () => {
  before(async () => {
    await backend.init("cpu", { verbose: false });
  });

  it("a cell result quotes strings (as a REPL does); display() shows them raw", () => {
    assert.deepEqual(resultBundle("ab"), { "text/plain": "'ab'" });
    assert.deepEqual(toBundle("ab"), { "text/plain": "ab" });
    assert.deepEqual(resultBundle([1, 2]), { "text/plain": "[ 1, 2 ]" });
  });

  it("shows a tensor as tfjs prints it, and a disposed one without reading it", () => {
    const t = tf.tensor([1, 2, 3]);
    assert.deepEqual(resultBundle(t), { "text/plain": t.toString() });
    assert.match(String(resultBundle(t)["text/plain"]), /\[1, 2, 3\]/);
    t.dispose();
    assert.deepEqual(resultBundle(t), { "text/plain": "Tensor (disposed) shape=[3] dtype=float32" });
  });

  it("rejects bundles that are not { mimeType: data } with the bad value named", () => {
    assert.throws(() => bundle({}), /non-empty \{ mimeType: data \} object.*got \{\}/);
    assert.throws(() => bundle({ html: "<b>" }), /"html" is not a MIME type/);
    assert.throws(() => bundle(null as unknown as MimeBundle), /got null/);
  });

  it("a Jupyter.display method that returns a non-object is a clear TypeError", () => {
    const bad = { [JUPYTER_DISPLAY]: () => 5 } as unknown as Chart;
    assert.throws(() => toBundle(bad), /must return a MIME bundle object.*got 5/);
  });

  it("on the wire: bytes become base64, JSON types stay objects, other types become strings", () => {
    const wire = toWire({
      "image/png": new Uint8Array([137, 80, 78, 71]),
      "application/vnd.vegalite.v5+json": { mark: "line" },
      "application/json": '{"a":1}',
      "text/plain": 42,
    });
    assert.deepEqual(wire, {
      "image/png": Buffer.from([137, 80, 78, 71]).toString("base64"),
      "application/vnd.vegalite.v5+json": { mark: "line" },
      "application/json": { a: 1 },
      "text/plain": "42",
    });
  });
});

describe("kernel: await instrumentation for interrupts", () => {
  const run = async (js: string): Promise<unknown> => {
    const { js: out } = instrumentAwaits(js);
    // eslint-disable-next-line no-new-func
    return new Function(`return (async () => { ${out} })();`)();
  };

  it("leaves code without await untouched and reports top-level awaits tslab misses", () => {
    const plain = instrumentAwaits("x = 1;");
    assert.deepEqual([plain.js, plain.topLevelAwait], ["x = 1;", false]);
    assert.equal(instrumentAwaits("y = (await p).z;").topLevelAwait, true);
    assert.equal(instrumentAwaits("f = async () => { await p; };").topLevelAwait, false);
  });

  it("keeps results and line numbers of instrumented code", async () => {
    const src =
      "const a = await Promise.resolve(2);\nconst f = async (x) => await x * 3;\nreturn [a, await f(a), await (await Promise.resolve(Promise.resolve(1)))];";
    const { js } = instrumentAwaits(src);
    assert.equal(js.split("\n").length, src.split("\n").length);
    assert.deepEqual(await run(src), [2, 6, 1]);
  });

  it("an interrupt stops async functions started before it at their next await, not later ones", async () => {
    const g = globalThis as unknown as { ticks: number };
    g.ticks = 0;
    const loop = run("while (true) { await new Promise((r) => setTimeout(r, 1)); globalThis.ticks++; }");
    await new Promise((r) => setTimeout(r, 30));
    interruptState.interrupt();
    await assert.rejects(loop, { name: "Interrupted" });
    const stopped = g.ticks;
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(g.ticks, stopped);
    assert.ok(stopped > 0);
    assert.equal(await run("return await Promise.resolve('after');"), "after");
  });
});
