// uep::Channel<T> and, through it, the public extension point (uepoll/file.hpp).
#include "uepoll/channel.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/epoll.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "uepoll/file.hpp"
#include "uepoll/uepoll.h"
#include "uepoll/uepoll.hpp"

namespace {

using namespace std::chrono_literals;

constexpr uint32_t kIn = EPOLLIN | EPOLLRDNORM;
constexpr uint32_t kOut = EPOLLOUT | EPOLLWRNORM;

uint32_t Mask(const uep::Channel<int>& ch) { return static_cast<uint32_t>(ch.events()); }

int Wait(int ep, epoll_event* out, int n, int timeout_ms) {
  return uep_epoll_wait(ep, out, n, timeout_ms);
}

TEST(ChannelTest, CreateRejectsZeroCapacity) {
  auto r = uep::Channel<int>::create(0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().value(), EINVAL);
}

TEST(ChannelTest, ReadinessMasks) {
  auto ch = uep::Channel<int>::create(2).value();
  EXPECT_TRUE(uep_is_uepoll_fd(ch.get()));
  EXPECT_EQ(Mask(ch), kOut);  // empty: writable only
  ASSERT_TRUE(ch.try_send(1));
  EXPECT_EQ(Mask(ch), kIn | kOut);  // neither empty nor full
  ASSERT_TRUE(ch.try_send(2));
  EXPECT_EQ(Mask(ch), kIn);  // full: readable only
  auto full = ch.try_send(3);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().value(), EAGAIN);
  EXPECT_EQ(ch.try_recv().value(), 1);  // FIFO
  EXPECT_EQ(Mask(ch), kIn | kOut);
  EXPECT_EQ(ch.try_recv().value(), 2);
  auto empty = ch.try_recv();
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().value(), EAGAIN);
  EXPECT_EQ(Mask(ch), kOut);

  // The same masks through uep_poll.
  ASSERT_TRUE(ch.try_send(5));
  pollfd p{ch.get(), POLLIN | POLLOUT, 0};
  ASSERT_EQ(uep_poll(&p, 1, 0), 1);
  EXPECT_EQ(p.revents, POLLIN | POLLOUT);
}

TEST(ChannelTest, CloseHangsUpAndDrains) {
  auto ch = uep::Channel<int>::create(4).value();
  ASSERT_TRUE(ch.try_send(7));
  ch.close();
  EXPECT_TRUE(ch.closed());
  EXPECT_EQ(Mask(ch), kIn | EPOLLHUP);
  auto s = ch.try_send(8);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().value(), EPIPE);
  EXPECT_EQ(ch.try_recv().value(), 7);
  EXPECT_EQ(Mask(ch), static_cast<uint32_t>(EPOLLHUP));
  auto r = ch.recv();  // does not block once closed
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().value(), EPIPE);
}

TEST(ChannelTest, FailedSendKeepsTheValue) {
  auto ch = uep::Channel<std::unique_ptr<int>>::create(1).value();
  ASSERT_TRUE(ch.try_send(std::make_unique<int>(1)));
  auto p = std::make_unique<int>(2);
  ASSERT_FALSE(ch.try_send(std::move(p)));
  ASSERT_NE(p, nullptr);  // not moved from
  EXPECT_EQ(*p, 2);
  EXPECT_EQ(*ch.try_recv().value(), 1);
}

