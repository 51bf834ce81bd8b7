#!/usr/bin/env python3
"""Runs an existing program's own tests on the kernel or through uepoll, and compares.

  run_suite.py SUITE --mode kernel|compat|preload --results FILE [--kernel-results FILE]
               [--preload LIB] [--bin PATH]

Suites (docs/compatibility.md, "Real programs"):
  libevent   libevent's regress groups and test programs (--bin: their bin/ directory),
             epoll backend, in libevent's three epoll configurations (compat: the test
             programs only, UEPOLL_NUMBERING=kernel)
  python     CPython's own tests of epoll, selectors, asyncio and eventfd
  timerfd    the timerfd_create(2) man page example (--bin: the program)
  eventfd    the eventfd(2) man page example (--bin: the program)
  calls      descriptor_calls.c: the calls besides I/O the programs make on their
             descriptors, with uepoll's gaps pinned (--bin: the program)
  asyncio, node, nginx, redis, memcached, tmux
             the programs themselves (apps/apps.py), each case once on the kernel and, in
             preload mode, under the default kinds and under UEPOLL_PRELOAD=all

kernel: every test must pass (on Linux they are right); the per-test results go to FILE.
compat, preload: the per-test results must equal the kernel run's (--kernel-results), test
for test. The known divergences below are not run in these modes, each for its stated
reason; every one of them is described in docs/compatibility.md.
"""
import argparse
import json
import os
import re
import subprocess
import sys

# --- libevent ---------------------------------------------------------------------------

LIBEVENT_GROUPS = ["main..", "et..", "bufferevent..", "signal..", "thread..", "finalize..",
                   "listener..", "util..", "evbuffer.."]
# libevent's test/test.sh runs its suite under these epoll configurations.
LIBEVENT_CONFIGS = [
    ("epoll", {}, LIBEVENT_GROUPS),
    ("epoll-changelist", {"EVENT_EPOLL_USE_CHANGELIST": "yes"}, ["main..", "et.."]),
    ("epoll-timerfd", {"EVENT_PRECISE_TIMER": "1"}, ["main..", "et.."]),
]
LIBEVENT_PROGRAMS = ["test-init", "test-eof", "test-closed", "test-weof", "test-time",
                     "test-changelist", "test-fdleak", "test-dumpevents"]
# Every kind (UEPOLL_PRELOAD=all; the library's default leaves pipes and socket pairs to
# the kernel). tinytest runs each regress test in a child (fork) and collects its result
# through a pipe made before the fork, and main/fork's child re-adds the parent's socket
# pair to a new instance: both become kernel objects at the fork (docs/compatibility.md).
LIBEVENT_REGRESS_KINDS = "all"
LIBEVENT_DIVERGENCES = {
    "evbuffer/add_file_sendfile": "sendfile(2) into a uepoll socket: not served (see CALLS_GAPS)",
    "evbuffer/add_big_file_sendfile": "sendfile(2) into a uepoll socket",
    "evbuffer/add_file_offset_sendfile": "sendfile(2) into a uepoll socket",
    "evbuffer/add_file_offset2_sendfile": "sendfile(2) into a uepoll socket",
    "evbuffer/add_file_offset3_sendfile": "sendfile(2) into a uepoll socket",
    "evbuffer/add_file_nosegment": "sendfile(2) into a uepoll socket",
    "evbuffer/add_big_file_nosegment": "sendfile(2) into a uepoll socket",
    "evbuffer/add_file_offset_nosegment": "sendfile(2) into a uepoll socket",
}

TEST_LINE = re.compile(r"^([\w.-]+/[\w.-]+): ")
FAILED_LINE = re.compile(r"^\s*\[([\w.-]+) FAILED\]")


