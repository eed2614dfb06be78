"""Goldens for tsdl's models, losses and training loop, computed by real PyTorch.

usage: /usr/bin/python3 test/goldens/train_goldens.py     (Debian python3-torch; writes test/fixtures/train_*.json)

- train_losses.json: CrossEntropyLoss (weight, ignore_index, label_smoothing, probability targets, reductions),
  NLLLoss, MSELoss, L1Loss values and d(loss)/d(input) on fixed inputs.
- train_resnet.json: the course ResNet (../shared/reference/pytorch/course_resnet.py) with deterministic weights
  values from a minstd stream seeded by the tensor's name (PyTorch layout, flat C order), forward
  in train mode (batch statistics) and eval mode on a deterministic 2x3x75x90 input, and one BN's running stats.
- train_smallcnn.json: a small CNN (conv+bias, BN, ReLU, max-pool, conv, BN, ReLU, avg-pool, flatten, linear)
  with PyTorch's own random init, trained 4 epochs x 5 batches by SGD(momentum, weight_decay) + MultiStepLR
  (stepped per epoch): weights before training, the batches, every step's loss, per-epoch train/valid loss and
  accuracy as the course's train() computes them, final running stats.
"""
import json
import math
import os
import sys
from collections import OrderedDict

import torch
from torch import nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures")
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "shared", "reference", "pytorch"))
from course_resnet import course_resnet  # noqa: E402

torch.set_num_threads(1)


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def rounded(t):
    return [round(v, 3) for v in t.reshape(-1).tolist()]


def write(name, obj):
    path = os.path.join(FIXTURES, name)
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
        f.write("\n")
    print("wrote", os.path.relpath(path), os.path.getsize(path), "bytes")


# ----------------------------------------------------------------------------------------------------- losses
def losses():
    g = torch.Generator().manual_seed(7)
    logits = torch.randn(6, 5, generator=g) * 2
    target = torch.tensor([0, 4, 2, 2, 1, 3])
    probs = torch.softmax(torch.randn(6, 5, generator=g), dim=1)
    weight = torch.tensor([0.5, 1.0, 2.0, 1.5, 0.25])
    pred = torch.randn(3, 4, generator=g)
    goal = torch.randn(3, 4, generator=g)
    cases = []

    def case(kind, opts, inp, tgt, fn):
        x = inp.clone().requires_grad_(True)
        out = fn(x, tgt)
        (out.sum() if out.dim() else out).backward()
        cases.append({"kind": kind, "opts": opts, "input": [flat(r) for r in inp], "target": tgt.tolist(),
                      "targetDtype": "int32" if tgt.dtype == torch.int64 else "float32",
                      "output": flat(out) if out.dim() else float(out), "grad": [flat(r) for r in x.grad]})

    for red in ["mean", "sum", "none"]:
        case("CrossEntropyLoss", {"reduction": red}, logits, target, nn.CrossEntropyLoss(reduction=red))
    case("CrossEntropyLoss", {"weight": weight.tolist()}, logits, target, nn.CrossEntropyLoss(weight=weight))
    case("CrossEntropyLoss", {"ignoreIndex": 2}, logits, target, nn.CrossEntropyLoss(ignore_index=2))
    case("CrossEntropyLoss", {"labelSmoothing": 0.1}, logits, target, nn.CrossEntropyLoss(label_smoothing=0.1))
    case("CrossEntropyLoss", {"labelSmoothing": 0.2, "weight": weight.tolist()}, logits, target,
         nn.CrossEntropyLoss(label_smoothing=0.2, weight=weight))
    case("CrossEntropyLoss", {"labelSmoothing": 0.2, "weight": weight.tolist(), "ignoreIndex": 2}, logits, target,
         nn.CrossEntropyLoss(label_smoothing=0.2, weight=weight, ignore_index=2))
    case("CrossEntropyLoss", {"labelSmoothing": 0.3, "ignoreIndex": 2, "reduction": "sum"}, logits, target,
         nn.CrossEntropyLoss(label_smoothing=0.3, ignore_index=2, reduction="sum"))
    case("CrossEntropyLoss", {"labelSmoothing": 0.3, "ignoreIndex": 2, "reduction": "none"}, logits, target,
         nn.CrossEntropyLoss(label_smoothing=0.3, ignore_index=2, reduction="none"))
    case("CrossEntropyLoss", {}, logits, probs, nn.CrossEntropyLoss())
    case("CrossEntropyLoss", {"labelSmoothing": 0.1, "weight": weight.tolist()}, logits, probs,
         nn.CrossEntropyLoss(label_smoothing=0.1, weight=weight))
    logp = F.log_softmax(logits, dim=1)
    case("NLLLoss", {}, logp, target, nn.NLLLoss())
    case("NLLLoss", {"weight": weight.tolist(), "ignoreIndex": 4}, logp, target, nn.NLLLoss(weight=weight, ignore_index=4))
    for red in ["mean", "sum", "none"]:
        case("MSELoss", {"reduction": red}, pred, goal, nn.MSELoss(reduction=red))
        case("L1Loss", {"reduction": red}, pred, goal, nn.L1Loss(reduction=red))
    write("train_losses.json", {"torch": torch.__version__, "cases": cases})


# ----------------------------------------------------------------------------------------------------- resnet
def phase_of(name):
    return sum(ord(c) for c in name) % 97


def pattern(name, shape, kind, fan_in):
    """The deterministic values shared with test/models.test.ts: a Park-Miller (minstd) stream seeded from the
    tensor's name, exact in float64 in both languages, u in [-1, 1), then scaled and rounded to float32."""
    n = math.prod(shape)
    state = phase_of(name) + 1
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
    else:  # biases, BN bias, running_mean
        v = 0.1 * s
    return v.reshape(shape).to(torch.float32)


