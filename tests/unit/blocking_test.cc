// Sleeping waits: timeouts are honoured and never early, signals interrupt epoll waits
// with EINTR even under SA_RESTART, pwait applies its mask atomically, and a blocking
// eventfd read is restarted or interrupted exactly as the kernel's. Each signal scenario
// runs on the kernel too, so the expectation is the kernel's behaviour, not ours.
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "support/backend.h"

namespace {

using uep::test::Backend;
using uep::test::KernelBackend;
using uep::test::UepollBackend;

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::atomic<int> handled{0};
void CountingHandler(int /*sig*/) { handled.fetch_add(1); }

void InstallHandler(bool restart) {
  struct sigaction sa {};
  sa.sa_handler = CountingHandler;
  sa.sa_flags = restart ? SA_RESTART : 0;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(0, sigaction(SIGUSR1, &sa, nullptr));
}

class BlockingTest : public ::testing::TestWithParam<const Backend*> {
 protected:
  const Backend& backend() const { return *GetParam(); }
};

// Sends SIGUSR1 to `target` after `delay`, on its own thread.
std::thread SignalLater(pthread_t target, milliseconds delay) {
  return std::thread([target, delay] {
    std::this_thread::sleep_for(delay);
    pthread_kill(target, SIGUSR1);
  });
}

TEST_P(BlockingTest, TimeoutIsNeverEarly) {
  const int ep = backend().epoll_create1(0);
  epoll_event ev{};
  for (int ms : {1, 10, 50}) {
    const auto start = Clock::now();
    EXPECT_EQ(0, backend().epoll_wait(ep, &ev, 1, ms));
    EXPECT_GE(Clock::now() - start, milliseconds(ms)) << ms;
  }
  const timespec ts{0, 20 * 1000 * 1000};
  const auto start = Clock::now();
  EXPECT_EQ(0, backend().epoll_pwait2(ep, &ev, 1, &ts, nullptr));
  EXPECT_GE(Clock::now() - start, milliseconds(20));
  backend().close(ep);
}

TEST_P(BlockingTest, WakesOnEventFromAnotherThread) {
  const int ep = backend().epoll_create1(0);
  const int efd = backend().eventfd(0, EFD_NONBLOCK);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 9;
  ASSERT_EQ(0, backend().epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev));
  std::thread writer([&] {
    std::this_thread::sleep_for(milliseconds(30));
    const uint64_t one = 1;
    backend().write(efd, &one, sizeof one);
  });
  epoll_event out{};
  EXPECT_EQ(1, backend().epoll_wait(ep, &out, 1, -1));
  EXPECT_EQ(9u, uint64_t{out.data.u64});  // a copy: epoll_event is packed
  writer.join();
  backend().close(efd);
  backend().close(ep);
}

TEST_P(BlockingTest, SignalInterruptsWaitEvenWithSaRestart) {
  for (bool restart : {true, false}) {
    for (int timeout : {-1, 5000}) {
      InstallHandler(restart);
      const int ep = backend().epoll_create1(0);
      handled = 0;
      std::thread killer = SignalLater(pthread_self(), milliseconds(50));
      epoll_event ev{};
      errno = 0;
      const int r = backend().epoll_wait(ep, &ev, 1, timeout);
      const int err = errno;
      killer.join();
      EXPECT_EQ(-1, r) << "restart=" << restart << " timeout=" << timeout;
      EXPECT_EQ(EINTR, err);
      EXPECT_EQ(1, handled.load());
      backend().close(ep);
    }
  }
}

TEST_P(BlockingTest, PwaitAppliesItsMaskAtomically) {
  InstallHandler(true);
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  sigset_t old;
  ASSERT_EQ(0, pthread_sigmask(SIG_BLOCK, &block, &old));
  const int ep = backend().epoll_create1(0);
  handled = 0;
  // Pending before the call and blocked: only the wait's mask lets it in.
  pthread_kill(pthread_self(), SIGUSR1);
  EXPECT_EQ(0, handled.load());
  sigset_t during;
  sigemptyset(&during);
  epoll_event ev{};
  errno = 0;
  EXPECT_EQ(-1, backend().epoll_pwait(ep, &ev, 1, 5000, &during));
  EXPECT_EQ(EINTR, errno);
  EXPECT_EQ(1, handled.load());
  // The caller's mask is back: a new signal stays pending.
  pthread_kill(pthread_self(), SIGUSR1);
  EXPECT_EQ(0, backend().epoll_pwait(ep, &ev, 1, 10, nullptr));
  EXPECT_EQ(1, handled.load());
  // A signal that arrives while sleeping with the mask also interrupts.
  std::thread killer = SignalLater(pthread_self(), milliseconds(30));
  EXPECT_EQ(-1, backend().epoll_pwait(ep, &ev, 1, 5000, &during));  // the pending one
  EXPECT_EQ(EINTR, errno);
  EXPECT_EQ(-1, backend().epoll_pwait(ep, &ev, 1, 5000, &during));  // the late one
  EXPECT_EQ(EINTR, errno);
  killer.join();
  EXPECT_EQ(3, handled.load());
  ASSERT_EQ(0, pthread_sigmask(SIG_SETMASK, &old, nullptr));
  backend().close(ep);
}