def parse_tinytest(output):
    """Per-test results of a tinytest run: the last verdict of each test (retries count)."""
    results = {}
    current = None
    for line in output.splitlines():
        m = TEST_LINE.match(line)
        if m:
            current = m.group(1)
            results[current] = "RUNNING"
        if current is None:
            continue
        if line.endswith(" OK"):
            results[current] = "OK"
        elif line.endswith("SKIPPED"):
            results[current] = "SKIPPED"
        elif line.endswith("DISABLED"):
            results[current] = "DISABLED"
        elif FAILED_LINE.match(line) or "[Lost connection!]" in line:
            results[current] = "FAILED"
    return results


# Compat mode: libevent rebuilt with the header; its evmap refuses descriptor numbers above
# INT_MAX / 2, so it runs with the kernel's numbering. Every pipe is uepoll's there (the
# header has no per-kind choice), tinytest's result pipe included: with kernel numbering
# it becomes the kernel's at each fork, so regress runs as in the other modes.
LIBEVENT_COMPAT_ENV = {"UEPOLL_NUMBERING": "kernel"}


def run_libevent(args, env):
    results = {}
    skips = [":" + name for name in LIBEVENT_DIVERGENCES] if args.mode != "kernel" else []
    regress = os.path.join(args.bin, "regress")
    for config, config_env, groups in LIBEVENT_CONFIGS:
        run_env = dict(env, EVENT_NOPOLL="yes", EVENT_NOSELECT="yes", **config_env)
        if args.mode == "preload":
            run_env["UEPOLL_PRELOAD"] = LIBEVENT_REGRESS_KINDS
        if args.mode == "compat":
            run_env.update(LIBEVENT_COMPAT_ENV)
        verdicts = parse_tinytest(run([regress] + groups + skips, run_env, 300)) if groups else {}
        # Some tests assert timings to +-50 ms or a clock's step: on a loaded machine they
        # fail on any backend now and then. A failed test runs again alone, twice at most
        # (as tinytest retries the tests it marks retriable); its last verdict counts.
        for name in [n for n, v in verdicts.items() if v == "FAILED"]:
            for _ in range(2):
                out = run([regress, name], run_env, 120)
                sys.stdout.write("rerun %s/%s:\n%s" % (config, name, out))
                verdicts[name] = parse_tinytest(out).get(name, "FAILED")
                if verdicts[name] != "FAILED":
                    break
        for name, verdict in verdicts.items():
            if name not in LIBEVENT_DIVERGENCES or args.mode == "kernel":
                results["%s/regress/%s" % (config, name)] = verdict
        for prog in LIBEVENT_PROGRAMS:
            if args.mode == "preload":
                run_env["UEPOLL_PRELOAD"] = "all"
            rc = run_rc([os.path.join(args.bin, prog)], run_env, 60)
            results["%s/%s" % (config, prog)] = "OK" if rc == 0 else "FAILED (exit %d)" % rc
    return results


# --- CPython's tests --------------------------------------------------------------------

PYTHON_TESTS = ["test.test_epoll", "test.test_selectors", "test.test_asyncio.test_events",
                "test.test_asyncio.test_sock_lowlevel", "test.test_asyncio.test_streams",
                "test.test_asyncio.test_locks", "test.test_asyncio.test_unix_events",
                "test.test_os.EventfdTests"]
# Every kind: the loops' self-pipe socket pairs, os.pipe(), os.eventfd() are uepoll's.
PYTHON_KINDS = "all"
# Tests left out under the library: "<regex>", why. None now: the subprocess tests, which
# hand os.pipe() ends to children, run (the pipes become the kernel's at the fork).
PYTHON_DIVERGENCES = []

