// timerfd, differential: each scenario runs on the kernel and on uepoll and the traces
// must be equal. Times are recorded coarsely (in buckets, or as "within range"), so that
// scheduling noise does not show while semantics do.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "support/itimerspec.h"
#include "support/sock_timer_diff.h"
#include "uepoll/uepoll.h"

namespace uep::test {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr unsigned long kSetTicks = _IOW('T', 0, uint64_t);  // TFD_IOC_SET_TICKS

itimerspec Spec(long value_ns, long interval_ns) { return uep::test::Rel(value_ns, interval_ns); }

long Ns(const timespec& ts) { return ts.tv_sec * 1000000000L + ts.tv_nsec; }

// Reads the expiration count (nonblocking unless the file is blocking).
long ReadCount(Trace& t, int fd, uint64_t* count = nullptr) {
  uint64_t v = 0;
  const long r = t.backend().read(fd, &v, sizeof v);
  const int err = errno;
  if (count != nullptr) *count = r == 8 ? v : 0;
  errno = err;
  return r;
}

// Records the count exactly.
void ReadExact(Trace& t, const std::string& what, int fd) {
  uint64_t v = 0;
  const long r = ReadCount(t, fd, &v);
  t.Rec(what, r);
  if (r == 8) t.Note("  count " + std::to_string(v));
}

// When something happened, as far as this side's clock can tell: between `lo` and `hi`.
struct Window {
  Clock::time_point lo;
  Clock::time_point hi;
};

// Records whether a read's count fits the periods this side's own clock saw pass since
// `since` (the arm, or the previous read, which restarts the count): a side that a loaded
// machine kept asleep longer sees more expirations, and must, so fixed ranges would not
// hold. One period either way covers the phase of the first expiry and the timer's
// lateness; a count of 0 (EAGAIN) fits only when less than two periods went by. Returns
// the window of this read, the `since` of the next one.
Window ReadTicksSince(Trace& t, const std::string& what, int fd, Window since, long period_ns) {
  const Clock::time_point before = Clock::now();
  uint64_t v = 0;
  const long r = ReadCount(t, fd, &v);
  const int err = errno;
  const Clock::time_point after = Clock::now();
  auto periods = [&](Clock::duration d) {
    return static_cast<long long>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count() /
                                  period_ns);
  };
  const long long lo = std::max(0LL, periods(before - since.hi) - 1);
  const long long hi = periods(after - since.lo) + 1;
  const bool empty = r < 0 && err == EAGAIN;
  const auto count = static_cast<long long>(empty ? 0 : v);
  const bool fits = (r == 8 || empty) && count >= lo && count <= hi;
  t.Note(what + ": count fits the periods passed: " +
         (fits ? std::string("yes")
               : "no (r " + std::to_string(r) + ", count " + std::to_string(count) + ", periods " +
                     std::to_string(lo) + ".." + std::to_string(hi) + ")"));
  return {before, after};
}

// Records the remaining time in `bucket_ns` buckets (rounded up) and the interval exactly.
void GetTime(Trace& t, const std::string& what, int fd, long bucket_ns) {
  itimerspec cur{};
  cur.it_value.tv_sec = -5;
  t.Rec(what, t.backend().timerfd_gettime(fd, &cur));
  const long v = Ns(cur.it_value);
  t.Note("  value " + std::to_string((v + bucket_ns - 1) / bucket_ns) + " x " +
         std::to_string(bucket_ns) + "ns, interval " + std::to_string(Ns(cur.it_interval)));
}

std::string WaitEvents(Trace& t, int ep, int timeout_ms) {
  epoll_event ev[8];
  const int n = t.backend().epoll_wait(ep, ev, 8, timeout_ms);
  std::string s = std::to_string(n);
  for (int i = 0; i < n; ++i)
    s += " [" + std::to_string(ev[i].data.u64) + " " + EpollMaskName(ev[i].events) + "]";
  return s;
}

