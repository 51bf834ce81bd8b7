// fork() while other threads hammer uepoll: whatever lock or thread they held at that
// moment, each child makes and uses every kind (eventfd, pipe, socket pair, a timerfd that
// must fire, an epoll instance watching them all, a masked wait, a thread of its own) and
// exits with a status the parent checks. At least kMinForks forks, more while the budget
// (UEPOLL_STRESS_SECONDS) lasts; a child that hangs is killed at its deadline and fails the
// test, and the watchdog turns a hang of the parent (a fork handler waiting for ever) into
// a failure.
//
// Sanitizer builds: the runtimes of clang 14 are not fork-safe themselves (ASan's allocator
// lock, held by a thread of the parent at the fork, stays held in the child, which then
// hangs in its first malloc; TSan refuses threads after a multithreaded fork unless told
// otherwise). There the hammering threads pause at each fork (Gate), so what is checked is
// the child's use of every kind, under the sanitizer, with no runtime lock held.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>

#include <atomic>
#include <thread>
#include <vector>

#include "stress/stress_util.h"
#include "support/sanitizer.h"

#ifdef UEP_TEST_THREAD_SANITIZER
// The child starts threads (its own, the timer service's).
extern "C" const char* __tsan_default_options() { return "die_after_fork=0"; }
#endif

