// Kernel and uepoll descriptors in one uepoll instance: both reported by one wait, wake-ups
// from either side while a thread sleeps, EINTR and epoll_pwait's mask, the order in a call,
// nesting through kernel and uepoll instances, and uep_epoll_kernel_fd()'s level.
#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>
#include <vector>

#include "support/scoped_handler.h"
#include "uepoll/uepoll.h"

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using uep::test::ScopedHandler;

constexpr uint64_t kKernelData = 100;
constexpr uint64_t kUserData = 200;

int Add(int ep, int fd, uint32_t events, uint64_t data) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = data;
  return uep_epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

// One instance holding a kernel socket pair's end and a uepoll eventfd.
struct Mixed {
  Mixed() {
    ep = uep_epoll_create1(0);
    EXPECT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sock));
    efd = uep_eventfd(0, EFD_NONBLOCK);
    EXPECT_EQ(0, Add(ep, sock[0], EPOLLIN, kKernelData));
    EXPECT_EQ(0, Add(ep, efd, EPOLLIN, kUserData));
  }
  ~Mixed() {
    uep_close(efd);
    close(sock[0]);
    close(sock[1]);
    uep_close(ep);
  }
  void KernelReady() const { ASSERT_EQ(1, write(sock[1], "x", 1)); }
  void UserReady() const { ASSERT_EQ(0, uep_eventfd_write(efd, 1)); }
  void MakeReady(bool kernel_side) const {
    if (kernel_side) {
      KernelReady();
    } else {
      UserReady();
    }
  }
  // Takes back what MakeReady(kernel_side) put there.
  void Consume(bool kernel_side) const {
    if (kernel_side) {
      char c;
      ASSERT_EQ(1, read(sock[0], &c, 1));
    } else {
      eventfd_t v;
      ASSERT_EQ(0, uep_eventfd_read(efd, &v));
    }
  }
  std::set<uint64_t> WaitSet(int maxevents, int timeout) const {
    std::vector<epoll_event> out(static_cast<size_t>(maxevents));
    const int n = uep_epoll_wait(ep, out.data(), maxevents, timeout);
    std::set<uint64_t> got;
    for (int i = 0; i < n; ++i) {
      EXPECT_EQ(static_cast<uint32_t>(EPOLLIN), out[static_cast<size_t>(i)].events);
      got.insert(uint64_t{out[static_cast<size_t>(i)].data.u64});
    }
    return got;
  }
  int ep = -1;
  int sock[2] = {-1, -1};
  int efd = -1;
};

TEST(MixedSet, OneWaitReportsBothKinds) {
  Mixed m;
  EXPECT_TRUE(m.WaitSet(8, 0).empty());
  m.KernelReady();
  EXPECT_EQ((std::set<uint64_t>{kKernelData}), m.WaitSet(8, 0));
  m.UserReady();
  // Level-triggered, both stay ready: every call reports both, as the kernel's would.
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ((std::set<uint64_t>{kKernelData, kUserData}), m.WaitSet(8, 0)) << "wait " << i;
  }
  EXPECT_EQ((std::set<uint64_t>{kKernelData, kUserData}), m.WaitSet(8, -1));
  m.Consume(true);
  EXPECT_EQ((std::set<uint64_t>{kUserData}), m.WaitSet(8, 0));
  m.Consume(false);
  EXPECT_TRUE(m.WaitSet(8, 0).empty());
}

// In each call user-space events come first, then kernel ones (docs/semantics.md).
TEST(MixedSet, UserSpaceEventsComeFirstInACall) {
  Mixed m;
  m.KernelReady();
  m.UserReady();
  for (int i = 0; i < 4; ++i) {
    epoll_event out[4];
    ASSERT_EQ(2, uep_epoll_wait(m.ep, out, 4, 0));
    EXPECT_EQ(kUserData, uint64_t{out[0].data.u64});
    EXPECT_EQ(kKernelData, uint64_t{out[1].data.u64});
  }
}

// With room for one event and both sides ready for ever, the two alternate, as the two
// items of one kernel ready list do (a level-triggered item reported goes to the back).
TEST(MixedSet, BothSidesAlternateWithRoomForOne) {
  Mixed m;
  m.KernelReady();
  m.UserReady();
  uint64_t last = 0;
  for (int i = 0; i < 20; ++i) {
    const std::set<uint64_t> got = m.WaitSet(1, 0);
    ASSERT_EQ(1U, got.size());
    EXPECT_NE(last, *got.begin()) << "wait " << i;
    last = *got.begin();
  }
}

