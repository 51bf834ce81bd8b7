// Counting: the torture scenarios whose totals are known, all running at once.
//
//   eventfds  producers write random amounts to 4 eventfds; consumers sleep (timeout -1,
//             random maxevents) on an instance watching two of them EPOLLET, and on two
//             instances watching the other two EPOLLEXCLUSIVE, read each reported counter
//             and add it up: written == consumed, exactly.
//   streams   a writer pushes a numbered byte sequence into a pipe and a socket pair,
//             sleeping on EPOLLOUT|EPOLLET when full; a reader sleeps on EPOLLIN|EPOLLET
//             and checks every byte: written == read, in order.
//   churn     a thread DELs and re-ADDs level-triggered items with a new generation in
//             their data while waiters harvest them: no event may carry the data of an
//             item whose DEL returned before the wait began.
// The eventfd writes come in rounds; after each, every counter must be read with no later
// write to help: the last write of a round must wake a consumer. A lost wake-up leaves the
// total short while the consumers sleep; the round fails, or the watchdog (streams) fails
// the run with each thread's state.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "torture/torture_util.h"
#include "uepoll/uepoll.h"

namespace uep::torture {
namespace {

constexpr uint64_t kStop = ~uint64_t{0};
constexpr int kFds = 4;
constexpr int kChurnFds = 3;

int Add(int ep, int fd, uint32_t events, uint64_t data) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = data;
  return uep_epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

struct Totals {
  std::atomic<uint64_t> written{0}, consumed{0}, reports{0};
  std::atomic<uint64_t> stream_written{0}, stream_read{0};
  std::atomic<uint64_t> churn_ops{0}, churn_events{0};
  std::atomic<uint64_t> errors{0}, stale{0}, bad_byte{0};
  std::atomic<int> last_errno{0};

