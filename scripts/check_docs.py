#!/usr/bin/env python3
"""Checks that the documentation matches the code (the ctest test docs.check runs it).

  scripts/check_docs.py --probe build/default/tests/packaging/docs_probe \
      --uepoll build/default/tools/uepoll --preload build/default/src/preload/libuepoll-preload.so

- Manual pages (docs/man): each renders with groff -man -ww and with man -l without a
  warning and has the sections of its kind; each .so link points at a page that exists;
  every page a page names (SEE ALSO or text) that is uepoll's exists; every function
  declared in include/uepoll/uepoll.h has a page.
- Defaults: each default the documentation states (busy-poll, descriptor limit and
  ceiling, descriptor base, watch limit, the preload library's kinds) is compared with what
  the library reports (tests/packaging/docs_probe.c).
- Commands: the shell commands README.md and docs/*.md tell a reader to run are extracted;
  each must name a script, build directory or program that exists (build directories: the
  ones the CMake presets and scripts/demo.sh make), and the cheap ones are run.
Exit status 1 with one line per fault.
"""
import argparse
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAN = os.path.join(ROOT, "docs", "man")
faults = []


def fault(text):
    faults.append(text)


def rel(path):
    return os.path.relpath(path, ROOT)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


# --- manual pages ---------------------------------------------------------------------------

SECTIONS = {
    "1": ["NAME", "SYNOPSIS", "DESCRIPTION", "EXIT STATUS", "SEE ALSO"],
    "3": ["NAME", "SYNOPSIS", "DESCRIPTION", "RETURN VALUE", "ERRORS", "NOTES", "SEE ALSO"],
    "7": ["NAME", "DESCRIPTION", "SEE ALSO"],
}


def check_man_pages():
    pages = sorted(glob.glob(os.path.join(MAN, "*.[137]")))
    if not pages:
        fault("docs/man: no pages")
    have = {os.path.basename(p) for p in pages}
    man = shutil.which("man")
    for page in pages:
        name = os.path.basename(page)
        text = read(page)
        if text.startswith(".so "):
            target = text.split()[1]  # man3/uep_read.3
            if os.path.basename(target) not in have or text.strip().count("\n") != 0:
                fault(f"{rel(page)}: .so link to a page that does not exist: {target}")
            continue
        section = name.rsplit(".", 1)[1]
        if not re.match(r'\.TH \S+ %s ' % section, text):
            fault(f"{rel(page)}: .TH does not give section {section}")
        for s in SECTIONS[section]:
            if not re.search(r'^\.SH "?%s"?$' % s, text, re.M):
                fault(f"{rel(page)}: no {s} section")
        r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", page],
                           capture_output=True, text=True)
        if r.returncode != 0 or r.stderr:
            fault(f"{rel(page)}: groff -man -ww: {r.stderr.strip()}")
        if man:
            env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")  # no locale warning
            r = subprocess.run([man, "--warnings=w", "-l", "-P", "cat", page],
                               capture_output=True, text=True, env=env)
            if r.returncode != 0 or r.stderr:
                fault(f"{rel(page)}: man -l: {r.stderr.strip()}")
        # Every uepoll page named anywhere in the page exists (SEE ALSO included).
        for ref, sec in re.findall(r'^\.B[IR]? (uep_\w+|uepoll) \((\d)\)', text, re.M):
            if f"{ref}.{sec}" not in have:
                fault(f"{rel(page)}: names {ref}({sec}), which has no page")
    # Every function of the C API has a page (its own or a .so link).
    header = read(os.path.join(ROOT, "include", "uepoll", "uepoll.h"))
    for fn in sorted(set(re.findall(r'^[a-z][\w ]*[ *](uep_\w+)\(', header, re.M))):
        if f"{fn}.3" not in have:
            fault(f"include/uepoll/uepoll.h: {fn}() has no page in docs/man")
    # Pages named in the Markdown docs exist too.
    for md in markdown_files():
        for ref, sec in re.findall(r'`?(uep_\w+|uepoll)\((\d)\)', read(md)):
            if f"{ref}.{sec}" not in have:
                fault(f"{rel(md)}: names {ref}({sec}), which has no page")


# --- defaults -----------------------------------------------------------------------------

