#!/usr/bin/python3
"""
gen_optim.py - writes the optimizer and learning-rate schedule fixtures of
libnn under tests/ref/optim/ from PyTorch 1.13 (Debian's python3-torch) and,
for Adafactor, from the NumPy reference in adafactor_ref.py.

Run from the repository root:  /usr/bin/python3 tests/ref/gen_optim.py

Optimizer fixtures, one file per configuration, NAME.bin:
  a text header line ending in '\\n':
      NNOPTFIX1 name=NAME kind=KIND steps=S shapes=4x3,3,2x2x3 [key=value ...]
    where the keys are nn_optim_cfg field names (lr, momentum, ...), plus
    nodecay=i,j (parameters excluded from weight decay, by index). Fields
    not listed are left zero in the C test, i.e. take libnn's defaults, so
    the fixtures also check that those defaults equal torch's.
  then little-endian float64 arrays, P = total parameter count:
      init[P], grads[S][P], ref64[S][P], ref32[S][P]
    ref64 holds the parameters after every step computed by torch in
    float64 (the reference the test checks against), ref32 the same in
    torch float32 (how far torch's own float32 arithmetic strays). init and
    grads are float32 values, so float32 and float64 runs start equal.

Schedule fixtures, schedules.txt, one schedule per line:
  SPEC BASE_LR EPOCHS N lr_0 ... lr_{N-1}
  and, after a plateau schedule, a line: metrics N m_0 ... m_{N-1}
  lr_e is the learning rate torch.optim.lr_scheduler sets for epoch e.
"""

import math
import os
import struct
import sys

import numpy as np
import torch
from torch.optim import lr_scheduler as L

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from adafactor_ref import Adafactor  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "optim")
SHAPES = [(4, 3), (3,), (2, 2, 3)]
STEPS = 15

# name, kind, hyperparameters in libnn's field names, options
CONFIGS = [
    ("sgd", "sgd", dict(lr=0.1), {}),
    ("sgd_wd", "sgd", dict(lr=0.1, weight_decay=0.05), {}),
    ("sgd_wd_nodecay", "sgd", dict(lr=0.1, weight_decay=0.2), dict(nodecay=[1])),
    ("sgd_decoupled", "sgd", dict(lr=0.1, weight_decay=0.1, decoupled=1), {}),
    ("momentum", "momentum", dict(lr=0.05, momentum=0.9), {}),
    ("momentum_damp", "momentum",
     dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01), {}),
    ("momentum_decoupled", "momentum",
     dict(lr=0.05, momentum=0.9, weight_decay=0.1, decoupled=1), dict(nodecay=[1])),
    ("nesterov", "nesterov", dict(lr=0.05, momentum=0.9, weight_decay=0.01), {}),
    ("adagrad", "adagrad", dict(), {}),
    ("adagrad_decay", "adagrad",
     dict(lr=0.1, lr_decay=0.05, weight_decay=0.02, initial_accumulator_value=0.1), {}),
    ("adadelta", "adadelta", dict(), {}),
    ("adadelta_wd", "adadelta", dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.05), {}),
    ("rmsprop", "rmsprop", dict(), {}),
    ("rmsprop_centered_momentum", "rmsprop",
     dict(lr=0.01, alpha=0.9, momentum=0.9, centered=1, weight_decay=0.01), {}),
    ("rmsprop_momentum", "rmsprop", dict(lr=0.005, momentum=0.5), {}),
    ("adam", "adam", dict(lr=0.05), {}),
    ("adam_defaults", "adam", dict(), {}),
    ("adam_amsgrad", "adam", dict(lr=0.05, beta1=0.8, beta2=0.99, amsgrad=1), {}),
    ("adam_wd", "adam", dict(lr=0.05, weight_decay=0.1), {}),
    ("adamw", "adamw", dict(lr=0.05, weight_decay=0.1), {}),
    ("adamw_defaults", "adamw", dict(), {}),
    ("adamw_amsgrad_nodecay", "adamw",
     dict(lr=0.05, weight_decay=0.2, amsgrad=1, eps=1e-6), dict(nodecay=[1, 2])),
    ("adafactor", "adafactor", dict(), {}),
    ("adafactor_wd", "adafactor", dict(lr=0.05, weight_decay=0.5), {}),
    # zero initial bias: RMS(theta) = 0, so the eps2 floor sets the step
    ("adafactor_floor", "adafactor",
     dict(lr=0.02, beta2_decay=-0.5, eps2=1e-2, clip_threshold=2.0),
     dict(zero_bias=True)),
    # every hyperparameter each kind reads, away from its default: the CLI
    # test (test_knobs.c) sets them through nn train's flags
    ("sgd_all", "sgd", dict(lr=0.05, momentum=0.5, dampening=0.2, weight_decay=0.01,
                            decoupled=1), {}),
    ("nesterov_all", "nesterov", dict(lr=0.05, momentum=0.8, weight_decay=0.05,
                                      decoupled=1), {}),
    ("adagrad_all", "adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.2,
                                    eps=1e-6, weight_decay=0.01, decoupled=1), {}),
    ("adadelta_all", "adadelta", dict(lr=0.5, rho=0.85, eps=1e-5, weight_decay=0.02,
                                      decoupled=1), {}),
    ("rmsprop_all", "rmsprop", dict(lr=0.01, alpha=0.95, eps=1e-6, momentum=0.3,
                                    centered=1, weight_decay=0.01, decoupled=1), {}),
    ("adam_all", "adam", dict(lr=0.02, beta1=0.85, beta2=0.995, eps=1e-6, amsgrad=1,
                              weight_decay=0.05, decoupled=1), {}),
    ("adamw_all", "adamw", dict(lr=0.02, beta1=0.8, beta2=0.99, eps=1e-6,
                                weight_decay=0.05), {}),
    ("adafactor_all", "adafactor", dict(lr=0.02, eps=1e-6, eps2=1e-2, beta2_decay=-0.6,
                                        clip_threshold=1.5, weight_decay=0.1), {}),
]