// Several user items fill every harvest: the kernel item is still reported within as many
// calls as a kernel ready list of the same items would take.
TEST(MixedSet, KernelSideServedWhenUserItemsFillMaxevents) {
  Mixed m;
  std::vector<int> more;
  for (int i = 0; i < 4; ++i) {
    more.push_back(uep_eventfd(1, EFD_NONBLOCK));
    ASSERT_EQ(0, Add(m.ep, more.back(), EPOLLIN, 300 + static_cast<uint64_t>(i)));
  }
  m.KernelReady();
  for (int round = 0; round < 3; ++round) {
    bool kernel_seen = false;
    for (int i = 0; i < 3 && !kernel_seen; ++i) kernel_seen = m.WaitSet(2, 0).count(kKernelData) != 0;
    EXPECT_TRUE(kernel_seen) << "round " << round;
  }
  for (int fd : more) uep_close(fd);
}

// A thread asleep in uep_epoll_wait is woken by the side that becomes ready.
void ExpectWokenBy(bool kernel_side, bool with_mask) {
  Mixed m;
  std::atomic<bool> done{false};
  std::set<uint64_t> got;
  std::thread sleeper([&] {
    sigset_t mask;
    sigemptyset(&mask);
    std::vector<epoll_event> out(4);
    const int n = with_mask ? uep_epoll_pwait(m.ep, out.data(), 4, 10000, &mask)
                            : uep_epoll_wait(m.ep, out.data(), 4, 10000);
    for (int i = 0; i < n; ++i) got.insert(uint64_t{out[static_cast<size_t>(i)].data.u64});
    done = true;
  });
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_FALSE(done.load());
  const auto start = Clock::now();
  m.MakeReady(kernel_side);
  sleeper.join();
  EXPECT_LT(Clock::now() - start, milliseconds(5000));
  EXPECT_EQ((std::set<uint64_t>{kernel_side ? kKernelData : kUserData}), got);
}

TEST(MixedSet, SleeperWokenByKernelSocket) { ExpectWokenBy(true, false); }
TEST(MixedSet, SleeperWokenByUepollEventfd) { ExpectWokenBy(false, false); }
TEST(MixedSet, MaskedSleeperWokenByKernelSocket) { ExpectWokenBy(true, true); }
TEST(MixedSet, MaskedSleeperWokenByUepollEventfd) { ExpectWokenBy(false, true); }

// poll(2) on the instance itself (as the kernel reports an epoll fd with a ready item:
// POLLIN) sleeps until either kind of descriptor in it becomes ready.
void ExpectPollWokenBy(bool kernel_side) {
  Mixed m;
  std::atomic<bool> done{false};
  pollfd pfd{m.ep, POLLIN, 0};
  int n = -1;
  std::thread sleeper([&] {
    n = uep_poll(&pfd, 1, 10000);
    done = true;
  });
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_FALSE(done.load());
  const auto start = Clock::now();
  m.MakeReady(kernel_side);
  sleeper.join();
  EXPECT_LT(Clock::now() - start, milliseconds(5000));
  EXPECT_EQ(1, n);
  EXPECT_EQ(POLLIN, pfd.revents);
}

TEST(MixedSet, PollOnTheInstanceWokenByKernelSocket) { ExpectPollWokenBy(true); }
TEST(MixedSet, PollOnTheInstanceWokenByUepollEventfd) { ExpectPollWokenBy(false); }

TEST(MixedSet, TimeoutWithNothingReady) {
  Mixed m;
  const auto start = Clock::now();
  EXPECT_TRUE(m.WaitSet(4, 60).empty());
  EXPECT_GE(Clock::now() - start, milliseconds(60));
  const timespec ts{0, 30'000'000};
  epoll_event out[4];
  const auto start2 = Clock::now();
  EXPECT_EQ(0, uep_epoll_pwait2(m.ep, out, 4, &ts, nullptr));
  EXPECT_GE(Clock::now() - start2, milliseconds(30));
}

