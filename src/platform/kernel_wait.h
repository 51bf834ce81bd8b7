// The kernel objects the core sleeps on besides futexes: a thread's doorbell (an eventfd
// rung instead of a futex while the thread sleeps in ppoll() with a signal mask) and the
// clock watcher (a timerfd whose read fails with ECANCELED after CLOCK_REALTIME is set).
// Raw system calls, as in kernel_fd.h.
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "platform/kernel_fd.h"

namespace uep::platform {

// Sleeps until `fd` is readable, `timeout` (relative; nullptr: never) passes, or a signal
// handler runs; `sigmask` (may be nullptr) is in force during the sleep only. ppoll(2)'s
// result: > 0 readable, 0 timed out, -1 with errno.
inline int PollReadable(int fd, const timespec* timeout, const sigset_t* sigmask) {
  pollfd pfd{fd, POLLIN, 0};
  return static_cast<int>(syscall(SYS_ppoll, &pfd, 1, timeout, sigmask, size_t{_NSIG / 8}));
}

// A thread's doorbell: -1 if none could be made.
inline int MakeDoorbell() { return kernel::Eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }
inline void RingDoorbell(int doorbell) {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = kernel::Write(doorbell, &one, sizeof one);
}
inline void DrainDoorbell(int doorbell) {
  uint64_t drained = 0;
  [[maybe_unused]] ssize_t n = kernel::Read(doorbell, &drained, sizeof drained);
}

// The clock watcher: a kernel timerfd on CLOCK_REALTIME armed with TFD_TIMER_CANCEL_ON_SET,
// never due, at a high number (kernel::OutOfTheWay). -1 if the kernel would not make one.
inline int MakeClockSetWatcher() {
  int tfd = static_cast<int>(
      syscall(SYS_timerfd_create, CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK));
  if (tfd < 0) return -1;
  itimerspec far{};
  far.it_value.tv_sec = INT64_MAX / 4;  // saturates to KTIME_MAX: never
  if (syscall(SYS_timerfd_settime, tfd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &far,
              nullptr) != 0) {
    kernel::Close(tfd);
    return -1;
  }
  return kernel::OutOfTheWay(tfd, /*always=*/true);
}

// Sleeps until the watcher is readable (signals ignored); false once it is gone.
inline bool WaitClockSetWatcher(int fd) {
  for (;;) {
    if (PollReadable(fd, nullptr, nullptr) > 0) return true;
    if (errno != EINTR) return false;
  }
}

// Reads the watcher: true if CLOCK_REALTIME was set since the last read (one notice each).
inline bool ReadClockSetNotice(int fd) {
  uint64_t ticks = 0;
  return kernel::Read(fd, &ticks, sizeof ticks) < 0 && errno == ECANCELED;
}

}  // namespace uep::platform
