// Producers and consumers on shared instances, counting every event.
//
// Producer threads write to eventfds in rounds; consumer threads sleep in epoll_wait(-1)
// and read the counters back. At the end of each round the main thread waits until the
// consumers have read exactly what was written: the last write of a round has nothing after
// it to mask a lost wake-up, so a lost wake-up leaves a consumer asleep with a counter
// pending and the watchdog fails the test. Every scenario runs on the kernel too, so the
// rules asserted here are the kernel's.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "stress/stress_util.h"

namespace uep::stress {
namespace {

constexpr uint64_t kStop = ~uint64_t{0};

struct Mode {
  const char* name;
  uint32_t flags;  // 0 (level-triggered) or EPOLLET
  int busy_poll;   // uepoll's spin rounds before sleeping; -1 keeps the default
};

class CountingTest : public ::testing::TestWithParam<std::tuple<const Api*, Mode>> {
 protected:
  const Api& api() const { return *std::get<0>(GetParam()); }
  const Mode& mode() const { return std::get<1>(GetParam()); }
};

// P producers x K writes per round to E eventfds; C consumers read them back through one
// instance. Exact totals per round; for edge-triggered items, at most one report per write.
TEST_P(CountingTest, ProducersConsumersNoLostWakeup) {
  constexpr int kFds = 4;
  constexpr int kProducers = 3;
  constexpr int kConsumers = 3;
  constexpr int kWritesPerRound = 48;
  const Api& a = api();

  const int ep = a.epoll_create1(0);
  ASSERT_GE(ep, 0);
  if (mode().busy_poll >= 0) a.SetBusyPoll(ep, mode().busy_poll);
  int fds[kFds];
  for (int i = 0; i < kFds; ++i) {
    fds[i] = a.eventfd(0, EFD_NONBLOCK);
    ASSERT_GE(fds[i], 0);
    ASSERT_EQ(0, a.Add(ep, fds[i], EPOLLIN | mode().flags, static_cast<uint64_t>(i)));
  }
  const int stop = a.eventfd(0, EFD_NONBLOCK);
  ASSERT_GE(stop, 0);
  ASSERT_EQ(0, a.Add(ep, stop, EPOLLIN, kStop));

  std::atomic<uint64_t> written{0}, consumed{0}, reports{0}, reads{0}, empty_reads{0};
  std::atomic<int> errors{0};
  std::atomic<uint64_t> bad_mask{0};
  CountedRounds rounds(kProducers, kWritesPerRound);

  Watchdog wd(
      "producers/consumers", [&] { a.Post(stop); },
      [&] {
        std::ostringstream os;
        os << "written=" << written << " consumed=" << consumed << " reports=" << reports;
        return os.str();
      });

  std::vector<std::thread> consumers;
  for (int c = 0; c < kConsumers; ++c) {
    consumers.emplace_back([&] {
      epoll_event evs[2];
      for (;;) {
        const int n = a.epoll_wait(ep, evs, 2, -1);
        if (n < 0) {
          if (errno == EINTR) continue;
          errors.fetch_add(1);
          return;
        }
        if (n == 0) errors.fetch_add(1);  // no timeout was asked for
        for (int i = 0; i < n; ++i) {
          const uint64_t data = DataOf(evs[i]);
          if (data == kStop) return;
          if (EventsOf(evs[i]) != EPOLLIN) bad_mask.store(EventsOf(evs[i]));
          reports.fetch_add(1);
          uint64_t v = 0;
          if (a.Take(fds[data], &v) == 0) {
            consumed.fetch_add(v);
            reads.fetch_add(1);
          } else if (errno == EAGAIN) {
            empty_reads.fetch_add(1);  // another consumer drained it first
          } else {
            errors.fetch_add(1);
          }
        }
      }
    });
  }

  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      std::minstd_rand rng(static_cast<unsigned>(p + 1));
      rounds.Produce([&](int round) {
        for (int k = 0; k < kWritesPerRound; ++k) {
          if (a.Post(fds[rng() % kFds]) != 0) errors.fetch_add(1);
          written.fetch_add(1);
          // Now and then let the consumers drain and fall asleep.
          if (rng() % 16 == 0) std::this_thread::yield();
          if (round % 4 == 3 && rng() % 8 == 0)
            std::this_thread::sleep_for(std::chrono::microseconds(50));
        }
      });
    });
  }

  rounds.Run(wd, consumed);
  rounds.Finish();
  for (auto& t : producers) t.join();
  ASSERT_EQ(0, a.Post(stop));
  for (auto& t : consumers) t.join();
  wd.Disarm();

  EXPECT_FALSE(wd.Fired());
  EXPECT_EQ(0, errors.load());
  EXPECT_EQ(0u, bad_mask.load());
  EXPECT_EQ(written.load(), consumed.load());
  EXPECT_EQ(rounds.expected(), written.load());
  EXPECT_GT(rounds.rounds(), 0);
  if ((mode().flags & EPOLLET) != 0) {
    // An edge-triggered item is queued by a callback, i.e. by a write: never more reports.
    EXPECT_LE(reports.load(), written.load());
  }
  // Every counter is drained; nothing is left to report.
  epoll_event ev[4];
  uint64_t v = 0;
  for (int fd : fds) EXPECT_EQ(-1, a.Take(fd, &v));
  uint64_t dummy = 0;
  ASSERT_EQ(0, a.Take(stop, &dummy));
  EXPECT_EQ(0, a.epoll_wait(ep, ev, 4, 0));
  for (int fd : fds) EXPECT_EQ(0, a.close(fd));
  EXPECT_EQ(0, a.close(stop));
  EXPECT_EQ(0, a.close(ep));
  std::printf("[%s/%s] rounds=%d writes=%llu reports=%llu reads=%llu empty_reads=%llu\n", a.name,
              mode().name, rounds.rounds(), static_cast<unsigned long long>(written.load()),
              static_cast<unsigned long long>(reports.load()),
              static_cast<unsigned long long>(reads.load()),
              static_cast<unsigned long long>(empty_reads.load()));
}

