// Bad input to every public uep_* function, each case run on the kernel and on uepoll:
// invalid descriptors, flags, sizes, counts, NULL pointers and pointers into the kernel's
// half of the address space, huge maxevents, negative timeouts other than -1. Each side
// must give the kernel's result and errno, not crash, and leave the same observable state:
// after the call, every object's readiness, queued bytes, eventfd counter and the events
// an epoll instance reports are compared too.
//
// Each case runs in a fresh world of ready objects (so a negative timeout never sleeps):
// an instance `ep` watching (level-triggered) an eventfd holding 3, a pipe holding 5 bytes,
// a stream socket pair with 7 bytes queued, a disarmed timerfd and a nested instance `inner`
// that watches the eventfd. The differential fuzzer (tests/fuzz) tries the same inputs at
// random; this table is what CI checks without it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>

#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "support/backend.h"
#include "support/pipe_diff.h"
#include "support/raw_kernel.h"
#include "support/sock_timer_diff.h"
#include "uepoll/uepoll.h"

namespace uep::test {
namespace {

constexpr unsigned long kTfdIocSetTicks = _IOW('T', 0, uint64_t);  // <linux/timerfd.h>
constexpr int kMaxEvents = INT_MAX / static_cast<int>(sizeof(epoll_event));

template <typename T = void>
T* KernelHalf() {
  return reinterpret_cast<T*>(uintptr_t{1} << 63);  // NOLINT: a pointer no user owns
}

struct World {
  int ep, inner, efd, pr, pw, s0, s1, tfd;
  int closed;  // certainly not open
  int limit;   // the first number the backend can never hand out
};

World Build(const Backend& a) {
  World w{};
  w.ep = a.epoll_create1(0);
  w.inner = a.epoll_create1(0);
  w.efd = a.eventfd(3, EFD_NONBLOCK);
  int p[2] = {-1, -1};
  a.pipe2(p, O_NONBLOCK);
  w.pr = p[0];
  w.pw = p[1];
  int sv[2] = {-1, -1};
  a.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
  w.s0 = sv[0];
  w.s1 = sv[1];
  w.tfd = a.timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  w.closed = a.spare_base();
  w.limit = a.fd_limit();
  a.write(w.pw, "hello", 5);
  a.write(w.s0, "1234567", 7);
  const int fds[] = {w.efd, w.pr, w.pw, w.s0, w.s1, w.tfd, w.inner};
  for (uint64_t i = 0; i < std::size(fds); ++i) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
    ev.data.u64 = i;
    EXPECT_EQ(a.epoll_ctl(w.ep, EPOLL_CTL_ADD, fds[i], &ev), 0) << "fd " << i;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 100;
  EXPECT_EQ(a.epoll_ctl(w.inner, EPOLL_CTL_ADD, w.efd, &ev), 0);
  return w;
}

void Destroy(const Backend& a, const World& w) {
  for (int fd : {w.ep, w.inner, w.efd, w.pr, w.pw, w.s0, w.s1, w.tfd}) a.close(fd);
  a.close(w.closed);  // a case may have put something there (dup2)
}

// Everything a bad call must not change, in words that do not depend on the backend.
std::string Snapshot(const Backend& a, const World& w) {
  std::string out;
  const struct {
    const char* name;
    int fd;
  } objects[] = {{"ep", w.ep}, {"inner", w.inner}, {"efd", w.efd}, {"pr", w.pr},
                 {"pw", w.pw}, {"s0", w.s0},       {"s1", w.s1},   {"tfd", w.tfd}};
  for (const auto& o : objects) {
    pollfd p{o.fd, POLLIN | POLLOUT | POLLPRI | POLLRDHUP, 0};
    a.poll(&p, 1, 0);
    out += std::string(o.name) + ":" + PollMaskName(static_cast<uint16_t>(p.revents)) + " ";
  }
  int n = -1;
  a.ioctl(w.pr, FIONREAD, &n);
  out += "pipe " + std::to_string(n) + "B ";
  n = -1;
  a.ioctl(w.s1, FIONREAD, &n);
  out += "socket " + std::to_string(n) + "B ";
  uint64_t count = 0;  // read and put back: the eventfd's counter
  if (a.read(w.efd, &count, 8) == 8) a.write(w.efd, &count, 8);
  out += "counter " + std::to_string(count) + " ";
  itimerspec t{};
  a.timerfd_gettime(w.tfd, &t);
  out += t.it_value.tv_sec != 0 || t.it_value.tv_nsec != 0 ? "timer armed " : "timer disarmed ";
  epoll_event events[16];
  const int r = a.epoll_wait(w.ep, events, 16, 0);
  out += "ep:";
  for (int i = 0; i < r; ++i) {
    out += " [" + EpollMaskName(events[i].events) + " " + std::to_string(events[i].data.u64) + "]";
  }
  return out;
}

struct Case {
  std::string name;
  std::function<long(const Backend&, World&)> call;
};

std::string Outcome(long r, int err) { return r >= 0 ? std::to_string(r) : "-1 " + ErrnoName(err); }

// One buffer per call, so that nothing a call writes can reach the next.
struct Scratch {
  unsigned char bytes[256];
  epoll_event events[16];
  iovec iov[4];
};

Scratch& Buf() {
  static Scratch scratch;
  std::memset(&scratch, 0, sizeof scratch);
  return scratch;
}

// A page mapped at `addr` for the whole run (MAP_FIXED_NOREPLACE), or nullptr if something
// is there already. Near the top of the 47-bit user space: where access_ok() ends on
// 4-level paging (TASK_SIZE_MAX = 2^47 - 4096), so that a range the kernel refuses there
// is real memory for uepoll, which would write to it if it did not refuse it too.
unsigned char* PageAt(uintptr_t addr) {
  void* p = mmap(reinterpret_cast<void*>(addr), 4096, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  return p == reinterpret_cast<void*>(addr) ? static_cast<unsigned char*>(p) : nullptr;
}

constexpr uintptr_t kTop47 = uintptr_t{1} << 47;

unsigned char* GibBelowTop47() {
  static unsigned char* page = PageAt(kTop47 - (uintptr_t{1} << 30));
  return page;
}

// The last page below 2^47 - 4096.
unsigned char* LastUserPage47() {
  static unsigned char* page = PageAt(kTop47 - 8192);
  return page;
}

// A page that exists but cannot be read (PROT_NONE): the kernel's copy fails on it.
const sigset_t* UnreadableMask() {
  static void* page = mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return static_cast<const sigset_t*>(page);
}

// What a case returns when its page could not be mapped (the same on both sides).
constexpr long kNoPage = -1000;

const sigset_t* EmptyMask() {
  static sigset_t mask = [] {
    sigset_t m;
    sigemptyset(&m);
    return m;
  }();
  return &mask;
}

std::vector<Case> Cases() {
  std::vector<Case> c;
  auto add = [&c](const std::string& name, std::function<long(const Backend&, World&)> call) {
    c.push_back({name, std::move(call)});
  };
  // ---- epoll_create, epoll_create1
  add("epoll_create(0)", [](const Backend& a, World&) { return a.epoll_create(0); });
  add("epoll_create(-1)", [](const Backend& a, World&) { return a.epoll_create(-1); });
  add("epoll_create(INT_MIN)", [](const Backend& a, World&) { return a.epoll_create(INT_MIN); });
  add("epoll_create1(1)", [](const Backend& a, World&) { return a.epoll_create1(1); });
  add("epoll_create1(O_NONBLOCK)",
      [](const Backend& a, World&) { return a.epoll_create1(O_NONBLOCK); });
  add("epoll_create1(-1)", [](const Backend& a, World&) { return a.epoll_create1(-1); });
  // ---- epoll_ctl
  auto ctl = [](const Backend& a, int ep, int op, int fd, uint32_t events,
                epoll_event* ptr = nullptr, bool use_ptr = false) {
    epoll_event ev{};
    ev.events = events;
    return a.epoll_ctl(ep, op, fd, use_ptr ? ptr : &ev);
  };
  add("epoll_ctl(-1, ADD)",
      [ctl](const Backend& a, World& w) { return ctl(a, -1, EPOLL_CTL_ADD, w.efd, EPOLLIN); });
  add("epoll_ctl(closed, ADD)", [ctl](const Backend& a, World& w) {
    return ctl(a, w.closed, EPOLL_CTL_ADD, w.efd, EPOLLIN);
  });
  add("epoll_ctl(INT_MAX, ADD)",
      [ctl](const Backend& a, World& w) { return ctl(a, INT_MAX, EPOLL_CTL_ADD, w.efd, EPOLLIN); });
  add("epoll_ctl(efd, ADD, pr)",
      [ctl](const Backend& a, World& w) { return ctl(a, w.efd, EPOLL_CTL_ADD, w.pr, EPOLLIN); });
  add("epoll_ctl(ep, ADD, -1)",
      [ctl](const Backend& a, World& w) { return ctl(a, w.ep, EPOLL_CTL_ADD, -1, EPOLLIN); });
  add("epoll_ctl(ep, ADD, closed)",
      [ctl](const Backend& a, World& w) { return ctl(a, w.ep, EPOLL_CTL_ADD, w.closed, EPOLLIN); });
  add("epoll_ctl(ep, ADD, ep)",
      [ctl](const Backend& a, World& w) { return ctl(a, w.ep, EPOLL_CTL_ADD, w.ep, EPOLLIN); });
  add("epoll_ctl(ep, op 0)",
      [ctl](const Backend& a, World& w) { return ctl(a, w.ep, 0, w.efd, EPOLLIN); });
  add("epoll_ctl(ep, op 4)",
      [ctl](const Backend& a, World& w) { return ctl(a, w.ep, 4, w.efd, EPOLLIN); });
  add("epoll_ctl(ep, op -1)",
      [ctl](const Backend& a, World& w) { return ctl(a, w.ep, -1, w.efd, EPOLLIN); });
  add("epoll_ctl(ep, ADD, existing)",
      [ctl](const Backend& a, World& w) { return ctl(a, w.ep, EPOLL_CTL_ADD, w.efd, EPOLLIN); });
  add("epoll_ctl(inner, MOD, absent)",
      [ctl](const Backend& a, World& w) { return ctl(a, w.inner, EPOLL_CTL_MOD, w.pr, EPOLLIN); });
  add("epoll_ctl(inner, DEL, absent)",
      [ctl](const Backend& a, World& w) { return ctl(a, w.inner, EPOLL_CTL_DEL, w.pr, 0); });
  add("epoll_ctl(ep, ADD, NULL event)", [ctl](const Backend& a, World& w) {
    return ctl(a, w.ep, EPOLL_CTL_ADD, w.pr, 0, nullptr, true);
  });
  add("epoll_ctl(ep, MOD, NULL event)", [ctl](const Backend& a, World& w) {
    return ctl(a, w.ep, EPOLL_CTL_MOD, w.efd, 0, nullptr, true);
  });
  add("epoll_ctl(ep, ADD, kernel-half event)", [ctl](const Backend& a, World& w) {
    return ctl(a, w.ep, EPOLL_CTL_ADD, w.pr, 0, KernelHalf<epoll_event>(), true);
  });
  add("epoll_ctl(-1, ADD, NULL event)", [ctl](const Backend& a, World& w) {
    return ctl(a, -1, EPOLL_CTL_ADD, w.pr, 0, nullptr, true);
  });
  add("epoll_ctl(inner, ADD, ep): a loop",
      [ctl](const Backend& a, World& w) { return ctl(a, w.inner, EPOLL_CTL_ADD, w.ep, EPOLLIN); });
  add("epoll_ctl(ep, MOD, EXCLUSIVE)", [ctl](const Backend& a, World& w) {
    return ctl(a, w.ep, EPOLL_CTL_MOD, w.efd, EPOLLIN | EPOLLEXCLUSIVE);
  });
  add("epoll_ctl(inner, ADD, EXCLUSIVE|ONESHOT)", [ctl](const Backend& a, World& w) {
    return ctl(a, w.inner, EPOLL_CTL_ADD, w.pr, EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT);
  });
  add("epoll_ctl(inner, ADD, EXCLUSIVE of an instance)", [](const Backend& a, World& w) {
    const int third = a.epoll_create1(0);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    const long r = a.epoll_ctl(w.inner, EPOLL_CTL_ADD, third, &ev);
    const int err = errno;
    a.close(third);
    errno = err;
    return r;
  });
  // ---- epoll_wait, epoll_pwait, epoll_pwait2
  for (int max : {0, -1, INT_MIN, kMaxEvents + 1, INT_MAX}) {
    add("epoll_wait(ep, maxevents " + std::to_string(max) + ")",
        [max](const Backend& a, World& w) { return a.epoll_wait(w.ep, Buf().events, max, 0); });
  }
  add("epoll_wait(ep, NULL events)",
      [](const Backend& a, World& w) { return a.epoll_wait(w.ep, nullptr, 16, 0); });
  add("epoll_wait(ep, kernel-half events)", [](const Backend& a, World& w) {
    return a.epoll_wait(w.ep, KernelHalf<epoll_event>(), 16, 0);
  });
  add("epoll_wait(ep, NULL events, maxevents 0)",
      [](const Backend& a, World& w) { return a.epoll_wait(w.ep, nullptr, 0, 0); });
  add("epoll_wait(-1)",
      [](const Backend& a, World&) { return a.epoll_wait(-1, Buf().events, 16, 0); });
  add("epoll_wait(closed)",
      [](const Backend& a, World& w) { return a.epoll_wait(w.closed, Buf().events, 16, 0); });
  add("epoll_wait(efd)",
      [](const Backend& a, World& w) { return a.epoll_wait(w.efd, Buf().events, 16, 0); });
  add("epoll_wait(ep, timeout -2)",
      [](const Backend& a, World& w) { return a.epoll_wait(w.ep, Buf().events, 16, -2); });
  add("epoll_wait(ep, timeout INT_MIN)",
      [](const Backend& a, World& w) { return a.epoll_wait(w.ep, Buf().events, 16, INT_MIN); });
  add("epoll_wait(inner, maxevents 1, timeout -1000)",
      [](const Backend& a, World& w) { return a.epoll_wait(w.inner, Buf().events, 1, -1000); });
  add("epoll_pwait(ep, kernel-half sigmask)", [](const Backend& a, World& w) {
    return a.epoll_pwait(w.ep, Buf().events, 16, 0, KernelHalf<sigset_t>());
  });
  // access_ok() against TASK_SIZE_MAX, the end the running kernel's paging mode sets.
  add("epoll_wait(ep, 1 GiB below 2^47, maxevents 100000000)", [](const Backend& a, World& w) {
    unsigned char* page = GibBelowTop47();
    if (page == nullptr) return kNoPage;
    return static_cast<long>(
        a.epoll_wait(w.ep, reinterpret_cast<epoll_event*>(page), 100000000, 0));
  });
  for (int beyond : {0, 1}) {
    add("epoll_wait(ep, range ending " + std::to_string(beyond) + " byte past 2^47 - 4096)",
        [beyond](const Backend& a, World& w) {
          unsigned char* page = LastUserPage47();
          if (page == nullptr) return kNoPage;
          auto* events =
              reinterpret_cast<epoll_event*>(page + 4096 - 16 * sizeof(epoll_event) + beyond);
          return static_cast<long>(a.epoll_wait(w.ep, events, 16, 0));
        });
  }
  // set_user_sigmask() copies the mask before anything: EFAULT though events are ready.
  add("epoll_pwait(ep, unreadable sigmask): ready", [](const Backend& a, World& w) {
    return a.epoll_pwait(w.ep, Buf().events, 16, 0, UnreadableMask());
  });
  add("epoll_pwait(ep, sigmask 8): ready", [](const Backend& a, World& w) {
    return a.epoll_pwait(w.ep, Buf().events, 16, 0, reinterpret_cast<const sigset_t*>(8));
  });
  add("epoll_pwait(ep, unreadable sigmask, timeout -1): ready", [](const Backend& a, World& w) {
    return a.epoll_pwait(w.ep, Buf().events, 16, -1, UnreadableMask());
  });
  add("epoll_pwait2(ep, {0, 0}, unreadable sigmask): ready", [](const Backend& a, World& w) {
    const timespec zero{0, 0};
    return a.epoll_pwait2(w.ep, Buf().events, 16, &zero, UnreadableMask());
  });
  add("epoll_pwait(ep, maxevents 0, empty mask)", [](const Backend& a, World& w) {
    return a.epoll_pwait(w.ep, Buf().events, 0, 0, EmptyMask());
  });
  add("epoll_pwait(closed, empty mask)", [](const Backend& a, World& w) {
    return a.epoll_pwait(w.closed, Buf().events, 16, 0, EmptyMask());
  });
  add("epoll_pwait(ep, timeout -5, empty mask)", [](const Backend& a, World& w) {
    return a.epoll_pwait(w.ep, Buf().events, 16, -5, EmptyMask());
  });
  for (const timespec ts :
       {timespec{0, -1}, timespec{-1, 0}, timespec{0, 1000000000}, timespec{INT_MIN, 0}}) {
    add("epoll_pwait2(ep, {" + std::to_string(ts.tv_sec) + ", " + std::to_string(ts.tv_nsec) + "})",
        [ts](const Backend& a, World& w) {
          return a.epoll_pwait2(w.ep, Buf().events, 16, &ts, nullptr);
        });
  }
  add("epoll_pwait2(ep, kernel-half timeout)", [](const Backend& a, World& w) {
    return a.epoll_pwait2(w.ep, Buf().events, 16, KernelHalf<timespec>(), nullptr);
  });
  add("epoll_pwait2(ep, maxevents -1, NULL timeout)", [](const Backend& a, World& w) {
    return a.epoll_pwait2(w.ep, Buf().events, -1, nullptr, nullptr);
  });
  // ---- eventfd, eventfd_read, eventfd_write
  add("eventfd(0, -1)", [](const Backend& a, World&) { return a.eventfd(0, -1); });
  add("eventfd(0, O_APPEND)", [](const Backend& a, World&) { return a.eventfd(0, O_APPEND); });
  add("eventfd(0, O_RDWR)", [](const Backend& a, World&) { return a.eventfd(0, O_RDWR); });
  add("eventfd_read(closed)", [](const Backend& a, World& w) {
    eventfd_t v = 0;
    return a.eventfd_read(w.closed, &v);
  });
  add("eventfd_read(efd, NULL)",
      [](const Backend& a, World& w) { return a.eventfd_read(w.efd, nullptr); });
  add("eventfd_read(efd, kernel-half)",
      [](const Backend& a, World& w) { return a.eventfd_read(w.efd, KernelHalf<eventfd_t>()); });
  add("eventfd_read(ep)", [](const Backend& a, World& w) {
    eventfd_t v = 0;
    return a.eventfd_read(w.ep, &v);
  });
  add("eventfd_write(efd, UINT64_MAX)",
      [](const Backend& a, World& w) { return a.eventfd_write(w.efd, UINT64_MAX); });
  add("eventfd_write(efd, UINT64_MAX - 3): full",
      [](const Backend& a, World& w) { return a.eventfd_write(w.efd, UINT64_MAX - 3); });
  add("eventfd_write(-1)", [](const Backend& a, World&) { return a.eventfd_write(-1, 1); });
  // ---- read, write
  add("read(-1)", [](const Backend& a, World&) { return a.read(-1, Buf().bytes, 8); });
  add("read(INT_MAX)", [](const Backend& a, World&) { return a.read(INT_MAX, Buf().bytes, 8); });
  add("read(pw): write end",
      [](const Backend& a, World& w) { return a.read(w.pw, Buf().bytes, 8); });
  add("read(ep)", [](const Backend& a, World& w) { return a.read(w.ep, Buf().bytes, 8); });
  add("read(efd, 4 bytes)",
      [](const Backend& a, World& w) { return a.read(w.efd, Buf().bytes, 4); });
  add("read(efd, NULL)", [](const Backend& a, World& w) { return a.read(w.efd, nullptr, 8); });
  add("read(pr, NULL)", [](const Backend& a, World& w) { return a.read(w.pr, nullptr, 8); });
  add("read(s1, NULL)", [](const Backend& a, World& w) { return a.read(w.s1, nullptr, 8); });
  add("read(pr, kernel-half)",
      [](const Backend& a, World& w) { return a.read(w.pr, KernelHalf(), 8); });
  add("read(pr, SIZE_MAX)",
      [](const Backend& a, World& w) { return a.read(w.pr, Buf().bytes, SIZE_MAX); });
  add("read(closed, NULL)",
      [](const Backend& a, World& w) { return a.read(w.closed, nullptr, 8); });
  add("read(pw, NULL)", [](const Backend& a, World& w) { return a.read(w.pw, nullptr, 8); });
  add("write(-1)", [](const Backend& a, World&) { return a.write(-1, Buf().bytes, 8); });
  add("write(pr): read end",
      [](const Backend& a, World& w) { return a.write(w.pr, Buf().bytes, 8); });
  add("write(ep)", [](const Backend& a, World& w) { return a.write(w.ep, Buf().bytes, 8); });
  add("write(tfd)", [](const Backend& a, World& w) { return a.write(w.tfd, Buf().bytes, 8); });
  add("write(efd, 7 bytes)",
      [](const Backend& a, World& w) { return a.write(w.efd, Buf().bytes, 7); });
  add("write(efd, NULL)", [](const Backend& a, World& w) { return a.write(w.efd, nullptr, 8); });
  add("write(pw, NULL)", [](const Backend& a, World& w) { return a.write(w.pw, nullptr, 8); });
  add("write(s0, NULL)", [](const Backend& a, World& w) { return a.write(w.s0, nullptr, 8); });
  add("write(pw, kernel-half)",
      [](const Backend& a, World& w) { return a.write(w.pw, KernelHalf(), 8); });
  add("write(pw, SIZE_MAX)",
      [](const Backend& a, World& w) { return a.write(w.pw, Buf().bytes, SIZE_MAX); });
  // ---- readv, writev
  auto vec = [](const Backend& a, int fd, bool write, int iovcnt, int variant) -> long {
    Scratch& s = Buf();
    iovec* iov = s.iov;
    for (iovec& v : s.iov) v = {s.bytes, 8};
    if (variant == 1) iov = nullptr;
    if (variant == 2) iov = KernelHalf<iovec>();
    if (variant == 3) s.iov[1].iov_base = nullptr;
    if (variant == 4) s.iov[1].iov_base = KernelHalf();
    if (variant == 5) s.iov[0].iov_len = size_t{1} << 63;  // negative as ssize_t
    return write ? a.writev(fd, iov, iovcnt) : a.readv(fd, iov, iovcnt);
  };
  for (bool write : {false, true}) {
    const std::string n = write ? "writev" : "readv";
    auto name = [&n](const std::string& what) { return n + what; };
    const auto fdof = [write](const World& w) { return write ? w.pw : w.pr; };
    add(name("(-1)"), [vec, write](const Backend& a, World&) { return vec(a, -1, write, 1, 0); });
    add(name("(pipe, iovcnt -1)"),
        [=](const Backend& a, World& w) { return vec(a, fdof(w), write, -1, 0); });
    add(name("(pipe, iovcnt 1025)"),
        [=](const Backend& a, World& w) { return vec(a, fdof(w), write, 1025, 0); });
    add(name("(pipe, iovcnt INT_MAX)"),
        [=](const Backend& a, World& w) { return vec(a, fdof(w), write, INT_MAX, 0); });
    add(name("(pipe, NULL vector)"),
        [=](const Backend& a, World& w) { return vec(a, fdof(w), write, 2, 1); });
    add(name("(pipe, NULL vector, iovcnt 0)"),
        [=](const Backend& a, World& w) { return vec(a, fdof(w), write, 0, 1); });
    add(name("(pipe, kernel-half vector)"),
        [=](const Backend& a, World& w) { return vec(a, fdof(w), write, 2, 2); });
    add(name("(pipe, NULL segment)"),
        [=](const Backend& a, World& w) { return vec(a, fdof(w), write, 2, 3); });
    add(name("(pipe, kernel-half segment)"),
        [=](const Backend& a, World& w) { return vec(a, fdof(w), write, 2, 4); });
    add(name("(pipe, negative length)"),
        [=](const Backend& a, World& w) { return vec(a, fdof(w), write, 2, 5); });
    add(name("(efd, NULL segment)"),
        [=](const Backend& a, World& w) { return vec(a, w.efd, write, 2, 3); });
    add(name("(s0, kernel-half vector)"),
        [=](const Backend& a, World& w) { return vec(a, w.s0, write, 2, 2); });
    add(name("(closed, NULL vector)"),
        [=](const Backend& a, World& w) { return vec(a, w.closed, write, 2, 1); });
  }
  // ---- close, dup, dup2, dup3, fcntl
  add("close(-1)", [](const Backend& a, World&) { return a.close(-1); });
  add("close(INT_MAX)", [](const Backend& a, World&) { return a.close(INT_MAX); });
  add("close(closed)", [](const Backend& a, World& w) { return a.close(w.closed); });
  add("dup(-1)", [](const Backend& a, World&) { return a.dup(-1); });
  add("dup(closed)", [](const Backend& a, World& w) { return a.dup(w.closed); });
  add("dup2(closed, closed)",
      [](const Backend& a, World& w) { return a.dup2(w.closed, w.closed); });
  add("dup2(efd, -1)", [](const Backend& a, World& w) { return a.dup2(w.efd, -1); });
  add("dup2(efd, limit)", [](const Backend& a, World& w) { return a.dup2(w.efd, w.limit); });
  add("dup2(efd, INT_MAX)", [](const Backend& a, World& w) { return a.dup2(w.efd, INT_MAX); });
  add("dup3(efd, efd)", [](const Backend& a, World& w) { return a.dup3(w.efd, w.efd, 0); });
  add("dup3(efd, closed, O_NONBLOCK)",
      [](const Backend& a, World& w) { return a.dup3(w.efd, w.closed, O_NONBLOCK); });
  add("dup3(efd, closed, -1)",
      [](const Backend& a, World& w) { return a.dup3(w.efd, w.closed, -1); });
  add("dup3(-1, efd, -1)", [](const Backend& a, World& w) { return a.dup3(-1, w.efd, -1); });
  add("dup3(limit, efd, O_NONBLOCK)",
      [](const Backend& a, World& w) { return a.dup3(w.limit, w.efd, O_NONBLOCK); });
  add("dup3(closed, efd, 0)",
      [](const Backend& a, World& w) { return a.dup3(w.closed, w.efd, 0); });
  add("fcntl(-1, F_GETFL)", [](const Backend& a, World&) { return a.fcntl(-1, F_GETFL, 0); });
  add("fcntl(closed, F_SETFL)",
      [](const Backend& a, World& w) { return a.fcntl(w.closed, F_SETFL, O_NONBLOCK); });
  add("fcntl(efd, cmd 12345)", [](const Backend& a, World& w) { return a.fcntl(w.efd, 12345, 0); });
  add("fcntl(efd, cmd -1)", [](const Backend& a, World& w) { return a.fcntl(w.efd, -1, 0); });
  add("fcntl(efd, F_DUPFD, -1)", [](const Backend& a, World& w) {
    return a.fcntl(w.efd, F_DUPFD, static_cast<unsigned long>(-1));
  });
  add("fcntl(efd, F_DUPFD, limit)", [](const Backend& a, World& w) {
    return a.fcntl(w.efd, F_DUPFD, static_cast<unsigned long>(w.limit));
  });
  add("fcntl(efd, F_DUPFD_CLOEXEC, INT_MAX)",
      [](const Backend& a, World& w) { return a.fcntl(w.efd, F_DUPFD_CLOEXEC, INT_MAX); });
  add("fcntl(efd, F_SETPIPE_SZ)",
      [](const Backend& a, World& w) { return a.fcntl(w.efd, F_SETPIPE_SZ, 65536); });
  add("fcntl(pr, F_SETPIPE_SZ, 2 MiB)",
      [](const Backend& a, World& w) { return a.fcntl(w.pr, F_SETPIPE_SZ, 2 << 20); });
  add("fcntl(pr, F_SETPIPE_SZ, -1)", [](const Backend& a, World& w) {
    return a.fcntl(w.pr, F_SETPIPE_SZ, static_cast<unsigned long>(-1));
  });
  add("fcntl(pr, F_GETPIPE_SZ) after the bad ones",
      [](const Backend& a, World& w) { return a.fcntl(w.pr, F_GETPIPE_SZ, 0); });
  // ---- pipe, pipe2
  add("pipe(NULL)", [](const Backend& a, World&) { return a.pipe(nullptr); });
  add("pipe2(kernel-half, 0)",
      [](const Backend& a, World&) { return a.pipe2(KernelHalf<int>(), 0); });
  add("pipe2(NULL, O_NONBLOCK)",
      [](const Backend& a, World&) { return a.pipe2(nullptr, O_NONBLOCK); });
  add("pipe2(fds, O_APPEND)", [](const Backend& a, World&) {
    int fds[2];
    return a.pipe2(fds, O_APPEND);
  });
  add("pipe2(NULL, -1)", [](const Backend& a, World&) { return a.pipe2(nullptr, -1); });
  // ---- ioctl
  add("ioctl(-1, FIONREAD)", [](const Backend& a, World&) {
    int n = 0;
    return a.ioctl(-1, FIONREAD, &n);
  });
  add("ioctl(efd, FIONREAD)", [](const Backend& a, World& w) {
    int n = 0;
    return a.ioctl(w.efd, FIONREAD, &n);
  });
  add("ioctl(ep, FIONREAD)", [](const Backend& a, World& w) {
    int n = 0;
    return a.ioctl(w.ep, FIONREAD, &n);
  });
  add("ioctl(ep, 0x1234)",
      [](const Backend& a, World& w) { return a.ioctl(w.ep, 0x1234, Buf().bytes); });
  add("ioctl(efd, 0x1234)",
      [](const Backend& a, World& w) { return a.ioctl(w.efd, 0x1234, Buf().bytes); });
  add("ioctl(pr, FIONREAD, NULL)",
      [](const Backend& a, World& w) { return a.ioctl(w.pr, FIONREAD, nullptr); });
  add("ioctl(pr, FIONREAD, kernel-half)",
      [](const Backend& a, World& w) { return a.ioctl(w.pr, FIONREAD, KernelHalf()); });
  add("ioctl(s1, FIONREAD, kernel-half)",
      [](const Backend& a, World& w) { return a.ioctl(w.s1, FIONREAD, KernelHalf()); });
  add("ioctl(s1, 0x1234, kernel-half)",
      [](const Backend& a, World& w) { return a.ioctl(w.s1, 0x1234, KernelHalf()); });
  add("ioctl(efd, FIONBIO, NULL)",
      [](const Backend& a, World& w) { return a.ioctl(w.efd, FIONBIO, nullptr); });
  add("ioctl(efd, FIONBIO, kernel-half)",
      [](const Backend& a, World& w) { return a.ioctl(w.efd, FIONBIO, KernelHalf()); });
  add("ioctl(tfd, TFD_IOC_SET_TICKS, 0)", [](const Backend& a, World& w) {
    uint64_t ticks = 0;
    return a.ioctl(w.tfd, kTfdIocSetTicks, &ticks);
  });
  add("ioctl(tfd, TFD_IOC_SET_TICKS, NULL)",
      [](const Backend& a, World& w) { return a.ioctl(w.tfd, kTfdIocSetTicks, nullptr); });
  add("ioctl(tfd, TFD_IOC_SET_TICKS, kernel-half)",
      [](const Backend& a, World& w) { return a.ioctl(w.tfd, kTfdIocSetTicks, KernelHalf()); });
  add("ioctl(efd, TFD_IOC_SET_TICKS)", [](const Backend& a, World& w) {
    uint64_t ticks = 1;
    return a.ioctl(w.efd, kTfdIocSetTicks, &ticks);
  });
  // ---- socketpair and the socket calls
  add("socketpair(AF_UNIX, STREAM, NULL)",
      [](const Backend& a, World&) { return a.socketpair(AF_UNIX, SOCK_STREAM, 0, nullptr); });
  add("socketpair(AF_UNIX, STREAM, kernel-half)", [](const Backend& a, World&) {
    return a.socketpair(AF_UNIX, SOCK_STREAM, 0, KernelHalf<int>());
  });
  add("socketpair(AF_UNIX, type 99, kernel-half)",
      [](const Backend& a, World&) { return a.socketpair(AF_UNIX, 99, 0, KernelHalf<int>()); });
  add("socketpair(AF_UNIX, type 99)", [](const Backend& a, World&) {
    int sv[2];
    return a.socketpair(AF_UNIX, 99, 0, sv);
  });
  add("socketpair(AF_UNIX, STREAM|O_APPEND)", [](const Backend& a, World&) {
    int sv[2];
    return a.socketpair(AF_UNIX, SOCK_STREAM | O_APPEND, 0, sv);
  });
  add("socketpair(AF_UNIX, STREAM, protocol 7)", [](const Backend& a, World&) {
    int sv[2];
    return a.socketpair(AF_UNIX, SOCK_STREAM, 7, sv);
  });
  add("socketpair(AF_INET, STREAM)", [](const Backend& a, World&) {
    int sv[2];
    return a.socketpair(AF_INET, SOCK_STREAM, 0, sv);
  });
  add("socketpair(-1, STREAM)", [](const Backend& a, World&) {
    int sv[2];
    return a.socketpair(-1, SOCK_STREAM, 0, sv);
  });
  add("send(closed)", [](const Backend& a, World& w) { return a.send(w.closed, "x", 1, 0); });
  add("send(efd)", [](const Backend& a, World& w) { return a.send(w.efd, "x", 1, 0); });
  add("send(efd, kernel-half)",
      [](const Backend& a, World& w) { return a.send(w.efd, KernelHalf(), 1, 0); });
  add("send(closed, kernel-half)",
      [](const Backend& a, World& w) { return a.send(w.closed, KernelHalf(), 1, 0); });
  add("send(s0, NULL, 8)", [](const Backend& a, World& w) { return a.send(w.s0, nullptr, 8, 0); });
  add("send(s0, kernel-half, 8)",
      [](const Backend& a, World& w) { return a.send(w.s0, KernelHalf(), 8, 0); });
  add("send(s0, 0 bytes)",
      [](const Backend& a, World& w) { return a.send(w.s0, "", 0, MSG_DONTWAIT); });
  add("sendto(s0, addrlen -1)", [](const Backend& a, World& w) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    return a.sendto(w.s0, "x", 1, 0, reinterpret_cast<const sockaddr*>(&addr),
                    static_cast<socklen_t>(-1));
  });
  add("sendto(s0, kernel-half address)", [](const Backend& a, World& w) {
    return a.sendto(w.s0, "x", 1, 0, KernelHalf<const sockaddr>(), sizeof(sockaddr_un));
  });
  add("sendto(s0, NULL address, addrlen 8)",
      [](const Backend& a, World& w) { return a.sendto(w.s0, "x", 1, 0, nullptr, 8); });
  add("recvfrom(s1, addr, kernel-half addrlen)", [](const Backend& a, World& w) {
    sockaddr_un addr{};
    return a.recvfrom(w.s1, Buf().bytes, 2, 0, reinterpret_cast<sockaddr*>(&addr),
                      KernelHalf<socklen_t>());
  });
  add("recvmsg(s1, kernel-half name)", [](const Backend& a, World& w) {
    msghdr m{};
    m.msg_name = KernelHalf();
    m.msg_namelen = sizeof(sockaddr_un);
    m.msg_iov = Buf().iov;
    m.msg_iov[0] = {Buf().bytes, 2};
    m.msg_iovlen = 1;
    return a.recvmsg(w.s1, &m, 0);
  });
  add("sendmsg(s0, kernel-half name)", [](const Backend& a, World& w) {
    msghdr m{};
    m.msg_name = KernelHalf();
    m.msg_namelen = sizeof(sockaddr_un);
    return a.sendmsg(w.s0, &m, 0);
  });
  add("recv(closed)",
      [](const Backend& a, World& w) { return a.recv(w.closed, Buf().bytes, 8, 0); });
  add("recv(pr)", [](const Backend& a, World& w) { return a.recv(w.pr, Buf().bytes, 8, 0); });
  add("recv(s1, NULL, 8)", [](const Backend& a, World& w) { return a.recv(w.s1, nullptr, 8, 0); });
  add("recv(s1, kernel-half, 8)",
      [](const Backend& a, World& w) { return a.recv(w.s1, KernelHalf(), 8, 0); });
  add("recv(s1, MSG_PEEK, kernel-half)",
      [](const Backend& a, World& w) { return a.recv(w.s1, KernelHalf(), 8, MSG_PEEK); });
  add("recvfrom(s1, addr, NULL addrlen)", [](const Backend& a, World& w) {
    sockaddr_un addr{};
    return a.recvfrom(w.s1, Buf().bytes, 2, 0, reinterpret_cast<sockaddr*>(&addr), nullptr);
  });
  add("recvfrom(s1, addr, addrlen -1)", [](const Backend& a, World& w) {
    sockaddr_un addr{};
    socklen_t len = static_cast<socklen_t>(-1);
    return a.recvfrom(w.s1, Buf().bytes, 2, 0, reinterpret_cast<sockaddr*>(&addr), &len);
  });
  add("sendmsg(s0, NULL)", [](const Backend& a, World& w) { return a.sendmsg(w.s0, nullptr, 0); });
  add("sendmsg(s0, kernel-half)",
      [](const Backend& a, World& w) { return a.sendmsg(w.s0, KernelHalf<msghdr>(), 0); });
  add("sendmsg(efd, NULL)",
      [](const Backend& a, World& w) { return a.sendmsg(w.efd, nullptr, 0); });
  add("sendmsg(s0, iovlen 1025)", [](const Backend& a, World& w) {
    msghdr m{};
    m.msg_iov = Buf().iov;
    m.msg_iovlen = 1025;
    return a.sendmsg(w.s0, &m, 0);
  });
  add("sendmsg(s0, NULL iov)", [](const Backend& a, World& w) {
    msghdr m{};
    m.msg_iovlen = 1;
    return a.sendmsg(w.s0, &m, 0);
  });
  add("sendmsg(s0, kernel-half iov)", [](const Backend& a, World& w) {
    msghdr m{};
    m.msg_iov = KernelHalf<iovec>();
    m.msg_iovlen = 1;
    return a.sendmsg(w.s0, &m, 0);
  });
  add("sendmsg(s0, kernel-half control)", [](const Backend& a, World& w) {
    msghdr m{};
    m.msg_control = KernelHalf();
    m.msg_controllen = 64;
    return a.sendmsg(w.s0, &m, 0);
  });
  add("sendmsg(s0, flags MSG_CMSG_COMPAT)", [](const Backend& a, World& w) {
    msghdr m{};
    return a.sendmsg(w.s0, &m, static_cast<int>(0x80000000U));
  });
  add("recvmsg(s1, NULL)", [](const Backend& a, World& w) { return a.recvmsg(w.s1, nullptr, 0); });
  add("recvmsg(s1, kernel-half)",
      [](const Backend& a, World& w) { return a.recvmsg(w.s1, KernelHalf<msghdr>(), 0); });
  add("recvmsg(s1, kernel-half iov)", [](const Backend& a, World& w) {
    msghdr m{};
    m.msg_iov = KernelHalf<iovec>();
    m.msg_iovlen = 1;
    return a.recvmsg(w.s1, &m, 0);
  });
  add("recvmsg(pr)", [](const Backend& a, World& w) {
    msghdr m{};
    return a.recvmsg(w.pr, &m, 0);
  });
  add("shutdown(s0, 3)", [](const Backend& a, World& w) { return a.shutdown(w.s0, 3); });
  add("shutdown(s0, -1)", [](const Backend& a, World& w) { return a.shutdown(w.s0, -1); });
  add("shutdown(efd, SHUT_RD)",
      [](const Backend& a, World& w) { return a.shutdown(w.efd, SHUT_RD); });
  add("shutdown(closed, SHUT_RD)",
      [](const Backend& a, World& w) { return a.shutdown(w.closed, SHUT_RD); });
  add("getsockopt(s0, SO_TYPE, NULL optlen)", [](const Backend& a, World& w) {
    int v = 0;
    return a.getsockopt(w.s0, SOL_SOCKET, SO_TYPE, &v, nullptr);
  });
  add("getsockopt(s0, SO_TYPE, kernel-half optlen)", [](const Backend& a, World& w) {
    int v = 0;
    return a.getsockopt(w.s0, SOL_SOCKET, SO_TYPE, &v, KernelHalf<socklen_t>());
  });
  add("getsockopt(s0, SO_TYPE, NULL optval)", [](const Backend& a, World& w) {
    socklen_t len = 4;
    return a.getsockopt(w.s0, SOL_SOCKET, SO_TYPE, nullptr, &len);
  });
  add("getsockopt(s0, SO_TYPE, kernel-half optval)", [](const Backend& a, World& w) {
    socklen_t len = 4;
    return a.getsockopt(w.s0, SOL_SOCKET, SO_TYPE, KernelHalf(), &len);
  });
  add("getsockopt(s0, SO_TYPE, optlen -1)", [](const Backend& a, World& w) {
    int v = 0;
    socklen_t len = static_cast<socklen_t>(-1);
    return a.getsockopt(w.s0, SOL_SOCKET, SO_TYPE, &v, &len);
  });
  add("getsockopt(s0, SOL_SOCKET, 9999)", [](const Backend& a, World& w) {
    int v = 0;
    socklen_t len = 4;
    return a.getsockopt(w.s0, SOL_SOCKET, 9999, &v, &len);
  });
  add("getsockopt(efd, SO_TYPE)", [](const Backend& a, World& w) {
    int v = 0;
    socklen_t len = 4;
    return a.getsockopt(w.efd, SOL_SOCKET, SO_TYPE, &v, &len);
  });
  add("setsockopt(s0, SO_RCVLOWAT, NULL)", [](const Backend& a, World& w) {
    return a.setsockopt(w.s0, SOL_SOCKET, SO_RCVLOWAT, nullptr, 4);
  });
  add("setsockopt(s0, SO_RCVLOWAT, kernel-half)", [](const Backend& a, World& w) {
    return a.setsockopt(w.s0, SOL_SOCKET, SO_RCVLOWAT, KernelHalf(), 4);
  });
  add("setsockopt(s0, SO_RCVLOWAT, optlen 2)", [](const Backend& a, World& w) {
    const int v = 1;
    return a.setsockopt(w.s0, SOL_SOCKET, SO_RCVLOWAT, &v, 2);
  });
  add("setsockopt(s0, SOL_SOCKET, 9999)", [](const Backend& a, World& w) {
    const int v = 1;
    return a.setsockopt(w.s0, SOL_SOCKET, 9999, &v, 4);
  });
  add("setsockopt(pr, SO_RCVLOWAT)", [](const Backend& a, World& w) {
    const int v = 1;
    return a.setsockopt(w.pr, SOL_SOCKET, SO_RCVLOWAT, &v, 4);
  });
  // ---- timerfd_create, timerfd_settime, timerfd_gettime
  add("timerfd_create(-1, 0)", [](const Backend& a, World&) { return a.timerfd_create(-1, 0); });
  add("timerfd_create(CLOCK_PROCESS_CPUTIME_ID, 0)",
      [](const Backend& a, World&) { return a.timerfd_create(CLOCK_PROCESS_CPUTIME_ID, 0); });
  add("timerfd_create(MONOTONIC, O_APPEND)",
      [](const Backend& a, World&) { return a.timerfd_create(CLOCK_MONOTONIC, O_APPEND); });
  add("timerfd_create(MONOTONIC, -1)",
      [](const Backend& a, World&) { return a.timerfd_create(CLOCK_MONOTONIC, -1); });
  const itimerspec far{{0, 0}, {3600, 0}};
  add("timerfd_settime(tfd, NULL)",
      [](const Backend& a, World& w) { return a.timerfd_settime(w.tfd, 0, nullptr, nullptr); });
  add("timerfd_settime(tfd, kernel-half)", [](const Backend& a, World& w) {
    return a.timerfd_settime(w.tfd, 0, KernelHalf<itimerspec>(), nullptr);
  });
  add("timerfd_settime(closed, NULL)",
      [](const Backend& a, World& w) { return a.timerfd_settime(w.closed, 0, nullptr, nullptr); });
  add("timerfd_settime(tfd, flags 4)",
      [far](const Backend& a, World& w) { return a.timerfd_settime(w.tfd, 4, &far, nullptr); });
  add("timerfd_settime(tfd, CANCEL_ON_SET alone)", [far](const Backend& a, World& w) {
    return a.timerfd_settime(w.tfd, TFD_TIMER_CANCEL_ON_SET, &far, nullptr);
  });
  add("timerfd_settime(tfd, nsec 1e9)", [](const Backend& a, World& w) {
    const itimerspec bad{{0, 0}, {0, 1000000000}};
    return a.timerfd_settime(w.tfd, 0, &bad, nullptr);
  });
  add("timerfd_settime(tfd, interval nsec -1)", [](const Backend& a, World& w) {
    const itimerspec bad{{0, -1}, {1, 0}};
    return a.timerfd_settime(w.tfd, 0, &bad, nullptr);
  });
  add("timerfd_settime(tfd, seconds -1)", [](const Backend& a, World& w) {
    const itimerspec bad{{0, 0}, {-1, 0}};
    return a.timerfd_settime(w.tfd, 0, &bad, nullptr);
  });
  add("timerfd_settime(efd)",
      [far](const Backend& a, World& w) { return a.timerfd_settime(w.efd, 0, &far, nullptr); });
  add("timerfd_settime(tfd, kernel-half old value): set anyway", [far](const Backend& a, World& w) {
    return a.timerfd_settime(w.tfd, 0, &far, KernelHalf<itimerspec>());
  });
  add("timerfd_gettime(tfd, NULL)",
      [](const Backend& a, World& w) { return a.timerfd_gettime(w.tfd, nullptr); });
  add("timerfd_gettime(tfd, kernel-half)", [](const Backend& a, World& w) {
    return a.timerfd_gettime(w.tfd, KernelHalf<itimerspec>());
  });
  add("timerfd_gettime(efd, NULL)",
      [](const Backend& a, World& w) { return a.timerfd_gettime(w.efd, nullptr); });
  add("timerfd_gettime(closed)", [](const Backend& a, World& w) {
    itimerspec cur{};
    return a.timerfd_gettime(w.closed, &cur);
  });
  // ---- poll, ppoll, select, pselect
  add("poll(NULL, 1)", [](const Backend& a, World&) { return a.poll(nullptr, 1, 0); });
  add("poll(kernel-half, 1)",
      [](const Backend& a, World&) { return a.poll(KernelHalf<pollfd>(), 1, 0); });
  add("poll(NULL, 0)", [](const Backend& a, World&) { return a.poll(nullptr, 0, 0); });
  add("poll(fds, 1 << 30)", [](const Backend& a, World& w) {
    pollfd p{w.efd, POLLIN, 0};
    return a.poll(&p, nfds_t{1} << 30, 0);
  });
  add("poll(efd, timeout -7): ready", [](const Backend& a, World& w) {
    pollfd p{w.efd, POLLIN, 0};
    return a.poll(&p, 1, -7);
  });
  add("poll({-1, closed}, 0)", [](const Backend& a, World& w) {
    pollfd p[2] = {{-1, POLLIN, 0}, {w.closed, POLLIN, 0}};
    const int r = a.poll(p, 2, 0);
    return r < 0 ? r : r * 1000 + p[0].revents * 10 + (p[1].revents == POLLNVAL ? 1 : 0);
  });
  add("ppoll(efd, {0, 0}, unreadable sigmask): ready", [](const Backend& a, World& w) {
    pollfd p{w.efd, POLLIN, 0};
    const timespec zero{0, 0};
    return a.ppoll(&p, 1, &zero, UnreadableMask());
  });
  add("ppoll(ep, NULL timeout, unreadable sigmask): ready", [](const Backend& a, World& w) {
    pollfd p{w.ep, POLLIN, 0};
    return a.ppoll(&p, 1, nullptr, UnreadableMask());
  });
  add("ppoll(efd, {0, 1e9})", [](const Backend& a, World& w) {
    pollfd p{w.efd, POLLIN, 0};
    const timespec ts{0, 1000000000};
    return a.ppoll(&p, 1, &ts, nullptr);
  });
  add("ppoll(efd, {-1, 0})", [](const Backend& a, World& w) {
    pollfd p{w.efd, POLLIN, 0};
    const timespec ts{-1, 0};
    return a.ppoll(&p, 1, &ts, nullptr);
  });
  add("ppoll(efd, kernel-half timeout)", [](const Backend& a, World& w) {
    pollfd p{w.efd, POLLIN, 0};
    return a.ppoll(&p, 1, KernelHalf<timespec>(), nullptr);
  });
  add("ppoll(efd, kernel-half sigmask)", [](const Backend& a, World& w) {
    pollfd p{w.efd, POLLIN, 0};
    const timespec ts{0, 0};
    return a.ppoll(&p, 1, &ts, KernelHalf<sigset_t>());
  });
  add("ppoll(kernel-half, 1)", [](const Backend& a, World&) {
    const timespec ts{0, 0};
    return a.ppoll(KernelHalf<pollfd>(), 1, &ts, nullptr);
  });
  add("select(-1)", [](const Backend& a, World&) {
    timeval tv{0, 0};
    return a.select(-1, nullptr, nullptr, nullptr, &tv);
  });
  add("select(1, timeout {-1, 0})", [](const Backend& a, World&) {
    timeval tv{-1, 0};
    return a.select(1, nullptr, nullptr, nullptr, &tv);
  });
  add("select(1, kernel-half set)", [](const Backend& a, World&) {
    timeval tv{0, 0};
    return a.select(1, KernelHalf<fd_set>(), nullptr, nullptr, &tv);
  });
  add("pselect(1, {0, 1e9})", [](const Backend& a, World&) {
    const timespec ts{0, 1000000000};
    return a.pselect(1, nullptr, nullptr, nullptr, &ts, nullptr);
  });
  add("pselect(1, kernel-half sigmask)", [](const Backend& a, World&) {
    const timespec ts{0, 0};
    return a.pselect(1, nullptr, nullptr, nullptr, &ts, KernelHalf<sigset_t>());
  });
  return c;
}

class BadInput : public ::testing::TestWithParam<size_t> {};

TEST_P(BadInput, SameErrnoAndNoStateChangeOnKernelAndUepoll) {
  static const std::vector<Case> cases = Cases();
  const Case& c = cases[GetParam()];
  std::string result[2];
  std::string before[2];
  std::string after[2];
  const Backend* backends[2] = {&RawKernelBackend(), &UepollBackend()};
  SigpipeCount();  // a handler, so that a write to a closed peer cannot kill the test
  for (int side = 0; side < 2; ++side) {
    const Backend& a = *backends[side];
    World w = Build(a);
    before[side] = Snapshot(a, w);
    errno = 0;
    const long r = c.call(a, w);
    result[side] = Outcome(r, errno);
    after[side] = Snapshot(a, w);
    Destroy(a, w);
  }
  const char* verbose = std::getenv("UEPOLL_DIFF_VERBOSE");
  if (verbose != nullptr && *verbose == '1') {
    std::printf("%s = %s\n  after: %s\n", c.name.c_str(), result[0].c_str(), after[0].c_str());
  }
  EXPECT_EQ(before[0], before[1]) << c.name << ": the worlds differ before the call";
  EXPECT_EQ(result[0], result[1]) << c.name << ": kernel | uepoll result";
  EXPECT_EQ(after[0], after[1]) << c.name << ": kernel | uepoll state after the call";
}

std::string CaseName(const ::testing::TestParamInfo<size_t>& info) {
  static const std::vector<Case> cases = Cases();
  std::string name = std::to_string(info.param) + "_";
  for (char ch : cases[info.param].name) {
    name += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(EveryPublicFunction, BadInput, ::testing::Range<size_t>(0, Cases().size()),
                         CaseName);

// uepoll's own functions have no kernel counterpart: their documented answers.
TEST(BadInputUepollOnly, DocumentedErrors) {
  const int ep = uep_epoll_create1(0);
  const int efd = uep_eventfd(0, 0);
  errno = 0;
  EXPECT_EQ(uep_epoll_set_busy_poll(ep, -1), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(uep_epoll_set_busy_poll(efd, 1), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(uep_epoll_set_busy_poll(-1, 1), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(uep_epoll_set_busy_poll(INT_MAX, 1), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(uep_is_uepoll_fd(-1), 0);
  EXPECT_EQ(uep_is_uepoll_fd(INT_MAX), 0);
  EXPECT_EQ(uep_is_uepoll_fd(INT_MIN), 0);
  EXPECT_EQ(uep_is_uepoll_fd(0), 0);  // stdin is the kernel's
  EXPECT_EQ(uep_trace_dump(nullptr), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_GE(uep_fd_base(), 1 << 30);
  uep_close(efd);
  uep_close(ep);
}

}  // namespace
}  // namespace uep::test
