// The timer service behind uepoll's timerfd: one thread for all timers, earlier timers wake
// it, closing a timer at any moment is safe, and TFD_TIMER_CANCEL_ON_SET (driven here
// directly, since setting the clock of the machine is not an option in a test).
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>
#include <vector>

#include "core/fd_table.h"
#include "core/rcu.h"
#include "core/timer_service.h"
#include "files/timerfd.h"
#include "uepoll/uepoll.h"
#include "support/itimerspec.h"

namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

using uep::test::Rel;

int ThreadCount() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') ++n;
    }
    closedir(d);
  }
  return n;
}

uint32_t Mask(int fd) {
  const int ep = uep_epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT;
  uep_epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  epoll_event out{};
  const uint32_t mask = uep_epoll_wait(ep, &out, 1, 0) == 1 ? out.events : 0;
  uep_close(ep);
  return mask;
}

// Calls `f` on the TimerFd behind `fd`.
template <typename F>
void WithTimerFd(int fd, F f) {
  uep::RcuReadGuard guard;
  auto* tfd = dynamic_cast<uep::TimerFd*>(uep::FdTable::Get().Lookup(fd));
  ASSERT_NE(nullptr, tfd);
  f(tfd);
}

TEST(TimerServiceTest, OneThreadForAllTimers) {
  // Start the service (and the clock watcher) first, then count.
  const int warm = uep_timerfd_create(CLOCK_REALTIME, 0);
  itimerspec its = Rel(3600L * 1000000000);
  ASSERT_EQ(0, uep_timerfd_settime(warm, 0, &its, nullptr));
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  its.it_value.tv_sec = now.tv_sec + 3600;
  ASSERT_EQ(0, uep_timerfd_settime(warm, TFD_TIMER_ABSTIME, &its, nullptr));
  std::this_thread::sleep_for(milliseconds(20));
  const int before = ThreadCount();
  std::vector<int> fds;
  for (int i = 0; i < 2000; ++i) {
    const int fd = uep_timerfd_create(i % 3 == 0 ? CLOCK_BOOTTIME : CLOCK_MONOTONIC, TFD_NONBLOCK);
    ASSERT_GE(fd, 0);
    its = Rel(1000000L + i * 10000L, i % 2 == 0 ? 1000000L : 0);
    ASSERT_EQ(0, uep_timerfd_settime(fd, 0, &its, nullptr));
    fds.push_back(fd);
  }
  std::this_thread::sleep_for(milliseconds(60));
  EXPECT_EQ(before, ThreadCount());
  for (const int fd : fds) {
    uint64_t v = 0;
    EXPECT_EQ(8, uep_read(fd, &v, sizeof v));
    EXPECT_GE(v, 1U);
    uep_close(fd);
  }
  uep_close(warm);
}

TEST(TimerServiceTest, EarlierTimerWakesTheService) {
  const int late = uep_timerfd_create(CLOCK_MONOTONIC, 0);
  const int early = uep_timerfd_create(CLOCK_MONOTONIC, 0);
  itimerspec its = Rel(30L * 1000000000);
  ASSERT_EQ(0, uep_timerfd_settime(late, 0, &its, nullptr));
  std::this_thread::sleep_for(milliseconds(10));  // the service now sleeps for ~30 s
  its = Rel(5000000);
  const auto start = Clock::now();
  ASSERT_EQ(0, uep_timerfd_settime(early, 0, &its, nullptr));
  uint64_t v = 0;
  ASSERT_EQ(8, uep_read(early, &v, sizeof v));
  EXPECT_EQ(1U, v);
  EXPECT_LT(Clock::now() - start, milliseconds(2000));
  EXPECT_GE(Clock::now() - start, milliseconds(5));
  uep_close(late);
  uep_close(early);
}

