#!/usr/bin/python3
"""Goldens for tsdl.data from torchvision 0.14 + Pillow (Debian python3-torchvision).

Writes test/fixtures/data-transforms.json (transforms) and test/fixtures/data-fashion-mnist.json (reader).
Run from the repo root:  /usr/bin/python3 test/goldens/data_transforms.py
Inputs are made here and stored (base64 uint8, HWC); uint8 outputs are stored whole (PIL gives bytes, the
tests compare them exactly); float outputs of whole chains are stored as sums plus sampled positions.
"""
import base64, gzip, hashlib, json, os, shutil, tempfile

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision import transforms as T
from torchvision.transforms import functional as F

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIX = os.path.join(REPO, "test", "fixtures")


def b64(a):
    return base64.b64encode(np.ascontiguousarray(a, dtype=np.uint8).tobytes()).decode()


def img_json(im):
    a = np.asarray(im)
    if a.ndim == 2:
        a = a[:, :, None]
    return {"h": a.shape[0], "w": a.shape[1], "c": a.shape[2], "data": b64(a)}


def pil(a):
    return Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a, "L" if a.shape[2] == 1 else "RGB")


rng = np.random.default_rng(20261123)
# noise: every pixel independent (worst case for rounding); smooth: gradients + mild noise (photo-like)
noise = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
yy, xx = np.mgrid[0:32, 0:32]
smooth = np.stack([xx * 8, yy * 8, (xx + yy) * 4], axis=2) + rng.integers(-12, 13, size=(32, 32, 3))
smooth = np.clip(smooth, 0, 255).astype(np.uint8)
gray = rng.integers(0, 256, size=(28, 28, 1), dtype=np.uint8)
# 16x16 with gray pixels, saturated primaries and extremes, to reach every branch of the HSV code
small = rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
small[0, :8] = [[v, v, v] for v in (0, 1, 127, 128, 254, 255, 60, 200)]
small[1, :8] = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255], [255, 0, 255], [255, 0, 1], [1, 0, 255]]
# 64x64 whose channels often tie (values from a short list, or one channel copied): every max/min case of HSV
ties = rng.choice(np.array([0, 1, 2, 60, 127, 128, 200, 253, 254, 255], dtype=np.uint8), size=(64, 64, 3))
mask = rng.random((64, 64)) < 0.5
ties[mask] = rng.integers(0, 256, size=(int(mask.sum()), 3), dtype=np.uint8)
copy = rng.random((64, 64)) < 0.2
ties[copy, 1] = ties[copy, 0]
rect = np.ascontiguousarray(smooth[:, 6:26])  # 32 high, 20 wide: Resize(int) scales the shorter edge
inputs = {"noise": noise, "smooth": smooth, "gray": gray, "small": small, "ties": ties, "rect": rect}

out = {"versions": {"torch": torch.__version__, "torchvision": torchvision.__version__, "PIL": Image.__version__, "numpy": np.__version__},
       "inputs": {k: img_json(v) for k, v in inputs.items()}}

# Resize: PIL resampling as torchvision calls it
I = T.InterpolationMode
modes = {"bilinear": I.BILINEAR, "bicubic": I.BICUBIC, "nearest": I.NEAREST, "box": I.BOX, "hamming": I.HAMMING, "lanczos": I.LANCZOS}
resize_cases = [("noise", 96, "bilinear"), ("noise", 120, "bilinear"), ("smooth", [40, 50], "bilinear"),
                ("noise", [20, 24], "bilinear"), ("smooth", 13, "bilinear"), ("noise", 45, "bicubic"), ("noise", [50, 37], "nearest"),
                ("small", [23, 9], "box"), ("small", 30, "hamming"), ("small", [11, 40], "lanczos"), ("gray", 96, "bilinear"),
                ("gray", [28, 28], "bilinear"), ("rect", 24, "bilinear"), ("rect", 45, "bilinear")]
out["resize"] = [{"input": name, "size": size, "interpolation": mode,
                  "output": img_json(T.Resize(size, interpolation=modes[mode])(pil(inputs[name])))}
                 for name, size, mode in resize_cases]