TEST(TimerfdDiffTest, CreateArguments) {
  RunOnBoth([](Trace& t) {
    const auto& a = t.backend();
    for (const int clock :
         {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID,
          CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME,
          CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM, 10, 11, 12, -1, 100}) {
      const int fd = a.timerfd_create(clock, 0);
      t.Rec("timerfd_create(" + std::to_string(clock) + ")", fd >= 0 ? 0 : fd);
      if (fd < 0) continue;
      GetTime(t, "  gettime", fd, 1);
      a.close(fd);
    }
    for (const int flags :
         {1, int{TFD_TIMER_ABSTIME}, int{TFD_TIMER_CANCEL_ON_SET}, O_RDWR, O_APPEND,
          int{TFD_NONBLOCK}, int{TFD_CLOEXEC}, TFD_NONBLOCK | TFD_CLOEXEC}) {
      const int fd = a.timerfd_create(CLOCK_MONOTONIC, flags);
      t.Rec("timerfd_create(MONOTONIC, " + std::to_string(flags) + ")", fd >= 0 ? 0 : fd);
      if (fd < 0) continue;
      t.Rec("  F_GETFL", a.fcntl(fd, F_GETFL, 0));
      t.Rec("  F_GETFD", a.fcntl(fd, F_GETFD, 0));
      a.close(fd);
    }
    t.Rec("timerfd_create(77, 1)", a.timerfd_create(77, 1));
    const int fd = a.timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    char buf[16] = {};
    t.Rec("read 4", a.read(fd, buf, 4));
    t.Rec("read 7", a.read(fd, buf, 7));
    t.Rec("read 8", a.read(fd, buf, 8));
    t.Rec("read 16", a.read(fd, buf, 16));
    t.Rec("read 0", a.read(fd, buf, 0));
    t.Rec("write 8", a.write(fd, buf, 8));
    t.Rec("write 0", a.write(fd, buf, 0));
    t.Mask("unarmed", fd);
    t.Rec("send", a.send(fd, buf, 8, 0));
    a.close(fd);
  });
}

TEST(TimerfdDiffTest, SettimeAndGettimeErrors) {
  RunOnBoth([](Trace& t) {
    const auto& a = t.backend();
    const int fd = a.timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    const int efd = a.eventfd(0, 0);
    const int dead = a.timerfd_create(CLOCK_MONOTONIC, 0);
    a.close(dead);
    itimerspec its = Spec(0, 0);
    itimerspec old{};
    t.Rec("settime NULL", a.timerfd_settime(fd, 0, nullptr, nullptr));
    t.Rec("settime NULL bad flags", a.timerfd_settime(fd, 99, nullptr, nullptr));
    t.Rec("settime NULL closed fd", a.timerfd_settime(dead, 0, nullptr, nullptr));
    t.Rec("settime closed fd", a.timerfd_settime(dead, 0, &its, nullptr));
    t.Rec("settime closed fd bad flags", a.timerfd_settime(dead, 99, &its, nullptr));
    t.Rec("settime eventfd", a.timerfd_settime(efd, 0, &its, nullptr));
    t.Rec("gettime eventfd", a.timerfd_gettime(efd, &old));
    t.Rec("gettime closed fd", a.timerfd_gettime(dead, &old));
    t.Rec("gettime NULL", a.timerfd_gettime(fd, nullptr));
    t.Rec("gettime NULL closed fd", a.timerfd_gettime(dead, nullptr));
    t.Rec("gettime -1", a.timerfd_gettime(-1, &old));
    for (const int flags : {4, 8, 1 << 30, -1}) {
      t.Rec("settime flags " + std::to_string(flags), a.timerfd_settime(fd, flags, &its, nullptr));
    }
    const struct {
      long vs, vn, is, in;
    } bad[] = {{0, 1000000000, 0, 0}, {0, -1, 0, 0}, {-1, 0, 0, 0},        {0, 0, 0, 1000000000},
               {0, 0, -5, 0},         {0, 0, 0, -1}, {1, 999999999, 0, 0}, {0, 0, 0, 999999999}};
    for (const auto& b : bad) {
      itimerspec s{};
      s.it_value.tv_sec = b.vs;
      s.it_value.tv_nsec = b.vn;
      s.it_interval.tv_sec = b.is;
      s.it_interval.tv_nsec = b.in;
      t.Rec("settime {" + std::to_string(b.vs) + "." + std::to_string(b.vn) + ", " +
                std::to_string(b.is) + "." + std::to_string(b.in) + "}",
            a.timerfd_settime(fd, 0, &s, nullptr));
      t.Rec("  same on a closed fd", a.timerfd_settime(dead, 0, &s, nullptr));
    }
    t.Rec("settime CANCEL_ON_SET on MONOTONIC",
          a.timerfd_settime(fd, TFD_TIMER_CANCEL_ON_SET, &its, &old));
    t.Rec("settime ABSTIME|CANCEL_ON_SET on MONOTONIC",
          a.timerfd_settime(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, &old));
    a.close(efd);
    a.close(fd);
  });
}

