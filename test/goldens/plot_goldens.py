"""Inputs for the plot tests, recorded from real PyTorch (torch 1.13 CPU here).

    /usr/bin/python3 test/goldens/plot_goldens.py      # writes test/fixtures/plot.json

What the plots are checked against comes from PyTorch itself:
  - history_multistep: a small softmax classifier trained with SGD (2 param groups: weights lr 0.1,
    bias lr 0.05, weight decay 1e-4) and MultiStepLR(milestones=[20], gamma=0.1) for 30 epochs, as in
    the course's lr-decay notebook (decay at epoch 20). Per-epoch train/valid loss and accuracy, the lr
    of every group during each epoch (get_last_lr() before scheduler.step()), and every batch's loss.
  - onecycle: OneCycleLR(max_lr=[0.1, 0.01], total_steps=100) on 2 groups of SGD(momentum=0.9):
    the lr and momentum each group uses at every step.
  - multistep_preview: the lr of MultiStepLR([20], 0.1) over 30 epochs, one group.
  - runs_wd: the same classifier for 12 epochs with weight decay 0, 1e-4 and 1e-3 (one group, lr 0.1).
  - lr_finder: an exponential lr range test (1e-5 -> 1000, 100 steps, smoothed loss, stop when it exceeds
    4x the best), suggestion = lr at the steepest descent of the smoothed loss, first 10 and last 5 points
    skipped (pytorch-lr-finder's rule).
"""
import json
import math
import os

import torch
from torch import nn

torch.manual_seed(0)
torch.set_num_threads(1)

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "plot.json")


def make_data(n, seed):
    g = torch.Generator().manual_seed(seed)
    centers = torch.tensor([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    y = torch.randint(0, 3, (n,), generator=g)
    x = centers[y] + 1.1 * torch.randn(n, 2, generator=g)
    x = torch.cat([x, torch.randn(n, 6, generator=g) * 0.5], 1)
    return x, y


XT, YT = make_data(600, 1)
XV, YV = make_data(300, 2)
BATCH = 50


def train(epochs, weight_decay, groups, scheduler_fn):
    torch.manual_seed(0)
    net = nn.Linear(8, 3)
    if groups == 2:
        params = [{"params": [net.weight], "lr": 0.1}, {"params": [net.bias], "lr": 0.05}]
    else:
        params = [{"params": net.parameters(), "lr": 0.1}]
    opt = torch.optim.SGD(params, lr=0.1, weight_decay=weight_decay)
    sched = scheduler_fn(opt) if scheduler_fn else None
    loss_fn = nn.CrossEntropyLoss()
    history = {"epochs": [], "batches": []}
    step = 0
    for epoch in range(epochs):
        lrs = [g["lr"] for g in opt.param_groups]
        perm = torch.randperm(len(XT))
        tot, correct, count = 0.0, 0, 0
        for b in range(len(XT) // BATCH):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            out = net(XT[idx])
            loss = loss_fn(out, YT[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            history["batches"].append({"epoch": epoch, "batch": b, "step": step, "loss": loss.item(), "lr": lrs})
            step += 1
            tot += loss.item() * len(idx)
            correct += (out.argmax(1) == YT[idx]).sum().item()
            count += len(idx)
        with torch.no_grad():
            out = net(XV)
            vloss = loss_fn(out, YV).item()
            vacc = (out.argmax(1) == YV).float().mean().item()
        history["epochs"].append({
            "epoch": epoch, "trainLoss": tot / count, "trainAcc": correct / count,
            "validLoss": vloss, "validAcc": vacc, "lr": lrs, "seconds": 0.0,
        })
        if sched:
            sched.step()
    return history


def onecycle():
    w, b = nn.Parameter(torch.zeros(1)), nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [w]}, {"params": [b]}], lr=0.1, momentum=0.9)
    s = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[0.1, 0.01], total_steps=100)
    lr, mom = [[], []], [[], []]
    for _ in range(100):
        for g, group in enumerate(opt.param_groups):
            lr[g].append(group["lr"])
            mom[g].append(group["momentum"])
        opt.step()
        s.step()
    return {"lr": lr, "momentum": mom, "name": "OneCycleLR"}


def multistep_preview():
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    s = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[20], gamma=0.1)
    lr = [[]]
    for _ in range(30):
        lr[0].append(opt.param_groups[0]["lr"])
        opt.step()
        s.step()
    return {"lr": lr, "name": "MultiStepLR"}


def lr_finder():
    torch.manual_seed(0)
    net = nn.Linear(8, 3)
    opt = torch.optim.SGD(net.parameters(), lr=1e-5)
    loss_fn = nn.CrossEntropyLoss()
    start, end, n = 1e-5, 1000.0, 100
    lrs, losses = [], []
    best, smooth = math.inf, None
    g = torch.Generator().manual_seed(3)
    for i in range(n):
        lr = start * (end / start) ** (i / (n - 1))
        for group in opt.param_groups:
            group["lr"] = lr
        idx = torch.randint(0, len(XT), (BATCH,), generator=g)
        loss = loss_fn(net(XT[idx]), YT[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        smooth = loss.item() if smooth is None else 0.95 * smooth + 0.05 * loss.item()
        lrs.append(lr)
        losses.append(smooth)
        best = min(best, smooth)
        if smooth > 4 * best:
            break
    # pytorch-lr-finder: skip_start=10, skip_end=5, steepest negative gradient of the smoothed loss
    a, b = 10, len(losses) - 5
    grads = [(losses[i + 1] - losses[i]) for i in range(a, b - 1)]
    i = a + min(range(len(grads)), key=lambda k: grads[k])
    return {"lrs": lrs, "losses": losses, "suggestedLr": lrs[i]}


def main():
    multi = lambda opt: torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[20], gamma=0.1)
    fixture = {
        "torch": torch.__version__,
        "history_multistep": train(30, 1e-4, 2, multi),
        "onecycle": onecycle(),
        "multistep_preview": multistep_preview(),
        "runs_wd": {f"weightDecay {wd:g}": train(12, wd, 1, None) for wd in (0.0, 1e-4, 1e-3)},
        "lr_finder": lr_finder(),
    }
    with open(OUT, "w") as f:
        json.dump(fixture, f)
    h = fixture["history_multistep"]["epochs"]
    print(f"wrote {OUT}: final train {h[-1]['trainLoss']:.4f} valid {h[-1]['validLoss']:.4f}, "
          f"finder {len(fixture['lr_finder']['lrs'])} lrs, suggested {fixture['lr_finder']['suggestedLr']:.3g}")


if __name__ == "__main__":
    main()
