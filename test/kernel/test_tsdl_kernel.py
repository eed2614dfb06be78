"""The tsdl kernel against Debian's jupyter_kernel_test (the standard protocol conformance tests), plus the
protocol behaviour tslab lacks: error contents, execute_input, MIME bundles, live displays, abort rules,
interrupts, history.

Run from the repo (the mocha test test/kernel.test.ts does this with the project-local Jupyter dirs):
    cd test/kernel && JUPYTER_PATH=../../kernel/share /usr/bin/python3 -m unittest -v test_tsdl_kernel
"""
import json
import sys
import os
import queue
import time
import unittest

import jupyter_kernel_test
from jupyter_client.manager import start_new_kernel
from jupyter_client.utils import run_sync
from jupyter_kernel_test.msgspec_v5 import validate_message

TIMEOUT = 30


class TsdlKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = "tsdl"
    language_name = "typescript"
    file_extension = ".ts"

    code_hello_world = 'console.log("hello, world")'
    code_stderr = 'console.error("oops")'

    # Completion and inspection come from tslab's TypeScript language service.
    completion_samples = [{"text": "Math.ab", "matches": {"abs"}}, {"text": "JSON.str", "matches": {"stringify"}}]
    code_inspect_sample = "Math.max"

    complete_code_samples = ["1 + 1", "const a = [1, 2];", "function f() { return 1; }"]
    incomplete_code_samples = ["function f() {", "const o = {", "for (let i = 0; i < 3; i++) {"]

    code_generate_error = 'throw new RangeError("out of range")'
    code_execute_result = [
        {"code": "6 * 7", "result": "42"},
        {"code": '"a" + "b"', "result": "'ab'"},
        {"code": "[1, 2, 3].map((x) => x * 2)", "result": "[ 2, 4, 6 ]"},
        {
            "code": 'import { bundle as mkBundle } from "tsdl";\nmkBundle({ "text/html": "<i>x</i>", "text/plain": "x" })',
            "mime": "text/html",
            "result": "<i>x</i>",
        },
    ]
    code_display_data = [
        {
            "code": 'import { display as show, bundle as b2 } from "tsdl";\nshow(b2({ "text/html": "<b>hi</b>", "text/plain": "hi" }));',
            "mime": "text/html",
        },
        {"code": 'import * as tslab from "tslab";\ntslab.display.markdown("# title");', "mime": "text/markdown"},
    ]
    code_clear_output = 'import { clearOutput as clr } from "tsdl";\nconsole.log("x");\nclr({ wait: true });'

    code_history_pattern = "6 *"
    supported_history_operations = ("tail", "range", "search")

    # --- beyond the standard suite -------------------------------------------------------------

    def run_cell(self, code, **kw):
        self.flush_channels()
        return self.execute_helper(code, timeout=TIMEOUT, **kw)

    def test_kernel_info_status_and_banner(self):
        self.flush_channels()
        msg_id = self.kc.kernel_info()
        reply = self.kc.get_shell_msg(timeout=TIMEOUT)
        validate_message(reply, "kernel_info_reply", msg_id)
        content = reply["content"]
        self.assertEqual(content["status"], "ok")
        self.assertEqual(content["implementation"], "tsdl")
        self.assertIn("TypeScript", content["banner"])

    def test_error_content_names_the_error(self):
        reply, out = self.run_cell('function inner() { throw new RangeError("out of range"); }\ninner();')
        err = [m for m in out if m["msg_type"] == "error"][0]["content"]
        self.assertEqual(err["ename"], "RangeError")
        self.assertEqual(err["evalue"], "out of range")
        self.assertEqual(err["traceback"][0], "RangeError: out of range")
        self.assertTrue(any("inner" in line for line in err["traceback"][1:]), err["traceback"])
        self.assertEqual(reply["content"]["ename"], "RangeError")
        # Nothing from the kernel's own machinery in the traceback.
        self.assertFalse(any("tslab" in line or "kernel/" in line for line in err["traceback"]), err["traceback"])
        # No stderr copy of the error either.
        self.assertEqual([m for m in out if m["msg_type"] == "stream"], [])

    def test_compile_error_has_code_and_cell_position(self):
        reply, out = self.run_cell("const ok = 1;\nconst n: number = 'text';")
        self.assertEqual(reply["content"]["status"], "error")
        err = [m for m in out if m["msg_type"] == "error"][0]["content"]
        self.assertEqual(err["ename"], "TSError")
        self.assertIn("TS2322", err["evalue"])
        self.assertIn("2:7", err["evalue"])
        self.assertIn("    const n: number = 'text';", err["traceback"])
        self.assertIn("          ^", err["traceback"])

    def test_runtime_error_points_at_the_typescript_line(self):
        # Frames give the cell's TypeScript line:col and show that line, not tslab's JavaScript
        # (`new exports.o9.SGD(exports.net9, ...)`, where type-only lines are gone and earlier cells' names rewritten).
        self.run_cell('import { optim as o9, tf as t9 } from "tsdl";\nconst net9 = t9.sequential({ layers: [t9.layers.dense({ units: 2, inputShape: [3] })] });')
        code = (
            "type Rate = number;\n"
            "interface Options { lr: Rate }\n"
            "const opts9: Options = { lr: -1 };\n"
            "const make = (o: Options) =>\n"
            "  new o9.SGD(net9, o);\n"
            "await Promise.resolve();\n"
            "make(opts9);"
        )
        reply, out = self.run_cell(code)
        self.assertEqual(reply["content"]["status"], "error")
        tb = [m for m in out if m["msg_type"] == "error"][0]["content"]["traceback"]
        cell = [line for line in tb if "In[" in line or line.startswith("        ")]
        self.assertRegex(cell[0], r"^    at make \(In\[\d+\]:5:3\)$")
        self.assertEqual(cell[1], "        new o9.SGD(net9, o);")
        self.assertRegex(cell[2], r"^    at In\[\d+\]:7:1$")
        self.assertEqual(cell[3], "        make(opts9);")
        self.assertFalse([line for line in tb if "exports." in line], tb)

    def test_thrown_non_error_value(self):
        _, out = self.run_cell('throw "plain string"')
        err = [m for m in out if m["msg_type"] == "error"][0]["content"]
        self.assertEqual(err["evalue"], "plain string")

    def test_execute_input_carries_the_count(self):
        self.flush_channels()
        code = "1 + 2"
        msg_id = self.kc.execute(code)
        reply = self.get_non_kernel_info_reply(timeout=TIMEOUT)
        count = reply["content"]["execution_count"]
        msgs = []
        while True:
            msg = run_sync(self.kc.iopub_channel.get_msg)(timeout=TIMEOUT)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            msgs.append(msg)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        inputs = [m for m in msgs if m["msg_type"] == "execute_input"]
        self.assertEqual(len(inputs), 1)
        self.assertEqual(inputs[0]["content"]["execution_count"], count)
        results = [m for m in msgs if m["msg_type"] == "execute_result"]
        self.assertEqual(results[0]["content"]["execution_count"], count)
        # The second cell counts one more.
        reply2, _ = self.run_cell("2")
        self.assertEqual(reply2["content"]["execution_count"], count + 1)

    def test_no_result_for_statements_or_undefined(self):
        _, out = self.run_cell("let unused = 1;")
        self.assertEqual([m for m in out if m["msg_type"] == "execute_result"], [])
        _, out = self.run_cell("undefined")
        self.assertEqual([m for m in out if m["msg_type"] == "execute_result"], [])

    def test_display_sends_the_whole_bundle_in_one_message(self):
        _, out = self.run_cell(
            'import { display as d3, bundle as b3 } from "tsdl";\n'
            'd3(b3({ "image/svg+xml": "<svg/>", "application/json": { a: 1 }, "text/plain": "chart" }));'
        )
        disp = [m for m in out if m["msg_type"] == "display_data"]
        self.assertEqual(len(disp), 1)
        data = disp[0]["content"]["data"]
        self.assertEqual(data, {"image/svg+xml": "<svg/>", "application/json": {"a": 1}, "text/plain": "chart"})

    def test_jupyter_display_symbol_renders_as_result_and_display(self):
        _, out = self.run_cell(
            'import { display as d4 } from "tsdl";\n'
            'class Card { [Symbol.for("Jupyter.display")]() { return { "text/html": "<p>card</p>", "text/plain": "card" }; } }\n'
            "d4(new Card());\nnew Card()"
        )
        kinds = [(m["msg_type"], m["content"].get("data")) for m in out if m["msg_type"] in ("display_data", "execute_result")]
        self.assertEqual(
            kinds,
            [
                ("display_data", {"text/html": "<p>card</p>", "text/plain": "card"}),
                ("execute_result", {"text/html": "<p>card</p>", "text/plain": "card"}),
            ],
        )

    def test_display_handle_updates_in_place(self):
        _, out = self.run_cell(
            'import { display as d5 } from "tsdl";\n'
            'const h = d5("step 0");\n'
            "for (let i = 1; i <= 3; i++) { h.update(`step ${i}`); await new Promise((r) => setTimeout(r, 2)); }"
        )
        disp = [m for m in out if m["msg_type"] == "display_data"]
        upd = [m for m in out if m["msg_type"] == "update_display_data"]
        self.assertEqual(len(disp), 1)
        did = disp[0]["content"]["transient"]["display_id"]
        self.assertTrue(did)
        self.assertEqual([u["content"]["data"]["text/plain"] for u in upd], ["step 1", "step 2", "step 3"])
        self.assertTrue(all(u["content"]["transient"]["display_id"] == did for u in upd))

    def test_bursts_of_output_all_arrive_in_order(self):
        # Thousands of outputs in one tick: zeromq.js refuses sends while a socket is busy (EBUSY) and drops
        # beyond 1000 queued messages; tslab lost them, the cell's idle status included. Printed text all
        # arrives; display updates arrive in order and end with the latest (superseded ones may be skipped).
        reply, out = self.run_cell(
            'import { display as d6 } from "tsdl";\n'
            'const h6 = d6("0");\n'
            'for (let i = 1; i <= 1500; i++) { h6.update(String(i)); console.log(i); }'
        )
        self.assertEqual(reply["content"]["status"], "ok")
        updates = [m["content"]["data"]["text/plain"] for m in out if m["msg_type"] == "update_display_data"]
        self.assertGreaterEqual(len(updates), 1)
        self.assertEqual(updates[-1], "1500")
        self.assertEqual(updates, sorted(updates, key=int))
        printed = "".join(m["content"]["text"] for m in out if m["msg_type"] == "stream")
        self.assertEqual(printed, "".join(f"{i}\n" for i in range(1, 1501)))

    def test_broken_display_method_is_an_error_not_a_crash(self):
        reply, out = self.run_cell('({ [Symbol.for("Jupyter.display")]() { return 5; } })')
        self.assertEqual(reply["content"]["status"], "error")
        err = [m for m in out if m["msg_type"] == "error"][0]["content"]
        self.assertEqual(err["ename"], "TypeError")
        self.assertIn("MIME bundle", err["evalue"])
        reply, _ = self.run_cell("1")
        self.assertEqual(reply["content"]["status"], "ok")

    def _execute_many(self, codes, stop_on_error):
        """Send all requests at once (as "Run All" does), then collect the replies in order."""
        self.flush_channels()
        ids = [self.kc.execute(c, stop_on_error=stop_on_error) for c in codes]
        replies = {}
        while len(replies) < len(ids):
            r = self.get_non_kernel_info_reply(timeout=TIMEOUT)
            replies[r["parent_header"]["msg_id"]] = r["content"]
        return [replies[i] for i in ids]

    def test_queued_cells_run_after_an_error_without_stop_on_error(self):
        r = self._execute_many(['throw new Error("first")', "const after1 = 1;", "after1 + 1"], stop_on_error=False)
        self.assertEqual([x["status"] for x in r], ["error", "ok", "ok"])

    def test_stop_on_error_aborts_only_cells_already_queued(self):
        r = self._execute_many(['throw new Error("first")', "const never = 1;"], stop_on_error=True)
        self.assertEqual([x["status"] for x in r], ["error", "aborted"])
        # A request arriving right after the error runs (tslab aborted everything within 200 ms).
        reply, _ = self.run_cell("40 + 2")
        self.assertEqual(reply["content"]["status"], "ok")

    def test_silent_execution_sends_no_outputs(self):
        reply, out = self.run_cell('console.log("quiet"); 5', silent=True)
        self.assertEqual(reply["content"]["status"], "ok")
        self.assertEqual([m for m in out if m["msg_type"] != "stream"], [])

    def test_backend_selected_by_environment(self):
        # TSDL_BACKEND passes through the kernelspec (the mocha runner sets it to cpu).
        _, out = self.run_cell(
            'import { backend as be } from "tsdl";\n(await be.init(undefined, { verbose: false })).name'
        )
        res = [m for m in out if m["msg_type"] == "execute_result"][0]["content"]["data"]["text/plain"]
        self.assertEqual(res, "'cpu'")

    def test_backend_info_result_is_a_short_table(self):
        # `await backend.init()` as a cell's last line dumped the whole object; its data stays in its properties.
        reply, out = self.run_cell('import { backend as bt } from "tsdl";\nawait bt.init(undefined, { verbose: false })')
        self.assertEqual(reply["content"]["status"], "ok")
        data = [m for m in out if m["msg_type"] == "execute_result"][0]["content"]["data"]
        self.assertEqual(
            data["text/plain"].split("\n"),
            ["BackendInfo", "  name     cpu", "  device   CPU (JavaScript)", "  why      forced by TSDL_BACKEND=cpu", "  versions @tensorflow/tfjs 4.22.0", "  skipped  none"],
        )
        self.assertIn("<th style=\"text-align:left\">device</th><td style=\"text-align:left\">CPU (JavaScript)</td>", data["text/html"])
        _, out = self.run_cell("Object.keys(await bt.init(undefined, { verbose: false })).join()")
        self.assertEqual([m for m in out if m["msg_type"] == "execute_result"][0]["content"]["data"]["text/plain"], "'name,device,why,versions,skipped'")

    def _inspect(self, code, cursor=None):
        self.flush_channels()
        self.kc.inspect(code, len(code) if cursor is None else cursor)
        reply = self.kc.get_shell_msg(timeout=TIMEOUT)
        validate_message(reply, "inspect_reply", reply["parent_header"]["msg_id"])
        return reply["content"]

    def test_inspect_inside_a_call_shows_the_signature(self):
        # Shift+Tab right after `new optim.SGD(` found nothing: tslab answers only on a name.
        self.run_cell('import { optim as o11 } from "tsdl";')
        content = self._inspect("new o11.SGD(")
        self.assertTrue(content["found"])
        text = content["data"]["text/plain"]
        self.assertTrue(text.startswith("new SGD(params: o11.ParamsInput<o11.SGDHyper>, options?: Partial<o11.SGDHyper>): o11.SGD\n"), text)
        self.assertIn("Stochastic gradient descent, exactly as `torch.optim.SGD`", text)
        self.assertIn("@param params ", text)
        # Further into the arguments, still the call's signature; on a name, tslab's quick info as before.
        self.assertTrue(self._inspect("Math.max(1, ")["data"]["text/plain"].startswith("max(...values: number[]): number"))
        self.assertIn("class SGD", self._inspect("o11.SGD")["data"]["text/plain"])
        self.assertFalse(self._inspect("1 + ")["found"])

    def _start_running(self, code, until_stdout=None, wait=0.3):
        """Send `code` and return once it runs: its execute_input arrived (or, with `until_stdout`, it printed
        that), plus `wait` seconds. An interrupt that reaches the kernel before a cell starts does not stop it
        (as in ipykernel); one arriving while it compiles stops it before it runs."""
        self.flush_channels()
        msg_id = self.kc.execute(code)
        while True:
            msg = run_sync(self.kc.iopub_channel.get_msg)(timeout=TIMEOUT)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if until_stdout is None and msg["msg_type"] == "execute_input":
                break
            if until_stdout is not None and msg["msg_type"] == "stream" and until_stdout in msg["content"]["text"]:
                break
        time.sleep(wait)
        return msg_id

    def _interrupt_running(self, code, until_stdout=None):
        msg_id = self._start_running(code, until_stdout)
        self.km.interrupt_kernel()
        reply = self.get_non_kernel_info_reply(timeout=TIMEOUT)
        self.assertEqual(reply["parent_header"]["msg_id"], msg_id)
        return reply["content"]

    def test_interrupt_sync_loop_keeps_variables(self):
        self.run_cell("const kept = 41;")
        content = self._interrupt_running("let spins = 0;\nwhile (true) { spins++; }")
        self.assertEqual(content["status"], "error")
        self.assertEqual(content["ename"], "Interrupted")
        _, out = self.run_cell("kept + 1")
        self.assertEqual([m for m in out if m["msg_type"] == "execute_result"][0]["content"]["data"]["text/plain"], "42")

    def test_interrupt_async_loop_stops_it(self):
        content = self._interrupt_running(
            'let ticks = 0;\nconsole.log("looping");\nwhile (true) { await new Promise((r) => setTimeout(r, 5)); ticks++; }',
            until_stdout="looping",
        )
        self.assertEqual(content["status"], "error")
        self.assertEqual(content["ename"], "Interrupted")
        # The loop is stopped, not merely abandoned: ticks no longer grows.
        _, out1 = self.run_cell("ticks")
        time.sleep(0.3)
        _, out2 = self.run_cell("ticks")
        t1 = int([m for m in out1 if m["msg_type"] == "execute_result"][0]["content"]["data"]["text/plain"])
        t2 = int([m for m in out2 if m["msg_type"] == "execute_result"][0]["content"]["data"]["text/plain"])
        self.assertGreater(t1, 0)
        self.assertEqual(t1, t2)
        # Async code started after the interrupt runs normally.
        _, out = self.run_cell("await new Promise((r) => setTimeout(() => r(7), 10))")
        self.assertEqual([m for m in out if m["msg_type"] == "execute_result"][0]["content"]["data"]["text/plain"], "7")

    def test_interrupt_request_message(self):
        # interrupt_mode "message" front ends send interrupt_request on the control channel.
        msg_id = self._start_running("let m = 0;\nwhile (true) { await new Promise((r) => setTimeout(r, 5)); m++; }")
        msg = self.kc.session.msg("interrupt_request", {})
        self.kc.control_channel.send(msg)
        ctl = run_sync(self.kc.control_channel.get_msg)(timeout=TIMEOUT)
        self.assertEqual(ctl["msg_type"], "interrupt_reply")
        self.assertEqual(ctl["content"]["status"], "ok")
        reply = self.get_non_kernel_info_reply(timeout=TIMEOUT)
        self.assertEqual(reply["parent_header"]["msg_id"], msg_id)
        self.assertEqual(reply["content"]["ename"], "Interrupted")

    def _requests_in_order(self, ids):
        """iopub messages of the requests `ids` until each one's idle: (index of its request, type or state)."""
        events = []
        idle = 0
        while idle < len(ids):
            msg = run_sync(self.kc.iopub_channel.get_msg)(timeout=TIMEOUT)
            parent = msg["parent_header"].get("msg_id")
            if parent not in ids:
                continue
            kind = msg["content"]["execution_state"] if msg["msg_type"] == "status" else msg["msg_type"]
            events.append((ids.index(parent), kind))
            idle += kind == "idle"
        return events

    def test_status_brackets_each_queued_request_in_order(self):
        # Three requests sent at once (as Run All does), the first one slow: ipykernel publishes busy, the
        # request's outputs, idle, then the next request's busy. tslab published busy/idle on arrival, so the
        # status read idle while the first cell still ran.
        self.flush_channels()
        codes = [
            'await new Promise((r) => setTimeout(r, 400)); console.log("one")',
            'console.log("two")',
            'console.log("three")',
        ]
        ids = [self.kc.execute(c) for c in codes]
        events = self._requests_in_order(ids)
        want = []
        for i in range(3):
            want += [(i, "busy"), (i, "execute_input"), (i, "stream"), (i, "idle")]
        self.assertEqual(events, want)
        replies = [self.get_non_kernel_info_reply(timeout=TIMEOUT) for _ in ids]
        self.assertEqual([r["parent_header"]["msg_id"] for r in replies], ids)

    def test_other_requests_wait_for_the_running_cell(self):
        # A completion asked while a cell runs is answered after it, inside its own busy/idle (as ipykernel).
        self.flush_channels()
        ids = [self.kc.execute('await new Promise((r) => setTimeout(r, 300)); console.log("done")'), self.kc.complete("Math.ab", 7)]
        events = self._requests_in_order(ids)
        self.assertEqual(events, [(0, "busy"), (0, "execute_input"), (0, "stream"), (0, "idle"), (1, "busy"), (1, "idle")])
        types = []
        while len(types) < 2:
            types.append(self.kc.get_shell_msg(timeout=TIMEOUT)["msg_type"])
        self.assertEqual(types, ["execute_reply", "complete_reply"])

    def test_rejection_outside_a_cell_is_shown_without_kernel_frames(self):
        # Before any backend with its own process handlers loads (this kernel runs on cpu).
        reply, _ = self.run_cell('setTimeout(() => Promise.reject(new TypeError("stray")), 30);\n"scheduled"')
        text = ""
        while "stray" not in text:
            msg = run_sync(self.kc.iopub_channel.get_msg)(timeout=TIMEOUT)
            if msg["msg_type"] == "stream" and msg["parent_header"].get("msg_id") == reply["parent_header"]["msg_id"]:
                text += msg["content"]["text"]
        self.assertTrue(text.startswith("Unhandled promise rejection (the kernel keeps running):\nTypeError: stray\n"), text)
        self.assertNotIn("node:internal", text)
        reply, _ = self.run_cell("1")
        self.assertEqual(reply["content"]["status"], "ok")

    def _debug(self, command, arguments=None, seq=7):
        msg = self.kc.session.msg("debug_request", {"type": "request", "seq": seq, "command": command, "arguments": arguments or {}})
        self.kc.control_channel.send(msg)
        while True:
            reply = run_sync(self.kc.control_channel.get_msg)(timeout=TIMEOUT)
            if reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
                break
        self.assertEqual(reply["msg_type"], "debug_reply")
        content = reply["content"]
        self.assertEqual((content["type"], content["command"], content["request_seq"]), ("response", command, seq))
        return content

    def test_debug_request_gets_a_debug_adapter_reply(self):
        # JupyterLab 4 opens a debugger session only for kernelspecs that advertise one, and without a session
        # it throws "No active debugger session" after every cell; with one, it sends these requests.
        self.assertIs(self.km.kernel_spec.metadata.get("debugger"), True)
        self.flush_channels()
        info = self._debug("debugInfo")
        self.assertTrue(info["success"])
        self.assertIs(info["body"]["isStarted"], False)
        self.assertEqual(info["body"]["hashMethod"], "Murmur2")
        self.assertEqual((info["body"]["breakpoints"], info["body"]["stoppedThreads"]), ([], []))
        modules = self._debug("modules")
        self.assertTrue(modules["success"])
        self.assertEqual(modules["body"]["modules"], [])
        # Starting a debugger is refused, with the reason.
        init = self._debug("initialize", {"clientID": "jupyterlab", "adapterID": "tsdl"})
        self.assertIs(init["success"], False)
        self.assertIn("no debugger", init["message"])
        # The kernel still runs cells.
        reply, _ = self.run_cell("1 + 1")
        self.assertEqual(reply["content"]["status"], "ok")

    # A small classifier and 40 in-memory batches; each batch ends with a 15 ms busy wait in onBatchEnd (a slow
    # step), stamped with its end time, so "stopped within about one batch" can be counted.
    LOOP_SETUP = """
import { backend as bi, tf as ti, optim as oi, nn as ni, train as tri, evaluate as evi, lrFinder as lfi, data as di } from "tsdl";
await bi.init(undefined, { verbose: false });
const mkNet = () => ti.sequential({ layers: [ti.layers.dense({ units: 16, inputShape: [8], activation: "relu" }), ti.layers.dense({ units: 4 })] });
const netI = mkNet();
const w0 = netI.getWeights().map((w) => w.clone());
const batchesI = Array.from({ length: 40 }, (_, i) => ({
  x: ti.randomNormal([32, 8], 0, 1, "float32", i),
  y: ti.tensor1d(Array.from({ length: 32 }, (_, j) => (i * 7 + j) % 4), "int32"),
}));
const critI = new ni.CrossEntropyLoss();
const optI = new oi.SGD(netI, { lr: 0.05, momentum: 0.9 });
const stamps: number[] = [];
const slowStep = () => {
  const t = Date.now();
  while (Date.now() - t < 15) {}
  stamps.push(Date.now());
  if (stamps.length === 3) console.log("looping");
};
const weightsOf = (n: ReturnType<typeof mkNet>) => n.getWeights().map((w) => Array.from(w.dataSync()));
"""

    def _loop_setup(self):
        if not getattr(self, "_loops_ready", False):
            reply, out = self.run_cell(self.LOOP_SETUP)
            self.assertEqual(reply["content"]["status"], "ok", out)
            type(self)._loops_ready = True

    def _value(self, code):
        reply, out = self.run_cell(code)
        self.assertEqual(reply["content"]["status"], "ok", out)
        return [m for m in out if m["msg_type"] == "execute_result"][0]["content"]["data"]["text/plain"]

    def _interrupt_loop(self, code):
        """Run `code`, interrupt it once it has run a few batches, return (reply content, batches after the interrupt)."""
        self.run_cell("stamps.length = 0;")
        msg_id = self._start_running(code, until_stdout="looping", wait=0.1)
        sent = time.time() * 1000
        self.km.interrupt_kernel()
        reply = self.get_non_kernel_info_reply(timeout=TIMEOUT)
        self.assertEqual(reply["parent_header"]["msg_id"], msg_id)
        stamps = json.loads(self._value("JSON.stringify(stamps)").strip("'"))
        self.assertGreater(len(stamps), 3, "the loop had not started")
        after = sum(1 for t in stamps if t > sent)
        if os.environ.get("TSDL_TEST_VERBOSE"):
            print(f"{len(stamps)} batches, {after} after the interrupt", file=sys.stderr)
        return reply["content"], after

    def test_interrupt_stops_train_over_an_in_memory_array(self):
        # Only promise jobs run between in-memory batches, so the SIGINT handler never ran: train() went on for
        # all its epochs, the cell reported ok and the interrupt hit the next cell.
        self._loop_setup()
        content, after = self._interrupt_loop(
            "await tri(netI, batchesI, null, 1000, optI, critI, { verbose: false, progress: false, onBatchEnd: slowStep });"
        )
        self.assertEqual((content["status"], content["ename"]), ("error", "Interrupted"))
        self.assertLessEqual(after, 1, "batches run after the interrupt")
        # Stopped, not left running in the background.
        n1 = self._value("stamps.length")
        time.sleep(0.3)
        self.assertEqual(self._value("stamps.length"), n1)
        # Consistent: the weights and the optimizer are exactly those of replaying as many whole steps from the start.
        same = self._value(
            "const netR = mkNet(); netR.setWeights(w0);\n"
            "const optR = new oi.SGD(netR, { lr: 0.05, momentum: 0.9 });\n"
            "const done = stamps.length;\n"
            "await tri(netR, Array.from({ length: done }, (_, k) => batchesI[k % 40]), null, 1, optR, critI, { verbose: false, progress: false });\n"
            "const again = [batchesI[done % 40]];\n"
            "const before = JSON.stringify(weightsOf(netI)) === JSON.stringify(weightsOf(netR));\n"
            "await tri(netI, again, null, 1, optI, critI, { verbose: false, progress: false });\n"
            "await tri(netR, again, null, 1, optR, critI, { verbose: false, progress: false });\n"
            "[before, JSON.stringify(weightsOf(netI)) === JSON.stringify(weightsOf(netR))]"
        )
        self.assertEqual(same, "[ true, true ]")

    def test_interrupt_stops_evaluate_and_lr_finder(self):
        self._loop_setup()
        many = "Array.from({ length: 100000 }, (_, k) => batchesI[k % 40])"
        content, after = self._interrupt_loop(f"await evi(netI, {many}, (o, y) => {{ slowStep(); return critI(o, y); }});")
        self.assertEqual((content["status"], content["ename"]), ("error", "Interrupted"))
        self.assertLessEqual(after, 1)
        self.run_cell("const beforeLr = JSON.stringify(weightsOf(netI)); const lrBefore = optI.paramGroups[0].lr;")
        content, after = self._interrupt_loop(
            "await lfi(netI, batchesI, optI, { steps: 100000, divergeFactor: 1e9, criterion: (o, y) => { slowStep(); return critI(o, y); } });"
        )
        self.assertEqual((content["status"], content["ename"]), ("error", "Interrupted"))
        self.assertLessEqual(after, 1)
        # lrFinder restores the weights and the lr when it ends, interrupted too.
        self.assertEqual(self._value("[JSON.stringify(weightsOf(netI)) === beforeLr, optI.paramGroups[0].lr === lrBefore]"), "[ true, true ]")

    def test_interrupt_stops_a_data_loader_loop(self):
        self._loop_setup()
        content, after = self._interrupt_loop(
            "const dsI = { length: 1000000, get: (i: number): [di.FloatImage, number] => [new di.FloatImage(new Float32Array(12), 2, 2, 3), i % 4] };\n"
            "for await (const b of new di.DataLoader(dsI, { batchSize: 8 })) { slowStep(); }"
        )
        self.assertEqual((content["status"], content["ename"]), ("error", "Interrupted"))
        self.assertLessEqual(after, 1)
        reply, _ = self.run_cell("1")
        self.assertEqual(reply["content"]["status"], "ok")

    def test_esm_only_package_imports(self):
        # d3-array 3 (a dependency of vega) ships only ES modules; plain tslab fails with ERR_REQUIRE_ESM.
        reply, out = self.run_cell('import { sum } from "d3-array";\nsum([1, 2, 3.5])')
        self.assertEqual(reply["content"]["status"], "ok", out)
        res = [m for m in out if m["msg_type"] == "execute_result"][0]["content"]["data"]["text/plain"]
        self.assertEqual(res, "6.5")

    def test_async_esm_module_explains_how_to_import(self):
        reply, out = self.run_cell('import { late } from "./esm-fixture/tla.mjs";\nlate')
        self.assertEqual(reply["content"]["status"], "error")
        err = [m for m in out if m["msg_type"] == "error"][0]["content"]
        self.assertIn("importESM", err["evalue"])
        _, out = self.run_cell('(await importESM("./esm-fixture/tla.mjs")).late')
        res = [m for m in out if m["msg_type"] == "execute_result"][0]["content"]["data"]["text/plain"]
        self.assertEqual(res, "'after await'")


