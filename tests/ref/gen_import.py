#!/usr/bin/python3
"""gen_import.py - writes the PyTorch fixtures of `nn import`
(tests/test_import.c) under tests/ref/import/. Run with Debian's
interpreter and torch (the `safetensors` package is not in Debian, so the
files are written by the minimal writer below):

    /usr/bin/python3 tests/ref/gen_import.py

Files (a state_dict's tensors under its own names):
  mlp_f32.safetensors     the state_dict of MLP below in its own order (data
                          and header alike), float32
  mlp_f16, mlp_bf16       the same weights rounded to float16 / bfloat16
  mlp_f64                 float64 weights that float32 cannot hold exactly
  mlp_sorted              float32, laid out as the safetensors package's
                          save_file does: data sorted by (dtype, name), header
                          keys in alphabetical order, {"format": "pt"}
                          metadata: "1.weight", "10.bias", "10.weight",
                          "4.bias" ... (the state_dict's order is lost)
  mlp_keys_sorted         header keys alphabetical, data in state_dict order
  cnn.safetensors         the state_dict of CNN below (features.0 ...
                          features.10, classifier.1 ...) after 6 training
                          steps (batch norm's running statistics moved,
                          num_batches_tracked an I64 scalar 6), state_dict
                          order
  cnn_sorted              the same, in the safetensors package's layout (the
                          I64 scalars first, then classifier.* before
                          features.*, features.10 before features.4)
  cnn_named, cnn_named_sorted
                          NAMED below (conv1, bn1, conv2, bn2, fc1, fc2: two
                          batch norms of the same width), trained the same
                          way, in both layouts; cnn_named.map is its map
                          (dense1.weight = fc1.weight ...)
  cnn_expected.safetensors
                          inputs x (6, 3, 12, 12) and PyTorch's eval-mode
                          outputs in float64 from the float32 weights:
                          y (CNN) and y.named (NAMED)
  expected.safetensors    inputs x (7, 20) and PyTorch's outputs (logits) in
                          float64: y.f32 from the float32 weights, y.f16,
                          y.bf16 and y.f64 from the weights as each file holds
                          them, and bound.f16, bound.bf16: a bound on
                          |y.f16 - y.f32| (|y.bf16 - y.f32|) that follows from
                          the rounding alone (see rounding_bound)
  dtypes.safetensors      F16, BF16 and F64 tensors of special values
                          (signed zeros, subnormals, the largest and smallest
                          normals, infinities, NaNs with payloads, rounding
                          ties and overflow for F64) and random bit patterns,
                          each with PyTorch's float32 conversion beside it
                          ("f16" and "f16.f32", ...)
  fm_tiny_f32, fm_tiny_f16
                          a 784-16-10 MLP trained by PyTorch for 40 batches
                          of 50 on the first 2000 Fashion-MNIST training
                          images (one thread), and its float16 weights;
                          fm_tiny.json holds PyTorch's accuracy on the 10000
                          test images with each (when Debian's
                          dataset-fashion-mnist is installed)
The output is byte-for-byte reproducible (fixed seeds, no timestamps).
"""
import gzip
import json
import os
import struct
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "import")
FMNIST = "/usr/share/datasets/fashion-mnist"

DTYPES = {np.dtype("float32"): "F32", np.dtype("float64"): "F64",
          np.dtype("float16"): "F16", np.dtype("uint16"): "BF16",
          np.dtype("int64"): "I64"}
# The safetensors package's dtype order (its Dtype enum); save_file lays the
# data out by this order descending, then by name.
RANK = {"F16": 11, "BF16": 12, "F32": 15, "F64": 17, "I64": 18}


def to_numpy(t):
    """A tensor's values as numpy; bfloat16 as its raw uint16 bits."""
    if isinstance(t, np.ndarray):
        return t
    if t.dtype == torch.bfloat16:
        return t.contiguous().view(torch.int16).numpy().view(np.uint16)
    return t.detach().contiguous().numpy()


