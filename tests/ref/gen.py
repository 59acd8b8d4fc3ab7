#!/usr/bin/python3
"""gen.py - writes the PyTorch reference fixtures that tests/test_ref.c checks
libnn against: one file per op case under tests/ref/ops/, plus net3.bin, a
3-layer network. Run from anywhere with Debian's interpreter and torch:

    /usr/bin/python3 tests/ref/gen.py

Every leaf value is drawn as float32 and then computed on in float64, so the
stored references are the exact (to float64) results for the very float32
inputs the C test feeds; they are then rounded to float32 for storage. The
output is byte-for-byte reproducible (fixed seeds, no timestamps).

File format (all little-endian):
    8 bytes   magic b"NNREF01\\n"
    uint32    number of arrays
    per array:
      uint32  name length L, then L bytes of name (ASCII, no terminator)
      uint32  ndim (0 to 4)
      int64   dims[ndim]
      float32 data[prod(dims)], row-major

Array names say what each array is (the C test builds its graph from them):
    in:NAME   batched input (first axis = batch) whose gradient is checked
    x:NAME    batched input without a gradient
    p:NAME    parameter (no batch axis), gradient checked
    c:NAME    constant (no batch axis), no gradient
    lab:NAME  class labels, shape (N,), float32 holding exact integers
    attr      the op's numeric attributes (see ATTRS below)
    out       forward output (losses and full reductions have shape (1,))
    seed      the upstream gradient fed to out.backward(seed), shape of out
    grad:NAME gradient of leaf NAME (in:, p:) under that seed
"""
import os
import struct
import zlib

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "ops")
MAGIC = b"NNREF01\n"
N = 3  # default batch of the op cases

# attr layouts (float32 each):
#   matmul [trans_b], scale [c], sum_axis/mean_axis [axis],
#   leaky_relu [slope], hardtanh [lo, hi]
F32 = lambda v: float(np.float32(v))  # a Python float exactly equal to a float32


def write_fixture(path, arrays):
    """arrays: list of (name, numpy array); values are stored as float32."""
    buf = bytearray(MAGIC)
    buf += struct.pack("<I", len(arrays))
    for name, a in arrays:
        a = np.ascontiguousarray(np.asarray(a, dtype=np.float32))
        nb = name.encode("ascii")
        buf += struct.pack("<I", len(nb)) + nb
        buf += struct.pack("<I", a.ndim)
        buf += struct.pack("<%dq" % a.ndim, *a.shape)
        buf += a.astype("<f4").tobytes()
    with open(path, "wb") as f:
        f.write(bytes(buf))
    return len(buf)


class Case:
    """One fixture: leaves in order, a function of the torch leaves, attrs."""

    def __init__(self, name):
        self.name = name
        self.rng = np.random.default_rng(zlib.crc32(name.encode()))
        self.leaves = []  # (role, name, float32 numpy array)
        self.attr = None

    def uniform(self, shape, lo=-2.0, hi=2.0):
        return self.rng.uniform(lo, hi, size=shape).astype(np.float32)

    def leaf(self, role, name, values):
        self.leaves.append((role, name, np.asarray(values, dtype=np.float32)))
        return self

    def run(self, fn):
        ts = []
        for role, name, v in self.leaves:
            if role == "lab":
                ts.append(torch.from_numpy(v.astype(np.int64)))
            else:
                t = torch.from_numpy(v.astype(np.float64))
                t.requires_grad_(role in ("in", "p"))
                ts.append(t)
        out = fn(*ts)
        if out.dim() == 0:
            out = out.reshape(1)
        seed = self.uniform(tuple(out.shape), -1.5, 1.5)
        out.backward(torch.from_numpy(seed.astype(np.float64)))
        arrays = [("%s:%s" % (role, name), v) for role, name, v in self.leaves]
        if self.attr is not None:
            arrays.append(("attr", np.asarray(self.attr, dtype=np.float32)))
        arrays.append(("out", out.detach().numpy()))
        arrays.append(("seed", seed))
        for (role, name, _), t in zip(self.leaves, ts):
            if role in ("in", "p"):
                arrays.append(("grad:" + name, t.grad.numpy()))
        return write_fixture(os.path.join(OUT_DIR, self.name + ".bin"), arrays)


def with_zeros(a, k=2):
    """a with its first k elements set to exactly 0 (kinks of relu, abs ...)."""
    a = a.copy()
    a.flat[:k] = 0.0
    return a


