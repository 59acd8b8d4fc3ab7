#!/usr/bin/python3
"""`make bench`: libnn and PyTorch side by side on the same machine, in one run.

Runs the MLP (build/bench_mlp) and the LeNet-style CNN (build/bench_cnn)
against bench/torch_mlp.py (PyTorch, each in its best configuration on this
machine) on 1 and 2 threads, measures each process's peak RSS the same way
(bench/rss.py), prints a table of figures and libnn/PyTorch ratios against
the targets per model, and rewrites the "Latest run" part of
bench/RESULTS.md.

    /usr/bin/python3 bench/run.py [--models mlp,lenet] [--epochs 5] [--cnn-epochs 3]
                                  [--threads 1,2] [--repeat 2] [--no-write]

The machines this runs on are shared virtual machines whose speed drifts by
tens of percent from minute to minute, so each side runs --repeat times,
interleaved (libnn, PyTorch, libnn, PyTorch, ...), and each figure is the
best of the repeats (the median epoch within a run, then the fastest run):
the same rule for both sides. The load average before and after is
recorded with the results.
"""
import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = "/usr/bin/python3"

# Per model: GFLOP of one epoch's arithmetic, the libnn program, PyTorch's
# best configuration per thread count (torch_mlp.py options), and the
# targets (ratio libnn / PyTorch) of issue 17 for the CNN and of the MLP's
# issue for the MLP.
MODELS = {
    "mlp": {
        "title": "MLP 784-256-128-10",
        "gflop": 60.4,
        "prog": "bench_mlp",
        "torch": {1: ["--threads", "1"], 2: ["--threads", "2"]},
        "epoch_target": {1: 0.45, 2: 0.30},
        "b1000": 1.05, "b1": 0.40, "rss": 0.25,
    },
    "lenet": {
        "title": "LeNet-style CNN (1x28x28 conv:8,5,pad=2 relu maxpool:2 conv:16,5 relu "
                 "maxpool:2 flatten dense:120 relu dense:84 relu dense:10)",
        "gflop": 175.0,
        "prog": "bench_cnn",
        # the convolutions run in PyTorch's own pool: 2 threads there and
        # OpenBLAS at 1 is its fastest 2-core configuration (issue 17)
        "torch": {1: ["--threads", "1"], 2: ["--threads", "1", "--torch-threads", "2"]},
        "epoch_target": {1: 0.50, 2: 0.40},
        "b1000": 1.5, "b1": 0.30, "rss": 0.25,
    },
}


def run_json(cmd):
    """Runs cmd under rss.py; returns (the command's JSON line, rss JSON)."""
    rss_file = os.path.join(ROOT, "build", "bench-rss.json")
    p = subprocess.run([PY, os.path.join(HERE, "rss.py"), "-o", rss_file, "--"] + cmd,
                       stdout=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed with status {p.returncode}")
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if not lines:
        sys.exit(f"bench: {' '.join(cmd)} printed no JSON line")
    with open(rss_file) as f:
        return json.loads(lines[-1]), json.load(f)


def cpu_name():
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                k, _, v = line.partition(":")
                info.setdefault(k.strip(), v.strip())
    except OSError:
        return platform.processor() or "unknown"
    return "{} (family {}, model {})".format(info.get("model name", "unknown"),
                                             info.get("cpu family", "?"),
                                             info.get("model", "?"))


def commit():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              stdout=subprocess.PIPE, text=True).stdout.strip()
    except OSError:
        return "unknown"


def measure(model, epochs, threads, repeat):
    """Best-of-repeat figures per (impl, threads), runs interleaved."""
    m = MODELS[model]
    res = {}
    better = {"epoch_s_median": min, "infer_b1_us": min, "peak_rss_mib": min,
              "infer_b1000_img_s": max}
    for t in threads:
        for rep in range(repeat):
            for impl in ("libnn", "pytorch"):
                if impl == "libnn":
                    cmd = [os.path.join(ROOT, "build", m["prog"]), "--threads", str(t),
                           "--epochs", str(epochs)]
                else:
                    cmd = [PY, os.path.join(HERE, "torch_mlp.py"), "--model", model,
                           "--epochs", str(epochs), "--json"] + m["torch"][t]
                print(f"bench: {model}, {impl}, {t} thread(s), run {rep + 1} of {repeat} ...",
                      file=sys.stderr, flush=True)
                r, rss = run_json(cmd)
                r["peak_rss_mib"] = rss["peak_rss_mib"]
                prev = res.get((impl, t))
                if prev:
                    for k, pick in better.items():
                        if k in r and k in prev:
                            r[k] = pick(r[k], prev[k])
                res[(impl, t)] = r
    return res


