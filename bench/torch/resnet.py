"""The course ResNet in PyTorch, timed as bench/resnet.ts times tsdl: one JSON line per mode.

usage: python bench/torch/resnet.py [--threads 2] [--batch 64] [--size 96] [--warmup 2] [--steps 5] [--mode train|infer|both]

Runs under any PyTorch (Debian's 1.13 or 2.x in bench/.venv). Train step = forward (BatchNorm in training mode) +
cross-entropy + backward + SGD(lr 0.01, weight_decay 1e-4) on random data; infer = forward without gradients.
Reports the median wall ms per step, images/s, and the median CPU ms per image (user + system time of the whole
process, all threads), which other processes' load disturbs less than wall time.
"""
import argparse
import json
import statistics
import time

import torch
from torch import nn

from course_resnet import CourseResNet


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--mode", choices=["train", "infer", "both"], default="both")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = CourseResNet()
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, weight_decay=1e-4)
    x = torch.randn(args.batch, 3, args.size, args.size)
    y = torch.randint(0, 10, (args.batch,))

    def train_step():
        opt.zero_grad()
        loss_fn(net(x), y).backward()
        opt.step()

    def infer_step():
        with torch.no_grad():
            net(x)

    for mode, step in (("train", train_step), ("infer", infer_step)):
        if args.mode not in (mode, "both"):
            continue
        net.train(mode == "train")
        wall, cpu = [], []
        for i in range(args.warmup + args.steps):
            w0, c0 = time.perf_counter(), time.process_time()
            step()
            if i >= args.warmup:
                wall.append(time.perf_counter() - w0)
                cpu.append(time.process_time() - c0)
        ms = statistics.median(wall) * 1e3
        print(json.dumps({
            "framework": "pytorch", "version": torch.__version__, "threads": torch.get_num_threads(), "mode": mode,
            "batch": args.batch, "size": args.size, "ms_per_step": round(ms, 1),
            "images_per_s": round(args.batch / ms * 1e3, 2),
            "cpu_ms_per_image": round(statistics.median(cpu) * 1e3 / args.batch, 2),
        }), flush=True)


if __name__ == "__main__":
    main()