TEST(ChannelTest, EpollLevelTriggered) {
  auto ch = uep::Channel<int>::create(8).value();
  const int ep = uep_epoll_create1(0);
  ASSERT_GE(ep, 0);
  epoll_event e{};
  e.events = EPOLLIN;
  e.data.u64 = 42;
  ASSERT_EQ(uep_epoll_ctl(ep, EPOLL_CTL_ADD, ch.get(), &e), 0);
  epoll_event out[4];
  EXPECT_EQ(Wait(ep, out, 4, 0), 0);
  ASSERT_TRUE(ch.try_send(1));
  ASSERT_TRUE(ch.try_send(2));
  ASSERT_EQ(Wait(ep, out, 4, 0), 1);
  EXPECT_EQ(out[0].events, static_cast<uint32_t>(EPOLLIN));
  EXPECT_EQ(uint64_t{out[0].data.u64}, 42U);  // epoll_event is packed: copy
  ASSERT_EQ(Wait(ep, out, 4, 0), 1);  // level-triggered: still reported
  EXPECT_EQ(ch.try_recv().value(), 1);
  ASSERT_EQ(Wait(ep, out, 4, 0), 1);
  EXPECT_EQ(ch.try_recv().value(), 2);
  EXPECT_EQ(Wait(ep, out, 4, 0), 0);  // drained: dropped from the ready list

  // EPOLLOUT watch: ready while there is room.
  e.events = EPOLLOUT;
  ASSERT_EQ(uep_epoll_ctl(ep, EPOLL_CTL_MOD, ch.get(), &e), 0);
  ASSERT_EQ(Wait(ep, out, 4, 0), 1);
  EXPECT_EQ(out[0].events, static_cast<uint32_t>(EPOLLOUT));
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(ch.try_send(i));
  EXPECT_EQ(Wait(ep, out, 4, 0), 0);  // full
  EXPECT_EQ(ch.try_recv().value(), 0);
  ASSERT_EQ(Wait(ep, out, 4, 0), 1);  // room again
  uep_close(ep);
}

TEST(ChannelTest, EpollEdgeTriggered) {
  auto ch = uep::Channel<int>::create(8).value();
  const int ep = uep_epoll_create1(0);
  ASSERT_GE(ep, 0);
  epoll_event e{};
  e.events = EPOLLIN | EPOLLOUT | EPOLLET;
  e.data.u64 = 9;
  ASSERT_EQ(uep_epoll_ctl(ep, EPOLL_CTL_ADD, ch.get(), &e), 0);
  epoll_event out[4];
  ASSERT_EQ(Wait(ep, out, 4, 0), 1);  // initially writable
  EXPECT_EQ(out[0].events, static_cast<uint32_t>(EPOLLOUT));
  EXPECT_EQ(Wait(ep, out, 4, 0), 0);  // edge consumed
  ASSERT_TRUE(ch.try_send(1));
  ASSERT_EQ(Wait(ep, out, 4, 0), 1);  // the send is an edge
  EXPECT_EQ(out[0].events, static_cast<uint32_t>(EPOLLIN | EPOLLOUT));
  EXPECT_EQ(Wait(ep, out, 4, 0), 0);  // no new edge, although still readable
  ASSERT_TRUE(ch.try_send(2));
  EXPECT_EQ(Wait(ep, out, 4, 0), 0);  // not empty before: no new edge
  EXPECT_EQ(ch.try_recv().value(), 1);
  EXPECT_EQ(ch.try_recv().value(), 2);
  EXPECT_EQ(Wait(ep, out, 4, 0), 0);  // draining is no edge for EPOLLIN
  ASSERT_TRUE(ch.try_send(3));
  ASSERT_EQ(Wait(ep, out, 4, 0), 1);  // empty -> non-empty: an edge
  EXPECT_EQ(out[0].events, static_cast<uint32_t>(EPOLLIN | EPOLLOUT));
  EXPECT_EQ(Wait(ep, out, 4, 0), 0);
  ch.close();
  ASSERT_EQ(Wait(ep, out, 4, 0), 1);  // close is an edge with EPOLLHUP
  EXPECT_EQ(out[0].events, static_cast<uint32_t>(EPOLLIN | EPOLLHUP));
  uep_close(ep);
}

TEST(ChannelTest, EpollWaitWakesOnSendFromAnotherThread) {
  auto ch = uep::Channel<int>::create(1).value();
  auto ep = uep::Epoll::create().value();
  ep.add(ch, uep::Events::in, 1).value();
  std::thread producer([&] {
    std::this_thread::sleep_for(20ms);
    ch.send(123).value();
  });
  std::array<epoll_event, 2> out{};
  auto n = ep.wait(out, 10s);
  producer.join();
  ASSERT_TRUE(n);
  ASSERT_EQ(*n, 1U);
  EXPECT_EQ(ch.try_recv().value(), 123);
}