// The kernel has no spin phase: it runs the modes without one only.
const Mode kKernelModes[] = {
    {"LT", 0, -1},
    {"ET", EPOLLET, -1},
};
const Mode kUepollModes[] = {
    {"LT", 0, -1},
    {"LTsleep", 0, 0},
    {"ET", EPOLLET, -1},
    {"ETsleep", EPOLLET, 0},
};

std::string CountingName(const ::testing::TestParamInfo<std::tuple<const Api*, Mode>>& info) {
  return std::string(std::get<0>(info.param)->name) + "_" + std::get<1>(info.param).name;
}

INSTANTIATE_TEST_SUITE_P(StressKernel, CountingTest,
                         ::testing::Combine(::testing::Values(&KernelApi()),
                                            ::testing::ValuesIn(kKernelModes)),
                         CountingName);
INSTANTIATE_TEST_SUITE_P(StressUepoll, CountingTest,
                         ::testing::Combine(::testing::Values(&UepollApi()),
                                            ::testing::ValuesIn(kUepollModes)),
                         CountingName);

class OneShotTest : public ::testing::TestWithParam<const Api*> {};

// EPOLLONESHOT: each event goes to exactly one waiter, and nobody else gets the item until
// that waiter re-arms it with EPOLL_CTL_MOD. The holder's read therefore always finds the
// counter non-zero (only holders read), and reads add up to the writes.
TEST_P(OneShotTest, EachEventToExactlyOneWaiterUntilRearmed) {
  constexpr int kWaiters = 4;
  constexpr int kProducers = 2;
  const Api& a = *GetParam();
  constexpr uint64_t kItem = 1;

  const int ep = a.epoll_create1(0);
  ASSERT_GE(ep, 0);
  a.SetBusyPoll(ep, 0);
  const int fd = a.eventfd(0, EFD_NONBLOCK);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(0, a.Add(ep, fd, EPOLLIN | EPOLLONESHOT, kItem));
  const int stop = a.eventfd(0, EFD_NONBLOCK);
  ASSERT_GE(stop, 0);
  ASSERT_EQ(0, a.Add(ep, stop, EPOLLIN, kStop));

  std::atomic<int> holders{0};
  std::atomic<int> overlaps{0}, empty_holds{0}, errors{0};
  std::atomic<uint64_t> written{0}, consumed{0}, deliveries{0};
  std::atomic<bool> producing{true};

  Watchdog wd(
      "oneshot", [&] { a.Post(stop); },
      [&] {
        std::ostringstream os;
        os << "written=" << written << " consumed=" << consumed << " deliveries=" << deliveries;
        return os.str();
      });

  std::vector<std::thread> waiters;
  for (int w = 0; w < kWaiters; ++w) {
    waiters.emplace_back([&] {
      epoll_event ev[1];
      for (;;) {
        const int n = a.epoll_wait(ep, ev, 1, -1);
        if (n != 1) {
          if (n < 0 && errno == EINTR) continue;
          errors.fetch_add(1);
          return;
        }
        const uint64_t data = DataOf(ev[0]);
        if (data == kStop) return;
        if (data != kItem) {
          errors.fetch_add(1);
          continue;
        }
        if (holders.fetch_add(1) != 0) overlaps.fetch_add(1);
        deliveries.fetch_add(1);
        uint64_t v = 0;
        if (a.Take(fd, &v) == 0) {
          consumed.fetch_add(v);
        } else {
          empty_holds.fetch_add(1);
        }
        if ((deliveries.load() & 7) == 0) std::this_thread::yield();  // widen the window
        holders.fetch_sub(1);
        if (a.Mod(ep, fd, EPOLLIN | EPOLLONESHOT, kItem) != 0) errors.fetch_add(1);
      }
    });
  }
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      std::minstd_rand rng(static_cast<unsigned>(p + 7));
      const auto end = BudgetEnd();
      while (Clock::now() < end && !wd.Fired()) {
        if (a.Post(fd) != 0) errors.fetch_add(1);
        written.fetch_add(1);
        if (rng() % 4 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 100));
      }
    });
  }
  for (auto& t : producers) t.join();
  producing.store(false);
  wd.WaitFor([&] { return consumed.load() == written.load(); });
  ASSERT_EQ(0, a.Post(stop));
  for (auto& t : waiters) t.join();
  wd.Disarm();

  EXPECT_FALSE(wd.Fired());
  EXPECT_EQ(0, overlaps.load()) << "a one-shot event reached two waiters at once";
  EXPECT_EQ(0, empty_holds.load()) << "a one-shot delivery found the counter already drained";
  EXPECT_EQ(0, errors.load());
  EXPECT_EQ(written.load(), consumed.load());
  EXPECT_LE(deliveries.load(), written.load());
  EXPECT_GT(deliveries.load(), 0u);
  EXPECT_EQ(0, a.close(fd));
  EXPECT_EQ(0, a.close(stop));
  EXPECT_EQ(0, a.close(ep));
  std::printf("[%s] writes=%llu deliveries=%llu\n", a.name,
              static_cast<unsigned long long>(written.load()),
              static_cast<unsigned long long>(deliveries.load()));
}

