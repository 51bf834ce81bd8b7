// Closing while others use what is being closed: descriptors and instances closed while
// another thread waits on them, controls them or writes to them; dup/close storms.
// Nothing may crash, hang or leak (the sanitizer builds check the last two), and every
// failure must be an errno the kernel gives for that race. Scenarios run on the kernel
// too, which checks that the allowed errnos are the kernel's.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "core/eventpoll.h"
#include "core/fd_table.h"
#include "core/rcu.h"
#include "stress/stress_util.h"

namespace uep::stress {
namespace {

constexpr uint64_t kStop = ~uint64_t{0};
constexpr uint64_t kUnknown = ~uint64_t{0} - 1;

bool ErrnoIn(std::initializer_list<int> allowed) {
  const int e = errno;
  return std::find(allowed.begin(), allowed.end(), e) != allowed.end();
}

// Items of a uepoll instance (-1 if `epfd` is not one).
int UepollItemCount(int epfd) {
  RcuReadGuard guard;
  File* file = FdTable::Get().Lookup(epfd);
  if (file == nullptr || !file->IsEventPoll()) return -1;
  return static_cast<EventPoll*>(file)->ItemCount();
}

class CloseRaceTest : public ::testing::TestWithParam<const Api*> {
 protected:
  void SetUp() override {
    if (GetParam()->uepoll) open_before_ = FdTable::Get().OpenCount();
  }
  void TearDown() override {
    if (GetParam()->uepoll) {
      EXPECT_EQ(open_before_, FdTable::Get().OpenCount()) << "descriptors leaked";
    }
  }
  int open_before_ = 0;
};

// Eventfds are created, added (LT/ET/ONESHOT), written, modified and closed in a loop
// while other threads wait on the instance, write to and control the same numbers. A wait
// that began after close() returned never reports the closed file's item (uepoll: close
// returns after the items are gone; on the kernel a concurrent write may hold the file,
// so this is checked on uepoll only).
TEST_P(CloseRaceTest, ChurnWhileWaitingWritingAndControlling) {
  constexpr int kChurners = 2;
  constexpr int kWaiters = 2;
  constexpr int kRecent = 8;
  constexpr uint64_t kMaxGen = 1 << 18;
  const Api& a = *GetParam();

  const int ep = a.epoll_create1(0);
  ASSERT_GE(ep, 0);
  auto closed_at = std::make_unique<std::atomic<uint64_t>[]>(kMaxGen);
  for (uint64_t i = 0; i < kMaxGen; ++i) closed_at[i].store(0);
  std::atomic<uint64_t> seq{0}, next_gen{0};
  std::atomic<int> recent[kRecent];
  for (auto& r : recent) r.store(-1);
  std::atomic<bool> quit{false};
  std::atomic<int> bad_errno{0}, stale_reports{0}, last_bad{0};
  std::atomic<uint64_t> reports{0}, writes_ok{0}, writes_ebadf{0}, ctl_ok{0}, ctl_err{0};
  auto bad = [&](const char* /*what*/) {
    last_bad.store(errno);
    bad_errno.fetch_add(1);
  };

  Watchdog wd("churn", [&] { quit.store(true); });

  std::vector<std::thread> threads;
  for (int c = 0; c < kChurners; ++c) {
    threads.emplace_back([&, c] {
      std::minstd_rand rng(static_cast<unsigned>(c + 1));
      const auto end = BudgetEnd();
      while (Clock::now() < end && !quit.load()) {
        const uint64_t gen = next_gen.fetch_add(1);
        if (gen >= kMaxGen) break;
        const int fd = a.eventfd(0, EFD_NONBLOCK);
        if (fd < 0) {
          bad("eventfd");
          break;
        }
        static constexpr uint32_t kFlags[] = {0, EPOLLET, EPOLLONESHOT};
        const uint32_t flags = kFlags[rng() % 3];
        if (a.Add(ep, fd, EPOLLIN | flags, gen) != 0 && !ErrnoIn({EEXIST})) bad("add");
        recent[rng() % kRecent].store(fd);
        for (unsigned k = rng() % 3; k > 0; --k) {
          if (a.Post(fd) != 0) bad("post");
        }
        if (rng() % 4 == 0 && a.Mod(ep, fd, EPOLLIN | flags, gen) != 0 && !ErrnoIn({ENOENT})) {
          bad("mod");
        }
        if (rng() % 8 == 0) std::this_thread::yield();
        if (a.close(fd) != 0) bad("close");
        closed_at[gen].store(seq.fetch_add(1) + 1);
      }
    });
  }
  for (int w = 0; w < kWaiters; ++w) {
    threads.emplace_back([&] {
      epoll_event ev[8];
      while (!quit.load()) {
        const uint64_t started = seq.load();
        const int n = a.epoll_wait(ep, ev, 8, 2);
        if (n < 0) {
          if (!ErrnoIn({EINTR})) bad("wait");
          continue;
        }
        for (int i = 0; i < n; ++i) {
          reports.fetch_add(1);
          const uint64_t gen = DataOf(ev[i]);
          if (gen == kUnknown || gen >= kMaxGen) continue;
          const uint64_t closed = closed_at[gen].load();
          if (a.uepoll && closed != 0 && closed <= started) stale_reports.fetch_add(1);
        }
      }
    });
  }
  threads.emplace_back([&] {  // writer
    std::minstd_rand rng(99);
    while (!quit.load()) {
      const int fd = recent[rng() % kRecent].load();
      if (fd < 0) continue;
      if (a.Post(fd) == 0) {
        writes_ok.fetch_add(1);
      } else if (ErrnoIn({EBADF})) {
        writes_ebadf.fetch_add(1);
      } else {
        bad("write");
      }
    }
  });
  threads.emplace_back([&] {  // controller
    std::minstd_rand rng(7);
    while (!quit.load()) {
      const int fd = recent[rng() % kRecent].load();
      if (fd < 0) continue;
      int r = 0;
      switch (rng() % 3) {
        case 0:
          r = a.epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
          if (r != 0 && !ErrnoIn({EBADF, ENOENT})) bad("ctl del");
          break;
        case 1:
          r = a.Mod(ep, fd, EPOLLIN | EPOLLET, kUnknown);
          if (r != 0 && !ErrnoIn({EBADF, ENOENT})) bad("ctl mod");
          break;
        default:
          r = a.Add(ep, fd, EPOLLIN, kUnknown);
          if (r != 0 && !ErrnoIn({EBADF, EEXIST})) bad("ctl add");
          break;
      }
      (r == 0 ? ctl_ok : ctl_err).fetch_add(1);
    }
  });

  // Churners end on their own; then stop the rest.
  for (int c = 0; c < kChurners; ++c) threads[c].join();
  quit.store(true);
  for (size_t t = kChurners; t < threads.size(); ++t) threads[t].join();
  wd.Disarm();

  EXPECT_FALSE(wd.Fired());
  EXPECT_EQ(0, bad_errno.load()) << "last unexpected errno " << last_bad.load();
  EXPECT_EQ(0, stale_reports.load()) << "a wait reported an item whose file was closed before it";
  // Every watched file is closed: nothing is left in the instance.
  epoll_event ev[4];
  EXPECT_EQ(0, a.epoll_wait(ep, ev, 4, 0));
  if (a.uepoll) {
    EXPECT_EQ(0, UepollItemCount(ep));
  }
  EXPECT_EQ(0, a.close(ep));
  std::printf("[%s] files=%llu reports=%llu writes ok/EBADF=%llu/%llu ctl ok/err=%llu/%llu\n",
              a.name, static_cast<unsigned long long>(next_gen.load()),
              static_cast<unsigned long long>(reports.load()),
              static_cast<unsigned long long>(writes_ok.load()),
              static_cast<unsigned long long>(writes_ebadf.load()),
              static_cast<unsigned long long>(ctl_ok.load()),
              static_cast<unsigned long long>(ctl_err.load()));
}

// The instance is closed while a thread waits on it. The waiter keeps the instance alive
// (as the kernel's fdget does): a later write to a watched eventfd still wakes it. A wait
// that starts after the close fails with EBADF.
TEST_P(CloseRaceTest, CloseInstanceWhileWaiting) {
  const Api& a = *GetParam();
  const auto end = BudgetEnd(0.5);
  int woken = 0, ebadf = 0, rounds = 0;
  std::minstd_rand rng(3);
  while (Clock::now() < end || rounds == 0) {
    const int ep = a.epoll_create1(0);
    const int fd = a.eventfd(0, EFD_NONBLOCK);
    ASSERT_GE(ep, 0);
    ASSERT_GE(fd, 0);
    if (rng() % 2 == 0) a.SetBusyPoll(ep, 0);
    ASSERT_EQ(0, a.Add(ep, fd, EPOLLIN, 7));
    std::atomic<int> result{-2}, err{0};
    std::atomic<uint64_t> data{0};
    Watchdog wd("close instance while waiting", [&] { a.Post(fd); });
    std::thread waiter([&] {
      epoll_event ev[2];
      int n = 0;
      do {
        n = a.epoll_wait(ep, ev, 2, -1);
      } while (n < 0 && errno == EINTR);
      err.store(errno);
      if (n > 0) data.store(DataOf(ev[0]));
      result.store(n);
    });
    const unsigned delay = rng() % 200;
    if (delay > 0) std::this_thread::sleep_for(std::chrono::microseconds(delay));
    ASSERT_EQ(0, a.close(ep));
    ASSERT_EQ(0, a.Post(fd));
    waiter.join();
    wd.Disarm();
    if (result.load() == 1) {
      EXPECT_EQ(7u, data.load());
      ++woken;
    } else {
      EXPECT_EQ(-1, result.load());
      EXPECT_EQ(EBADF, err.load());
      ++ebadf;
    }
    EXPECT_EQ(0, a.close(fd));
    ++rounds;
    if (HasFailure()) break;
  }
  std::printf("[%s] rounds=%d woken=%d ebadf=%d\n", a.name, rounds, woken, ebadf);
}

// A watched eventfd is closed while a thread waits: its item goes with it, so the waiter
// sees only what was posted before the close, and afterwards only the stop event remains.
// A writer hammers the closing number meanwhile (EBADF once it is gone).
TEST_P(CloseRaceTest, CloseWatchedFileWhileWaiting) {
  const Api& a = *GetParam();
  const auto end = BudgetEnd(0.5);
  int rounds = 0, saw_item = 0;
  std::minstd_rand rng(5);
  while (Clock::now() < end || rounds == 0) {
    const int ep = a.epoll_create1(0);
    const int stop = a.eventfd(0, EFD_NONBLOCK);
    const int fd = a.eventfd(0, EFD_NONBLOCK);
    ASSERT_GE(ep, 0);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(0, a.Add(ep, stop, EPOLLIN, kStop));
    ASSERT_EQ(0, a.Add(ep, fd, EPOLLIN | (rng() % 2 == 0 ? uint32_t{EPOLLET} : 0u), 1));
    const bool posted = rng() % 2 == 0;
    std::atomic<int> n_seen{0}, item_seen{0}, stop_seen{0}, errors{0};
    std::atomic<bool> hammer{true};
    Watchdog wd("close watched file while waiting", [&] { a.Post(stop); });
    std::thread waiter([&] {
      epoll_event ev[4];
      int n = 0;
      do {
        n = a.epoll_wait(ep, ev, 4, -1);
      } while (n < 0 && errno == EINTR);
      n_seen.store(n);
      for (int i = 0; i < n; ++i) {
        (DataOf(ev[i]) == kStop ? stop_seen : item_seen).fetch_add(1);
      }
    });
    std::thread writer([&] {
      // Only zero-valued writes: they wake nobody, so "posted" stays the only event.
      const uint64_t zero = 0;
      while (hammer.load()) {
        if (a.write(fd, &zero, sizeof zero) != sizeof zero && !ErrnoIn({EBADF})) {
          errors.fetch_add(1);
        }
      }
    });
    if (posted) {
      ASSERT_EQ(0, a.Post(fd));
    }
    if (rng() % 2 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 300));
    ASSERT_EQ(0, a.close(fd));
    ASSERT_EQ(0, a.Post(stop));
    waiter.join();
    hammer.store(false);
    writer.join();
    wd.Disarm();
    EXPECT_GE(n_seen.load(), 1);
    EXPECT_EQ(0, errors.load());
    if (!posted) {
      EXPECT_EQ(0, item_seen.load()) << "an event that never happened was reported";
    }
    saw_item += item_seen.load();
    epoll_event ev[4];
    ASSERT_EQ(1, a.epoll_wait(ep, ev, 4, 0)) << "the closed file's item outlived it";
    EXPECT_EQ(kStop, DataOf(ev[0]));
    if (a.uepoll) {
      EXPECT_EQ(1, UepollItemCount(ep));
    }
    a.close(stop);
    a.close(ep);
    ++rounds;
    if (HasFailure()) break;
  }
  std::printf("[%s] rounds=%d item-before-close=%d\n", a.name, rounds, saw_item);
}

// Instance numbers are closed and reused (by instances and eventfds) while other threads
// wait on, control and post through them.
TEST_P(CloseRaceTest, WaitAndCtlRacingInstanceCloseAndReuse) {
  const Api& a = *GetParam();
  const int ev = a.eventfd(0, EFD_NONBLOCK);
  ASSERT_GE(ev, 0);
  std::atomic<int> current{-1};
  std::atomic<bool> quit{false};
  std::atomic<int> bad{0}, last_bad{0};
  std::atomic<uint64_t> waits_ok{0}, waits_err{0}, ctls_ok{0}, ctls_err{0}, cycles{0};
  auto record_bad = [&] {
    last_bad.store(errno);
    bad.fetch_add(1);
  };
  Watchdog wd("instance close/reuse", [&] { quit.store(true); });
  std::vector<std::thread> threads;
  threads.emplace_back([&] {  // creates and closes instances and eventfds
    std::minstd_rand rng(11);
    const auto end = BudgetEnd();
    while (Clock::now() < end && !quit.load()) {
      const bool instance = rng() % 4 != 0;
      const int fd = instance ? a.epoll_create1(0) : a.eventfd(0, EFD_NONBLOCK);
      if (fd < 0) {
        record_bad();
        break;
      }
      if (instance && rng() % 2 == 0) a.Add(fd, ev, EPOLLIN, 5);
      current.store(fd);
      if (rng() % 4 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 50));
      if (a.close(fd) != 0) record_bad();
      cycles.fetch_add(1);
    }
    quit.store(true);
  });
  threads.emplace_back([&] {  // waits on whatever the number is now
    epoll_event out[4];
    while (!quit.load()) {
      const int fd = current.load();
      if (fd < 0) continue;
      const int n = a.epoll_wait(fd, out, 4, 1);
      if (n >= 0) {
        waits_ok.fetch_add(1);
        for (int i = 0; i < n; ++i) {
          if (DataOf(out[i]) != 5) record_bad();
        }
        uint64_t v = 0;
        if (n > 0) a.Take(ev, &v);
      } else if (ErrnoIn({EBADF, EINVAL, EINTR})) {
        waits_err.fetch_add(1);
      } else {
        record_bad();
      }
    }
  });
  threads.emplace_back([&] {  // controls it
    std::minstd_rand rng(13);
    while (!quit.load()) {
      const int fd = current.load();
      if (fd < 0) continue;
      const int r = rng() % 2 == 0 ? a.Add(fd, ev, EPOLLIN | EPOLLET, 5)
                                   : a.epoll_ctl(fd, EPOLL_CTL_DEL, ev, nullptr);
      if (r == 0) {
        ctls_ok.fetch_add(1);
      } else if (ErrnoIn({EBADF, EINVAL, EEXIST, ENOENT})) {
        ctls_err.fetch_add(1);
      } else {
        record_bad();
      }
    }
  });
  threads.emplace_back([&] {  // keeps the watched eventfd busy
    while (!quit.load()) {
      if (a.Post(ev) != 0) record_bad();
      std::this_thread::yield();
    }
  });
  for (auto& t : threads) t.join();
  wd.Disarm();
  EXPECT_FALSE(wd.Fired());
  EXPECT_EQ(0, bad.load()) << "last unexpected errno " << last_bad.load();
  EXPECT_GT(cycles.load(), 0u);
  EXPECT_EQ(0, a.close(ev));
  std::printf("[%s] cycles=%llu waits ok/err=%llu/%llu ctls ok/err=%llu/%llu\n", a.name,
              static_cast<unsigned long long>(cycles.load()),
              static_cast<unsigned long long>(waits_ok.load()),
              static_cast<unsigned long long>(waits_err.load()),
              static_cast<unsigned long long>(ctls_ok.load()),
              static_cast<unsigned long long>(ctls_err.load()));
}

