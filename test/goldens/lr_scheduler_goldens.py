#!/usr/bin/env python3
"""Goldens for tsdl's lrScheduler, computed by real PyTorch (torch.optim.lr_scheduler).

Run:  /usr/bin/python3 test/goldens/lr_scheduler_goldens.py
Writes test/fixtures/lr_scheduler_goldens.json. Every case is declarative (camelCase options, as in tsdl),
so test/lrScheduler.golden.test.ts builds the same schedules from the same description.

A case: groups (lr per group), optimizer "sgd" | "adam", a list of top-level scheduler specs (all stepped, in
order, once per step: several specs = several schedulers chained on one optimizer without a wrapper), steps,
optional per-step metrics (ReduceLROnPlateau) or epoch arguments (CosineAnnealingWarmRestarts), and an
optional state-dict round trip after k steps (state saved, schedulers rebuilt on a fresh optimizer, optimizer
and scheduler states loaded, run continued). Expected: lr[group][t] (t = 0 after construction, then after
each step) and, when a schedule cycles it, momentum[group][t] (SGD momentum or Adam's beta1).
"""
import json
import math
import os
import re

import torch
from torch.optim import lr_scheduler as S

LAMBDAS = {
    "pow095": lambda e: 0.95 ** e,
    "inv": lambda e: 1.0 / (1 + e),
    "halfEvery3": lambda e: 0.5 ** (e // 3),
    "const09": lambda e: 0.9,
    "alt": lambda e: 0.9 if e % 2 else 1.05,
}
SPECIAL = {"tMax": "T_max", "t0": "T_0", "tMult": "T_mult"}


def snake(k):
    return SPECIAL.get(k) or re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), k)


def build(opt, spec):
    t = spec["type"]
    if t == "SequentialLR":
        children = [build(opt, c) for c in spec["schedulers"]]
        return S.SequentialLR(opt, children, milestones=spec["milestones"])
    if t == "ChainedScheduler":
        children = [build(opt, c) for c in spec["schedulers"]]
        return S.ChainedScheduler(children)
    kw = {}
    for k, v in spec.get("options", {}).items():
        if k == "lrLambda":
            v = [LAMBDAS[n] for n in v] if isinstance(v, list) else LAMBDAS[v]
        kw[snake(k)] = v
    return getattr(S, t)(opt, **kw)


def make_optimizer(case):
    params = []
    for g in case["groups"]:
        p = torch.zeros(1, requires_grad=True)
        p.grad = torch.zeros(1)
        params.append({"params": [p], "lr": g["lr"]})
    if case.get("optimizer", "sgd") == "adam":
        return torch.optim.Adam(params, lr=0.001, betas=(0.9, 0.999))
    return torch.optim.SGD(params, lr=0.001, momentum=case.get("momentum", 0.0))


def cycles_momentum(spec):
    if spec["type"] in ("CyclicLR", "OneCycleLR"):
        return spec.get("options", {}).get("cycleMomentum", True)
    return any(cycles_momentum(c) for c in spec.get("schedulers", []))


def jsonable(v):
    if isinstance(v, float) and math.isinf(v):
        return None
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items() if jsonable_ok(x)}
    return v


def jsonable_ok(v):
    if callable(v) or v is None and False:
        return False
    try:
        json.dumps(jsonable(v) if not callable(v) else None)
        return True
    except TypeError:
        return False


def torch_state(s):
    sd = s.state_dict()
    return {k: jsonable(v) for k, v in sd.items() if jsonable_ok(v)}


def run(case):
    opt = make_optimizer(case)
    scheds = [build(opt, s) for s in case["schedulers"]]
    momentum = any(cycles_momentum(s) for s in case["schedulers"])
    adam = case.get("optimizer", "sgd") == "adam"
    lr = [[] for _ in opt.param_groups]
    mom = [[] for _ in opt.param_groups]

    def record():
        for i, g in enumerate(opt.param_groups):
            lr[i].append(float(g["lr"]))
            if momentum:
                mom[i].append(float(g["betas"][0] if adam else g["momentum"]))

    record()
    torch_sd = None
    for t in range(case["steps"]):
        if case.get("roundTrip") == t:
            if case.get("torchState"):
                torch_sd = {"afterSteps": t, "groupLrs": [float(g["lr"]) for g in opt.param_groups],
                            "states": [torch_state(s) for s in scheds]}
            # torch 1.13 puts CyclicLR's weakref to its own scale method in the state (a bug fixed in 2.x, which
            # drops it): drop it here too, or the loaded scheduler would call the dead old scheduler's method.
            sds = [{k: v for k, v in s.state_dict().items() if k != "_scale_fn_ref"} for s in scheds]
            opt_sd = opt.state_dict()
            opt = make_optimizer(case)
            scheds = [build(opt, s) for s in case["schedulers"]]
            opt.load_state_dict(opt_sd)
            for s, sd in zip(scheds, sds):
                s.load_state_dict(sd)
        opt.step()
        for s in scheds:
            if "metrics" in case:
                s.step(case["metrics"][t])
            elif "epochArgs" in case and case["epochArgs"][t] is not None:
                s.step(case["epochArgs"][t])
            else:
                s.step()
        record()
    out = {"lr": lr}
    if momentum:
        out["momentum"] = mom
    if torch_sd is not None:
        out["torchState"] = torch_sd
    return out


