// fork, vfork and CLONE_VM children (core/fork.h). A fork child gets working timers (the
// timer service's threads are the parent's and do not exist there); a child that shares the
// parent's memory (vfork, CLONE_VM) never changes the parent's descriptor table, whatever it
// closes or duplicates. Each child reports through its exit status; a child that hangs is
// killed by the parent's deadline and fails the test.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>

#include "core/fd_table.h"
#include "support/sanitizer.h"
#include "uepoll/uepoll.h"

#ifdef UEP_TEST_THREAD_SANITIZER
// A fork child starts the timer service's threads again.
extern "C" const char* __tsan_default_options() { return "die_after_fork=0"; }
#endif

namespace {

using Clock = std::chrono::steady_clock;

itimerspec After(long ns) {
  itimerspec its{};
  its.it_value.tv_sec = ns / 1000000000;
  its.it_value.tv_nsec = ns % 1000000000;
  return its;
}

// The child's exit status, or -1 if it was still running after `limit` (then killed).
int WaitChild(pid_t pid, std::chrono::seconds limit = std::chrono::seconds(30)) {
  const auto end = Clock::now() + limit;
  for (;;) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG | __WALL);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (Clock::now() > end) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, __WALL);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

// In a fork child: a new timer of `clock` (relative, 20 ms) fires, seen by epoll_wait and
// by a blocking read. Returns the exit status: 0, or the number of the failed step.
int ChildTimerFires(int clock, int flags) {
  const int tfd = uep_timerfd_create(clock, 0);
  if (tfd < 0) return 2;
  itimerspec its = After(20000000);
  if ((flags & TFD_TIMER_ABSTIME) != 0) {
    timespec now{};
    clock_gettime(clock, &now);
    its.it_value.tv_sec += now.tv_sec + (now.tv_nsec + its.it_value.tv_nsec) / 1000000000;
    its.it_value.tv_nsec = (now.tv_nsec + its.it_value.tv_nsec) % 1000000000;
  }
  if (uep_timerfd_settime(tfd, flags, &its, nullptr) != 0) return 3;
  const int ep = uep_epoll_create1(0);
  epoll_event ev{EPOLLIN, {}};
  ev.data.fd = tfd;
  if (ep < 0 || uep_epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev) != 0) return 4;
  epoll_event out{};
  if (uep_epoll_wait(ep, &out, 1, 10000) != 1 || out.data.fd != tfd) return 5;
  uint64_t ticks = 0;
  if (uep_read(tfd, &ticks, sizeof ticks) != 8 || ticks != 1) return 6;
  // A blocking read of a second expiry: only the timer thread can end it.
  its = After(10000000);
  if (uep_timerfd_settime(tfd, 0, &its, nullptr) != 0) return 8;
  if (uep_read(tfd, &ticks, sizeof ticks) != 8 || ticks != 1) return 9;
  uep_close(ep);
  uep_close(tfd);
  return 0;
}

// The parent's timer service is running (and its clock watcher, with a REALTIME timer).
void StartParentTimers() {
  for (const int clock : {CLOCK_MONOTONIC, CLOCK_REALTIME}) {
    const int tfd = uep_timerfd_create(clock, 0);
    ASSERT_GE(tfd, 0);
    itimerspec its = After(1000000);
    ASSERT_EQ(0, uep_timerfd_settime(tfd, 0, &its, nullptr));
    uint64_t ticks = 0;
    ASSERT_EQ(8, uep_read(tfd, &ticks, sizeof ticks));
    uep_close(tfd);
  }
}

TEST(ForkTest, ChildTimerFires) {
  StartParentTimers();
  // A parent timer still queued at the fork must not fire into the child.
  const int pending = uep_timerfd_create(CLOCK_MONOTONIC, 0);
  itimerspec its = After(5000000);
  ASSERT_EQ(0, uep_timerfd_settime(pending, 0, &its, nullptr));
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) _exit(ChildTimerFires(CLOCK_MONOTONIC, 0));
  EXPECT_EQ(0, WaitChild(pid));
  uint64_t ticks = 0;
  EXPECT_EQ(8, uep_read(pending, &ticks, sizeof ticks));  // the parent's still fires
  uep_close(pending);
}

TEST(ForkTest, ChildRealtimeCancelOnSetTimerFires) {
  StartParentTimers();
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) _exit(ChildTimerFires(CLOCK_REALTIME, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET));
  EXPECT_EQ(0, WaitChild(pid));
}

// A grandchild too: the handlers leave the child able to fork again.
TEST(ForkTest, GrandchildTimerFires) {
  StartParentTimers();
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (ChildTimerFires(CLOCK_MONOTONIC, 0) != 0) _exit(20);
    const pid_t grandchild = fork();
    if (grandchild < 0) _exit(21);
    if (grandchild == 0) _exit(ChildTimerFires(CLOCK_REALTIME, 0));
    _exit(WaitChild(grandchild) == 0 ? 0 : 22);
  }
  EXPECT_EQ(0, WaitChild(pid));
}

// ---------------------------------------------------------------------------------------
// Children that share the parent's memory.

struct Descriptors {
  int efd = -1;
  int ep = -1;
  int tfd = -1;
  int pipe[2] = {-1, -1};
  int sv[2] = {-1, -1};
  int ops_failed = 0;  // written by the child
};

