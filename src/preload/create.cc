// Interposed calls that make descriptors (for the kinds UEPOLL_PRELOAD selects) and the
// calls that work on those kinds only: epoll, eventfd, pipe, socketpair, timerfd.
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "preload/preload.h"
#include "uepoll/uepoll.h"

using uep::preload::Kind;
using uep::preload::Ours;
using uep::preload::DropStale;
using uep::preload::Takes;

namespace {

// The kernel's pipe or socket pair: both numbers are new.
int DropStalePair(int r, const int fds[2]) {
  if (r == 0) {
    DropStale(fds[0]);
    DropStale(fds[1]);
  }
  return r;
}

}  // namespace

extern "C" {

int epoll_create(int size) {
  if (Takes(Kind::kEpoll)) return UEP_SERVE(uep_epoll_create(size));
  UEP_NEXT(epoll_create);
  return DropStale(real(size));
}

int epoll_create1(int flags) {
  if (Takes(Kind::kEpoll)) return UEP_SERVE(uep_epoll_create1(flags));
  UEP_NEXT(epoll_create1);
  return DropStale(real(flags));
}

// A kernel instance cannot watch a uepoll descriptor: the kernel refuses its placeholder
// with EBADF.
int epoll_ctl(int epfd, int op, int fd, struct epoll_event* event) {
  if (Ours(epfd)) return UEP_SERVE(uep_epoll_ctl(epfd, op, fd, event));
  UEP_NEXT(epoll_ctl);
  return real(epfd, op, fd, event);
}

int epoll_wait(int epfd, struct epoll_event* events, int maxevents, int timeout) {
  if (Ours(epfd)) return UEP_SERVE(uep_epoll_wait(epfd, events, maxevents, timeout));
  UEP_NEXT(epoll_wait);
  return real(epfd, events, maxevents, timeout);
}

int epoll_pwait(int epfd, struct epoll_event* events, int maxevents, int timeout,
                const sigset_t* sigmask) {
  if (Ours(epfd)) return UEP_SERVE(uep_epoll_pwait(epfd, events, maxevents, timeout, sigmask));
  UEP_NEXT(epoll_pwait);
  return real(epfd, events, maxevents, timeout, sigmask);
}

int epoll_pwait2(int epfd, struct epoll_event* events, int maxevents,
                 const struct timespec* timeout, const sigset_t* sigmask) {
  if (Ours(epfd)) return UEP_SERVE(uep_epoll_pwait2(epfd, events, maxevents, timeout, sigmask));
  UEP_NEXT(epoll_pwait2);
  return real(epfd, events, maxevents, timeout, sigmask);
}

int eventfd(unsigned int initval, int flags) {
  if (Takes(Kind::kEventfd)) return UEP_SERVE(uep_eventfd(initval, flags));
  UEP_NEXT(eventfd);
  return DropStale(real(initval, flags));
}

// glibc's eventfd_read/eventfd_write call its internal read/write, out of our reach.
int eventfd_read(int fd, eventfd_t* value) {
  if (Ours(fd)) return UEP_SERVE(uep_eventfd_read(fd, value));
  UEP_NEXT(eventfd_read);
  return real(fd, value);
}

int eventfd_write(int fd, eventfd_t value) {
  if (Ours(fd)) return UEP_SERVE(uep_eventfd_write(fd, value));
  UEP_NEXT(eventfd_write);
  return real(fd, value);
}

int pipe(int pipefd[2]) {
  if (Takes(Kind::kPipe)) return UEP_SERVE(uep_pipe(pipefd));
  UEP_NEXT(pipe);
  return DropStalePair(real(pipefd), pipefd);
}

int __pipe(int pipefd[2]) { return pipe(pipefd); }

int pipe2(int pipefd[2], int flags) {
  if (Takes(Kind::kPipe)) return UEP_SERVE(uep_pipe2(pipefd, flags));
  UEP_NEXT(pipe2);
  return DropStalePair(real(pipefd, flags), pipefd);
}

// AF_UNIX pairs only (uep_socketpair sends other families to the kernel anyway).
int socketpair(int domain, int type, int protocol, int sv[2]) {
  if (domain == AF_UNIX && Takes(Kind::kSocketpair)) return UEP_SERVE(uep_socketpair(domain, type, protocol, sv));
  UEP_NEXT(socketpair);
  return DropStalePair(real(domain, type, protocol, sv), sv);
}

int timerfd_create(int clockid, int flags) {
  if (Takes(Kind::kTimerfd)) return UEP_SERVE(uep_timerfd_create(clockid, flags));
  UEP_NEXT(timerfd_create);
  return DropStale(real(clockid, flags));
}

int timerfd_settime(int fd, int flags, const struct itimerspec* new_value,
                    struct itimerspec* old_value) {
  if (Ours(fd)) return UEP_SERVE(uep_timerfd_settime(fd, flags, new_value, old_value));
  UEP_NEXT(timerfd_settime);
  return real(fd, flags, new_value, old_value);
}

int timerfd_gettime(int fd, struct itimerspec* curr_value) {
  if (Ours(fd)) return UEP_SERVE(uep_timerfd_gettime(fd, curr_value));
  UEP_NEXT(timerfd_gettime);
  return real(fd, curr_value);
}

}  // extern "C"
