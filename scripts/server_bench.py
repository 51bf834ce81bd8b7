#!/usr/bin/env python3
"""Real network servers with and without the preload library: redis-server under
redis-benchmark, nginx under wrk. Each server runs as installed, on 127.0.0.1, once on the
kernel and once per UEPOLL_PRELOAD setting, the modes interleaved in every repetition; the
load tools themselves never run under the library. Prints requests/s, the server's CPU time
per request (all its threads and worker processes, from /proc) and the latency the tool
reports, then the median of each mode and its ratio to the kernel's. Bounded in time (a
watchdog on every step). Not part of CI: speed is measured here, correctness is what the
test suite checks (tests/programs); but a run with errors (redis-benchmark errors, wrk
non-2xx responses or socket errors, a wrong value read back) is reported as failed.

  scripts/server_bench.py [--lib build/default/src/preload/libuepoll-preload.so]
                          [--reps 3] [--requests 100000] [--seconds 5] [--only redis|nginx]
"""
import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "programs", "apps"))
import apps  # noqa: E402  (free_port, wait_port, wait_exit, NGINX_CONF)

TICK = os.sysconf("SC_CLK_TCK")
MODES = [("kernel", None), ("preload", ""), ("preload all", "all")]


def env_for(mode_kinds, lib):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.pop("UEPOLL_PRELOAD", None)
    if mode_kinds is not None:
        env["LD_PRELOAD"] = lib
        if mode_kinds:
            env["UEPOLL_PRELOAD"] = mode_kinds
    return env


def cpu_seconds(pids):
    """User + system time of these processes (all threads), in seconds."""
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total / TICK


def children(pid):
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], stdout=subprocess.PIPE, text=True,
                             timeout=10).stdout
    except subprocess.TimeoutExpired:
        return []
    return [int(x) for x in out.split()]


def uses_library(pid, lib):
    try:
        with open("/proc/%d/maps" % pid) as f:
            return os.path.basename(lib) in f.read()
    except OSError:
        return False


# --- redis -------------------------------------------------------------------------------

def redis_run(env, lib, preloaded, args):
    d = tempfile.mkdtemp(prefix="uepoll-bench-redis-")
    port = apps.free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", d,
                             "--daemonize", "no"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        apps.wait_port(port, proc)
        if uses_library(proc.pid, lib) != preloaded:
            return {"error": "library %s as asked" % ("not loaded" if preloaded else "loaded")}
        cpu0 = cpu_seconds([proc.pid])
        t0 = time.monotonic()
        bench = subprocess.run(
            ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", "50",
             "-n", str(args.requests), "-t", "set,get", "-d", "16", "-r", "1000",
             "--csv"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
        elapsed = time.monotonic() - t0
        cpu = cpu_seconds([proc.pid]) - cpu0
        rows = {}
        for line in bench.stdout.splitlines():
            cols = [c.strip('"') for c in line.split(",")]
            if cols and cols[0] in ("SET", "GET"):
                # test, rps, avg, min, p50, p95, p99, max (ms)
                rows[cols[0]] = {"rps": float(cols[1]), "p50_ms": float(cols[4]),
                                 "p99_ms": float(cols[6])}
        errors = [l for l in (bench.stderr + bench.stdout).splitlines() if "rror" in l]
        if bench.returncode != 0 or errors or set(rows) != {"SET", "GET"}:
            return {"error": "redis-benchmark exit %d: %s" % (bench.returncode,
                                                             "; ".join(errors[:3]) or bench.stdout[-300:])}
        # What redis-benchmark left: values of -d 16 bytes under at most -r 1000 keys.
        def cli(*words):
            return subprocess.run(["redis-cli", "-p", str(port), "--raw"] + list(words),
                                  stdout=subprocess.PIPE, text=True, timeout=30).stdout.strip()
        keys = cli("DBSIZE")
        value = cli("GET", "key:000000000001")
        if not keys.isdigit() or not 0 < int(keys) <= 1000 or len(value) != 16:
            return {"error": "after the run: DBSIZE %r, GET key:000000000001 %r" % (keys, value)}
        requests = 2 * args.requests
        return {"SET rps": rows["SET"]["rps"], "GET rps": rows["GET"]["rps"],
                "GET p50 ms": rows["GET"]["p50_ms"], "GET p99 ms": rows["GET"]["p99_ms"],
                "server CPU us/req": cpu / requests * 1e6, "seconds": elapsed}
    finally:
        proc.send_signal(signal.SIGTERM)
        apps.wait_exit(proc)
        shutil.rmtree(d, ignore_errors=True)


# --- nginx -------------------------------------------------------------------------------

def nginx_run(env, lib, preloaded, args):
    d = tempfile.mkdtemp(prefix="uepoll-bench-nginx-")
    port = apps.free_port()
    conf = os.path.join(d, "nginx.conf")
    text = apps.nginx_conf(d, port, "gen 0", workers=args.nginx_workers, connections=1024)
    with open(conf, "w") as f:
        f.write(text)
    proc = subprocess.Popen(["nginx", "-p", d, "-c", conf, "-e", os.path.join(d, "error.log")],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        apps.wait_port(port, proc)
        workers = children(proc.pid)
        if not workers or any(uses_library(p, lib) != preloaded for p in workers):
            return {"error": "workers %s: library not as asked" % workers}
        pids = [proc.pid] + workers
        cpu0 = cpu_seconds(pids)
        wrk = subprocess.run(["wrk", "-t", "1", "-c", "50", "-d", "%ds" % args.seconds,
                              "--latency", "http://127.0.0.1:%d/" % port],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             timeout=args.seconds + 60)
        cpu = cpu_seconds(pids) - cpu0
        out = wrk.stdout
        m_req = re.search(r"(\d+) requests in", out)
        m_rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
        if wrk.returncode != 0 or not m_req or not m_rps:
            return {"error": "wrk exit %d: %s" % (wrk.returncode, (wrk.stderr or out)[-300:])}
        bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        sock = re.search(r"Socket errors: (.*)", out)
        if bad or sock:
            return {"error": "wrk: %s %s" % (bad.group(0) if bad else "", sock.group(0) if sock else "")}
        with open(os.path.join(d, "error.log"), errors="replace") as f:
            alerts = [l for l in f if "[alert]" in l or "[emerg]" in l or "[crit]" in l]
        if alerts:
            return {"error": "nginx error.log: %s" % alerts[0].strip()}

        def latency(label):
            m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)\s*$" % label, out, re.M)
            if not m:
                return float("nan")
            scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]
            return float(m.group(1)) * scale

        requests = int(m_req.group(1))
        return {"rps": float(m_rps.group(1)), "p50 ms": latency("50"), "p99 ms": latency("99"),
                "server CPU us/req": cpu / requests * 1e6}
    finally:
        proc.send_signal(signal.SIGQUIT)  # graceful stop
        apps.wait_exit(proc)
        shutil.rmtree(d, ignore_errors=True)