def op_cases():
    cases = []

    def case(name, attr=None):
        c = Case(name)
        c.attr = attr
        cases.append(c)
        return c

    # matmul: a (N, 4) . b (4, 5); b^T with b (5, 4); a constant b; a parameter a.
    c = case("matmul", [0])
    c.leaf("in", "a", c.uniform((N, 4))).leaf("p", "b", c.uniform((4, 5)))
    c.fn = lambda a, b: a @ b
    c = case("matmul_tb", [1])
    c.leaf("in", "a", c.uniform((N, 4))).leaf("p", "b", c.uniform((5, 4)))
    c.fn = lambda a, b: a @ b.t()
    c = case("matmul_const_b", [1])
    c.leaf("in", "a", c.uniform((N, 4))).leaf("c", "b", c.uniform((2, 4)))
    c.fn = lambda a, b: a @ b.t()
    c = case("matmul_params", [0])
    c.leaf("p", "a", c.uniform((3, 4))).leaf("p", "b", c.uniform((4, 2)))
    c.fn = lambda a, b: a @ b

    # add, sub, mul: same shapes; a bias broadcast over rows; one element.
    for op, f in (("add", torch.add), ("sub", torch.sub), ("mul", torch.mul)):
        c = case(op)
        c.leaf("in", "a", c.uniform((N, 4))).leaf("in", "b", c.uniform((N, 4)))
        c.fn = f
        c = case(op + "_bias")  # (N, 4) with (4)
        c.leaf("in", "a", c.uniform((N, 4))).leaf("p", "b", c.uniform((4,)))
        c.fn = f
        c = case(op + "_bias_left")  # (4) with (N, 4): the small operand first
        c.leaf("p", "a", c.uniform((4,))).leaf("in", "b", c.uniform((N, 4)))
        c.fn = f
        c = case(op + "_bias_3d")  # (N, 2, 3) with (2, 3)
        c.leaf("in", "a", c.uniform((N, 2, 3))).leaf("p", "b", c.uniform((2, 3)))
        c.fn = f
        c = case(op + "_scalar")  # (N, 4) with one element
        c.leaf("in", "a", c.uniform((N, 4))).leaf("p", "b", c.uniform((1,)))
        c.fn = f

    c = case("scale", [-2.5])
    c.leaf("in", "a", c.uniform((N, 4)))
    c.fn = lambda a: a * -2.5

    # Full and per-axis reductions, on 2-D and 3-D inputs and on a parameter.
    c = case("sum")
    c.leaf("in", "a", c.uniform((N, 4)))
    c.fn = lambda a: a.sum()
    c = case("mean")
    c.leaf("in", "a", c.uniform((N, 2, 3)))
    c.fn = lambda a: a.mean()
    for op, f in (("sum_axis", torch.sum), ("mean_axis", torch.mean)):
        for axis in (0, 1, 2, -1):
            nm = "%s_%s" % (op, "m1" if axis < 0 else axis)
            c = case(nm, [axis])
            c.leaf("in", "a", c.uniform((N, 4, 5)))
            c.fn = (lambda ax, f_: lambda a: f_(a, ax))(axis, f)
        c = case(op + "_param", [0])
        c.leaf("p", "a", c.uniform((4, 3)))
        c.fn = (lambda f_: lambda a: f_(a, 0))(f)

    # Elementwise activations and functions.
    slope = F32(0.1)
    lo, hi = -0.5, 0.75  # exactly representable, so both sides agree on the kinks
    ht = Case("tmp").uniform((N, 6))
    ht.flat[:4] = [lo, hi, -3.0, 3.0]  # on both bounds (gradient 0) and outside
    unary = [
        ("relu", None, with_zeros(Case("relu").uniform((N, 5))), F.relu),
        ("leaky_relu", [slope], with_zeros(Case("lrelu").uniform((N, 5))),
         lambda a: F.leaky_relu(a, slope)),
        ("sigmoid", None, Case("sig").uniform((N, 5), -6, 6), torch.sigmoid),
        ("tanh", None, Case("tanh").uniform((N, 5), -3, 3), torch.tanh),
        ("hardtanh", [lo, hi], ht, lambda a: F.hardtanh(a, lo, hi)),
        ("sign", None, with_zeros(Case("sign").uniform((N, 5))), torch.sign),
        ("identity", None, Case("id").uniform((N, 5)), lambda a: a.clone()),
        ("exp", None, Case("exp").uniform((N, 5), -3, 3), torch.exp),
        ("log", None, Case("log").uniform((N, 5), 0.05, 5), torch.log),
        ("square", None, Case("sq").uniform((N, 5)), torch.square),
        ("abs", None, with_zeros(Case("abs").uniform((N, 5))), torch.abs),
        ("softmax", None, Case("sm").uniform((N, 5), -4, 4),
         lambda a: torch.softmax(a, -1)),
        ("softmax_3d", None, Case("sm3").uniform((N, 2, 4), -4, 4),
         lambda a: torch.softmax(a, -1)),
        ("log_softmax", None, Case("lsm").uniform((N, 5), -4, 4),
         lambda a: torch.log_softmax(a, -1)),
        ("log_softmax_3d", None, Case("lsm3").uniform((N, 2, 4), -4, 4),
         lambda a: torch.log_softmax(a, -1)),
    ]
    for nm, attr, x, f in unary:
        c = case(nm, attr)
        c.leaf("in", "a", x)
        c.fn = f

    # Losses (mean reduction, as torch's defaults).
    c = case("softmax_cross_entropy")
    c.leaf("in", "z", c.uniform((5, 4), -3, 3))
    c.leaf("lab", "y", np.array([0, 3, 1, 2, 3]))
    c.fn = lambda z, y: F.cross_entropy(z, y)
    c = case("sigmoid_bce")
    t = c.uniform((N, 4), 0, 1)
    t.flat[:2] = [0.0, 1.0]
    c.leaf("in", "z", c.uniform((N, 4), -5, 5)).leaf("in", "t", t)
    c.fn = F.binary_cross_entropy_with_logits
    c = case("bce")
    t = c.uniform((N, 4), 0, 1)
    t.flat[:2] = [0.0, 1.0]
    c.leaf("in", "p", c.uniform((N, 4), 0.05, 0.95)).leaf("in", "t", t)
    c.fn = F.binary_cross_entropy
    c = case("bce_const_target")  # the usual use: targets without a gradient
    c.leaf("in", "p", c.uniform((N, 4), 0.02, 0.98))
    c.leaf("x", "t", (c.uniform((N, 4), 0, 1) > 0.5).astype(np.float32))
    c.fn = F.binary_cross_entropy
    c = case("mse")
    c.leaf("in", "p", c.uniform((N, 4))).leaf("in", "t", c.uniform((N, 4)))
    c.fn = F.mse_loss
    c = case("mse_const_target")
    c.leaf("in", "p", c.uniform((N, 2, 3))).leaf("x", "t", c.uniform((N, 2, 3)))
    c.fn = F.mse_loss
    return cases


