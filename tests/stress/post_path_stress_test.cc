// Posts to a loop, in numbers: what producers put in comes out, however waiters sleep and
// wake. An eventfd post skips every lock when its watcher is an epoll item already ready
// with nobody asleep; these runs keep flipping between that state and the others (a
// harvest, a sleeping waiter, a blocked reader, a second sleeper) while posts race in.
// uep::Channel: counts in = counts out through epoll, through blocking receivers, and when
// the channel is closed while producers are blocked on a full channel.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "stress/stress_util.h"
#include "uepoll/channel.hpp"

namespace uep::stress {
namespace {

enum class Mode { kEdge, kLevel };

struct Case {
  const Api* api;
  Mode mode;
};

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  return std::string(info.param.api->name) + (info.param.mode == Mode::kEdge ? "_Edge" : "_Level");
}

class EventfdPosts : public ::testing::TestWithParam<Case> {};

// Producers post to one eventfd; two loop threads sleep in wait(-1) on one instance and
// read it; a third thread sometimes blocks in read() on it directly. Every posted unit is
// read exactly once: nothing is lost, even a wake-up.
TEST_P(EventfdPosts, EveryPostIsReadOnce) {
  const Api& a = *GetParam().api;
  const int ep = a.epoll_create1(0);
  ASSERT_GE(ep, 0);
  const int efd = a.eventfd(0, EFD_NONBLOCK);
  const int blocking = a.eventfd(0, 0);  // a second descriptor for blocking reads
  ASSERT_GE(efd, 0);
  ASSERT_GE(blocking, 0);
  const uint32_t et = GetParam().mode == Mode::kEdge ? uint32_t{EPOLLET} : 0U;
  ASSERT_EQ(0, a.Add(ep, efd, EPOLLIN | et, 1));
  ASSERT_EQ(0, a.Add(ep, blocking, EPOLLIN | et, 2));

  constexpr int kProducers = 2;
  std::atomic<bool> producing{true};
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> posted{0};
  std::atomic<uint64_t> taken{0};
  std::atomic<uint64_t> blocked_posted{0};
  std::atomic<uint64_t> blocked_taken{0};

  Watchdog wd(
      "eventfd posts",
      [&] {
        stop = true;
        for (int i = 0; i < 4; ++i) {
          a.Post(efd);
          a.Post(blocking);
        }
      },
      [&] {
        return "posted " + std::to_string(posted.load()) + " taken " + std::to_string(taken.load()) +
               "; blocking posted " + std::to_string(blocked_posted.load()) + " taken " +
               std::to_string(blocked_taken.load());
      });

  std::atomic<int> exited{0};
  auto loop = [&] {
    std::array<epoll_event, 4> out{};
    while (!stop.load()) {
      const int n = a.epoll_wait(ep, out.data(), static_cast<int>(out.size()), -1);
      for (int i = 0; i < n; ++i) {
        if (DataOf(out[static_cast<size_t>(i)]) != 1) continue;  // the blocking fd's
        uint64_t v = 0;
        if (a.Take(efd, &v) == 0) taken += v;
      }
    }
    exited++;
  };
  std::thread loop1(loop);
  std::thread loop2(loop);
  // Blocks in read() on its own eventfd, fed one unit at a time by the first producer.
  std::thread reader([&] {
    while (!stop.load()) {
      uint64_t v = 0;
      if (a.Take(blocking, &v) == 0) blocked_taken += v;
    }
    exited++;
  });
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (long n = 0; producing.load(); ++n) {
        if (a.Post(efd) == 0) posted++;
        if (p == 0 && n % 64 == 0 && blocked_posted.load() == blocked_taken.load()) {
          if (a.Post(blocking) == 0) blocked_posted++;
        }
        if (n % 1024 == 0) std::this_thread::yield();
      }
    });
  }
  std::this_thread::sleep_until(BudgetEnd());
  producing = false;
  for (auto& t : producers) t.join();
  // Everything posted is taken without another post: wake-ups were not lost.
  EXPECT_TRUE(wd.WaitFor([&] { return taken.load() == posted.load(); }))
      << taken.load() << " of " << posted.load();
  EXPECT_TRUE(wd.WaitFor([&] { return blocked_taken.load() == blocked_posted.load(); }))
      << blocked_taken.load() << " of " << blocked_posted.load();
  stop = true;
  // Wakes the loops and the reader until all three are out (one post may be read by a
  // loop that then leaves another asleep on a consumed edge).
  while (exited.load() < 3 && !wd.Fired()) {
    a.Post(efd, 1);
    a.Post(blocking, 1);
    std::this_thread::sleep_for(milliseconds(1));
  }
  loop1.join();
  loop2.join();
  reader.join();
  wd.Disarm();
  EXPECT_GT(posted.load(), 0U);
  a.close(efd);
  a.close(blocking);
  a.close(ep);
}