namespace uep::stress {
namespace {

constexpr int kMinForks = 200;

// Sanitizer builds only (see the top): no hammering round runs across a fork.
std::atomic<int> rounds_running{0};
std::atomic<bool> forking{false};
struct Gate {
  Gate() {
    if (!uep::test::kSanitized) return;
    for (;;) {
      while (forking.load()) std::this_thread::yield();
      rounds_running.fetch_add(1);
      if (!forking.load()) return;
      rounds_running.fetch_sub(1);
    }
  }
  ~Gate() {
    if (uep::test::kSanitized) rounds_running.fetch_sub(1);
  }
  static void CloseForFork() {
    if (!uep::test::kSanitized) return;
    forking.store(true);
    while (rounds_running.load() != 0) std::this_thread::yield();
  }
  static void Open() { forking.store(false); }
};

// The child's checks; returns 0 or the number of the step that failed.
int ChildUsesEveryKind() {
  const int efd = uep_eventfd(0, EFD_NONBLOCK);
  int pfd[2];
  int sv[2];
  const int tfd = uep_timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  const int ep = uep_epoll_create1(0);
  const int outer = uep_epoll_create1(0);
  if (efd < 0 || tfd < 0 || ep < 0 || outer < 0) return 2;
  if (uep_pipe2(pfd, O_NONBLOCK) != 0) return 3;
  if (uep_socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0) return 4;
  for (const int fd : {efd, pfd[0], sv[1], tfd}) {
    epoll_event ev{EPOLLIN, {}};
    ev.data.fd = fd;
    if (uep_epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) return 5;
  }
  epoll_event nest{EPOLLIN, {}};
  if (uep_epoll_ctl(outer, EPOLL_CTL_ADD, ep, &nest) != 0) return 6;
  itimerspec its{};
  its.it_value.tv_nsec = 1000000;
  if (uep_timerfd_settime(tfd, 0, &its, nullptr) != 0) return 7;
  // The eventfd is written by a thread of the child, the others here.
  std::thread writer([efd] { uep_eventfd_write(efd, 1); });
  if (uep_write(pfd[1], "p", 1) != 1 || uep_write(sv[0], "s", 1) != 1) return 8;
  // The nested instance reports the inner one ready (sleeping with a signal mask).
  sigset_t mask;
  sigemptyset(&mask);
  epoll_event ev{};
  if (uep_epoll_pwait(outer, &ev, 1, 10000, &mask) != 1) return 9;
  writer.join();
  unsigned seen = 0;
  const auto end = Clock::now() + std::chrono::seconds(10);
  while (seen != 0xf && Clock::now() < end) {
    epoll_event evs[4];
    const int n = uep_epoll_wait(ep, evs, 4, 1000);
    for (int i = 0; i < n; ++i) {
      const int fd = evs[i].data.fd;
      seen |= fd == efd ? 1U : fd == pfd[0] ? 2U : fd == sv[1] ? 4U : fd == tfd ? 8U : 0U;
    }
  }
  if (seen != 0xf) return 10 + static_cast<int>(seen);  // 10..24: which kinds were missing
  uint64_t v = 0;
  char c = 0;
  if (uep_read(efd, &v, sizeof v) != 8 || v != 1) return 30;
  if (uep_read(tfd, &v, sizeof v) != 8 || v != 1) return 31;
  if (uep_read(pfd[0], &c, 1) != 1 || c != 'p') return 32;
  if (uep_read(sv[1], &c, 1) != 1 || c != 's') return 33;
  for (const int fd : {outer, ep, efd, tfd, pfd[0], pfd[1], sv[0], sv[1]}) {
    if (uep_close(fd) != 0) return 34;
  }
  return 0;
}

// The child's exit status; -1 if it had to be killed at its deadline.
int WaitChild(pid_t pid) {
  const auto end = Clock::now() + std::chrono::seconds(30);
  for (;;) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (Clock::now() > end) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

// Shared objects of the parent, hammered by every thread.
struct Shared {
  int efd = -1;
  int pfd[2] = {-1, -1};
  int sv[2] = {-1, -1};
  int tfd = -1;
  int ep = -1;
};

void Drain(int fd) {
  char buf[256];
  while (uep_read(fd, buf, sizeof buf) > 0) {
  }
}

// Writes and harvests (level-triggered, plain and masked waits).
void Harvester(const Shared& s, const std::atomic<bool>& stop, std::atomic<long>* ops) {
  sigset_t mask;
  sigemptyset(&mask);
  for (long i = 0; !stop.load(std::memory_order_relaxed); ++i) {
    Gate gate;
    uep_eventfd_write(s.efd, 1);
    uep_write(s.pfd[1], "x", 1);
    uep_write(s.sv[0], "y", 1);
    epoll_event evs[8];
    const int n = (i % 2 == 0) ? uep_epoll_wait(s.ep, evs, 8, 1)
                               : uep_epoll_pwait(s.ep, evs, 8, 1, &mask);
    for (int k = 0; k < n; ++k) Drain(evs[k].data.fd);
    ops->fetch_add(1, std::memory_order_relaxed);
    if (i % 16 == 0) std::this_thread::sleep_for(std::chrono::microseconds(50));  // leave the children a CPU
  }
}

// Creates, adds, modifies, removes and closes every kind; arms short timers.
void Churner(const Shared& s, const std::atomic<bool>& stop, std::atomic<long>* ops) {
  while (!stop.load(std::memory_order_relaxed)) {
    Gate gate;
    const int e = uep_eventfd(1, EFD_NONBLOCK);
    epoll_event ev{EPOLLIN, {}};
    ev.data.fd = e;
    uep_epoll_ctl(s.ep, EPOLL_CTL_ADD, e, &ev);
    ev.events = EPOLLIN | EPOLLET;
    uep_epoll_ctl(s.ep, EPOLL_CTL_MOD, e, &ev);
    uep_epoll_ctl(s.ep, EPOLL_CTL_DEL, e, nullptr);
    uep_close(e);
    int p[2];
    if (uep_pipe2(p, O_NONBLOCK) == 0) {
      uep_close(p[0]);
      uep_close(p[1]);
    }
    int sv[2];
    if (uep_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0) {
      uep_close(sv[1]);
      uep_close(sv[0]);
    }
    const int t = uep_timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK);
    itimerspec its{};
    its.it_value.tv_nsec = 50000;
    uep_timerfd_settime(t, 0, &its, nullptr);
    uep_close(t);
    const int inner = uep_epoll_create1(0);
    epoll_event nest{EPOLLIN, {}};
    uep_epoll_ctl(inner, EPOLL_CTL_ADD, s.ep, &nest);  // takes epmutex
    uep_close(inner);
    ops->fetch_add(1, std::memory_order_relaxed);
    std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
}

// Reads the periodic timer and blocks briefly in poll on the instance.
void Sleeper(const Shared& s, const std::atomic<bool>& stop, std::atomic<long>* ops) {
  while (!stop.load(std::memory_order_relaxed)) {
    Gate gate;
    pollfd pfd{s.tfd, POLLIN, 0};
    if (uep_poll(&pfd, 1, 2) > 0) Drain(s.tfd);
    ops->fetch_add(1, std::memory_order_relaxed);
  }
}

TEST(ForkStressTest, ForkWhileThreadsHammerEveryKind) {
  Shared s;
  s.efd = uep_eventfd(0, EFD_NONBLOCK);
  s.tfd = uep_timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  s.ep = uep_epoll_create1(0);
  ASSERT_EQ(0, uep_pipe2(s.pfd, O_NONBLOCK));
  ASSERT_EQ(0, uep_socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, s.sv));
  for (const int fd : {s.efd, s.pfd[0], s.sv[1], s.tfd}) {
    epoll_event ev{EPOLLIN, {}};
    ev.data.fd = fd;
    ASSERT_EQ(0, uep_epoll_ctl(s.ep, EPOLL_CTL_ADD, fd, &ev));
  }
  itimerspec its{};
  its.it_value.tv_nsec = 200000;
  its.it_interval.tv_nsec = 200000;
  ASSERT_EQ(0, uep_timerfd_settime(s.tfd, 0, &its, nullptr));

  std::atomic<bool> stop{false};
  std::atomic<long> ops[3] = {};
  std::atomic<int> forks{0};
  // kMinForks forks, each a child that uses every kind, take 10-30 s under a sanitizer on a
  // loaded machine (160 in 30 s was seen): the limit is for a hang, not for slowness.
  Watchdog watchdog(
      "fork stress", [&] { stop.store(true); },
      [&] { return "forks " + std::to_string(forks.load()); }, 120);
  std::vector<std::thread> threads;
  threads.emplace_back(Harvester, std::cref(s), std::cref(stop), &ops[0]);
  threads.emplace_back(Churner, std::cref(s), std::cref(stop), &ops[1]);
  threads.emplace_back(Sleeper, std::cref(s), std::cref(stop), &ops[2]);

  // Every thread is under way before the first fork (and, under a sanitizer, past its
  // runtime's start-up, which allocates: the churner's first realtime timer started the
  // clock watcher thread).
  watchdog.WaitFor([&] { return ops[0].load() > 0 && ops[1].load() > 0 && ops[2].load() > 0; });
  if (uep::test::kSanitized) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::vector<int> failures;  // exit statuses of failed children
  const auto end = BudgetEnd();
  while ((forks.load() < kMinForks || Clock::now() < end) && !watchdog.Fired()) {
    Gate::CloseForFork();
    const pid_t pid = fork();
    Gate::Open();
    ASSERT_GE(pid, 0);
    if (pid == 0) _exit(ChildUsesEveryKind());
    forks.fetch_add(1);
    const int status = WaitChild(pid);
    if (status != 0) failures.push_back(status);
  }
  stop.store(true);
  for (auto& th : threads) th.join();
  watchdog.Disarm();

  EXPECT_TRUE(failures.empty()) << failures.size() << " of " << forks.load()
                                << " children failed; first status " << failures.front();
  EXPECT_GE(forks.load(), kMinForks);
  for (const auto& n : ops) EXPECT_GT(n.load(), 0);
  std::printf("forks %d, parent ops %ld / %ld / %ld\n", forks.load(), ops[0].load(),
              ops[1].load(), ops[2].load());
  for (const int fd : {s.ep, s.efd, s.tfd, s.pfd[0], s.pfd[1], s.sv[0], s.sv[1]}) {
    EXPECT_EQ(0, uep_close(fd));
  }
}

}  // namespace
}  // namespace uep::stress
