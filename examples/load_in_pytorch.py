#!/usr/bin/python3
"""Load a libnn checkpoint into PyTorch and evaluate it.

    /usr/bin/python3 examples/load_in_pytorch.py model.safetensors [IMAGES LABELS]

A libnn checkpoint is a plain safetensors file whose tensors are named and
shaped as a PyTorch state dict: a dense layer's DENSEk.weight (out, in) and
DENSEk.bias (none with bias=no) as torch.nn.Linear, a conv layer's CONVk.weight (out, in/groups,
kh, kw) and CONVk.bias as torch.nn.Conv2d, a batch norm's BNk.weight, .bias,
.running_mean, .running_var and .num_batches_tracked (an int64 scalar) as
torch.nn.BatchNorm1d/2d; the input normalization is norm.shift / norm.scale
(x' = (x - shift) * scale, per input value). This script reads the file with
json and numpy alone (no safetensors package), builds the matching
torch.nn.Sequential from the model spec in the metadata (its modules named
as libnn names its layers, so the file's tensors are its state dict as they
stand), and reports the accuracy on an IDX image/label pair (gzip or raw;
by default the Fashion-MNIST test split), which equals what `nn eval`
prints for the same file and data.
"""
import collections
import gzip
import json
import struct
import sys

import numpy as np
import torch

DATA = "/usr/share/datasets/fashion-mnist"
DTYPES = {"F32": "<f4", "I32": "<i4", "I64": "<i8", "U8": "u1"}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        a = np.frombuffer(raw[8 + n + begin:8 + n + end], dtype=DTYPES[e["dtype"]])
        tensors[name] = a.reshape(e["shape"]).copy()
    return tensors, meta


def spec_tokens(spec):
    """The spec's tokens, each a list of fields (libnn's rule: blanks and
    commas separate tokens, except that a piece after a comma that starts
    like a number or is NAME=VALUE continues the token before it)."""
    tokens, piece, comma = [], "", False

    def flush():
        nonlocal piece, comma
        if piece:
            head = piece.split("=", 1)[0]
            cont = comma and tokens and (piece[0] in "0123456789-+." or (
                "=" in piece and head.replace("_", "").isalnum()))
            if cont:
                tokens[-1].extend(piece.split(":"))
            else:
                tokens.append(piece.split(":"))
            piece, comma = "", False

    for ch in spec:
        if ch in " \t\r\n,":
            flush()
            comma |= ch == ","
        else:
            piece += ch
    flush()
    return tokens


def fields(parts, positional):
    """Named fields, with the positional ones given their names."""
    out, i = {}, 0
    for p in parts:
        if "=" in p:
            k, v = p.split("=", 1)
            out[k] = v
        elif i < len(positional):
            out[positional[i]] = p
            i += 1
    return out


def pair(text, default):
    if text is None:
        return default
    a = [int(v) for v in text.split("x")]
    return (a[0], a[0]) if len(a) == 1 else (a[0], a[1])


class Sign(torch.nn.Module):
    def forward(self, x):
        return torch.sign(x)


