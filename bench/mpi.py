#!/usr/bin/python3
"""`make bench-mpi`: data-parallel training of the MLP 784-256-128-10 (Adam
1e-3) on Fashion-MNIST, `nn train` on 1 rank and under `mpirun -np 2`
(1 thread per rank) over shared memory (btl self,vader) and TCP on the
loopback (self,tcp), plain (one allreduce per step, and the sharded
optimizer step of NN_MPI_SHARD=1) and --reproducible, at global batch
256 and 1024; PyTorch DistributedDataParallel (gloo) on the same task;
one MPI_Allreduce of the gradient block, and the reduce-scatter +
allgather pair of the sharded step. Prints a Markdown table: seconds per
epoch (median over --epochs), speed-up over 1 rank, bytes each rank sends
per step, test accuracy. Every run is repeated --rounds times, the rounds
interleaved (the host's speed drifts from minute to minute); the table
gives the median round and the range. The CPU and the load average are
printed: the numbers mean little on a loaded machine.

    /usr/bin/python3 bench/mpi.py [--build build] [--epochs 3] [--rounds 3]
"""
import argparse
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

P = 235146  # the MLP's gradient block, floats
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
BTL = {"shm": ["--mca", "btl", "self,vader"],
       "tcp": ["--mca", "btl", "self,tcp", "--mca", "btl_tcp_if_include", "lo"]}


def nn_run(build, ranks, btl, batch, epochs, repro, tmp, shard=False):
    log = os.path.join(tmp, "log.csv")
    cmd = [os.path.join(build, "nn"), "train", "--batch", str(batch), "--epochs", str(epochs),
           "--lr", "0.001", "--threads", "1", "--log", log, "--out",
           os.path.join(tmp, "m.safetensors"), "--quiet"]
    if repro:
        cmd.append("--reproducible")
    if ranks > 1:
        cmd = ["mpirun", "-np", str(ranks), "-x", "NN_MPI_SHARD"] + BTL[btl] + cmd
    env = dict(ENV, NN_MPI_SHARD="1" if shard else "0")
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("bench-mpi: %s failed:\n%s%s" % (" ".join(cmd), out.stdout, out.stderr))
    with open(log) as f:
        secs = [float(r["seconds"]) for r in csv.DictReader(f)]
    acc = re.search(r"test accuracy: ([0-9.]+)", out.stdout)
    return statistics.median(secs), float(acc.group(1)) if acc else float("nan")


CONFIGS = ((2, "shm", False, False), (2, "shm", False, True), (2, "tcp", False, False),
           (2, "tcp", False, True), (1, "-", True, False), (2, "shm", True, False))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--build", default="build")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--rounds", type=int, default=3,
                   help="interleaved repetitions of every run; the table gives the median "
                        "round and the range (the speed-up of a round is against that "
                        "round's 1-rank run)")
    p.add_argument("--no-torch", action="store_true")
    a = p.parse_args()
    print("CPU: %s; load average before: %s" % (cpu_name(), open("/proc/loadavg").read().split()[:3]))
    for btl in ("shm", "tcp"):
        r = subprocess.run(["mpirun", "-np", "2"] + BTL[btl] +
                           [os.path.join(a.build, "bench_allreduce")],
                           env=ENV, capture_output=True, text=True)
        j = json.loads(r.stdout) if r.returncode == 0 else {}
        print("MPI_Allreduce of %d floats (%.2f MB), 2 ranks, %s: %.0f us; MPI_Reduce_scatter "
              "+ MPI_Allgatherv (the sharded step's): %.0f us (medians of 200)"
              % (P, 4 * P / 1e6, btl, j.get("us", float("nan")),
                 j.get("rs_ag_us", float("nan"))))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for batch in (256, 1024):
            steps = -(-60000 // batch)
            runs = {}  # config -> [(seconds, speed-up, accuracy)] per round
            for _ in range(a.rounds):
                base, base_acc = nn_run(a.build, 1, None, batch, a.epochs, False, tmp)
                runs.setdefault((1, "-", False, False), []).append((base, 1.0, base_acc))
                for cfg in CONFIGS:
                    ranks, btl, repro, shard = cfg
                    s, acc = nn_run(a.build, ranks, btl, batch, a.epochs, repro, tmp, shard)
                    runs.setdefault(cfg, []).append((s, base / s, acc))
            for cfg in ((1, "-", False, False),) + CONFIGS:
                ranks, btl, repro, shard = cfg
                r = runs[cfg]
                # bytes each rank sends per step: the sharded step's reduce-scatter
                # and allgather send half the block each (plus 32 bytes of the
                # norm's allreduce), as an allreduce of 2 ranks sends the block
                # once; the reproducible gather sends its 2 chunks
                sent = 0 if ranks == 1 else (4 * P if not repro else 4 * P * 4 // ranks)
                name = ("libnn" + (" --reproducible" if repro else "") +
                        (" sharded (NN_MPI_SHARD=1)" if shard else ""))
                rows.append((name, batch, ranks, btl, [x[0] for x in r], [x[1] for x in r],
                             sent, statistics.median(x[2] for x in r), steps))
            if not a.no_torch:
                t1 = None
                for procs in (1, 2):
                    r = subprocess.run(["/usr/bin/python3", "bench/torch_ddp.py", "--procs",
                                        str(procs), "--batch", str(batch), "--epochs",
                                        str(a.epochs)], capture_output=True, text=True)
                    if r.returncode != 0:
                        print("torch_ddp failed:", r.stderr[-2000:])
                        continue
                    j = json.loads(r.stdout.strip().splitlines()[-1])
                    t1 = t1 or j["epoch_s"]
                    rows.append(("PyTorch DDP gloo", batch, procs, "tcp" if procs > 1 else "-",
                                 [j["epoch_s"]], [t1 / j["epoch_s"]], 4 * P if procs > 1 else 0,
                                 j["test_acc"], steps))
    print("\n| trainer | global batch | ranks | transport | s/epoch (range) | speed-up (range) | "
          "bytes sent per rank per step | test acc (%d epochs) |" % a.epochs)
    print("|---|---|---|---|---|---|---|---|")
    for n, b, r, t, s, sp, by, acc, _ in rows:
        print("| %s | %d | %d | %s | %s | %s | %s | %.4f |"
              % (n, b, r, t, spread(s, "%.3f"), spread(sp, "%.2fx"),
                 "{:,}".format(by) if by else "-", acc))
    print("\n%d rounds (PyTorch: 1), each run the median of its %d epochs' seconds; "
          "load average after: %s" % (a.rounds, a.epochs, open("/proc/loadavg").read().split()[:3]))


def spread(v, fmt):
    """The median of v, and its range when there are several."""
    m = fmt % statistics.median(v)
    return m if len(v) == 1 else "%s (%s-%s)" % (m, fmt % min(v), fmt % max(v))


def cpu_name():
    with open("/proc/cpuinfo") as f:
        info = {k.strip(): v for k, v in (l.split(":", 1) for l in
                                          f.read().split("\n\n")[0].splitlines() if ":" in l)}
    g = lambda k: info.get(k, "?").strip()
    return "%s (family %s, model %s), %d cores" % (g("model name"), g("cpu family"), g("model"),
                                                   os.cpu_count())


if __name__ == "__main__":
    main()
