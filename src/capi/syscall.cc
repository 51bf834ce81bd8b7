// uep_syscall(): syscall() with the numbers uepoll serves served on uepoll descriptors,
// for programs that make those calls raw (libuv closes with syscall(SYS_close, fd);
// programs call epoll_pwait2 that way where libc lacks the wrapper). compat.h maps
// syscall onto it; the preload library's syscall() uses it for the calls on uepoll
// descriptors.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>

#include "capi/capi.h"
#include "capi/preload_support.h"
#include "uepoll/uepoll.h"

namespace uep {
namespace {

constexpr size_t kKernelSigsetSize = _NSIG / 8;

int Fd(long arg) { return static_cast<int>(arg); }
template <typename T>
T* Ptr(long arg) {
  return reinterpret_cast<T*>(arg);
}
bool Ours(long fd) { return capi::Table().Owns(Fd(fd)); }

long Fail(int error) {
  errno = error;
  return -1;
}

// set_user_sigmask(): a mask of the wrong size is EINVAL before anything else is read.
bool BadSigsetSize(long sigmask, long size) {
  return sigmask != 0 && static_cast<size_t>(size) != kKernelSigsetSize;
}

bool HasOurs(const pollfd* fds, unsigned long nfds) {
  if (fds == nullptr) return false;
  for (unsigned long i = 0; i < nfds; ++i) {
    if (fds[i].fd >= 0 && capi::Table().Owns(fds[i].fd)) return true;
  }
  return false;
}

// sys_ppoll() writes the time left back to the caller's timespec (glibc's ppoll() passes
// a copy; the raw call does not).
long RawPpoll(pollfd* fds, unsigned long nfds, timespec* tsp, const sigset_t* sigmask) {
  if (tsp == nullptr || (tsp->tv_sec == 0 && tsp->tv_nsec == 0)) return uep_ppoll(fds, nfds, tsp, sigmask);
  timespec start{};
  clock_gettime(CLOCK_MONOTONIC, &start);
  const timespec asked = *tsp;
  const long r = uep_ppoll(fds, nfds, &asked, sigmask);
  if (r < 0 && errno != EINTR) return r;
  const int saved = errno;
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  long long left = (asked.tv_sec - (now.tv_sec - start.tv_sec)) * 1000000000LL +
                   (asked.tv_nsec - (now.tv_nsec - start.tv_nsec));
  if (left < 0) left = 0;
  *tsp = {static_cast<time_t>(left / 1000000000LL), static_cast<long>(left % 1000000000LL)};
  errno = saved;
  return r;
}

}  // namespace

// The calls on descriptors; `served` says whether the number was one of them on a
// uepoll descriptor (else the caller passes it on).
long SyscallOnOurs(long n, const long a[6], bool* served) {
  *served = true;
  switch (n) {
    case SYS_close:
      if (Ours(a[0])) return uep_close(Fd(a[0]));
      break;
    case SYS_close_range:
      return uep_close_range(static_cast<unsigned>(a[0]), static_cast<unsigned>(a[1]), Fd(a[2]));
    case SYS_dup:
      if (Ours(a[0])) return uep_dup(Fd(a[0]));
      break;
#ifdef SYS_dup2
    case SYS_dup2:
      if (Ours(a[0]) || Ours(a[1])) return uep_dup2(Fd(a[0]), Fd(a[1]));
      break;
#endif
    case SYS_dup3:
      if (Ours(a[0]) || Ours(a[1])) return uep_dup3(Fd(a[0]), Fd(a[1]), Fd(a[2]));
      break;
    case SYS_fcntl:
      if (Ours(a[0])) return uep_fcntl(Fd(a[0]), Fd(a[1]), a[2]);
      break;
    case SYS_ioctl:
      if (Ours(a[0])) return uep_ioctl(Fd(a[0]), static_cast<unsigned long>(a[1]), Ptr<void>(a[2]));
      break;
    case SYS_read:
      if (Ours(a[0])) return uep_read(Fd(a[0]), Ptr<void>(a[1]), static_cast<size_t>(a[2]));
      break;
    case SYS_write:
      if (Ours(a[0])) return uep_write(Fd(a[0]), Ptr<const void>(a[1]), static_cast<size_t>(a[2]));
      break;
    case SYS_readv:
      if (Ours(a[0])) return uep_readv(Fd(a[0]), Ptr<const iovec>(a[1]), Fd(a[2]));
      break;
    case SYS_writev:
      if (Ours(a[0])) return uep_writev(Fd(a[0]), Ptr<const iovec>(a[1]), Fd(a[2]));
      break;
    case SYS_sendto:
      if (Ours(a[0])) {
        return uep_sendto(Fd(a[0]), Ptr<const void>(a[1]), static_cast<size_t>(a[2]), Fd(a[3]),
                          Ptr<const sockaddr>(a[4]), static_cast<socklen_t>(a[5]));
      }
      break;
    case SYS_recvfrom:
      if (Ours(a[0])) {
        return uep_recvfrom(Fd(a[0]), Ptr<void>(a[1]), static_cast<size_t>(a[2]), Fd(a[3]),
                            Ptr<sockaddr>(a[4]), Ptr<socklen_t>(a[5]));
      }
      break;
    case SYS_sendmsg:
      if (Ours(a[0])) return uep_sendmsg(Fd(a[0]), Ptr<const msghdr>(a[1]), Fd(a[2]));
      break;
    case SYS_recvmsg:
      if (Ours(a[0])) return uep_recvmsg(Fd(a[0]), Ptr<msghdr>(a[1]), Fd(a[2]));
      break;
    case SYS_shutdown:
      if (Ours(a[0])) return uep_shutdown(Fd(a[0]), Fd(a[1]));
      break;
    case SYS_poll:
      if (HasOurs(Ptr<pollfd>(a[0]), static_cast<unsigned long>(a[1]))) {
        return uep_poll(Ptr<pollfd>(a[0]), static_cast<nfds_t>(a[1]), Fd(a[2]));
      }
      break;
    case SYS_ppoll:
      if (!BadSigsetSize(a[3], a[4]) && HasOurs(Ptr<pollfd>(a[0]), static_cast<unsigned long>(a[1]))) {
        return RawPpoll(Ptr<pollfd>(a[0]), static_cast<unsigned long>(a[1]), Ptr<timespec>(a[2]),
                        Ptr<const sigset_t>(a[3]));
      }
      break;
    case SYS_epoll_ctl:
      if (Ours(a[0])) return uep_epoll_ctl(Fd(a[0]), Fd(a[1]), Fd(a[2]), Ptr<epoll_event>(a[3]));
      break;
#ifdef SYS_epoll_wait
    case SYS_epoll_wait:
      if (Ours(a[0])) return uep_epoll_wait(Fd(a[0]), Ptr<epoll_event>(a[1]), Fd(a[2]), Fd(a[3]));
      break;
#endif
    case SYS_epoll_pwait:
      if (Ours(a[0])) {
        if (BadSigsetSize(a[4], a[5])) return Fail(EINVAL);
        return uep_epoll_pwait(Fd(a[0]), Ptr<epoll_event>(a[1]), Fd(a[2]), Fd(a[3]), Ptr<const sigset_t>(a[4]));
      }
      break;
    case SYS_epoll_pwait2:
      if (Ours(a[0])) {
        // The timeout is read and checked first (EFAULT, EINVAL), then the mask's size.
        if (BadSigsetSize(a[4], a[5])) {
          const auto* ts = Ptr<const timespec>(a[3]);
          if (ts == nullptr) return Fail(EINVAL);
          const long r = uep_epoll_pwait2(Fd(a[0]), Ptr<epoll_event>(a[1]), 0, ts, nullptr);
          return r < 0 && errno == EFAULT ? r : Fail(EINVAL);
        }
        return uep_epoll_pwait2(Fd(a[0]), Ptr<epoll_event>(a[1]), Fd(a[2]), Ptr<const timespec>(a[3]),
                                Ptr<const sigset_t>(a[4]));
      }
      break;
    case SYS_timerfd_settime:
      if (Ours(a[0])) {
        return uep_timerfd_settime(Fd(a[0]), Fd(a[1]), Ptr<const itimerspec>(a[2]), Ptr<itimerspec>(a[3]));
      }
      break;
    case SYS_timerfd_gettime:
      if (Ours(a[0])) return uep_timerfd_gettime(Fd(a[0]), Ptr<itimerspec>(a[1]));
      break;
    default:
      break;
  }
  *served = false;
  return -1;
}

}  // namespace uep