def make_data(seed, zero_bias):
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    if zero_bias:
        init[1][:] = 0
    grads = []
    for t in range(STEPS):
        scale = np.float32(0.3 + 1.7 * rng.random())  # vary the size for amsgrad
        grads.append([(rng.standard_normal(s) * scale).astype(np.float32) for s in SHAPES])
    return init, grads


def torch_optimizer(kind, hp, params, nodecay):
    """The torch.optim optimizer for a configuration; decoupled weight decay
    for kinds other than adamw is applied by the caller (see run_torch)."""
    wd = 0.0 if hp.get("decoupled") else hp.get("weight_decay", 0.0)
    if kind == "adamw":
        wd = hp.get("weight_decay", 1e-2)
    groups = [{"params": [p], "weight_decay": 0.0 if i in nodecay else wd}
              for i, p in enumerate(params)]
    lr = hp.get("lr")
    if kind in ("sgd", "momentum", "nesterov"):
        return torch.optim.SGD(groups, lr=lr, momentum=hp.get("momentum", 0.0),
                               dampening=hp.get("dampening", 0.0),
                               nesterov=kind == "nesterov", foreach=False)
    if kind == "adagrad":
        return torch.optim.Adagrad(groups, **kw(hp, lr=0.01, lr_decay=0.0,
                                                initial_accumulator_value=0.0,
                                                eps=1e-10), foreach=False)
    if kind == "adadelta":
        return torch.optim.Adadelta(groups, **kw(hp, lr=1.0, rho=0.9, eps=1e-6),
                                    foreach=False)
    if kind == "rmsprop":
        k = kw(hp, lr=0.01, alpha=0.99, eps=1e-8, momentum=0.0)
        return torch.optim.RMSprop(groups, centered=bool(hp.get("centered")), **k,
                                   foreach=False)
    if kind in ("adam", "adamw"):
        cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
        return cls(groups, lr=hp.get("lr", 1e-3),
                   betas=(hp.get("beta1", 0.9), hp.get("beta2", 0.999)),
                   eps=hp.get("eps", 1e-8), amsgrad=bool(hp.get("amsgrad")),
                   foreach=False)
    raise ValueError(kind)


def kw(hp, **defaults):
    return {k: hp.get(k, v) for k, v in defaults.items()}


def run_torch(kind, hp, nodecay, init, grads, dtype):
    params = [torch.nn.Parameter(torch.tensor(x, dtype=dtype)) for x in init]
    opt = torch_optimizer(kind, hp, params, nodecay)
    decoupled = hp.get("decoupled") and kind != "adamw"
    out = []
    for g in grads:
        for p, gi in zip(params, g):
            p.grad = torch.tensor(gi, dtype=dtype)
        if decoupled:  # p *= 1 - lr wd, then the update without coupled decay
            with torch.no_grad():
                for i, p in enumerate(params):
                    if i not in nodecay:
                        p.mul_(1 - hp["lr"] * hp["weight_decay"])
        opt.step()
        out.append(np.concatenate([p.detach().double().numpy().ravel() for p in params]))
    return np.array(out)


