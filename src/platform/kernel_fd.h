// Kernel descriptors: what uepoll does with a descriptor it does not own is exactly the
// system call. Raw syscall() so that an interposed libc (the preload library) can never
// route the call back into uepoll.
#pragma once

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <sys/uio.h>
#include <unistd.h>

namespace uep::kernel {

inline ssize_t Read(int fd, void* buf, size_t n) { return syscall(SYS_read, fd, buf, n); }
inline ssize_t Write(int fd, const void* buf, size_t n) { return syscall(SYS_write, fd, buf, n); }
inline ssize_t Readv(int fd, const iovec* iov, int cnt) { return syscall(SYS_readv, fd, iov, cnt); }
inline ssize_t Writev(int fd, const iovec* iov, int cnt) {
  return syscall(SYS_writev, fd, iov, cnt);
}
inline int Close(int fd) { return static_cast<int>(syscall(SYS_close, fd)); }
// Never glibc's getpid(), which a vfork() child may answer from the parent's memory.
inline int Getpid() { return static_cast<int>(syscall(SYS_getpid)); }
inline int Dup(int fd) { return static_cast<int>(syscall(SYS_dup, fd)); }
inline int Dup3(int oldfd, int newfd, int flags) {
  return static_cast<int>(syscall(SYS_dup3, oldfd, newfd, flags));
}
inline int Fcntl(int fd, int cmd, unsigned long arg) {
  return static_cast<int>(syscall(SYS_fcntl, fd, cmd, arg));
}
// A placeholder for a uepoll descriptor in placeholder numbering (core/fd_table.h): an
// O_PATH descriptor, which every read, write, poll and epoll_ctl refuses with EBADF.
// Lowest free number, or with `dup_of` >= 0 the lowest >= minfd (F_DUPFD of it).
inline int OpenPlaceholder(bool cloexec, int minfd, int dup_of) {
  if (dup_of >= 0) {
    return static_cast<int>(
        syscall(SYS_fcntl, dup_of, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, minfd));
  }
  return static_cast<int>(
      syscall(SYS_openat, AT_FDCWD, "/", O_PATH | O_DIRECTORY | (cloexec ? O_CLOEXEC : 0)));
}
inline bool IsOpen(int fd) { return syscall(SYS_fcntl, fd, F_GETFD, 0) >= 0; }
// Whether fdget() finds the descriptor, as every I/O and epoll call does: open and not an
// O_PATH one (those serve only *at(), fstat, close, dup and fcntl; the rest is EBADF).
inline bool FdgetFinds(int fd) {
  const long flags = syscall(SYS_fcntl, fd, F_GETFL, 0);
  return flags >= 0 && (flags & O_PATH) == 0;
}

}  // namespace uep::kernel

namespace uep::kernel {
inline int Dup2(int oldfd, int newfd) {
#ifdef SYS_dup2
  return static_cast<int>(syscall(SYS_dup2, oldfd, newfd));
#else
  if (oldfd == newfd) return IsOpen(oldfd) ? newfd : (errno = EBADF, -1);
  return Dup3(oldfd, newfd, 0);
#endif
}
}  // namespace uep::kernel

// epoll and eventfd on kernel descriptors, for the kernel side of an instance
// (kernel/kernel_side.h). Same raw-syscall rule as above.
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <time.h>

namespace uep::kernel {
// Placeholder numbering (core/fd_table.h) leaves the low numbers to the program, as the
// kernel would give them: the descriptors uepoll makes for itself (doorbells, hidden
// epoll instances) move up, to the lowest free number >= min(soft RLIMIT_NOFILE, 4096)
// - 32 (4096 bounds the kernel table the move makes the kernel grow). Where that range
// is full or the limit too small, they stay where they are.
// `always`: whatever the numbering (a descriptor whose low number a program would notice).
inline std::atomic<bool> internal_fds_high{false};
inline int OutOfTheWay(int fd, bool always = false) {
  if (fd < 0 || (!always && !internal_fds_high.load(std::memory_order_relaxed))) return fd;
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return fd;
  const rlim_t top = std::min<rlim_t>(rl.rlim_cur, 4096);
  if (top <= 64 || static_cast<rlim_t>(fd) >= top - 32) return fd;
  const int high = static_cast<int>(syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, top - 32));
  if (high < 0) return fd;
  Close(fd);
  return high;
}

// For uepoll's own use (see OutOfTheWay).
inline int EpollCreate1(int flags) {
  return OutOfTheWay(static_cast<int>(syscall(SYS_epoll_create1, flags)));
}
inline int EpollCtl(int epfd, int op, int fd, epoll_event* event) {
  return static_cast<int>(syscall(SYS_epoll_ctl, epfd, op, fd, event));
}
// The sigset size travels as a size_t: syscall() reads the 6th argument as a long.
inline int EpollPwait2(int epfd, epoll_event* events, int maxevents, const timespec* timeout,
                       const sigset_t* sigmask) {
  const size_t sigsetsize = sigmask != nullptr ? size_t{_NSIG / 8} : 0;
  return static_cast<int>(
      syscall(SYS_epoll_pwait2, epfd, events, maxevents, timeout, sigmask, sigsetsize));
}
// epoll_wait() with timeout 0, where the architecture has it (cheaper than a timespec).
inline int EpollPoll(int epfd, epoll_event* events, int maxevents) {
#ifdef SYS_epoll_wait
  return static_cast<int>(syscall(SYS_epoll_wait, epfd, events, maxevents, 0));
#else
  static constexpr timespec kZero{0, 0};
  return EpollPwait2(epfd, events, maxevents, &kZero, nullptr);
#endif
}
inline int Eventfd(unsigned initval, int flags) {
  return OutOfTheWay(static_cast<int>(syscall(SYS_eventfd2, initval, flags)));
}
// Whether `fd` is readable now (poll with timeout 0).
inline bool Readable(int fd) {
  pollfd pfd{fd, POLLIN, 0};
  const timespec zero{0, 0};
  return syscall(SYS_ppoll, &pfd, 1, &zero, nullptr, size_t{_NSIG / 8}) > 0 &&
         (pfd.revents & POLLIN) != 0;
}
// epoll_ctl() on a kernel epoll instance that never holds an item: gives the kernel's
// answer for `fd` (EBADF, EPERM for a file it cannot poll, EINVAL, then ENOENT for DEL and
// MOD) without changing anything. Not for EPOLL_CTL_ADD. Returns 0 or -errno.
inline int EmptyEpollCtl(int op, int fd, epoll_event* event) {
  static const int empty = EpollCreate1(EPOLL_CLOEXEC);
  if (empty < 0) return -EMFILE;
  return EpollCtl(empty, op, fd, event) < 0 ? -errno : 0;
}
}  // namespace uep::kernel