// Six argument words whatever the number, as syscall() reads them (the sixth from the
// caller's stack even if it passed fewer: not for AddressSanitizer to check).
extern "C" __attribute__((no_sanitize("address"))) long uep_syscall(long number, ...) {
  va_list ap;
  va_start(ap, number);
  long a[6];
  for (long& arg : a) arg = va_arg(ap, long);
  va_end(ap);
  bool served = false;
  const long r = uep::SyscallOnOurs(number, a, &served);
  if (served) return r;
  // What compat.h makes uepoll's, made raw.
  switch (number) {
#ifdef SYS_epoll_create
    case SYS_epoll_create:
      return uep_epoll_create(static_cast<int>(a[0]));
#endif
    case SYS_epoll_create1:
      return uep_epoll_create1(static_cast<int>(a[0]));
#ifdef SYS_eventfd
    case SYS_eventfd:
      return uep_eventfd(static_cast<unsigned>(a[0]), 0);
#endif
    case SYS_eventfd2:
      return uep_eventfd(static_cast<unsigned>(a[0]), static_cast<int>(a[1]));
#ifdef SYS_pipe
    case SYS_pipe:
      return uep_pipe(reinterpret_cast<int*>(a[0]));
#endif
    case SYS_pipe2:
      return uep_pipe2(reinterpret_cast<int*>(a[0]), static_cast<int>(a[1]));
    case SYS_socketpair:
      return uep_socketpair(static_cast<int>(a[0]), static_cast<int>(a[1]), static_cast<int>(a[2]),
                            reinterpret_cast<int*>(a[3]));
    case SYS_timerfd_create:
      return uep_timerfd_create(static_cast<int>(a[0]), static_cast<int>(a[1]));
    default:
      return syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
  }
}