TWO = [{"lr": 0.05}, {"lr": 0.5}]


def sched(t, **options):
    return {"type": t, "options": options}


CASES = []


def case(name, schedulers, steps, groups=TWO, **extra):
    CASES.append({"name": name, "groups": groups, "schedulers": schedulers, "steps": steps, **extra})


# Each scheduler on two groups.
case("LambdaLR one function", [sched("LambdaLR", lrLambda="pow095")], 12)
case("LambdaLR per group", [sched("LambdaLR", lrLambda=["halfEvery3", "inv"])], 12)
case("MultiplicativeLR one function", [sched("MultiplicativeLR", lrLambda="const09")], 12)
case("MultiplicativeLR per group", [sched("MultiplicativeLR", lrLambda=["alt", "const09"])], 12)
case("StepLR", [sched("StepLR", stepSize=3, gamma=0.5)], 14)
case("StepLR default gamma", [sched("StepLR", stepSize=4)], 10)
case("MultiStepLR repeated milestone", [sched("MultiStepLR", milestones=[2, 5, 5, 9], gamma=0.1)], 12)
case("ConstantLR", [sched("ConstantLR", factor=0.25, totalIters=4)], 8)
case("ConstantLR defaults", [sched("ConstantLR")], 8)
case("LinearLR warmup (doc example)", [sched("LinearLR", startFactor=0.05, totalIters=40)], 45)
case("LinearLR decay", [sched("LinearLR", startFactor=1.0, endFactor=0.1, totalIters=5)], 8)
case("ExponentialLR", [sched("ExponentialLR", gamma=0.9)], 12)
case("PolynomialLR power 0.9", [sched("PolynomialLR", totalIters=50, power=0.9)], 55)
case("PolynomialLR power 2", [sched("PolynomialLR", totalIters=4, power=2.0)], 7)
case("CosineAnnealingLR past tMax", [sched("CosineAnnealingLR", tMax=10, etaMin=0.001)], 35)
case("CosineAnnealingLR tMax 2", [sched("CosineAnnealingLR", tMax=2)], 8)

# Two schedulers chained on one optimizer, without a wrapper.
case("StepLR + ExponentialLR on one optimizer", [sched("StepLR", stepSize=2, gamma=0.5), sched("ExponentialLR", gamma=0.9)], 10)
case("CosineAnnealingLR + MultiStepLR on one optimizer",
     [sched("CosineAnnealingLR", tMax=6, etaMin=0.0), sched("MultiStepLR", milestones=[3, 8], gamma=0.5)], 14)

# SequentialLR.
case("SequentialLR ConstantLR then ExponentialLR (doc)",
     [{"type": "SequentialLR", "schedulers": [sched("ConstantLR", factor=0.1, totalIters=20), sched("ExponentialLR", gamma=0.9)], "milestones": [20]}], 25)
case("SequentialLR warmup then cosine",
     [{"type": "SequentialLR", "schedulers": [sched("LinearLR", startFactor=0.1, endFactor=1.0, totalIters=5), sched("CosineAnnealingLR", tMax=15, etaMin=0.0)], "milestones": [5]}], 22)
case("SequentialLR three schedules",
     [{"type": "SequentialLR", "schedulers": [sched("LinearLR", startFactor=0.5, totalIters=3), sched("ConstantLR", factor=0.5, totalIters=2), sched("StepLR", stepSize=2, gamma=0.5)], "milestones": [3, 6]}], 14)
case("SequentialLR into LambdaLR",
     [{"type": "SequentialLR", "schedulers": [sched("ConstantLR", factor=0.2, totalIters=3), sched("LambdaLR", lrLambda="pow095")], "milestones": [4]}], 10)
case("SequentialLR into MultiplicativeLR",
     [{"type": "SequentialLR", "schedulers": [sched("ExponentialLR", gamma=0.5), sched("MultiplicativeLR", lrLambda="const09")], "milestones": [3]}], 8)