def write_safetensors(path, tensors, metadata=None, layout="state_dict"):
    """The minimal writer: tensors is a list of (name, tensor) pairs.
    layout "state_dict" keeps their order for data and header;
    "sorted" is the safetensors package's layout; "keys_sorted" sorts the
    header's keys and keeps the data in the given order."""
    items = [(n, to_numpy(t)) for n, t in tensors]
    if layout == "sorted":
        items.sort(key=lambda it: (-RANK[DTYPES[it[1].dtype]], it[0].encode()))
    header, blobs, offset = {}, [], 0
    for name, a in items:
        data = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": DTYPES[a.dtype], "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    entries = list(header.items())
    if layout in ("sorted", "keys_sorted"):
        entries.sort(key=lambda e: e[0])
    if metadata:
        entries.insert(0, ("__metadata__", metadata))
    text = json.dumps(dict(entries), separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def mlp():
    """Sequential indices past 9, so that byte order and natural order
    differ: Linear layers at 1, 4, 6 and 10."""
    return nn.Sequential(
        nn.Flatten(), nn.Linear(20, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 12),
        nn.Tanh(), nn.Linear(12, 8), nn.ReLU(), nn.Identity(), nn.Identity(),
        nn.Linear(8, 5))


SPEC = "20 dense:16 relu dropout:0.1 dense:12 tanh dense:8 relu dense:5"


def forward64(sd, x):
    """The MLP in float64 from the state_dict sd (float64 tensors)."""
    acts = {1: torch.relu, 4: torch.tanh, 6: torch.relu, 10: None}
    h = x
    for i, act in acts.items():
        h = h @ sd["%d.weight" % i].T + sd["%d.bias" % i]
        if act:
            h = act(h)
    return h


def rounding_bound(sd, x, u):
    """A bound on |f(W~) - f(W)| where every weight and bias of W~ is that
    of W times (1 + d), |d| <= u (the unit roundoff of float16, 2^-11, or
    bfloat16, 2^-8), computed in float64. Layer by layer, with e the bound
    on the error of the layer's input h and relu, tanh 1-Lipschitz:
        |W~ h~ + b~ - W h - b| <= |W~ - W| |h~| + |W| |h~ - h| + |b~ - b|
                                <= u |W| (|h| + e) + |W| e + u |b|
    and after each activation the error stays within that bound."""
    acts = {1: True, 4: True, 6: True, 10: False}
    h, e = x, torch.zeros_like(x)
    for i, act in acts.items():
        w, b = sd["%d.weight" % i].abs(), sd["%d.bias" % i].abs()
        e = u * ((h.abs() + e) @ w.T) + e @ w.T + u * b
        h = h @ sd["%d.weight" % i].T + sd["%d.bias" % i]
        if act:
            h = torch.relu(h) if i in (1, 6) else torch.tanh(h)
    return e


def mlp_fixtures():
    torch.manual_seed(21)
    model = mlp().eval()
    sd = [(k, v.detach().clone()) for k, v in model.state_dict().items()]
    x = torch.randn(7, 20, dtype=torch.float32)
    d64 = {k: v.double() for k, v in sd}
    expected = [("x", x), ("y.f32", forward64(d64, x.double()))]

    write_safetensors(os.path.join(OUT, "mlp_f32.safetensors"), sd)
    write_safetensors(os.path.join(OUT, "mlp_sorted.safetensors"), sd, {"format": "pt"},
                      layout="sorted")
    write_safetensors(os.path.join(OUT, "mlp_keys_sorted.safetensors"), sd,
                      layout="keys_sorted")
    for name, dt, u in (("f16", torch.float16, 2.0 ** -11), ("bf16", torch.bfloat16, 2.0 ** -8)):
        low = [(k, v.to(dt)) for k, v in sd]
        write_safetensors(os.path.join(OUT, "mlp_%s.safetensors" % name), low)
        back = {k: v.double() for k, v in low}
        expected.append(("y." + name, forward64(back, x.double())))
        expected.append(("bound." + name, rounding_bound(d64, x.double(), u)))
        # the bound holds for PyTorch itself
        diff = (expected[-2][1] - expected[1][1]).abs()
        assert bool((diff <= expected[-1][1]).all()), name
    # float64 weights off the float32 grid: converting them rounds
    g = torch.Generator().manual_seed(5)
    w64 = [(k, v.double() * (1 + 1e-6 * torch.randn(v.shape, generator=g, dtype=torch.float64)))
           for k, v in sd]
    write_safetensors(os.path.join(OUT, "mlp_f64.safetensors"), w64)
    expected.append(("y.f64", forward64(dict(w64), x.double())))
    write_safetensors(os.path.join(OUT, "expected.safetensors"), expected,
                      {"spec": SPEC})


CNN_SPEC = ("3x12x12 conv:8,3,pad=1 batchnorm relu maxpool:2 "
            "conv:8,3,pad=2,dil=2,groups=4,bias=no batchnorm relu avgpool:2 "
            "conv:16,3,pad=1,bias=no relu batchnorm gap dropout:0.1 dense:10 batchnorm relu "
            "dense:5")
NAMED_SPEC = ("3x12x12 conv:8,3,pad=1 batchnorm relu maxpool:2 conv:8,3,pad=1,groups=2 "
              "batchnorm relu gap dense:6 relu dense:4")


def cnn():
    """Torchvision's layout (features, classifier) with Sequential indices
    past 9: every layer kind of CNN_SPEC, in its order."""
    features = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=4, bias=False), nn.BatchNorm2d(8),
        nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.ReLU(), nn.BatchNorm2d(16),
        nn.AdaptiveAvgPool2d(1), nn.Flatten())
    classifier = nn.Sequential(nn.Dropout(0.1), nn.Linear(16, 10), nn.BatchNorm1d(10),
                               nn.ReLU(), nn.Linear(10, 5))
    return nn.Sequential(OrderedDict([("features", features), ("classifier", classifier)]))


