#!/usr/bin/python3
"""tutorial.py - runs the code blocks of a Markdown tutorial (docs/tutorial.md).

    scripts/tutorial.py DOC WORKDIR [--prefix DIR]

The ```c blocks, one after another, are one program: they are written to
WORKDIR/tutorial.c (with #line directives, so that a compiler message names
the line of DOC) and compiled with -Wall -Wextra -Wpedantic -Werror against
the library installed under DIR (through its pkg-config file). Then the
```sh blocks run in order in WORKDIR with bash -e, DIR's bin/ first on
PATH and its library found at run time; they build and run the program and
draw its graph. Other blocks (```text: output) are not run.

Fails, naming the block's line, if a block does not compile or exits
non-zero (a crash included); and unless the output has a line
"largest difference D" with D <= 1e-6 (the library's gradients against the
closed forms of backpropagation).
"""
import os
import re
import subprocess
import sys

LIMIT = 1e-6


def blocks(path):
    """(language, first line number, text) of each fenced block of path."""
    out, lang, start, text = [], None, 0, []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            fence = re.match(r"^```(\w*)\s*$", line)
            if fence and lang is None:
                lang, start, text = fence.group(1) or "text", n + 1, []
            elif fence:
                out.append((lang, start, "".join(text)))
                lang = None
            elif lang is not None:
                text.append(line)
    if lang is not None:
        sys.exit("%s:%d: a code block is not closed" % (path, start - 1))
    return out


def fail(msg):
    print("tutorial: " + msg, file=sys.stderr)
    sys.exit(1)


def main():
    args = sys.argv[1:]
    prefix = None
    if "--prefix" in args:
        i = args.index("--prefix")
        prefix = os.path.abspath(args[i + 1])
        del args[i:i + 2]
    if len(args) != 2:
        sys.exit(__doc__)
    doc, work = os.path.abspath(args[0]), args[1]
    os.makedirs(work, exist_ok=True)
    env = dict(os.environ)
    if prefix:
        env["PATH"] = prefix + "/bin:" + env["PATH"]
        env["PKG_CONFIG_PATH"] = prefix + "/lib/pkgconfig"
        env["LD_LIBRARY_PATH"] = prefix + "/lib"
    bs = blocks(doc)
    code = [b for b in bs if b[0] == "c"]
    if not code:
        fail("%s has no ```c block" % doc)
    with open(os.path.join(work, "tutorial.c"), "w", encoding="utf-8") as f:
        for _, start, text in code:
            f.write('#line %d "%s"\n%s' % (start, doc, text))
    cflags = subprocess.run(["pkg-config", "--cflags", "nn"], env=env, check=True,
                            capture_output=True, text=True).stdout.split()
    cc = env.get("CC", "cc")
    strict = [cc, "-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-fsyntax-only"]
    if subprocess.run(strict + cflags + ["tutorial.c"], cwd=work, env=env).returncode:
        fail("the ```c blocks of %s do not compile (messages above)" % doc)
    output = ""
    for lang, start, text in bs:
        if lang != "sh":
            continue
        print("$ " + text.rstrip().replace("\n", "\n$ "), flush=True)
        r = subprocess.run(["bash", "-e", "-c", text], cwd=work, env=env,
                           stdout=subprocess.PIPE, text=True)
        sys.stdout.write(r.stdout)
        output += r.stdout
        if r.returncode:
            how = "crashed" if r.returncode > 128 else "failed"
            fail("%s:%d: the block %s (exit %d)" % (doc, start, how, r.returncode))
    diffs = re.findall(r"^largest difference (\S+)", output, re.M)
    if not diffs:
        fail("no line 'largest difference D' in the output")
    if any(not float(d) <= LIMIT for d in diffs):
        fail("a gradient differs from its closed form by %s (more than %g)"
             % (max(diffs, key=float), LIMIT))
    print("tutorial: %d C and %d sh blocks ran; largest gradient difference %s"
          % (len(code), sum(b[0] == "sh" for b in bs), max(diffs, key=float)))


if __name__ == "__main__":
    main()
