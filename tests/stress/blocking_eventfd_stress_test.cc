// Blocking eventfd reads and writes between threads.
//
//   - writers add 2^62 at a time, so the counter holds at most three of them and a fourth
//     write blocks until a reader empties it; readers block when it is zero. Every value
//     written is read back exactly once;
//   - EFD_SEMAPHORE: several blocking readers take 1 each; reads add up to the writes;
//   - a blocking reader and an epoll waiter consume the same eventfd: a write wakes both;
//   - the descriptor a reader is blocked on is closed (a duplicate stays): the reader
//     keeps waiting and a write through the duplicate wakes it, as in the kernel.
// Each runs on the kernel too.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <functional>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "stress/stress_util.h"

namespace uep::stress {
namespace {

class BlockingEventfdTest : public ::testing::TestWithParam<const Api*> {};

// Writers add kBig: the counter (at most 2^64 - 2) holds three of them.
constexpr uint64_t kBig = uint64_t{1} << 62;

// Readers blocked in read() on an eventfd, each handing every value it reads to `take`
// until `quit` is set; a failed read (other than EINTR) counts in `errors` and ends it.
class BlockedReaders {
 public:
  BlockedReaders(const Api& a, int fd, int count, const std::atomic<bool>& quit,
                 std::atomic<int>& errors, std::function<void(uint64_t)> take)
      : a_(a), fd_(fd), take_(std::move(take)) {
    for (int r = 0; r < count; ++r) {
      threads_.emplace_back([this, &quit, &errors] {
        for (;;) {
          uint64_t v = 0;
          if (a_.Take(fd_, &v) != 0) {
            if (errno == EINTR) continue;
            errors.fetch_add(1);
            break;
          }
          if (quit.load()) break;
          take_(v);
        }
        exited_.fetch_add(1);
      });
    }
  }

  // Sets `quit`, then lets the readers out one at a time (each leaves after its next read,
  // of a write of 1) and joins them.
  void Release(std::atomic<bool>& quit, Watchdog& wd) {
    quit.store(true);
    for (size_t r = 0; r < threads_.size(); ++r) {
      const int before = exited_.load();
      ASSERT_EQ(0, a_.Post(fd_, 1));
      wd.WaitFor([&] { return exited_.load() > before; });
    }
    for (auto& t : threads_) t.join();
  }

