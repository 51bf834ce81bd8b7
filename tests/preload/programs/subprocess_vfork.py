"""CPython's subprocess starts children with vfork() and, in the child, closes every
descriptor above 2 (close_range, or a loop) and clears close-on-exec on pass_fds before
exec. The child shares the parent's memory: under the preload library those calls must
touch only the child's kernel descriptors, never the parent's uepoll ones. The parent's
selector (epoll) and eventfd must work after each child, as on the kernel. Prints the same
lines on the kernel and under the library; kernel descriptors to stderr (run_preload.cmake)."""
import asyncio
import os
import selectors
import subprocess
import sys


def check(cond, what):
    if not cond:
        print("CHECK failed:", what, flush=True)
        sys.exit(1)


def print_fd(what, fd):
    if os.environ.get("PRINT_FD_NUMBERS") == "1":
        print(f"{what} = fd {fd}")


def poke_and_select(sel, efd, what):
    os.write(efd, (1).to_bytes(8, "little"))
    events = sel.select(0)
    check(len(events) == 1 and events[0][0].fd == efd, what + ": selector sees the eventfd")
    check(int.from_bytes(os.read(efd, 8), "little") == 1, what + ": eventfd count")
    check(not os.get_inheritable(efd), what + ": close-on-exec kept")
    print(what + ": selector and eventfd intact")


sel = selectors.DefaultSelector()
efd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
sel.register(efd, selectors.EVENT_READ)
print_fd("selector", sel.fileno())
print_fd("eventfd", efd)

check(subprocess.run(["true"]).returncode == 0, "run true")
poke_and_select(sel, efd, "subprocess.run")

check(subprocess.run(["true"], pass_fds=(efd,)).returncode == 0, "run with pass_fds")
poke_and_select(sel, efd, "subprocess.run(pass_fds)")

out = subprocess.run(["sh", "-c", "echo child"], stdout=subprocess.PIPE).stdout
check(out == b"child\n", "child output")
poke_and_select(sel, efd, "subprocess.run(stdout=PIPE)")


async def main():
    p = await asyncio.create_subprocess_exec("true")
    check(await p.wait() == 0, "create_subprocess_exec")
    p = await asyncio.create_subprocess_shell("echo shell", stdout=asyncio.subprocess.PIPE)
    out, _ = await p.communicate()
    check(p.returncode == 0 and out == b"shell\n", "create_subprocess_shell")


asyncio.run(main())
poke_and_select(sel, efd, "asyncio subprocesses")

r, w = os.pipe()
print_fd("pipe after", r)
print_fd("pipe after", w)
for fd in range(3, 64):
    try:
        print(f"kernel fd {fd}: {os.readlink(f'/proc/self/fd/{fd}')}", file=sys.stderr)
    except OSError:
        pass
print("all checks passed")
