// Producers -> one event loop: P threads each post `per_producer` payloads to one loop
// thread, which sleeps when it has nothing to do and sums what it receives; the sum is
// checked. One function per way of doing it, the peers (libuv, libevent, Boost.Asio) built
// only when their headers were found (UEPOLL_BENCH_HAVE_*), and a table of interleaved
// repetitions (median, range) that `uepoll bench` and producers_bench print.
#pragma once

#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "apis.h"
#include "uepoll/channel.hpp"

#if UEPOLL_BENCH_HAVE_LIBUV
#include <uv.h>
#endif
#if UEPOLL_BENCH_HAVE_LIBEVENT
#include <event2/event.h>
#include <event2/thread.h>
#endif
#if UEPOLL_BENCH_HAVE_ASIO
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#endif

namespace uep::bench::producers {

using PClock = std::chrono::steady_clock;

struct Outcome {
  double rate = 0;   // posts per second, first post to last receipt
  bool sum_ok = false;
};

// Producer p's n-th payload; never 0 (an eventfd write of 0 is not a post).
inline uint64_t Payload(int p, long n) { return static_cast<uint64_t>(p) * 1000003U + static_cast<uint64_t>(n) + 1; }

inline uint64_t ExpectedSum(int producers, long per) {
  uint64_t sum = 0;
  for (int p = 0; p < producers; ++p) {
    for (long n = 0; n < per; ++n) sum += Payload(p, n);
  }
  return sum;
}

// Starts the producers together and times from the start to the loop's return.
template <class Produce, class Loop>
Outcome Timed(int producers, long per, Produce produce, Loop loop) {
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(producers));
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      produce(p);
    });
  }
  const auto start = PClock::now();
  go.store(true, std::memory_order_release);
  const uint64_t sum = loop();
  const double secs = std::chrono::duration<double>(PClock::now() - start).count();
  for (auto& t : threads) t.join();
  Outcome o;
  o.rate = static_cast<double>(producers) * static_cast<double>(per) / secs;
  o.sum_ok = sum == ExpectedSum(producers, per);
  return o;
}

// One eventfd per producer, written once per post with the payload; the loop waits on an
// instance watching them (edge-triggered) and reads each one reported: it sums counts.
template <class Api>
Outcome EventfdPerPost(int producers, long per) {
  const int ep = Api::EpollCreate();
  std::vector<int> fds;
  for (int p = 0; p < producers; ++p) {
    fds.push_back(Api::EventFd(0, EFD_NONBLOCK));
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.fd = fds.back();
    Api::Ctl(ep, EPOLL_CTL_ADD, fds.back(), &ev);
  }
  const uint64_t expected = ExpectedSum(producers, per);
  const Outcome o = Timed(
      producers, per,
      [&](int p) {
        const int fd = fds[static_cast<size_t>(p)];
        for (long n = 0; n < per; ++n) {
          const uint64_t v = Payload(p, n);
          Api::Write(fd, &v, sizeof v);
        }
      },
      [&] {
        uint64_t sum = 0;
        std::array<epoll_event, 16> out{};
        while (sum < expected) {
          const int n = Api::Wait(ep, out.data(), static_cast<int>(out.size()), 5000);
          if (n <= 0) break;  // a lost wake-up: the sum check reports it
          for (int i = 0; i < n; ++i) {
            uint64_t v = 0;
            if (Api::Read(out[static_cast<size_t>(i)].data.fd, &v, sizeof v) == sizeof v) sum += v;
          }
        }
        return sum;
      });
  for (int fd : fds) Api::Close(fd);
  Api::Close(ep);
  return o;
}