# geometry: flips, crop, pad, center crop
geo = []
geo.append({"op": "hflip", "input": "smooth", "output": img_json(F.hflip(pil(smooth)))})
geo.append({"op": "vflip", "input": "smooth", "output": img_json(F.vflip(pil(smooth)))})
geo.append({"op": "padcrop", "input": "smooth", "padding": 4, "top": 3, "left": 7, "height": 32, "width": 32,
            "output": img_json(F.crop(F.pad(pil(smooth), 4), 3, 7, 32, 32))})
geo.append({"op": "crop", "input": "small", "top": -2, "left": 5, "height": 10, "width": 14,
            "output": img_json(F.crop(pil(small), -2, 5, 10, 14))})
for mode in ["constant", "edge", "reflect", "symmetric"]:
    geo.append({"op": "pad", "input": "small", "padding": [2, 3, 1, 4], "mode": mode, "fill": 0 if mode != "constant" else 9,
                "output": img_json(F.pad(pil(small), [2, 3, 1, 4], fill=9 if mode == "constant" else 0, padding_mode=mode))})
for size in [20, [13, 32], 35, [17, 40]]:
    geo.append({"op": "centerCrop", "input": "smooth", "size": size, "output": img_json(F.center_crop(pil(smooth), size))})
geo.append({"op": "grayscale3", "input": "smooth", "output": img_json(T.Grayscale(3)(pil(smooth)))})
geo.append({"op": "grayscale3", "input": "gray", "output": img_json(T.Grayscale(3)(pil(gray)))})
geo.append({"op": "grayscale1", "input": "noise", "output": img_json(T.Grayscale(1)(pil(noise)))})
out["geometry"] = geo

# color adjustments for given factors
color = []
for name in ["small", "smooth"]:
    for f in ([0.3, 0.77, 1.0, 1.4] if name == "small" else [1.4]):
        color.append({"op": "brightness", "input": name, "factor": f, "output": img_json(F.adjust_brightness(pil(inputs[name]), f))})
    for f in [0.0, 0.5, 1.5]:
        color.append({"op": "contrast", "input": name, "factor": f, "output": img_json(F.adjust_contrast(pil(inputs[name]), f))})
    for f in [0.2, 1.7]:
        color.append({"op": "saturation", "input": name, "factor": f, "output": img_json(F.adjust_saturation(pil(inputs[name]), f))})
for name in ["small", "noise"]:
    for f in [-0.5, -0.31, 0.0, 0.1, 0.45, 0.5]:
        color.append({"op": "hue", "input": name, "factor": f, "output": img_json(F.adjust_hue(pil(inputs[name]), f))})
for f in [0.2, -0.45]:
    color.append({"op": "hue", "input": "ties", "factor": f, "output": img_json(F.adjust_hue(pil(ties), f))})
color.append({"op": "contrast", "input": "gray", "factor": 1.3, "output": img_json(F.adjust_contrast(pil(gray), 1.3))})
# ColorJitter.forward with fixed draws: order and factors
for order, b, c, s, h in [([3, 0, 1, 2], 1.21, 0.64, None, -0.27), ([1, 2, 3, 0], 0.52, 1.44, 1.1, 0.33)]:
    im = pil(smooth)
    for fn in order:
        if fn == 0 and b is not None: im = F.adjust_brightness(im, b)
        elif fn == 1 and c is not None: im = F.adjust_contrast(im, c)
        elif fn == 2 and s is not None: im = F.adjust_saturation(im, s)
        elif fn == 3 and h is not None: im = F.adjust_hue(im, h)
    color.append({"op": "jitter", "input": "smooth", "order": order, "brightness": b, "contrast": c, "saturation": s, "hue": h, "output": img_json(im)})
out["color"] = color


def sampled(t):
    """A float tensor (CHW, as torchvision gives) as HWC sums and sampled values."""
    a = t.permute(1, 2, 0).contiguous().numpy().astype(np.float32).ravel()
    idx = [(i * 7919) % a.size for i in range(0, 300)]  # the test computes the same positions
    return {"shape": [int(t.shape[1]), int(t.shape[2]), int(t.shape[0])], "sum": float(a.astype(np.float64).sum()),
            "sumAbs": float(np.abs(a.astype(np.float64)).sum()), "min": float(a.min()), "max": float(a.max()),
            "values": [float(a[i]) for i in idx]}