// Values and intervals as settime's old value and gettime report them, including a
// disarmed timer with an interval, absolute times, and values beyond KTIME_MAX.
TEST(TimerfdDiffTest, Values) {
  RunOnBoth([](Trace& t) {
    const auto& a = t.backend();
    for (const int clock : {CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME}) {
      t.Note("-- clock " + std::to_string(clock));
      const int fd = a.timerfd_create(clock, TFD_NONBLOCK);
      itimerspec its = Spec(10L * 1000000000, 3L * 1000000000);
      itimerspec old{};
      t.Rec("settime 10s/3s", a.timerfd_settime(fd, 0, &its, &old));
      t.Note("  old " + std::to_string(Ns(old.it_value)) + " / " +
             std::to_string(Ns(old.it_interval)));
      GetTime(t, "gettime", fd, 500000000);
      its = Spec(0, 7000);
      t.Rec("settime disarm, interval 7us", a.timerfd_settime(fd, 0, &its, &old));
      t.Note("  old value " + std::to_string((Ns(old.it_value) + 499999999) / 500000000) +
             " x 0.5s, interval " + std::to_string(Ns(old.it_interval)));
      GetTime(t, "gettime", fd, 1);
      t.Mask("disarmed", fd);
      ReadExact(t, "read", fd);
      // Absolute: now + 5 s on the timer's clock.
      timespec now{};
      clock_gettime(clock, &now);
      its = Spec(0, 0);
      its.it_value.tv_sec = now.tv_sec + 5;
      its.it_value.tv_nsec = now.tv_nsec;
      t.Rec("settime ABSTIME now+5s", a.timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, &old));
      GetTime(t, "gettime", fd, 500000000);
      // KTIME_MAX: relative and absolute saturate; only the magnitude is comparable.
      its = Spec(0, 0);
      its.it_value.tv_sec = INT64_MAX;
      t.Rec("settime huge relative", a.timerfd_settime(fd, 0, &its, &old));
      itimerspec cur{};
      a.timerfd_gettime(fd, &cur);
      t.Note("  value > 7e9 s: " + std::to_string(cur.it_value.tv_sec > 7000000000L));
      t.Rec("settime huge absolute", a.timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, &old));
      t.Note("  old value > 7e9 s: " + std::to_string(old.it_value.tv_sec > 7000000000L));
      a.timerfd_gettime(fd, &cur);
      t.Note("  value > 7e9 s: " + std::to_string(cur.it_value.tv_sec > 7000000000L));
      its = Spec(0, 0);
      t.Rec("settime disarm", a.timerfd_settime(fd, 0, &its, &old));
      GetTime(t, "gettime", fd, 1);
      a.close(fd);
    }
  });
}

TEST(TimerfdDiffTest, OneShotExpiry) {
  RunOnBoth([](Trace& t) {
    const auto& a = t.backend();
    const int fd = a.timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    itimerspec its = Spec(50000000, 0);
    t.Rec("settime 50ms", a.timerfd_settime(fd, 0, &its, nullptr));
    ReadExact(t, "read at once", fd);
    t.Mask("before", fd);
    std::this_thread::sleep_for(milliseconds(100));
    t.Mask("after", fd);
    GetTime(t, "gettime", fd, 1);
    t.Mask("after gettime", fd);
    ReadExact(t, "read", fd);
    t.Mask("after read", fd);
    ReadExact(t, "read again", fd);
    std::this_thread::sleep_for(milliseconds(30));
    ReadExact(t, "read later", fd);
    // Absolute time in the past: due at once.
    its = Spec(1000000000, 0);
    t.Rec("settime ABSTIME 1s", a.timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, nullptr));
    std::this_thread::sleep_for(milliseconds(20));
    ReadExact(t, "read", fd);
    GetTime(t, "gettime", fd, 1);
    a.close(fd);
  });
}

