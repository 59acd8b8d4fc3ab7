#!/usr/bin/python3
"""PyTorch side of libnn's benchmarks (`make bench`).

Trains the MLP 784-256-128-10 (ReLU, softmax cross-entropy, Adam), or with
--model lenet the LeNet-style CNN 1x28x28 conv:8,5,pad=2 relu maxpool:2
conv:16,5 relu maxpool:2 flatten dense:120 relu dense:84 relu dense:10, on
Fashion-MNIST preloaded in memory as float32 in [0,1], then measures seconds
per epoch, test accuracy, inference throughput at batch 1000, batch-1 latency
and the peak RSS of this process.  With --json it prints one JSON line.

Threads: PyTorch's own (OpenMP) pool runs --torch-threads threads (1 by
default); --threads N gives N threads to OpenBLAS, which does the matrix
products.  For the MLP the fastest split on this 2-core machine is PyTorch 1,
OpenBLAS N (2 threads in both layers oversubscribes the cores and is several
times slower); for the LeNet net, whose convolutions and pooling run in
PyTorch's own pool, it is PyTorch 2, OpenBLAS 1 (--threads 1
--torch-threads 2).  OpenBLAS and glibc's malloc read their settings from
the environment only when they are loaded, so the script re-executes itself
once with OPENBLAS_NUM_THREADS, OPENBLAS_CORETYPE, OMP_NUM_THREADS and (with
--malloc tuned, the default) MALLOC_TRIM_THRESHOLD_ and
MALLOC_MMAP_THRESHOLD_ set for this process alone (see bench/README.md).

Run with Debian's interpreter: /usr/bin/python3 bench/torch_mlp.py --threads 2
"""
import argparse
import os
import sys

DATA = "/usr/share/datasets/fashion-mnist"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, choices=(1, 2), default=1,
                   help="OpenBLAS threads (PyTorch's own pool stays at 1)")
    p.add_argument("--torch-threads", type=int, default=1,
                   help="PyTorch intra-op threads (default 1; 2 with "
                        "--threads 2 reproduces the oversubscribed setup)")
    p.add_argument("--coretype", default="SkylakeX",
                   help="OPENBLAS_CORETYPE for this process (default SkylakeX)")
    p.add_argument("--malloc", choices=("tuned", "default"), default="tuned",
                   help="glibc malloc: 'tuned' keeps freed memory in the heap "
                        "(MALLOC_TRIM_THRESHOLD_, MALLOC_MMAP_THRESHOLD_), so that "
                        "PyTorch's per-call tensors of a few MB do not page-fault "
                        "anew on every call (default: tuned)")
    p.add_argument("--model", choices=("mlp", "lenet"), default="mlp")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--passes", type=int, default=7,
                   help="passes over the test set for batch-1000 throughput")
    p.add_argument("--b1-calls", type=int, default=2000,
                   help="single-image calls for batch-1 latency")
    p.add_argument("--data", default=DATA, help="Fashion-MNIST directory")
    p.add_argument("--json", action="store_true", help="print one JSON line")
    only = p.add_mutually_exclusive_group()
    only.add_argument("--train-only", action="store_true")
    only.add_argument("--infer-only", action="store_true",
                      help="inference on an untrained model (speed only)")
    return p.parse_args()


# glibc returns a freed block of more than the mmap threshold (dynamic, up to
# 32 MiB) or the top of the heap past the trim threshold to the system, and
# the next call's tensor of the same size page-faults again: measured here
# (LeNet, one thread), batch-1000 inference 1,525 img/s with glibc's
# defaults and 14,228 with these; training 8.5 and 7.0 ms per batch.
MALLOC_TUNED = ("4294967296", "33554432")


def reexec_with_env(args):
    """Set the BLAS/OpenMP environment before torch loads OpenBLAS."""
    want = {"OPENBLAS_NUM_THREADS": str(args.threads),
            "OPENBLAS_CORETYPE": args.coretype,
            "MALLOC_TRIM_THRESHOLD_": MALLOC_TUNED[0] if args.malloc == "tuned" else None,
            "MALLOC_MMAP_THRESHOLD_": MALLOC_TUNED[1] if args.malloc == "tuned" else None,
            "OMP_NUM_THREADS": str(args.torch_threads)}
    if all(os.environ.get(k) == v for k, v in want.items()):
        return
    if os.environ.get("_TORCH_MLP_REEXEC"):
        sys.exit("torch_mlp.py: environment not applied after re-exec")
    env = dict(os.environ, _TORCH_MLP_REEXEC="1")
    for k, v in want.items():  # None: unset
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


ARGS = parse_args()
reexec_with_env(ARGS)