 private:
  const Api& a_;
  const int fd_;
  const std::function<void(uint64_t)> take_;
  std::atomic<int> exited_{0};
  std::vector<std::thread> threads_;
};

TEST_P(BlockingEventfdTest, WritersBlockAtTheLimitReadersBlockAtZero) {
  constexpr int kWriters = 2;
  constexpr int kReaders = 2;
  const Api& a = *GetParam();
  const int fd = a.eventfd(0, 0);  // blocking
  ASSERT_GE(fd, 0);
  std::atomic<uint64_t> writes{0}, units_read{0}, reads{0};
  std::atomic<int> errors{0};
  std::atomic<bool> quit{false};
  Watchdog wd(
      "blocking pair", [&] { quit.store(true); for (int i = 0; i < kReaders; ++i) a.Post(fd, 1); },
      [&] {
        std::ostringstream os;
        os << "writes=" << writes << " read=" << units_read;
        return os.str();
      });
  BlockedReaders readers(a, fd, kReaders, quit, errors, [&](uint64_t v) {
    if (v % kBig != 0 || v > 3 * kBig) errors.fetch_add(1);
    units_read.fetch_add(v / kBig);
    reads.fetch_add(1);
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&] {
      const auto end = BudgetEnd();
      while (Clock::now() < end && !wd.Fired()) {
        if (a.Post(fd, kBig) != 0) {
          if (errno == EINTR) continue;
          errors.fetch_add(1);
          break;
        }
        writes.fetch_add(1);
      }
    });
  }
  for (auto& t : writers) t.join();
  EXPECT_TRUE(wd.WaitFor([&] { return units_read.load() == writes.load(); }));
  readers.Release(quit, wd);
  wd.Disarm();
  EXPECT_FALSE(wd.Fired());
  EXPECT_EQ(0, errors.load());
  EXPECT_EQ(writes.load(), units_read.load());
  EXPECT_GT(writes.load(), 0u);
  EXPECT_EQ(0, a.close(fd));
  std::printf("[%s] writes=%llu reads=%llu\n", a.name,
              static_cast<unsigned long long>(writes.load()),
              static_cast<unsigned long long>(reads.load()));
}

TEST_P(BlockingEventfdTest, SemaphoreReadersTakeOneEach) {
  constexpr int kWriters = 2;
  constexpr int kReaders = 3;
  const Api& a = *GetParam();
  const int fd = a.eventfd(0, EFD_SEMAPHORE);
  ASSERT_GE(fd, 0);
  std::atomic<uint64_t> posted{0}, taken{0};
  std::atomic<int> errors{0};
  std::atomic<bool> quit{false};
  Watchdog wd(
      "semaphore", [&] { quit.store(true); for (int i = 0; i < kReaders; ++i) a.Post(fd, 1); },
      [&] {
        std::ostringstream os;
        os << "posted=" << posted << " taken=" << taken;
        return os.str();
      });
  BlockedReaders readers(a, fd, kReaders, quit, errors, [&](uint64_t v) {
    if (v != 1) errors.fetch_add(1);
    taken.fetch_add(1);
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      std::minstd_rand rng(static_cast<unsigned>(w + 51));
      const auto end = BudgetEnd();
      while (Clock::now() < end && !wd.Fired()) {
        const uint64_t v = 1 + rng() % 4;
        if (a.Post(fd, v) != 0) {
          errors.fetch_add(1);
          break;
        }
        posted.fetch_add(v);
        if (rng() % 8 == 0) std::this_thread::sleep_for(std::chrono::microseconds(20));
      }
    });
  }
  for (auto& t : writers) t.join();
  EXPECT_TRUE(wd.WaitFor([&] { return taken.load() == posted.load(); }));
  readers.Release(quit, wd);
  wd.Disarm();
  EXPECT_FALSE(wd.Fired());
  EXPECT_EQ(0, errors.load());
  EXPECT_EQ(posted.load(), taken.load());
  EXPECT_EQ(0, a.close(fd));
  std::printf("[%s] posted=%llu\n", a.name, static_cast<unsigned long long>(posted.load()));
}

// A blocking reader and an epoll waiter consume the same semaphore eventfd. Each step
// grants each of them one unit and then writes two: the write must wake both the reader
// asleep in read() and the instance's hook on the same queue. Since the counter always
// holds at least the units granted and not yet taken, a grant holder's read never blocks
// for long, and the step ends when both took theirs.
TEST_P(BlockingEventfdTest, BlockingReaderAndEpollWaiterShareTheCounter) {
  const Api& a = *GetParam();
  const int fd = a.eventfd(0, EFD_SEMAPHORE);  // blocking
  const int ep = a.epoll_create1(0);
  const int stop = a.eventfd(0, EFD_NONBLOCK);
  ASSERT_GE(fd, 0);
  ASSERT_GE(ep, 0);
  a.SetBusyPoll(ep, 0);
  ASSERT_EQ(0, a.Add(ep, fd, EPOLLIN | EPOLLONESHOT, 1));
  ASSERT_EQ(0, a.Add(ep, stop, EPOLLIN, ~uint64_t{0}));
  std::atomic<uint64_t> steps{0}, by_reader{0}, by_waiter{0};
  std::atomic<int> reader_grant{0}, waiter_grant{0}, errors{0};
  std::atomic<bool> quit{false};
  Watchdog wd(
      "reader + waiter",
      [&] {
        quit.store(true);
        a.Post(fd, 4);
        a.Post(stop);
      },
      [&] {
        std::ostringstream os;
        os << "steps=" << steps << " reader=" << by_reader << " waiter=" << by_waiter;
        return os.str();
      });
  auto take_grant = [&](std::atomic<int>* grant) {
    while (grant->load() == 0) {
      if (quit.load()) return false;
      std::this_thread::yield();
    }
    grant->fetch_sub(1);
    return true;
  };
  std::thread reader([&] {
    while (take_grant(&reader_grant)) {
      uint64_t v = 0;
      if (a.Take(fd, &v) != 0 || v != 1) {
        errors.fetch_add(1);
        return;
      }
      by_reader.fetch_add(1);
    }
  });
  std::thread waiter([&] {
    epoll_event ev[2];
    for (;;) {
      const int n = a.epoll_wait(ep, ev, 2, -1);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        errors.fetch_add(1);
        return;
      }
      for (int i = 0; i < n; ++i) {
        if (DataOf(ev[i]) != 1) return;  // stop
        if (!take_grant(&waiter_grant)) return;
        uint64_t v = 0;
        if (a.Take(fd, &v) != 0 || v != 1) errors.fetch_add(1);
        by_waiter.fetch_add(1);
        if (a.Mod(ep, fd, EPOLLIN | EPOLLONESHOT, 1) != 0) errors.fetch_add(1);
      }
    }
  });
  std::minstd_rand rng(71);
  const auto end = BudgetEnd();
  while (Clock::now() < end && !wd.Fired()) {
    const uint64_t step = steps.load() + 1;
    reader_grant.fetch_add(1);
    waiter_grant.fetch_add(1);
    if (rng() % 2 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 100));
    ASSERT_EQ(0, a.Post(fd, 2));
    steps.store(step);
    if (!wd.WaitFor([&] { return by_reader.load() == step && by_waiter.load() == step; })) break;
  }
  quit.store(true);
  reader.join();
  ASSERT_EQ(0, a.Post(stop));
  waiter.join();
  wd.Disarm();
  EXPECT_FALSE(wd.Fired());
  EXPECT_EQ(0, errors.load());
  EXPECT_EQ(steps.load(), by_reader.load());
  EXPECT_EQ(steps.load(), by_waiter.load());
  EXPECT_GT(steps.load(), 0u);
  a.close(fd);
  a.close(stop);
  a.close(ep);
  std::printf("[%s] steps=%llu\n", a.name, static_cast<unsigned long long>(steps.load()));
}