// An interval timer: expirations accumulate while nobody reads; the count covers every
// period; re-arming resets it.
TEST(TimerfdDiffTest, IntervalCounts) {
  RunOnBoth([](Trace& t) {
    const auto& a = t.backend();
    const int fd = a.timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    constexpr long kPeriod = 10000000;
    itimerspec its = Spec(kPeriod, kPeriod);
    Window since{Clock::now(), {}};
    t.Rec("settime 10ms/10ms", a.timerfd_settime(fd, 0, &its, nullptr));
    since.hi = Clock::now();
    std::this_thread::sleep_for(milliseconds(55));
    since = ReadTicksSince(t, "read after 55ms", fd, since, kPeriod);
    GetTime(t, "gettime", fd, 20000000);
    std::this_thread::sleep_for(milliseconds(35));
    GetTime(t, "gettime after 35ms", fd, 20000000);  // forwards: the count moves to ticks
    since = ReadTicksSince(t, "read", fd, since, kPeriod);
    ReadTicksSince(t, "read again", fd, since, kPeriod);
    std::this_thread::sleep_for(milliseconds(25));
    t.Rec("settime again 1s/10ms",
          a.timerfd_settime(fd, 0, &(its = Spec(1000000000, 10000000)), nullptr));
    ReadExact(t, "read after re-arm", fd);
    t.Mask("after re-arm", fd);
    // An absolute start in the past with a 1 ms period: every period since counts.
    timespec now{};
    Window start{Clock::now(), {}};
    clock_gettime(CLOCK_MONOTONIC, &now);
    start.hi = Clock::now() - std::chrono::seconds(2);
    start.lo -= std::chrono::seconds(2);
    its = Spec(0, 1000000);
    its.it_value.tv_sec = now.tv_sec - 2;
    its.it_value.tv_nsec = now.tv_nsec;
    t.Rec("settime ABSTIME now-2s / 1ms", a.timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, nullptr));
    std::this_thread::sleep_for(milliseconds(10));
    ReadTicksSince(t, "read", fd, start, 1000000);
    // settime on a fired periodic timer reports the next expiry as its old value.
    its = Spec(5000000, 20000000);
    a.timerfd_settime(fd, 0, &its, nullptr);
    std::this_thread::sleep_for(milliseconds(15));
    itimerspec old{};
    t.Rec("settime disarm", a.timerfd_settime(fd, 0, &(its = Spec(0, 0)), &old));
    t.Note("  old value in (0, 20ms]: " +
           std::to_string(Ns(old.it_value) > 0 && Ns(old.it_value) <= 20000000) + " interval " +
           std::to_string(Ns(old.it_interval)));
    ReadExact(t, "read after disarm", fd);
    a.close(fd);
  });
}

