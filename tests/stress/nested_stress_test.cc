// Nested instances under concurrent writes.
//
//   top <- mid0 <- eventfds (LT and ET)
//       <- mid1 <- low <- eventfds
// Producers write to the leaves in rounds; consumers sleep on `top` and drain whatever
// instance it reports, recursively, with zero timeouts. A write reaches a sleeping consumer
// only through every level's callback and poll wake-up, so a break anywhere on the path
// leaves a count short at the end of a round. A second test re-links the tree while the
// writes go on, and a third races ADDs that would close a loop: the kernel refuses every
// cycle with ELOOP, whatever the interleaving.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "stress/stress_util.h"

namespace uep::stress {
namespace {

constexpr uint64_t kStop = ~uint64_t{0};
constexpr uint64_t kInstanceTag = uint64_t{1} << 32;  // data = tag | index into `instances`

struct Tree {
  // instances[0] is top; data of an instance's item is kInstanceTag | its index here.
  std::vector<int> instances;
  std::vector<int> leaves;
  int stop = -1;
};

// Builds the tree above; `leaf_flags` alternates LT/ET.
void BuildTree(const Api& a, Tree* t) {
  const int top = a.epoll_create1(0);
  const int mid0 = a.epoll_create1(0);
  const int mid1 = a.epoll_create1(0);
  const int low = a.epoll_create1(0);
  t->instances = {top, mid0, mid1, low};
  for (int ep : t->instances) {
    ASSERT_GE(ep, 0);
    a.SetBusyPoll(ep, 0);
  }
  ASSERT_EQ(0, a.Add(top, mid0, EPOLLIN, kInstanceTag | 1));
  ASSERT_EQ(0, a.Add(top, mid1, EPOLLIN, kInstanceTag | 2));
  ASSERT_EQ(0, a.Add(mid1, low, EPOLLIN, kInstanceTag | 3));
  for (int i = 0; i < 6; ++i) {
    const int fd = a.eventfd(0, EFD_NONBLOCK);
    ASSERT_GE(fd, 0);
    const int parent = i < 3 ? mid0 : low;
    ASSERT_EQ(0, a.Add(parent, fd, EPOLLIN | (i % 2 == 1 ? uint32_t{EPOLLET} : 0u),
                       static_cast<uint64_t>(t->leaves.size())));
    t->leaves.push_back(fd);
  }
  t->stop = a.eventfd(0, EFD_NONBLOCK);
  ASSERT_GE(t->stop, 0);
  ASSERT_EQ(0, a.Add(top, t->stop, EPOLLIN, kStop));
}

void CloseTree(const Api& a, const Tree& t) {
  for (int fd : t.leaves) EXPECT_EQ(0, a.close(fd));
  EXPECT_EQ(0, a.close(t.stop));
  for (int ep : t.instances) EXPECT_EQ(0, a.close(ep));
}

// Consumes what `events` report: leaves are read, instances drained recursively.
// Returns false when the stop event was among them.
bool Consume(const Api& a, const Tree& t, const epoll_event* events, int n,
             std::atomic<uint64_t>* consumed, std::atomic<int>* errors) {
  bool go_on = true;
  for (int i = 0; i < n; ++i) {
    const uint64_t data = DataOf(events[i]);
    if (data == kStop) {
      go_on = false;
    } else if ((data & kInstanceTag) != 0) {
      epoll_event inner[4];
      const int m = a.epoll_wait(t.instances[data & 0xffff], inner, 4, 0);
      if (m < 0) {
        errors->fetch_add(1);
      } else {
        Consume(a, t, inner, m, consumed, errors);
      }
    } else {
      uint64_t v = 0;
      if (a.Take(t.leaves[data], &v) == 0) {
        consumed->fetch_add(v);
      } else if (errno != EAGAIN) {
        errors->fetch_add(1);
      }
    }
  }
  return go_on;
}

class NestedTest : public ::testing::TestWithParam<const Api*> {};

void RunRounds(const Api& a, bool relink) {
  constexpr int kProducers = 2;
  constexpr int kConsumers = 2;
  constexpr int kWritesPerRound = 32;
  Tree t;
  ASSERT_NO_FATAL_FAILURE(BuildTree(a, &t));
  std::atomic<uint64_t> written{0}, consumed{0}, relinks{0};
  std::atomic<int> errors{0};
  std::atomic<bool> quit{false}, relinking{false};
  std::mutex relink_mu;  // held by the relinker from its check through DEL and ADD
  CountedRounds rounds(kProducers, kWritesPerRound);
  Watchdog wd(
      "nested", [&] { a.Post(t.stop); },
      [&] {
        std::ostringstream os;
        os << "written=" << written << " consumed=" << consumed;
        return os.str();
      });
  std::vector<std::thread> consumers;
  for (int c = 0; c < kConsumers; ++c) {
    consumers.emplace_back([&] {
      epoll_event ev[4];
      for (;;) {
        const int n = a.epoll_wait(t.instances[0], ev, 4, -1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          errors.fetch_add(1);
          return;
        }
        if (!Consume(a, t, ev, n, &consumed, &errors)) return;
      }
    });
  }
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      std::minstd_rand rng(static_cast<unsigned>(p + 31));
      rounds.Produce([&](int) {
        for (int k = 0; k < kWritesPerRound; ++k) {
          if (a.Post(t.leaves[rng() % t.leaves.size()]) != 0) errors.fetch_add(1);
          written.fetch_add(1);
          if (rng() % 8 == 0) std::this_thread::yield();
        }
      });
    });
  }
  // Unlinks mid1 from top and links it back while the producers write: what arrives in
  // between waits on mid1's ready list and is found again by the ADD's poll.
  std::thread relinker;
  if (relink) {
    relinker = std::thread([&] {
      std::minstd_rand rng(41);
      while (!quit.load()) {
        std::unique_lock lock(relink_mu);
        if (!relinking.load()) {
          lock.unlock();
          std::this_thread::yield();
          continue;
        }
        const int top = t.instances[0], mid1 = t.instances[2];
        if (a.epoll_ctl(top, EPOLL_CTL_DEL, mid1, nullptr) != 0) errors.fetch_add(1);
        if (rng() % 2 == 0) std::this_thread::yield();
        if (a.Add(top, mid1, EPOLLIN, kInstanceTag | 2) != 0) errors.fetch_add(1);
        relinks.fetch_add(1);
      }
    });
  }

  rounds.Run(
      wd, consumed, [&] { relinking.store(relink); },
      [&] {
        // The round is complete once the tree is linked again.
        relinking.store(false);
        std::lock_guard wait_for_relinker(relink_mu);
      });
  quit.store(true);
  rounds.Finish();
  for (auto& th : producers) th.join();
  if (relinker.joinable()) relinker.join();
  ASSERT_EQ(0, a.Post(t.stop));
  for (auto& th : consumers) th.join();
  wd.Disarm();
  EXPECT_FALSE(wd.Fired());
  EXPECT_EQ(0, errors.load());
  EXPECT_EQ(written.load(), consumed.load());
  EXPECT_GT(rounds.rounds(), 0);
  CloseTree(a, t);
  std::printf("[%s] rounds=%d writes=%llu relinks=%llu\n", a.name, rounds.rounds(),
              static_cast<unsigned long long>(written.load()),
              static_cast<unsigned long long>(relinks.load()));
}

