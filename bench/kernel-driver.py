"""Time Jupyter kernels through jupyter_client, as a front end sees them. Used by bench/kernel.ts.

    /usr/bin/python3 bench/kernel-driver.py --kernels tsdl,tslab-plain --starts 3 --cells 20

Prints one JSON line per measurement:
  {"kernel": k, "what": "startup", "seconds": s}               start_kernel -> kernel_info_reply
  {"kernel": k, "what": "cell:<name>", "seconds": [..]}         execute_request -> idle, per cell
Kernels are interleaved (A B A B ...) so that load from other processes hits both alike.
"""
import argparse
import json
import time

from jupyter_client.manager import KernelManager

CELLS = {
    # The converter and executor on the smallest cell: what every cell pays.
    "expr": lambda i: f"const v{i} = {i};\nv{i} * 2",
    # Top-level await (the tsdl kernel instruments awaits for interrupts).
    "await": lambda i: f"const a{i} = await Promise.resolve({i});\na{i} + 1",
    # Printing 10 lines in one write. (Plain tslab sends a message per write; with a write per line it
    # sooner or later loses the cell's idle status, and the bench would hang on it.)
    "print": lambda i: f'console.log(Array.from({{ length: 10 }}, (_, j) => `line ${{j}} {i}`).join("\\n"));',
}


def wait_idle(kc, msg_id, timeout=120, label=""):
    while True:
        try:
            msg = kc.get_iopub_msg(timeout=timeout)
        except Exception:
            raise RuntimeError(f"no idle status within {timeout} s for {label}")
        if (
            msg["parent_header"].get("msg_id") == msg_id
            and msg["msg_type"] == "status"
            and msg["content"]["execution_state"] == "idle"
        ):
            return


def start(name):
    t0 = time.perf_counter()
    km = KernelManager(kernel_name=name)
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=120)
    return km, kc, time.perf_counter() - t0


def emit(row):
    print(json.dumps(row), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernels", default="tsdl,tslab-plain")
    ap.add_argument("--starts", type=int, default=3)
    ap.add_argument("--cells", type=int, default=20)
    args = ap.parse_args()
    kernels = args.kernels.split(",")

    for _ in range(args.starts):
        for name in kernels:
            km, kc, secs = start(name)
            emit({"kernel": name, "what": "startup", "seconds": secs})
            kc.stop_channels()
            km.shutdown_kernel(now=True)

    sessions = {name: start(name)[:2] for name in kernels}
    try:
        for name, (km, kc) in sessions.items():
            for i in range(3):  # warm-up: first compiles are slower
                wait_idle(kc, kc.execute(CELLS["expr"](1000 + i)))
        for cell, make in CELLS.items():
            times = {name: [] for name in kernels}
            for i in range(args.cells):
                for name, (km, kc) in sessions.items():
                    t0 = time.perf_counter()
                    code = make(i if cell != "expr" else 2000 + i)
                    wait_idle(kc, kc.execute(code), label=f"{name}: {code!r}")
                    times[name].append(time.perf_counter() - t0)
            for name in kernels:
                emit({"kernel": name, "what": f"cell:{cell}", "seconds": times[name]})
    finally:
        for km, kc in sessions.values():
            kc.stop_channels()
            km.shutdown_kernel(now=True)


if __name__ == "__main__":
    main()