// Timers closed, re-armed and disarmed from several threads while they fire.
TEST(TimerServiceTest, CloseAndRearmWhileFiring) {
  const size_t queued_before = uep::TimerService::Get().QueuedForTest();
  std::atomic<long> reads{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t, &reads] {
      std::mt19937 rng(static_cast<unsigned>(t) + 1);
      for (int i = 0; i < 3000; ++i) {
        const int fd = uep_timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
        itimerspec its = Rel(static_cast<long>(rng() % 200000) + 1, (rng() % 4 == 0) ? 50000 : 0);
        uep_timerfd_settime(fd, 0, &its, nullptr);
        if (rng() % 2 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 300));
        if (rng() % 3 == 0) {
          its = Rel(static_cast<long>(rng() % 100000) + 1);
          uep_timerfd_settime(fd, 0, &its, nullptr);
        }
        uint64_t v = 0;
        if (uep_read(fd, &v, sizeof v) == 8) reads.fetch_add(1);
        if (rng() % 5 == 0) {
          its = Rel(0);
          uep_timerfd_settime(fd, 0, &its, nullptr);
        }
        uep_close(fd);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(queued_before, uep::TimerService::Get().QueuedForTest());
}

// TFD_TIMER_CANCEL_ON_SET, with the service's clock-set notice delivered by hand.
TEST(TimerServiceTest, CancelOnSet) {
  const int fd = uep_timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK);
  const int plain = uep_timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK);
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  itimerspec its{};
  its.it_value.tv_sec = now.tv_sec + 3600;
  ASSERT_EQ(0, uep_timerfd_settime(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, nullptr));
  ASSERT_EQ(0, uep_timerfd_settime(plain, TFD_TIMER_ABSTIME, &its, nullptr));
  EXPECT_EQ(0U, Mask(fd));

  WithTimerFd(fd, [](uep::TimerFd* t) { t->ClockWasSet(); });
  WithTimerFd(plain, [](uep::TimerFd* t) { t->ClockWasSet(); });
  EXPECT_EQ(static_cast<uint32_t>(EPOLLIN), Mask(fd));
  EXPECT_EQ(0U, Mask(plain));
  uint64_t v = 0;
  EXPECT_EQ(-1, uep_read(fd, &v, sizeof v));
  EXPECT_EQ(ECANCELED, errno);
  EXPECT_EQ(-1, uep_read(fd, &v, sizeof v));
  EXPECT_EQ(EAGAIN, errno);
  EXPECT_EQ(-1, uep_read(plain, &v, sizeof v));
  EXPECT_EQ(EAGAIN, errno);
  // The timer itself stays armed.
  itimerspec cur{};
  ASSERT_EQ(0, uep_timerfd_gettime(fd, &cur));
  EXPECT_GT(cur.it_value.tv_sec, 3000);

  // A pending cancel makes settime fail with ECANCELED, with the new value armed.
  WithTimerFd(fd, [](uep::TimerFd* t) { t->ClockWasSet(); });
  its.it_value.tv_sec = now.tv_sec + 7200;
  EXPECT_EQ(-1, uep_timerfd_settime(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, nullptr));
  EXPECT_EQ(ECANCELED, errno);
  ASSERT_EQ(0, uep_timerfd_gettime(fd, &cur));
  EXPECT_GT(cur.it_value.tv_sec, 6000);
  // TFD_IOC_SET_TICKS sees a cancel too.
  WithTimerFd(fd, [](uep::TimerFd* t) { t->ClockWasSet(); });
  uint64_t ticks = 3;
  EXPECT_EQ(-1, uep_ioctl(fd, _IOW('T', 0, uint64_t), &ticks));
  EXPECT_EQ(ECANCELED, errno);
  // Without the flags the timer no longer cancels.
  ASSERT_EQ(0, uep_timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, nullptr));
  WithTimerFd(fd, [](uep::TimerFd* t) { t->ClockWasSet(); });
  EXPECT_EQ(0U, Mask(fd));
  uep_close(fd);
  uep_close(plain);
}

// A clock set the kernel has already reported is seen by the next call on a cancel-on-set
// timer, as the kernel marks such timers inside clock_settime(): settime and read fail
// with ECANCELED at once, not once the watcher thread gets round to it. (The notice is
// injected where the kernel leaves it: the machine's clock is not the test's to set.)
TEST(TimerServiceTest, ClockSetSeenByTheNextCall) {
  const int fd = uep_timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK);
  ASSERT_GE(fd, 0);
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  itimerspec its{};
  its.it_value.tv_sec = now.tv_sec + 3600;
  constexpr int kFlags = TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET;
  ASSERT_EQ(0, uep_timerfd_settime(fd, kFlags, &its, nullptr));
  uep::TimerService::Get().InjectClockSetForTest();
  EXPECT_EQ(-1, uep_timerfd_settime(fd, kFlags, &its, nullptr));
  EXPECT_EQ(ECANCELED, errno);
  ASSERT_EQ(0, uep_timerfd_settime(fd, kFlags, &its, nullptr));
  uep::TimerService::Get().InjectClockSetForTest();
  uint64_t v = 0;
  EXPECT_EQ(-1, uep_read(fd, &v, sizeof v));
  EXPECT_EQ(ECANCELED, errno);
  uep_close(fd);
}

}  // namespace