// One uep::Channel shared by the producers (send blocks while full); the loop waits on an
// instance watching it (edge-triggered) and drains it in batches with recv_many.
inline Outcome ChannelPosts(int producers, long per, size_t capacity = 4096) {
  auto ch = Channel<uint64_t>::create(capacity).value();
  const int ep = uep_epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;
  uep_epoll_ctl(ep, EPOLL_CTL_ADD, ch.get(), &ev);
  const uint64_t total = static_cast<uint64_t>(producers) * static_cast<uint64_t>(per);
  const Outcome o = Timed(
      producers, per,
      [&](int p) {
        for (long n = 0; n < per; ++n) (void)ch.send(Payload(p, n));
      },
      [&] {
        uint64_t sum = 0;
        uint64_t got = 0;
        std::array<uint64_t, 256> buf{};
        std::array<epoll_event, 4> out{};
        while (got < total) {
          auto r = ch.recv_many(buf);
          if (!r) {
            if (uep_epoll_wait(ep, out.data(), static_cast<int>(out.size()), 5000) <= 0) break;
            continue;
          }
          for (size_t i = 0; i < *r; ++i) sum += buf[i];
          got += *r;
        }
        return sum;
      });
  uep_close(ep);
  return o;
}

// A vector under a mutex; the loop sleeps on a condition variable, notified when a post
// finds the queue empty, and takes the whole queue at once.
inline Outcome MutexCondvar(int producers, long per) {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<uint64_t> q;
  bool sleeping = false;
  const uint64_t total = static_cast<uint64_t>(producers) * static_cast<uint64_t>(per);
  return Timed(
      producers, per,
      [&](int p) {
        for (long n = 0; n < per; ++n) {
          bool wake = false;
          {
            std::lock_guard g(mu);
            q.push_back(Payload(p, n));
            wake = sleeping;
            sleeping = false;
          }
          if (wake) cv.notify_one();
        }
      },
      [&] {
        uint64_t sum = 0;
        uint64_t got = 0;
        std::vector<uint64_t> batch;
        while (got < total) {
          {
            std::unique_lock g(mu);
            while (q.empty()) {
              sleeping = true;
              cv.wait(g);
            }
            batch.swap(q);
          }
          for (uint64_t v : batch) sum += v;
          got += batch.size();
          batch.clear();
        }
        return sum;
      });
}

// The floor: one single-producer ring per producer, the loop spinning over them (it never
// sleeps, so it is no contender, only the cost of moving the data).
inline Outcome SpinningSpsc(int producers, long per) {
  constexpr size_t kRing = 4096;
  struct alignas(64) Ring {
    alignas(64) std::atomic<uint64_t> head{0};  // written by the producer
    alignas(64) std::atomic<uint64_t> tail{0};  // written by the loop
    std::array<uint64_t, kRing> slots{};
  };
  std::vector<std::unique_ptr<Ring>> rings;
  for (int p = 0; p < producers; ++p) rings.push_back(std::make_unique<Ring>());
  const uint64_t total = static_cast<uint64_t>(producers) * static_cast<uint64_t>(per);
  return Timed(
      producers, per,
      [&](int p) {
        Ring& r = *rings[static_cast<size_t>(p)];
        uint64_t head = 0;
        uint64_t tail_seen = 0;
        for (long n = 0; n < per; ++n) {
          for (unsigned spins = 0; head - tail_seen >= kRing; ++spins) {
            if (spins > 1000) std::this_thread::yield();  // the loop may share our CPU
            tail_seen = r.tail.load(std::memory_order_acquire);
          }
          r.slots[head % kRing] = Payload(p, n);
          r.head.store(++head, std::memory_order_release);
        }
      },
      [&] {
        uint64_t sum = 0;
        uint64_t got = 0;
        for (unsigned idle = 0; got < total;) {
          if (++idle > 1000) std::this_thread::yield();  // a producer may share our CPU
          for (auto& rp : rings) {
            Ring& r = *rp;
            const uint64_t head = r.head.load(std::memory_order_acquire);
            uint64_t tail = r.tail.load(std::memory_order_relaxed);
            if (head == tail) continue;
            idle = 0;
            for (; tail != head; ++tail) sum += r.slots[tail % kRing];
            got += head - r.tail.load(std::memory_order_relaxed);
            r.tail.store(head, std::memory_order_release);
          }
        }
        return sum;
      });
}