// Many user events from another thread, several sleepers: none is lost.
TEST(MixedSet, ManySleepersNoLostWakeup) {
  Mixed m;
  const int ep = uep_epoll_create1(0);
  const int efd = uep_eventfd(0, EFD_NONBLOCK | EFD_SEMAPHORE);
  int kfd[2];
  ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, kfd));
  ASSERT_EQ(0, Add(ep, efd, EPOLLIN | EPOLLET, 1));
  ASSERT_EQ(0, Add(ep, kfd[0], EPOLLIN | EPOLLET, 2));
  constexpr int kEvents = 2000;
  std::atomic<int> consumed{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> sleepers;
  for (int t = 0; t < 3; ++t) {
    sleepers.emplace_back([&] {
      epoll_event out[4];
      while (!stop.load()) {
        const int n = uep_epoll_wait(ep, out, 4, 100);
        for (int i = 0; i < n; ++i) {
          if (out[i].data.u64 == 1) {
            eventfd_t v;
            while (uep_eventfd_read(efd, &v) == 0) consumed.fetch_add(1);
          } else {
            char c;
            while (recv(kfd[0], &c, 1, 0) == 1) consumed.fetch_add(1);
          }
        }
      }
    });
  }
  for (int i = 0; i < kEvents; ++i) {
    if (i % 2 == 0) {
      ASSERT_EQ(0, uep_eventfd_write(efd, 1));
    } else {
      ASSERT_EQ(1, send(kfd[1], "y", 1, 0));
    }
    if (i % 64 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  while (consumed.load() < kEvents && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  stop = true;
  for (auto& t : sleepers) t.join();
  EXPECT_EQ(kEvents, consumed.load());
  uep_close(efd);
  close(kfd[0]);
  close(kfd[1]);
  uep_close(ep);
}

// A fork child (which forgets the parent's uepoll descriptors) makes a mixed instance of its
// own over an inherited kernel socket: in the ring mode it sets up its own readiness ring
// (the parent's, shared memory, is never used there). The parent's instance still sees the
// kernel side's events afterwards.
TEST(MixedSet, ForkChildMakesItsOwnMixedInstance) {
  Mixed m;
  EXPECT_TRUE(m.WaitSet(8, 0).empty());  // this thread's ring now watches the instance
  m.UserReady();
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    Mixed child;
    int bad = 0;
    if (!child.WaitSet(8, 0).empty()) bad |= 1;
    if (uep_eventfd_write(child.efd, 1) != 0 || write(child.sock[1], "c", 1) != 1) bad |= 2;
    for (int i = 0; i < 3; ++i) {
      if (child.WaitSet(8, 0) != std::set<uint64_t>{kKernelData, kUserData}) bad |= 4;
    }
    char c;
    if (read(child.sock[0], &c, 1) != 1) bad |= 8;
    if (child.WaitSet(8, 0) != std::set<uint64_t>{kUserData}) bad |= 16;
    _exit(bad);
  }
  int status = 0;
  ASSERT_EQ(pid, waitpid(pid, &status, 0));
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(0, WEXITSTATUS(status));
  EXPECT_EQ((std::set<uint64_t>{kUserData}), m.WaitSet(8, 0));
  m.KernelReady();
  EXPECT_EQ((std::set<uint64_t>{kKernelData, kUserData}), m.WaitSet(8, 0));
}

// The links of nested instances are the process's own: a fork child that nests instances
// never takes the parent's events. Here the child makes the parent's inner instance ready
// (through the inherited socket) and drains its own links; the parent still sees it.
TEST(MixedSet, ForkChildNeverDrainsTheParentsLinks) {
  Mixed inner;
  const int outer = uep_epoll_create1(0);
  ASSERT_EQ(0, Add(outer, inner.ep, EPOLLIN | EPOLLET, 9));
  epoll_event out[2];
  EXPECT_EQ(0, uep_epoll_wait(outer, out, 2, 0));
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    Mixed child_inner;
    const int child_outer = uep_epoll_create1(0);
    int bad = Add(child_outer, child_inner.ep, EPOLLIN, 1) == 0 ? 0 : 1;
    if (write(inner.sock[1], "p", 1) != 1) bad |= 2;  // the parent's inner instance
    for (int i = 0; i < 3; ++i) {
      epoll_event got[2];
      if (uep_epoll_wait(child_outer, got, 2, 0) != 0) bad |= 4;
    }
    _exit(bad);
  }
  int status = 0;
  ASSERT_EQ(pid, waitpid(pid, &status, 0));
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(0, WEXITSTATUS(status));
  ASSERT_EQ(1, uep_epoll_wait(outer, out, 2, 0));
  EXPECT_EQ(9U, uint64_t{out[0].data.u64});
  uep_close(outer);
}

// The instance's readiness ring follows the thread that keeps harvesting it, there and
// back again (docs/semantics.md); no kernel event is missed on the way.
TEST(MixedSet, KernelEventsSeenWhileTheInstanceMovesBetweenThreads) {
  Mixed m;
  const auto cycles = [&m](int rounds) {
    int seen = 0;
    for (int i = 0; i < rounds; ++i) {
      m.KernelReady();
      seen += static_cast<int>(m.WaitSet(8, 0).count(kKernelData));
      m.Consume(true);
      if (!m.WaitSet(8, 0).empty()) return -1;
    }
    return seen;
  };
  EXPECT_TRUE(m.WaitSet(8, 0).empty());  // the main thread's ring
  for (int move = 0; move < 3; ++move) {
    int seen = 0;
    std::thread other([&] { seen = cycles(100); });  // moves it to the other thread's ring
    other.join();
    EXPECT_EQ(100, seen) << "move " << move;
    EXPECT_EQ(100, cycles(100)) << "move " << move;  // and back to this thread's
  }
  for (int i = 0; i < 3; ++i) {
    m.KernelReady();
    EXPECT_EQ((std::set<uint64_t>{kKernelData}), m.WaitSet(8, 0));
    m.Consume(true);
  }
}

// ---- signals ----

std::atomic<int> handled{0};
void OnUsr1(int /*sig*/) { handled.fetch_add(1); }

TEST(MixedSet, SignalHandlerEndsTheWaitWithEintr) {
  Mixed m;
  // No SA_RESTART: epoll_wait returns EINTR regardless.
  ScopedHandler h(SIGUSR1, OnUsr1, 0);
  std::atomic<int> result{-2};
  std::atomic<int> err{0};
  std::atomic<bool> entered{false};
  std::thread sleeper([&] {
    epoll_event out[4];
    entered = true;
    result = uep_epoll_wait(m.ep, out, 4, 10000);
    err = errno;
  });
  while (!entered.load()) std::this_thread::yield();
  std::this_thread::sleep_for(milliseconds(100));
  pthread_kill(sleeper.native_handle(), SIGUSR1);
  sleeper.join();
  EXPECT_EQ(-1, result.load());
  EXPECT_EQ(EINTR, err.load());
}

// epoll_pwait's mask is applied atomically with the sleep: a signal blocked by the thread
// and pending before the call ends the wait at once when the mask lets it in, and a mask
// that blocks a signal keeps the wait going while it arrives.
TEST(MixedSet, PwaitMaskIsAtomicWithTheSleep) {
  Mixed m;
  ScopedHandler h(SIGUSR1, OnUsr1, 0);
  std::atomic<int> result{-2};
  std::atomic<int> err{0};
  std::thread t([&] {
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &block, nullptr);
    pthread_kill(pthread_self(), SIGUSR1);  // pending, blocked
    sigset_t open_mask;
    sigemptyset(&open_mask);
    epoll_event out[4];
    const int before = handled.load();
    result = uep_epoll_pwait(m.ep, out, 4, 10000, &open_mask);
    err = errno;
    EXPECT_EQ(before + 1, handled.load());
  });
  t.join();
  EXPECT_EQ(-1, result.load());
  EXPECT_EQ(EINTR, err.load());

  // The mask blocks SIGUSR1 during the wait: the signal waits, the kernel event ends it.
  std::atomic<bool> entered{false};
  std::thread t2([&] {
    sigset_t blocking;
    sigemptyset(&blocking);
    sigaddset(&blocking, SIGUSR1);
    epoll_event out[4];
    entered = true;
    result = uep_epoll_pwait(m.ep, out, 4, 10000, &blocking);
  });
  while (!entered.load()) std::this_thread::yield();
  std::this_thread::sleep_for(milliseconds(50));
  const int before = handled.load();
  pthread_kill(t2.native_handle(), SIGUSR1);
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(before, handled.load());
  m.KernelReady();
  t2.join();
  EXPECT_EQ(1, result.load());
  EXPECT_EQ(before + 1, handled.load());  // delivered once the mask was restored
}

