#!/usr/bin/python3
"""doxygen-filter.py - reads a public header of libnn as doxygen should see it.

    scripts/doxygen-filter.py FILE      (doxygen's INPUT_FILTER; writes to stdout)

The headers are commented in plain C comments, not doxygen's, so that they
read well as text. This filter, run by `make docs` only, makes those
comments documentation:
  - a comment that ends on the line just before a declaration documents
    it ("/*" becomes "/**"); so do the comments directly above it;
  - a comment after code on the same line documents that code ("/**<");
  - functions declared right under a documented one, without a blank line
    or a comment of their own, share its comment, which says so
    ("Shares the comment of nn_ctx_new().", a link);
  - runs of indented lines in a comment (formulas, grammars, examples)
    keep their layout (@verbatim);
  - a comment followed by a blank line starts a section of the file page
    ("@name" with its first words as the title, the rest as its text),
    which lasts until the next such comment (one line is added for it);
  - the comment at the top of include/nn.h becomes that file's page.
Text that doxygen would read as a command or an HTML tag ("<nn.h>",
"@", "\\", "#") is escaped inside the comments it changes.
"""
import re
import sys

RULE = re.compile(r"^\s*/\*\s*-{8,}\s*\*/\s*$")  # /* ------ */


def escape(text):
    """Doxygen-safe comment text (the comment markers themselves left alone)."""
    text = text.replace("\\", "\\\\").replace("@", "\\@")
    text = re.sub(r"<(?=[A-Za-z/])", r"\\<", text)
    text = re.sub(r"#(?=\w)", r"\\#", text)
    text = text.replace("%", "\\%")
    text = re.sub(r"(?<!-)--(?!-)", r"\\--", text)  # "--png", not an en dash
    # "e.g. x" is not the end of a sentence (the brief description)
    return re.sub(r"\b(e\.g|i\.e|etc|vs)\. ", r"\1.\\ ", text)


def comment_blocks(lines):
    """(first, last) line index of each comment that starts a line."""
    out, i = [], 0
    while i < len(lines):
        s = lines[i].lstrip()
        if s.startswith("/*") and not s.startswith("/**"):
            j = i
            while "*/" not in lines[j][lines[j].find("/*") + 2 if j == i else 0:]:
                j += 1
            out.append((i, j))
            i = j + 1
        else:
            i += 1
    return out


def section_title(first):
    """'/* ---- Checkpoints (src/io/...): text' -> ('Checkpoints', rest)."""
    body = re.sub(r"^\s*/\*\s*(-+\s*)?", "", first).rstrip()
    body = re.sub(r"\s*\*/$", "", body)
    m = re.match(r"([^.:(]*[^.:( ])", body)
    title = m.group(1) if m else body
    return title, body


MULTI = re.compile(r"^(\s*)((?:const\s+)?\w+(?:\s+\w+)*?)\s+(\w+(?:\s*,\s*\w+)+)\s*;(.*)$")


def member_line(line):
    """A member declaration with doxygen comments: "int a, b; /* c */" is
    split into "int a; /**< c */ int b; /**< c */" (doxygen would document
    b only)."""
    code, sep, comment = line.partition("/*")
    comment = "/**<" + escape(comment) if sep else ""
    m = MULTI.match(code.rstrip())
    if not m:
        return code.rstrip() + (" " + comment if comment else "")
    indent, typ, names = m.group(1), m.group(2), re.split(r"\s*,\s*", m.group(3))
    closed = comment.endswith("*/")
    parts = []
    for k, n in enumerate(names):
        last = k == len(names) - 1
        doc = comment if (closed or last) else "/**< Shares the comment of " + names[-1] + ". */"
        parts.append("%s %s;%s" % (typ, n, " " + doc if doc else ""))
    return indent + " ".join(parts)