def run_adafactor(hp, nodecay, init, grads, dtype):
    params = [np.array(x, dtype=dtype) for x in init]
    opt = Adafactor(params, lr=hp.get("lr", 1e-2), beta2_decay=hp.get("beta2_decay", -0.8),
                    eps1=hp.get("eps"), eps2=hp.get("eps2", 1e-3),
                    d=hp.get("clip_threshold", 1.0),
                    weight_decay=hp.get("weight_decay", 0.0),
                    decay_mask=[i not in nodecay for i in range(len(params))])
    out = []
    for g in grads:
        opt.step([np.array(x, dtype=dtype) for x in g])
        out.append(np.concatenate([p.astype(np.float64).ravel() for p in params]))
    return np.array(out)


def fmt(v):
    return repr(float(v)) if isinstance(v, float) else str(v)


def write_optim(seed, name, kind, hp, opts):
    nodecay = opts.get("nodecay", [])
    init, grads = make_data(seed, opts.get("zero_bias", False))
    if kind == "adafactor":
        r64 = run_adafactor(hp, nodecay, init, grads, np.float64)
        r32 = run_adafactor(hp, nodecay, init, grads, np.float32)
    else:
        r64 = run_torch(kind, hp, nodecay, init, grads, torch.float64)
        r32 = run_torch(kind, hp, nodecay, init, grads, torch.float32)
    fields = " ".join(f"{k}={fmt(v)}" for k, v in hp.items())
    shapes = ",".join("x".join(str(d) for d in s) for s in SHAPES)
    head = f"NNOPTFIX1 name={name} kind={kind} steps={STEPS} shapes={shapes}"
    if fields:
        head += " " + fields
    if nodecay:
        head += " nodecay=" + ",".join(str(i) for i in nodecay)
    flat_init = np.concatenate([x.ravel() for x in init]).astype(np.float64)
    flat_grads = np.array([np.concatenate([x.ravel() for x in g]) for g in grads],
                          dtype=np.float64)
    with open(os.path.join(OUT, name + ".bin"), "wb") as f:
        f.write((head + "\n").encode())
        for arr in (flat_init, flat_grads, r64, r32):
            f.write(np.ascontiguousarray(arr, dtype="<f8").tobytes())
    disp = np.abs(r64 - flat_init).max()
    dev = np.abs(r32 - r64).max()
    print(f"{name:28s} max displacement {disp:.3g}, torch float32 vs float64 {dev:.3g}")


def check_adamw_equals_decoupled_adam():
    """torch's AdamW is Adam with p *= 1 - lr wd first: the convention libnn
    applies to every optimizer with decoupled = true."""
    init, grads = make_data(99, False)
    hp = dict(lr=0.05, weight_decay=0.1, decoupled=1)
    a = run_torch("adamw", hp, [], init, grads, torch.float64)
    b = run_torch("adam", hp, [], init, grads, torch.float64)
    assert np.allclose(a, b, rtol=1e-13, atol=1e-15), np.abs(a - b).max()


# ---- learning-rate schedules ----------------------------------------------

EPOCHS = 30
PLATEAU_METRICS = [1.0, 0.8, 0.7, 0.69, 0.69, 0.695, 0.7, 0.6, 0.6, 0.6,
                   0.6, 0.6, 0.59995, 0.5, 0.5, 0.51, 0.52, 0.53, 0.4, 0.4,
                   0.4, 0.4, 0.4, 0.4, 0.4, 0.39, 0.39, 0.39, 0.39, 0.39]
LONG_PLATEAU = [1.0, 0.9, 0.8, 0.7, 0.65] + [0.65] * 13 + [0.5, 0.45] + [0.45] * 10
ACCURACY = [0.1, 0.3, 0.5, 0.55, 0.56, 0.56, 0.56, 0.7, 0.7, 0.7, 0.71, 0.71,
            0.71, 0.71, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.95, 0.95, 0.95,
            0.95, 0.95, 0.95, 0.95, 0.95, 0.95]