PYTHON_RUNNER = r"""
import json, re, sys, unittest
names, skip_patterns = json.loads(sys.argv[1])
skip = re.compile("|".join(skip_patterns)) if skip_patterns else None
results = {}
class Result(unittest.TestResult):
    def addSuccess(self, t): results[t.id()] = "ok"
    def addFailure(self, t, e): results[t.id()] = "FAIL"; super().addFailure(t, e)
    def addError(self, t, e): results[t.id()] = "ERROR"; super().addError(t, e)
    def addSkip(self, t, r): results[t.id()] = "skipped"
    def addExpectedFailure(self, t, e): results[t.id()] = "expected failure"
    def addUnexpectedSuccess(self, t): results[t.id()] = "UNEXPECTED SUCCESS"
def flatten(s):
    for x in s:
        if isinstance(x, unittest.TestSuite): yield from flatten(x)
        else: yield x
tests = [t for t in flatten(unittest.defaultTestLoader.loadTestsFromNames(names))
         if skip is None or not skip.search(t.id())]
result = Result()
unittest.TestSuite(tests).run(result)
for t, tb in result.failures + result.errors:
    print("==", t.id(), "\n", tb, file=sys.stderr)
print(json.dumps(results))
"""


def run_python(args, env):
    skips = [p for p, _ in PYTHON_DIVERGENCES] if args.mode != "kernel" else []
    if args.mode == "preload":
        env = dict(env, UEPOLL_PRELOAD=PYTHON_KINDS)
    out = run([sys.executable, "-c", PYTHON_RUNNER, json.dumps([PYTHON_TESTS, skips])], env, 300)
    return json.loads(out.splitlines()[-1])


# --- man page examples ------------------------------------------------------------------

def man_example_env(args, env):
    return dict(env, UEPOLL_PRELOAD="all") if args.mode == "preload" else env


def run_timerfd(args, env):
    """`timerfd_create 1 1 3`: a timer at 1 s, then every 1 s, until three expirations.

    Compared: the final total, that each read's count is what elapsed since the previous
    read, and that no read came before its expiry. Not compared: when a read came late (a
    loaded machine delays a reader; the program then reads two expirations at once)."""
    out = run([args.bin, "1", "1", "3"], man_example_env(args, env), 30)
    results = {"started": False, "total": 0, "early reads": [], "inconsistent counts": []}
    for line in out.splitlines():
        # The program prints the milliseconds rounded, so 2.9996 s shows as "2.1000".
        m = re.match(r"^(\d+)\.(\d{3,4}): (.*)$", line)
        if not m:
            results.setdefault("unexpected lines", []).append(line)
            continue
        elapsed = int(m.group(1)) + int(m.group(2)) / 1000
        if m.group(3) == "timer started":
            results["started"] = True
            continue
        r = re.match(r"^read: (\d+); total=(\d+)$", m.group(3))
        if not r:
            results.setdefault("unexpected lines", []).append(line)
            continue
        count, total = int(r.group(1)), int(r.group(2))
        if total - results["total"] != count:
            results["inconsistent counts"].append(line)
        # Expiry k is due k seconds after the timer was set, which is just before the
        # program's clock starts: allow for the time between the two (slower on first use).
        if elapsed < total - 0.25:
            results["early reads"].append(line)
        results["total"] = total
    return results


def run_eventfd_once(prog, env):
    try:
        proc = subprocess.run([prog, "1", "2", "3"], env=env, capture_output=True, text=True,
                              timeout=3, check=False)
        outcome, stdout, stderr = "exit %d" % proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as e:
        outcome = "parent still waiting after 3 s"
        stdout, stderr = (e.stdout or b"").decode(), (e.stderr or b"").decode()
    sys.stdout.write(stdout + stderr)
    return {"outcome": outcome, "output": stdout, "errors": stderr.strip()}


def run_eventfd(args, env):
    """`eventfd 1 2 3`: a child writes 1, 2, 3 to an eventfd made before fork; the parent
    reads. A uepoll eventfd cannot cross fork: the child's write fails (EBADF) and the
    parent, whose counter nobody can change, waits; that is the documented behaviour,
    checked here. With the eventfd left to the kernel (UEPOLL_PRELOAD) the run matches."""
    results = {"shared": run_eventfd_once(args.bin, man_example_env(args, env))}
    if args.mode == "preload":
        kernel_eventfd = dict(env, UEPOLL_PRELOAD="epoll,pipe,socketpair,timerfd")
        results["eventfd-off"] = run_eventfd_once(args.bin, kernel_eventfd)
    return results


