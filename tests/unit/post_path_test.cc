// The eventfd post path: a post to an eventfd whose only watcher is an epoll item already
// on the ready list, with nobody asleep, changes the count and wakes nothing (no queue
// walk, no callback, no instance lock); everything that makes a wake-up needed again
// (a harvest, a blocked reader) brings the wake-up back. The trace points show which
// wake-ups ran. The same scenarios with a second watcher, a MOD, poll() and nesting are
// compared with the kernel in tests/differential/eventfd_test.cc.
#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "core/trace.h"
#include "uepoll/uepoll.h"

namespace {

using uep::trace::Kind;
using namespace std::chrono_literals;

// Wake-ups of any queue and epoll callbacks recorded while `fn` ran.
template <typename Fn>
int WakeRecords(Fn fn) {
  EXPECT_EQ(uep_trace_start(4096), 0);
  fn();
  EXPECT_EQ(uep_trace_stop(), 0);
  int n = 0;
  for (const auto& r : uep::trace::Snapshot()) {
    if (r.kind == Kind::kWake || r.kind == Kind::kCallback) ++n;
  }
  return n;
}

int Post(int fd, uint64_t v = 1) { return uep_write(fd, &v, sizeof v) == sizeof v ? 0 : -1; }

struct Fixture {
  Fixture(uint32_t events) {
    ep = uep_epoll_create1(0);
    efd = uep_eventfd(0, EFD_NONBLOCK);
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = 7;
    EXPECT_EQ(uep_epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev), 0);
  }
  ~Fixture() {
    uep_close(efd);
    uep_close(ep);
  }
  int Wait0() {
    epoll_event out[2];
    return uep_epoll_wait(ep, out, 2, 0);
  }
  int ep = -1;
  int efd = -1;
};

TEST(PostPath, PostsToAReadyItemWakeNothing) {
  for (uint32_t et : {uint32_t{EPOLLET}, 0U}) {
    Fixture f(EPOLLIN | et);
    ASSERT_EQ(Post(f.efd), 0);  // readies the item (a callback)
    EXPECT_EQ(WakeRecords([&] {
                for (int i = 0; i < 100; ++i) ASSERT_EQ(Post(f.efd), 0);
              }),
              0);
    ASSERT_EQ(f.Wait0(), 1);
    uint64_t v = 0;
    ASSERT_EQ(uep_read(f.efd, &v, sizeof v), static_cast<ssize_t>(sizeof v));
    EXPECT_EQ(v, 101U);
    // Harvested: the next post must ready the item again.
    EXPECT_GT(WakeRecords([&] { ASSERT_EQ(Post(f.efd), 0); }), 0);
    EXPECT_EQ(f.Wait0(), 1);
  }
}

// The item is ready and the count was read away; a thread then blocks in read(): the next
// post must wake it although the item is still on the ready list.
TEST(PostPath, BlockedReaderIsWokenWhileTheItemIsReady) {
  const int ep = uep_epoll_create1(0);
  const int efd = uep_eventfd(0, 0);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;
  ASSERT_EQ(uep_epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev), 0);
  ASSERT_EQ(Post(efd), 0);
  ASSERT_EQ(Post(efd), 0);  // quiet now
  uint64_t v = 0;
  ASSERT_EQ(uep_read(efd, &v, sizeof v), static_cast<ssize_t>(sizeof v));
  std::atomic<bool> done{false};
  std::thread reader([&] {
    uint64_t got = 0;
    EXPECT_EQ(uep_read(efd, &got, sizeof got), static_cast<ssize_t>(sizeof got));
    EXPECT_EQ(got, 5U);
    done = true;
  });
  std::this_thread::sleep_for(20ms);  // most likely asleep by now; either way must work
  ASSERT_EQ(Post(efd, 5), 0);
  for (int i = 0; i < 10000 && !done.load(); ++i) std::this_thread::sleep_for(1ms);
  if (!done.load()) Post(efd, 1);  // let the thread go before failing
  reader.join();
  EXPECT_TRUE(done.load());
  uep_close(efd);
  uep_close(ep);
}

}  // namespace