case("SequentialLR into CosineAnnealingWarmRestarts",
     [{"type": "SequentialLR", "schedulers": [sched("LinearLR", startFactor=0.25, totalIters=3), sched("CosineAnnealingWarmRestarts", t0=4, tMult=2)], "milestones": [3]}], 20)

# ChainedScheduler, and nesting.
case("ChainedScheduler ConstantLR + ExponentialLR (doc)",
     [{"type": "ChainedScheduler", "schedulers": [sched("ConstantLR", factor=0.1, totalIters=20), sched("ExponentialLR", gamma=0.9)]}], 25)
case("ChainedScheduler StepLR + CosineAnnealingLR",
     [{"type": "ChainedScheduler", "schedulers": [sched("StepLR", stepSize=3, gamma=0.5), sched("CosineAnnealingLR", tMax=5)]}], 12)
case("ChainedScheduler of a SequentialLR and an ExponentialLR (nested)",
     [{"type": "ChainedScheduler", "schedulers": [
         {"type": "SequentialLR", "schedulers": [sched("LinearLR", startFactor=0.2, totalIters=4), sched("CosineAnnealingLR", tMax=8)], "milestones": [4]},
         sched("ExponentialLR", gamma=0.95)]}], 16)
case("ChainedScheduler of a ChainedScheduler (nested)",
     [{"type": "ChainedScheduler", "schedulers": [
         {"type": "ChainedScheduler", "schedulers": [sched("StepLR", stepSize=2, gamma=0.5), sched("ExponentialLR", gamma=0.9)]},
         sched("MultiStepLR", milestones=[5], gamma=0.1)]}], 10)

# ReduceLROnPlateau: each mode and threshold mode, with cooldown and per-group minLr.
down = [1.0, 0.9, 0.95, 0.9, 0.89995, 0.91, 0.85, 0.86, 0.87, 0.88, 0.849, 0.9, 0.9, 0.9, 0.9, 0.9,
        0.8, 0.81, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8]
up = [2.0 - m for m in down]
for mode, metrics in (("min", down), ("max", up)):
    for tm, th in (("rel", 0.01), ("abs", 0.01)):
        case(f"ReduceLROnPlateau {mode}/{tm} cooldown minLr",
             [sched("ReduceLROnPlateau", mode=mode, factor=0.5, patience=2, threshold=th, thresholdMode=tm, cooldown=2, minLr=[0.01, 0.05])],
             len(metrics), metrics=metrics)
case("ReduceLROnPlateau defaults", [sched("ReduceLROnPlateau")], 30, metrics=[1.0] * 30)
case("ReduceLROnPlateau eps skips tiny cuts", [sched("ReduceLROnPlateau", factor=0.5, patience=0, minLr=0.049, eps=0.01)], 6, metrics=[1.0] * 6)

# CyclicLR in each mode, with momentum.
for mode, extra in (("triangular", {}), ("triangular2", {}), ("exp_range", {"gamma": 0.97})):
    case(f"CyclicLR {mode} with momentum",
         [sched("CyclicLR", baseLr=[0.01, 0.1], maxLr=[0.1, 1.0], stepSizeUp=4, stepSizeDown=6, mode=mode, **extra)], 40, momentum=0.9)
case("CyclicLR symmetric, one base lr, per-group momentum bounds",
     [sched("CyclicLR", baseLr=0.001, maxLr=0.006, stepSizeUp=5, baseMomentum=[0.8, 0.7], maxMomentum=[0.9, 0.95])], 25, momentum=0.9)
case("CyclicLR without momentum", [sched("CyclicLR", baseLr=0.01, maxLr=0.1, stepSizeUp=3, cycleMomentum=False)], 15)
case("CyclicLR turns momentum on for SGD(momentum=0)", [sched("CyclicLR", baseLr=0.01, maxLr=0.1, stepSizeUp=3)], 8, momentum=0.0)

# OneCycleLR.
case("OneCycleLR two-phase cos", [sched("OneCycleLR", maxLr=[0.1, 1.0], totalSteps=20)], 20, momentum=0.9)
case("OneCycleLR three-phase linear", [sched("OneCycleLR", maxLr=[0.1, 1.0], totalSteps=20, threePhase=True, annealStrategy="linear")], 20, momentum=0.9)
case("OneCycleLR three-phase cos, pctStart 0.25, epochs x stepsPerEpoch",
     [sched("OneCycleLR", maxLr=0.5, epochs=4, stepsPerEpoch=6, pctStart=0.25, threePhase=True, divFactor=10.0, finalDivFactor=100.0)], 24, momentum=0.9)