// The multi-producer queue the peers use, as their users do: an intrusive lock-free stack
// (one exchange per post) that the loop takes whole and reverses. Nodes are preallocated.
struct MpscNode {
  MpscNode* next;
  uint64_t payload;
};
struct Mpsc {
  std::atomic<MpscNode*> top{nullptr};
  // True if the stack was empty: the caller owes the loop a wake-up.
  bool Push(MpscNode* n) {
    MpscNode* old = top.load(std::memory_order_relaxed);
    do {
      n->next = old;
    } while (!top.compare_exchange_weak(old, n, std::memory_order_release, std::memory_order_relaxed));
    return old == nullptr;
  }
  // Sums and counts everything queued.
  void Drain(uint64_t* sum, uint64_t* got) {
    for (MpscNode* n = top.exchange(nullptr, std::memory_order_acquire); n != nullptr; n = n->next) {
      *sum += n->payload;
      ++*got;
    }
  }
};

struct MpscNodes {
  explicit MpscNodes(int producers, long per)
      : nodes(static_cast<size_t>(producers) * static_cast<size_t>(per)), per_(per) {}
  MpscNode* Node(int p, long n) {
    MpscNode* node = &nodes[static_cast<size_t>(p) * static_cast<size_t>(per_) + static_cast<size_t>(n)];
    node->payload = Payload(p, n);
    return node;
  }
  std::vector<MpscNode> nodes;
  long per_;
};

#if UEPOLL_BENCH_HAVE_LIBUV
// uv_async_send after each push (libuv coalesces sends into one callback).
inline Outcome LibuvAsync(int producers, long per) {
  struct Ctx {
    Mpsc q;
    uint64_t sum = 0;
    uint64_t got = 0;
    uint64_t total = 0;
    uv_async_t async{};
  } ctx;
  ctx.total = static_cast<uint64_t>(producers) * static_cast<uint64_t>(per);
  MpscNodes nodes(producers, per);
  uv_loop_t loop;
  uv_loop_init(&loop);
  ctx.async.data = &ctx;
  uv_async_init(&loop, &ctx.async, [](uv_async_t* a) {
    auto* c = static_cast<Ctx*>(a->data);
    c->q.Drain(&c->sum, &c->got);
    if (c->got >= c->total) uv_stop(a->loop);
  });
  const Outcome o = Timed(
      producers, per,
      [&](int p) {
        for (long n = 0; n < per; ++n) {
          ctx.q.Push(nodes.Node(p, n));
          uv_async_send(&ctx.async);
        }
      },
      [&] {
        uv_run(&loop, UV_RUN_DEFAULT);  // until the last payload's uv_stop
        return ctx.sum;
      });
  // The producers are joined: no uv_async_send can race with the close.
  uv_close(reinterpret_cast<uv_handle_t*>(&ctx.async), nullptr);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return o;
}
#endif

#if UEPOLL_BENCH_HAVE_LIBEVENT
// event_active from the producer that found the queue empty (libevent then writes its
// notification descriptor to wake the loop).
inline Outcome LibeventActive(int producers, long per) {
  static const bool threads_on = evthread_use_pthreads() == 0;
  (void)threads_on;
  struct Ctx {
    Mpsc q;
    uint64_t sum = 0;
    uint64_t got = 0;
    uint64_t total = 0;
    event_base* base = nullptr;
  } ctx;
  ctx.total = static_cast<uint64_t>(producers) * static_cast<uint64_t>(per);
  MpscNodes nodes(producers, per);
  ctx.base = event_base_new();
  event* ev = event_new(
      ctx.base, -1, 0,
      [](evutil_socket_t, short, void* arg) {
        auto* c = static_cast<Ctx*>(arg);
        c->q.Drain(&c->sum, &c->got);
        if (c->got >= c->total) event_base_loopbreak(c->base);
      },
      &ctx);
  // Keeps the loop running while nothing is active.
  event* keep = event_new(ctx.base, -1, EV_PERSIST, [](evutil_socket_t, short, void*) {}, nullptr);
  const timeval far{3600, 0};
  event_add(keep, &far);
  const Outcome o = Timed(
      producers, per,
      [&](int p) {
        for (long n = 0; n < per; ++n) {
          if (ctx.q.Push(nodes.Node(p, n))) event_active(ev, EV_READ, 0);
        }
      },
      [&] {
        event_base_dispatch(ctx.base);
        return ctx.sum;
      });
  event_free(keep);
  event_free(ev);
  event_base_free(ctx.base);
  return o;
}
#endif

