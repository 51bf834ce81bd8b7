/* O_ASYNC and signal ownership on every kind: ioctl(FIOASYNC), F_SETFL O_ASYNC, F_SETOWN,
 * F_SETOWN_EX, F_SETSIG, FIOSETOWN; and the SIGIO a pipe or socket pair sends its owner
 * (which operation signals, with which si_code, si_band and si_fd). Files without
 * ->fasync (eventfd, epoll, timerfd) refuse FIOASYNC with ENOTTY and ignore O_ASYNC, so
 * that programs fall back. Prints every result; the preload test requires the kernel's
 * output. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common.h"

static const char *err(long r) {
  if (r >= 0) return "ok";
  switch (errno) {
    case EBADF: return "EBADF";
    case EINVAL: return "EINVAL";
    case ENOTTY: return "ENOTTY";
    case ESRCH: return "ESRCH";
    case EFAULT: return "EFAULT";
    default: return "other";
  }
}

static volatile sig_atomic_t sigio_count;
static volatile sig_atomic_t rt_count;
static volatile int rt_code, rt_fd;
static volatile long rt_band;

static void on_sigio(int sig) {
  (void)sig;
  sigio_count++;
}

static void on_rt(int sig, siginfo_t *si, void *ctx) {
  (void)sig;
  (void)ctx;
  rt_count++;
  rt_code = si->si_code;
  rt_band = si->si_band;
  rt_fd = si->si_fd;
}

static void settings(const char *kind, int fd) {
  int on = 1, off = 0;
  long r = ioctl(fd, FIOASYNC, &on);
  printf("%s: FIOASYNC on %s, O_ASYNC %d", kind, err(r), (fcntl(fd, F_GETFL) & O_ASYNC) != 0);
  r = ioctl(fd, FIOASYNC, &off);
  printf(", off %s, O_ASYNC %d\n", err(r), (fcntl(fd, F_GETFL) & O_ASYNC) != 0);
  r = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_ASYNC);
  printf("%s: F_SETFL O_ASYNC %s, O_ASYNC %d", kind, err(r), (fcntl(fd, F_GETFL) & O_ASYNC) != 0);
  r = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_ASYNC);
  printf(", cleared %s, O_ASYNC %d\n", err(r), (fcntl(fd, F_GETFL) & O_ASYNC) != 0);
  printf("%s: F_GETOWN new %d", kind, fcntl(fd, F_GETOWN));
  r = fcntl(fd, F_SETOWN, getpid());
  printf(", F_SETOWN pid %s -> %s", err(r), fcntl(fd, F_GETOWN) == getpid() ? "pid" : "?");
  r = fcntl(fd, F_SETOWN, -getpgrp());
  printf(", F_SETOWN -pgrp %s -> %s", err(r), fcntl(fd, F_GETOWN) == -getpgrp() ? "-pgrp" : "?");
  r = fcntl(fd, F_SETOWN, 0x3fffffff);
  printf(", F_SETOWN none %s", err(r));
  r = fcntl(fd, F_SETOWN, INT_MIN);
  printf(", F_SETOWN INT_MIN %s\n", err(r));
  printf("%s: F_GETSIG new %d", kind, fcntl(fd, F_GETSIG));
  r = fcntl(fd, F_SETSIG, SIGRTMIN);
  printf(", F_SETSIG SIGRTMIN %s -> %s", err(r), fcntl(fd, F_GETSIG) == SIGRTMIN ? "SIGRTMIN" : "?");
  r = fcntl(fd, F_SETSIG, 65);
  printf(", F_SETSIG 65 %s", err(r));
  r = fcntl(fd, F_SETSIG, 0);
  printf(", F_SETSIG 0 %s\n", err(r));
  struct f_owner_ex ex = {0, 0};
  fcntl(fd, F_SETOWN, 0);
  r = fcntl(fd, F_GETOWN_EX, &ex);
  printf("%s: F_GETOWN_EX after F_SETOWN 0: %s type %d pid %d", kind, err(r), ex.type, ex.pid);
  ex.type = F_OWNER_TID;
  ex.pid = (int)syscall(SYS_gettid);
  r = fcntl(fd, F_SETOWN_EX, &ex);
  memset(&ex, 0, sizeof ex);
  fcntl(fd, F_GETOWN_EX, &ex);
  printf(", F_SETOWN_EX tid %s -> type %d %s, F_GETOWN %s", err(r), ex.type,
         ex.pid == getpid() ? "self" : "?", fcntl(fd, F_GETOWN) == getpid() ? "pid" : "?");
  ex.type = 7;
  r = fcntl(fd, F_SETOWN_EX, &ex);
  printf(", type 7 %s\n", err(r));
  r = ioctl(fd, FIOSETOWN, &(int){getpid()});
  int who = 0;
  long g = ioctl(fd, FIOGETOWN, &who);
  printf("%s: FIOSETOWN %s, FIOGETOWN %s %s\n", kind, err(r), err(g), g == 0 && who == getpid() ? "pid" : "-");
  fcntl(fd, F_SETOWN, 0);
}

/* The owner is this process, plain SIGIO: how many signals each operation sends. */
static void async_on(int fd) {
  CHECK(fcntl(fd, F_SETOWN, getpid()) == 0);
  CHECK(ioctl(fd, FIOASYNC, &(int){1}) == 0);
}

