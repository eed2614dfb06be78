"""Goldens for test/wasm-grad.test.ts: dx and dW of conv2d from torch.autograd, in NHWC / HWIO layout.

usage: /usr/bin/python3 test/goldens/conv2d_grads.py   (writes test/fixtures/conv2d-grads.json)
"""
import json
import os

import torch
import torch.nn.functional as F

CASES = [  # name, (n, h, w, cin), (k, cout), stride, padding (PyTorch, same on every side)
    ("3x3 s2 pad 1 (ResNet down-sampling)", (2, 12, 12, 8), (3, 16), 2, 1),
    ("3x3 s1 pad 1 (ResNet body)", (2, 9, 9, 8), (3, 8), 1, 1),
    ("7x7 s2 pad 0 (ResNet stem)", (2, 23, 23, 3), (7, 8), 2, 0),
    ("1x1 s2 pad 0 (ResNet projection)", (2, 11, 11, 8), (1, 16), 2, 0),
]

torch.manual_seed(0)
out = []
for name, (n, h, w, cin), (k, cout), stride, padding in CASES:
    x = torch.randn(n, cin, h, w, dtype=torch.float64, requires_grad=True)
    wt = torch.randn(cout, cin, k, k, dtype=torch.float64, requires_grad=True)
    y = F.conv2d(x, wt, stride=stride, padding=padding)
    dy = torch.randn_like(y)
    (y * dy).sum().backward()
    nhwc = lambda t: t.detach().permute(0, 2, 3, 1)  # NCHW -> NHWC
    hwio = lambda t: t.detach().permute(2, 3, 1, 0)  # OIHW -> HWIO
    flat = lambda t: [round(v, 7) for v in t.contiguous().reshape(-1).tolist()]
    out.append({
        "name": name, "stride": stride, "padding": padding,
        "x": flat(nhwc(x)), "xShape": list(nhwc(x).shape),
        "w": flat(hwio(wt)), "wShape": list(hwio(wt).shape),
        "dy": flat(nhwc(dy)), "dyShape": list(nhwc(dy).shape),
        "dx": flat(nhwc(x.grad)), "dw": flat(hwio(wt.grad)),
    })

path = os.path.join(os.path.dirname(__file__), "..", "fixtures", "conv2d-grads.json")
with open(path, "w") as f:
    json.dump(out, f)
print(f"wrote {len(out)} cases to {os.path.normpath(path)}")
