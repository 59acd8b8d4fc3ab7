#!/usr/bin/python3
"""
gen_lbfgs.py - writes the L-BFGS fixtures of libnn under tests/ref/optim/
from torch.optim.LBFGS of PyTorch 1.13 (Debian's python3-torch). Unlike
the other optimizers' fixtures (gen_optim.py), L-BFGS evaluates the loss
itself several times per step, so a fixture holds a whole problem the C
test can evaluate too, and torch's trajectory on it.

Run from the repository root:  /usr/bin/python3 tests/ref/gen_lbfgs.py

One file per configuration, lbfgs_NAME.bin:
  a text header line ending in '\\n':
      NNLBFGS1 name=NAME problem=quad|mlp steps=S P=P [D=.. H=.. N=..]
               [key=value ...]
    with the keys nn_optim_cfg field names (lr, history_size, max_iter,
    max_eval, tolerance_grad, tolerance_change, line_search=strong_wolfe).
    Fields not listed are left zero in the C test (libnn's defaults, which
    must be torch's).
  then little-endian float64 arrays:
    quad:  A[P][P], b[P]       f(x) = 1/2 x'Ax - b'x (in float32 in torch)
    mlp:   X[N][D], Y[N]       mean squared error of a D-H-1 tanh network,
                               parameters W1 (H, D), b1 (H), W2 (1, H), b2 (1)
    init[P]
    then for each step s: loss_s, n_iter_s, func_evals_s, ref64_s[P], ref32_s[P]
    loss_s is the loss step s returns (at its start), n_iter and func_evals
    torch's state counters after it, ref64 the parameters after it in
    float64 (what the test checks against) and ref32 in float32 (how far
    torch's own float32 run strays).
"""

import os
import struct

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "optim")


def quad_problem(seed, P, zero=False):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((P, P)))
    eig = np.geomspace(1.0, 40.0, P)
    A = (q * eig) @ q.T
    A = (A + A.T) / 2
    if zero:  # a linear objective: every gradient difference y is 0
        A = np.zeros((P, P))
    A = A.astype(np.float32).astype(np.float64)
    b = rng.standard_normal(P).astype(np.float32).astype(np.float64)
    x0 = rng.standard_normal(P).astype(np.float32).astype(np.float64)
    return dict(A=A, b=b), x0


def mlp_problem(seed, D, H, N):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, (N, D)).astype(np.float32).astype(np.float64)
    Y = (np.sin(2 * np.pi * X[:, 0]) + 0.1 * rng.standard_normal(N))
    Y = Y.astype(np.float32).astype(np.float64)
    P = H * D + H + H + 1
    x0 = (0.7 * rng.standard_normal(P)).astype(np.float32).astype(np.float64)
    return dict(X=X, Y=Y), x0


def make_objective(problem, data, dims, dtype):
    if problem == "quad":
        A = torch.tensor(data["A"], dtype=dtype)
        b = torch.tensor(data["b"], dtype=dtype)

        def f(x):
            return 0.5 * x @ (A @ x) - b @ x
        return f
    D, H, _ = dims
    X = torch.tensor(data["X"], dtype=dtype)
    Y = torch.tensor(data["Y"], dtype=dtype).reshape(-1, 1)

    def f(x):
        W1 = x[:H * D].reshape(H, D)
        b1 = x[H * D:H * D + H]
        W2 = x[H * D + H:H * D + 2 * H].reshape(1, H)
        b2 = x[H * D + 2 * H:]
        out = torch.tanh(X @ W1.T + b1) @ W2.T + b2
        return torch.nn.functional.mse_loss(out, Y)
    return f