  bool Quiescent() const {
    return written.load() == consumed.load() && stream_written.load() == stream_read.load();
  }
  void Error(int err) {
    errors.fetch_add(1);
    last_errno.store(err);
  }
};

// Reads an eventfd counter after a report; EAGAIN when another consumer was first.
void Drain(int fd, Totals* t) {
  uint64_t v = 0;
  if (uep_read(fd, &v, sizeof v) == static_cast<ssize_t>(sizeof v)) {
    t->consumed.fetch_add(v);
  } else if (errno != EAGAIN) {
    t->Error(errno);
  }
}

// Sleeps on `ep` until stopped; reads every reported eventfd.
void Consumer(ThreadStatus& st, int ep, const int* fds, Totals* t, unsigned seed) {
  Announce(st);
  std::mt19937 rng(seed);
  epoll_event evs[4];
  for (;;) {
    const int maxevents = 1 + static_cast<int>(rng() % 4);
    st.Begin("epoll_wait(-1)", ep);
    const int n = uep_epoll_wait(ep, evs, maxevents, -1);
    st.Done();
    if (n <= 0 || n > maxevents) {
      t->Error(n < 0 ? errno : 0);
      break;
    }
    bool stop = false;
    for (int i = 0; i < n; ++i) {
      const uint64_t data = stress::DataOf(evs[i]);
      if (data == kStop) {
        stop = true;
        continue;
      }
      t->reports.fetch_add(1);
      st.Begin("eventfd read", fds[data]);
      Drain(fds[data], t);
    }
    if (stop) break;
  }
  st.finished.store(true);
}

// Rounds of writes; between rounds the main thread checks that all was consumed.
struct Rounds {
  explicit Rounds(int producers) : start(producers + 1), finish(producers + 1) {}
  stress::Barrier start, finish;
  std::atomic<bool> quit{false};
  std::atomic<uint64_t> count{0};
};

void Producer(ThreadStatus& st, const int* fds, Totals* t, Rounds* rounds, unsigned seed) {
  Announce(st);
  std::mt19937 rng(seed);
  for (;;) {
    st.Begin("round barrier", -1);
    rounds->start.Arrive();
    if (rounds->quit.load()) break;
    for (int k = 0; k < 64; ++k) {
      const uint64_t v = 1 + rng() % 3;
      const int fd = fds[rng() % kFds];
      st.Begin("eventfd write", fd);
      // Counted first: a consumer may read it before write() returns.
      t->written.fetch_add(v);
      if (uep_write(fd, &v, sizeof v) != static_cast<ssize_t>(sizeof v)) {
        t->written.fetch_sub(v);
        t->Error(errno);
      }
      st.Done();
      if (rng() % 16 == 0) std::this_thread::yield();
    }
    rounds->finish.Arrive();
  }
  st.finished.store(true);
}

// Writes a numbered byte sequence to the pipe and the socket pair in turns.
void StreamWriter(ThreadStatus& st, const int* wfd, const int* out_ep, Totals* t, unsigned seed,
                  Clock::time_point end) {
  Announce(st);
  std::mt19937 rng(seed);
  uint64_t next[2] = {0, 0};
  char buf[4096];
  epoll_event ev;
  while (Clock::now() < end) {
    const int s = static_cast<int>(rng() % 2);
    const size_t len = 1 + rng() % sizeof buf;
    for (size_t i = 0; i < len; ++i) buf[i] = static_cast<char>((next[s] + i) & 0xff);
    st.Begin(s == 0 ? "pipe write" : "socket write", wfd[s]);
    const ssize_t n = uep_write(wfd[s], buf, len);
    if (n > 0) {
      next[s] += static_cast<uint64_t>(n);
      t->stream_written.fetch_add(static_cast<uint64_t>(n));
    } else if (n < 0 && errno == EAGAIN) {
      // Full: the reader's drain must wake us (EPOLLOUT edge).
      st.Begin(s == 0 ? "wait pipe EPOLLOUT" : "wait socket EPOLLOUT", out_ep[s]);
      if (uep_epoll_wait(out_ep[s], &ev, 1, -1) != 1) t->Error(errno);
    } else {
      t->Error(errno);
    }
    st.Done();
    if (rng() % 32 == 0) std::this_thread::sleep_for(std::chrono::microseconds(300));
  }
  st.finished.store(true);
}

void StreamReader(ThreadStatus& st, int ep, const int* rfd, Totals* t) {
  Announce(st);
  uint64_t next[2] = {0, 0};
  char buf[3000];
  epoll_event evs[3];
  for (;;) {
    st.Begin("epoll_wait(-1)", ep);
    const int n = uep_epoll_wait(ep, evs, 3, -1);
    st.Done();
    if (n <= 0) {
      t->Error(n < 0 ? errno : 0);
      break;
    }
    bool stop = false;
    for (int i = 0; i < n; ++i) {
      const uint64_t s = stress::DataOf(evs[i]);
      if (s == kStop) {
        stop = true;
        continue;
      }
      st.Begin(s == 0 ? "pipe read" : "socket read", rfd[s]);
      for (;;) {  // edge-triggered: read until EAGAIN
        const ssize_t r = uep_read(rfd[s], buf, sizeof buf);
        if (r <= 0) {
          if (r == 0 || errno != EAGAIN) t->Error(r == 0 ? 0 : errno);
          break;
        }
        for (ssize_t k = 0; k < r; ++k) {
          if (buf[k] != static_cast<char>((next[s] + static_cast<uint64_t>(k)) & 0xff)) {
            t->bad_byte.fetch_add(1);
          }
        }
        next[s] += static_cast<uint64_t>(r);
        t->stream_read.fetch_add(static_cast<uint64_t>(r));
      }
    }
    if (stop) break;
  }
  st.finished.store(true);
}

// Item generations of the churned fds: data = index << 32 | generation.
struct Churn {
  int ep = -1;
  int fds[kChurnFds] = {};
  std::atomic<uint64_t> added[kChurnFds];    // generations whose ADD began
  std::atomic<uint64_t> deleted[kChurnFds];  // generations whose DEL returned
};

void Churner(ThreadStatus& st, Churn* c, Totals* t, unsigned seed, Clock::time_point end) {
  Announce(st);
  std::mt19937 rng(seed);
  while (Clock::now() < end) {
    const int i = static_cast<int>(rng() % kChurnFds);
    st.Begin("churn DEL", c->fds[i]);
    if (uep_epoll_ctl(c->ep, EPOLL_CTL_DEL, c->fds[i], nullptr) != 0) t->Error(errno);
    c->deleted[i].fetch_add(1);
    const uint64_t gen = c->added[i].fetch_add(1);
    st.Begin("churn ADD", c->fds[i]);
    if (Add(c->ep, c->fds[i], EPOLLIN, (static_cast<uint64_t>(i) << 32) | gen) != 0) {
      t->Error(errno);
    }
    t->churn_ops.fetch_add(2);
    st.Done();
  }
  st.finished.store(true);
}

void ChurnWaiter(ThreadStatus& st, Churn* c, Totals* t, unsigned seed, Clock::time_point end) {
  Announce(st);
  std::mt19937 rng(seed);
  epoll_event evs[kChurnFds];
  while (Clock::now() < end) {
    uint64_t dead_below[kChurnFds];
    for (int i = 0; i < kChurnFds; ++i) dead_below[i] = c->deleted[i].load();
    const int maxevents = 1 + static_cast<int>(rng() % kChurnFds);
    st.Begin("churn epoll_wait", c->ep);
    const int n = uep_epoll_wait(c->ep, evs, maxevents, static_cast<int>(rng() % 3));
    if (n < 0 || n > maxevents) t->Error(n < 0 ? errno : 0);
    for (int i = 0; i < n; ++i) {
      const uint64_t data = stress::DataOf(evs[i]);
      const uint64_t idx = data >> 32;
      const uint64_t gen = data & 0xffffffff;
      // Generation g dies with the (g+1)-th DEL of its fd.
      if (idx >= kChurnFds || gen < dead_below[idx] || gen >= c->added[idx].load() ||
          stress::EventsOf(evs[i]) != EPOLLIN) {
        t->stale.fetch_add(1);
      }
    }
    if (n > 0) t->churn_events.fetch_add(static_cast<uint64_t>(n));
    st.Done();
  }
  st.finished.store(true);
}

TEST(Torture, Counting) {
  signal(SIGPIPE, SIG_IGN);
  Totals t;
  // Eventfds, an edge-triggered instance and two exclusive ones.
  int fds[kFds];
  for (int& fd : fds) {
    fd = uep_eventfd(0, EFD_NONBLOCK);
    ASSERT_GE(fd, 0);
  }
  const int stop = uep_eventfd(0, EFD_NONBLOCK);
  ASSERT_GE(stop, 0);
  int ep[3];
  for (int e = 0; e < 3; ++e) {
    ep[e] = uep_epoll_create1(0);
    ASSERT_GE(ep[e], 0);
    uep_epoll_set_busy_poll(ep[e], e == 0 ? 0 : 16);
    // Each counter is read through one kind of instance only, so that a wake-up lost by
    // one instance cannot be covered by another's consumer.
    for (int i = e == 0 ? 0 : kFds / 2; i < (e == 0 ? kFds / 2 : kFds); ++i) {
      ASSERT_EQ(0, Add(ep[e], fds[i], EPOLLIN | (e == 0 ? EPOLLET : EPOLLEXCLUSIVE), static_cast<uint64_t>(i)));
    }
    ASSERT_EQ(0, Add(ep[e], stop, EPOLLIN, kStop));
  }
  // Streams: [0] a pipe, [1] a socket pair.
  int pipefd[2];
  int sv[2];
  ASSERT_EQ(0, uep_pipe2(pipefd, O_NONBLOCK));
  ASSERT_EQ(0, uep_socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
  const int rfd[2] = {pipefd[0], sv[0]};
  const int wfd[2] = {pipefd[1], sv[1]};
  const int in_ep = uep_epoll_create1(0);
  ASSERT_GE(in_ep, 0);
  int out_ep[2];
  for (int s = 0; s < 2; ++s) {
    ASSERT_EQ(0, Add(in_ep, rfd[s], EPOLLIN | EPOLLET, static_cast<uint64_t>(s)));
    out_ep[s] = uep_epoll_create1(0);
    ASSERT_GE(out_ep[s], 0);
    ASSERT_EQ(0, Add(out_ep[s], wfd[s], EPOLLOUT | EPOLLET, static_cast<uint64_t>(s)));
  }
  ASSERT_EQ(0, Add(in_ep, stop, EPOLLIN, kStop));
  // Churned items: always readable eventfds.
  Churn churn;
  churn.ep = uep_epoll_create1(0);
  ASSERT_GE(churn.ep, 0);
  for (int i = 0; i < kChurnFds; ++i) {
    churn.fds[i] = uep_eventfd(1, EFD_NONBLOCK);
    ASSERT_GE(churn.fds[i], 0);
    churn.added[i].store(1);
    churn.deleted[i].store(0);
    ASSERT_EQ(0, Add(churn.ep, churn.fds[i], EPOLLIN, static_cast<uint64_t>(i) << 32));
  }

  ProgressWatchdog watchdog([&t] { return t.Quiescent(); });
  const auto started = Clock::now();
  const auto end = TortureEnd(0.5);
  std::vector<std::thread> producers, consumers;
  constexpr int kConsumerEps[] = {0, 0, 1, 2};
  std::vector<ThreadStatus*> cst, pst;
  for (int c = 0; c < 4; ++c) cst.push_back(&watchdog.Add("consumer" + std::to_string(c)));
  for (int p = 0; p < 2; ++p) pst.push_back(&watchdog.Add("producer" + std::to_string(p)));
  ThreadStatus& wst = watchdog.Add("streamwriter");
  ThreadStatus& rst = watchdog.Add("streamreader");
  ThreadStatus& chst = watchdog.Add("churner");
  ThreadStatus& cw0 = watchdog.Add("churnwait0");
  ThreadStatus& cw1 = watchdog.Add("churnwait1");
  watchdog.Start();
  for (int c = 0; c < 4; ++c) {
    consumers.emplace_back(Consumer, std::ref(*cst[c]), ep[kConsumerEps[c]], fds, &t, 10u + c);
  }
  consumers.emplace_back(StreamReader, std::ref(rst), in_ep, rfd, &t);
  Rounds rounds(2);
  for (int p = 0; p < 2; ++p) producers.emplace_back(Producer, std::ref(*pst[p]), fds, &t, &rounds, 20u + p);
  producers.emplace_back(StreamWriter, std::ref(wst), wfd, out_ep, &t, 30u, end);
  producers.emplace_back(Churner, std::ref(chst), &churn, &t, 40u, end);
  producers.emplace_back(ChurnWaiter, std::ref(cw0), &churn, &t, 41u, end);
  producers.emplace_back(ChurnWaiter, std::ref(cw1), &churn, &t, 42u, end);
  // Round by round: all written must be read within the stall limit.
  const auto stall = std::chrono::duration<double>(StallSeconds());
  uint64_t short_rounds = 0;
  while (Clock::now() < end) {
    rounds.start.Arrive();
    rounds.finish.Arrive();
    rounds.count.fetch_add(1);
    const auto limit = Clock::now() + std::chrono::duration_cast<Clock::duration>(stall);
    while (t.written.load() != t.consumed.load() && Clock::now() < limit) std::this_thread::yield();
    if (t.written.load() != t.consumed.load()) {
      ++short_rounds;
      std::fprintf(stderr, "round %llu: %llu written, %llu consumed after %.0f s (lost wake-up)\n",
                   static_cast<unsigned long long>(rounds.count.load()),
                   static_cast<unsigned long long>(t.written.load()),
                   static_cast<unsigned long long>(t.consumed.load()), stall.count());
      break;
    }
  }
  rounds.quit.store(true);
  rounds.start.Arrive();
  for (auto& th : producers) th.join();
  // Everything written must be consumed with no further write to help: the watchdog
  // aborts (with a dump) if the consumers sleep on a pending counter or stream.
  while (!t.Quiescent()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const uint64_t one = 1;
  ASSERT_EQ(static_cast<ssize_t>(sizeof one), uep_write(stop, &one, sizeof one));
  for (auto& th : consumers) th.join();
  watchdog.Stop();
  const double secs = std::chrono::duration<double>(Clock::now() - started).count();

  std::printf("counting: %.1f s, %llu operations; eventfd: %llu written = %llu consumed in %llu "
              "reports, %llu rounds; streams: %llu bytes; churn: %llu ctl, %llu events checked\n",
              secs, static_cast<unsigned long long>(watchdog.TotalOps()),
              static_cast<unsigned long long>(t.written.load()),
              static_cast<unsigned long long>(t.consumed.load()),
              static_cast<unsigned long long>(t.reports.load()),
              static_cast<unsigned long long>(rounds.count.load()),
              static_cast<unsigned long long>(t.stream_read.load()),
              static_cast<unsigned long long>(t.churn_ops.load()),
              static_cast<unsigned long long>(t.churn_events.load()));
  EXPECT_EQ(0u, short_rounds) << "a round ended with a counter unread";
  EXPECT_EQ(t.written.load(), t.consumed.load());
  EXPECT_EQ(t.stream_written.load(), t.stream_read.load());
  EXPECT_EQ(0u, t.bad_byte.load());
  EXPECT_EQ(0u, t.stale.load()) << "events of deleted items";
  EXPECT_EQ(0u, t.errors.load()) << "last errno " << t.last_errno.load();
  EXPECT_GT(t.written.load(), 0u);
  EXPECT_GT(t.stream_read.load(), 0u);
  EXPECT_GT(t.churn_events.load(), 0u);

  for (int fd : fds) EXPECT_EQ(0, uep_close(fd));
  for (int fd : churn.fds) EXPECT_EQ(0, uep_close(fd));
  for (int fd : {stop, ep[0], ep[1], ep[2], in_ep, out_ep[0], out_ep[1], churn.ep, pipefd[0],
                 pipefd[1], sv[0], sv[1]}) {
    EXPECT_EQ(0, uep_close(fd));
  }
}

}  // namespace
}  // namespace uep::torture
