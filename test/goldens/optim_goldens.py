#!/usr/bin/python3
"""Parameter trajectories of torch.optim optimizers, the reference for test/optim-goldens.test.ts.

Run with Debian's python3-torch (1.13):  /usr/bin/python3 test/goldens/optim_goldens.py
Writes test/fixtures/optim_goldens.json.

Each case: three float32 parameters (w [3,4], b [4], c [2,3]) from a fixed seed, the loss
    L = sum_p sum(0.5*a_p*p^2 + 0.3*sin(3p) + 0.1*p)       (gradient a_p*p + 0.9cos(3p) + 0.1)
and `steps` steps of  zero_grad(); L.backward(); [drop some grads]; opt.step().
Before step t, every edit {step: t, group, key, value} is applied to param_groups[group] (group "all": every group),
like a user or a scheduler editing the groups between steps. The gradients fed to each step and the parameters
after each step are recorded, so the TypeScript side can replay the same gradients and compare parameters.
Options are written in tsdl's camelCase; they are mapped to torch's names here.

torch 1.13's Adam has no `decoupled_weight_decay` (added in 2.x, where Adam(decoupled_weight_decay=True) *is*
AdamW): those cases are generated with torch.optim.AdamW, which is the same math.
"""
import json
import math
import os

import torch

SNAKE = {
    "lr": "lr", "momentum": "momentum", "dampening": "dampening", "weightDecay": "weight_decay",
    "nesterov": "nesterov", "maximize": "maximize", "betas": "betas", "eps": "eps", "amsgrad": "amsgrad",
    "alpha": "alpha", "centered": "centered", "lrDecay": "lr_decay",
    "initialAccumulatorValue": "initial_accumulator_value",
}
SHAPES = {"w": [3, 4], "b": [4], "c": [2, 3]}
CURVATURE = {"w": 1.0, "b": 0.5, "c": 2.0}
STEPS = 8


def snake(opts):
    out = {}
    for k, v in opts.items():
        if k == "decoupledWeightDecay":
            continue
        out[SNAKE[k]] = tuple(v) if k == "betas" else v
    return out


def make_optimizer(kind, groups, defaults, params):
    torch_groups = [dict(params=[params[n] for n in g["params"]], **snake(g.get("options", {}))) for g in groups]
    d = snake(defaults)
    if kind == "Adam" and (defaults.get("decoupledWeightDecay") or any(g.get("options", {}).get("decoupledWeightDecay") for g in groups)):
        return torch.optim.AdamW(torch_groups, **d)  # == Adam(decoupled_weight_decay=True) in torch 2.x
    return getattr(torch.optim, kind)(torch_groups, **d)


def run(case):
    gen = torch.Generator().manual_seed(case.get("seed", 0))
    params = {n: torch.randn(*s, generator=gen, dtype=torch.float32).requires_grad_() for n, s in SHAPES.items()}
    init = {n: p.detach().flatten().tolist() for n, p in params.items()}
    opt = make_optimizer(case["optimizer"], case["groups"], case.get("defaults", {}), params)
    grads_log, params_log = [], []
    for t in range(case.get("steps", STEPS)):
        for e in case.get("edits", []):
            if e["step"] != t:
                continue
            targets = opt.param_groups if e["group"] == "all" else [opt.param_groups[e["group"]]]
            for g in targets:
                g[SNAKE[e["key"]]] = tuple(e["value"]) if e["key"] == "betas" else e["value"]
        opt.zero_grad()
        loss = sum((0.5 * CURVATURE[n] * p * p + 0.3 * torch.sin(3 * p) + 0.1 * p).sum() for n, p in params.items())
        loss.backward()
        for s in case.get("skip", []):
            if s["step"] == t:
                params[s["param"]].grad = None  # PyTorch skips parameters whose .grad is None
        grads_log.append({n: p.grad.flatten().tolist() for n, p in params.items() if p.grad is not None})
        opt.step()
        params_log.append({n: p.detach().flatten().tolist() for n, p in params.items()})
    out = dict(case)
    out.update(shapes=SHAPES, init=init, grads=grads_log, params=params_log, steps=case.get("steps", STEPS))
    return out


ALL = ["w", "b", "c"]
ONE = [{"params": ALL}]


def case(name, optimizer, defaults, groups=None, **kw):
    return dict(name=name, optimizer=optimizer, defaults=defaults, groups=groups or ONE, **kw)