// ---- nesting ----

// A kernel epoll inside a uepoll instance: a sleeper is woken through the kernel nesting.
TEST(MixedSet, KernelEpollInsideWakesTheSleeper) {
  const int ep = uep_epoll_create1(0);
  const int kep = epoll_create1(EPOLL_CLOEXEC);
  const int kefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ASSERT_EQ(0, epoll_ctl(kep, EPOLL_CTL_ADD, kefd, &ev));
  ASSERT_EQ(0, Add(ep, kep, EPOLLIN, 7));
  std::thread writer([&] {
    std::this_thread::sleep_for(milliseconds(50));
    eventfd_write(kefd, 1);
  });
  epoll_event out[2];
  ASSERT_EQ(1, uep_epoll_wait(ep, out, 2, 10000));
  EXPECT_EQ(7U, uint64_t{out[0].data.u64});
  writer.join();
  close(kefd);
  close(kep);
  uep_close(ep);
}

// A uepoll instance holding a kernel descriptor, inside another uepoll instance: readiness
// and the sleeper's wake-up both come through.
TEST(MixedSet, InstanceWithKernelFdInsideAnotherInstance) {
  Mixed inner;
  const int outer = uep_epoll_create1(0);
  ASSERT_EQ(0, Add(outer, inner.ep, EPOLLIN, 9));
  epoll_event out[2];
  EXPECT_EQ(0, uep_epoll_wait(outer, out, 2, 0));
  inner.KernelReady();
  ASSERT_EQ(1, uep_epoll_wait(outer, out, 2, 0));
  EXPECT_EQ(9U, uint64_t{out[0].data.u64});
  inner.Consume(true);
  EXPECT_EQ(0, uep_epoll_wait(outer, out, 2, 0));
  for (bool kernel_side : {true, false}) {
    std::thread writer([&] {
      std::this_thread::sleep_for(milliseconds(50));
      inner.MakeReady(kernel_side);
    });
    ASSERT_EQ(1, uep_epoll_wait(outer, out, 2, 10000)) << "kernel side " << kernel_side;
    EXPECT_EQ(9U, uint64_t{out[0].data.u64});
    writer.join();
    EXPECT_FALSE(inner.WaitSet(4, 0).empty());
    inner.Consume(kernel_side);
  }
  uep_close(outer);
}