// Posts in bursts after gaps of every length, so that the loop meets each in another
// state: busy, spinning before it sleeps (busy-poll: no waiter queued, the post's
// callback wakes nobody), asleep (the post wakes it), or asleep while the other loop
// spins (the post wakes the sleeper). After each burst the producer waits for the loops to read all of
// it, with no further post: a lost wake-up leaves the count unread. A wait(-1) never
// comes back empty.
TEST_P(EventfdPosts, BurstsAndGapsReachALoopThatSpinsOrSleeps) {
  const Api& a = *GetParam().api;
  const int ep = a.epoll_create1(0);
  const int efd = a.eventfd(0, EFD_NONBLOCK);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  const uint32_t et = GetParam().mode == Mode::kEdge ? uint32_t{EPOLLET} : 0U;
  ASSERT_EQ(0, a.Add(ep, efd, EPOLLIN | et, 1));
  a.SetBusyPoll(ep, 32);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> posted{0};
  std::atomic<uint64_t> taken{0};
  std::atomic<int> empty_returns{0};
  Watchdog wd(
      "bursts to a loop",
      [&] {
        stop = true;
        for (int i = 0; i < 4; ++i) a.Post(efd);
      },
      [&] { return "posted " + std::to_string(posted.load()) + " taken " + std::to_string(taken.load()); });
  std::atomic<int> exited{0};
  auto loop = [&] {
    std::array<epoll_event, 4> out{};
    while (!stop.load()) {
      const int n = a.epoll_wait(ep, out.data(), static_cast<int>(out.size()), -1);
      if (n <= 0) empty_returns++;
      for (int i = 0; i < n; ++i) {
        uint64_t v = 0;
        if (a.Take(efd, &v) == 0) taken += v;
      }
    }
    exited++;
  };
  std::thread loop1(loop);
  std::thread loop2(loop);
  uint32_t rng = 0x9e3779b9U;
  int bursts = 0;
  for (const auto end = BudgetEnd(); Clock::now() < end && !wd.Fired(); ++bursts) {
    rng = rng * 1664525U + 1013904223U;
    switch ((rng >> 20) % 4) {
      case 0:
        break;  // the loops have just gone idle: one spins, or both sleep
      case 1:
        std::this_thread::yield();
        break;
      case 2:  // about a spin's length
        for (int i = 0; i < static_cast<int>((rng >> 4) % 256); ++i) {
          std::atomic_signal_fence(std::memory_order_seq_cst);
        }
        break;
      default:  // long enough for the loops to sleep
        std::this_thread::sleep_for(std::chrono::microseconds(20 + (rng >> 4) % 100));
        break;
    }
    // Long enough, often, for a woken loop to find the next posts without sleeping, so
    // that it spins when the burst ends.
    const uint32_t burst = 1 + (rng >> 8) % 2048;
    for (uint32_t i = 0; i < burst; ++i) {
      if (a.Post(efd) == 0) posted++;
    }
    for (int i = 0; i < 20000 && taken.load() != posted.load(); ++i) std::this_thread::yield();
    if (!wd.WaitFor([&] { return taken.load() == posted.load(); })) break;
  }
  EXPECT_EQ(taken.load(), posted.load()) << "after " << bursts << " bursts";
  stop = true;
  while (exited.load() < 2 && !wd.Fired()) {
    a.Post(efd);
    std::this_thread::sleep_for(milliseconds(1));
  }
  loop1.join();
  loop2.join();
  wd.Disarm();
  EXPECT_EQ(empty_returns.load(), 0);
  EXPECT_GT(bursts, 0);
  a.close(efd);
  a.close(ep);
}