// EPOLLONESHOT without re-arming: however many writers and waiters, the item is reported
// once; after MOD it is reported once more.
TEST_P(OneShotTest, DisarmedItemIsNeverReportedAgain) {
  constexpr int kWaiters = 3;
  const Api& a = *GetParam();
  const auto end = BudgetEnd(0.5);
  int rounds = 0;
  while (Clock::now() < end) {
    const int ep = a.epoll_create1(0);
    ASSERT_GE(ep, 0);
    const int fd = a.eventfd(0, EFD_NONBLOCK);
    const int stop = a.eventfd(0, EFD_NONBLOCK);
    ASSERT_EQ(0, a.Add(ep, fd, EPOLLIN | EPOLLONESHOT, 1));
    ASSERT_EQ(0, a.Add(ep, stop, EPOLLIN, kStop));
    std::atomic<int> got{0}, errors{0};
    Watchdog wd("oneshot disarm", [&] { a.Post(stop); });
    std::vector<std::thread> waiters;
    for (int w = 0; w < kWaiters; ++w) {
      waiters.emplace_back([&] {
        epoll_event ev[2];
        for (;;) {
          const int n = a.epoll_wait(ep, ev, 2, -1);
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) {
            errors.fetch_add(1);
            return;
          }
          bool stopped = false;
          for (int i = 0; i < n; ++i) {
            if (DataOf(ev[i]) == kStop) {
              stopped = true;
            } else {
              got.fetch_add(1);
            }
          }
          if (stopped) return;
        }
      });
    }
    std::thread writer([&] {
      for (int i = 0; i < 50; ++i) a.Post(fd);
    });
    for (int i = 0; i < 50; ++i) a.Post(fd);
    writer.join();
    wd.WaitFor([&] { return got.load() >= 1; });
    std::this_thread::sleep_for(milliseconds(2));
    ASSERT_EQ(0, a.Post(stop));
    for (auto& t : waiters) t.join();
    wd.Disarm();
    EXPECT_EQ(1, got.load()) << "round " << rounds;
    EXPECT_EQ(0, errors.load());
    // Re-armed: reported once more, then disarmed again.
    uint64_t v = 0;
    ASSERT_EQ(0, a.Take(stop, &v));
    ASSERT_EQ(0, a.Mod(ep, fd, EPOLLIN | EPOLLONESHOT, 2));
    epoll_event ev[2];
    ASSERT_EQ(1, a.epoll_wait(ep, ev, 2, 0));
    EXPECT_EQ(2u, DataOf(ev[0]));
    EXPECT_EQ(0, a.epoll_wait(ep, ev, 2, 0));
    ASSERT_EQ(0, a.Take(fd, &v));
    EXPECT_EQ(100u, v);
    a.close(fd);
    a.close(stop);
    a.close(ep);
    ++rounds;
  }
  EXPECT_GT(rounds, 0);
}