#define COUNT(what, op)                                                      \
  do {                                                                       \
    sigio_count = 0;                                                         \
    long r_ = (op);                                                          \
    printf("  %s: %s, SIGIO x%d\n", what, err(r_), (int)sigio_count);       \
  } while (0)

static void delivery(void) {
  char buf[8];
  int p[2];
  CHECK(pipe2(p, O_NONBLOCK) == 0);
  printf("pipe, read end async:\n");
  async_on(p[0]);
  COUNT("write 1", write(p[1], "a", 1));
  COUNT("write 1 more", write(p[1], "b", 1));
  COUNT("read 2", read(p[0], buf, 2));
  COUNT("read empty", read(p[0], buf, 1));
  COUNT("write 0", write(p[1], "", 0));
  printf("pipe, write end async too:\n");
  async_on(p[1]);
  COUNT("write 1", write(p[1], "a", 1));
  COUNT("read 1", read(p[0], buf, 1));
  COUNT("close the read end", close(p[0]));
  COUNT("close the write end", close(p[1]));

  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
  printf("stream socket pair, one end async:\n");
  async_on(sv[0]);
  COUNT("peer sends", send(sv[1], "x", 1, 0));
  COUNT("own send", send(sv[0], "y", 1, 0));
  COUNT("peer receives", recv(sv[1], buf, 1, 0));
  COUNT("own receive", recv(sv[0], buf, 1, 0));
  COUNT("peer shuts down writing", shutdown(sv[1], SHUT_WR));
  COUNT("peer closes", close(sv[1]));
  COUNT("own close", close(sv[0]));

  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
  printf("stream socket pair, the sender async, its buffer filled:\n");
  async_on(sv[1]);
  int sndbuf = 4096;
  CHECK(setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) == 0);
  static char big[65536];
  long r;
  sigio_count = 0;
  while ((r = send(sv[1], big, sizeof big, 0)) > 0) {
  }
  printf("  filled (%s), SIGIO x%d\n", err(r), (int)sigio_count);
  sigio_count = 0;
  while (recv(sv[0], big, sizeof big, 0) > 0) {
  }
  printf("  drained, SIGIO %s\n", sigio_count > 0 ? "sent" : "none");
  close(sv[0]);
  close(sv[1]);

  /* F_SETSIG: a realtime signal with si_code, si_band and si_fd. */
  CHECK(pipe2(p, O_NONBLOCK) == 0);
  async_on(p[0]);
  CHECK(fcntl(p[0], F_SETSIG, SIGRTMIN) == 0);
  rt_count = 0;
  CHECK(write(p[1], "a", 1) == 1);
  printf("pipe with F_SETSIG SIGRTMIN: x%d, si_code %d (POLL_IN %d), si_band %#lx, si_fd %s\n", (int)rt_count,
         rt_code, POLL_IN, rt_band, rt_fd == p[0] ? "the read end" : "?");
  close(p[0]);
  close(p[1]);
  CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0);
  async_on(sv[0]);
  CHECK(fcntl(sv[0], F_SETSIG, SIGRTMIN + 1) == 0);
  rt_count = 0;
  CHECK(send(sv[1], "a", 1, 0) == 1);
  printf("datagram pair with F_SETSIG: x%d, si_code %d, si_band %#lx, si_fd %s\n", (int)rt_count, rt_code,
         rt_band, rt_fd == sv[0] ? "the async end" : "?");
  close(sv[0]);
  close(sv[1]);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGIO, on_sigio);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_rt;
  sa.sa_flags = SA_SIGINFO;
  CHECK(sigaction(SIGRTMIN, &sa, NULL) == 0);
  CHECK(sigaction(SIGRTMIN + 1, &sa, NULL) == 0);
  int e = eventfd(0, 0), ep = epoll_create1(0), t = timerfd_create(CLOCK_MONOTONIC, 0);
  int p[2], sv[2];
  CHECK(pipe(p) == 0 && socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  describe_kernel_fds();
  settings("eventfd", e);
  settings("epoll", ep);
  settings("timerfd", t);
  settings("pipe read end", p[0]);
  settings("pipe write end", p[1]);
  settings("socket", sv[0]);
  close(e);
  close(ep);
  close(t);
  close(p[0]);
  close(p[1]);
  close(sv[0]);
  close(sv[1]);
  delivery();
  printf("all checks passed\n");
  return 0;
}