class TsdlWasmKernelTests(unittest.TestCase):
    """A kernel that has loaded the wasm backend, whose emscripten code registers process handlers that rethrow
    every uncaught exception and unhandled rejection: the kernel process died, with every variable."""

    @classmethod
    def setUpClass(cls):
        cls.km, cls.kc = start_new_kernel(kernel_name="tsdl", env={**os.environ, "TSDL_BACKEND": "wasm"})
        reply, out = cls.run_cell(cls, 'import { backend as bw } from "tsdl";\nconst keepMe = 5;\n(await bw.init(undefined, { verbose: false })).name')
        assert reply["content"]["status"] == "ok", out
        assert results(out) == ["'wasm'"], out

    @classmethod
    def tearDownClass(cls):
        cls.kc.stop_channels()
        cls.km.shutdown_kernel(now=True)

    def run_cell(self, code):
        """Execute `code`; returns its reply and its iopub messages up to its idle status."""
        msg_id = self.kc.execute(code)
        out = []
        while True:
            msg = self.kc.get_iopub_msg(timeout=TIMEOUT)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
            out.append(msg)
        while True:
            reply = self.kc.get_shell_msg(timeout=TIMEOUT)
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply, out

    def stderr_after(self, parent_id, seconds=3.0):
        """stderr text sent on `parent_id`'s cell within `seconds`."""
        text = ""
        end = time.time() + seconds
        while time.time() < end:
            try:
                msg = self.kc.get_iopub_msg(timeout=0.2)
            except queue.Empty:
                if text:
                    break
                continue
            if msg["msg_type"] == "stream" and msg["parent_header"].get("msg_id") == parent_id and msg["content"]["name"] == "stderr":
                text += msg["content"]["text"]
        return text

    def assert_alive_with_variables(self):
        self.assertTrue(self.km.is_alive())
        reply, out = self.run_cell("keepMe + 1")
        self.assertEqual(reply["content"]["status"], "ok")
        self.assertEqual(results(out), ["6"])

    def test_exception_in_a_timer_after_the_cell_is_shown_on_it(self):
        reply, _ = self.run_cell('setTimeout(() => { throw new RangeError("late boom"); }, 50);\n"scheduled"')
        self.assertEqual(reply["content"]["status"], "ok")
        text = self.stderr_after(reply["parent_header"]["msg_id"])
        self.assertIn("Uncaught exception in a callback", text)
        self.assertIn("RangeError: late boom", text)
        self.assertRegex(text, r"at Timeout\._onTimeout \(In\[\d+\]:")
        self.assert_alive_with_variables()

    def test_unhandled_rejection_after_the_cell_is_shown_on_it(self):
        reply, _ = self.run_cell('setTimeout(() => Promise.reject(new TypeError("nobody waits")), 50);\n"scheduled"')
        self.assertEqual(reply["content"]["status"], "ok")
        text = self.stderr_after(reply["parent_header"]["msg_id"])
        self.assertIn("Unhandled promise rejection", text)
        self.assertIn("TypeError: nobody waits", text)
        self.assert_alive_with_variables()

    def test_exception_in_a_timer_while_a_cell_runs_is_shown_on_that_cell(self):
        reply, out = self.run_cell(
            'setTimeout(() => { throw new Error("meanwhile"); }, 20);\nawait new Promise((r) => setTimeout(r, 300));\n"finished"'
        )
        # Like an exception in a Python thread: shown on the running cell, which itself completes.
        self.assertEqual(reply["content"]["status"], "ok")
        err = "".join(m["content"]["text"] for m in out if m["msg_type"] == "stream" and m["content"]["name"] == "stderr")
        self.assertIn("Error: meanwhile", err)
        self.assertEqual(results(out), ["'finished'"])
        self.assert_alive_with_variables()


def results(out):
    return [m["content"]["data"]["text/plain"] for m in out if m["msg_type"] == "execute_result"]


if __name__ == "__main__":
    unittest.main()