// EPOLL_CTL_MOD re-arming a ready one-shot item while another thread harvests it. The two
// are atomic with respect to each other in the kernel (ep->mtx), so the outcome is one of:
//   harvest first: it reports the old data, and the MOD leaves the item armed (new data);
//   MOD first:     the harvest reports the new data and disarms the item.
// Anything else (old data reported AND the item left disarmed) is a lost re-arm.
TEST_P(OneShotTest, RearmRacingHarvestIsAtomic) {
  constexpr int kBusy = 48;  // other ready items: they lengthen the harvest
  constexpr uint64_t kBusyTag = uint64_t{1} << 62;
  const Api& a = *GetParam();
  const int ep = a.epoll_create1(0);
  ASSERT_GE(ep, 0);
  const int fd = a.eventfd(1, EFD_NONBLOCK);  // ready, never read
  ASSERT_GE(fd, 0);
  std::vector<int> busy;
  for (int i = 0; i < kBusy; ++i) {
    busy.push_back(a.eventfd(1, EFD_NONBLOCK));
    ASSERT_GE(busy.back(), 0);
    ASSERT_EQ(0, a.Add(ep, busy.back(), EPOLLIN, kBusyTag + static_cast<uint64_t>(i)));
  }
  ASSERT_EQ(0, a.Add(ep, fd, EPOLLIN | EPOLLONESHOT, 0));
  std::atomic<int> harvested_gen{0}, harvested_n{0};
  std::atomic<uint64_t> harvested_data{0};
  std::atomic<bool> quit{false};
  Barrier go(2), done(2);
  Watchdog wd("rearm race");
  std::thread harvester([&] {
    epoll_event ev[kBusy + 4];
    for (;;) {
      go.Arrive();
      if (quit.load()) return;
      const int n = a.epoll_wait(ep, ev, kBusy + 4, 0);
      uint64_t data = ~uint64_t{0};
      int found = 0;
      for (int i = 0; i < n; ++i) {
        if (DataOf(ev[i]) < kBusyTag) {
          data = DataOf(ev[i]);
          ++found;
        }
      }
      harvested_data.store(data);
      harvested_gen.store(found);
      harvested_n.store(n);
      done.Arrive();
    }
  });
  const auto end = BudgetEnd(0.5);
  uint64_t rounds = 0, harvest_first = 0, mod_first = 0, lost = 0;
  epoll_event ev[kBusy + 4];
  while (Clock::now() < end && !wd.Fired()) {
    const uint64_t old_data = 2 * rounds + 1, new_data = 2 * rounds + 2;
    // Armed and ready with old_data; nothing else pending for it.
    ASSERT_EQ(0, a.Mod(ep, fd, EPOLLIN | EPOLLONESHOT, old_data));
    go.Arrive();
    if (rounds % 3 != 0) std::this_thread::yield();
    ASSERT_EQ(0, a.Mod(ep, fd, EPOLLIN | EPOLLONESHOT, new_data));
    done.Arrive();
    ASSERT_EQ(1, harvested_gen.load()) << "a ready armed item was not reported, round " << rounds << " n=" << harvested_n.load();
    const uint64_t got = harvested_data.load();
    // What is left: at most the one-shot item, armed or not.
    const int n = a.epoll_wait(ep, ev, kBusy + 4, 0);
    uint64_t left = 0;
    for (int i = 0; i < n; ++i) {
      if (DataOf(ev[i]) < kBusyTag) left = DataOf(ev[i]);
    }
    if (got == old_data) {
      ++harvest_first;
      if (left != new_data) ++lost;
    } else {
      ASSERT_EQ(new_data, got);
      ++mod_first;
      EXPECT_EQ(0u, left) << "reported twice after one MOD";
    }
    ++rounds;
  }
  quit.store(true);
  go.Arrive();
  harvester.join();
  wd.Disarm();
  EXPECT_EQ(0u, lost) << "a MOD racing a harvest was lost (item left disarmed)";
  for (int b : busy) a.close(b);
  a.close(fd);
  a.close(ep);
  std::printf("[%s] rounds=%llu harvest-first=%llu mod-first=%llu lost=%llu\n", a.name,
              static_cast<unsigned long long>(rounds),
              static_cast<unsigned long long>(harvest_first),
              static_cast<unsigned long long>(mod_first), static_cast<unsigned long long>(lost));
}

