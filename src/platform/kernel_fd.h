// Kernel descriptors: what uepoll does with a descriptor it does not own is exactly the
// system call. Raw syscall() so that an interposed libc (the preload library) can never
// route the call back into uepoll.
#pragma once

#include <fcntl.h>
#include <sys/syscall.h>

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