TEST(ChannelTest, BlockingSendAndRecv) {
  auto ch = uep::Channel<int>::create(1).value();
  ASSERT_TRUE(ch.try_send(1));
  std::thread consumer([&] {
    std::this_thread::sleep_for(20ms);
    EXPECT_EQ(ch.recv().value(), 1);
    EXPECT_EQ(ch.recv().value(), 2);
  });
  ASSERT_TRUE(ch.send(2));  // blocks until the consumer made room
  consumer.join();
  EXPECT_EQ(ch.size(), 0U);
}

TEST(ChannelTest, TimeoutsExpire) {
  auto ch = uep::Channel<int>::create(1).value();
  const auto t0 = std::chrono::steady_clock::now();
  auto r = ch.recv_for(30ms);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 30ms);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().value(), ETIMEDOUT);
  ASSERT_TRUE(ch.try_send(1));
  auto s = ch.send_for(2, 10ms);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().value(), ETIMEDOUT);
  auto z = ch.send_for(2, 0ms);
  ASSERT_FALSE(z);
  EXPECT_EQ(z.error().value(), ETIMEDOUT);
}

TEST(ChannelTest, CloseWakesBlockedReceivers) {
  auto ch = uep::Channel<int>::create(1).value();
  std::thread consumer([&] {
    auto r = ch.recv();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().value(), EPIPE);
  });
  std::this_thread::sleep_for(20ms);
  ch.close();
  consumer.join();
}

TEST(ChannelTest, ReadWriteThroughTheDescriptor) {
  auto ch = uep::Channel<uint64_t>::create(2, uep::ChannelFlags::nonblock).value();
  uint64_t v = 77;
  ASSERT_EQ(uep_write(ch.get(), &v, sizeof v), static_cast<ssize_t>(sizeof v));
  EXPECT_EQ(ch.try_recv().value(), 77U);
  ASSERT_TRUE(ch.try_send(88));
  uint64_t got = 0;
  ASSERT_EQ(uep_read(ch.get(), &got, sizeof got), static_cast<ssize_t>(sizeof got));
  EXPECT_EQ(got, 88U);
  EXPECT_EQ(uep_read(ch.get(), &got, sizeof got), -1);
  EXPECT_EQ(errno, EAGAIN);
  EXPECT_EQ(uep_read(ch.get(), &got, 4), -1);
  EXPECT_EQ(errno, EINVAL);
  // A non-trivially-copyable element type has no read/write.
  auto strings = uep::Channel<std::string>::create(1).value();
  char buf[64];
  EXPECT_EQ(uep_read(strings.get(), buf, sizeof buf), -1);
  EXPECT_EQ(errno, EINVAL);
}

TEST(ChannelTest, BlockingReadThroughTheDescriptor) {
  auto ch = uep::Channel<uint64_t>::create(1).value();
  std::thread producer([&] {
    std::this_thread::sleep_for(20ms);
    ch.send(5).value();
  });
  uint64_t got = 0;
  ASSERT_EQ(uep_read(ch.get(), &got, sizeof got), static_cast<ssize_t>(sizeof got));
  producer.join();
  EXPECT_EQ(got, 5U);
}

// The epoll item goes away with the last descriptor, before the channel state does.
TEST(ChannelTest, DescriptorCloseRemovesEpollItem) {
  const int ep = uep_epoll_create1(0);
  ASSERT_GE(ep, 0);
  int dup_fd = -1;
  {
    auto ch = uep::Channel<int>::create(1).value();
    dup_fd = uep_dup(ch.get());
    ASSERT_GE(dup_fd, 0);
    epoll_event e{};
    e.events = EPOLLIN;
    ASSERT_EQ(uep_epoll_ctl(ep, EPOLL_CTL_ADD, dup_fd, &e), 0);
    ASSERT_TRUE(ch.try_send(1));
  }
  epoll_event out[1];
  EXPECT_EQ(Wait(ep, out, 1, 0), 1);  // the dup keeps the file alive
  ASSERT_EQ(uep_close(dup_fd), 0);
  EXPECT_EQ(Wait(ep, out, 1, 0), 0);  // the item died with the file
  uep_close(ep);
}