// What CPython's subprocess does between vfork and exec, and more: close every
// descriptor (one by one, then close_range), dup onto them and from them, change
// close-on-exec.
int ChildChangesDescriptors(void* arg) {
  auto* d = static_cast<Descriptors*>(arg);
  const int all[] = {d->efd, d->ep, d->tfd, d->pipe[0], d->pipe[1], d->sv[0], d->sv[1]};
  uep_fcntl(d->efd, F_SETFD, FD_CLOEXEC);
  uep_ioctl(d->ep, FIOCLEX);
  const int copy = uep_dup(d->efd);
  if (copy >= 0) uep_close(copy);
  const int copy2 = uep_fcntl(d->tfd, F_DUPFD_CLOEXEC, 0);
  if (copy2 >= 0) uep_close(copy2);
  uep_dup2(d->efd, d->pipe[0]);
  uep_dup3(d->sv[0], d->sv[1], O_CLOEXEC);
  for (const int fd : all) uep_close(fd);
  syscall(SYS_close_range, 3U, ~0U, 0U);
  _exit(0);
}

void MakeDescriptors(Descriptors* d) {
  d->efd = uep_eventfd(0, EFD_NONBLOCK);
  d->ep = uep_epoll_create1(0);
  d->tfd = uep_timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  ASSERT_GE(d->efd, 0);
  ASSERT_GE(d->ep, 0);
  ASSERT_GE(d->tfd, 0);
  ASSERT_EQ(0, uep_pipe2(d->pipe, O_NONBLOCK));
  ASSERT_EQ(0, uep_socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, d->sv));
  epoll_event ev{EPOLLIN, {}};
  ev.data.fd = d->efd;
  ASSERT_EQ(0, uep_epoll_ctl(d->ep, EPOLL_CTL_ADD, d->efd, &ev));
}

// Every descriptor is still the parent's, with its flags and its file.
void ExpectIntact(const Descriptors& d, int open_before) {
  EXPECT_EQ(open_before, uep::FdTable::Get().OpenCount());
  EXPECT_EQ(0, uep_fcntl(d.efd, F_GETFD));
  EXPECT_EQ(0, uep_fcntl(d.ep, F_GETFD));
  EXPECT_EQ(0, uep_eventfd_write(d.efd, 1));
  epoll_event out{};
  EXPECT_EQ(1, uep_epoll_wait(d.ep, &out, 1, 0));
  EXPECT_EQ(d.efd, out.data.fd);
  itimerspec its = After(1000000);
  EXPECT_EQ(0, uep_timerfd_settime(d.tfd, 0, &its, nullptr));
  EXPECT_EQ(1, uep_write(d.pipe[1], "p", 1));
  char c = 0;
  EXPECT_EQ(1, uep_read(d.pipe[0], &c, 1));
  EXPECT_EQ(1, uep_write(d.sv[0], "s", 1));
  EXPECT_EQ(1, uep_read(d.sv[1], &c, 1));
  for (const int fd : {d.efd, d.ep, d.tfd, d.pipe[0], d.pipe[1], d.sv[0], d.sv[1]}) {
    EXPECT_EQ(0, uep_close(fd)) << fd;
  }
}

void RunSharedMemoryChild(int clone_flags) {
  Descriptors d;
  MakeDescriptors(&d);
  const int open_before = uep::FdTable::Get().OpenCount();
  constexpr size_t kStack = 256 * 1024;
  auto stack = std::make_unique<char[]>(kStack);
  const pid_t pid =
      uep_clone(ChildChangesDescriptors, stack.get() + kStack, clone_flags | SIGCHLD, &d);
  ASSERT_GT(pid, 0);
  EXPECT_EQ(0, WaitChild(pid));
  ExpectIntact(d, open_before);
}

TEST(VforkTest, ChildClosingDescriptorsLeavesParentTable) {
  RunSharedMemoryChild(CLONE_VM | CLONE_VFORK);
}

// CLONE_VM without CLONE_VFORK: the parent is not suspended (it waits for the exit).
TEST(VforkTest, CloneVmChildLeavesParentTable) { RunSharedMemoryChild(CLONE_VM); }

// vfork() itself, the call CPython's subprocess makes (the preload library's vfork is
// uep_vfork).
TEST(VforkTest, VforkChildClosesEverything) {
  Descriptors d;
  MakeDescriptors(&d);
  const int open_before = uep::FdTable::Get().OpenCount();
  const pid_t pid = uep_vfork();
  if (pid == 0) ChildChangesDescriptors(&d);
  ASSERT_GT(pid, 0);
  EXPECT_EQ(0, WaitChild(pid));
  ExpectIntact(d, open_before);
}

// After a vfork child is gone, the parent's own closes work as before.
TEST(VforkTest, ParentClosesAfterChild) {
  const int efd = uep_eventfd(0, 0);
  ASSERT_GE(efd, 0);
  const pid_t pid = uep_vfork();
  if (pid == 0) _exit(uep_close(efd) == 0 ? 1 : 0);  // the kernel's EBADF for that number
  ASSERT_GT(pid, 0);
  EXPECT_EQ(0, WaitChild(pid));
  EXPECT_EQ(0, uep_close(efd));
  EXPECT_EQ(-1, uep_close(efd));
  EXPECT_EQ(EBADF, errno);
}

}  // namespace