def named():
    """Modules named conv1, bn1, ...: sorted by name they come as bn1,
    bn2, conv1, conv2, fc1, fc2, and bn1, bn2 have the same shapes."""
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(3, 8, 3, padding=1)), ("bn1", nn.BatchNorm2d(8)),
        ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(8, 8, 3, padding=1, groups=2)), ("bn2", nn.BatchNorm2d(8)),
        ("relu2", nn.ReLU()), ("gap", nn.AdaptiveAvgPool2d(1)), ("flat", nn.Flatten()),
        ("fc1", nn.Linear(8, 6)), ("relu3", nn.ReLU()), ("fc2", nn.Linear(6, 4))]))


def train_a_little(model, nout, steps=6):
    """A few SGD steps in training mode on random data, so that the
    weights, the running statistics and num_batches_tracked all move;
    batch norm's affine parameters start away from 1 and 0."""
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.normal_(0, 0.2, generator=g)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    for _ in range(steps):
        x = 1.5 * torch.randn(16, 3, 12, 12, generator=g) + 0.3
        y = torch.randint(0, nout, (16,), generator=g)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def write_map(path, names):
    """The map of NAMED: libnn's layer names for its modules'."""
    lib = {"conv1": "conv1", "bn1": "bn1", "conv2": "conv2", "bn2": "bn2", "fc1": "dense1",
           "fc2": "dense2"}
    with open(path, "w") as f:
        f.write("# NAMED of tests/ref/gen_import.py: libnn name = state_dict name\n")
        for n in names:
            mod, attr = n.split(".")
            f.write("%s.%s = %s\n" % (lib[mod], attr, n))


def cnn_fixtures():
    torch.set_num_threads(1)
    torch.manual_seed(17)
    x = torch.randn(6, 3, 12, 12, dtype=torch.float32)
    expected = [("x", x)]
    for name, build, nout in (("cnn", cnn, 5), ("cnn_named", named, 4)):
        model = train_a_little(build(), nout)
        sd = [(k, v.detach().clone()) for k, v in model.state_dict().items()]
        assert any(k.endswith("num_batches_tracked") and int(v) == 6 for k, v in sd)
        write_safetensors(os.path.join(OUT, name + ".safetensors"), sd)
        write_safetensors(os.path.join(OUT, name + "_sorted.safetensors"), sd,
                          {"format": "pt"}, layout="sorted")
        with torch.no_grad():
            y = model.double()(x.double())
        expected.append(("y" if name == "cnn" else "y.named", y))
        if name == "cnn_named":
            write_map(os.path.join(OUT, name + ".map"), [k for k, _ in sd])
    write_safetensors(os.path.join(OUT, "cnn_expected.safetensors"), expected,
                      {"spec": CNN_SPEC, "spec.named": NAMED_SPEC})