import ctypes  # noqa: E402  (imported after the re-exec on purpose)
import gzip  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def load_idx(path, header, shape):
    """Read a gzip IDX file: skip its header, reshape the uint8 payload."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def load_split(directory, prefix):
    x = load_idx(f"{directory}/{prefix}-images-idx3-ubyte.gz", 16, (-1, 784))
    y = load_idx(f"{directory}/{prefix}-labels-idx1-ubyte.gz", 8, (-1,))
    return (torch.from_numpy(x.astype(np.float32) / 255.0),
            torch.from_numpy(y.astype(np.int64)))


def openblas_info():
    """Core type and thread count OpenBLAS actually uses (None if absent)."""
    with open("/proc/self/maps") as f:
        libs = {ln.split()[-1] for ln in f if "libopenblas" in ln}
    if not libs:
        return None, None
    lib = ctypes.CDLL(libs.pop())          # already loaded by torch: same copy
    lib.openblas_get_corename.restype = ctypes.c_char_p
    return lib.openblas_get_corename().decode(), lib.openblas_get_num_threads()


def cpu_name():
    """'model name family F model M' from /proc/cpuinfo: hosts differ."""
    info = {}
    with open("/proc/cpuinfo") as f:
        for ln in f:
            k, _, v = ln.partition(":")
            info.setdefault(k.strip(), v.strip())
    return "{} family {} model {}".format(info.get("model name"),
                                          info.get("cpu family"), info.get("model"))


def make_model(kind):
    if kind == "lenet":
        return torch.nn.Sequential(
            torch.nn.Unflatten(1, (1, 28, 28)),
            torch.nn.Conv2d(1, 8, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(8, 16, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Flatten(),
            torch.nn.Linear(16 * 5 * 5, 120), torch.nn.ReLU(),
            torch.nn.Linear(120, 84), torch.nn.ReLU(),
            torch.nn.Linear(84, 10))
    return torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10))


def train(model, x, y, args):
    """Train for args.epochs; return the wall-clock seconds of each epoch."""
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    gen = torch.Generator().manual_seed(args.seed)
    n, times = x.shape[0], []
    model.train()
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, args.batch):   # last batch may be short
            idx = perm[i:i + args.batch]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    return times


@torch.no_grad()
def accuracy(model, x, y):
    model.eval()
    hits = sum((model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item()
               for i in range(0, x.shape[0], 1000))
    return hits / x.shape[0]


@torch.no_grad()
def infer_speed(model, x, args):
    """Images/s at batch 1000 (median pass) and microseconds per image at batch 1."""
    model.eval()
    passes = []
    for k in range(args.passes + 1):        # pass 0 is a warm-up
        t0 = time.perf_counter()
        for i in range(0, x.shape[0], 1000):
            model(x[i:i + 1000])
        if k:
            passes.append(time.perf_counter() - t0)
    singles = [x[i:i + 1] for i in range(args.b1_calls)]
    for s in singles[:100]:                 # warm-up
        model(s)
    lat = []
    for s in singles:
        t0 = time.perf_counter_ns()
        model(s)
        lat.append(time.perf_counter_ns() - t0)
    return x.shape[0] / statistics.median(passes), statistics.median(lat) / 1e3


def main(args):
    torch.set_num_threads(args.torch_threads)
    torch.manual_seed(args.seed)
    core, blas_threads = openblas_info()
    r = {"impl": "pytorch", "model": args.model, "threads": args.threads,
         "torch_threads": torch.get_num_threads(),
         "openblas_threads": blas_threads, "openblas_coretype": core,
         "malloc": args.malloc,
         "torch_version": torch.__version__, "cpu": cpu_name(),
         "epochs": args.epochs, "batch": args.batch, "lr": args.lr, "seed": args.seed}
    try:
        xtest, ytest = load_split(args.data, "t10k")
        if not args.infer_only:
            xtrain, ytrain = load_split(args.data, "train")
    except (OSError, ValueError) as e:
        sys.exit(f"torch_mlp.py: cannot read Fashion-MNIST from {args.data}: {e}")
    model = make_model(args.model)
    if not args.infer_only:
        times = train(model, xtrain, ytrain, args)
        r.update(epoch_s=[round(t, 4) for t in times],
                 epoch_s_median=round(statistics.median(times), 4),
                 test_acc=accuracy(model, xtest, ytest))
    if not args.train_only:
        img_s, b1_us = infer_speed(model, xtest, args)
        r.update(infer_b1000_img_s=round(img_s), infer_b1_us=round(b1_us, 2))
    r["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    if args.json:
        print(json.dumps(r))
    else:
        for k, v in r.items():
            print(f"{k:18} {v}")


if __name__ == "__main__":
    main(ARGS)
