// The two implementations a differential scenario runs on: the kernel (real system calls)
// and uepoll (the uep_* C API). Both are called libc-style: a result >= 0, or -1 with errno.
// One table holds every call a test makes on either side (epoll, eventfd, I/O, descriptors,
// pipes, poll/select, sockets, timerfd); support/raw_kernel.h has the kernel's without libc.
//
// Descriptor numbers differ between the two (the kernel hands out small numbers, uepoll
// numbers start at uep_fd_base()), so scenarios never use a number directly: they use what
// a call returned, or a number relative to the backend (spare_base, fd_limit).
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
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
  int (*pipe)(int pipefd[2]);
  int (*pipe2)(int pipefd[2], int flags);
  int (*ioctl)(int fd, unsigned long request, void* arg);
  // poll(2) and select(2)
  int (*poll)(pollfd* fds, nfds_t nfds, int timeout);
  int (*ppoll)(pollfd* fds, nfds_t nfds, const timespec* timeout, const sigset_t* sigmask);
  int (*select)(int nfds, fd_set* r, fd_set* w, fd_set* e, timeval* timeout);
  int (*pselect)(int nfds, fd_set* r, fd_set* w, fd_set* e, const timespec* timeout,
                 const sigset_t* sigmask);
  // sockets
  int (*socketpair)(int domain, int type, int protocol, int sv[2]);
  ssize_t (*send)(int fd, const void* buf, size_t len, int flags);
  ssize_t (*recv)(int fd, void* buf, size_t len, int flags);
  ssize_t (*sendto)(int fd, const void* buf, size_t len, int flags, const sockaddr* addr,
                    socklen_t addrlen);
  ssize_t (*recvfrom)(int fd, void* buf, size_t len, int flags, sockaddr* addr, socklen_t* addrlen);
  ssize_t (*sendmsg)(int fd, const msghdr* msg, int flags);
  ssize_t (*recvmsg)(int fd, msghdr* msg, int flags);
  int (*shutdown)(int fd, int how);
  int (*getsockopt)(int fd, int level, int optname, void* optval, socklen_t* optlen);
  int (*setsockopt)(int fd, int level, int optname, const void* optval, socklen_t optlen);
  // timerfd
  int (*timerfd_create)(int clockid, int flags);
  int (*timerfd_settime)(int fd, int flags, const itimerspec* new_value, itimerspec* old_value);
  int (*timerfd_gettime)(int fd, itimerspec* curr_value);
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
