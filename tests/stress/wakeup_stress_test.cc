// Who gets woken, and that nobody is forgotten.
//
//   - a token passed around a ring of threads, each asleep on its own instance: every hop
//     needs exactly one wake-up, so a single lost one stops the ring (the watchdog fails
//     the test); run with epoll_wait(-1), short timeouts (wake-up racing the timeout) and
//     epoll_pwait with a signal mask (the doorbell path), in LT, ET and ONESHOT;
//   - several threads asleep on ONE instance: a level-triggered event wakes one sleeper,
//     whose harvest wakes the next in turn while the item stays ready, so all of them
//     return; an edge-triggered event wakes one and is reported once;
//   - EPOLLEXCLUSIVE: one eventfd in several instances, each with a sleeping waiter: one
//     write wakes exactly one of them.
// Each scenario runs on the kernel too: the counts asserted are the kernel's.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <functional>
#include <sstream>
#include <thread>
#include <vector>

#include "stress/stress_util.h"

namespace uep::stress {
namespace {

constexpr uint64_t kStop = ~uint64_t{0};

enum class WaitKind { kForever, kShortTimeout, kPwaitMask };

struct RingMode {
  const char* name;
  uint32_t flags;  // 0, EPOLLET or EPOLLONESHOT
  WaitKind wait;
  int busy_poll;   // -1: uepoll's default
};

class RingTest : public ::testing::TestWithParam<std::tuple<const Api*, RingMode>> {};

// kRing threads; thread i sleeps on instance i, which watches eventfd i. The token goes
// i -> i+1: read my counter (it must hold exactly the one token), write the next one.
TEST_P(RingTest, TokenNeverStops) {
  constexpr int kRing = 3;
  const Api& a = *std::get<0>(GetParam());
  const RingMode& m = std::get<1>(GetParam());
  // (busy_poll is uepoll's; on the kernel the "sleep" modes repeat the default ones.)

  int eps[kRing], fds[kRing];
  for (int i = 0; i < kRing; ++i) {
    eps[i] = a.epoll_create1(0);
    fds[i] = a.eventfd(0, EFD_NONBLOCK);
    ASSERT_GE(eps[i], 0);
    ASSERT_GE(fds[i], 0);
    if (m.busy_poll >= 0) a.SetBusyPoll(eps[i], m.busy_poll);
    ASSERT_EQ(0, a.Add(eps[i], fds[i], EPOLLIN | m.flags, static_cast<uint64_t>(i)));
  }
  std::atomic<bool> quit{false};
  std::atomic<uint64_t> hops{0}, timeouts{0};
  std::atomic<int> errors{0};
  std::atomic<uint64_t> hops_of[kRing] = {};

  Watchdog wd(
      "token ring", [&] { quit.store(true); for (int fd : fds) a.Post(fd); },
      [&] {
        std::ostringstream os;
        os << "hops=" << hops << " per thread:";
        for (auto& h : hops_of) os << ' ' << h.load();
        return os.str();
      });

  std::vector<std::thread> threads;
  for (int i = 0; i < kRing; ++i) {
    threads.emplace_back([&, i] {
      sigset_t mask;
      sigemptyset(&mask);
      epoll_event ev[2];
      for (;;) {
        int n = 0;
        switch (m.wait) {
          case WaitKind::kForever:
            n = a.epoll_wait(eps[i], ev, 2, -1);
            break;
          case WaitKind::kShortTimeout:
            n = a.epoll_wait(eps[i], ev, 2, 1);
            break;
          case WaitKind::kPwaitMask:
            n = a.epoll_pwait(eps[i], ev, 2, -1, &mask);
            break;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n == 0 && m.wait == WaitKind::kShortTimeout) {
          timeouts.fetch_add(1);
          continue;
        }
        if (n != 1 || DataOf(ev[0]) != static_cast<uint64_t>(i) || EventsOf(ev[0]) != EPOLLIN) {
          errors.fetch_add(1);
          return;
        }
        uint64_t v = 0;
        if (a.Take(fds[i], &v) != 0) {
          // LT/ET: the report means the counter was non-zero when harvested, and only this
          // thread reads it.
          errors.fetch_add(1);
          return;
        }
        if (quit.load()) {
          a.Post(fds[(i + 1) % kRing]);  // pass the token on so the next one leaves too
          return;
        }
        if (v != 1) errors.fetch_add(1);
        hops.fetch_add(1);
        hops_of[i].fetch_add(1);
        if ((m.flags & EPOLLONESHOT) != 0 &&
            a.Mod(eps[i], fds[i], EPOLLIN | EPOLLONESHOT, static_cast<uint64_t>(i)) != 0) {
          errors.fetch_add(1);
        }
        a.Post(fds[(i + 1) % kRing]);
      }
    });
  }
  ASSERT_EQ(0, a.Post(fds[0]));
  const auto end = BudgetEnd(0.5);
  uint64_t last = 0;
  while (Clock::now() < end && !wd.Fired() && errors.load() == 0) {
    std::this_thread::sleep_for(milliseconds(10));
    last = hops.load();
  }
  quit.store(true);
  for (auto& t : threads) t.join();
  wd.Disarm();
  EXPECT_FALSE(wd.Fired());
  EXPECT_EQ(0, errors.load());
  EXPECT_GT(last, 0u);
  for (int i = 0; i < kRing; ++i) {
    a.close(fds[i]);
    a.close(eps[i]);
  }
  std::printf("[%s/%s] hops=%llu timeouts=%llu\n", a.name, m.name,
              static_cast<unsigned long long>(hops.load()),
              static_cast<unsigned long long>(timeouts.load()));
}

const RingMode kRingModes[] = {
    {"LT", 0, WaitKind::kForever, -1},
    {"LTsleep", 0, WaitKind::kForever, 0},
    {"ETsleep", EPOLLET, WaitKind::kForever, 0},
    {"ONESHOTsleep", EPOLLONESHOT, WaitKind::kForever, 0},
    {"LTtimeout", 0, WaitKind::kShortTimeout, 0},
    {"ETtimeout", EPOLLET, WaitKind::kShortTimeout, 0},
    {"LTpwait", 0, WaitKind::kPwaitMask, 0},
    {"ETpwait", EPOLLET, WaitKind::kPwaitMask, -1},
};

INSTANTIATE_TEST_SUITE_P(
    Stress, RingTest,
    ::testing::Combine(::testing::Values(&KernelApi(), &UepollApi()),
                       ::testing::ValuesIn(kRingModes)),
    [](const auto& param_info) {
      return std::string(std::get<0>(param_info.param)->name) + "_" +
             std::get<1>(param_info.param).name;
    });

class SleepersTest : public ::testing::TestWithParam<const Api*> {};

// One call of epoll_wait(-1) per thread, all on one instance; records what each returned.
struct Sleepers {
  Sleepers(const Api& api, int ep, int count) : a(api) {
    tids = std::vector<std::atomic<pid_t>>(static_cast<size_t>(count));
    results = std::vector<std::atomic<int>>(static_cast<size_t>(count));
    saw_item = std::vector<std::atomic<int>>(static_cast<size_t>(count));
    for (int i = 0; i < count; ++i) {
      threads.emplace_back([this, ep, i] {
        epoll_event ev[2];
        tids[i].store(gettid());
        int n = 0;
        do {
          n = a.epoll_wait(ep, ev, 2, -1);
        } while (n < 0 && errno == EINTR);
        for (int k = 0; k < n; ++k) {
          if (DataOf(ev[k]) != kStop) saw_item[i].fetch_add(1);
        }
        results[i].store(n);
        returned.fetch_add(1);
      });
    }
  }
  void Join() {
    for (auto& t : threads) t.join();
    threads.clear();
  }
  ~Sleepers() { Join(); }

