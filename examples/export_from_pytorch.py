#!/usr/bin/python3
"""Train in PyTorch, serve from C: the round trip of `nn import`.

    /usr/bin/python3 examples/export_from_pytorch.py [--nn build/nn] [--epochs 3]

1. trains an MLP on Fashion-MNIST with PyTorch (the gzip IDX files of
   Debian's dataset-fashion-mnist, one thread, a few epochs: well under a
   minute) and measures its test accuracy;
2. saves its state_dict as safetensors, in float32 and in float16, with the
   small writer below (the `safetensors` package is not in Debian; with it,
   `safetensors.torch.save_file(model.state_dict(), path)` does the same);
3. runs `nn import` on each file and `nn eval` on the checkpoints it writes,
   and checks that libnn's test accuracy is PyTorch's: within 0.001 for the
   float32 weights and within 0.005 for the float16 ones.
The checkpoints then serve from C with no Python: `nn predict`, or
nn_model_load + nn_model_predict (see examples/embed.c).

The spec given to `nn import` lists the same layers as the Sequential:
Linear(784, 256) ReLU Dropout(0.2) Linear(256, 128) ReLU Linear(128, 10) is
"784 dense:256 relu dropout:0.2 dense:128 relu dense:10" (Flatten has no
counterpart: libnn's input is the flat 784 pixels; the final Linear's
outputs are the logits of a softmax cross-entropy, as in PyTorch). Its
parameters take the state_dict's tensors in order: 1.weight, 1.bias,
4.weight, ... The inputs are pixels / 255 on both sides (--normalize
scale255; torchvision's ToTensor does the same).

A CNN imports the same way, its input shape first and batch norm's running
statistics included (the model runs as after model.eval()): features =
[Conv2d(1, 8, 5, padding=2), BatchNorm2d(8), ReLU(), MaxPool2d(2)],
classifier = [Flatten(), Linear(1568, 10)] is
"1x28x28 conv:8,5,pad=2 batchnorm relu maxpool:2 flatten dense:10" (see the
README's import section for every layer; tests/ref/gen_import.py checks a
CNN's outputs against PyTorch's).
"""
import argparse
import gzip
import json
import os
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from torch import nn

DATA = "/usr/share/datasets/fashion-mnist"
CLASSES = "T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot"
SPEC = "784 dense:256 relu dropout:0.2 dense:128 relu dense:10"


def save_safetensors(path, state_dict, dtype=None):
    """Writes a state_dict as safetensors, tensors in the state_dict's order
    (`nn import` assigns them in that order), optionally cast to dtype
    (torch.float16, torch.bfloat16, torch.float64)."""
    names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
             torch.float64: "F64", torch.int64: "I64"}
    header, blobs, offset = {}, [], 0
    for name, t in state_dict.items():
        t = t.detach().cpu().contiguous()
        if dtype is not None and t.is_floating_point():
            t = t.to(dtype)
        raw = t.view(torch.int16) if t.dtype == torch.bfloat16 else t  # numpy has no bf16
        data = raw.numpy().tobytes()  # little-endian on every machine PyTorch runs on
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def read_idx(name):
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(split):
    images = read_idx(f"{split}-images-idx3-ubyte.gz")
    labels = read_idx(f"{split}-labels-idx1-ubyte.gz")
    # pixels / 255 as libnn computes it (times the float 1/255)
    x = images.reshape(len(images), -1).astype(np.float32) * np.float32(1 / 255)
    return torch.from_numpy(x), torch.from_numpy(labels.astype(np.int64))


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(1) == y).double().mean())


def nn_eval(nn_bin, weights, out):
    subprocess.run([nn_bin, "import", weights, "--model", SPEC, "--normalize", "scale255",
                    "--classes", CLASSES, "--out", out], check=True)
    r = subprocess.run([nn_bin, "eval", out, "--data", "fashion-mnist", "--json"],
                       check=True, capture_output=True, text=True)
    return json.loads(r.stdout)["accuracy"]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nn", default=os.path.join(here, "..", "build", "nn"),
                    help="the nn program (default: build/nn of this tree)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dir", help="where to write the files (default: a temporary folder)")
    args = ap.parse_args()
    if not os.path.isdir(DATA):
        sys.exit(f"{DATA} is missing: apt-get install dataset-fashion-mnist")
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)

    x, y = load("train")
    xt, yt = load("t10k")
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Dropout(0.2),
                          nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.time()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(x))
        for i in range(0, len(x), 64):
            idx = order[i:i + 64]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"epoch {epoch + 1}: loss {loss.item():.4f}  ({time.time() - start:.1f} s)")
    acc = accuracy(model, xt, yt)

    folder = args.dir or tempfile.mkdtemp(prefix="nn-export-")
    os.makedirs(folder, exist_ok=True)
    sd = model.state_dict()
    f32 = os.path.join(folder, "mlp_f32.safetensors")
    f16 = os.path.join(folder, "mlp_f16.safetensors")
    save_safetensors(f32, sd)
    save_safetensors(f16, sd, torch.float16)
    model.load_state_dict({k: v.half().float() for k, v in sd.items()})
    acc_half = accuracy(model, xt, yt)  # PyTorch with the float16 weights

    got = nn_eval(args.nn, f32, os.path.join(folder, "model_f32.safetensors"))
    got_half = nn_eval(args.nn, f16, os.path.join(folder, "model_f16.safetensors"))
    print(f"test accuracy   PyTorch   nn eval   difference")
    print(f"float32 weights {acc:.4f}    {got:.4f}    {got - acc:+.4f}   (allowed 0.001)")
    print(f"float16 weights {acc_half:.4f}    {got_half:.4f}    {got_half - acc:+.4f}   "
          f"(against float32 PyTorch; allowed 0.005)")
    ok = abs(got - acc) <= 0.001 and abs(got_half - acc) <= 0.005
    print("round trip " + ("OK" if ok else "FAILED") + f"; files in {folder}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