#if UEPOLL_BENCH_HAVE_ASIO
// boost::asio::post of a handler per payload to an io_context the loop runs.
inline Outcome AsioPost(int producers, long per) {
  boost::asio::io_context io(1);
  uint64_t sum = 0;
  uint64_t got = 0;
  const uint64_t total = static_cast<uint64_t>(producers) * static_cast<uint64_t>(per);
  auto guard = boost::asio::make_work_guard(io);
  return Timed(
      producers, per,
      [&](int p) {
        for (long n = 0; n < per; ++n) {
          boost::asio::post(io, [&, v = Payload(p, n)] {
            sum += v;
            if (++got == total) guard.reset();
          });
        }
      },
      [&] {
        io.run();
        return sum;
      });
}
#endif

struct Contender {
  const char* name;
  std::function<Outcome(int, long)> run;
};

inline std::vector<Contender> Contenders() {
  std::vector<Contender> c;
  c.push_back({"kernel eventfd", EventfdPerPost<Kernel>});
#if UEPOLL_BENCH_HAVE_LIBUV
  c.push_back({"libuv async+MPSC", LibuvAsync});
#endif
#if UEPOLL_BENCH_HAVE_LIBEVENT
  c.push_back({"libevent+MPSC", LibeventActive});
#endif
#if UEPOLL_BENCH_HAVE_ASIO
  c.push_back({"Asio post", AsioPost});
#endif
  c.push_back({"mutex+condvar", MutexCondvar});
  c.push_back({"uepoll eventfd", EventfdPerPost<Uepoll>});
  c.push_back({"uep::Channel", [](int p, long n) { return ChannelPosts(p, n); }});
  c.push_back({"spin SPSC (floor)", SpinningSpsc});
  return c;
}

// The peers this build left out, for a line under the table.
inline std::string MissingPeers() {
  std::string s;
#if !UEPOLL_BENCH_HAVE_LIBUV
  s += " libuv (libuv1-dev)";
#endif
#if !UEPOLL_BENCH_HAVE_LIBEVENT
  s += " libevent (libevent-dev)";
#endif
#if !UEPOLL_BENCH_HAVE_ASIO
  s += " Boost.Asio (libboost-dev)";
#endif
  return s;
}

// Runs every contender `reps` times for each producer count, interleaved (one run of each
// in turn), and prints median and range in millions of posts per second. Returns false if
// any run's sum was wrong. `per_producer` is scaled down for the kernel's eventfd, which
// is two orders slower, so that a table does not take minutes.
inline bool PrintTable(const std::vector<int>& producer_counts, long per_producer, int reps) {
  const std::vector<Contender> cs = Contenders();
  bool all_ok = true;
  std::printf("\nproducers -> one loop: million posts/s, median (min-max) of %d interleaved runs, "
              "%ld posts per producer\n\n| P |",
              reps, per_producer);
  for (const auto& c : cs) std::printf(" %s |", c.name);
  std::printf("\n|---|");
  for (size_t i = 0; i < cs.size(); ++i) std::printf("---|");
  std::printf("\n");
  for (int p : producer_counts) {
    std::vector<std::vector<double>> rates(cs.size());
    for (int r = 0; r < reps; ++r) {
      for (size_t i = 0; i < cs.size(); ++i) {
        const long per = i == 0 ? std::max(1L, per_producer / 10) : per_producer;
        const Outcome o = cs[i].run(p, per);
        if (!o.sum_ok) {
          std::printf("  (%s, P=%d: payload sum WRONG)\n", cs[i].name, p);
          all_ok = false;
        }
        rates[i].push_back(o.rate / 1e6);
      }
    }
    std::printf("| %d |", p);
    for (auto& v : rates) {
      std::sort(v.begin(), v.end());
      std::printf(" %.2f (%.2f-%.2f) |", v[v.size() / 2], v.front(), v.back());
    }
    std::printf("\n");
    std::fflush(stdout);
  }
  if (const std::string missing = MissingPeers(); !missing.empty()) {
    std::printf("(not built, headers absent:%s)\n", missing.c_str());
  }
  return all_ok;
}

}  // namespace uep::bench::producers
