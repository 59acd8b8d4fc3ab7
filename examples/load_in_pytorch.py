#!/usr/bin/python3
"""Load a libnn checkpoint of a dense model into PyTorch and evaluate it.

    /usr/bin/python3 examples/load_in_pytorch.py model.safetensors

A libnn checkpoint is a plain safetensors file: each dense layer's weight is
stored as DENSEk.weight with shape (out, in) and DENSEk.bias, the layout of
torch.nn.Linear, and the input normalization as norm.shift / norm.scale
(x' = (x - shift) * scale). This script reads it with json and numpy alone
(no safetensors package), builds the matching torch.nn.Sequential from the
model spec in the metadata, and reports its accuracy on the Fashion-MNIST
test split, which equals what `nn eval` prints for the same file.
"""
import gzip
import json
import struct
import sys

import numpy as np
import torch

DATA = "/usr/share/datasets/fashion-mnist"
ACTIVATIONS = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid,
               "identity": torch.nn.Identity}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        if e["dtype"] == "F32":
            a = np.frombuffer(raw[8 + n + begin:8 + n + end], dtype="<f4")
            tensors[name] = a.reshape(e["shape"]).copy()
    return tensors, meta


def build(spec, tensors):
    """torch.nn.Sequential for a spec such as '784 dense:256 relu dense:10 softmax'."""
    layers, k = [], 0
    for tok in spec.split()[1:]:
        kind = tok.split(":")[0]
        if kind == "dense":
            k += 1
            w, b = tensors[f"dense{k}.weight"], tensors[f"dense{k}.bias"]
            lin = torch.nn.Linear(w.shape[1], w.shape[0])
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(w))
                lin.bias.copy_(torch.from_numpy(b))
            layers.append(lin)
        elif kind in ACTIVATIONS:
            layers.append(ACTIVATIONS[kind]())
        elif kind in ("dropout", "softmax"):
            pass  # identity at evaluation; argmax is the same with or without softmax
        else:
            sys.exit(f"load_in_pytorch.py: layer '{tok}' is not handled by this example")
    return torch.nn.Sequential(*layers)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__.split("\n\n")[1])
    tensors, meta = read_safetensors(sys.argv[1])
    model = build(meta["spec"], tensors).eval()
    x = np.frombuffer(gzip.open(f"{DATA}/t10k-images-idx3-ubyte.gz").read()[16:], np.uint8)
    y = np.frombuffer(gzip.open(f"{DATA}/t10k-labels-idx1-ubyte.gz").read()[8:], np.uint8)
    x = x.reshape(len(y), -1).astype(np.float32)
    if "norm.shift" in tensors:
        x = (x - tensors["norm.shift"]) * tensors["norm.scale"]
    with torch.no_grad():
        pred = model(torch.from_numpy(x)).argmax(1).numpy()
    print(f"PyTorch {torch.__version__}: accuracy {np.mean(pred == y):.4f} on {len(y)} test "
          f"images; the checkpoint's own record: {meta.get('test', 'none')}")


if __name__ == "__main__":
    main()