def table(model, res, epochs, threads):
    m = MODELS[model]
    rows = []  # (label, key, fmt, lower_is_better, target ratio or None)
    rows.append(("epoch, s (median)", "epoch_s_median", "{:.3f}", True, None))
    rows.append((f"test accuracy after {epochs} epochs", "test_acc", "{:.4f}", False, None))
    rows.append(("inference batch 1000, images/s", "infer_b1000_img_s", "{:,.0f}", False,
                 m["b1000"]))
    rows.append(("inference batch 1, us/image", "infer_b1_us", "{:.2f}", True, m["b1"]))
    rows.append(("peak resident memory, MiB", "peak_rss_mib", "{:.0f}", True, m["rss"]))
    out = [f"{m['title']}:", ""]
    out.append("| metric | " + " | ".join(
        f"libnn {t}T | PyTorch {t}T | ratio (target)" for t in threads) + " |")
    out.append("|" + "---|" * (1 + 3 * len(threads)))
    for label, key, fmt, lower, target in rows:
        cells = [label]
        for t in threads:
            a, b = res[("libnn", t)].get(key), res[("pytorch", t)].get(key)
            cells += [fmt.format(a) if a is not None else "-",
                      fmt.format(b) if b is not None else "-"]
            tgt = m["epoch_target"].get(t) if key == "epoch_s_median" else target
            if a is None or b is None or not b:
                cells.append("-")
                continue
            ratio = a / b
            if tgt is None:
                cells.append(f"{ratio:.2f}x")
            else:
                ok = ratio <= tgt if lower else ratio >= tgt
                cells.append(f"{ratio:.2f}x ({'<=' if lower else '>='} {tgt}: "
                             f"{'met' if ok else 'NOT met'})")
        out.append("| " + " | ".join(cells) + " |")
    out.append(f"| GFLOP/s of the epoch's arithmetic ({m['gflop']} GFLOP) | " + " | ".join(
        f"{m['gflop'] / res[('libnn', t)]['epoch_s_median']:.1f} | "
        f"{m['gflop'] / res[('pytorch', t)]['epoch_s_median']:.1f} | -" for t in threads) + " |")
    if 1 in threads and 2 in threads:
        s = res[("libnn", 1)]["epoch_s_median"] / res[("libnn", 2)]["epoch_s_median"]
        ps = res[("pytorch", 1)]["epoch_s_median"] / res[("pytorch", 2)]["epoch_s_median"]
        out.append("")
        out.append(f"2-thread speed-up over 1 thread: libnn {s:.2f}x, PyTorch {ps:.2f}x")
    lib = res[("libnn", threads[0])]
    torch = res[("pytorch", threads[0])]
    notes = [f"libnn backend {lib.get('backend', '?')}"]
    notes.append("model built by nn_model_new from its spec, trained by the trainer")
    if "max_batch" in lib:
        notes.append(f"libnn compiled for batches of up to {lib['max_batch']}")
    notes.append("PyTorch " + ", ".join(
        f"{t}T: torch {res[('pytorch', t)].get('torch_threads', '?')} thread(s), OpenBLAS "
        f"{res[('pytorch', t)].get('openblas_threads', '?')}" for t in threads) +
        f", OpenBLAS core type {torch.get('openblas_coretype', '?')}, malloc "
        f"{torch.get('malloc', 'default')}")
    out.append("")
    out.append("(" + "; ".join(notes) + ".)")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="mlp,lenet")
    ap.add_argument("--epochs", type=int, default=5, help="MLP epochs")
    ap.add_argument("--cnn-epochs", type=int, default=3, help="LeNet epochs")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeat", type=int, default=2, help="runs per side, best kept")
    ap.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    models = [m for m in args.models.split(",") if m]
    for m in models:
        if m not in MODELS:
            sys.exit(f"bench: unknown model '{m}' (expected {', '.join(MODELS)})")
    load0 = os.getloadavg()
    tables = []
    for m in models:
        epochs = args.cnn_epochs if m == "lenet" else args.epochs
        res = measure(m, epochs, threads, args.repeat)
        tables.append(table(m, res, epochs, threads))
    load1 = os.getloadavg()
    text = "\n\n".join(tables)
    print(text)

    if args.no_write:
        return
    now = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC")
    latest = (f"## Latest run\n\n{now}, commit {commit()}, CPU: {cpu_name()}, "
              f"{os.cpu_count()} cores, shared with other sessions: load average "
              f"{load0[0]:.1f} before and {load1[0]:.1f} after the run (1-minute). "
              f"Batch 64, Adam 1e-3, seed 1; best of {args.repeat} interleaved runs per "
              f"side.\n\n{text}\n")
    path = os.path.join(HERE, "RESULTS.md")
    try:
        with open(path) as f:
            old = f.read()
    except OSError:
        old = "# Benchmark results\n\n## Latest run\n\n"
    pat = re.compile(r"## Latest run\n.*?(?=\n## |\Z)", re.S)
    new = pat.sub(lambda _: latest, old, count=1) if pat.search(old) else old + "\n" + latest
    with open(path, "w") as f:
        f.write(new)
    print(f"bench: wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