// Threads dup, dup2 and close descriptors of one watched eventfd and post through them
// while a consumer reads it back through the instance. The item is keyed by (file, fd) and
// lives as long as the file: closing the number it was added under does not remove it
// while a duplicate is open; closing the last descriptor does.
TEST_P(CloseRaceTest, DupCloseStorm) {
  constexpr int kStormers = 3;
  const Api& a = *GetParam();
  const int ep = a.epoll_create1(0);
  const int fd = a.eventfd(0, EFD_NONBLOCK);
  const int stop = a.eventfd(0, EFD_NONBLOCK);
  ASSERT_GE(ep, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(0, a.Add(ep, fd, EPOLLIN, 1));
  ASSERT_EQ(0, a.Add(ep, stop, EPOLLIN, kStop));
  const int keeper = a.dup(fd);
  ASSERT_GE(keeper, 0);
  std::atomic<uint64_t> posted{0}, consumed{0}, dups{0};
  std::atomic<int> errors{0}, last_err{0};
  auto error = [&] {
    last_err.store(errno);
    errors.fetch_add(1);
  };
  Watchdog wd(
      "dup/close storm", [&] { a.Post(stop); },
      [&] {
        std::ostringstream os;
        os << "posted=" << posted << " consumed=" << consumed;
        return os.str();
      });
  std::thread consumer([&] {
    epoll_event ev[2];
    for (;;) {
      const int n = a.epoll_wait(ep, ev, 2, -1);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        error();
        return;
      }
      for (int i = 0; i < n; ++i) {
        if (DataOf(ev[i]) == kStop) return;
        uint64_t v = 0;
        if (a.Take(keeper, &v) == 0) {
          consumed.fetch_add(v);
        } else if (errno != EAGAIN) {
          error();
        }
      }
    }
  });
  std::vector<std::thread> stormers;
  for (int s = 0; s < kStormers; ++s) {
    stormers.emplace_back([&, s] {
      std::minstd_rand rng(static_cast<unsigned>(s + 21));
      const auto end = BudgetEnd();
      std::vector<int> mine;
      while (Clock::now() < end && !wd.Fired()) {
        const unsigned op = rng() % 4;
        if (op == 0 || mine.empty()) {
          const int d = a.dup(rng() % 2 == 0 || mine.empty() ? keeper : mine[rng() % mine.size()]);
          if (d < 0) {
            error();
            continue;
          }
          mine.push_back(d);
          dups.fetch_add(1);
        } else if (op == 1) {
          // dup2 onto one of my own numbers: replaces it with the same file.
          const int d = mine[rng() % mine.size()];
          if (a.dup2(keeper, d) != d) error();
        } else if (op == 2) {
          const int d = mine[rng() % mine.size()];
          if (a.Post(d) == 0) {
            posted.fetch_add(1);
          } else {
            error();
          }
        } else {
          const size_t i = rng() % mine.size();
          if (a.close(mine[i]) != 0) error();
          mine.erase(mine.begin() + static_cast<long>(i));
        }
      }
      for (int d : mine) {
        if (a.close(d) != 0) error();
      }
    });
  }
  for (auto& t : stormers) t.join();
  wd.WaitFor([&] { return consumed.load() == posted.load(); });
  EXPECT_EQ(posted.load(), consumed.load());

  // The number the item was added under goes; the file stays (keeper): the item stays.
  ASSERT_EQ(0, a.close(fd));
  ASSERT_EQ(0, a.Post(keeper));
  posted.fetch_add(1);
  EXPECT_TRUE(wd.WaitFor([&] { return consumed.load() == posted.load(); }))
      << "the item died with its number, not with its file";
  if (a.uepoll) {
    EXPECT_EQ(2, UepollItemCount(ep));
  }
  // The last descriptor goes: so does the item.
  ASSERT_EQ(0, a.close(keeper));
  if (a.uepoll) {
    EXPECT_EQ(1, UepollItemCount(ep));
  }
  ASSERT_EQ(0, a.Post(stop));
  consumer.join();
  wd.Disarm();
  EXPECT_FALSE(wd.Fired());
  EXPECT_EQ(0, errors.load()) << "last errno " << last_err.load();
  epoll_event ev[2];
  ASSERT_EQ(1, a.epoll_wait(ep, ev, 2, 0));
  EXPECT_EQ(kStop, DataOf(ev[0]));
  EXPECT_EQ(0, a.close(stop));
  EXPECT_EQ(0, a.close(ep));
  std::printf("[%s] dups=%llu posts=%llu\n", a.name, static_cast<unsigned long long>(dups.load()),
              static_cast<unsigned long long>(posted.load()));
}