def dtype_fixtures():
    rng = np.random.default_rng(7)
    special16 = [0x0000, 0x8000, 0x0001, 0x8001, 0x03ff, 0x83ff, 0x0200, 0x0400, 0x8400,
                 0x3c00, 0xbc00, 0x3555, 0x7bff, 0xfbff, 0x7c00, 0xfc00, 0x7e00, 0xfe00,
                 0x7c01, 0x7dff, 0x7fff, 0xffff, 0x0155]
    bits16 = np.array(special16 + list(rng.integers(0, 65536, 200)), dtype=np.uint16)
    f16 = torch.from_numpy(bits16.view(np.float16).copy())
    specialbf = [0x0000, 0x8000, 0x0001, 0x8001, 0x007f, 0x0080, 0x3f80, 0xbf80, 0x7f7f,
                 0xff7f, 0x7f80, 0xff80, 0x7fc0, 0xffc0, 0x7f81, 0x7fff, 0x4049]
    bitsbf = np.array(specialbf + list(rng.integers(0, 65536, 200)), dtype=np.uint16)
    bf16 = torch.from_numpy(bitsbf.view(np.int16).copy()).view(torch.bfloat16)
    fmax = float(np.finfo(np.float32).max)
    special64 = [0.0, -0.0, 1.0, 1 + 2.0 ** -24, 1 + 3 * 2.0 ** -24, 1 + 2.0 ** -24 + 2.0 ** -52,
                 fmax, -fmax, 2.0 ** 128 - 2.0 ** 103, 2.0 ** 128 - 2.0 ** 103 - 2.0 ** 75,
                 -(2.0 ** 128 - 2.0 ** 103), 1e300, -1e300, 1e-40, -1e-40, 2.0 ** -149,
                 2.0 ** -150, 2.0 ** -150 * 1.5, 1e-50, float("inf"), float("-inf"),
                 float("nan"), 0.1, 1 / 3]
    f64 = torch.tensor(special64 + list(rng.standard_normal(100) * 10.0 ** rng.integers(-45, 39, 100)),
                       dtype=torch.float64)
    write_safetensors(os.path.join(OUT, "dtypes.safetensors"), [
        ("f16", f16), ("f16.f32", f16.float()), ("bf16", bf16), ("bf16.f32", bf16.float()),
        ("f64", f64), ("f64.f32", f64.float())])


def read_idx(name):
    with gzip.open(os.path.join(FMNIST, name), "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def pixels(images):
    """As libnn gathers them: uint8 times the float 1/255."""
    return torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) *
                            np.float32(1.0 / 255.0))


def accuracy(model, x, y):
    with torch.no_grad():
        return float((model(x).argmax(1) == y).double().mean())


def fashion_fixtures():
    if not os.path.isdir(FMNIST):
        print("skipping fm_tiny: %s is missing (apt-get install dataset-fashion-mnist)" % FMNIST)
        return
    torch.set_num_threads(1)
    torch.manual_seed(3)
    xtr, ytr = pixels(read_idx("train-images-idx3-ubyte.gz")[:2000]), \
        torch.from_numpy(read_idx("train-labels-idx1-ubyte.gz")[:2000].astype(np.int64))
    xte, yte = pixels(read_idx("t10k-images-idx3-ubyte.gz")), \
        torch.from_numpy(read_idx("t10k-labels-idx1-ubyte.gz").astype(np.int64))
    model = nn.Sequential(nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 10))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for b in range(40):
        loss = nn.functional.cross_entropy(model(xtr[b * 50:(b + 1) * 50]), ytr[b * 50:(b + 1) * 50])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    sd = [(k, v.detach().clone()) for k, v in model.state_dict().items()]
    acc32 = accuracy(model, xte, yte)
    write_safetensors(os.path.join(OUT, "fm_tiny_f32.safetensors"), sd)
    half = [(k, v.half()) for k, v in sd]
    write_safetensors(os.path.join(OUT, "fm_tiny_f16.safetensors"), half)
    model.load_state_dict({k: v.float() for k, v in half})
    acc16 = accuracy(model, xte, yte)
    with open(os.path.join(OUT, "fm_tiny.json"), "w") as f:
        json.dump({"spec": "784 dense:16 relu dense:10", "accuracy_f32": acc32,
                   "accuracy_f16": acc16, "n": len(yte)}, f, indent=1)
        f.write("\n")
    print("fm_tiny: PyTorch test accuracy %.4f (float32 weights), %.4f (float16)" % (acc32, acc16))


def main():
    os.makedirs(OUT, exist_ok=True)
    mlp_fixtures()
    cnn_fixtures()
    dtype_fixtures()
    fashion_fixtures()


if __name__ == "__main__":
    main()