# --- descriptor calls the programs make ------------------------------------------------

# What uepoll does not serve yet, per mode, found by the suites above; descriptor_calls.c
# makes each call once. These lines must still differ from the kernel's: when one matches,
# it was fixed, and comes off the list (and the divergences above that it explains).
SENDFILE_GAPS = {
    "sendfile(file -> socketpair)": "not served: EBADF (libevent's evbuffer file tests)",
    "sendfile(file -> pipe)": "not served: EBADF",
    "recv(socketpair) after sendfile": "follows from the sendfile gap: nothing was sent",
}
CALLS_GAPS = {
    # The header renames none of these calls.
    "compat": dict({
        "getsockname(socketpair)": "not served: EBADF (CPython's socket(fileno=...) fails)",
        "getpeername(socketpair)": "not served: EBADF",
        "fstat(socketpair)": "not served: EBADF",
        "fstat(pipe read end)": "not served: EBADF (CPython's open(fd) fails)",
    }, **SENDFILE_GAPS),
    # The preload library interposes getsockname, getpeername and fstat, not sendfile.
    "preload": SENDFILE_GAPS,
}


def run_calls(args, env):
    if args.mode == "preload":
        env = dict(env, UEPOLL_PRELOAD="all")
    out = run([args.bin], env, 30)
    return dict(line.split(": ", 1) for line in out.splitlines())


# --- real programs (apps/apps.py) ------------------------------------------------------

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "apps"))
import apps  # noqa: E402

# Preload runs: each case under the library's default kinds and under every kind.
APP_KINDS = {"default": None, "all": "all"}

# What uepoll does not do yet, found by these programs: "<kinds>/<case>" -> why. These
# results must still differ from the kernel's; when one matches, it was fixed and comes
# off the list. Each is described in docs/compatibility.md.
APP_GAPS = {}


def run_app(args, env):
    fn = apps.APPS[args.suite]
    if args.mode == "kernel":
        return fn(env)
    results = {}
    for kinds, setting in APP_KINDS.items():
        kenv = dict(env)
        if setting is not None:
            kenv["UEPOLL_PRELOAD"] = setting
        for case, value in fn(kenv).items():
            results["%s/%s" % (kinds, case)] = value
    return results


def app_expected(suite, kernel):
    return {"%s/%s" % (kinds, case): value for kinds in APP_KINDS for case, value in kernel.items()}


def app_kernel_failures(suite, results):
    # Only the shape is checked here: the program must have done its work on the kernel.
    def failed(key, v):
        if v.startswith(("failed", "timed out", "still running", "no output", "output not seen")):
            return True
        if v.startswith(("exit ", "rc ")) and v.split()[1] != "0":
            return True
        return v.startswith("alerts: ") and v != "alerts: 0"
    return [k + ": " + v for k, v in results.items() if failed(k, v)]


# --- driver -----------------------------------------------------------------------------

def run_rc(cmd, env, timeout):
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, errors="replace", timeout=timeout, check=False)
    if proc.returncode != 0:
        sys.stdout.write("%s exited %d:\n%s\n" % (" ".join(cmd), proc.returncode, proc.stdout[-4000:]))
    return proc.returncode


def run(cmd, env, timeout):
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, errors="replace", timeout=timeout, check=False)
    if proc.returncode != 0:
        sys.stdout.write("%s exited %d; stderr:\n%s\n" % (cmd[0], proc.returncode, proc.stderr[-8000:]))
    return proc.stdout


SUITES = {"libevent": run_libevent, "python": run_python, "timerfd": run_timerfd,
          "eventfd": run_eventfd, "calls": run_calls}