// A nested instance is closed while its parent is waited on and its eventfds written.
TEST_P(CloseRaceTest, CloseNestedInstanceWhileParentWaits) {
  const Api& a = *GetParam();
  const auto end = BudgetEnd(0.5);
  int rounds = 0;
  std::minstd_rand rng(17);
  while (Clock::now() < end || rounds == 0) {
    const int top = a.epoll_create1(0);
    const int mid = a.epoll_create1(0);
    const int fd = a.eventfd(0, EFD_NONBLOCK);
    const int stop = a.eventfd(0, EFD_NONBLOCK);
    ASSERT_GE(top, 0);
    ASSERT_GE(mid, 0);
    ASSERT_EQ(0, a.Add(mid, fd, EPOLLIN, 1));
    ASSERT_EQ(0, a.Add(top, mid, EPOLLIN, 2));
    ASSERT_EQ(0, a.Add(top, stop, EPOLLIN, kStop));
    std::atomic<bool> writing{true};
    std::atomic<int> errors{0}, last_err{0};
    Watchdog wd("close nested", [&] { a.Post(stop); });
    std::thread waiter([&] {
      epoll_event ev[4], inner[4];
      for (;;) {
        const int n = a.epoll_wait(top, ev, 4, -1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          errors.fetch_add(1);
          return;
        }
        for (int i = 0; i < n; ++i) {
          if (DataOf(ev[i]) == kStop) return;
          const int m = a.epoll_wait(mid, inner, 4, 0);  // may be closed by now
          if (m < 0 && !ErrnoIn({EBADF})) {
            last_err.store(errno);
            errors.fetch_add(1);
          }
          uint64_t v = 0;
          if (m > 0) a.Take(fd, &v);
        }
      }
    });
    std::thread writer([&] {
      while (writing.load()) {
        if (a.Post(fd) != 0) errors.fetch_add(1);
        std::this_thread::yield();
      }
    });
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 500));
    ASSERT_EQ(0, a.close(mid));
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 200));
    ASSERT_EQ(0, a.Post(stop));
    waiter.join();
    writing.store(false);
    writer.join();
    wd.Disarm();
    EXPECT_EQ(0, errors.load()) << "last errno " << last_err.load();
    // The closed instance's item left the parent with it.
    if (a.uepoll) {
      EXPECT_EQ(1, UepollItemCount(top));
    }
    epoll_event ev[4];
    ASSERT_EQ(1, a.epoll_wait(top, ev, 4, 0));
    EXPECT_EQ(kStop, DataOf(ev[0]));
    a.close(fd);
    a.close(stop);
    a.close(top);
    ++rounds;
    if (HasFailure()) break;
  }
  std::printf("[%s] rounds=%d\n", a.name, rounds);
}

INSTANTIATE_TEST_SUITE_P(Stress, CloseRaceTest, ::testing::Values(&KernelApi(), &UepollApi()),
                         ApiName);

}  // namespace
}  // namespace uep::stress
