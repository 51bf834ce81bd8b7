// The two implementations a differential scenario runs on: the kernel (real system calls)
// and uepoll (the uep_* C API). Both are called libc-style: a result >= 0, or -1 with errno.
//
// Descriptor numbers differ between the two (the kernel hands out small numbers, uepoll
// numbers start at uep_fd_base()), so scenarios never use a number directly: they use what
// a call returned, or a number relative to the backend (spare_base, fd_limit).
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

namespace uep::test {

struct Backend {
  const char* name;
  int (*epoll_create)(int size);
  int (*epoll_create1)(int flags);
  int (*epoll_ctl)(int epfd, int op, int fd, epoll_event* event);
  int (*epoll_wait)(int epfd, epoll_event* events, int maxevents, int timeout);
  int (*epoll_pwait)(int epfd, epoll_event* events, int maxevents, int timeout,
                     const sigset_t* sigmask);
  int (*epoll_pwait2)(int epfd, epoll_event* events, int maxevents, const timespec* timeout,
                      const sigset_t* sigmask);
  int (*eventfd)(unsigned initval, int flags);
  int (*eventfd_read)(int fd, eventfd_t* value);
  int (*eventfd_write)(int fd, eventfd_t value);
  ssize_t (*read)(int fd, void* buf, size_t count);
  ssize_t (*write)(int fd, const void* buf, size_t count);
  ssize_t (*readv)(int fd, const iovec* iov, int iovcnt);
  ssize_t (*writev)(int fd, const iovec* iov, int iovcnt);
  int (*close)(int fd);
  int (*dup)(int oldfd);
  int (*dup2)(int oldfd, int newfd);
  int (*dup3)(int oldfd, int newfd, int flags);
  int (*fcntl)(int fd, int cmd, unsigned long arg);
  int (*pipe2)(int pipefd[2], int flags);
  int (*poll)(pollfd* fds, nfds_t nfds, int timeout);
  // First of a run of numbers that no scenario's own calls will allocate: targets for
  // dup2/dup3 and F_DUPFD, and descriptors that are certainly closed.
  int (*spare_base)();
  // The first number the backend can never allocate (RLIMIT_NOFILE / the end of uepoll's
  // table): dup2 beyond it is EBADF, F_DUPFD from it is EINVAL.
  int (*fd_limit)();
};

const Backend& KernelBackend();
const Backend& UepollBackend();

// How many spare numbers a scenario may use: spare_base() .. spare_base() + kSpareCount - 1.
inline constexpr int kSpareCount = 64;

}  // namespace uep::test
