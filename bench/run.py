#!/usr/bin/python3
"""`make bench`: libnn and PyTorch side by side on the same machine, in one run.

Runs build/bench_mlp (libnn) and bench/torch_mlp.py (PyTorch, each in its best
configuration) on 1 and 2 threads, measures each process's peak RSS the same
way (bench/rss.py), prints a table of figures and libnn/PyTorch ratios against
the targets, and rewrites the "Latest run" part of bench/RESULTS.md.

    /usr/bin/python3 bench/run.py [--epochs 5] [--threads 1,2] [--repeat 2] [--no-write]

The machines this runs on are shared virtual machines whose speed drifts by
tens of percent from minute to minute, so each side runs --repeat times,
interleaved (libnn, PyTorch, libnn, PyTorch, ...), and each figure is the
best of the repeats (the median epoch within a run, then the fastest run):
the same rule for both sides.
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
GFLOP_PER_EPOCH = 60.4


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
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def commit():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              stdout=subprocess.PIPE, text=True).stdout.strip()
    except OSError:
        return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeat", type=int, default=2, help="runs per side, best kept")
    ap.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    res = {}
    better = {"epoch_s_median": min, "infer_b1_us": min, "peak_rss_mib": min,
              "infer_b1000_img_s": max}
    for t in threads:
        for rep in range(args.repeat):
            for impl in ("libnn", "pytorch"):
                if impl == "libnn":
                    cmd = [os.path.join(ROOT, "build", "bench_mlp"), "--threads", str(t),
                           "--epochs", str(args.epochs)]
                else:
                    cmd = [PY, os.path.join(HERE, "torch_mlp.py"), "--threads", str(t),
                           "--epochs", str(args.epochs), "--json"]
                print(f"bench: {impl}, {t} thread(s), run {rep + 1} of {args.repeat} ...",
                      file=sys.stderr, flush=True)
                r, rss = run_json(cmd)
                r["peak_rss_mib"] = rss["peak_rss_mib"]
                prev = res.get((impl, t))
                if prev:
                    for k, pick in better.items():
                        if k in r and k in prev:
                            r[k] = pick(r[k], prev[k])
                res[(impl, t)] = r

    rows = []  # (label, key, fmt, lower_is_better, target ratio or None)
    def row(label, key, fmt, lower, target=None):
        rows.append((label, key, fmt, lower, target))
    row("MLP epoch, s (median)", "epoch_s_median", "{:.3f}", True)
    row("test accuracy after %d epochs" % args.epochs, "test_acc", "{:.4f}", False)
    row("inference batch 1000, images/s", "infer_b1000_img_s", "{:,.0f}", False, 1.05)
    row("inference batch 1, us/image", "infer_b1_us", "{:.2f}", True, 0.40)
    row("peak resident memory, MiB", "peak_rss_mib", "{:.0f}", True, 0.25)
    epoch_target = {1: 0.45, 2: 0.40}

    out = []
    hdr = "| metric | " + " | ".join(
        f"libnn {t}T | PyTorch {t}T | ratio (target)" for t in threads) + " |"
    out.append(hdr)
    out.append("|" + "---|" * (1 + 3 * len(threads)))
    for label, key, fmt, lower, target in rows:
        cells = [label]
        for t in threads:
            a, b = res[("libnn", t)].get(key), res[("pytorch", t)].get(key)
            cells += [fmt.format(a) if a is not None else "-",
                      fmt.format(b) if b is not None else "-"]
            tgt = epoch_target.get(t) if key == "epoch_s_median" else target
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
    gfl = ["| GFLOP/s of the epoch's products (60.4 GFLOP) | " + " | ".join(
        f"{GFLOP_PER_EPOCH / res[('libnn', t)]['epoch_s_median']:.1f} | "
        f"{GFLOP_PER_EPOCH / res[('pytorch', t)]['epoch_s_median']:.1f} | -" for t in threads) + " |"]
    out += gfl
    if 1 in threads and 2 in threads:
        s = res[("libnn", 1)]["epoch_s_median"] / res[("libnn", 2)]["epoch_s_median"]
        out.append("")
        out.append(f"libnn 2-thread speed-up over 1 thread: {s:.2f}x (target >= 1.6); "
                   f"PyTorch: {res[('pytorch', 1)]['epoch_s_median'] / res[('pytorch', 2)]['epoch_s_median']:.2f}x")
    table = "\n".join(out)
    print(table)

    if args.no_write:
        return
    now = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC")
    pt = res[("pytorch", threads[0])]
    latest = (f"## Latest run\n\n{now}, commit {commit()}, CPU: {cpu_name()} "
              f"({os.cpu_count()} cores), libnn GEMM backend "
              f"{res[('libnn', threads[0])].get('backend', '?')}, PyTorch "
              f"{pt.get('torch_version', '?')} with OpenBLAS core type "
              f"{pt.get('openblas_coretype', '?')}, {args.epochs} epochs, batch 64, "
              f"Adam 1e-3, seed 1; best of {args.repeat} interleaved runs per side."
              f"\n\n{table}\n")
    path = os.path.join(HERE, "RESULTS.md")
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        text = "# Benchmark results\n\n## Latest run\n\n"
    pat = re.compile(r"## Latest run\n.*?(?=\n## |\Z)", re.S)
    text = pat.sub(lambda m: latest, text, count=1) if pat.search(text) else text + "\n" + latest
    with open(path, "w") as f:
        f.write(text)
    print(f"bench: wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