  const Api& a;
  std::vector<std::atomic<pid_t>> tids;
  std::vector<std::atomic<int>> results;
  std::vector<std::atomic<int>> saw_item;
  std::atomic<int> returned{0};
  std::vector<std::thread> threads;
};

// Runs `round` until `share` of the time budget is spent (at least once) or a check failed.
// `round` counts in `conclusive` the rounds in which all its `who` were asleep before the
// event came; at least one round must be.
void RunRounds(const Api& a, double share, const char* who,
               const std::function<void(int& conclusive)>& round) {
  const auto end = BudgetEnd(share);
  int rounds = 0, conclusive = 0;
  while (Clock::now() < end || rounds == 0) {
    round(conclusive);
    if (::testing::Test::HasFatalFailure()) return;
    ++rounds;
    if (::testing::Test::HasFailure()) break;
  }
  EXPECT_GT(conclusive, 0) << "the " << who << " were never all asleep at once";
  std::printf("[%s] rounds=%d all-asleep=%d\n", a.name, rounds, conclusive);
}

// Rounds of sleepers on one fresh instance (busy polling off) that watches eventfd `fd`
// with `events` (data 1) and the level-triggered eventfd `stop` (data kStop).
void RunOneInstanceRounds(
    const Api& a, uint32_t events,
    const std::function<void(int ep, int fd, int stop, int& conclusive)>& round) {
  RunRounds(a, 0.5, "sleepers", [&](int& conclusive) {
    const int ep = a.epoll_create1(0);
    const int fd = a.eventfd(0, EFD_NONBLOCK);
    const int stop = a.eventfd(0, EFD_NONBLOCK);
    ASSERT_GE(ep, 0);
    a.SetBusyPoll(ep, 0);
    ASSERT_EQ(0, a.Add(ep, fd, events, 1));
    ASSERT_EQ(0, a.Add(ep, stop, EPOLLIN, kStop));
    round(ep, fd, stop, conclusive);
    if (::testing::Test::HasFatalFailure()) return;
    a.close(fd);
    a.close(stop);
    a.close(ep);
  });
}

// A level-triggered event that nobody consumes: the first sleeper is woken, reports it and
// puts it back on the ready list, which wakes the next sleeper, and so on: all return.
TEST_P(SleepersTest, LevelTriggeredWakesEachSleeperInTurn) {
  constexpr int kSleepers = 4;
  const Api& a = *GetParam();
  RunOneInstanceRounds(a, EPOLLIN, [&](int ep, int fd, int stop, int& conclusive) {
    {
      Watchdog wd("LT chain", [&] { a.Post(stop); });
      Sleepers s(a, ep, kSleepers);
      if (AllAsleep(s.tids)) ++conclusive;
      ASSERT_EQ(0, a.Post(fd));
      EXPECT_TRUE(wd.WaitFor([&] { return s.returned.load() == kSleepers; }))
          << s.returned.load() << " of " << kSleepers << " sleepers returned";
      s.Join();
      wd.Disarm();
      for (int i = 0; i < kSleepers; ++i) {
        EXPECT_EQ(1, s.results[i].load());
        EXPECT_EQ(1, s.saw_item[i].load());
      }
    }
    uint64_t v = 0;
    EXPECT_EQ(0, a.Take(fd, &v));
    EXPECT_EQ(1u, v);
  });
}

// An edge-triggered event wakes one sleeper and is reported once; the others sleep on
// until the (level-triggered) stop event releases them.
TEST_P(SleepersTest, EdgeTriggeredWakesOneAndReportsOnce) {
  constexpr int kSleepers = 4;
  const Api& a = *GetParam();
  RunOneInstanceRounds(a, EPOLLIN | EPOLLET, [&](int ep, int fd, int stop, int& conclusive) {
    {
      Watchdog wd("ET wake one", [&] { a.Post(stop); });
      Sleepers s(a, ep, kSleepers);
      const bool asleep = AllAsleep(s.tids);
      ASSERT_EQ(0, a.Post(fd));
      EXPECT_TRUE(wd.WaitFor([&] { return s.returned.load() >= 1; }));
      std::this_thread::sleep_for(milliseconds(20));
      if (asleep) {
        ++conclusive;
        EXPECT_EQ(1, s.returned.load()) << "an edge-triggered event woke several sleepers";
      }
      ASSERT_EQ(0, a.Post(stop));
      EXPECT_TRUE(wd.WaitFor([&] { return s.returned.load() == kSleepers; }));
      s.Join();
      wd.Disarm();
      int reported = 0;
      for (int i = 0; i < kSleepers; ++i) reported += s.saw_item[i].load();
      EXPECT_EQ(1, reported) << "an edge-triggered event was reported more than once";
    }
  });
}

// One eventfd `fd` (data 1) watched with EPOLLEXCLUSIVE by several instances, each with its
// own level-triggered eventfd in `stops` (data kStop) that releases its waiters.
struct ExclusiveInstances {
  // How one instance watches `fd`.
  struct Mode {
    bool sleeps_at_once;  // busy polling off
    uint32_t flags;       // added to EPOLLIN | EPOLLEXCLUSIVE
  };