def run(problem, data, dims, x0, hp, steps, dtype):
    f = make_objective(problem, data, dims, dtype)
    x = torch.tensor(x0, dtype=dtype, requires_grad=True)
    kw = {k: v for k, v in hp.items() if k != "line_search"}
    if hp.get("line_search"):
        kw["line_search_fn"] = hp["line_search"]
    opt = torch.optim.LBFGS([x], **kw)

    def closure():
        opt.zero_grad()
        loss = f(x)
        loss.backward()
        return loss

    out = []
    for _ in range(steps):
        loss = float(opt.step(closure))
        st = opt.state[x]
        out.append((loss, st["n_iter"], st["func_evals"],
                    x.detach().to(torch.float64).numpy().copy()))
    return out


def fmt(v):
    return repr(v) if isinstance(v, float) else str(v)


def write(name, problem, data, dims, x0, hp, steps):
    r64 = run(problem, data, dims, x0, hp, steps, torch.float64)
    r32 = run(problem, data, dims, x0, hp, steps, torch.float32)
    P = len(x0)
    head = "NNLBFGS1 name=%s problem=%s steps=%d P=%d" % (name, problem, steps, P)
    if problem == "mlp":
        head += " D=%d H=%d N=%d" % dims
    for k, v in hp.items():
        head += " %s=%s" % (k, fmt(v))
    arrays = [data["A"].ravel(), data["b"]] if problem == "quad" else \
        [data["X"].ravel(), data["Y"]]
    arrays.append(x0)
    for (loss, n_iter, evals, p64), (_, _, _, p32) in zip(r64, r32):
        arrays += [np.array([loss, n_iter, evals], dtype=np.float64), p64, p32]
    blob = b"".join(struct.pack("<%dd" % len(a), *a) for a in arrays)
    with open(os.path.join(OUT, "lbfgs_%s.bin" % name), "wb") as fh:
        fh.write(head.encode() + b"\n" + blob)
    spread = max(np.abs(a[3] - b[3]).max() for a, b in zip(r64, r32))
    print("lbfgs_%s: %d steps, final loss %.3g, n_iter %d, func_evals %d, "
          "float32 vs float64 %.2e" % (name, steps, r64[-1][0], r64[-1][1], r64[-1][2],
                                        spread))


def main():
    os.makedirs(OUT, exist_ok=True)
    q, qx = quad_problem(1, 6)
    write("quad", "quad", q, None, qx,
          dict(lr=1.0, history_size=3, max_iter=5), 4)
    write("quad_wolfe", "quad", q, None, qx,
          dict(lr=1.0, history_size=3, max_iter=4, line_search="strong_wolfe"), 3)
    write("quad_max_eval", "quad", q, None, qx,
          dict(lr=0.8, history_size=2, max_iter=9, max_eval=6,
               line_search="strong_wolfe"), 3)
    z, zx = quad_problem(2, 5, zero=True)
    write("linear", "quad", z, None, zx, dict(lr=0.1, history_size=2, max_iter=3), 3)
    # few steps: over more, float32 runs part from float64 ones (the problem
    # is not convex), and libnn runs in float32 (a third strong-Wolfe step
    # here moves torch's own float32 run, from a start perturbed by 3e-7,
    # up to 4e-6 off its float64 one)
    dims = (1, 3, 24)
    m, mx = mlp_problem(3, *dims)
    write("mlp", "mlp", m, dims, mx, dict(lr=0.5, history_size=4, max_iter=6), 3)
    write("mlp_wolfe", "mlp", m, dims, mx,
          dict(history_size=4, max_iter=5, line_search="strong_wolfe"), 2)
    # torch's defaults but max_iter (so max_eval = 15 by torch's rule)
    write("mlp_defaults", "mlp", m, dims, mx, dict(max_iter=12, line_search="strong_wolfe"),
          1)
    dims2 = (2, 4, 16)
    m2, mx2 = mlp_problem(4, *dims2)
    write("mlp2_tol", "mlp", m2, dims2, mx2,
          dict(lr=1.0, history_size=5, max_iter=7, tolerance_grad=1e-3,
               tolerance_change=1e-4, line_search="strong_wolfe"), 1)


if __name__ == "__main__":
    main()