// The child gets its first kernel descriptor after the parents watch it, two levels deep.
TEST(MixedSet, KernelSideCreatedUnderWatchingParents) {
  const int inner = uep_epoll_create1(0);
  const int middle = uep_epoll_create1(0);
  const int outer = uep_epoll_create1(0);
  ASSERT_EQ(0, Add(middle, inner, EPOLLIN, 1));
  ASSERT_EQ(0, Add(outer, middle, EPOLLIN, 2));
  int sock[2];
  ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sock));
  ASSERT_EQ(0, Add(inner, sock[0], EPOLLIN, 3));
  std::thread writer([&] {
    std::this_thread::sleep_for(milliseconds(50));
    ASSERT_EQ(1, write(sock[1], "z", 1));
  });
  epoll_event out[2];
  ASSERT_EQ(1, uep_epoll_wait(outer, out, 2, 10000));
  EXPECT_EQ(2U, uint64_t{out[0].data.u64});
  writer.join();
  ASSERT_EQ(1, uep_epoll_wait(inner, out, 2, 0));
  EXPECT_EQ(3U, uint64_t{out[0].data.u64});
  // Removing the middle item unlinks it: the outer instance no longer hears of it.
  ASSERT_EQ(0, uep_epoll_ctl(outer, EPOLL_CTL_DEL, middle, nullptr));
  EXPECT_EQ(0, uep_epoll_wait(outer, out, 2, 30));
  close(sock[0]);
  close(sock[1]);
  for (int ep : {outer, middle, inner}) uep_close(ep);
}

// ---- uep_epoll_kernel_fd ----

bool KernelPollReadable(int fd) {
  pollfd pfd{fd, POLLIN, 0};
  return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN) != 0;
}

