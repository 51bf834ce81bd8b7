// Signal handlers that call uepoll, as self-pipe programs do (Python's set_wakeup_fd,
// libuv's and libevent's signal pipes): each scenario runs on the kernel and on uepoll, and
// both must finish with the same totals. A handler that interrupts its own thread inside
// uepoll must neither wait for a lock that thread holds nor hold back another thread's
// wake-up. A stalled scenario aborts the test with a message instead of hanging it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>
#include <utility>

#include "support/backend.h"
#include "support/sanitizer.h"
#include "uepoll/file.hpp"
#include "uepoll/uepoll.h"
#include "support/scoped_handler.h"

namespace uep::test {
namespace {

using Clock = std::chrono::steady_clock;

// Aborts the process when `progress` stops moving for `limit` while armed.
class StallWatchdog {
 public:
  StallWatchdog(const char* what, const std::atomic<long>* progress, double limit = 10.0)
      : what_(what), progress_(progress), limit_(limit) {
    thread_ = std::thread([this] { Run(); });
  }
  ~StallWatchdog() {
    stop_.store(true);
    thread_.join();
  }
  StallWatchdog(const StallWatchdog&) = delete;
  StallWatchdog& operator=(const StallWatchdog&) = delete;

 private:
  void Run() {
    long last = progress_->load();
    auto since = Clock::now();
    while (!stop_.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      const long now_progress = progress_->load();
      if (now_progress != last) {
        last = now_progress;
        since = Clock::now();
      } else if (std::chrono::duration<double>(Clock::now() - since).count() > limit_) {
        std::fprintf(stderr, "%s: no progress for %.0f s (at %ld): deadlocked\n", what_, limit_,
                     last);
        std::abort();
      }
    }
  }

  const char* what_;
  const std::atomic<long>* progress_;
  double limit_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A POSIX timer that sends `sig` to the calling thread every `interval_ns`.
class ThreadTimer {
 public:
  ThreadTimer(int sig, long interval_ns) {
    sigevent sev{};
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = sig;
    sev._sigev_un._tid = static_cast<pid_t>(syscall(SYS_gettid));
    if (timer_create(CLOCK_MONOTONIC, &sev, &timer_) != 0) std::abort();
    const itimerspec its{{0, interval_ns}, {0, interval_ns}};
    timer_settime(timer_, 0, &its, nullptr);
  }
  ~ThreadTimer() { timer_delete(timer_); }
  ThreadTimer(const ThreadTimer&) = delete;
  ThreadTimer& operator=(const ThreadTimer&) = delete;