SUITES.update({name: run_app for name in apps.APPS})
PASSING = {"OK", "SKIPPED", "DISABLED", "ok", "skipped", "expected failure"}


def kernel_failures(suite, results):
    if suite == "eventfd":
        shared = results["shared"]
        ok = shared["outcome"] == "exit 0" and "Parent read 6 (0x6) from efd" in shared["output"]
        return [] if ok else ["outcome: %s" % shared["outcome"]]
    if suite == "calls":
        return []  # whatever Linux answers is the reference
    if suite in apps.APPS:
        return app_kernel_failures(suite, results)
    if suite == "timerfd":
        ok = results == {"started": True, "total": 3, "early reads": [], "inconsistent counts": []}
        return [] if ok else [json.dumps(results)]
    return [k + ": " + v for k, v in results.items() if v not in PASSING]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("suite", choices=sorted(SUITES))
    p.add_argument("--mode", choices=["kernel", "compat", "preload"], required=True)
    p.add_argument("--results", required=True)
    p.add_argument("--kernel-results")
    p.add_argument("--preload")
    p.add_argument("--bin")
    args = p.parse_args()

    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.pop("UEPOLL_PRELOAD", None)
    if args.mode == "preload":
        env["LD_PRELOAD"] = args.preload
    results = SUITES[args.suite](args, env)
    with open(args.results, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1, sort_keys=True)

    if args.mode == "kernel":
        bad = kernel_failures(args.suite, results)
        print("%d results on the kernel, %d not passing" % (len(results), len(bad)))
        for line in bad:
            print("  " + line)
        return 1 if bad else 0

    with open(args.kernel_results, encoding="utf-8") as f:
        expected = json.load(f)
    if args.suite == "libevent":
        expected = {k: v for k, v in expected.items()
                    if k.split("/regress/")[-1] not in LIBEVENT_DIVERGENCES}
    elif args.suite == "eventfd":
        # The documented divergence (see run_eventfd); the rest must match.
        shared = results.pop("shared")
        if shared["outcome"] != "parent still waiting after 3 s" or \
                "write: Bad file descriptor" not in shared["errors"]:
            print("eventfd shared across fork: expected the child's EBADF and a waiting "
                  "parent, got %s: %r" % (shared["outcome"], shared["errors"]))
            return 1
        expected = {"eventfd-off": expected["shared"]} if args.mode == "preload" else {}
    elif args.suite == "calls":
        gaps = CALLS_GAPS[args.mode]
        fixed = [k for k in gaps if results.get(k) == expected.get(k)]
        if fixed:
            print("now served as the kernel does (take them off CALLS_GAPS): %s" % fixed)
            return 1
        for k, reason in gaps.items():
            print("gap %s: kernel %r, %s %r (%s)" % (k, expected.get(k), args.mode, results.pop(k, None), reason))
        expected = {k: v for k, v in expected.items() if k not in gaps}
    elif args.suite in apps.APPS:
        expected = app_expected(args.suite, expected)
        gaps = APP_GAPS.get(args.suite, {})
        fixed = [k for k in gaps if results.get(k) == expected.get(k)]
        if fixed:
            print("now the kernel's results (take them off APP_GAPS): %s" % fixed)
            return 1
        for k, reason in gaps.items():
            print("gap %s: kernel %r, preload %r (%s)" % (k, expected.pop(k, None), results.pop(k, None), reason))
    elif args.suite == "python" and PYTHON_DIVERGENCES:
        skip = re.compile("|".join(p for p, _ in PYTHON_DIVERGENCES))
        expected = {k: v for k, v in expected.items() if not skip.search(k)}
    diffs = []
    for key in sorted(set(expected) | set(results)):
        if expected.get(key) != results.get(key):
            diffs.append("%s: kernel %r, %s %r" % (key, expected.get(key), args.mode, results.get(key)))
    print("%d results compared with the kernel's, %d differ" % (len(expected), len(diffs)))
    for line in diffs:
        print("  " + line)
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
