"""The PyTorch side of the GPU proof: the course ResNet (written here, as tsdl's models.resnet builds it), its
training speed on CUDA, and a few training steps from the same deterministic weights and images as tsdl's.

usage: python3 resnet_torch.py params
       python3 resnet_torch.py speed --batches 64,128,256 [--size 96] [--seconds 6] [--tf32]
       python3 resnet_torch.py steps --batch 8 --size 96 --steps 3 [--lr 1e-3]
Prints one JSON line per result. fp32 means fp32: TF32 tensor cores are off unless --tf32 (PyTorch's default for
convolutions is TF32 on; cuDNN still picks its fastest fp32 algorithms, benchmark=True).
"""
import argparse
import json
import math
import time

import os
import sys

import torch
import torch.nn.functional as F

# course_resnet.py lies beside this file in the GPU proof's folder, in bench/torch/ in the repo.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "torch"))
from course_resnet import CourseResNet  # noqa: E402


def pattern(name, shape, kind, fan_in):
    """test/helpers/torchPattern.ts in Python: a minstd stream seeded by the name, u in [-1, 1), scaled."""
    n = math.prod(shape)
    state = sum(ord(c) for c in name) % 97 + 1
    u = [0.0] * n
    for i in range(n):
        state = (state * 48271) % 2147483647
        u[i] = state / 2147483647 * 2 - 1
    s = torch.tensor(u, dtype=torch.float64)
    if kind == "weight" and fan_in:
        v = 1.7 / math.sqrt(fan_in) * s
    elif kind == "bnweight":
        v = 1.0 + 0.1 * s
    elif kind == "running_var":
        v = 1.0 + 0.5 * s.abs()
    else:
        v = 0.1 * s
    return v.reshape(shape).to(torch.float32)


def set_pattern_weights(net):
    for key, t in net.state_dict().items():
        if key.endswith("num_batches_tracked"):
            continue
        leaf = key.rsplit(".", 1)[1]
        kind = {"weight": "bnweight" if ".bn" in key else "weight", "bias": "bias", "running_mean": "running_mean", "running_var": "running_var"}[leaf]
        fan_in = math.prod(t.shape[1:]) if kind == "weight" else 0
        with torch.no_grad():
            t.copy_(pattern(key, list(t.shape), kind, fan_in))


def emit(**kv):
    print(json.dumps(kv), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["params", "speed", "steps"])
    ap.add_argument("--batches", default="64,128,256")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--tf32", action="store_true")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args()
    torch.backends.cudnn.allow_tf32 = a.tf32
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    torch.backends.cudnn.benchmark = True
    dev = torch.device(a.device)
    name = torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu"

    if a.mode == "params":
        net = CourseResNet()
        emit(what="params", params=sum(p.numel() for p in net.parameters() if p.requires_grad), torch=torch.__version__, device=name)
        return

    if a.mode == "steps":
        # tsdl's check runs the same: pattern weights; step k's images are pattern "input<k>" x10 with labels
        # (i + k) % 10; SGD(momentum 0.9, weight decay 1e-4).
        net = CourseResNet().to(dev)
        set_pattern_weights(net)
        opt = torch.optim.SGD(net.parameters(), lr=a.lr, momentum=0.9, weight_decay=1e-4)
        net.train()
        losses = []
        for k in range(a.steps):
            x = (pattern(f"input{k}", [a.batch, 3, a.size, a.size], "bias", 0) * 10).to(dev)
            y = torch.tensor([(i + k) % 10 for i in range(a.batch)], device=dev)
            opt.zero_grad()
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        emit(what="steps", losses=losses, batch=a.batch, size=a.size, device=name, tf32=a.tf32)
        return

    torch.manual_seed(0)
    net = CourseResNet().to(dev)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, weight_decay=1e-4)
    for b in [int(v) for v in a.batches.split(",")]:
        x = torch.randn(b, 3, a.size, a.size, device=dev)
        y = torch.randint(0, 10, (b,), device=dev)

        def step():
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(x), y).backward()
            opt.step()

        for _ in range(5):
            step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        n = 0
        while n < 5 or (time.perf_counter() - t0 < a.seconds and n < 500):
            step()
            n += 1
            if n % 10 == 0 and dev.type == "cuda":
                torch.cuda.synchronize()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        ms = (time.perf_counter() - t0) / n * 1e3
        emit(what="speed", framework="pytorch", torch=torch.__version__, device=name, tf32=a.tf32, batch=b, size=a.size,
             steps=n, ms_per_step=round(ms, 2), images_per_s=round(b / ms * 1e3, 1))


if __name__ == "__main__":
    main()
