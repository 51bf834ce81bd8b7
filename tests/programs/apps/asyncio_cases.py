"""Python asyncio cases for the real-program suite (apps.py): `asyncio_cases.py CASE`
prints one line, the case's result, which must be the same on the kernel and through
uepoll."""
import asyncio
import hashlib
import os
import signal
import socket
import sys
import threading


async def signals():
    # A stream of signals, each handled before the next is sent: none may be lost.
    loop = asyncio.get_running_loop()
    got = asyncio.Event()
    count = 0

    def on_signal():
        nonlocal count
        count += 1
        got.set()

    loop.add_signal_handler(signal.SIGUSR1, on_signal)
    for _ in range(300):
        os.kill(os.getpid(), signal.SIGUSR1)
        await asyncio.wait_for(got.wait(), 10)
        got.clear()
    # And a burst from another thread while the loop waits.
    loop.add_signal_handler(signal.SIGUSR2, got.set)
    done = threading.Event()

    def burst():
        while not done.is_set():
            os.kill(os.getpid(), signal.SIGUSR2)
            done.wait(0.001)

    t = threading.Thread(target=burst)
    t.start()
    try:
        await asyncio.wait_for(got.wait(), 10)
    finally:
        done.set()
        t.join()
    loop.remove_signal_handler(signal.SIGUSR1)
    loop.remove_signal_handler(signal.SIGUSR2)
    return "handled %d, burst seen" % count


async def subprocesses():
    out = []
    proc = await asyncio.create_subprocess_exec("echo", "hello", stdout=asyncio.subprocess.PIPE)
    data, _ = await asyncio.wait_for(proc.communicate(), 20)
    out.append("echo %r rc %d" % (data, proc.returncode))
    blob = os.urandom(1 << 18)
    proc = await asyncio.create_subprocess_exec("cat", stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE)
    data, _ = await asyncio.wait_for(proc.communicate(blob), 20)
    out.append("cat %s rc %d" % (data == blob, proc.returncode))
    proc = await asyncio.create_subprocess_shell("exit 3")
    out.append("shell rc %d" % await asyncio.wait_for(proc.wait(), 20))
    return "; ".join(out)


async def threadsafe():
    loop = asyncio.get_running_loop()
    total = 0
    finished = asyncio.Event()
    threads, per_thread = 4, 2000

    def add():
        nonlocal total
        total += 1
        if total == threads * per_thread:
            finished.set()

    def worker():
        for _ in range(per_thread):
            loop.call_soon_threadsafe(add)

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    await asyncio.wait_for(finished.wait(), 20)
    for t in ts:
        t.join()
    return "callbacks %d" % total


async def streams():
    # An echo over a socket pair, 4 MiB in chunks, both ends asyncio streams.
    a, b = socket.socketpair()
    ra, wa = await asyncio.open_connection(sock=a)
    rb, wb = await asyncio.open_connection(sock=b)
    blob = os.urandom(4 << 20)

    async def echo():
        while True:
            chunk = await rb.read(65536)
            if not chunk:
                break
            wb.write(chunk)
            await wb.drain()
        wb.close()

    async def send():
        for i in range(0, len(blob), 100000):
            wa.write(blob[i:i + 100000])
            await wa.drain()
        wa.write_eof()

    echo_task = asyncio.create_task(echo())
    send_task = asyncio.create_task(send())
    got = await asyncio.wait_for(ra.read(), 30)
    await send_task
    await echo_task
    wa.close()
    return "echoed %d bytes, same %s" % (len(got), hashlib.sha256(got).digest() == hashlib.sha256(blob).digest())


CASES = {"signals": signals, "subprocess": subprocesses, "threadsafe": threadsafe, "streams": streams}

if __name__ == "__main__":
    print(asyncio.run(CASES[sys.argv[1]]()))