  int fd = -1;
  std::vector<int> eps, stops;

  void Open(const Api& a, const std::vector<Mode>& modes) {
    fd = a.eventfd(0, EFD_NONBLOCK);
    ASSERT_GE(fd, 0);
    for (const Mode& m : modes) {
      eps.push_back(a.epoll_create1(0));
      stops.push_back(a.eventfd(0, EFD_NONBLOCK));
      ASSERT_GE(eps.back(), 0);
      if (m.sleeps_at_once) a.SetBusyPoll(eps.back(), 0);
      ASSERT_EQ(0, a.Add(eps.back(), fd, EPOLLIN | EPOLLEXCLUSIVE | m.flags, 1));
      ASSERT_EQ(0, a.Add(eps.back(), stops.back(), EPOLLIN, kStop));
    }
  }
  void PostStops(const Api& a) const {
    for (int s : stops) a.Post(s);
  }
  void Close(const Api& a) const {
    a.close(fd);
    for (size_t i = 0; i < eps.size(); ++i) {
      a.close(stops[i]);
      a.close(eps[i]);
    }
  }
};

// EPOLLEXCLUSIVE: the eventfd's queue holds one exclusive entry per instance; a write
// stops at the first instance with a sleeper, so exactly one instance gets the item and
// exactly one waiter returns.
TEST_P(SleepersTest, ExclusiveWriteWakesExactlyOneInstance) {
  constexpr int kInstances = 4;
  const Api& a = *GetParam();
  RunRounds(a, 0.7, "waiters", [&](int& conclusive) {
    ExclusiveInstances x;
    ASSERT_NO_FATAL_FAILURE(
        x.Open(a, std::vector<ExclusiveInstances::Mode>(kInstances, {true, 0})));
    {
      Watchdog wd("exclusive", [&] { x.PostStops(a); });
      std::vector<std::unique_ptr<Sleepers>> s;
      std::vector<std::atomic<pid_t>> tids(kInstances);
      for (int i = 0; i < kInstances; ++i) s.push_back(std::make_unique<Sleepers>(a, x.eps[i], 1));
      for (int i = 0; i < kInstances; ++i) {
        wd.WaitFor([&] { return s[i]->tids[0].load() != 0; });
        tids[i].store(s[i]->tids[0].load());
      }
      const bool asleep = AllAsleep(tids);
      ASSERT_EQ(0, a.Post(x.fd));
      auto returned = [&] {
        int n = 0;
        for (auto& one : s) n += one->returned.load();
        return n;
      };
      EXPECT_TRUE(wd.WaitFor([&] { return returned() >= 1; }));
      std::this_thread::sleep_for(milliseconds(20));
      if (asleep) {
        ++conclusive;
        EXPECT_EQ(1, returned()) << "one write to an EPOLLEXCLUSIVE eventfd woke several instances";
      }
      for (int st : x.stops) ASSERT_EQ(0, a.Post(st));
      for (auto& one : s) one->Join();
      wd.Disarm();
      if (asleep) {
        int reported = 0;
        for (auto& one : s) reported += one->saw_item[0].load();
        EXPECT_EQ(1, reported) << "the item was queued in more than one instance";
      }
    }
    x.Close(a);
  });
}

// EPOLLEXCLUSIVE under load: several instances, two waiters each, producers writing; every
// write is read back (exclusive wake-ups must not lose events).
TEST_P(SleepersTest, ExclusiveCountsUnderLoad) {
  constexpr int kInstances = 3;
  constexpr int kWaitersPer = 2;
  constexpr int kProducers = 2;
  const Api& a = *GetParam();
  ExclusiveInstances x;
  // One instance sleeps at once, one spins first, one is edge-triggered.
  ASSERT_NO_FATAL_FAILURE(x.Open(a, {{true, 0}, {false, 0}, {false, EPOLLET}}));
  const int fd = x.fd;
  std::atomic<uint64_t> written{0}, consumed{0};
  std::atomic<int> errors{0};
  Watchdog wd(
      "exclusive load", [&] { x.PostStops(a); },
      [&] {
        std::ostringstream os;
        os << "written=" << written << " consumed=" << consumed;
        return os.str();
      });
  std::vector<std::thread> waiters;
  for (int i = 0; i < kInstances; ++i) {
    for (int w = 0; w < kWaitersPer; ++w) {
      waiters.emplace_back([&, i] {
        epoll_event ev[2];
        for (;;) {
          const int n = a.epoll_wait(x.eps[i], ev, 2, -1);
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) {
            errors.fetch_add(1);
            return;
          }
          for (int k = 0; k < n; ++k) {
            if (DataOf(ev[k]) == kStop) return;
            uint64_t v = 0;
            if (a.Take(fd, &v) == 0) {
              consumed.fetch_add(v);
            } else if (errno != EAGAIN) {
              errors.fetch_add(1);
            }
          }
        }
      });
    }
  }
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&] {
      const auto end = BudgetEnd();
      int k = 0;
      while (Clock::now() < end && !wd.Fired()) {
        if (a.Post(fd) != 0) errors.fetch_add(1);
        written.fetch_add(1);
        if (++k % 32 == 0) {
          // Let everyone drain and sleep: the next write must find a sleeper.
          const uint64_t target = written.load();
          wd.WaitFor([&] { return consumed.load() >= target; });
        }
      }
    });
  }
  for (auto& t : producers) t.join();
  wd.WaitFor([&] { return consumed.load() == written.load(); });
  x.PostStops(a);
  for (auto& t : waiters) t.join();
  wd.Disarm();
  EXPECT_FALSE(wd.Fired());
  EXPECT_EQ(0, errors.load());
  EXPECT_EQ(written.load(), consumed.load());
  x.Close(a);
  std::printf("[%s] writes=%llu\n", a.name, static_cast<unsigned long long>(written.load()));
}

