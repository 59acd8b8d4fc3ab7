#!/usr/bin/python3
"""Run a command; report its peak RSS and wall time as one JSON line.

    /usr/bin/python3 bench/rss.py [-o FILE] -- COMMAND [ARG...]

The child's own output passes through untouched; the JSON line goes to
stdout after the child exits (or to FILE with -o).  Peak RSS comes from the
rusage that os.wait4 returns for the child (ru_maxrss, KiB on Linux), the same
counter bench/torch_mlp.py reads for itself, so libnn's and PyTorch's peak
memory are measured alike.  Exits with the child's exit status.

Caveat: the kernel counts the launcher's own RSS at the moment of the spawn
(about 11 MiB for this Python) as part of the child's peak, since the child
starts life in the launcher's address space.  It is a maximum, not a sum, so
it only matters for children whose real peak is below that.
"""
import argparse
import json
import os
import sys
import time


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-o", "--output", help="write the JSON line to this file")
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="-- COMMAND [ARG...]")
    args = p.parse_args()
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        p.error("no command given")
    t0 = time.perf_counter()
    try:
        pid = os.posix_spawnp(cmd[0], cmd, os.environ)
    except OSError as e:
        sys.exit(f"rss.py: cannot run {cmd[0]}: {e.strerror}")
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    out = json.dumps({"cmd": cmd, "exit": code, "wall_s": round(wall, 4),
                      "user_s": round(ru.ru_utime, 4), "sys_s": round(ru.ru_stime, 4),
                      "peak_rss_mib": round(ru.ru_maxrss / 1024, 1)})
    if args.output:
        with open(args.output, "w") as f:
            f.write(out + "\n")
    else:
        print(out, flush=True)
    sys.exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main()
