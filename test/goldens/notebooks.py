"""Reference values for the notebook tests (test/notebooks.test.ts), computed with real PyTorch.

What the notebooks print is compared against this: the course ResNet's param groups (the tutorial's SGD, the
decay/no-decay split, a separate classifier group), every lr schedule drawn in 03-lr-schedulers (lr per epoch,
OneCycleLR's momentum, ReduceLROnPlateau's reaction to a fixed metric sequence), the tutorial's lr drop at
epoch 20 (02-lr-decay), and one SGD step with an explicit L2 penalty against weight_decay (04-regularization).

Run with Debian's Python (torch 1.13):  /usr/bin/python3 test/goldens/notebooks.py
Writes test/fixtures/notebooks.json. The course ResNet comes from ../shared/reference/pytorch/course_resnet.py
(or TSDL_REFERENCE=<dir holding course_resnet.py>).
"""
import json
import os
import sys

import torch
from torch.optim import SGD
from torch.optim import lr_scheduler as S

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
REF = os.environ.get("TSDL_REFERENCE", os.path.join(REPO, "..", "shared", "reference", "pytorch"))
sys.path.insert(0, REF)
from course_resnet import course_resnet  # noqa: E402

torch.manual_seed(0)
EPOCHS = 30  # the tutorial's run length; every schedule is drawn over it


def groups_summary(opt):
    return [
        {"tensors": len(g["params"]), "parameters": sum(p.numel() for p in g["params"]), "lr": g["lr"], "weightDecay": g["weight_decay"]}
        for g in opt.param_groups
    ]


def param_groups():
    net = course_resnet(3, 10)
    opt = SGD(net.parameters(), lr=0.01, weight_decay=1e-4)
    out = {"initial": {"lr": opt.param_groups[0]["lr"], "weightDecay": opt.param_groups[0]["weight_decay"]}}
    opt.param_groups[0]["lr"] = 1e-5
    out["afterSet"] = opt.param_groups[0]["lr"]
    for g in opt.param_groups:
        g["lr"] = 1e-1
    out["afterLoop"] = [g["lr"] for g in opt.param_groups]
    out["groups"] = groups_summary(opt)
    # The usual recipe: no weight decay on biases and BatchNorm (1-D tensors).
    decay = [p for p in net.parameters() if p.ndim > 1]
    no_decay = [p for p in net.parameters() if p.ndim <= 1]
    split = SGD([{"params": decay}, {"params": no_decay, "weight_decay": 0.0}], lr=0.01, weight_decay=1e-4)
    out["decaySplit"] = groups_summary(split)
    # A larger lr for the classifier (fine-tuning style).
    head = list(net[-1].parameters())
    head_ids = {id(p) for p in head}
    body = [p for p in net.parameters() if id(p) not in head_ids]
    two = SGD([{"params": body}, {"params": head, "lr": 0.1}], lr=0.01, weight_decay=1e-4)
    out["classifierSplit"] = groups_summary(two)
    return out


def optimizer(momentum=0.0):
    w = torch.nn.Parameter(torch.zeros(1))
    return SGD([w], lr=0.1, momentum=momentum)


def record(opt, sched, epochs=EPOCHS, momentum=False):
    """lr (and momentum) in effect during each epoch: read, then optimizer.step(), then scheduler.step()."""
    lrs, moms = [], []
    for _ in range(epochs):
        lrs.append(opt.param_groups[0]["lr"])
        moms.append(opt.param_groups[0]["momentum"])
        opt.step()
        sched.step()
    return {"lr": lrs, **({"momentum": moms} if momentum else {})}