TEST_P(BlockingTest, PwaitWithMaskStillDeliversEvents) {
  const int ep = backend().epoll_create1(0);
  const int efd = backend().eventfd(0, 0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ASSERT_EQ(0, backend().epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev));
  std::thread writer([&] {
    std::this_thread::sleep_for(milliseconds(30));
    const uint64_t one = 1;
    backend().write(efd, &one, sizeof one);
  });
  sigset_t none;
  sigemptyset(&none);
  EXPECT_EQ(1, backend().epoll_pwait(ep, &ev, 1, 5000, &none));
  writer.join();
  backend().close(efd);
  backend().close(ep);
}

TEST_P(BlockingTest, BlockingEventfdReadIsRestartedUnderSaRestart) {
  InstallHandler(true);
  const int efd = backend().eventfd(0, 0);
  handled = 0;
  std::thread killer = SignalLater(pthread_self(), milliseconds(30));
  std::thread writer([&] {
    std::this_thread::sleep_for(milliseconds(120));
    const uint64_t five = 5;
    backend().write(efd, &five, sizeof five);
  });
  uint64_t v = 0;
  EXPECT_EQ(8, backend().read(efd, &v, sizeof v));
  EXPECT_EQ(5u, v);
  EXPECT_EQ(1, handled.load());
  killer.join();
  writer.join();
  backend().close(efd);
}

TEST_P(BlockingTest, BlockingEventfdReadIsInterruptedWithoutSaRestart) {
  InstallHandler(false);
  const int efd = backend().eventfd(0, 0);
  handled = 0;
  std::thread killer = SignalLater(pthread_self(), milliseconds(30));
  uint64_t v = 0;
  errno = 0;
  EXPECT_EQ(-1, backend().read(efd, &v, sizeof v));
  EXPECT_EQ(EINTR, errno);
  killer.join();
  backend().close(efd);
}

TEST_P(BlockingTest, BlockingWriteWaitsForRoom) {
  const int efd = backend().eventfd(0, 0);
  const uint64_t big = ~0ULL - 1;
  ASSERT_EQ(8, backend().write(efd, &big, sizeof big));
  std::thread reader([&] {
    std::this_thread::sleep_for(milliseconds(30));
    uint64_t v = 0;
    backend().read(efd, &v, sizeof v);
  });
  const uint64_t one = 1;
  const auto start = Clock::now();
  EXPECT_EQ(8, backend().write(efd, &one, sizeof one));
  EXPECT_GE(Clock::now() - start, milliseconds(20));
  reader.join();
  uint64_t v = 0;
  EXPECT_EQ(8, backend().read(efd, &v, sizeof v));
  EXPECT_EQ(1u, v);
  backend().close(efd);
}

TEST_P(BlockingTest, TimedOutWaiterStillCollectsARacingEvent) {
  // Many short waits against a writer: every write must be seen by some wait.
  const int ep = backend().epoll_create1(0);
  const int efd = backend().eventfd(0, EFD_NONBLOCK);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;
  ASSERT_EQ(0, backend().epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> written{0};
  std::thread writer([&] {
    const uint64_t one = 1;
    while (!stop) {
      backend().write(efd, &one, sizeof one);
      written.fetch_add(1);
      std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
  });
  uint64_t seen = 0;
  const auto end = Clock::now() + milliseconds(300);
  while (Clock::now() < end) {
    epoll_event out{};
    if (backend().epoll_wait(ep, &out, 1, 1) == 1) {
      uint64_t v = 0;
      if (backend().read(efd, &v, sizeof v) == 8) seen += v;
    }
  }
  stop = true;
  writer.join();
  // The last writes may still sit in the counter; drain with one more ET round.
  epoll_event out{};
  while (backend().epoll_wait(ep, &out, 1, 50) == 1) {
    uint64_t v = 0;
    if (backend().read(efd, &v, sizeof v) == 8) seen += v;
  }
  EXPECT_EQ(written.load(), seen);
  backend().close(efd);
  backend().close(ep);
}

INSTANTIATE_TEST_SUITE_P(KernelAndUepoll, BlockingTest,
                         ::testing::Values(&KernelBackend(), &UepollBackend()),
                         [](const auto& param_info) {
                           return std::string(param_info.param->name);
                         });

}  // namespace