TEST(TimerfdDiffTest, BlockingReadAndVectors) {
  RunOnBoth([](Trace& t) {
    const auto& a = t.backend();
    const int fd = a.timerfd_create(CLOCK_MONOTONIC, 0);
    itimerspec its = Spec(30000000, 0);
    // Measured from before settime: the timer runs from there, and uepoll fires within
    // microseconds of the deadline (the kernel adds timer slack), so time spent in settime
    // itself (long under the sanitizers) must not count against the 30 ms.
    const auto start = Clock::now();
    a.timerfd_settime(fd, 0, &its, nullptr);
    ReadExact(t, "blocking read", fd);
    t.Note("  waited >= 30ms: " + std::to_string(Clock::now() - start >= milliseconds(30)));
    // Vectors: the segments together must hold 8 bytes; one read_iter call.
    const int nb = a.timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    char b[32] = {};
    auto fire = [&] {
      itimerspec s = Spec(1000000, 0);
      a.timerfd_settime(nb, 0, &s, nullptr);
      std::this_thread::sleep_for(milliseconds(10));
    };
    fire();
    iovec three[] = {{b, 8}, {b + 8, 8}, {b + 16, 8}};
    t.Rec("readv 3x8", a.readv(nb, three, 3));
    fire();
    iovec zero_first[] = {{b, 0}, {b + 8, 8}};
    t.Rec("readv 0,8", a.readv(nb, zero_first, 2));
    fire();
    iovec split[] = {{b, 4}, {b + 8, 4}};
    t.Rec("readv 4,4", a.readv(nb, split, 2));
    uint64_t v = 0;
    std::memcpy(&v, b, 4);
    std::memcpy(reinterpret_cast<char*>(&v) + 4, b + 8, 4);
    t.Note("  count " + std::to_string(v));
    iovec short_vec[] = {{b, 4}, {b + 8, 3}};
    t.Rec("readv 4,3", a.readv(nb, short_vec, 2));
    fire();
    iovec null_second[] = {{b, 4}, {nullptr, 4}};
    t.Rec("readv 4,NULL", a.readv(nb, null_second, 2));
    t.Rec("read after", a.read(nb, b, 8));
    fire();
    t.Rec("read NULL", a.read(nb, nullptr, 8));
    t.Rec("read after", a.read(nb, b, 8));
    a.close(nb);
    a.close(fd);
  });
}

// epoll on timers: an interval timer nobody reads wakes an edge-triggered item once (it
// is only re-armed by a read); timers wake a sleeping epoll_wait in deadline order.
TEST(TimerfdDiffTest, Epoll) {
  RunOnBoth([](Trace& t) {
    const auto& a = t.backend();
    const int fd = a.timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    const int ep = a.epoll_create1(0);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.u64 = 1;
    a.epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    itimerspec its = Spec(20000000, 20000000);
    Window armed{Clock::now(), {}};
    a.timerfd_settime(fd, 0, &its, nullptr);
    armed.hi = Clock::now();
    t.Note("wait 0: " + WaitEvents(t, ep, 0));
    t.Note("wait 500: " + WaitEvents(t, ep, 500));
    t.Note("wait 70 (no read, not re-armed): " + WaitEvents(t, ep, 70));
    ReadTicksSince(t, "read", fd, armed, 20000000);
    t.Note("wait 500 (re-armed by the read): " + WaitEvents(t, ep, 500));
    GetTime(t, "gettime (re-arms too)", fd, 40000000);
    t.Note("wait 500: " + WaitEvents(t, ep, 500));
    its = Spec(0, 0);
    a.timerfd_settime(fd, 0, &its, nullptr);
    t.Note("wait 50 after disarm: " + WaitEvents(t, ep, 50));
    // TFD_IOC_SET_TICKS
    uint64_t ticks = 5;
    t.Rec("SET_TICKS 5", a.ioctl(fd, kSetTicks, &ticks));
    t.Note("wait 0: " + WaitEvents(t, ep, 0));
    ReadExact(t, "read", fd);
    ticks = 0;
    t.Rec("SET_TICKS 0", a.ioctl(fd, kSetTicks, &ticks));
    t.Rec("SET_TICKS NULL", a.ioctl(fd, kSetTicks, nullptr));
    t.Rec("ioctl other", a.ioctl(fd, 0x5401, &ticks));
    a.close(fd);
    // Three timers, one epoll_wait slot: they come in deadline order.
    int fds[3];
    const long ms[3] = {60, 20, 40};
    for (int i = 0; i < 3; ++i) {
      fds[i] = a.timerfd_create(i == 1 ? CLOCK_REALTIME : CLOCK_MONOTONIC, TFD_NONBLOCK);
      ev.events = EPOLLIN;
      ev.data.u64 = static_cast<uint64_t>(10 + i);
      a.epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
      its = Spec(ms[i] * 1000000, 0);
      a.timerfd_settime(fds[i], 0, &its, nullptr);
    }
    for (int k = 0; k < 3; ++k) {
      epoll_event out{};
      const int n = a.epoll_wait(ep, &out, 1, 1000);
      t.Note("ordered wait: " + std::to_string(n) + " [" + std::to_string(out.data.u64) + "]");
      uint64_t v = 0;
      if (n == 1) a.read(fds[out.data.u64 - 10], &v, sizeof v);
    }
    for (const int f : fds) a.close(f);
    a.close(ep);
  });
}

