// Interposed syscall(): the raw forms of the calls the library serves. Programs and
// libraries reach the kernel behind libc's back with it (libuv closes with
// syscall(SYS_close, fd); programs call epoll_pwait2 this way where libc lacks the
// wrapper). Closing and duplicating go through the libc names' interposers; making
// descriptors follows UEPOLL_PRELOAD's kinds; numbers that make kernel descriptors drop
// a stale table entry at the number handed out (DropStale); the other calls on uepoll
// descriptors are uep_syscall's (capi/syscall.cc); every other number, and every kernel
// descriptor, goes to libc's syscall() with all six arguments.
//
// The library's own raw system calls (platform/kernel_fd.h) must never come back here:
// the library is linked with --wrap=syscall, which sends them to __wrap_syscall below, a
// plain system call.
#include <fcntl.h>
#include <sched.h>
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

#include "preload/preload.h"
#include "uepoll/uepoll.h"

using uep::preload::DropStale;
using uep::preload::Kind;
using uep::preload::Takes;

extern "C" {

// The library's own syscall(): the instruction itself, as glibc's syscall() is.
long __wrap_syscall(long number, long a0, long a1, long a2, long a3, long a4, long a5) {
  long ret;
#if defined(__x86_64__)
  register long r10 __asm__("r10") = a3;
  register long r8 __asm__("r8") = a4;
  register long r9 __asm__("r9") = a5;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(number), "D"(a0), "S"(a1), "d"(a2), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
#elif defined(__aarch64__)
  register long x8 __asm__("x8") = number;
  register long x0 __asm__("x0") = a0;
  register long x1 __asm__("x1") = a1;
  register long x2 __asm__("x2") = a2;
  register long x3 __asm__("x3") = a3;
  register long x4 __asm__("x4") = a4;
  register long x5 __asm__("x5") = a5;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
  ret = x0;
#else
#error "__wrap_syscall: no system call sequence for this architecture"
#endif
  if (static_cast<unsigned long>(ret) > -4096UL) {
    errno = static_cast<int>(-ret);
    return -1;
  }
  return ret;
}

}  // extern "C"

