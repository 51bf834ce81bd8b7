/*
 * uepoll: Linux epoll, eventfd, pipes, unix socket pairs and timerfd in user space.
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
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
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

/* syscall(2) for programs that make uepoll's calls raw (libuv closes with
 * syscall(SYS_close, fd); epoll_pwait2 where libc has no wrapper): close, close_range,
 * dup, dup2, dup3,
 * fcntl, ioctl, read, write, readv, writev, sendto, recvfrom, sendmsg, recvmsg, shutdown,
 * poll, ppoll, epoll_ctl, epoll_wait, epoll_pwait, epoll_pwait2, timerfd_settime and
 * timerfd_gettime on a uepoll descriptor are served as their uep_* names (with the raw
 * calls' sigsetsize checks and ppoll's time left written back); epoll_create(1),
 * eventfd(2), pipe(2), socketpair and timerfd_create make uepoll descriptors; anything
 * else goes to syscall() with all six arguments. */
long uep_syscall(long number, ...);

/* close_range(2), every flag (CLOSE_RANGE_CLOEXEC, CLOSE_RANGE_UNSHARE), over uepoll's
 * descriptors and the kernel's; and closefrom(3). */
int uep_close_range(unsigned int first, unsigned int last, int flags);
void uep_closefrom(int lowfd);

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

/* pipe(2) */
/* pipefd[0] is the read end, pipefd[1] the write end. flags: O_NONBLOCK, O_CLOEXEC,
 * O_DIRECT (packet mode); O_NOTIFICATION_PIPE fails with ENOPKG, as on a kernel without
 * CONFIG_WATCH_QUEUE. F_GETPIPE_SZ/F_SETPIPE_SZ work through uep_fcntl, FIONREAD through
 * uep_ioctl. */
int uep_pipe(int pipefd[2]);
int uep_pipe2(int pipefd[2], int flags);
/* ioctl(2): kernel descriptors go to the kernel; on uepoll descriptors FIONREAD (pipes ...),
 * FIONBIO, FIOCLEX and FIONCLEX, else ENOTTY. */
int uep_ioctl(int fd, unsigned long request, ...);

/* socketpair(2) and socket calls */
/* AF_UNIX pairs of SOCK_STREAM, SOCK_SEQPACKET or SOCK_DGRAM (SOCK_RAW is SOCK_DGRAM, as
 * in the kernel), with SOCK_NONBLOCK / SOCK_CLOEXEC; any other family goes to the kernel.
 * read/write/readv/writev, uep_ioctl (FIONREAD/SIOCINQ, SIOCOUTQ) and epoll work on them.
 * Not supported: passing descriptors (SCM_RIGHTS with descriptors fails with EOPNOTSUPP),
 * MSG_OOB on SOCK_STREAM (EOPNOTSUPP, as a kernel built without CONFIG_AF_UNIX_OOB), and
 * socket options other than SO_TYPE, SO_ERROR, SO_DOMAIN, SO_PROTOCOL, SO_ACCEPTCONN,
 * SO_SNDBUF(FORCE), SO_RCVBUF(FORCE), SO_RCVLOWAT, SO_SNDLOWAT (ENOPROTOOPT). */
int uep_socketpair(int domain, int type, int protocol, int sv[2]);
ssize_t uep_send(int fd, const void *buf, size_t len, int flags);
ssize_t uep_sendto(int fd, const void *buf, size_t len, int flags,
                   const struct sockaddr *dest_addr, socklen_t addrlen);
ssize_t uep_recv(int fd, void *buf, size_t len, int flags);
ssize_t uep_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *src_addr,
                     socklen_t *addrlen);
ssize_t uep_sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t uep_recvmsg(int fd, struct msghdr *msg, int flags);
int uep_shutdown(int fd, int how);
int uep_getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen);
int uep_setsockopt(int fd, int level, int optname, const void *optval, socklen_t optlen);

/* timerfd_create(2) */
/* CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME and (with CAP_WAKE_ALARM) the _ALARM
 * clocks, which behave as CLOCK_REALTIME / CLOCK_BOOTTIME (no wake-up from suspend).
 * TFD_TIMER_ABSTIME and TFD_TIMER_CANCEL_ON_SET; read() of the 8-byte count, epoll, and
 * uep_ioctl(TFD_IOC_SET_TICKS). One service thread fires every timer. */
int uep_timerfd_create(int clockid, int flags);
int uep_timerfd_settime(int fd, int flags, const struct itimerspec *new_value,
                        struct itimerspec *old_value);
int uep_timerfd_gettime(int fd, struct itimerspec *curr_value);

/* poll(2), select(2) */
/* Over any mix of uepoll and kernel descriptors. */
int uep_poll(struct pollfd *fds, nfds_t nfds, int timeout);
int uep_ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *timeout,
              const sigset_t *sigmask);
/* Kernel descriptors only: a uepoll descriptor (>= uep_fd_base(), far above FD_SETSIZE)
 * cannot be put in an fd_set. Use uep_poll/uep_ppoll or epoll for those. */
int uep_select(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds,
               struct timeval *timeout);
int uep_pselect(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds,
                const struct timespec *timeout, const sigset_t *sigmask);

/* uepoll's own */