// The other clocks: absolute CLOCK_REALTIME (with TFD_TIMER_CANCEL_ON_SET), CLOCK_BOOTTIME,
// and the alarm clocks (CAP_WAKE_ALARM or EPERM). All armed together, 50 ms ahead.
TEST(TimerfdDiffTest, OtherClocks) {
  RunOnBoth([](Trace& t) {
    const auto& a = t.backend();
    struct Timer {
      int clock;
      int flags;
      int fd;
    };
    std::vector<Timer> timers;
    for (const int clock :
         {CLOCK_REALTIME, CLOCK_BOOTTIME, CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM}) {
      for (const int flags :
           {0, int{TFD_TIMER_ABSTIME}, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET}) {
        const int fd = a.timerfd_create(clock, TFD_NONBLOCK);
        t.Rec("create " + std::to_string(clock), fd >= 0 ? 0 : fd);
        if (fd >= 0) timers.push_back({clock, flags, fd});
      }
    }
    for (const Timer& tm : timers) {
      timespec now{};
      clock_gettime(tm.clock == CLOCK_REALTIME_ALARM   ? CLOCK_REALTIME
                    : tm.clock == CLOCK_BOOTTIME_ALARM ? CLOCK_BOOTTIME
                                                       : tm.clock,
                    &now);
      itimerspec its = Spec(50000000, 0);
      if ((tm.flags & TFD_TIMER_ABSTIME) != 0) {
        const long ns = now.tv_nsec + 50000000;
        its.it_value.tv_sec = now.tv_sec + ns / 1000000000;
        its.it_value.tv_nsec = ns % 1000000000;
      }
      t.Rec("settime clock " + std::to_string(tm.clock) + " flags " + std::to_string(tm.flags),
            a.timerfd_settime(tm.fd, tm.flags, &its, nullptr));
      ReadExact(t, "  read at once", tm.fd);
    }
    std::this_thread::sleep_for(milliseconds(120));
    for (const Timer& tm : timers) {
      ReadExact(t, "read after 120ms", tm.fd);
      GetTime(t, "  gettime", tm.fd, 1);
      a.close(tm.fd);
    }
  });
}

// A realtime cancel-on-set timer, closed, leaves the kernel's numbering as it was: the next
// kernel pipe gets the lowest free numbers (uepoll's clock watcher sits high).
TEST(TimerfdDiffTest, RealtimeCancelOnSetLeavesKernelNumbering) {
  RunOnBoth([](Trace& t) {
    const auto& a = t.backend();
    const int lowest = ::dup(0);  // the lowest free kernel number
    ::close(lowest);
    const int fd = a.timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK);
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    itimerspec its{};
    its.it_value.tv_sec = now.tv_sec + 3600;
    t.Rec("settime ABSTIME|CANCEL_ON_SET",
          a.timerfd_settime(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, nullptr));
    t.Rec("close", a.close(fd));
    int p[2] = {-1, -1};
    t.Rec("kernel pipe2", ::pipe2(p, O_CLOEXEC));
    t.Rec("  read end above the lowest free number", p[0] - lowest);
    t.Rec("  write end above the lowest free number", p[1] - lowest);
    ::close(p[0]);
    ::close(p[1]);
  });
}

// timerfd calls on kernel descriptors go to the kernel.
TEST(TimerfdKernelPassThroughTest, KernelTimerfd) {
  const int fd = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  ASSERT_GE(fd, 0);
  itimerspec its = Spec(1000000, 0);
  itimerspec old{};
  EXPECT_EQ(0, uep_timerfd_settime(fd, 0, &its, &old));
  std::this_thread::sleep_for(milliseconds(5));
  itimerspec cur{};
  EXPECT_EQ(0, uep_timerfd_gettime(fd, &cur));
  uint64_t v = 0;
  EXPECT_EQ(8, uep_read(fd, &v, sizeof v));
  EXPECT_EQ(1U, v);
  ::close(fd);
  EXPECT_EQ(-1, uep_timerfd_gettime(fd, &cur));
  EXPECT_EQ(EBADF, errno);
}

}  // namespace
}  // namespace uep::test
