#!/usr/bin/python3
"""Load a libnn checkpoint into PyTorch and evaluate it.

    /usr/bin/python3 examples/load_in_pytorch.py model.safetensors [IMAGES LABELS | FILE.csv]

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
by default the Fashion-MNIST test split) or on a CSV file, which equals
what `nn eval` prints for the same file and data.

A CSV file is read as `nn eval` reads it: the checkpoint records the
training file's columns ("columns", a JSON list of names, null without a
header), its label column ("label": a name or a 0-based index, -1 the last)
and the columns left out ("ignore"); a file with a header has its feature
columns picked by name in the recorded order, one without by position. Class
names ("classes", a JSON list; class i is output i) map the labels to
indices and name the predictions; without them labels are whole-number
indices. Softmax and sigmoid classifiers report accuracy, regression models
(loss mse) their mse and mae.

Not handled (the script says so and stops): image folders and single image
files (decode them to the model's C x H x W with values 0-255 and apply
norm.shift / norm.scale as above), and spec tokens other than those in
build() below.
"""
import collections
import csv
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


def is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def resolve(spec, names, n):
    """Column indices of a label or ignore spec: one name, or names and
    0-based indices (negative from the end) separated by commas."""
    if spec is None:
        return []
    if names and spec in names:
        return [names.index(spec)]
    out = []
    for tok in (t.strip() for t in spec.split(",")):
        if names and tok in names:
            out.append(names.index(tok))
        else:
            out.append(int(tok) % n)
    return out


def read_csv_data(path, meta):
    """(features (N, F) float32, label texts (N, L) or None) as nn eval
    selects them."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", newline="") as f:
        rows = [r for r in csv.reader(f) if r and r != [""]]
    layout = json.loads(meta["columns"]) if "columns" in meta else None
    named = layout if layout and layout[0] is not None else None
    first, second = rows[0], rows[1] if len(rows) > 1 else None
    header = meta.get("header", "auto")
    if header == "auto":  # text above a number, or a recorded column name
        header = "yes" if any(
            not is_number(v) and (second is None or (i < len(second) and is_number(second[i])))
            or (named and v in named) for i, v in enumerate(first)) else "no"
    head = rows[0] if header == "yes" else None
    data = rows[1:] if head else rows
    ref = named if named else head
    n = len(layout) if layout else len(first)
    label = resolve(meta.get("label", "-1"), ref, n)
    drop = set(label) | set(resolve(meta.get("ignore"), ref, n))
    feats = [c for c in range(n) if c not in drop]
    if named and head:  # by name, wherever they are in this file
        for c in feats + label:
            if named[c] not in head:
                sys.exit(f"load_in_pytorch.py: {path}: column '{named[c]}' is missing")
        feats = [head.index(named[c]) for c in feats]
        label = [head.index(named[c]) for c in label]
    elif len(first) != n:
        sys.exit(f"load_in_pytorch.py: {path} has {len(first)} columns, the training file "
                 f"had {n}")
    x = np.array([[float(r[c]) for c in feats] for r in data], np.float32)
    y = [[r[c] for c in label] for r in data] if label else None
    return x, y


def main():
    if len(sys.argv) not in (2, 3, 4):
        sys.exit(__doc__.split("\n\n")[1])
    tensors, meta = read_safetensors(sys.argv[1])
    model, in_shape = build(meta["spec"], tensors)
    model.eval()
    if len(sys.argv) == 3:
        evaluate_csv(model, tensors, meta, sys.argv[2])
        return
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


def evaluate_csv(model, tensors, meta, path):
    """nn eval's numbers on a CSV file: accuracy for a classifier, mse and
    mae for a regression model; and the first predictions by class name."""
    if not (path.endswith(".csv") or path.endswith(".csv.gz")):
        sys.exit(f"load_in_pytorch.py: {path}: give a .csv file, or IMAGES LABELS (IDX); image "
                 "folders and image files are not handled")
    x, y = read_csv_data(path, meta)
    if "norm.shift" in tensors:
        x = (x - tensors["norm.shift"]) * tensors["norm.scale"]
    with torch.no_grad():
        out = model(torch.from_numpy(x)).numpy()
    loss = meta.get("loss", "cross_entropy")
    if loss == "mse":
        t = np.array(y, np.float64)
        err = out.astype(np.float64) - t
        print(f"PyTorch {torch.__version__}: mse {np.mean(err ** 2):.4f}  mae "
              f"{np.mean(np.abs(err)):.4f} on {len(t)} rows of {path}")
        return
    classes = json.loads(meta["classes"]) if "classes" in meta else None
    if out.shape[1] == 1:  # one sigmoid output: p > 0.5 (a logit > 0 without the sigmoid)
        ends_in_sigmoid = spec_tokens(meta["spec"])[-1][0] == "sigmoid"
        pred = (out[:, 0] > (0.5 if ends_in_sigmoid else 0.0)).astype(np.int64)
    else:
        pred = out.argmax(1)
    names = classes if classes else [str(i) for i in range(max(2, out.shape[1]))]
    print("classes: " + ", ".join(names))
    for i in range(min(3, len(pred))):
        print(f"row {i}: {names[pred[i]]}")
    if y is not None:
        truth = np.array([classes.index(v[0]) if classes else int(float(v[0])) for v in y])
        print(f"PyTorch {torch.__version__}: accuracy {np.mean(pred == truth):.4f} on "
              f"{len(truth)} rows of {path}")


if __name__ == "__main__":
    main()
