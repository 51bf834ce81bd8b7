#!/usr/bin/env python3
"""Extracts one example program from an installed man page, as its authors marked it.

  extract_man_example.py PAGE.gz NAME.c OUTPUT

man-pages (6.x) wraps each complete example between the comments `.\\" SRC BEGIN (NAME.c)`
and `.\\" SRC END`; inside, every line that is not a roff request or comment is program text
with roff escapes, which are turned back into C: \\e backslash, \\- minus, \\(aq quote,
\\(dq double quote, \\& nothing.
"""
import gzip
import re
import sys

ESCAPES = [("\\e", "\\"), ("\\-", "-"), ("\\(aq", "'"), ("\\(dq", '"'), ("\\&", "")]


def extract(page_text, name):
    begin = '.\\" SRC BEGIN (%s)' % name
    lines = page_text.splitlines()
    try:
        start = lines.index(begin) + 1
    except ValueError:
        sys.exit("no %r in the page" % begin)
    out = []
    for line in lines[start:]:
        if line.startswith('.\\" SRC END'):
            return "\n".join(out) + "\n"
        if line.startswith("."):
            continue  # .EX/.EE and comments
        for roff, c in ESCAPES:
            line = line.replace(roff, c)
        if re.search(r"\\[^n0tr'\"\\x]", line):
            sys.exit("unknown roff escape left in: %s" % line)
        out.append(line)
    sys.exit("no SRC END after %r" % begin)


def main():
    page, name, output = sys.argv[1:4]
    with gzip.open(page, "rt", encoding="utf-8") as f:
        text = extract(f.read(), name)
    with open(output, "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