INSTANTIATE_TEST_SUITE_P(Stress, EventfdPosts,
                         ::testing::Values(Case{&KernelApi(), Mode::kEdge},
                                           Case{&KernelApi(), Mode::kLevel},
                                           Case{&UepollApi(), Mode::kEdge},
                                           Case{&UepollApi(), Mode::kLevel}),
                         CaseName);

// Producers send (blocking on a small channel); one loop drains through an instance with
// recv_many, sleeping in wait(-1) when the channel is empty, and two more threads block in
// recv(). The sum and the count of what came out are what went in.
// The loop drains until EAGAIN, beside two blocking receivers; or (`short_waits`) it is
// the only receiver and waits as soon as a recv_many returns fewer elements than it asked
// for, the other end of a drain that the edge allows (no receiver's wait re-arms the edge
// for it then).
TEST(ChannelPosts, CountsInEqualCountsOut) {
  for (int variant = 0; variant < 4; ++variant) {
    const uint32_t et = variant < 2 ? uint32_t{EPOLLET} : 0U;
    const bool short_waits = variant % 2 == 1;
    auto ch = Channel<uint64_t>::create(8).value();
    const int ep = uep_epoll_create1(0);
    ASSERT_GE(ep, 0);
    epoll_event ev{};
    ev.events = EPOLLIN | et;
    ASSERT_EQ(0, uep_epoll_ctl(ep, EPOLL_CTL_ADD, ch.get(), &ev));
    constexpr int kProducers = 3;
    std::atomic<bool> producing{true};
    std::atomic<uint64_t> sent{0};
    std::atomic<uint64_t> sent_sum{0};
    std::atomic<uint64_t> got{0};
    std::atomic<uint64_t> got_sum{0};
    Watchdog wd("channel posts", [&] { ch.close(); },
                [&] { return "sent " + std::to_string(sent.load()) + " got " + std::to_string(got.load()); });
    std::thread loop([&] {
      std::array<uint64_t, 16> buf{};
      std::array<epoll_event, 2> out{};
      for (;;) {
        auto r = ch.recv_many(buf);
        if (!r) {
          if (r.error().value() == EPIPE) return;
          uep_epoll_wait(ep, out.data(), static_cast<int>(out.size()), -1);
          continue;
        }
        for (size_t i = 0; i < *r; ++i) got_sum += buf[i];
        got += *r;
        if (short_waits && *r < buf.size()) {
          uep_epoll_wait(ep, out.data(), static_cast<int>(out.size()), -1);
        }
      }
    });
    std::vector<std::thread> receivers;
    for (int i = 0; i < (short_waits ? 0 : 2); ++i) {
      receivers.emplace_back([&] {
        for (;;) {
          auto r = ch.recv();
          if (!r) return;  // EPIPE: closed and drained
          got_sum += *r;
          got++;
        }
      });
    }
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p) {
      producers.emplace_back([&, p] {
        for (uint64_t n = 1; producing.load(); ++n) {
          const uint64_t v = n * kProducers + static_cast<uint64_t>(p);
          if (!ch.send(v)) return;
          sent++;
          sent_sum += v;
        }
      });
    }
    std::this_thread::sleep_until(BudgetEnd(0.25));
    producing = false;
    for (auto& t : producers) t.join();
    EXPECT_TRUE(wd.WaitFor([&] { return got.load() == sent.load(); }))
        << got.load() << " of " << sent.load() << (et != 0 ? " (edge" : " (level")
        << (short_waits ? ", waits after a short batch)" : ")");
    ch.close();  // ends the loop and the receivers, once drained
    loop.join();
    for (auto& t : receivers) t.join();
    wd.Disarm();
    EXPECT_EQ(got.load(), sent.load());
    EXPECT_EQ(got_sum.load(), sent_sum.load());
    EXPECT_GT(sent.load(), 0U);
    uep_close(ep);
  }
}

