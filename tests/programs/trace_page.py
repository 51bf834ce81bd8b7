#!/usr/bin/env python3
"""`uepoll trace --html` on a real program, the page opened in headless Chromium.

    trace_page.py asyncio|nginx --tool uepoll --lib libuepoll-preload.so

asyncio: an echo server and client on 127.0.0.1 and a subprocess, under UEPOLL_PRELOAD=all,
with a ring smaller than the trace (the page must say it shows the last records).
nginx: one master and one worker on a loopback port, 50 requests, a graceful stop; the
worker's trace is listed on the page.

The page, as Chromium laid it out (its DOM after its script ran), must have: the summary
(with the kernel side's counts), the note on the records kept, the child processes, every
lane drawn, and notes above the lanes that neither overlap nor stick out. Exit 77 (a skip
for ctest) when Chromium or the program is not installed.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "apps"))
import apps  # noqa: E402  (free_port, wait_port, nginx_conf: the other program tests' helpers)

SKIP = 77
CAPACITY = 500  # asyncio: the program makes a few thousand records

ASYNCIO_PROGRAM = r"""
import asyncio
async def main():
    async def echo(r, w):
        while data := await r.read(100):
            w.write(data)
            await w.drain()
        w.close()
    srv = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    r, w = await asyncio.open_connection("127.0.0.1", port)
    for i in range(200):
        w.write(b"x%d" % i)
        await w.drain()
        await r.read(100)
    w.close()
    await w.wait_closed()
    p = await asyncio.create_subprocess_exec("true")
    await p.wait()
    srv.close()
    await srv.wait_closed()
    print("echoed 200")
asyncio.run(main())
"""

def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def traced(args, out_dir, html, extra_env):
    env = dict(os.environ, UEPOLL_PRELOAD_LIB=args.lib, **extra_env)
    cmd = [args.tool, "trace", "--html", html, "--"]
    log = open(os.path.join(out_dir, "trace.txt"), "w")
    return cmd, env, log


def run_asyncio(args, d):
    html = os.path.join(d, "asyncio.html")
    cmd, env, log = traced(args, d, html, {"UEPOLL_PRELOAD": "all",
                                           "UEPOLL_TRACE_CAPACITY": str(CAPACITY)})
    p = subprocess.run(cmd + [sys.executable, "-c", ASYNCIO_PROGRAM], env=env, stdout=log,
                       stderr=subprocess.STDOUT, timeout=60, check=False)
    log.close()
    out = open(log.name, errors="replace").read()
    if p.returncode != 0 or "echoed 200" not in out:
        sys.exit("the traced asyncio program failed (exit %d):\n%s" % (p.returncode, out[-3000:]))
    return html, out


def run_nginx(args, d):
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if nginx is None:
        print("SKIP: nginx is not installed (Debian package nginx)")
        sys.exit(SKIP)
    port = apps.free_port()
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(apps.nginx_conf(d, port, "hello", workers=1, connections=64))
    html = os.path.join(d, "nginx.html")
    cmd, env, log = traced(args, d, html, {})
    proc = subprocess.Popen(cmd + [nginx, "-p", d, "-c", conf, "-e", os.path.join(d, "error.log")],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        apps.wait_port(port, proc)
        for _ in range(50):
            with urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=10) as r:
                if r.read() != b"hello\n":
                    sys.exit("nginx answered something else")
        master = int(open(os.path.join(d, "nginx.pid")).read())
        os.kill(master, signal.SIGQUIT)  # graceful stop: the worker, then the master, exit()
        rc = proc.wait(20)
    finally:
        if proc.poll() is None:  # the watchdog
            proc.kill()
            proc.wait()
        log.close()
    out = open(log.name, errors="replace").read()
    if rc != 0:
        sys.exit("uepoll trace -- nginx exited %d:\n%s" % (rc, out[-3000:]))
    return html, out


def dump_dom(chromium, page, d):
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--no-first-run", "--user-data-dir=" + os.path.join(d, "profile"), "--dump-dom",
           "file://" + page]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                       errors="replace", timeout=60, check=False)
    return p.stdout


def check(dom, source, what):
    failures = []

    def need(cond, msg):
        if not cond:
            failures.append(msg)

    need(dom.strip() != "", "chromium printed no DOM")
    summary = re.search(r'<pre id="summary">([^<]*)</pre>', dom)
    need(summary and (re.match(r"\d+ records?; by kind: ", summary.group(1)) or
                      summary.group(1).startswith("no records in this process")),
         "no summary of the records")
    kept = re.search(r'<p id="kept" data-kept="(\d+)" data-dropped="(\d+)">([^<]*)', dom)
    need(kept is not None, "no note on the records kept")
    lanes = len(re.findall(r'<g class="lane lane-', source))
    need(lanes > 0, "no lane in the picture")
    need('data-rendered-lanes="%d"' % lanes in dom,
         "the page's script did not lay out the %d lanes" % lanes)
    need('data-label-overlaps="0"' in dom, "notes above the lanes overlap")
    need('data-label-clipped="0"' in dom, "notes above the lanes are cut off")
    children = re.findall(r'<h3 class="child" data-pid="(\d+)">[^<]*</h3>\s*'
                          r'<pre class="child-summary">([^<]*)</pre>', dom)
    if what == "asyncio":
        # The ring: the last CAPACITY records are kept, the earlier ones counted.
        need(kept and int(kept.group(2)) > 0 and 0 < int(kept.group(1)) <= CAPACITY and
             "These are the last records" in kept.group(3),
             "the page does not say it shows the last %d records" % CAPACITY)
        need(summary and "kernel side: " in summary.group(1),
             "the summary has no kernel side (the TCP sockets are the kernel's)")
        need(len(children) >= 1, "the subprocess is not listed")
    else:
        # The master's epoll-less life, then the worker's loop over kernel sockets.
        need(len(children) == 1, "not one worker listed: %d" % len(children))
        need(children and re.search(r"kernel side: [1-9]\d* harvests?", children[0][1]),
             "the worker's summary has no kernel side")
        need(len(re.findall(r'<svg[^>]*class="uep-trace"', dom)) == 2,
             "not two pictures (the master's, the worker's)")
    return failures, (summary.group(1) if summary else ""), children, kept


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("program", choices=["asyncio", "nginx"])
    ap.add_argument("--tool", required=True)
    ap.add_argument("--lib", required=True)
    args = ap.parse_args()
    args.tool = os.path.abspath(args.tool)
    args.lib = os.path.abspath(args.lib)
    chromium = find_chromium()
    if chromium is None:
        print("SKIP: chromium is not installed (apt-get install -y chromium); "
              "the trace page of a real program was not checked in a browser")
        return SKIP
    d = tempfile.mkdtemp(prefix="uepoll-trace-page-")
    try:
        start = time.monotonic()
        html, out = run_asyncio(args, d) if args.program == "asyncio" else run_nginx(args, d)
        source = open(html, errors="replace").read()
        dom = dump_dom(chromium, html, d)
        failures, summary, children, kept = check(dom, source, args.program)
        print("page: %d bytes; %s" % (len(source), summary.strip()))
        if kept:
            print("records kept %s, earlier not kept %s" % (kept.group(1), kept.group(2)))
        for pid, s in children:
            print("child %s: %s" % (pid, s.strip().splitlines()[0] if s.strip() else ""))
        print("%.1f s" % (time.monotonic() - start))
        if failures:
            print("uepoll trace output:\n" + out[-2000:])
            for f in failures:
                print("FAIL: " + f)
            return 1
        return 0
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