# Where each default is stated: (file, regex whose group 1 is the value). Every regex must
# match at least once, so that a reworded sentence is noticed here rather than unchecked.
STATED = {
    "busy_poll": [
        ("docs/man/uep_epoll_wait.3", r"sleeps \(default (\d+): a waiter sleeps at once\)"),
        ("include/uepoll/uepoll.h", r"sleeps \(default (\d+): sleeps at once\)"),
        ("DEVELOPERS.md", r"busy-poll rounds\s+\(`BusyLoop`, default (\d+)\)"),
    ],
    "nofile_limit": [
        ("include/uepoll/uepoll.h", r"Default and ceiling: UEPOLL_MAX_FDS \((2\^\d+)\)"),
        ("docs/man/uep_fd_base.3", r"\.BR UEPOLL_MAX_FDS ,\nelse (2\^\d+)\)"),
        ("docs/man/uepoll.7", r"\(default (2\^\d+), at most 2\^\d+\)"),
        ("docs/semantics.md", r"\| `UEPOLL_MAX_FDS` \|[^\n]*\| (2\^\d+) \|"),
        ("README.md", r"`UEPOLL_MAX_FDS` \(how\s+many uepoll descriptors may be open, default (2\^\d+);"),
    ],
    "nofile_ceiling": [
        ("docs/man/uepoll.7", r"\(default 2\^\d+, at most (2\^\d+)\)"),
        ("docs/man/uep_fd_base.3", r"one above (2\^\d+) is reported and lowered to it"),
        ("docs/semantics.md", r"\| `UEPOLL_MAX_FDS` \|[^\n]*up to (2\^\d+) \|"),
    ],
    "fd_base_min": [
        ("docs/man/uep_fd_base.3", r"\(at least (2\^\d+)\)"),
        ("docs/man/uepoll.7", r"\(at least (2\^\d+)\)"),
        ("README.md", r"numbered from `uep_fd_base\(\)` \(at least (2\^\d+)\)"),
    ],
    "preload_kinds": [
        ("docs/compatibility.md", r"\*\*Default: `([a-z,]+)`\.\*\*"),
        ("docs/man/uepoll.1", r"default\n\.BR ([a-z,]+) \)"),
        ("docs/man/uepoll.7", r"\(default\n\.BR ([a-z,]+) ;"),
    ],
}
# Statements anywhere that must agree too (group 1 the value).
ANYWHERE = [
    ("busy_poll", r"busy[- ]poll[^.\n]{0,60}?\bdefault[: ]+(\d+)\b"),
    ("busy_poll", r"spins?\b[^.]{0,80}?before it\s+sleeps\s+\(default (\d+)"),
]


def value_of(text):
    m = re.fullmatch(r"2\^(\d+)", text)
    return str(2 ** int(m.group(1))) if m else text


def probe(args):
    exe = args.probe
    env = {k: v for k, v in os.environ.items() if not k.startswith("UEPOLL_")}
    out = subprocess.run([exe], capture_output=True, text=True, env=env, check=True).stdout
    values = dict(line.split("=", 1) for line in out.split())
    r = subprocess.run([exe], capture_output=True, text=True, check=True,
                       env=dict(env, UEPOLL_MAX_FDS=str(2 ** 40)))
    values["nofile_ceiling"] = dict(line.split("=", 1) for line in r.stdout.split())["nofile_limit"]
    if args.preload:
        r = subprocess.run([exe, "kinds"], capture_output=True, text=True, check=True,
                           env=dict(env, LD_PRELOAD=args.preload))
        values.update(line.split("=", 1) for line in r.stdout.split())
    with open("/proc/sys/fs/epoll/max_user_watches") as f:
        if values["max_user_watches"] != f.read().strip():
            fault("uep_get_max_user_watches() is not /proc/sys/fs/epoll/max_user_watches "
                  "without UEPOLL_MAX_USER_WATCHES, as the man pages say")
    return values


def check_defaults(args):
    values = probe(args)
    for key, places in STATED.items():
        if key not in values and key != "fd_base_min":
            print(f"{key}: not asked (no preload library in this build)")
            continue
        actual = values.get(key)
        for path, regex in places:
            if not os.path.exists(os.path.join(ROOT, path)):
                fault(f"{path}: missing (it states the {key} default)")
                continue
            found = re.findall(regex, read(os.path.join(ROOT, path)))
            if not found:
                fault(f"{path}: the statement of the {key} default was not found "
                      f"(reworded? update STATED in scripts/check_docs.py): /{regex}/")
            for stated in found:
                if key == "fd_base_min":
                    if int(values["fd_base"]) < int(value_of(stated)):
                        fault(f"{path}: uep_fd_base() is at least {stated}, but it is {values['fd_base']}")
                elif value_of(stated) != actual:
                    fault(f"{path}: {key} default stated {stated}, the library says {actual}")
    for key, regex in ANYWHERE:
        for path in markdown_files() + glob.glob(os.path.join(MAN, "*.[137]")) + \
                [os.path.join(ROOT, "include", "uepoll", "uepoll.h")]:
            for stated in re.findall(regex, read(path), re.I):
                if stated != values[key]:
                    fault(f"{rel(path)}: {key} default stated {stated}, the library says {values[key]}")
    print("defaults reported by the library: " + json.dumps(values, sort_keys=True))


# --- commands -------------------------------------------------------------------------------

def markdown_files():
    return [os.path.join(ROOT, "README.md"), os.path.join(ROOT, "DEVELOPERS.md")] + \
        sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))


