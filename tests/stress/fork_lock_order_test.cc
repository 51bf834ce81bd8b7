// fork() while another thread fills and empties a nested instance. An ADD into an instance
// that is watched holds epmutex, and so does the close of a watched file; both may wait for
// an RCU grace period (the item index grows or shrinks, or frees a batch of removed items),
// which takes the RCU registry lock: epmutex -> registry lock. fork()'s prepare handlers take the
// global locks in ForkOrder (core/fork.h), which must follow that order, or a fork that took
// the registry lock first waits for epmutex for ever while the closer waits for the
// registry lock. The watchdog turns that hang into a failure.
//
// Sanitizer builds: the closer pauses at each fork (clang 14's runtimes are not fork-safe
// themselves, see fork_stress_test.cc), so only the default build can catch the inversion.
#include <sys/wait.h>

#include <atomic>
#include <thread>
#include <vector>

#include "stress/stress_util.h"
#include "support/sanitizer.h"

namespace uep::stress {
namespace {

constexpr int kForks = 200;
constexpr int kItems = 600;  // several grace periods per round

TEST(ForkLockOrder, ForkWhileFillingAndEmptyingANestedInstance) {
  const int outer = uep_epoll_create1(0);
  ASSERT_GE(outer, 0);
  std::atomic<bool> stop{false};
  std::atomic<bool> forking{false};
  std::atomic<bool> closing{false};
  std::atomic<long> closes{0};
  std::atomic<int> forks{0};
  Watchdog watchdog("fork while filling and emptying a nested instance", [&] { stop.store(true); },
                    [&] { return "forks " + std::to_string(forks.load()) +
                                 ", closes " + std::to_string(closes.load()); });
  std::thread closer([&] {
    while (!stop.load()) {
      closing.store(true);
      if (uep::test::kSanitized && forking.load()) {
        closing.store(false);
        std::this_thread::yield();
        continue;
      }
      const int ep = uep_epoll_create1(0);
      epoll_event nest{EPOLLIN, {}};
      if (ep < 0 || uep_epoll_ctl(outer, EPOLL_CTL_ADD, ep, &nest) != 0) break;
      std::vector<int> efds;
      for (int i = 0; i < kItems; ++i) {
        const int fd = uep_eventfd(0, EFD_NONBLOCK);
        epoll_event ev{EPOLLIN, {}};
        if (fd < 0 || uep_epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) break;  // epmutex
        efds.push_back(fd);
      }
      for (const int fd : efds) uep_close(fd);  // epmutex: the item goes
      uep_close(ep);
      closing.store(false);
      closes.fetch_add(1);
    }
  });
  watchdog.WaitFor([&] { return closes.load() > 0; });
  int failed = 0;
  while (forks.load() < kForks && !watchdog.Fired()) {
    if (uep::test::kSanitized) {
      forking.store(true);
      while (closing.load()) std::this_thread::yield();
    }
    const pid_t pid = fork();
    forking.store(false);
    ASSERT_GE(pid, 0);
    if (pid == 0) _exit(0);
    forks.fetch_add(1);
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      ++failed;
    }
  }
  stop.store(true);
  closer.join();
  watchdog.Disarm();
  uep_close(outer);
  EXPECT_EQ(0, failed);
  EXPECT_EQ(kForks, forks.load());
  EXPECT_GT(closes.load(), 0);
  std::printf("forks %d, closes %ld\n", forks.load(), closes.load());
}

}  // namespace
}  // namespace uep::stress
