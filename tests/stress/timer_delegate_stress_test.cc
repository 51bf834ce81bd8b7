// Timers fired by the thread they wake (core/timer_service.h, Delegates): a thread asleep in
// epoll_wait on an instance whose earliest timer it watches sleeps until that expiry and
// fires it itself. Nothing may be lost or reported twice, whoever fires: the delegate, the
// service thread, or a read that finds the timer due; timers disarmed, re-armed or closed
// while a delegate sleeps on their expiry are not reported.
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>

#include <random>
#include <vector>

#include "core/timer_service.h"
#include "stress_util.h"
#include "support/itimerspec.h"

namespace uep::stress {
namespace {

using uep::test::Rel;

int AddTimer(int ep, int tfd, uint64_t data) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = data;
  return uep_epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
}

// The expiry reaches a thread asleep in epoll_wait(-1) through that thread: the delegate
// fires it (the service thread only backs it up). Fails where only the service fires.
TEST(TimerDelegateTest, SleeperFiresItsOwnTimer) {
  const int ep = uep_epoll_create1(0);
  const int tfd = uep_timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  ASSERT_GE(ep, 0);
  ASSERT_GE(tfd, 0);
  ASSERT_EQ(0, AddTimer(ep, tfd, 7));
  TimerService& service = TimerService::Get();
  const uint64_t before = service.FiredByDelegatesForTest();
  constexpr int kRounds = 20;
  for (int i = 0; i < kRounds; ++i) {
    const itimerspec its = Rel(2000000);  // far enough that the waiter is asleep by then
    ASSERT_EQ(0, uep_timerfd_settime(tfd, 0, &its, nullptr));
    epoll_event out{};
    ASSERT_EQ(1, uep_epoll_wait(ep, &out, 1, 10000));
    const uint64_t data = out.data.u64;  // epoll_event is packed: no reference into it
    EXPECT_EQ(7U, data);
    uint64_t ticks = 0;
    ASSERT_EQ(8, uep_read(tfd, &ticks, sizeof ticks));
    EXPECT_EQ(1U, ticks);
  }
  // A loaded machine may let the backing service win a few; most go through the sleeper.
  EXPECT_GT(service.FiredByDelegatesForTest() - before, 0U);
  uep_close(tfd);
  uep_close(ep);
}

// A delegate's sleep must end on time without changing the thread's timer slack (it ends
// early by the slack and spins the rest): the slack the program set stays its own.
TEST(TimerDelegateTest, ThreadTimerSlackUntouched) {
  constexpr unsigned long kSlack = 70000;
  const int old_slack = prctl(PR_GET_TIMERSLACK, 0UL, 0UL, 0UL, 0UL);
  ASSERT_EQ(0, prctl(PR_SET_TIMERSLACK, kSlack, 0UL, 0UL, 0UL));
  const int ep = uep_epoll_create1(0);
  const int tfd = uep_timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  ASSERT_EQ(0, AddTimer(ep, tfd, 1));
  TimerService& service = TimerService::Get();
  const uint64_t before = service.FiredByDelegatesForTest();
  for (int i = 0; i < 5; ++i) {
    const itimerspec its = Rel(2000000);
    ASSERT_EQ(0, uep_timerfd_settime(tfd, 0, &its, nullptr));
    epoll_event out{};
    ASSERT_EQ(1, uep_epoll_wait(ep, &out, 1, 10000));
    EXPECT_EQ(static_cast<int>(kSlack), prctl(PR_GET_TIMERSLACK, 0UL, 0UL, 0UL, 0UL));
    uint64_t ticks = 0;
    ASSERT_EQ(8, uep_read(tfd, &ticks, sizeof ticks));
  }
  EXPECT_GT(service.FiredByDelegatesForTest() - before, 0U);  // the path was taken
  uep_close(tfd);
  uep_close(ep);
  prctl(PR_SET_TIMERSLACK, static_cast<unsigned long>(old_slack), 0UL, 0UL, 0UL);
}

// Threads each wait on their own instance for their own timers (one-shot and periodic),
// asleep (-1), with a timeout of their own that may come first, or awake (wait(0) spins);
// every one-shot expiry is read exactly once and periodic counts add up.
TEST(TimerDelegateTest, NoLostExpiryAsleepOrAwake) {
  constexpr int kThreads = 3;
  constexpr int kTimers = 4;
  std::atomic<bool> stop{false};
  Watchdog dog("timer delegate waiters", [&] { stop.store(true); });
  const auto end = BudgetEnd();
  std::vector<std::thread> threads;
  std::atomic<long> rounds{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t) * 7919U + 1U);
      const int ep = uep_epoll_create1(0);
      int tfds[kTimers];
      for (int i = 0; i < kTimers; ++i) {
        tfds[i] = uep_timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
        ASSERT_EQ(0, AddTimer(ep, tfds[i], static_cast<uint64_t>(i)));
      }
      while (Clock::now() < end && !stop.load()) {
        // Timer 0 may be periodic: its count is what the reads add up to.
        const bool periodic = rng() % 2 == 0;
        for (int i = 0; i < kTimers; ++i) {
          const long ns = 20000 + static_cast<long>(rng() % 400000);
          const itimerspec its = Rel(ns, i == 0 && periodic ? 100000 : 0);
          ASSERT_EQ(0, uep_timerfd_settime(tfds[i], 0, &its, nullptr));
        }
        uint64_t seen[kTimers] = {};
        int pending = kTimers;
        while (pending > 0 && !stop.load()) {
          const int mode = static_cast<int>(rng() % 3);
          const int timeout = mode == 0 ? -1 : mode == 1 ? 0 : 1;
          epoll_event out[kTimers];
          const int n = uep_epoll_wait(ep, out, kTimers, stop.load() ? 0 : timeout);
          ASSERT_GE(n, 0);
          for (int k = 0; k < n; ++k) {
            const auto i = static_cast<int>(out[k].data.u64);
            uint64_t ticks = 0;
            ASSERT_EQ(8, uep_read(tfds[i], &ticks, sizeof ticks)) << "reported, not readable";
            ASSERT_GE(ticks, 1U);
            if (i != 0 || !periodic) {
              ASSERT_EQ(1U, ticks) << "one-shot expired twice";
            }
            if (seen[i] == 0) --pending;
            seen[i] += ticks;
          }
        }
        // Stop the periodic one; nothing one-shot may come again.
        const itimerspec off{};
        ASSERT_EQ(0, uep_timerfd_settime(tfds[0], 0, &off, nullptr));
        epoll_event extra{};
        ASSERT_EQ(0, uep_epoll_wait(ep, &extra, 1, 0)) << "an expiry reported twice";
        rounds.fetch_add(1);
      }
      for (int fd : tfds) uep_close(fd);
      uep_close(ep);
    });
  }
  for (auto& th : threads) th.join();
  dog.Disarm();
  EXPECT_GT(rounds.load(), 0);
}