// Producers and consumers on many threads, consumers driven by epoll (ET) and by blocking
// recv: every value arrives exactly once.
TEST(ChannelTest, MultiProducerMultiConsumerCounts) {
  constexpr int kProducers = 4;
  constexpr int kPerProducer = 20000;
  constexpr int kEpollConsumers = 2;
  constexpr int kBlockingConsumers = 2;
  auto ch = uep::Channel<int>::create(64).value();
  std::vector<std::atomic<int>> seen(kProducers * kPerProducer);
  std::atomic<long> received{0};
  std::atomic<long long> sum{0};

  auto consume = [&](int v) {
    seen[static_cast<size_t>(v)].fetch_add(1, std::memory_order_relaxed);
    sum.fetch_add(v, std::memory_order_relaxed);
    received.fetch_add(1, std::memory_order_relaxed);
  };

  std::vector<std::thread> threads;
  for (int c = 0; c < kEpollConsumers; ++c) {
    threads.emplace_back([&] {
      auto ep = uep::Epoll::create().value();
      ep.add(ch, uep::Events::in | uep::Events::et, 0).value();
      std::array<epoll_event, 4> out{};
      for (;;) {
        auto n = ep.wait(out, 10s);
        ASSERT_TRUE(n);
        ASSERT_GT(*n, 0U) << "no event within 10 s";
        for (;;) {  // edge-triggered: drain
          auto v = ch.try_recv();
          if (!v) {
            if (v.error().value() == EPIPE) return;
            ASSERT_EQ(v.error().value(), EAGAIN);
            break;
          }
          consume(*v);
        }
      }
    });
  }
  for (int c = 0; c < kBlockingConsumers; ++c) {
    threads.emplace_back([&] {
      for (;;) {
        auto v = ch.recv();
        if (!v) {
          ASSERT_EQ(v.error().value(), EPIPE);
          return;
        }
        consume(*v);
      }
    });
  }
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i) {
        const int v = p * kPerProducer + i;
        if (i % 2 == 0) {
          ASSERT_TRUE(ch.send(v));
        } else {
          while (true) {  // try_send with a spin on EAGAIN
            auto r = ch.try_send(v);
            if (r) break;
            ASSERT_EQ(r.error().value(), EAGAIN);
            std::this_thread::yield();
          }
        }
      }
    });
  }
  for (auto& t : producers) t.join();
  ch.close();
  for (auto& t : threads) t.join();

  constexpr long kTotal = static_cast<long>(kProducers) * kPerProducer;
  EXPECT_EQ(received.load(), kTotal);
  EXPECT_EQ(sum.load(), static_cast<long long>(kTotal) * (kTotal - 1) / 2);
  int bad = 0;
  for (auto& s : seen) bad += s.load() != 1 ? 1 : 0;
  EXPECT_EQ(bad, 0);
}

}  // namespace

namespace {

TEST(ChannelTest, CapacityIsExactWhateverItsSize) {
  for (std::size_t cap : {1U, 2U, 3U, 5U, 8U, 100U}) {
    auto ch = uep::Channel<int>::create(cap).value();
    for (std::size_t i = 0; i < cap; ++i) ASSERT_TRUE(ch.try_send(static_cast<int>(i))) << cap;
    auto r = ch.try_send(-1);
    ASSERT_FALSE(r) << cap;
    EXPECT_EQ(r.error().value(), EAGAIN);
    EXPECT_EQ(ch.size(), cap);
    EXPECT_EQ(Mask(ch), static_cast<uint32_t>(EPOLLIN | EPOLLRDNORM));
    EXPECT_EQ(ch.try_recv().value(), 0);
    ASSERT_TRUE(ch.try_send(static_cast<int>(cap)));
    for (std::size_t i = 1; i <= cap; ++i) EXPECT_EQ(ch.try_recv().value(), static_cast<int>(i));
    EXPECT_FALSE(ch.try_recv());
  }
}

TEST(ChannelTest, RecvManyTakesABatchInOrder) {
  auto ch = uep::Channel<std::string>::create(16).value();
  std::array<std::string, 4> out;
  auto none = ch.recv_many(out);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().value(), EAGAIN);
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(ch.try_send(std::to_string(i)));
  ASSERT_EQ(ch.recv_many(out).value(), 4U);
  EXPECT_EQ(out[0], "0");
  EXPECT_EQ(out[3], "3");
  ASSERT_EQ(ch.recv_many(out).value(), 2U);  // fewer than asked: now empty
  EXPECT_EQ(out[1], "5");
  EXPECT_EQ(ch.size(), 0U);
  ch.close();
  auto closed = ch.recv_many(out);
  ASSERT_FALSE(closed);
  EXPECT_EQ(closed.error().value(), EPIPE);
}