def classify(lines):
    """{line: role} for the comments to change: "doc" and "section" on a
    comment's first line, "text" on its other lines, "end" on a section's
    last line (with "section" or "text")."""
    role = {}
    blocks = [blk for blk in comment_blocks(lines) if not RULE.match(lines[blk[0]])]
    for n, (a, b) in enumerate(blocks):
        # a run of comments ending at b: what follows the last one decides
        k = n
        while k + 1 < len(blocks) and blocks[k + 1][0] == blocks[k][1] + 1:
            k += 1
        after = lines[blocks[k][1] + 1] if blocks[k][1] + 1 < len(lines) else ""
        if after.strip() and (not after.lstrip().startswith("#") or "define" in after):
            role[a] = "doc"
        elif n == k and a > 0 and not after.strip():
            role[a] = "section"
            role[("end", b)] = True
        else:
            continue
        for i in range(a + 1, b + 1):
            role[i] = "text"
    return role


INDENTED = re.compile(r"^\s*\*   ")  # " *   text": a formula, a grammar, an example


def verbatim_runs(lines, role):
    """{line: set of "start"/"end"} for the runs of indented lines inside
    documentation comments, which doxygen would run together as text."""
    marks, i = {}, 0
    while i < len(lines):
        if role.get(i) == "text" and INDENTED.match(lines[i]):
            j = i
            while role.get(j + 1) == "text" and (INDENTED.match(lines[j + 1]) or
                                                 re.match(r"^\s*\*\s{4,}", lines[j + 1])):
                j += 1
            marks.setdefault(i, set()).add("start")
            marks.setdefault(j, set()).add("end")
            i = j + 1
        else:
            i += 1
    return marks


def verbatim_line(line, mark):
    """A line of an indented run, unescaped, with the run's markers."""
    if "start" in mark:
        line = re.sub(r"\*", "* @verbatim", line, count=1)
    else:  # doxygen keeps a verbatim line's "*"
        line = re.sub(r"^\s*\*", "", line, count=1)
    if "end" in mark:
        if "*/" in line:
            line = line.replace("*/", "@endverbatim */", 1)
        else:
            line += " @endverbatim"
    return line


def main():
    path = sys.argv[1]
    lines = open(path, encoding="utf-8").read().split("\n")
    role = classify(lines)
    verbatim, in_verbatim = verbatim_runs(lines, role), False
    open_group = False
    out = []
    run_head = None  # the documented function a run of declarations started with
    depth = 0        # inside how many struct or enum bodies
    for i, line in enumerate(lines):
        r = role.get(i)
        code = line.partition("/*")[0] if r is None else ""
        if not line.strip() or r in ("doc", "section"):
            run_head = None
        if RULE.match(line):
            line = ""
        elif i == 0 and line.startswith("/*") and not line.startswith("/**"):
            line = "/** @file " + path.split("include/")[-1]
        elif r == "doc":
            line = escape(line).replace("/*", "/**", 1)
        elif r == "section":
            title, body = section_title(line)
            rest = escape(body[len(title):].lstrip(" .:"))
            out.append(("/** @} */ " if open_group else "") + "/** @name " + escape(title))
            line = " * " + rest + (" */" if "*/" in line else "")
            open_group = True
        elif r == "text" and (i in verbatim or in_verbatim):
            mark = verbatim.get(i, set())
            in_verbatim = (in_verbatim or "start" in mark) and "end" not in mark
            line = verbatim_line(line, mark)
        elif r == "text":
            line = escape(line)
        elif depth > 0 and r is None and code.strip() and code.rstrip().endswith(";") \
                and not code.lstrip().startswith("}"):
            line = member_line(line)
        elif (line.startswith("NN_API") or line.startswith("#define")) and run_head:
            line = "/** Shares the comment of " + run_head + "(). */ " + line
        elif re.search(r"\S.*?/\*(?![*])", line) and not line.lstrip().startswith("/*"):
            code, _, comment = line.partition("/*")
            line = code + "/**<" + escape(comment)
        elif line.startswith("#ifdef __cplusplus") and open_group and i > len(lines) // 2:
            out.append("/** @} */")
            open_group = False
        if role.get(("end", i)):
            line += " /** @{ */"
        m = re.match(r"NN_API[^(]*?(\w+)\(", lines[i]) or re.match(r"#define (\w+)", lines[i])
        if m and role.get(i - 1) in ("doc", "text") and "/*" not in lines[i]:
            run_head = m.group(1)
        if 'extern "C"' not in code and not (i > 0 and lines[i - 1].startswith("#ifdef __cplusplus")):
            depth += code.count("{") - code.count("}")  # struct and enum bodies only
        out.append(line)
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    main()