CASES = [
    # SGD
    case("sgd_plain", "SGD", {"lr": 0.1}),
    case("sgd_weight_decay", "SGD", {"lr": 0.1, "weightDecay": 0.1}),
    case("sgd_momentum", "SGD", {"lr": 0.1, "momentum": 0.9}),
    case("sgd_momentum_dampening", "SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.5}),
    case("sgd_nesterov", "SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    case("sgd_momentum_weight_decay", "SGD", {"lr": 0.05, "momentum": 0.9, "weightDecay": 0.01}),
    case("sgd_maximize_momentum", "SGD", {"lr": 0.05, "momentum": 0.8, "maximize": True}),
    case("sgd_course", "SGD", {"lr": 0.01, "weightDecay": 1e-4}),
    case("sgd_lr_edit", "SGD", {"lr": 0.1, "momentum": 0.9},
         edits=[{"step": 3, "group": "all", "key": "lr", "value": 0.01}, {"step": 6, "group": 0, "key": "lr", "value": 1e-5}]),
    case("sgd_weight_decay_edit", "SGD", {"lr": 0.1, "momentum": 0.5},
         edits=[{"step": 2, "group": 0, "key": "weightDecay", "value": 0.2}, {"step": 5, "group": 0, "key": "weightDecay", "value": 0.0}]),
    case("sgd_momentum_edit", "SGD", {"lr": 0.1, "momentum": 0.9},
         edits=[{"step": 2, "group": 0, "key": "momentum", "value": 0.5}, {"step": 4, "group": 0, "key": "momentum", "value": 0.0},
                {"step": 6, "group": 0, "key": "momentum", "value": 0.9}]),
    case("sgd_momentum_enabled_mid_run", "SGD", {"lr": 0.1},
         edits=[{"step": 3, "group": 0, "key": "momentum", "value": 0.9}, {"step": 5, "group": 0, "key": "dampening", "value": 0.3}]),
    case("sgd_two_groups", "SGD", {"lr": 0.1, "momentum": 0.9},
         groups=[{"params": ["w", "c"], "options": {"weightDecay": 0.1, "nesterov": True}},
                 {"params": ["b"], "options": {"lr": 0.3, "momentum": 0.0}}],
         edits=[{"step": 4, "group": 1, "key": "lr", "value": 0.03}]),
    case("sgd_missing_grads", "SGD", {"lr": 0.1, "momentum": 0.9},
         skip=[{"step": 0, "param": "b"}, {"step": 3, "param": "w"}, {"step": 4, "param": "w"}]),
    # Adam
    case("adam_default", "Adam", {"lr": 0.05}),
    case("adam_betas_eps", "Adam", {"lr": 0.05, "betas": [0.8, 0.99], "eps": 1e-3}),
    case("adam_amsgrad", "Adam", {"lr": 0.05, "amsgrad": True}),
    case("adam_weight_decay_coupled", "Adam", {"lr": 0.05, "weightDecay": 0.1}),
    case("adam_maximize", "Adam", {"lr": 0.05, "maximize": True}),
    case("adam_decoupled_lr_edit", "Adam", {"lr": 0.05, "weightDecay": 0.1, "decoupledWeightDecay": True},
         edits=[{"step": 3, "group": 0, "key": "lr", "value": 0.01}, {"step": 6, "group": 0, "key": "lr", "value": 0.1}]),
    case("adam_betas_edit", "Adam", {"lr": 0.05},
         edits=[{"step": 3, "group": 0, "key": "betas", "value": [0.5, 0.9]}]),
    case("adam_two_groups", "Adam", {"lr": 0.05},
         groups=[{"params": ["w"], "options": {"amsgrad": True, "weightDecay": 0.05}},
                 {"params": ["b", "c"], "options": {"lr": 0.01, "betas": [0.5, 0.6]}}]),
    case("adam_missing_grads", "Adam", {"lr": 0.05},
         skip=[{"step": 0, "param": "c"}, {"step": 1, "param": "c"}, {"step": 5, "param": "b"}]),
    # AdamW
    case("adamw_default", "AdamW", {"lr": 0.05}),
    case("adamw_weight_decay_lr_edit", "AdamW", {"lr": 0.05, "weightDecay": 0.1},
         edits=[{"step": 2, "group": 0, "key": "lr", "value": 0.2}, {"step": 5, "group": 0, "key": "lr", "value": 0.005}]),
    case("adamw_amsgrad", "AdamW", {"lr": 0.05, "amsgrad": True, "weightDecay": 0.05}),
    case("adamw_maximize", "AdamW", {"lr": 0.05, "maximize": True}),
    case("adamw_weight_decay_edit", "AdamW", {"lr": 0.05, "weightDecay": 0.0},
         edits=[{"step": 3, "group": 0, "key": "weightDecay", "value": 0.5}]),
    case("adamw_two_groups", "AdamW", {"lr": 0.05, "weightDecay": 0.1},
         groups=[{"params": ["w", "c"]}, {"params": ["b"], "options": {"weightDecay": 0.0}}]),
    # RMSprop
    case("rmsprop_default", "RMSprop", {"lr": 0.01}),
    case("rmsprop_momentum", "RMSprop", {"lr": 0.01, "momentum": 0.9}),
    case("rmsprop_centered", "RMSprop", {"lr": 0.01, "centered": True}),
    case("rmsprop_centered_momentum_weight_decay", "RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5, "weightDecay": 0.1}),
    case("rmsprop_maximize", "RMSprop", {"lr": 0.01, "alpha": 0.9, "maximize": True}),
    case("rmsprop_alpha_lr_edit", "RMSprop", {"lr": 0.01, "momentum": 0.9},
         edits=[{"step": 3, "group": 0, "key": "alpha", "value": 0.5}, {"step": 5, "group": 0, "key": "lr", "value": 0.05}]),
    # Adagrad
    case("adagrad_default", "Adagrad", {"lr": 0.1}),
    case("adagrad_lr_decay", "Adagrad", {"lr": 0.1, "lrDecay": 0.1}),
    case("adagrad_initial_accumulator_weight_decay", "Adagrad", {"lr": 0.1, "initialAccumulatorValue": 0.5, "weightDecay": 0.1}),
    case("adagrad_maximize_eps", "Adagrad", {"lr": 0.1, "maximize": True, "eps": 1e-3}),
    case("adagrad_missing_grads_lr_edit", "Adagrad", {"lr": 0.1, "lrDecay": 0.05},
         skip=[{"step": 1, "param": "w"}], edits=[{"step": 4, "group": 0, "key": "lr", "value": 0.5}]),
]


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = {"torch": torch.__version__, "generator": "test/goldens/optim_goldens.py", "cases": [run(c) for c in CASES]}
    path = os.path.join(root, "fixtures", "optim_goldens.json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print(f"wrote {len(CASES)} cases to {path}")


if __name__ == "__main__":
    main()