def sched_main(opt, spec, epochs, warm):
    kind, *args = spec.split(":")
    if kind == "constant":
        return L.LambdaLR(opt, lambda e: 1.0)
    if kind == "step":
        return L.StepLR(opt, step_size=int(args[0]),
                        gamma=float(args[1]) if len(args) > 1 else 0.1)
    if kind == "exp":
        return L.ExponentialLR(opt, gamma=float(args[0]))
    if kind == "cos":
        t_max = int(args[0]) if args else epochs - warm
        return L.CosineAnnealingLR(opt, T_max=t_max,
                                   eta_min=float(args[1]) if len(args) > 1 else 0.0)
    raise ValueError(spec)


def schedule_lrs(spec, base, epochs):
    p = [torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))]
    opt = torch.optim.SGD(p, lr=base)
    terms = spec.split("+")
    if terms[0].startswith("warmup"):
        _, *wargs = terms[0].split(":")
        warm = int(wargs[0])
        start = float(wargs[1]) if len(wargs) > 1 else 1.0 / 3
        first = L.LinearLR(opt, start_factor=start, total_iters=warm)
        main = terms[1] if len(terms) > 1 else "constant"
        second = sched_main(opt, main, epochs, warm)
        s = L.SequentialLR(opt, [first, second], milestones=[warm])
    else:
        s = sched_main(opt, spec, epochs, 0)
    lrs = []
    for _ in range(epochs):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        s.step()
    return lrs


def plateau_lrs(base, metrics, **kwargs):
    p = [torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))]
    opt = torch.optim.SGD(p, lr=base)
    s = L.ReduceLROnPlateau(opt, **kwargs)
    lrs = []
    for m in metrics:
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        s.step(m)
    return lrs


def write_schedules():
    lines = ["# learning rate per epoch from torch.optim.lr_scheduler (PyTorch "
             + torch.__version__ + "), written by gen_optim.py"]

    def emit(spec, base, lrs, metrics=None):
        lines.append(f"{spec} {base!r} {EPOCHS} {len(lrs)} "
                     + " ".join(repr(float(v)) for v in lrs))
        if metrics is not None:
            lines.append(f"metrics {len(metrics)} " + " ".join(repr(float(m)) for m in metrics))

    for spec, base in [("constant", 0.1), ("step:7:0.5", 0.1), ("step:5", 0.3),
                       ("exp:0.9", 0.05), ("cos:10", 0.1), ("cos:12:0.001", 0.02),
                       ("cos", 0.1), ("warmup:5", 0.1), ("warmup:5:0.1+cos", 0.1),
                       ("warmup:3+step:5:0.5", 0.2), ("warmup:4:0.25+exp:0.9", 0.01),
                       ("warmup:6:0.5+cos:8:0.01", 0.05)]:
        emit(spec, base, schedule_lrs(spec, base, EPOCHS))
    emit("plateau", 0.1, plateau_lrs(0.1, LONG_PLATEAU), LONG_PLATEAU)
    emit("plateau:2:0.5", 0.1, plateau_lrs(0.1, PLATEAU_METRICS, patience=2, factor=0.5),
         PLATEAU_METRICS)
    emit("plateau:patience=1:factor=0.3:cooldown=2:threshold=0.01:min_lr=0.002", 0.1,
         plateau_lrs(0.1, PLATEAU_METRICS, patience=1, factor=0.3, cooldown=2,
                     threshold=0.01, min_lr=0.002), PLATEAU_METRICS)
    emit("plateau:patience=0:factor=0.5:threshold_mode=abs:threshold=0.05", 0.1,
         plateau_lrs(0.1, PLATEAU_METRICS, patience=0, factor=0.5, threshold_mode="abs",
                     threshold=0.05), PLATEAU_METRICS)
    emit("plateau:mode=max:patience=2:factor=0.5", 0.1,
         plateau_lrs(0.1, ACCURACY, mode="max", patience=2, factor=0.5), ACCURACY)
    emit("plateau:mode=max:threshold_mode=abs:threshold=0.02:patience=1:factor=0.1:min_lr=1e-4",
         0.1, plateau_lrs(0.1, ACCURACY, mode="max", threshold_mode="abs", threshold=0.02,
                          patience=1, factor=0.1, min_lr=1e-4), ACCURACY)
    with open(os.path.join(OUT, "schedules.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"schedules.txt: {len(lines) - 1} lines")


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    check_adamw_equals_decoupled_adam()
    for seed, (name, kind, hp, opts) in enumerate(CONFIGS, start=1):
        write_optim(seed, name, kind, hp, opts)
    write_schedules()


if __name__ == "__main__":
    main()