def build_dirs():
    """Build directories a reader has: the presets' and scripts/demo.sh's."""
    presets = json.loads(read(os.path.join(ROOT, "CMakePresets.json")))
    dirs = {"build/" + p["name"] for p in presets["configurePresets"] if not p.get("hidden")}
    demo = read(os.path.join(ROOT, "scripts", "demo.sh"))
    dirs.update(re.findall(r'"\$root/(build/\w+)"', demo))
    return dirs


def commands():
    """(file, line) for each command in a ```sh block, and inline `man -l ...` ones."""
    out = []
    for md in markdown_files():
        text = read(md)
        for block in re.findall(r"^```(?:sh|bash|console|shell)\n(.*?)^```", text, re.M | re.S):
            joined = re.sub(r"\\\n\s*", " ", block)
            for line in joined.splitlines():
                line = re.sub(r"\s+#.*$", "", line).strip()
                if line.startswith("$ "):
                    line = line[2:]
                if line and not line.startswith("#"):
                    out.extend((md, part) for part in re.split(r"\s*(?:&&|\|\||;)\s*|\s+\|\s+", line)
                               if part)
        for line in re.findall(r"`((?:man -l |scripts/|build[\w/.-]*/uepoll |uepoll )[^`]*)`", text):
            out.append((md, line))
    return out


def check_commands(args):
    uepoll = args.uepoll
    made = {}  # file -> build directories its own commands make (cmake -B DIR)
    for md, line in commands():
        made.setdefault(md, set()).update(re.findall(r"(?:^|\s)-B\s*(\S+)", line))
    for md, line in commands():
        dirs = build_dirs() | made[md]
        where = f"{rel(md)}: `{line}`"
        try:
            words = shlex.split(line)
        except ValueError:
            continue
        while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
            words.pop(0)  # VAR=value prefixes
        if not words or words[0] in ("cd", "export"):
            continue
        prog = words[0]
        if prog.startswith("./") or "..." in line or \
                any(re.match(r"^<.*>$|^\[|^[A-Z]+$", w) for w in words[1:]):
            placeholder = True  # the reader's own program or file: only the paths are checked
        else:
            placeholder = False
        # Build directories named anywhere in the command must be ones that get made.
        for d in re.findall(r"(?<![\w/<-])build[\w.-]*(?:/[\w.-]+)?", line):
            d = d if d in dirs else d.split("/")[0] if d.split("/")[0] in dirs else d
            if d not in dirs and not d.startswith("build/sources"):
                fault(f"{where}: {d} is made by no preset nor scripts/demo.sh ({', '.join(sorted(dirs))})")
        in_build = prog.split("/")[0] in dirs or "/".join(prog.split("/")[:2]) in dirs
        if prog.startswith("./"):
            continue
        if "/" in prog and not prog.startswith(("/", "~")) and not in_build:
            if not os.access(os.path.join(ROOT, prog), os.X_OK) and \
                    not os.path.exists(os.path.join(ROOT, prog)):
                fault(f"{where}: {prog} does not exist")
            continue
        if in_build and not prog.endswith("/tools/uepoll"):
            continue  # made by the build
        if prog == "uepoll" or prog.endswith("/tools/uepoll"):
            run = None
            if words[1:] in (["--version"], ["--help"], ["trace", "--help"]):
                run = words[1:]
            elif words[1:2] == ["trace"] and words[2:3] and not words[2].startswith("-"):
                run = ["trace", words[2], "--quiet"]  # a scenario, no files written
            if run and not placeholder:
                r = subprocess.run([uepoll] + run, capture_output=True, text=True)
                if r.returncode != 0:
                    fault(f"{where}: exit status {r.returncode}")
            continue
        if prog == "man" and words[1:2] == ["-l"]:
            page = os.path.join(ROOT, words[2])
            if not os.path.exists(page):
                fault(f"{where}: {words[2]} does not exist")
            elif shutil.which("man"):
                r = subprocess.run(["man", "-l", "-P", "cat", page], capture_output=True, text=True,
                                   env=dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8"))
                if r.returncode != 0 or r.stderr:
                    fault(f"{where}: {r.stderr.strip()}")
            continue
        if prog in ("sudo", "LD_PRELOAD", "env"):
            continue
        if shutil.which(prog) is None and prog not in ("apt-get",):
            fault(f"{where}: {prog} is not a command here")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--probe", required=True, help="tests/packaging/docs_probe, built")
    ap.add_argument("--uepoll", required=True, help="the uepoll command, built")
    ap.add_argument("--preload", help="libuepoll-preload.so (its default kinds are checked)")
    args = ap.parse_args()
    check_man_pages()
    check_defaults(args)
    check_commands(args)
    for f in faults:
        print("FAULT " + f)
    print(f"{len(faults)} fault(s)")
    return 1 if faults else 0


if __name__ == "__main__":
    sys.exit(main())