TEST_P(NestedTest, ThreeLevelsCountEveryWrite) { RunRounds(*GetParam(), false); }

TEST_P(NestedTest, RelinkWhileWriting) { RunRounds(*GetParam(), true); }

// Two (or three) threads link instances into a cycle at the same moment: at least one ADD
// must fail with ELOOP, never all of them succeed.
TEST_P(NestedTest, RacingAddsNeverCloseALoop) {
  const Api& a = *GetParam();
  const auto end = BudgetEnd(0.5);
  int rounds = 0, refused = 0;
  std::atomic<int> bad{0}, last_bad{0};
  while (Clock::now() < end || rounds == 0) {
    const int size = 2 + rounds % 2;  // a 2-cycle or a 3-cycle
    int eps[3];
    for (int i = 0; i < size; ++i) {
      eps[i] = a.epoll_create1(0);
      ASSERT_GE(eps[i], 0);
    }
    std::atomic<int> ok{0};
    Barrier go(size);
    std::vector<std::thread> linkers;
    for (int i = 0; i < size; ++i) {
      linkers.emplace_back([&, i] {
        go.Arrive();
        if (a.Add(eps[i], eps[(i + 1) % size], EPOLLIN, 1) == 0) {
          ok.fetch_add(1);
        } else if (errno == ELOOP) {
          // refused
        } else {
          last_bad.store(errno);
          bad.fetch_add(1);
        }
      });
    }
    for (auto& th : linkers) th.join();
    EXPECT_LT(ok.load(), size) << "a cycle of " << size << " instances was built";
    refused += size - ok.load();
    for (int i = 0; i < size; ++i) a.close(eps[i]);
    ++rounds;
    if (HasFailure()) break;
  }
  EXPECT_EQ(0, bad.load()) << "errno " << last_bad.load();
  std::printf("[%s] rounds=%d refused=%d\n", a.name, rounds, refused);
}

INSTANTIATE_TEST_SUITE_P(Stress, NestedTest, ::testing::Values(&KernelApi(), &UepollApi()),
                         ApiName);

}  // namespace
}  // namespace uep::stress
