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
  - "int a, b; /* c */" documents a and b (doxygen alone: b only);
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


class Filter:
    """The state of one pass over a header's lines."""

    def __init__(self, path, lines):
        self.path, self.lines = path, lines
        self.role = classify(lines)
        self.verbatim, self.in_verbatim = verbatim_runs(lines, self.role), False
        self.open_group = False  # inside an @name section
        self.run_head = None     # the documented declaration a run started with
        self.depth = 0           # inside how many struct or enum bodies
        self.out = []

    def comment_line(self, i, line, r):
        """A line of a comment that becomes documentation."""
        if r == "doc":
            return escape(line).replace("/*", "/**", 1)
        if r == "section":
            title, body = section_title(line)
            rest = escape(body[len(title):].lstrip(" .:"))
            self.out.append(("/** @} */ " if self.open_group else "") + "/** @name "
                            + escape(title))
            self.open_group = True
            return " * " + rest + (" */" if "*/" in line else "")
        if i in self.verbatim or self.in_verbatim:
            mark = self.verbatim.get(i, set())
            self.in_verbatim = (self.in_verbatim or "start" in mark) and "end" not in mark
            return verbatim_line(line, mark)
        return escape(line)

    def code_line(self, i, line, code):
        """A line of code, with its trailing comment if any."""
        if self.depth > 0 and code.strip().endswith(";") and not code.lstrip().startswith("}"):
            return member_line(line)
        if "/*" in line and code.strip():
            return code + "/**<" + escape(line.partition("/*")[2])
        if line.startswith("NN_API") and self.run_head:
            return "/** Shares the comment of " + self.run_head + " */ " + line
        if line.startswith("#define") and self.run_head:
            return "/** Shares the comment of " + self.run_head + ". */ " + line
        if line.startswith("#ifdef __cplusplus") and self.open_group and \
                i > len(self.lines) // 2:
            self.out.append("/** @} */")
            self.open_group = False
        return line

    def line(self, i, line):
        r = self.role.get(i)
        code = line.partition("/*")[0] if r is None else ""
        if not line.strip() or r in ("doc", "section"):
            self.run_head = None
        if RULE.match(line):
            line = ""
        elif i == 0 and line.startswith("/*") and not line.startswith("/**"):
            line = "/** @file " + self.path.split("include/")[-1]
        elif r is not None:
            line = self.comment_line(i, line, r)
        else:
            line = self.code_line(i, line, code)
        if self.role.get(("end", i)):
            line += " /** @{ */"
        f = re.match(r"NN_API[^(]*?(\w+)\(", self.lines[i])
        m = f or re.match(r"#define (\w+)", self.lines[i])
        if m and self.role.get(i - 1) in ("doc", "text") and "/*" not in self.lines[i]:
            self.run_head = m.group(1) + ("()." if f else "")
        if 'extern "C"' not in code and not (i > 0 and self.lines[i - 1].startswith("#ifdef")):
            self.depth += code.count("{") - code.count("}")  # struct and enum bodies only
        self.out.append(line)


def main():
    path = sys.argv[1]
    lines = open(path, encoding="utf-8").read().split("\n")
    f = Filter(path, lines)
    for i, line in enumerate(lines):
        f.line(i, line)
    sys.stdout.write("\n".join(f.out))


if __name__ == "__main__":
    main()