namespace {

using Args = long[6];

// Whether `fd` is uepoll's, without starting the library up: before start-up there is no
// uepoll descriptor, and start-up allocates, while malloc implementations make raw calls
// during their own initialisation (jemalloc reads /proc with syscall(SYS_read) under its
// init lock).
bool Ours(int fd) {
  return __atomic_load_n(&uep::preload::g_ready, __ATOMIC_ACQUIRE) && uep::capi::OwnsFd(fd);
}

long Forward(long number, const Args a) {
  UEP_NEXT(syscall);
  return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

int Fd(long arg) { return static_cast<int>(arg); }
template <typename T>
T* Ptr(long arg) {
  return reinterpret_cast<T*>(arg);
}

long Serve(long n, const Args a) {
  switch (n) {
    // Closing, duplicating, replacing: the libc names' interposers (io.cc).
    case SYS_close:
      if (Ours(Fd(a[0]))) return close(Fd(a[0]));
      break;
    case SYS_close_range:
      return close_range(static_cast<unsigned>(a[0]), static_cast<unsigned>(a[1]), Fd(a[2]));
    case SYS_dup:
      if (Ours(Fd(a[0]))) return dup(Fd(a[0]));
      return DropStale(static_cast<int>(Forward(n, a)));
#ifdef SYS_dup2
    case SYS_dup2:
      if (Ours(Fd(a[0])) || Ours(Fd(a[1]))) return dup2(Fd(a[0]), Fd(a[1]));
      break;
#endif
    case SYS_dup3:
      if (Ours(Fd(a[0])) || Ours(Fd(a[1]))) return dup3(Fd(a[0]), Fd(a[1]), Fd(a[2]));
      break;
    case SYS_fcntl:
      if (Ours(Fd(a[0]))) return fcntl(Fd(a[0]), Fd(a[1]), a[2]);
      if (a[1] == F_DUPFD || a[1] == F_DUPFD_CLOEXEC) return DropStale(static_cast<int>(Forward(n, a)));
      break;
    case SYS_ioctl:
      if (Ours(Fd(a[0]))) return ioctl(Fd(a[0]), static_cast<unsigned long>(a[1]), Ptr<void>(a[2]));
      break;

    // Making descriptors: uepoll's for the kinds UEPOLL_PRELOAD selects.
#ifdef SYS_epoll_create
    case SYS_epoll_create:
      if (Takes(Kind::kEpoll)) return UEP_SERVE(uep_epoll_create(Fd(a[0])));
      return DropStale(static_cast<int>(Forward(n, a)));
#endif
    case SYS_epoll_create1:
      if (Takes(Kind::kEpoll)) return UEP_SERVE(uep_epoll_create1(Fd(a[0])));
      return DropStale(static_cast<int>(Forward(n, a)));
#ifdef SYS_eventfd
    case SYS_eventfd:
      if (Takes(Kind::kEventfd)) return UEP_SERVE(uep_eventfd(static_cast<unsigned>(a[0]), 0));
      return DropStale(static_cast<int>(Forward(n, a)));
#endif
    case SYS_eventfd2:
      if (Takes(Kind::kEventfd)) return UEP_SERVE(uep_eventfd(static_cast<unsigned>(a[0]), Fd(a[1])));
      return DropStale(static_cast<int>(Forward(n, a)));
#ifdef SYS_pipe
    case SYS_pipe:
      if (Takes(Kind::kPipe)) return UEP_SERVE(uep_pipe(Ptr<int>(a[0])));
      if (const long r = Forward(n, a); r != 0) return r;
      DropStale(Ptr<int>(a[0])[0]);
      DropStale(Ptr<int>(a[0])[1]);
      return 0;
#endif
    case SYS_pipe2:
      if (Takes(Kind::kPipe)) return UEP_SERVE(uep_pipe2(Ptr<int>(a[0]), Fd(a[1])));
      if (const long r = Forward(n, a); r != 0) return r;
      DropStale(Ptr<int>(a[0])[0]);
      DropStale(Ptr<int>(a[0])[1]);
      return 0;
    case SYS_socketpair:
      if (a[0] == AF_UNIX && Takes(Kind::kSocketpair)) {
        return UEP_SERVE(uep_socketpair(Fd(a[0]), Fd(a[1]), Fd(a[2]), Ptr<int>(a[3])));
      }
      if (const long r = Forward(n, a); r != 0) return r;
      DropStale(Ptr<int>(a[3])[0]);
      DropStale(Ptr<int>(a[3])[1]);
      return 0;
    case SYS_timerfd_create:
      if (Takes(Kind::kTimerfd)) return UEP_SERVE(uep_timerfd_create(Fd(a[0]), Fd(a[1])));
      return DropStale(static_cast<int>(Forward(n, a)));
    case SYS_recvmsg: {  // descriptors received from a kernel socket
      if (Ours(Fd(a[0]))) break;
      const long r = Forward(n, a);
      if (r >= 0) uep::preload::DropStaleRights(Ptr<const msghdr>(a[1]));
      return r;
    }

    // Other calls that hand out kernel descriptors.
#ifdef SYS_open
    case SYS_open:
#endif
#ifdef SYS_creat
    case SYS_creat:
#endif
    case SYS_openat:
#ifdef SYS_openat2
    case SYS_openat2:
#endif
    case SYS_socket:
    case SYS_accept:
    case SYS_accept4:
    case SYS_memfd_create:
    case SYS_inotify_init1:
#ifdef SYS_inotify_init
    case SYS_inotify_init:
#endif
    case SYS_fanotify_init:
    case SYS_perf_event_open:
    case SYS_open_by_handle_at:
#ifdef SYS_pidfd_open
    case SYS_pidfd_open:
#endif
#ifdef SYS_pidfd_getfd
    case SYS_pidfd_getfd:
#endif
#ifdef SYS_userfaultfd
    case SYS_userfaultfd:
#endif
#ifdef SYS_io_uring_setup
    case SYS_io_uring_setup:
#endif
      return DropStale(static_cast<int>(Forward(n, a)));
    case SYS_signalfd4:
#ifdef SYS_signalfd
    case SYS_signalfd:
#endif
      if (Fd(a[0]) == -1) return DropStale(static_cast<int>(Forward(n, a)));
      break;
    // A child sharing this memory (core/fork.h): from now on closes there are told apart.
    case SYS_vfork:
      uep::capi::NoteSharedMemoryChild();
      break;
    case SYS_clone:
      if ((a[0] & CLONE_VM) != 0 && (a[0] & CLONE_THREAD) == 0) uep::capi::NoteSharedMemoryChild();
      break;
    default:
      break;
  }
  // The other calls on uepoll descriptors: uep_syscall's (I/O, poll, epoll, timerfd).
  if (__atomic_load_n(&uep::preload::g_ready, __ATOMIC_ACQUIRE)) {
    uep::preload::Serving serving;
    bool served = false;
    const long r = uep::SyscallOnOurs(n, a, &served);
    if (served) return r;
  }
  return Forward(n, a);
}

}  // namespace

extern "C" {

// The six argument words are read whatever the number (glibc's syscall() loads six
// registers the same way). The sixth comes from the caller's stack whether it passed one
// or not: AddressSanitizer must not check that read.
__attribute__((no_sanitize("address"))) long syscall(long number, ...) {
  va_list ap;
  va_start(ap, number);
  Args a;
  for (long& arg : a) arg = va_arg(ap, long);
  va_end(ap);
  return Serve(number, a);
}

}  // extern "C"