// A delegate asleep on a timer's expiry while another thread disarms it, re-arms it later,
// or closes it: nothing is reported for the disarmed or closed timer, the re-armed one is
// reported once, and the service is left with no timer of ours queued.
TEST(TimerDelegateTest, DisarmRearmCloseWhileDelegateSleeps) {
  Watchdog dog("delegate disarm/close");
  const auto end = BudgetEnd();
  std::mt19937 rng(42);
  int iterations = 0;
  while (Clock::now() < end || iterations < 6) {
    const int what = iterations++ % 3;  // 0 disarm, 1 re-arm later, 2 close
    const int ep = uep_epoll_create1(0);
    const int tfd = uep_timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    ASSERT_EQ(0, AddTimer(ep, tfd, 1));
    const itimerspec soon = Rel(3000000);  // the waiter sleeps on it by then, usually
    ASSERT_EQ(0, uep_timerfd_settime(tfd, 0, &soon, nullptr));
    std::atomic<bool> changed{false};
    std::thread other([&] {
      std::this_thread::sleep_for(std::chrono::microseconds(200 + rng() % 1000));
      if (what == 0) {
        const itimerspec off{};
        ASSERT_EQ(0, uep_timerfd_settime(tfd, 0, &off, nullptr));
      } else if (what == 1) {
        const itimerspec later = Rel(8000000);
        ASSERT_EQ(0, uep_timerfd_settime(tfd, 0, &later, nullptr));
      } else {
        ASSERT_EQ(0, uep_close(tfd));
      }
      changed.store(true);
    });
    epoll_event out{};
    int n = 0;
    if (what == 1) {
      n = uep_epoll_wait(ep, &out, 1, 10000);  // the re-armed expiry, once
    } else {
      // The expiry may come before the other thread gets to the timer (legitimate); after
      // the change, nothing may come.
      n = uep_epoll_wait(ep, &out, 1, 20);
      ASSERT_LE(n, 1);
    }
    other.join();
    if (what == 1) {
      ASSERT_EQ(1, n);
      uint64_t ticks = 0;
      ssize_t r = uep_read(tfd, &ticks, sizeof ticks);
      if (r < 0 && errno == EAGAIN) {
        // That was the first expiry (the machine let it come first), which the re-arm
        // reset before the read: the re-armed one comes next.
        ASSERT_EQ(1, uep_epoll_wait(ep, &out, 1, 10000));
        r = uep_read(tfd, &ticks, sizeof ticks);
      }
      ASSERT_EQ(8, r);
      EXPECT_EQ(1U, ticks);
      EXPECT_EQ(0, uep_epoll_wait(ep, &out, 1, 12)) << "re-armed timer reported twice";
    } else {
      // After the change nothing comes.
      EXPECT_TRUE(changed.load());
      EXPECT_EQ(0, uep_epoll_wait(ep, &out, 1, 8)) << (what == 0 ? "disarmed" : "closed")
                                                    << " timer reported";
    }
    if (what != 2) uep_close(tfd);
    uep_close(ep);
  }
}