 private:
  timer_t timer_{};
};

// What the handlers use: set before a handler can run.
const Backend* g_backend = nullptr;
std::atomic<int> g_fd{-1};
std::atomic<long> g_handler_writes{0};
std::atomic<long> g_handler_failures{0};
std::atomic<int> g_handler_errno{0};

void CountWrite(bool ok) {
  if (ok) {
    g_handler_writes.fetch_add(1);
  } else {
    g_handler_failures.fetch_add(1);
    g_handler_errno.store(errno);
  }
}

void WriteEventfdHandler(int /*sig*/) {
  const int saved = errno;
  CountWrite(g_backend->eventfd_write(g_fd.load(), 1) == 0);
  errno = saved;
}

void WriteByteHandler(int /*sig*/) {
  const int saved = errno;
  const char byte = 's';
  CountWrite(g_backend->write(g_fd.load(), &byte, 1) == 1);
  errno = saved;
}

void ResetCounts(const Backend& b, int fd) {
  g_backend = &b;
  g_fd.store(fd);
  g_handler_writes.store(0);
  g_handler_failures.store(0);
  g_handler_errno.store(0);
}

void BlockSignal(int sig, bool block) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, nullptr);
}

int AddIn(const Backend& b, int ep, int fd) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  return b.epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

// An instance watching a non-blocking eventfd, which the handlers use.
std::pair<int, int> WatchedEventfd(const Backend& b) {
  const int ep = b.epoll_create1(0);
  const int efd = b.eventfd(0, EFD_NONBLOCK);
  if (ep < 0 || efd < 0 || AddIn(b, ep, efd) != 0) {
    ADD_FAILURE() << b.name << ": set-up failed, errno " << errno;
    return {-1, -1};
  }
  ResetCounts(b, efd);
  return {ep, efd};
}

constexpr long kTimerNs = 50'000;  // 20 kHz at the thread that uses the same objects
constexpr long kIterations = 30'000;

// The thread writes, harvests and reads one eventfd while a 20 kHz timer's handler writes
// it too: every write, the handler's included, is read exactly once.
void EventfdUnderHandler(const Backend& b) {
  const auto [ep, efd] = WatchedEventfd(b);
  ASSERT_GE(efd, 0);
  std::atomic<long> progress{0};
  long written = 0;
  uint64_t consumed = 0;
  {
    ScopedHandler action(SIGRTMIN, WriteEventfdHandler, SA_RESTART);
    StallWatchdog watchdog("eventfd under a handler", &progress);
    ThreadTimer timer(SIGRTMIN, kTimerNs);
    for (long i = 0; i < kIterations; ++i) {
      if (b.eventfd_write(efd, 1) == 0) ++written;
      epoll_event ev[4];
      const int n = b.epoll_wait(ep, ev, 4, 0);
      ASSERT_TRUE(n == 1 || (n < 0 && errno == EINTR)) << n << " " << errno;
      eventfd_t v = 0;
      if (b.eventfd_read(efd, &v) == 0) consumed += v;
      progress.fetch_add(1);
    }
    BlockSignal(SIGRTMIN, true);
  }
  eventfd_t v = 0;
  if (b.eventfd_read(efd, &v) == 0) consumed += v;
  BlockSignal(SIGRTMIN, false);
  EXPECT_EQ(written, kIterations);
  EXPECT_EQ(g_handler_failures.load(), 0) << "errno " << g_handler_errno.load();
  EXPECT_GT(g_handler_writes.load(), 0);
  EXPECT_EQ(consumed, static_cast<uint64_t>(written + g_handler_writes.load()));
  b.close(efd);
  b.close(ep);
}

TEST(SignalSafety, EventfdWrittenByAHandlerOfItsOwnThread) {
  EventfdUnderHandler(KernelBackend());
  EventfdUnderHandler(UepollBackend());
}

// The self-pipe trick: the handler writes a byte to the pipe or socket pair that the
// thread itself writes, harvests and drains; no byte is lost or doubled.
void SelfPipeUnderHandler(const Backend& b, bool socket) {
  int fds[2];
  if (socket) {
    ASSERT_EQ(b.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  } else {
    ASSERT_EQ(b.pipe2(fds, O_NONBLOCK), 0);
  }
  const int ep = b.epoll_create1(0);
  ASSERT_GE(ep, 0);
  ASSERT_EQ(AddIn(b, ep, fds[0]), 0);
  ResetCounts(b, fds[1]);
  std::atomic<long> progress{0};
  long written = 0;
  long consumed = 0;
  auto drain = [&] {
    char buf[256];
    for (;;) {
      const ssize_t r = b.read(fds[0], buf, sizeof buf);
      if (r <= 0) break;
      consumed += r;
    }
  };
  {
    ScopedHandler action(SIGRTMIN, WriteByteHandler, SA_RESTART);
    StallWatchdog watchdog(socket ? "socket pair under a handler" : "pipe under a handler",
                           &progress);
    ThreadTimer timer(SIGRTMIN, kTimerNs);
    for (long i = 0; i < kIterations; ++i) {
      const char byte = 'm';
      if (b.write(fds[1], &byte, 1) == 1) ++written;
      epoll_event ev[4];
      const int n = b.epoll_wait(ep, ev, 4, 0);
      ASSERT_TRUE(n >= 0 || errno == EINTR) << errno;
      drain();
      progress.fetch_add(1);
    }
    BlockSignal(SIGRTMIN, true);
  }
  // Whatever the handler queued is in the file once the thread's calls have returned.
  drain();
  BlockSignal(SIGRTMIN, false);
  EXPECT_EQ(written, kIterations);
  EXPECT_EQ(g_handler_failures.load(), 0) << "errno " << g_handler_errno.load();
  EXPECT_GT(g_handler_writes.load(), 0);
  EXPECT_EQ(consumed, written + g_handler_writes.load());
  b.close(fds[0]);
  b.close(fds[1]);
  b.close(ep);
}

TEST(SignalSafety, PipeWrittenByAHandlerOfItsOwnThread) {
  SelfPipeUnderHandler(KernelBackend(), false);
  SelfPipeUnderHandler(UepollBackend(), false);
}

TEST(SignalSafety, SocketPairWrittenByAHandlerOfItsOwnThread) {
  SelfPipeUnderHandler(KernelBackend(), true);
  SelfPipeUnderHandler(UepollBackend(), true);
}

std::atomic<int> g_close_result{1};
std::atomic<int> g_close_errno{0};

void CloseOnceHandler(int /*sig*/) {
  const int saved = errno;
  const int fd = g_fd.exchange(-1);
  if (fd >= 0) {
    g_close_result.store(g_backend->close(fd));
    g_close_errno.store(errno);
  }
  errno = saved;
}

// A handler closes a descriptor while its thread keeps writing and harvesting it: the close
// succeeds, later calls see EBADF, and the instance no longer reports the closed file.
void CloseUnderHandler(const Backend& b) {
  const auto [ep, efd] = WatchedEventfd(b);
  ASSERT_GE(efd, 0);
  g_close_result.store(1);
  std::atomic<long> progress{0};
  long ebadf = 0;
  {
    ScopedHandler action(SIGRTMIN, CloseOnceHandler, SA_RESTART);
    StallWatchdog watchdog("close under a handler", &progress);
    ThreadTimer timer(SIGRTMIN, kTimerNs);
    while (g_fd.load() >= 0 || progress.load() < 1000) {
      if (b.eventfd_write(efd, 1) != 0 && errno == EBADF) ++ebadf;
      epoll_event ev[4];
      b.epoll_wait(ep, ev, 4, 0);
      progress.fetch_add(1);
    }
    BlockSignal(SIGRTMIN, true);
  }
  BlockSignal(SIGRTMIN, false);
  EXPECT_EQ(g_close_result.load(), 0) << "errno " << g_close_errno.load();
  EXPECT_GT(ebadf, 0);
  EXPECT_EQ(b.fcntl(efd, F_GETFD, 0), -1);
  EXPECT_EQ(errno, EBADF);
  epoll_event ev[4];
  EXPECT_EQ(b.epoll_wait(ep, ev, 4, 0), 0);
  b.close(ep);
}

TEST(SignalSafety, HandlerClosesADescriptorItsThreadUses) {
#ifdef UEP_TEST_THREAD_SANITIZER
  // ThreadSanitizer runs the handler between calls, where its close is the ordinary last
  // close and frees the eventfd at once: a free() in a handler, which it reports as such
  // (docs/semantics.md, "Signal handlers").
  GTEST_SKIP() << "ThreadSanitizer reports the last close's free() in a handler";
#endif
  CloseUnderHandler(KernelBackend());
  CloseUnderHandler(UepollBackend());
}

// A user file type whose state is a counter: its handler-side post() wakes its queue.
class Counter final : public Pollable {
 public:
  void post() {
    count_.fetch_add(1);
    wq_.wake(EPOLLIN);
  }
  uint64_t take() { return count_.exchange(0); }
  std::uint32_t poll(PollContext& ctx) override {
    ctx.wait_on(wq_);
    return count_.load() != 0 ? static_cast<std::uint32_t>(EPOLLIN) : 0U;
  }
  [[nodiscard]] bool lockless_poll() const noexcept override { return true; }

 private:
  WaitQueue wq_;
  std::atomic<uint64_t> count_{0};
};

std::shared_ptr<Counter> g_counter;

void PostCounterHandler(int /*sig*/) {
  g_counter->post();
  g_handler_writes.fetch_add(1);
}

// A user file type woken from a handler of the thread that harvests it: the wake-up is
// never waited for under the queue's lock, and every post is taken once.
TEST(SignalSafety, UserFileWokenByAHandlerOfItsOwnThread) {
  g_counter = std::make_shared<Counter>();
  const int fd = detail::install_pollable(g_counter, 0);
  ASSERT_GE(fd, 0);
  const int ep = uep_epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ASSERT_EQ(uep_epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
  g_handler_writes.store(0);
  std::atomic<long> progress{0};
  long posted = 0;
  uint64_t taken = 0;
  {
    ScopedHandler action(SIGRTMIN, PostCounterHandler, SA_RESTART);
    StallWatchdog watchdog("user file under a handler", &progress);
    ThreadTimer timer(SIGRTMIN, kTimerNs);
    for (long i = 0; i < kIterations; ++i) {
      g_counter->post();
      ++posted;
      epoll_event out[2];
      if (uep_epoll_wait(ep, out, 2, 0) == 1) taken += g_counter->take();
      progress.fetch_add(1);
    }
    BlockSignal(SIGRTMIN, true);
  }
  taken += g_counter->take();
  BlockSignal(SIGRTMIN, false);
  EXPECT_GT(g_handler_writes.load(), 0);
  EXPECT_EQ(taken, static_cast<uint64_t>(posted + g_handler_writes.load()));
  uep_close(fd);
  uep_close(ep);
  g_counter.reset();
}

// How thread A sleeps: a blocking read of an eventfd; epoll_wait on an instance that holds
// that eventfd and a kernel pipe (uepoll sleeps in the kernel then); poll on both.
enum class Sleep { kBlockingRead, kMixedEpollWait, kMixedPoll };

// Thread A sleeps; a signal's handler on A writes another eventfd, which thread B sleeps on
// in epoll_wait: B wakes then, not when A's sleep ends.
void HandlerWakesWhileItsThreadSleeps(const Backend& b, Sleep how) {
  const int blocked = b.eventfd(0, 0);
  const int signalled = b.eventfd(0, 0);
  const int ep = b.epoll_create1(0);
  const int a_ep = b.epoll_create1(0);
  int kernel_pipe[2];
  ASSERT_EQ(pipe2(kernel_pipe, O_CLOEXEC), 0);
  ASSERT_GE(blocked, 0);
  ASSERT_GE(signalled, 0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(a_ep, 0);
  ASSERT_EQ(AddIn(b, ep, signalled), 0);
  ASSERT_EQ(AddIn(b, a_ep, blocked), 0);
  ASSERT_EQ(AddIn(b, a_ep, kernel_pipe[0]), 0);
  ResetCounts(b, signalled);
  ScopedHandler action(SIGUSR1, WriteEventfdHandler, SA_RESTART);
  std::atomic<bool> b_returned{false};
  std::atomic<int> b_result{0};
  std::thread sleeper([&] {
    // epoll_wait and poll end with EINTR on a handler, whatever SA_RESTART says.
    int r = -1;
    if (how == Sleep::kMixedEpollWait) {
      epoll_event ev[2];
      do {
        r = b.epoll_wait(a_ep, ev, 2, -1);
      } while (r < 0 && errno == EINTR);
    } else if (how == Sleep::kMixedPoll) {
      pollfd fds[2] = {{blocked, POLLIN, 0}, {kernel_pipe[0], POLLIN, 0}};
      do {
        r = b.poll(fds, 2, -1);
      } while (r < 0 && errno == EINTR);
    }
    EXPECT_EQ(r == -1 ? 1 : r, 1);
    eventfd_t v = 0;
    EXPECT_EQ(b.eventfd_read(blocked, &v), 0);
    EXPECT_EQ(v, 7U);
  });
  std::thread waiter([&] {
    epoll_event ev[2];
    b_result.store(b.epoll_wait(ep, ev, 2, -1));
    b_returned.store(true);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // both asleep, as a rule
  pthread_kill(sleeper.native_handle(), SIGUSR1);
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (!b_returned.load() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const bool woke_in_time = b_returned.load();
  EXPECT_TRUE(woke_in_time) << b.name << ": the handler's write did not wake the waiter";
  b.eventfd_write(blocked, 7);  // releases A
  sleeper.join();
  if (!woke_in_time) b.eventfd_write(signalled, 1);  // the handler never woke the waiter
  waiter.join();
  EXPECT_EQ(b_result.load(), 1);
  EXPECT_EQ(g_handler_writes.load(), 1);
  for (int fd : {blocked, signalled, ep, a_ep}) b.close(fd);
  close(kernel_pipe[0]);
  close(kernel_pipe[1]);
}

// ThreadSanitizer runs a handler only at the calls it intercepts, later than the kernel
// delivers it (glibc's eventfd_read reads inside libc), on the kernel too: "at once" is
// not what these tests can see there.
#ifdef UEP_TEST_THREAD_SANITIZER
#define UEP_SKIP_UNDER_TSAN() GTEST_SKIP() << "ThreadSanitizer delays signal handlers"
#else
#define UEP_SKIP_UNDER_TSAN() static_cast<void>(0)
#endif

TEST(SignalSafety, HandlerOnAThreadAsleepInReadWakesAnotherAtOnce) {
  UEP_SKIP_UNDER_TSAN();
  HandlerWakesWhileItsThreadSleeps(KernelBackend(), Sleep::kBlockingRead);
  HandlerWakesWhileItsThreadSleeps(UepollBackend(), Sleep::kBlockingRead);
}

TEST(SignalSafety, HandlerOnAThreadAsleepInAMixedEpollWaitWakesAnotherAtOnce) {
  UEP_SKIP_UNDER_TSAN();
  HandlerWakesWhileItsThreadSleeps(KernelBackend(), Sleep::kMixedEpollWait);
  HandlerWakesWhileItsThreadSleeps(UepollBackend(), Sleep::kMixedEpollWait);
}

TEST(SignalSafety, HandlerOnAThreadAsleepInAMixedPollWakesAnotherAtOnce) {
  UEP_SKIP_UNDER_TSAN();
  HandlerWakesWhileItsThreadSleeps(KernelBackend(), Sleep::kMixedPoll);
  HandlerWakesWhileItsThreadSleeps(UepollBackend(), Sleep::kMixedPoll);
}

}  // namespace
}  // namespace uep::test
