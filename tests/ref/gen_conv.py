#!/usr/bin/python3
"""gen_conv.py - writes the PyTorch reference fixtures of the convolutional
ops (conv2d, max/avg/global pooling, batch norm, reshape) that
tests/test_ref.c checks libnn against, one file per case under
tests/ref/conv/. Run with Debian's interpreter and torch:

    /usr/bin/python3 tests/ref/gen_conv.py

The file format, the array roles and the float64 computation from float32
leaves are those of gen.py (whose writer this script reuses), plus:
    b:NAME      a buffer (non-trainable parameter, no gradient): batch
                norm's running statistics before the forward pass
    after:NAME  the buffer after the forward pass (running statistics
                updated in training mode)
attr layouts (float32 each):
    conv2d     [stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups]
    maxpool2d, avgpool2d
               [kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w]
    batchnorm  [momentum, eps, training (1) or evaluation (0)]
    reshape    the new per-sample shape (one entry may be -1)
The output is byte-for-byte reproducible (fixed seeds, no timestamps).
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

from gen import Case, write_fixture

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "conv")


def distinct(c, shape, lo=-2.0, hi=2.0):
    """Values spread evenly over [lo, hi] in random order: no two elements
    tie, so every max-pooling window has one clear maximum."""
    n = int(np.prod(shape))
    v = lo + (hi - lo) * (np.arange(n) + 0.5) / n
    return c.rng.permutation(v).reshape(shape).astype(np.float32)


def conv_cases():
    cases = []

    def conv(name, x, w, bias, stride=(1, 1), pad=(0, 0), dil=(1, 1), groups=1):
        c = Case(name)
        c.attr = [stride[0], stride[1], pad[0], pad[1], dil[0], dil[1], groups]
        c.leaf("in", "x", c.uniform(x)).leaf("p", "w", c.uniform(w))
        if bias:
            c.leaf("p", "b", c.uniform((w[0],)))
        c.fn = lambda x_, w_, b_=None: F.conv2d(x_, w_, b_, stride, pad, dil, groups)
        cases.append(c)

    # (N, C, H, W) inputs, (O, C/groups, KH, KW) weights, as nn.Conv2d.
    conv("conv2d_basic", (6, 3, 5, 6), (4, 3, 3, 2), True)  # two chunks of images
    conv("conv2d_stride2_pad", (3, 2, 7, 6), (3, 2, 3, 3), True, stride=(2, 2), pad=(1, 1))
    conv("conv2d_dilation", (2, 2, 8, 7), (2, 2, 3, 2), True, stride=(1, 2), pad=(2, 1),
         dil=(2, 3))
    conv("conv2d_groups", (2, 4, 5, 5), (6, 2, 3, 3), True, pad=(1, 1), groups=2)
    conv("conv2d_depthwise", (2, 3, 6, 5), (3, 1, 3, 3), False, stride=(2, 2), groups=3)
    conv("conv2d_1x1", (2, 4, 3, 5), (5, 4, 1, 1), True)
    conv("conv2d_same_5x5", (9, 1, 6, 6), (2, 1, 5, 5), False, pad=(2, 2))  # 9 images
    conv("conv2d_stride_exceeds_kernel", (2, 2, 9, 8), (3, 2, 2, 2), True, stride=(3, 4))
    return cases


def pool_cases():
    cases = []

    def pool(name, kind, x, k, s, p):
        c = Case(name)
        c.attr = [k[0], k[1], s[0], s[1], p[0], p[1]]
        c.leaf("in", "x", distinct(c, x) if kind == "max" else c.uniform(x))
        if kind == "max":
            c.fn = lambda x_: F.max_pool2d(x_, k, s, p)
        else:
            c.fn = lambda x_: F.avg_pool2d(x_, k, s, p, count_include_pad=True)
        cases.append(c)

    for kind in ("max", "avg"):
        pool(kind + "pool_2x2", kind, (2, 3, 6, 8), (2, 2), (2, 2), (0, 0))
        # windows that do not divide the input: the last rows/columns are dropped
        pool(kind + "pool_nondiv", kind, (2, 2, 7, 5), (3, 2), (2, 2), (0, 0))
        pool(kind + "pool_pad", kind, (2, 2, 5, 6), (3, 3), (2, 2), (1, 1))
        pool(kind + "pool_overlap", kind, (3, 1, 6, 7), (3, 3), (1, 2), (1, 0))
        pool(kind + "pool_rect_pad", kind, (2, 2, 4, 9), (2, 4), (1, 3), (1, 2))
    c = Case("global_avgpool")
    c.leaf("in", "x", c.uniform((3, 4, 5, 3)))
    c.fn = lambda x_: x_.mean(dim=(2, 3))
    cases.append(c)
    c = Case("global_avgpool_1x1")
    c.leaf("in", "x", c.uniform((2, 3, 1, 1)))
    c.fn = lambda x_: x_.mean(dim=(2, 3))
    cases.append(c)
    return cases


def reshape_cases():
    cases = []
    c = Case("reshape_flatten")
    c.attr = [-1]
    c.leaf("in", "x", c.uniform((3, 2, 3, 2)))
    c.fn = lambda x_: torch.flatten(x_, 1)
    cases.append(c)
    c = Case("reshape_to_image")
    c.attr = [2, -1, 3]
    c.leaf("in", "x", c.uniform((2, 12)))
    c.fn = lambda x_: x_.reshape(2, 2, -1, 3)
    cases.append(c)
    return cases


class BNCase(Case):
    """Batch norm through nn.BatchNorm1d/2d in float64: leaves x, weight,
    bias and the buffers; the output, the gradients of x, weight and bias,
    and the buffers after the pass."""

    def __init__(self, name, x_shape, training, momentum=0.1, eps=1e-5):
        super().__init__(name)
        C = x_shape[1]
        self.attr = [momentum, eps, 1.0 if training else 0.0]
        self.training = training
        self.leaf("in", "x", self.uniform(x_shape, -3, 3))
        self.leaf("p", "weight", self.uniform((C,), 0.5, 2))
        self.leaf("p", "bias", self.uniform((C,), -1, 1))
        self.leaf("b", "running_mean", self.uniform((C,), -0.5, 0.5))
        self.leaf("b", "running_var", self.uniform((C,), 0.5, 2))
        self.leaf("b", "num_batches_tracked", np.array([3.0]))
        mod = torch.nn.BatchNorm2d if len(x_shape) == 4 else torch.nn.BatchNorm1d
        self.bn = mod(C, eps=eps, momentum=momentum).double()

    def run(self, fn=None):
        v = {name: val for _, name, val in self.leaves}
        bn = self.bn
        with torch.no_grad():
            bn.weight.copy_(torch.from_numpy(v["weight"].astype(np.float64)))
            bn.bias.copy_(torch.from_numpy(v["bias"].astype(np.float64)))
            bn.running_mean.copy_(torch.from_numpy(v["running_mean"].astype(np.float64)))
            bn.running_var.copy_(torch.from_numpy(v["running_var"].astype(np.float64)))
            bn.num_batches_tracked.fill_(int(v["num_batches_tracked"][0]))
        bn.train(self.training)
        x = torch.from_numpy(v["x"].astype(np.float64)).requires_grad_(True)
        out = bn(x)
        seed = self.uniform(tuple(out.shape), -1.5, 1.5)
        out.backward(torch.from_numpy(seed.astype(np.float64)))
        arrays = [("%s:%s" % (role, name), val) for role, name, val in self.leaves]
        arrays.append(("attr", np.asarray(self.attr, dtype=np.float32)))
        arrays.append(("out", out.detach().numpy()))
        arrays.append(("seed", seed))
        arrays += [("grad:x", x.grad.numpy()), ("grad:weight", bn.weight.grad.numpy()),
                   ("grad:bias", bn.bias.grad.numpy())]
        arrays += [("after:running_mean", bn.running_mean.numpy()),
                   ("after:running_var", bn.running_var.numpy()),
                   ("after:num_batches_tracked",
                    np.array([float(bn.num_batches_tracked.item())]))]
        return write_fixture(os.path.join(OUT_DIR, self.name + ".bin"), arrays)


def bn_cases():
    return [
        BNCase("batchnorm2d_train", (4, 3, 5, 2), True),
        BNCase("batchnorm2d_eval", (3, 3, 4, 4), False),
        BNCase("batchnorm1d_train", (6, 4), True),
        BNCase("batchnorm1d_eval", (5, 4), False),
        BNCase("batchnorm1d_train_ncl", (3, 2, 5), True, momentum=0.25, eps=1e-3),
        # two values per channel: the smallest batch training accepts
        BNCase("batchnorm1d_train_batch2", (2, 3), True),
    ]


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    for f in os.listdir(OUT_DIR):
        if f.endswith(".bin"):
            os.remove(os.path.join(OUT_DIR, f))
    cases = conv_cases() + pool_cases() + reshape_cases() + bn_cases()
    total = 0
    for c in cases:
        if isinstance(c, BNCase):
            total += c.run()
        else:
            total += run_to(c)
    print("wrote %d fixtures, %d bytes, to %s" % (len(cases), total, OUT_DIR))


def run_to(case):
    """Case.run writes under gen.py's directory; point it at ours."""
    import gen
    saved = gen.OUT_DIR
    gen.OUT_DIR = OUT_DIR
    try:
        return case.run(case.fn)
    finally:
        gen.OUT_DIR = saved


if __name__ == "__main__":
    main()