def torch_to_tsdl_name(key):
    """course_resnet.py's Sequential indices -> utils.py / tsdl layer names."""
    parts = key.split(".")
    idx = int(parts[0])
    top = {0: "block1", 2: "block2.1", 3: "block2.2", 4: "block3.0", 5: "block3.1", 6: "block4.0", 7: "block4.1",
           8: "block5.0", 9: "block5.1", 12: "classifier"}[idx]
    rest = [("conv3" if p == "project" else p) for p in parts[1:]]
    return ".".join([top] + rest)


def resnet():
    net = course_resnet(3, 10)
    entries = []
    sd = net.state_dict()
    for key, t in sd.items():
        if key.endswith("num_batches_tracked"):
            continue
        name = torch_to_tsdl_name(key)
        leaf = name.rsplit(".", 1)[1]
        is_bn = ".bn" in name
        kind = {"weight": "bnweight" if is_bn else "weight", "bias": "bias", "running_mean": "running_mean",
                "running_var": "running_var"}[leaf]
        fan_in = math.prod(t.shape[1:]) if (kind == "weight") else 0
        with torch.no_grad():
            t.copy_(pattern(name, list(t.shape), kind, fan_in))
        entries.append({"name": name, "shape": list(t.shape), "kind": kind, "fanIn": fan_in})
    shape = [2, 3, 75, 90]
    x = pattern("input", shape, "bias", 0) * 10  # amplitude 1
    net.train()
    with torch.no_grad():
        train_out = net(x)
    bn = dict(net.named_modules())["9.bn2"]
    running = {"name": "block5.1.bn2", "running_mean": flat(bn.running_mean), "running_var": flat(bn.running_var)}
    net.eval()
    with torch.no_grad():
        eval_out = net(x)
    write("train_resnet.json", {"torch": torch.__version__, "inputShape": shape, "entries": entries,
                                "trainOutput": [flat(r) for r in train_out], "evalOutput": [flat(r) for r in eval_out],
                                "runningAfterTrainForward": running})


# ----------------------------------------------------------------------------------------------------- small CNN
def small_cnn():
    torch.manual_seed(3)
    net = nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(3, 8, 3, stride=2, padding=1)),
        ("bn1", nn.BatchNorm2d(8)),
        ("relu1", nn.ReLU()),
        ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(8, 16, 3, padding=1, bias=False)),
        ("bn2", nn.BatchNorm2d(16)),
        ("relu2", nn.ReLU()),
        ("pool2", nn.AvgPool2d(2)),
        ("flatten", nn.Flatten()),
        ("fc", nn.Linear(64, 10)),
    ]))
    init = {k: {"shape": list(v.shape), "data": flat(v)} for k, v in net.state_dict().items()
            if not k.endswith("num_batches_tracked")}
    n_train, n_valid, batch, epochs = 40, 16, 8, 4
    # Inputs rounded to 3 decimals so the fixture stays small; torch trains on exactly the stored values.
    x_train = torch.round(torch.randn(n_train, 3, 16, 16) * 1000) / 1000
    y_train = torch.randint(0, 10, (n_train,))
    x_valid = torch.round(torch.randn(n_valid, 3, 16, 16) * 1000) / 1000
    y_valid = torch.randint(0, 10, (n_valid,))
    opt_cfg = {"lr": 0.05, "momentum": 0.9, "weightDecay": 1e-3}
    sched_cfg = {"milestones": [2, 3], "gamma": 0.1}
    opt = torch.optim.SGD(net.parameters(), lr=opt_cfg["lr"], momentum=opt_cfg["momentum"],
                          weight_decay=opt_cfg["weightDecay"])
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=sched_cfg["milestones"], gamma=sched_cfg["gamma"])
    criterion = nn.CrossEntropyLoss()

    def acc(out, y):
        return float((out.argmax(1) == y).sum().item()) / y.shape[0]

    step_losses, step_lrs, epochs_out = [], [], []
    for epoch in range(epochs):
        net.train()
        tl = ta = 0.0
        lr = [g["lr"] for g in opt.param_groups]
        for b in range(n_train // batch):
            xb, yb = x_train[b * batch:(b + 1) * batch], y_train[b * batch:(b + 1) * batch]
            out = net(xb)
            loss = criterion(out, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step_losses.append(loss.item())
            step_lrs.append(lr)
            tl += loss.item()
            ta += acc(out, yb)
        net.eval()
        vl = va = 0.0
        with torch.no_grad():
            for b in range(n_valid // batch):
                xb, yb = x_valid[b * batch:(b + 1) * batch], y_valid[b * batch:(b + 1) * batch]
                out = net(xb)
                vl += criterion(out, yb).item()
                va += acc(out, yb)
        nb, nv = n_train // batch, n_valid // batch
        epochs_out.append({"epoch": epoch, "trainLoss": tl / nb, "trainAcc": ta / nb, "validLoss": vl / nv,
                           "validAcc": va / nv, "lr": lr})
        sched.step()
    final = {k: flat(v) for k, v in net.state_dict().items() if "running" in k}
    write("train_smallcnn.json", {
        "torch": torch.__version__, "init": init, "batchSize": batch, "epochs": epochs,
        "xTrain": {"shape": list(x_train.shape), "data": rounded(x_train)}, "yTrain": y_train.tolist(),
        "xValid": {"shape": list(x_valid.shape), "data": rounded(x_valid)}, "yValid": y_valid.tolist(),
        "optimizer": opt_cfg, "scheduler": sched_cfg, "stepLosses": step_losses, "stepLrs": step_lrs,
        "epochRecords": epochs_out, "finalRunningStats": final})


if __name__ == "__main__":
    os.makedirs(FIXTURES, exist_ok=True)
    losses()
    resnet()
    small_cnn()
