// How late timers fire, uepoll's timer service against the kernel's timerfd. Prints a
// table; asserts only that every timer fired and a very generous bound on the median.
//
//   sequential: 1000 one-shot 1 ms timers, one after the other; lateness = when a blocking
//               read returned - (arm time + 1 ms).
//   epoll:      the same, each harvested by epoll_wait instead of read.
//   concurrent: 1000 timers armed at once, due over 100 ms starting 20 ms later, harvested by
//               epoll_wait; lateness = harvest time - deadline.
#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "support/backend.h"

namespace {

using uep::test::Backend;
using uep::test::KernelBackend;
using uep::test::UepollBackend;

constexpr int kTimers = 1000;
constexpr int64_t kPeriodNs = 1000000;

int64_t NowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

itimerspec Abs(int64_t ns) {
  itimerspec its{};
  its.it_value.tv_sec = ns / 1000000000;
  its.it_value.tv_nsec = ns % 1000000000;
  return its;
}

struct Stats {
  int fired = 0;
  double median_us = 0;
  double p90_us = 0;
  double p99_us = 0;
  double max_us = 0;
  double min_us = 0;
};

Stats Summarize(std::vector<int64_t> late_ns, int fired) {
  Stats s;
  s.fired = fired;
  if (late_ns.empty()) return s;
  std::sort(late_ns.begin(), late_ns.end());
  auto at = [&](double q) {
    const size_t i =
        std::min(late_ns.size() - 1, static_cast<size_t>(q * static_cast<double>(late_ns.size())));
    return static_cast<double>(late_ns[i]) / 1000.0;
  };
  s.min_us = static_cast<double>(late_ns.front()) / 1000.0;
  s.median_us = at(0.5);
  s.p90_us = at(0.9);
  s.p99_us = at(0.99);
  s.max_us = static_cast<double>(late_ns.back()) / 1000.0;
  return s;
}

// Armed with absolute deadlines, so the lateness is measured from the exact deadline.
Stats Sequential(const Backend& api, bool via_epoll) {
  const int fd = api.timerfd_create(CLOCK_MONOTONIC, via_epoll ? TFD_NONBLOCK : 0);
  const int ep = via_epoll ? api.epoll_create1(0) : -1;
  if (via_epoll) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    api.epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  std::vector<int64_t> late;
  late.reserve(kTimers);
  int fired = 0;
  for (int i = 0; i < kTimers; ++i) {
    const int64_t deadline = NowNs() + kPeriodNs;
    const itimerspec its = Abs(deadline);
    api.timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, nullptr);
    if (via_epoll) {
      epoll_event out{};
      if (api.epoll_wait(ep, &out, 1, 1000) != 1) continue;
    }
    uint64_t count = 0;
    if (api.read(fd, &count, sizeof count) != 8) continue;
    late.push_back(NowNs() - deadline);
    ++fired;
  }
  if (ep >= 0) api.close(ep);
  api.close(fd);
  return Summarize(std::move(late), fired);
}

Stats Concurrent(const Backend& api) {
  const int ep = api.epoll_create1(0);
  std::vector<int> fds(kTimers);
  std::vector<int64_t> deadline(kTimers);
  for (int i = 0; i < kTimers; ++i) {
    fds[i] = api.timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(i);
    api.epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
  }
  // Room for arming them all (1000 system calls on the kernel) before the first is due.
  const int64_t base = NowNs() + 20000000;
  for (int i = 0; i < kTimers; ++i) {
    // Spread over 100 ms, armed in a scrambled order.
    const int slot = static_cast<int>((static_cast<int64_t>(i) * 7919) % kTimers);
    deadline[i] = base + static_cast<int64_t>(slot) * 100000;
    const itimerspec its = Abs(deadline[i]);
    api.timerfd_settime(fds[i], TFD_TIMER_ABSTIME, &its, nullptr);
  }
  std::vector<int64_t> late;
  late.reserve(kTimers);
  int fired = 0;
  epoll_event out[64];
  while (fired < kTimers) {
    const int n = api.epoll_wait(ep, out, 64, 2000);
    if (n <= 0) break;
    const int64_t now = NowNs();
    for (int k = 0; k < n; ++k) {
      const uint32_t i = out[k].data.u32;
      uint64_t count = 0;
      if (api.read(fds[i], &count, sizeof count) != 8) continue;
      late.push_back(now - deadline[i]);
      ++fired;
    }
  }
  for (const int fd : fds) api.close(fd);
  api.close(ep);
  return Summarize(std::move(late), fired);
}

void Row(const char* mode, const char* name, const Stats& s) {
  std::printf("%-11s %-7s %6d %9.1f %9.1f %9.1f %9.1f %9.1f\n", mode, name, s.fired, s.min_us,
              s.median_us, s.p90_us, s.p99_us, s.max_us);
}

TEST(TimerLatenessTest, PrintTable) {
  std::printf("\nlateness of 1 ms timers, microseconds (%d timers each)\n", kTimers);
  std::printf("%-11s %-7s %6s %9s %9s %9s %9s %9s\n", "mode", "backend", "fired", "min", "median",
              "p90", "p99", "max");
  struct Run {
    const char* mode;
    Stats kernel;
    Stats uepoll;
  } runs[] = {
      {"sequential", Sequential(KernelBackend(), false), Sequential(UepollBackend(), false)},
      {"epoll", Sequential(KernelBackend(), true), Sequential(UepollBackend(), true)},
      {"concurrent", Concurrent(KernelBackend()), Concurrent(UepollBackend())},
  };
  for (const Run& r : runs) {
    Row(r.mode, "kernel", r.kernel);
    Row(r.mode, "uepoll", r.uepoll);
  }
  std::fflush(stdout);
  for (const Run& r : runs) {
    EXPECT_EQ(kTimers, r.uepoll.fired) << r.mode;
    // Very generous: a loaded machine may be slow, but not 50 ms late at the median.
    EXPECT_LT(r.uepoll.median_us, 50000.0) << r.mode;
    // Never early.
    EXPECT_GE(r.uepoll.min_us, 0.0) << r.mode;
  }
}

}  // namespace