def schedules():
    out = {}

    def add(name, make, momentum=0.0, with_momentum=False):
        opt = optimizer(momentum)
        out[name] = record(opt, make(opt), momentum=with_momentum)

    add("StepLR", lambda o: S.StepLR(o, step_size=10, gamma=0.1))
    add("MultiStepLR", lambda o: S.MultiStepLR(o, milestones=[20], gamma=0.1))
    add("ExponentialLR", lambda o: S.ExponentialLR(o, gamma=0.9))
    add("CosineAnnealingLR", lambda o: S.CosineAnnealingLR(o, T_max=EPOCHS))
    add("LambdaLR", lambda o: S.LambdaLR(o, lr_lambda=lambda e: 1.0 if e < 20 else 0.1))
    add("MultiplicativeLR", lambda o: S.MultiplicativeLR(o, lr_lambda=lambda e: 0.95))
    add("LinearLR", lambda o: S.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=5))
    add("ConstantLR", lambda o: S.ConstantLR(o, factor=0.5, total_iters=5))
    add("PolynomialLR", lambda o: S.PolynomialLR(o, total_iters=EPOCHS, power=2.0))
    add("CosineAnnealingWarmRestarts", lambda o: S.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2))
    add("CyclicLR", lambda o: S.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=5), momentum=0.9, with_momentum=True)
    add("OneCycleLR", lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=EPOCHS), momentum=0.9, with_momentum=True)
    # Warmup + cosine: 5 epochs of linear warmup from lr/10, then cosine annealing to 0 over the other 25.
    add(
        "warmupCosine",
        lambda o: S.SequentialLR(
            o, [S.LinearLR(o, start_factor=0.1, total_iters=5), S.CosineAnnealingLR(o, T_max=EPOCHS - 5)], milestones=[5]
        ),
    )
    # Two schedules at once: their factors multiply (halve every 10 epochs, and x0.95 every epoch).
    add("ChainedScheduler", lambda o: S.ChainedScheduler([S.StepLR(o, step_size=10, gamma=0.5), S.ExponentialLR(o, gamma=0.95)]))
    return out


PLATEAU_METRIC = [1.0, 0.8, 0.7, 0.69, 0.7, 0.71, 0.7, 0.68, 0.69, 0.69, 0.7, 0.7, 0.7, 0.66, 0.67, 0.67, 0.67, 0.67, 0.67, 0.67]


def plateau():
    opt = optimizer()
    sched = S.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=2)
    lrs = []
    for m in PLATEAU_METRIC:
        opt.step()
        sched.step(m)
        lrs.append(opt.param_groups[0]["lr"])
    return {"mode": "min", "factor": 0.5, "patience": 2, "metric": PLATEAU_METRIC, "lrAfterStep": lrs}


def tutorial_drop(epochs=30, milestone=20):
    """02-lr-decay: the lr of each epoch, by editing param_groups at the milestone and with MultiStepLR."""
    opt = optimizer()
    for g in opt.param_groups:
        g["lr"] = 0.1
    manual = []
    for e in range(epochs):
        if e == milestone:
            for g in opt.param_groups:
                g["lr"] = 0.01
        manual.append(opt.param_groups[0]["lr"])
    opt = optimizer()
    return {"epochs": epochs, "milestone": milestone, "manual": manual, "multiStep": record(opt, S.MultiStepLR(opt, milestones=[milestone], gamma=0.1), epochs)["lr"]}


def l2_step():
    """One SGD step on a least-squares loss: weight_decay=wd versus the loss + lam * ||w||^2 with lam = wd / 2 and lam = wd."""
    x = torch.tensor([[1.0, 2.0, -1.0], [0.5, -1.0, 2.0]])
    y = torch.tensor([1.0, -1.0])
    w0 = [0.5, -1.5, 2.0]
    lr, wd = 0.1, 0.01

    def step(weight_decay, lam):
        w = torch.nn.Parameter(torch.tensor(w0))
        opt = SGD([w], lr=lr, weight_decay=weight_decay)
        loss = ((x @ w - y) ** 2).mean() + lam * (w ** 2).sum()
        loss.backward()
        grad = w.grad.tolist()
        opt.step()
        return {"loss": loss.item(), "grad": grad, "w": w.detach().tolist()}

    return {
        "x": x.tolist(), "y": y.tolist(), "w0": w0, "lr": lr, "weightDecay": wd,
        "withWeightDecay": step(wd, 0.0),
        "penaltyHalf": step(0.0, wd / 2),
        "penaltyFull": step(0.0, wd),
    }


def main():
    fixture = {
        "generator": "test/goldens/notebooks.py",
        "torch": torch.__version__,
        "paramGroups": param_groups(),
        "schedules": schedules(),
        "plateau": plateau(),
        "tutorialDrop": tutorial_drop(),
        "smokeDrop": tutorial_drop(epochs=3, milestone=2),
        "l2": l2_step(),
    }
    path = os.path.join(REPO, "test", "fixtures", "notebooks.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    print("wrote", os.path.relpath(path, REPO))


if __name__ == "__main__":
    main()