// uep_epoll_pwait() on a kernel instance hands the wait to the kernel, signal mask
// included (its size is the syscall's 6th argument, passed on the stack): many threads, many
// calls, each must return the ready event.
TEST(StressKernelInstance, UepollPwaitWithMaskReturnsTheEvent) {
  const int ep = ::epoll_create1(0);
  const int fd = ::eventfd(1, EFD_NONBLOCK);
  ASSERT_GE(ep, 0);
  ASSERT_GE(fd, 0);
  epoll_event add{};
  add.events = EPOLLIN;
  add.data.u64 = 5;
  ASSERT_EQ(0, ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &add));
  std::atomic<int> bad{0}, last_errno{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      sigset_t mask;
      sigemptyset(&mask);
      sigaddset(&mask, SIGUSR2);
      for (int i = 0; i < 2000; ++i) {
        epoll_event ev[1];
        const int n = t == 0   ? uep_epoll_pwait(ep, ev, 1, 0, &mask)
                      : t == 1 ? uep_epoll_pwait(ep, ev, 1, 1000, &mask)
                               : uep_epoll_pwait2(ep, ev, 1, nullptr, &mask);
        if (n != 1 || DataOf(ev[0]) != 5) {
          last_errno.store(errno);
          bad.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(0, bad.load()) << "errno " << last_errno.load();
  ::close(fd);
  ::close(ep);
}

INSTANTIATE_TEST_SUITE_P(Stress, SleepersTest, ::testing::Values(&KernelApi(), &UepollApi()),
                         ApiName);

}  // namespace
}  // namespace uep::stress