// A batch lowers EPOLLIN when it leaves the channel empty, also when it filled its span
// exactly (and so never saw "empty"): the next send is an edge for an ET watcher.
TEST(ChannelTest, RecvManyThatEmptiesMakesTheNextSendAnEdge) {
  auto ch = uep::Channel<int>::create(8).value();
  const int ep = uep_epoll_create1(0);
  ASSERT_GE(ep, 0);
  epoll_event e{};
  e.events = EPOLLIN | EPOLLET;
  ASSERT_EQ(uep_epoll_ctl(ep, EPOLL_CTL_ADD, ch.get(), &e), 0);
  epoll_event out[4];
  std::array<int, 3> batch{};
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(ch.try_send(i));
    ASSERT_EQ(Wait(ep, out, 4, 0), 1) << "round " << round;  // empty -> non-empty
    ASSERT_EQ(ch.recv_many(batch).value(), 3U);  // the span is full and the channel empty
    EXPECT_EQ(Wait(ep, out, 4, 0), 0);
  }
  // A batch that leaves elements behind lowers nothing: no edge for a send then.
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(ch.try_send(i));
  ASSERT_EQ(Wait(ep, out, 4, 0), 1);
  ASSERT_EQ(ch.recv_many(batch).value(), 3U);
  ASSERT_TRUE(ch.try_send(5));
  EXPECT_EQ(Wait(ep, out, 4, 0), 0);
  uep_close(ep);
}
// EPOLLOUT is an edge when a full channel gets room, for an edge-triggered watcher that
// found it full.
TEST(ChannelTest, EdgeTriggeredRoomAfterFull) {
  auto ch = uep::Channel<int>::create(2).value();
  const int ep = uep_epoll_create1(0);
  ASSERT_GE(ep, 0);
  epoll_event e{};
  e.events = EPOLLOUT | EPOLLET;
  ASSERT_EQ(uep_epoll_ctl(ep, EPOLL_CTL_ADD, ch.get(), &e), 0);
  epoll_event out[4];
  ASSERT_EQ(Wait(ep, out, 4, 0), 1);  // writable at first
  ASSERT_TRUE(ch.try_send(1));
  ASSERT_TRUE(ch.try_send(2));
  EXPECT_FALSE(ch.try_send(3));
  EXPECT_EQ(Wait(ep, out, 4, 0), 0);
  EXPECT_EQ(ch.try_recv().value(), 1);
  ASSERT_EQ(Wait(ep, out, 4, 0), 1);  // room again: an edge
  EXPECT_EQ(out[0].events, static_cast<uint32_t>(EPOLLOUT));
  uep_close(ep);
}

TEST(ChannelTest, CloseWakesBlockedSendersWithEpipe) {
  auto ch = uep::Channel<int>::create(1).value();
  ASSERT_TRUE(ch.try_send(1));
  std::thread producer([&] {
    auto r = ch.send(2);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().value(), EPIPE);
  });
  std::this_thread::sleep_for(20ms);
  ch.close();
  producer.join();
  EXPECT_EQ(ch.try_recv().value(), 1);  // what was sent before the close is drained
  EXPECT_EQ(ch.try_recv().error().value(), EPIPE);
}

TEST(ChannelTest, UnreceivedElementsAreDestroyed) {
  auto counter = std::make_shared<int>(0);
  {
    auto ch = uep::Channel<std::shared_ptr<int>>::create(4).value();
    ASSERT_TRUE(ch.try_send(counter));
    ASSERT_TRUE(ch.try_send(counter));
    EXPECT_EQ(counter.use_count(), 3);
  }
  EXPECT_EQ(counter.use_count(), 1);
}

}  // namespace