def main():
    root = os.path.normpath(os.path.join(HERE, ".."))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lib", default=os.path.join(root, "build", "default", "src", "preload",
                                                  "libuepoll-preload.so"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--requests", type=int, default=100000, help="redis-benchmark -n, per test")
    ap.add_argument("--seconds", type=int, default=5, help="wrk -d")
    ap.add_argument("--nginx-workers", type=int, default=1)
    ap.add_argument("--only", choices=["redis", "nginx"])
    args = ap.parse_args()
    args.lib = os.path.abspath(args.lib)
    if not os.path.exists(args.lib):
        sys.exit("no preload library at %s (build the uepoll_preload target)" % args.lib)
    servers = [("redis", redis_run, "redis-server", "redis-benchmark"),
               ("nginx", nginx_run, "nginx", "wrk")]
    failed = False
    for name, run, server, tool in servers:
        if args.only and args.only != name:
            continue
        if not shutil.which(server) and not os.path.exists("/usr/sbin/" + server) or not shutil.which(tool):
            print("%s: %s or %s not installed, skipped" % (name, server, tool))
            continue
        results = {mode: [] for mode, _ in MODES}
        for rep in range(args.reps):
            order = MODES[rep % len(MODES):] + MODES[:rep % len(MODES)]
            for mode, kinds in order:
                r = run(env_for(kinds, args.lib), args.lib, kinds is not None, args)
                print("%s rep %d %-12s %s" % (name, rep + 1, mode,
                                             r.get("error") or ", ".join(
                                                 "%s %.4g" % kv for kv in r.items())), flush=True)
                if "error" in r:
                    failed = True
                else:
                    results[mode].append(r)
        print("\n%s: medians of %d runs per mode (ratio: preload / kernel)" % (name, args.reps))
        base = results["kernel"]
        for mode, _ in MODES:
            rs = results[mode]
            if not rs:
                continue
            cells = []
            for key in rs[0]:
                if key == "seconds":
                    continue
                med = statistics.median(r[key] for r in rs)
                cell = "%s %.4g" % (key, med)
                if mode != "kernel" and base:
                    cell += " (%.3f)" % (med / statistics.median(r[key] for r in base))
                cells.append(cell)
            print("  %-12s %s" % (mode, ", ".join(cells)))
        print(flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