TEST(KernelFd, ReadableExactlyWhileEventsAreReady) {
  Mixed m;
  const int kfd = uep_epoll_kernel_fd(m.ep);
  ASSERT_GE(kfd, 0);
  EXPECT_LT(kfd, uep_fd_base());
  EXPECT_EQ(kfd, uep_epoll_kernel_fd(m.ep));
  EXPECT_FALSE(KernelPollReadable(kfd));
  m.UserReady();
  EXPECT_TRUE(KernelPollReadable(kfd));
  EXPECT_TRUE(KernelPollReadable(kfd));  // level: still
  EXPECT_EQ((std::set<uint64_t>{kUserData}), m.WaitSet(4, 0));
  EXPECT_TRUE(KernelPollReadable(kfd));  // level-triggered item: still ready
  m.Consume(false);
  EXPECT_TRUE(m.WaitSet(4, 0).empty());  // the harvest that finds it drained lowers it
  EXPECT_FALSE(KernelPollReadable(kfd));
  m.KernelReady();
  EXPECT_TRUE(KernelPollReadable(kfd));
  EXPECT_EQ((std::set<uint64_t>{kKernelData}), m.WaitSet(4, 0));
  m.Consume(true);
  EXPECT_FALSE(KernelPollReadable(kfd));
  // An edge-triggered uepoll item: reported once, then the level drops with the harvest.
  const int et = uep_eventfd(0, EFD_NONBLOCK);
  ASSERT_EQ(0, Add(m.ep, et, EPOLLIN | EPOLLET, 5));
  ASSERT_EQ(0, uep_eventfd_write(et, 1));
  EXPECT_TRUE(KernelPollReadable(kfd));
  EXPECT_EQ((std::set<uint64_t>{5}), m.WaitSet(4, 0));
  EXPECT_FALSE(KernelPollReadable(kfd));
  uep_close(et);
}

// A kernel epoll watching an instance that holds kernel descriptors; the loop back is ELOOP.
TEST(KernelFd, KernelEpollWatchesAnInstanceWithKernelFds) {
  Mixed m;
  const int kfd = uep_epoll_kernel_fd(m.ep);
  ASSERT_GE(kfd, 0);
  const int kep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 11;
  ASSERT_EQ(0, epoll_ctl(kep, EPOLL_CTL_ADD, kfd, &ev));
  for (bool kernel_side : {true, false}) {
    std::thread writer([&] {
      std::this_thread::sleep_for(milliseconds(30));
      m.MakeReady(kernel_side);
    });
    epoll_event out;
    ASSERT_EQ(1, epoll_wait(kep, &out, 1, 10000));
    EXPECT_EQ(11U, uint64_t{out.data.u64});
    writer.join();
    EXPECT_EQ((std::set<uint64_t>{kernel_side ? kKernelData : kUserData}), m.WaitSet(4, 0));
    m.Consume(kernel_side);
    EXPECT_TRUE(m.WaitSet(4, 0).empty());
    EXPECT_EQ(0, epoll_wait(kep, &out, 1, 0));
  }
  EXPECT_EQ(-1, Add(m.ep, kep, EPOLLIN, 12));
  EXPECT_EQ(ELOOP, errno);
  close(kep);
}

TEST(KernelFd, ErrorsAndAWakeUpOfAKernelPoll) {
  EXPECT_EQ(-1, uep_epoll_kernel_fd(uep_fd_base() + 4000));
  EXPECT_EQ(EBADF, errno);
  const int efd = uep_eventfd(0, 0);
  EXPECT_EQ(-1, uep_epoll_kernel_fd(efd));
  EXPECT_EQ(EINVAL, errno);
  const int ep = uep_epoll_create1(0);
  ASSERT_EQ(0, Add(ep, efd, EPOLLIN, 1));
  const int kfd = uep_epoll_kernel_fd(ep);
  ASSERT_GE(kfd, 0);
  std::thread writer([&] {
    std::this_thread::sleep_for(milliseconds(50));
    uep_eventfd_write(efd, 1);
  });
  pollfd pfd{kfd, POLLIN, 0};
  EXPECT_EQ(1, poll(&pfd, 1, 10000));  // a kernel poll() sleeping on the instance wakes
  writer.join();
  uep_close(efd);
  uep_close(ep);
}

}  // namespace