// Batches claimed by several receivers at once: recv_many of different sizes on three
// threads, try_recv on a fourth, producers sending each value of their own range once, on
// a small channel that wraps around all the time. Every value comes out exactly once.
TEST(ChannelPosts, BatchReceiversTakeEachValueOnce) {
  constexpr int kProducers = 3;
  constexpr uint64_t kPerProducer = 100000;
  const auto end = BudgetEnd();
  for (int round = 0; round < 1 || (Clock::now() < end && !HasFailure()); ++round) {
    auto ch = Channel<uint64_t>::create(round % 2 == 0 ? 64 : 48).value();
    std::vector<std::atomic<uint8_t>> seen(kProducers * kPerProducer);
    std::atomic<uint64_t> got{0};
    Watchdog wd("channel batches", [&] { ch.close(); },
                [&] { return "got " + std::to_string(got.load()); });
    auto record = [&](uint64_t v) {
      if (v < seen.size()) seen[v].fetch_add(1, std::memory_order_relaxed);
      got.fetch_add(1, std::memory_order_relaxed);
    };
    std::vector<std::thread> receivers;
    for (const size_t batch : {size_t{1}, size_t{7}, size_t{64}}) {
      receivers.emplace_back([&, batch] {
        std::vector<uint64_t> buf(batch);
        for (;;) {
          auto r = ch.recv_many(buf);
          if (r) {
            for (size_t i = 0; i < *r; ++i) record(buf[i]);
          } else if (r.error().value() == EPIPE) {
            return;
          } else {
            std::this_thread::yield();
          }
        }
      });
    }
    receivers.emplace_back([&] {
      for (;;) {
        auto r = ch.try_recv();
        if (r) {
          record(*r);
        } else if (r.error().value() == EPIPE) {
          return;
        } else {
          std::this_thread::yield();
        }
      }
    });
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p) {
      producers.emplace_back([&, p] {
        for (uint64_t n = 0; n < kPerProducer; ++n) {
          if (!ch.send(static_cast<uint64_t>(p) * kPerProducer + n)) return;
        }
      });
    }
    for (auto& t : producers) t.join();
    EXPECT_TRUE(wd.WaitFor([&] { return got.load() >= seen.size(); })) << got.load();
    ch.close();
    for (auto& t : receivers) t.join();
    wd.Disarm();
    EXPECT_EQ(got.load(), seen.size());
    size_t wrong = 0;
    for (auto& c : seen) wrong += c.load() != 1 ? 1 : 0;
    EXPECT_EQ(wrong, 0U) << "values not received exactly once (round " << round << ")";
  }
}

// The channel is closed while producers are blocked on it, full: each blocked send fails
// with EPIPE, every send that succeeded is received, nothing else is.
TEST(ChannelPosts, CloseWhileProducersBlock) {
  const auto end = BudgetEnd();
  int rounds = 0;
  while (Clock::now() < end || rounds < 3) {
    ++rounds;
    auto ch = Channel<uint64_t>::create(4).value();
    constexpr int kProducers = 3;
    std::atomic<uint64_t> sent{0};
    std::atomic<uint64_t> sent_sum{0};
    std::atomic<int> epipe{0};
    Watchdog wd("channel close", [&] { ch.close(); });
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p) {
      producers.emplace_back([&, p] {
        for (uint64_t n = 1;; ++n) {
          const uint64_t v = n * kProducers + static_cast<uint64_t>(p);
          auto r = ch.send(v);
          if (!r) {
            if (r.error().value() == EPIPE) epipe++;
            return;
          }
          sent++;
          sent_sum += v;
        }
      });
    }
    uint64_t got = 0;
    uint64_t got_sum = 0;
    // Take a few, then wait until producers block on the full channel, and close it.
    for (int i = 0; i < 3 * rounds % 50; ++i) {
      auto r = ch.recv();
      if (!r) break;
      got++;
      got_sum += *r;
    }
    // Full again, or (senders sleep until half of it is free) left short of full.
    const auto settle = Clock::now() + milliseconds(20);
    wd.WaitFor([&] { return ch.size() == ch.capacity() || Clock::now() > settle; });
    ch.close();
    for (auto& t : producers) t.join();
    for (;;) {
      auto r = ch.try_recv();
      if (!r) {
        EXPECT_EQ(r.error().value(), EPIPE);
        break;
      }
      got++;
      got_sum += *r;
    }
    wd.Disarm();
    EXPECT_EQ(epipe.load(), kProducers);
    EXPECT_EQ(got, sent.load());
    EXPECT_EQ(got_sum, sent_sum.load());
    if (HasFailure()) break;
  }
}

}  // namespace
}  // namespace uep::stress
