#!/usr/bin/python3
"""PyTorch DistributedDataParallel (gloo, localhost) side of `make bench-mpi`.

Trains the MLP 784-256-128-10 (Adam 1e-3) on Fashion-MNIST with --procs
processes of 1 thread each; --batch is the global batch (each process
takes batch/procs of a DistributedSampler's shard). Prints one JSON line:
seconds per epoch (median over --epochs) and the test accuracy.

Run with Debian's interpreter: /usr/bin/python3 bench/torch_ddp.py --procs 2
"""
import argparse
import gzip
import json
import os
import statistics
import sys
import time

DATA = "/usr/share/datasets/fashion-mnist"


def load(prefix):
    import numpy as np
    for name in (prefix + "-images-idx3-ubyte", prefix + "-images-idx3-ubyte.gz"):
        p = os.path.join(DATA, name)
        if os.path.exists(p):
            op = gzip.open if p.endswith(".gz") else open
            with op(p, "rb") as f:
                x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
            lp = p.replace("images-idx3", "labels-idx1")
            with op(lp, "rb") as f:
                y = np.frombuffer(f.read(), np.uint8, offset=8)
            return x.astype("float32") / 255.0, y.astype("int64")
    sys.exit("torch_ddp: no Fashion-MNIST under " + DATA)


def worker(rank, args):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(args.port))
    import torch
    import torch.distributed as dist
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=args.procs)
    torch.manual_seed(args.seed)
    xtr, ytr = load("train")
    xte, yte = load("t10k")
    xtr, ytr = torch.from_numpy(xtr), torch.from_numpy(ytr)
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 10))
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.Adam(ddp.parameters(), lr=1e-3)
    lossf = torch.nn.CrossEntropyLoss()
    local = args.batch // args.procs
    times = []
    for epoch in range(args.epochs):
        g = torch.Generator().manual_seed(args.seed + epoch)
        perm = torch.randperm(len(xtr), generator=g)
        dist.barrier()
        t0 = time.perf_counter()
        for s in range(0, len(perm), args.batch):
            idx = perm[s + rank * local: min(s + (rank + 1) * local, len(perm))]
            if len(idx) == 0:
                idx = perm[s:s + 1]
            opt.zero_grad()
            lossf(ddp(xtr[idx]), ytr[idx]).backward()
            opt.step()
        dist.barrier()
        times.append(time.perf_counter() - t0)
    if rank == 0:
        with torch.no_grad():
            acc = (model(torch.from_numpy(xte)).argmax(1) == torch.from_numpy(yte)).float().mean()
        print(json.dumps({"procs": args.procs, "batch": args.batch,
                          "epoch_s": statistics.median(times), "test_acc": float(acc)}))
    dist.destroy_process_group()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--procs", type=int, default=1)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--port", type=int, default=29517)
    args = p.parse_args()
    os.environ.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    import torch.multiprocessing as mp
    mp.spawn(worker, args=(args,), nprocs=args.procs, join=True)


if __name__ == "__main__":
    main()