// Many timers on one instance, due in random order: each is reported once, and a timer
// armed earlier by another thread while the delegate sleeps on a later one comes first.
TEST(TimerDelegateTest, ManyTimersAndAnEarlierOneArmedMeanwhile) {
  constexpr int kTimers = 200;
  Watchdog dog("many timers");
  const int ep = uep_epoll_create1(0);
  std::vector<int> tfds;
  std::mt19937 rng(5);
  for (int i = 0; i < kTimers; ++i) {
    tfds.push_back(uep_timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK));
    ASSERT_GE(tfds.back(), 0);
    ASSERT_EQ(0, AddTimer(ep, tfds.back(), static_cast<uint64_t>(i)));
  }
  for (int fd : tfds) {
    const itimerspec its = Rel(1000000 + static_cast<long>(rng() % 20000000));
    ASSERT_EQ(0, uep_timerfd_settime(fd, 0, &its, nullptr));
  }
  std::vector<int> seen(kTimers, 0);
  int left = kTimers;
  while (left > 0 && !dog.Fired()) {
    epoll_event out[16];
    const int n = uep_epoll_wait(ep, out, 16, 1000);
    ASSERT_GE(n, 0);
    for (int k = 0; k < n; ++k) {
      const auto i = static_cast<size_t>(out[k].data.u64);
      uint64_t ticks = 0;
      ASSERT_EQ(8, uep_read(tfds[i], &ticks, sizeof ticks));
      ASSERT_EQ(1U, ticks);
      ASSERT_EQ(0, seen[i]++) << "timer " << i << " reported twice";
      --left;
    }
  }
  ASSERT_EQ(0, left);

  // The sleeper is the delegate of a timer 10 s away; another thread arms one 2 ms away.
  const itimerspec far = Rel(10000000000L);
  ASSERT_EQ(0, uep_timerfd_settime(tfds[0], 0, &far, nullptr));
  std::thread other([&] {
    std::this_thread::sleep_for(milliseconds(2));
    const itimerspec soon = Rel(2000000);
    ASSERT_EQ(0, uep_timerfd_settime(tfds[1], 0, &soon, nullptr));
  });
  epoll_event out{};
  ASSERT_EQ(1, uep_epoll_wait(ep, &out, 1, 60000));
  other.join();
  const uint64_t first = out.data.u64;  // epoll_event is packed: no reference into it
  EXPECT_EQ(1U, first) << "the earlier timer must come first";
  for (int fd : tfds) uep_close(fd);
  uep_close(ep);
  EXPECT_EQ(0U, TimerService::Get().QueuedForTest());
}

}  // namespace
}  // namespace uep::stress
