"""Real programs for run_suite.py: Python asyncio, node, nginx, redis, memcached and tmux,
each run unchanged on the kernel and through the preload library (default kinds and
UEPOLL_PRELOAD=all). Each case returns a short text that depends only on what the program
did (never on timing or descriptor numbers); the preload runs must give the kernel run's
text. Servers listen on 127.0.0.1 only, on a port the kernel picks; every case is bounded
(a watchdog timeout) and every server must stop cleanly when told to.
"""
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


class CaseError(Exception):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_text(cmd, env, timeout=30, **kw):
    """The program's stdout (last line), or its failure in a word."""
    try:
        p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, errors="replace", timeout=timeout, check=False, **kw)
    except subprocess.TimeoutExpired:
        return "timed out after %d s" % timeout
    if p.returncode != 0:
        sys.stdout.write("%s exited %d; stderr:\n%s\n" % (" ".join(cmd), p.returncode, p.stderr[-3000:]))
        return "exit %d" % p.returncode
    lines = p.stdout.strip().splitlines()
    return lines[-1] if lines else "no output"


def wait_port(port, proc, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise CaseError("exited %d before listening" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise CaseError("not listening after %d s" % timeout)


def wait_exit(proc, timeout=10):
    try:
        return "exit %d" % proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return "still running %d s after the stop request (killed)" % timeout


def wait_pid_gone(pid, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


# --- Python asyncio ----------------------------------------------------------------------

def asyncio_cases(env):
    script = os.path.join(HERE, "asyncio_cases.py")
    return {c: run_text([PYTHON, script, c], env, 60)
            for c in ("signals", "subprocess", "threadsafe", "streams")}


# --- node --------------------------------------------------------------------------------

def node_cases(env):
    script = os.path.join(HERE, "node_cases.js")
    return {c: run_text(["node", script, c], env, 60) for c in ("worker_threads", "child_process")}


# --- nginx -------------------------------------------------------------------------------

NGINX_CONF = """
worker_processes {workers};
daemon off;
master_process on;
pid {d}/nginx.pid;
error_log {d}/error.log notice;
events {{ worker_connections {connections}; }}
http {{
  access_log off;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  server {{
    listen 127.0.0.1:{port};
    location / {{ return 200 "{body}\\n"; }}
  }}
}}
"""


def nginx_conf(d, port, body, workers=2, connections=128):
    """An nginx.conf serving `body` on 127.0.0.1:port, everything it writes kept in d."""
    return NGINX_CONF.format(d=d, port=port, body=body, workers=workers,
                             connections=connections)


def http_load(port, n):
    """n requests on keep-alive connections (10 at a time); the distinct bodies seen."""
    bodies = {}
    for _ in range(n // 10):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for _ in range(10):
            conn.request("GET", "/")
            r = conn.getresponse()
            key = "%d %s" % (r.status, r.read().decode().strip())
            bodies[key] = bodies.get(key, 0) + 1
        conn.close()
    return ", ".join("%s x%d" % kv for kv in sorted(bodies.items()))


def nginx_cases(env):
    d = tempfile.mkdtemp(prefix="uepoll-nginx-")
    port = free_port()
    conf = os.path.join(d, "nginx.conf")
    results = {}

    def write_conf(gen):
        with open(conf, "w") as f:
            f.write(nginx_conf(d, port, "hello %d" % gen))

    write_conf(1)
    proc = subprocess.Popen(["nginx", "-p", d, "-c", conf, "-e", os.path.join(d, "error.log")],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        try:
            wait_port(port, proc)
            results["serve"] = http_load(port, 300)
            # Reload: a new configuration, new workers; the old ones finish and leave.
            write_conf(2)
            proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            seen = ""
            while time.monotonic() < deadline:
                try:  # an old worker may close a kept-alive connection as it leaves
                    seen = http_load(port, 10)
                except (OSError, http.client.HTTPException):
                    seen = ""
                if "hello 2" in seen and "hello 1" not in seen:
                    break
                time.sleep(0.1)
            results["reload"] = "after reload: " + http_load(port, 100)
        except (CaseError, OSError, http.client.HTTPException) as e:
            results["serve" if "serve" not in results else "reload"] = "failed: %r" % e
        proc.send_signal(signal.SIGQUIT)  # graceful stop
        results["stop"] = wait_exit(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log = open(os.path.join(d, "error.log"), errors="replace").read()
        alerts = [l for l in log.splitlines() if "[alert]" in l or "[emerg]" in l or "[crit]" in l]
        results["log"] = "alerts: %d" % len(alerts)
        if alerts:
            sys.stdout.write("nginx error.log:\n%s\n" % "\n".join(alerts[:20]))
        shutil.rmtree(d, ignore_errors=True)
    return results


# --- redis -------------------------------------------------------------------------------

def resp(sock_file, *args):
    out = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in
                                            (x if isinstance(x, bytes) else str(x).encode() for x in args))
    sock_file.write(out)
    sock_file.flush()
    line = sock_file.readline()
    if line[:1] == b"$":
        n = int(line[1:])
        if n < 0:
            return None
        data = sock_file.read(n + 2)[:-2]
        return data
    return line.strip()


def redis_cases(env):
    d = tempfile.mkdtemp(prefix="uepoll-redis-")
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", d, "--daemonize", "no",
                             "--io-threads", "2"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = {}
    try:
        try:
            wait_port(port, proc)
            with socket.create_connection(("127.0.0.1", port), 10) as s:
                f = s.makefile("rwb")
                ok = sum(resp(f, "SET", "k%d" % i, "v%d" % i) == b"+OK" for i in range(500))
                same = sum(resp(f, "GET", "k%d" % i) == b"v%d" % i for i in range(500))
                for _ in range(100):
                    resp(f, "INCR", "counter")
                counter = resp(f, "GET", "counter")
                results["commands"] = "set %d, get %d, counter %s" % (ok, same, counter.decode())
                # Pub/sub between two connections.
                with socket.create_connection(("127.0.0.1", port), 10) as sub:
                    sf = sub.makefile("rwb")
                    sf.write(b"*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n")
                    sf.flush()
                    for _ in range(6):
                        sf.readline()
                    receivers = resp(f, "PUBLISH", "ch", "msg")
                    got = [sf.readline().strip() for _ in range(7)]
                    results["pubsub"] = "receivers %s, message %s" % (receivers.decode(), got[-1].decode())
                f.write(b"*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n")
                f.flush()
        except (CaseError, OSError, ValueError) as e:
            results.setdefault("commands", "failed: %s" % e)
            proc.send_signal(signal.SIGTERM)
        results["stop"] = wait_exit(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(d, ignore_errors=True)
    return results


# --- memcached ---------------------------------------------------------------------------

def memcached_cases(env):
    port = free_port()
    cmd = ["memcached", "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-t", "2", "-c", "64"]
    if os.geteuid() == 0:
        cmd += ["-u", "root"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = {}
    try:
        try:
            wait_port(port, proc)
            conns = [socket.create_connection(("127.0.0.1", port), 10) for _ in range(4)]
            files = [c.makefile("rwb") for c in conns]
            stored = hits = 0
            for i in range(400):
                f = files[i % 4]
                f.write(b"set k%d 0 0 %d\r\nvalue%d\r\n" % (i, len(b"value%d" % i), i))
                f.flush()
                stored += f.readline() == b"STORED\r\n"
            for i in range(400):
                f = files[(i + 1) % 4]
                f.write(b"get k%d\r\n" % i)
                f.flush()
                header = f.readline()
                value = f.readline().strip()
                end = f.readline()
                hits += header.startswith(b"VALUE") and value == b"value%d" % i and end == b"END\r\n"
            for c in conns:
                c.close()
            results["commands"] = "stored %d, hits %d" % (stored, hits)
        except (CaseError, OSError) as e:
            results["commands"] = "failed: %s" % e
        proc.send_signal(signal.SIGTERM)
        results["stop"] = wait_exit(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return results


# --- tmux --------------------------------------------------------------------------------

def tmux_cases(env):
    d = tempfile.mkdtemp(prefix="uepoll-tmux-")
    sock = os.path.join(d, "sock")
    env = dict(env, TMUX_TMPDIR=d, SHELL="/bin/sh", TERM="xterm")
    env.pop("TMUX", None)
    base = ["tmux", "-S", sock, "-f", "/dev/null"]
    results = {}

    def tmux(*args, timeout=10):
        try:
            p = subprocess.run(base + list(args), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return 124, "", "timed out"
        return p.returncode, p.stdout, p.stderr

    try:
        rc, _, err = tmux("new-session", "-d", "-s", "t", "-x", "80", "-y", "24", "/bin/sh")
        results["new-session"] = "rc %d %s" % (rc, err.strip())
        rc, _, err = tmux("send-keys", "-t", "t", "echo uepoll-$((6*7))", "Enter")
        results["send-keys"] = "rc %d %s" % (rc, err.strip())
        seen = "not seen"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            rc, out, _ = tmux("capture-pane", "-p", "-t", "t")
            if rc == 0 and "uepoll-42" in out:
                seen = "seen"
                break
            time.sleep(0.1)
        results["capture-pane"] = "output %s" % seen
        rc, out, _ = tmux("list-sessions", "-F", "#{session_name} #{session_windows}")
        results["list-sessions"] = "rc %d %s" % (rc, out.strip())
        rc, _, err = tmux("kill-server")
        results["kill-server"] = "rc %d %s" % (rc, err.strip())
        rc, _, _ = tmux("has-session")
        results["after"] = "has-session rc %d" % rc
    finally:
        subprocess.run(base + ["kill-server"], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=10, check=False)
        shutil.rmtree(d, ignore_errors=True)
    return results


APPS = {"asyncio": asyncio_cases, "node": node_cases, "nginx": nginx_cases,
        "redis": redis_cases, "memcached": memcached_cases, "tmux": tmux_cases}