TEST_P(BlockingEventfdTest, CloseTheNumberABlockedReaderUses) {
  const Api& a = *GetParam();
  const auto end = BudgetEnd(0.5);
  int rounds = 0, blocked_first = 0;
  std::minstd_rand rng(61);
  while (Clock::now() < end || rounds == 0) {
    const int fd = a.eventfd(0, 0);
    ASSERT_GE(fd, 0);
    const int dup = a.dup(fd);
    ASSERT_GE(dup, 0);
    std::atomic<int> result{-2}, err{0};
    std::atomic<uint64_t> value{0};
    std::atomic<pid_t> tid{0};
    Watchdog wd("blocked reader", [&] { a.Post(dup, 1); });
    std::thread reader([&] {
      tid.store(gettid());
      uint64_t v = 0;
      int r = 0;
      do {
        r = a.Take(fd, &v);
      } while (r != 0 && errno == EINTR);
      err.store(errno);
      value.store(v);
      result.store(r);
    });
    if (rng() % 2 == 0) {
      std::atomic<pid_t> one[1];
      wd.WaitFor([&] { return tid.load() != 0; });
      one[0].store(tid.load());
      if (AllAsleep(one, milliseconds(500))) ++blocked_first;
    }
    ASSERT_EQ(0, a.close(fd));
    ASSERT_EQ(0, a.Post(dup, 5));
    reader.join();
    wd.Disarm();
    if (result.load() == 0) {
      EXPECT_EQ(5u, value.load());
    } else {
      // The close won the race to the number: the reader never got the file.
      EXPECT_EQ(EBADF, err.load());
      uint64_t v = 0;
      ASSERT_EQ(0, a.Take(dup, &v));
      EXPECT_EQ(5u, v);
    }
    EXPECT_EQ(0, a.close(dup));
    ++rounds;
    if (HasFailure()) break;
  }
  EXPECT_GT(blocked_first, 0);
  std::printf("[%s] rounds=%d blocked-before-close=%d\n", a.name, rounds, blocked_first);
}

INSTANTIATE_TEST_SUITE_P(Stress, BlockingEventfdTest, ::testing::Values(&KernelApi(), &UepollApi()),
                         ApiName);

}  // namespace
}  // namespace uep::stress