# whole deterministic chains, as the tutorial builds them
half = [0.5, 0.5, 0.5]
cifar_mean, cifar_std = [0.4914, 0.4822, 0.4465], [0.247, 0.243, 0.261]
chains = [
    {"name": "test_tf", "input": "smooth", "resize": 96, "mean": half, "std": half},
    {"name": "test_tf", "input": "noise", "resize": 96, "mean": half, "std": half},
    {"name": "resize120", "input": "noise", "resize": 120, "mean": cifar_mean, "std": cifar_std},
    {"name": "no_resize", "input": "smooth", "resize": None, "mean": cifar_mean, "std": cifar_std},
]
for ch in chains:
    tfs = ([T.Resize(ch["resize"])] if ch["resize"] else []) + [T.ToTensor(), T.Normalize(ch["mean"], ch["std"])]
    ch["output"] = sampled(T.Compose(tfs)(pil(inputs[ch["input"]])))
out["chains"] = chains

# ToTensor + Normalize exactly, on the 16x16 input
t = T.Normalize(cifar_mean, cifar_std)(T.ToTensor()(pil(small)))
out["normalize"] = {"input": "small", "mean": cifar_mean, "std": cifar_std,
                    "output": base64.b64encode(t.permute(1, 2, 0).contiguous().numpy().astype("<f4").tobytes()).decode()}

# ColorJitter(0.5, 0.5, hue=0.5) statistics over 400 draws on "smooth" (torch's RNG, seeds 0..399)
jit = T.ColorJitter(brightness=0.5, contrast=0.5, hue=0.5)
means, stds, chan = [], [], []
for seed in range(400):
    torch.manual_seed(seed)
    a = np.asarray(jit(pil(smooth)), dtype=np.float64)
    means.append(a.mean()); stds.append(a.std()); chan.append(a.reshape(-1, 3).mean(0))
chan = np.array(chan)
out["jitterStats"] = {"input": "smooth", "brightness": 0.5, "contrast": 0.5, "hue": 0.5, "n": 400,
                      "meanOfMean": float(np.mean(means)), "varOfMean": float(np.var(means)),
                      "meanOfStd": float(np.mean(stds)), "varOfStd": float(np.var(stds)),
                      "channelMean": chan.mean(0).tolist(), "channelVar": chan.var(0).tolist()}

with open(os.path.join(FIX, "data-transforms.json"), "w") as f:
    json.dump(out, f, separators=(",", ":"))
print("wrote", os.path.join(FIX, "data-transforms.json"), os.path.getsize(os.path.join(FIX, "data-transforms.json")), "bytes")

# Fashion-MNIST through torchvision's own reader (it wants the uncompressed files in <root>/FashionMNIST/raw)
SRC = "/usr/share/datasets/fashion-mnist"
if os.path.isdir(SRC):
    tmp = tempfile.mkdtemp()
    try:
        raw = os.path.join(tmp, "FashionMNIST", "raw")
        os.makedirs(raw)
        for name in os.listdir(SRC):
            if name.endswith(".gz"):
                with gzip.open(os.path.join(SRC, name)) as g, open(os.path.join(raw, name[:-3]), "wb") as o:
                    shutil.copyfileobj(g, o)
        fm = {}
        for split, train in [("train", True), ("test", False)]:
            ds = torchvision.datasets.FashionMNIST(tmp, train=train, download=False)
            data = ds.data.numpy()
            fm[split] = {"length": len(ds), "firstLabels": ds.targets[:20].tolist(),
                         "classCounts": np.bincount(ds.targets.numpy(), minlength=10).tolist(),
                         "imagesMd5": hashlib.md5(data.tobytes()).hexdigest(),
                         "first": img_json(ds[0][0]), "classes": ds.classes}
        with open(os.path.join(FIX, "data-fashion-mnist.json"), "w") as f:
            json.dump(fm, f, separators=(",", ":"))
        print("wrote", os.path.join(FIX, "data-fashion-mnist.json"))
    finally:
        shutil.rmtree(tmp)
else:
    print("no", SRC, "- Fashion-MNIST golden skipped")