// EPOLL_CTL_MOD re-arming a disarmed one-shot item while another thread writes to its
// eventfd: the MOD's poll sees the new count, or the write's callback sees the re-armed
// mask, or both; never neither (the item would stay unreported although armed and ready).
TEST_P(OneShotTest, RearmRacingWriteNeverLosesTheEvent) {
  const Api& a = *GetParam();
  const int ep = a.epoll_create1(0);
  ASSERT_GE(ep, 0);
  const int fd = a.eventfd(0, EFD_NONBLOCK);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(0, a.Add(ep, fd, EPOLLIN | EPOLLONESHOT, 1));
  epoll_event ev[2];
  uint64_t v = 0;
  // Disarm it: one report, then drain.
  ASSERT_EQ(0, a.Post(fd));
  ASSERT_EQ(1, a.epoll_wait(ep, ev, 2, 0));
  ASSERT_EQ(0, a.Take(fd, &v));
  std::atomic<bool> quit{false};
  Barrier go(2), done(2);
  Watchdog wd("rearm vs write");
  std::thread writer([&] {
    for (;;) {
      go.Arrive();
      if (quit.load()) return;
      a.Post(fd);
      done.Arrive();
    }
  });
  const auto end = BudgetEnd(0.5);
  uint64_t rounds = 0, lost = 0;
  while (Clock::now() < end && !wd.Fired()) {
    go.Arrive();
    ASSERT_EQ(0, a.Mod(ep, fd, EPOLLIN | EPOLLONESHOT, 1));
    done.Arrive();
    // Armed and the counter is 1: it must be reported (and that disarms it again).
    const int n = a.epoll_wait(ep, ev, 2, 0);
    if (n != 1) ++lost;
    ASSERT_EQ(0, a.Take(fd, &v));
    if (n != 1) {
      // Put the item back in the disarmed state the next round expects.
      ASSERT_EQ(0, a.Mod(ep, fd, EPOLLIN | EPOLLONESHOT, 1));
      ASSERT_EQ(0, a.Post(fd));
      ASSERT_EQ(1, a.epoll_wait(ep, ev, 2, 0));
      ASSERT_EQ(0, a.Take(fd, &v));
    }
    ++rounds;
  }
  quit.store(true);
  go.Arrive();
  writer.join();
  wd.Disarm();
  EXPECT_EQ(0u, lost) << "a write racing a re-arming MOD was never reported";
  a.close(fd);
  a.close(ep);
  std::printf("[%s] rounds=%llu lost=%llu\n", a.name, static_cast<unsigned long long>(rounds),
              static_cast<unsigned long long>(lost));
}

INSTANTIATE_TEST_SUITE_P(Stress, OneShotTest, ::testing::Values(&KernelApi(), &UepollApi()),
                         ApiName);

}  // namespace
}  // namespace uep::stress