def build(spec, tensors):
    """torch.nn.Sequential for a spec such as '784 dense:256 relu dense:10
    softmax' or '1x28x28 conv:8,5,pad=2 relu maxpool:2 flatten dense:10',
    its modules named conv1, pool1, bn1, dense1 ... as libnn names them."""
    toks = spec_tokens(spec)
    shape = [int(v) for v in toks[0][0].split("x")]  # (features) or (C, H, W)
    layers, count = collections.OrderedDict(), collections.Counter()

    def add(family, module):
        count[family] += 1
        layers[f"{family}{count[family]}"] = module

    for parts in toks[1:]:
        kind, rest = parts[0], parts[1:]
        if kind == "dense":
            name = f"dense{count['dense'] + 1}"
            w = tensors[f"{name}.weight"]
            # dense:N,bias=no has no NAME.bias: nn.Linear(bias=False)
            add("dense", torch.nn.Linear(w.shape[1], w.shape[0],
                                         bias=f"{name}.bias" in tensors))
            shape = [w.shape[0]]
        elif kind in ("conv", "conv2d"):
            f = fields(rest, ["channels", "kernel"])
            name = f"conv{count['conv'] + 1}"
            w = tensors[f"{name}.weight"]
            stride, dil = pair(f.get("stride"), (1, 1)), pair(f.get("dil"), (1, 1))
            k = (w.shape[2], w.shape[3])
            if f.get("pad") == "same":
                pad = (dil[0] * (k[0] - 1) // 2, dil[1] * (k[1] - 1) // 2)
            else:
                pad = pair(f.get("pad"), (0, 0))
            groups = int(f.get("groups", 1))
            add("conv", torch.nn.Conv2d(shape[0], w.shape[0], k, stride, pad, dil, groups,
                                        bias=f"{name}.bias" in tensors))
            shape = [w.shape[0]] + [(shape[1 + a] + 2 * pad[a] - dil[a] * (k[a] - 1) - 1)
                                    // stride[a] + 1 for a in range(2)]
        elif kind in ("maxpool", "avgpool"):
            f = fields(rest, ["kernel"])
            k = pair(f["kernel"], None)
            stride, pad = pair(f.get("stride"), k), pair(f.get("pad"), (0, 0))
            cls = torch.nn.MaxPool2d if kind == "maxpool" else torch.nn.AvgPool2d
            add("pool", cls(k, stride, pad))
            shape = [shape[0]] + [(shape[1 + a] + 2 * pad[a] - k[a]) // stride[a] + 1
                                  for a in range(2)]
        elif kind in ("gap", "global_avgpool"):
            count["gap"] += 1
            layers[f"gap{count['gap']}"] = torch.nn.AdaptiveAvgPool2d(1)
            layers[f"gap{count['gap']}_flatten"] = torch.nn.Flatten()
            shape = [shape[0]]
        elif kind in ("batchnorm", "bn"):
            f = fields(rest, [])
            cls = torch.nn.BatchNorm2d if len(shape) == 3 else torch.nn.BatchNorm1d
            add("bn", cls(shape[0], eps=float(f.get("eps", 1e-5)),
                          momentum=float(f.get("momentum", 0.1))))
        elif kind == "flatten":
            add("flatten", torch.nn.Flatten())
            shape = [int(np.prod(shape))]
        elif kind in ("relu", "tanh", "sigmoid", "identity", "linear", "sign", "softmax"):
            module = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid,
                      "identity": torch.nn.Identity, "linear": torch.nn.Identity, "sign": Sign,
                      "softmax": lambda: torch.nn.Softmax(dim=1)}[kind]()
            layers[f"{kind}_{len(layers)}"] = module
        elif kind == "leaky_relu":
            f = fields(rest, ["slope"])
            layers[f"leaky_relu_{len(layers)}"] = torch.nn.LeakyReLU(float(f.get("slope", 0.01)))
        elif kind == "hardtanh":
            f = fields(rest, ["lo", "hi"])
            layers[f"hardtanh_{len(layers)}"] = torch.nn.Hardtanh(float(f.get("lo", -1)),
                                                                  float(f.get("hi", 1)))
        elif kind == "dropout":
            f = fields(rest, ["p"])
            layers[f"dropout_{len(layers)}"] = torch.nn.Dropout(float(f.get("p", 0.5)))
        else:
            sys.exit(f"load_in_pytorch.py: layer '{':'.join(parts)}' is not handled")
    model = torch.nn.Sequential(layers)
    want = model.state_dict()
    missing = [k for k in want if k not in tensors]
    if missing:
        sys.exit(f"load_in_pytorch.py: the checkpoint lacks {missing}")
    model.load_state_dict({k: torch.from_numpy(tensors[k]) for k in want})
    return model, [int(v) for v in toks[0][0].split("x")]


def read_idx(path):
    raw = open(path, "rb").read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    nd = raw[3]
    dims = struct.unpack(f">{nd}I", raw[4:4 + 4 * nd])
    return np.frombuffer(raw[4 + 4 * nd:], np.uint8).reshape(dims)


def main():
    if len(sys.argv) not in (2, 4):
        sys.exit(__doc__.split("\n\n")[1])
    tensors, meta = read_safetensors(sys.argv[1])
    model, in_shape = build(meta["spec"], tensors)
    model.eval()
    images = sys.argv[2] if len(sys.argv) == 4 else f"{DATA}/t10k-images-idx3-ubyte.gz"
    labels = sys.argv[3] if len(sys.argv) == 4 else f"{DATA}/t10k-labels-idx1-ubyte.gz"
    y = read_idx(labels)
    x = read_idx(images).reshape(len(y), -1).astype(np.float32)
    if "norm.shift" in tensors:
        x = (x - tensors["norm.shift"]) * tensors["norm.scale"]
    x = x.reshape([len(y)] + in_shape)  # (N, features) or (N, C, H, W)
    with torch.no_grad():
        pred = model(torch.from_numpy(x)).argmax(1).numpy()
    print(f"PyTorch {torch.__version__}: accuracy {np.mean(pred == y):.4f} on {len(y)} test "
          f"images; the checkpoint's own record: {meta.get('test', 'none')}")


if __name__ == "__main__":
    main()