def net3():
    """x (8, 6) -> dense 5 -> tanh -> dense 4 -> relu -> dense 3 -> softmax CE.
    The weights are torch.nn.Linear's default initialization under the first
    torch seed (from 1234 up) for which every relu unit is active on some
    sample and inactive on another (no dead unit, so the mask matters), and
    no relu input is within 1e-3 of 0 (where float32 might flip it)."""
    rng = np.random.default_rng(99)
    x = rng.normal(size=(8, 6)).astype(np.float32)
    y = np.array([0, 1, 2, 2, 1, 0, 1, 2])
    xt = torch.from_numpy(x.astype(np.float64))
    for seed in range(1234, 1334):
        torch.manual_seed(seed)
        layers = [torch.nn.Linear(6, 5), torch.nn.Linear(5, 4), torch.nn.Linear(4, 3)]
        ws = []
        for i, lin in enumerate(layers, 1):
            # the float32 values torch initialized, then float64 leaves from them
            ws += [("W%d" % i, lin.weight.detach().numpy().astype(np.float32)),
                   ("b%d" % i, lin.bias.detach().numpy().astype(np.float32))]
        leaves = {k: torch.from_numpy(v.astype(np.float64)).requires_grad_(True)
                  for k, v in ws}
        h1 = torch.tanh(xt @ leaves["W1"].t() + leaves["b1"])
        z2 = h1 @ leaves["W2"].t() + leaves["b2"]
        active = (z2 > 0).numpy()
        if (z2.abs().min().item() > 1e-3 and active.any(axis=0).all()
                and (~active).any(axis=0).all()):
            break
    else:
        raise SystemExit("net3: no seed in range gives a usable relu layer")
    h2 = torch.relu(z2)
    z3 = h2 @ leaves["W3"].t() + leaves["b3"]
    loss = F.cross_entropy(z3, torch.from_numpy(y))
    loss.backward()
    arrays = [("x:x", x)] + [("p:" + k, v) for k, v in ws] + [("lab:y", y)]
    arrays.append(("out", loss.detach().numpy().reshape(1)))
    arrays.append(("seed", np.ones(1, dtype=np.float32)))
    arrays += [("grad:" + k, leaves[k].grad.numpy()) for k, _ in ws]
    print("net3: torch seed %d" % seed)
    return write_fixture(os.path.join(OUT_DIR, "net3.bin"), arrays)


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    for f in os.listdir(OUT_DIR):
        if f.endswith(".bin"):
            os.remove(os.path.join(OUT_DIR, f))
    total = 0
    cases = op_cases()
    for c in cases:
        total += c.run(c.fn)
    total += net3()
    print("wrote %d fixtures, %d bytes, to %s" % (len(cases) + 1, total, OUT_DIR))


if __name__ == "__main__":
    main()