case("OneCycleLR Adam betas", [sched("OneCycleLR", maxLr=[0.01, 0.003], totalSteps=15, baseMomentum=0.8, maxMomentum=0.9)], 15,
     optimizer="adam")
case("OneCycleLR linear extrapolates at totalSteps",
     [sched("OneCycleLR", maxLr=25.0, totalSteps=10, annealStrategy="linear", finalDivFactor=2.0, cycleMomentum=False)], 10, groups=[{"lr": 0.1}])

# CosineAnnealingWarmRestarts: per epoch, fractional and jumping epochs.
case("CosineAnnealingWarmRestarts tMult 2", [sched("CosineAnnealingWarmRestarts", t0=3, tMult=2, etaMin=0.001)], 30)
case("CosineAnnealingWarmRestarts tMult 1", [sched("CosineAnnealingWarmRestarts", t0=5)], 16)
frac = [e + i / 4 for e in range(4) for i in range(4)][1:] + [26, None, None, 7.5, None, 100.25, 3.0, None]
case("CosineAnnealingWarmRestarts fractional and jumping epochs, tMult 2",
     [sched("CosineAnnealingWarmRestarts", t0=2, tMult=2, etaMin=0.01)], len(frac), epochArgs=frac)
frac1 = [0.5, 1.0, 1.5, 2.25, 9.75, None, None, 30.0, 4.999, None]
case("CosineAnnealingWarmRestarts fractional and jumping epochs, tMult 1",
     [sched("CosineAnnealingWarmRestarts", t0=4, etaMin=0.0)], len(frac1), epochArgs=frac1)

# State-dict round trips in the middle of a schedule.
case("round trip StepLR", [sched("StepLR", stepSize=3, gamma=0.5)], 12, roundTrip=5, torchState=True)
case("round trip MultiStepLR", [sched("MultiStepLR", milestones=[3, 7, 7], gamma=0.5)], 12, roundTrip=4)
case("round trip LinearLR", [sched("LinearLR", startFactor=0.1, totalIters=8)], 12, roundTrip=3, torchState=True)
case("round trip CosineAnnealingLR", [sched("CosineAnnealingLR", tMax=10, etaMin=0.001)], 25, roundTrip=13, torchState=True)
case("round trip two schedulers on one optimizer", [sched("StepLR", stepSize=2, gamma=0.5), sched("ExponentialLR", gamma=0.9)], 10, roundTrip=5)
case("round trip SequentialLR",
     [{"type": "SequentialLR", "schedulers": [sched("LinearLR", startFactor=0.1, totalIters=5), sched("CosineAnnealingLR", tMax=10)], "milestones": [5]}],
     15, roundTrip=7, torchState=True)
case("round trip ChainedScheduler",
     [{"type": "ChainedScheduler", "schedulers": [sched("ConstantLR", factor=0.5, totalIters=4), sched("ExponentialLR", gamma=0.9)]}], 10, roundTrip=3)
case("round trip ReduceLROnPlateau", [sched("ReduceLROnPlateau", factor=0.5, patience=1, cooldown=1, threshold=0.01)], len(down),
     metrics=down, roundTrip=9, torchState=True)
case("round trip ReduceLROnPlateau before any improvement", [sched("ReduceLROnPlateau", mode="max", factor=0.5, patience=3)], 8,
     metrics=[0.5] * 8, roundTrip=0, torchState=True)
case("round trip CyclicLR", [sched("CyclicLR", baseLr=0.01, maxLr=0.1, stepSizeUp=4, mode="triangular2")], 30, roundTrip=11, momentum=0.9)
case("round trip OneCycleLR", [sched("OneCycleLR", maxLr=0.1, totalSteps=16)], 16, roundTrip=8, momentum=0.9)
case("round trip CosineAnnealingWarmRestarts", [sched("CosineAnnealingWarmRestarts", t0=2, tMult=3)], 20, roundTrip=10, torchState=True)

# The tutorial: lr 0.1 for epochs 0-19, then 0.01.
case("tutorial MultiStepLR", [sched("MultiStepLR", milestones=[20], gamma=0.1)], 29, groups=[{"lr": 0.1}], momentum=0.9)


def main():
    import warnings
    warnings.simplefilter("ignore")
    out = {"torch": torch.__version__, "generator": "test/goldens/lr_scheduler_goldens.py", "cases": []}
    for c in CASES:
        out["cases"].append({**c, "expected": run(c)})
    path = os.path.join(os.path.dirname(__file__), "..", "fixtures", "lr_scheduler_goldens.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {len(CASES)} cases to {os.path.normpath(path)}")


if __name__ == "__main__":
    main()