/* Descriptor numbering, chosen once, before the first uepoll descriptor:
 * UEP_NUMBERING_HIGH (default): numbers from uep_fd_base() (at least 2^30), costing no
 *   kernel descriptor; RLIMIT_NOFILE does not apply (uep_set_nofile_limit does).
 * UEP_NUMBERING_KERNEL: each descriptor holds an O_PATH kernel placeholder and takes its
 *   number, so numbers are the lowest free ones, as the kernel's, RLIMIT_NOFILE applies
 *   and uep_fd_base() is 0 (for programs that index arrays by descriptor; the preload
 *   library always runs so).
 * Without a call, the environment chooses: UEPOLL_NUMBERING=kernel or high (default).
 * 0, or -1 with errno EBUSY once the descriptor table exists (any uep_* descriptor call
 * made it), EINVAL for another value. */
#define UEP_NUMBERING_HIGH 0
#define UEP_NUMBERING_KERNEL 1
int uep_set_numbering(int numbering);
/* vfork() and clone() that uepoll knows of. A child that shares this process's memory
 * (vfork, or clone with CLONE_VM and without CLONE_THREAD) must not change the parent's
 * descriptor table: once the process made such a child through these (the preload library
 * interposes vfork and clone), every close, dup or close-on-exec change of a uepoll
 * descriptor asks the kernel which process it runs in (one getpid system call), and in
 * such a child acts on the kernel's descriptor of that number only. Same arguments,
 * results and errno as vfork(2) and clone(2). */
pid_t uep_vfork(void);
int uep_clone(int (*fn)(void *), void *stack, int flags, void *arg, ...);
/* posix_spawn() and posix_spawnp() (the same arguments, results and errno) that first turn
 * uepoll's pipes and socket pairs into kernel ones, as fork(), uep_vfork() and uep_clone()
 * do with kernel numbering, so that the file actions can hand them to the child. */
int uep_posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *file_actions,
                    const posix_spawnattr_t *attrp, char *const argv[], char *const envp[]);
int uep_posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *file_actions,
                     const posix_spawnattr_t *attrp, char *const argv[], char *const envp[]);
/* The first uepoll descriptor number; every int below it is the kernel's (high
 * numbering). 0 with kernel numbering: ask uep_is_uepoll_fd(). */
int uep_fd_base(void);
/* 1 if fd is an open uepoll descriptor, else 0. */
int uep_is_uepoll_fd(int fd);
/* Rounds a waiter of this instance spins before it sleeps (default 0: sleeps at once),
 * like the busy-poll parameters of the kernel's epoll. */
int uep_epoll_set_busy_poll(int epfd, int rounds);
/* The rounds set for this instance (0 for a new one); -1 with EBADF or EINVAL. */
int uep_epoll_get_busy_poll(int epfd);
/* uepoll's RLIMIT_NOFILE: new descriptors are numbered uep_fd_base() + [0, limit) only
 * (EMFILE beyond; F_DUPFD at or above uep_fd_base() + limit is EINVAL, dup2/dup3 to it
 * EBADF); descriptors already open stay usable. Default and ceiling: UEPOLL_MAX_FDS (2^24);
 * above the ceiling EPERM, negative EINVAL. RLIMIT_NOFILE does not apply to uepoll
 * descriptors. */
int uep_set_nofile_limit(int limit);
int uep_get_nofile_limit(void);
/* fs.epoll.max_user_watches for this process: EPOLL_CTL_ADD beyond it fails with ENOSPC;
 * DEL, closing the file and closing the instance give watches back. Default:
 * UEPOLL_MAX_USER_WATCHES, else /proc/sys/fs/epoll/max_user_watches. Negative: EINVAL.
 * uep_get_epoll_watches() is the number of watches in the process now. */
int uep_set_max_user_watches(long limit);
long uep_get_max_user_watches(void);
long uep_get_epoll_watches(void);

/* Kernel descriptors and other event loops */
/* uep_epoll_ctl() on a uepoll instance accepts every kernel descriptor the kernel's epoll
 * accepts (sockets, pipes, signalfd, timerfd, eventfd, a kernel epoll instance ...) with
 * LT, ET, EPOLLONESHOT and EPOLLEXCLUSIVE, and refuses the others with the kernel's errno;
 * uep_epoll_wait() fills maxevents from both kinds in every call, uepoll events first
 * (docs/semantics.md: UEPOLL_KERNEL_READINESS=uring|syscall chooses how the kernel side is
 * watched).
 *
 * uep_epoll_kernel_fd() returns a kernel descriptor that is readable (POLLIN / EPOLLIN,
 * level-triggered) while the instance has events to report, uepoll or kernel, so a kernel
 * epoll, poll(), libevent, libuv or Boost.Asio loop can watch the instance: when it is
 * readable, call uep_epoll_wait(epfd, ..., 0). The descriptor belongs to the instance
 * (the same one on every call; do not close it, read it or wait on it; it is closed with
 * the instance). -1 with EBADF (not open), EINVAL (not an epoll instance) or the errno of
 * the kernel call that failed (EMFILE ...). docs/event-loops.md. */
int uep_epoll_kernel_fd(int epfd);

/* Tracing (what `uepoll trace` shows): trace points along epoll's path (registration,
 * wake-ups, the callback's decision, sleeps, the transfer, nested wake-ups), off by
 * default. start discards earlier records and keeps the last `capacity` new ones (a ring;
 * 0: 65536); dump writes them as JSON lines. */
int uep_trace_start(size_t capacity);
int uep_trace_stop(void);
int uep_trace_dump(FILE *out);

#ifdef __cplusplus
}
#endif

#endif /* UEPOLL_UEPOLL_H_ */
