/*
 * uepoll: Linux epoll, eventfd and friends in user space.
 *
 * Every function here behaves like the libc function of the same name without the
 * `uep_` prefix: same arguments, same return value, -1 with errno set on failure, and the
 * errno the kernel gives for each bad input. Descriptors made by uepoll are numbered above
 * every descriptor the kernel can hand out (see uep_fd_base()), so they mix with kernel
 * descriptors in one program: uep_read/uep_write/uep_close ... on a kernel descriptor pass
 * straight to the kernel.
 *
 *   int ep = uep_epoll_create1(0);
 *   int ev = uep_eventfd(0, EFD_NONBLOCK);
 *   struct epoll_event e = {.events = EPOLLIN, .data.fd = ev};
 *   uep_epoll_ctl(ep, EPOLL_CTL_ADD, ev, &e);
 *   uep_eventfd_write(ev, 1);              // another thread, no system call
 *   uep_epoll_wait(ep, &e, 1, -1);         // no system call if it was already ready
 */
#ifndef UEPOLL_UEPOLL_H_
#define UEPOLL_UEPOLL_H_

#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <poll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/timerfd.h>

#ifdef __cplusplus
extern "C" {
#endif

/* epoll(7) */
int uep_epoll_create(int size);
int uep_epoll_create1(int flags);
int uep_epoll_ctl(int epfd, int op, int fd, struct epoll_event *event);
int uep_epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout);
int uep_epoll_pwait(int epfd, struct epoll_event *events, int maxevents, int timeout,
                    const sigset_t *sigmask);
int uep_epoll_pwait2(int epfd, struct epoll_event *events, int maxevents,
                     const struct timespec *timeout, const sigset_t *sigmask);

/* eventfd(2) */
int uep_eventfd(unsigned int initval, int flags);
int uep_eventfd_read(int fd, eventfd_t *value);
int uep_eventfd_write(int fd, eventfd_t value);

/* Descriptors and I/O */
ssize_t uep_read(int fd, void *buf, size_t count);
ssize_t uep_write(int fd, const void *buf, size_t count);
ssize_t uep_readv(int fd, const struct iovec *iov, int iovcnt);
ssize_t uep_writev(int fd, const struct iovec *iov, int iovcnt);
int uep_close(int fd);
int uep_dup(int oldfd);
int uep_dup2(int oldfd, int newfd);
int uep_dup3(int oldfd, int newfd, int flags);
int uep_fcntl(int fd, int cmd, ...);

/* pipe(2) -- section owned by the pipe work */

/* socketpair(2) and socket calls -- section owned by the socket work */

/* timerfd_create(2) -- section owned by the timerfd work */

/* poll(2), select(2) -- section owned by the poll work */

/* uepoll's own */

/* The first uepoll descriptor number; every int below it is the kernel's. */
int uep_fd_base(void);
/* 1 if fd is an open uepoll descriptor, else 0. */
int uep_is_uepoll_fd(int fd);
/* Rounds a waiter of this instance spins before it sleeps (default 64; 0 sleeps at once),
 * like the busy-poll parameters of the kernel's epoll. */
int uep_epoll_set_busy_poll(int epfd, int rounds);

#ifdef __cplusplus
}
#endif

#endif /* UEPOLL_UEPOLL_H_ */
