/* Raw system calls, as libuv and programs without a libc wrapper make them: syscall() for
 * close, close_range (every flag), dup, dup2, dup3, fcntl, and the epoll, eventfd, pipe,
 * socketpair and timerfd calls with their I/O (epoll_pwait2 included); close_range() of
 * libc; numbers freed behind every library's back (an inline system call) and handed out
 * again by open, socket, dup, F_DUPFD, fopen, pipe, SCM_RIGHTS and eventfd. Prints every
 * number and result; the preload tests require the kernel's output, and the kernel run's
 * CHECKs hold there too. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <stddef.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static const char *err(long r) {
  if (r >= 0) return "ok";
  switch (errno) {
    case EBADF: return "EBADF";
    case EINVAL: return "EINVAL";
    case EFAULT: return "EFAULT";
    case ESPIPE: return "ESPIPE";
    case EAGAIN: return "EAGAIN";
    default: return "other";
  }
}

/* A close no library sees (as an inline system call in a runtime that bypasses libc). */
static long inline_close(long fd) {
  long ret;
#if defined(__x86_64__)
  __asm__ volatile("syscall" : "=a"(ret) : "a"((long)SYS_close), "D"(fd) : "rcx", "r11", "memory");
#elif defined(__aarch64__)
  register long x8 __asm__("x8") = SYS_close;
  register long x0 __asm__("x0") = fd;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8) : "memory");
  ret = x0;
#else
#error "inline_close: unknown architecture"
#endif
  return ret;
}

static char file_path[64];

/* The new descriptor at `fd` is the kernel object it should be: its read gives the file's
 * text, its type is what fstat says. */
static void check_file(const char *what, int fd) {
  char buf[16] = {0};
  CHECK(lseek(fd, 0, SEEK_SET) == 0); /* a dup shares the offset */
  ssize_t n = read(fd, buf, sizeof buf - 1);
  printf("%s: read %zd bytes (%s)\n", what, n, err(n));
  CHECK(n == 6 && strcmp(buf, "hello\n") == 0);
}

static int new_eventfd(void) {
  int e = eventfd(0, EFD_NONBLOCK);
  CHECK(e >= 0);
  return e;
}

static void stale_numbers(void) {
  printf("-- numbers freed behind the library's back\n");
  /* libuv's close: syscall(SYS_close). */
  int e = new_eventfd();
  print_fd("eventfd", e);
  long r = syscall(SYS_close, e);
  printf("syscall(SYS_close) = %ld\n", r);
  CHECK(r == 0);
  r = fcntl(e, F_GETFD);
  printf("fcntl(F_GETFD) after it: %s\n", err(r));
  int f = open(file_path, O_RDONLY);
  CHECK(f == e);
  check_file("open() at the freed number", f);
  close(f);

  /* Built with compat.h the program's open() and friends are libc's own: only the
   * library's interposers see the numbers they hand out. */
  if (getenv("RAW_CALLS_COMPAT") != NULL) return;

  /* An inline close, then each way the kernel hands the number out again. */
  e = new_eventfd();
  CHECK(inline_close(e) == 0);
  f = open(file_path, O_RDONLY);
  CHECK(f == e);
  check_file("inline close, open()", f);
  close(f);

  e = new_eventfd();
  CHECK(inline_close(e) == 0);
  f = openat(AT_FDCWD, file_path, O_RDONLY);
  CHECK(f == e);
  check_file("inline close, openat()", f);
  close(f);

  e = new_eventfd();
  CHECK(inline_close(e) == 0);
  FILE *fp = fopen(file_path, "r");
  CHECK(fp != NULL && fileno(fp) == e);
  check_file("inline close, fopen()", fileno(fp));
  fclose(fp);

  e = new_eventfd();
  CHECK(inline_close(e) == 0);
  f = (int)syscall(SYS_openat, AT_FDCWD, file_path, O_RDONLY);
  CHECK(f == e);
  check_file("inline close, syscall(SYS_openat)", f);
  close(f);

  e = new_eventfd();
  CHECK(inline_close(e) == 0);
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  CHECK(s == e);
  int type = 0;
  socklen_t len = sizeof type;
  r = getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &len);
  printf("inline close, socket(): SO_TYPE %d (%s)\n", type, err(r));
  CHECK(r == 0 && type == SOCK_DGRAM);
  close(s);

  int src = open(file_path, O_RDONLY);
  e = new_eventfd();
  CHECK(inline_close(e) == 0);
  f = dup(src);
  CHECK(f == e);
  check_file("inline close, dup()", f);
  close(f);
  e = new_eventfd();
  CHECK(inline_close(e) == 0);
  f = fcntl(src, F_DUPFD, 0);
  CHECK(f == e);
  check_file("inline close, F_DUPFD", f);
  close(f);

  /* SCM_RIGHTS: the passed descriptor lands at the freed number. A kernel socket (a
   * datagram socket sending to itself): the library's socket pairs pass no descriptors. */
  int us = socket(AF_UNIX, SOCK_DGRAM, 0);
  CHECK(us >= 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  snprintf(addr.sun_path + 1, sizeof addr.sun_path - 1, "raw_calls.%d", (int)getpid());
  socklen_t addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(addr.sun_path + 1));
  CHECK(bind(us, (struct sockaddr *)&addr, addrlen) == 0);
  e = new_eventfd();
  CHECK(inline_close(e) == 0);
  char cbuf[CMSG_SPACE(sizeof(int))];
  memset(cbuf, 0, sizeof cbuf);
  char byte = 'x';
  struct iovec iov = {&byte, 1};
  struct msghdr msg = {.msg_name = &addr, .msg_namelen = addrlen, .msg_iov = &iov, .msg_iovlen = 1,
                       .msg_control = cbuf, .msg_controllen = sizeof cbuf};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &src, sizeof src);
  CHECK(sendmsg(us, &msg, 0) == 1);
  memset(cbuf, 0, sizeof cbuf);
  msg.msg_name = NULL;
  msg.msg_namelen = 0;
  msg.msg_controllen = sizeof cbuf;
  CHECK(recvmsg(us, &msg, 0) == 1);
  memcpy(&f, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof f);
  CHECK(f == e);
  check_file("inline close, SCM_RIGHTS", f);
  close(f);
  close(us);

  /* A new eventfd at the freed number: the new file, not the dead one. */
  e = new_eventfd();
  CHECK(eventfd_write(e, 5) == 0);
  CHECK(inline_close(e) == 0);
  int e2 = new_eventfd();
  CHECK(e2 == e);
  eventfd_t v = 0;
  r = eventfd_read(e2, &v);
  printf("inline close, eventfd(): read %s (the old count 5 is gone)\n", err(r));
  CHECK(r == -1 && errno == EAGAIN);
  CHECK(eventfd_write(e2, 2) == 0 && eventfd_read(e2, &v) == 0 && v == 2);
  close(e2);
  close(src);
}

static void raw_dup(void) {
  printf("-- dup, dup2, dup3, fcntl through syscall()\n");
  int e = new_eventfd();
  int d = (int)syscall(SYS_dup, e);
  print_fd("syscall(SYS_dup)", d);
  CHECK(d >= 0);
  uint64_t one = 1, got = 0;
  CHECK(syscall(SYS_write, d, &one, 8) == 8);
  CHECK(syscall(SYS_read, e, &got, 8) == 8 && got == 1);
  printf("write through the dup, read through the original: %llu\n", (unsigned long long)got);
#ifdef SYS_dup2
  long r = syscall(SYS_dup2, e, 40);
  printf("syscall(SYS_dup2, e, 40) = %ld\n", r);
  CHECK(r == 40);
  r = syscall(SYS_dup2, e, e);
  printf("syscall(SYS_dup2, e, e) = %s\n", r == e ? "e" : err(r));
  CHECK(r == e);
#endif
  long r3 = syscall(SYS_dup3, e, 41, O_CLOEXEC);
  printf("syscall(SYS_dup3, e, 41, O_CLOEXEC) = %ld, FD_CLOEXEC %d\n", r3, fcntl(41, F_GETFD));
  CHECK(r3 == 41 && fcntl(41, F_GETFD) == FD_CLOEXEC);
  r3 = syscall(SYS_dup3, e, e, 0);
  printf("syscall(SYS_dup3, e, e, 0): %s\n", err(r3));
  CHECK(r3 == -1 && errno == EINVAL);
  long f = syscall(SYS_fcntl, e, F_DUPFD, 50);
  long fc = syscall(SYS_fcntl, e, F_DUPFD_CLOEXEC, 50);
  printf("syscall(SYS_fcntl, F_DUPFD 50) = %ld, F_DUPFD_CLOEXEC 50 = %ld, FD_CLOEXEC %ld\n", f, fc,
         syscall(SYS_fcntl, fc, F_GETFD));
  CHECK(f == 50 && fc == 51);
  long fl = syscall(SYS_fcntl, e, F_GETFL);
  printf("syscall(SYS_fcntl, F_GETFL) & O_NONBLOCK: %d\n", (fl & O_NONBLOCK) != 0);
  /* A kernel descriptor onto a uepoll number: that number is the kernel file now. */
  int fd = open(file_path, O_RDONLY);
  r3 = syscall(SYS_dup3, fd, 40, 0);
  CHECK(r3 == 40);
  check_file("syscall(SYS_dup3, file, 40)", 40);
  /* A closed descriptor. */
  CHECK(syscall(SYS_close, 51) == 0);
  long bad = syscall(SYS_close, 51);
  printf("syscall(SYS_close) twice: %s\n", err(bad));
  CHECK(bad == -1 && errno == EBADF);
  close(fd);
  close(40);
  close(41);
  close(50);
  close(d);
  close(e);
}

static int fd_state(int fd) {
  int r = fcntl(fd, F_GETFD);
  return r < 0 ? -1 : r;
}

static void ranges(void) {
  printf("-- close_range\n");
  for (int via_syscall = 0; via_syscall < 2; via_syscall++) {
    const char *how = via_syscall ? "syscall(SYS_close_range)" : "close_range()";
#define CLOSE_RANGE(a, b, fl) \
  (via_syscall ? syscall(SYS_close_range, (unsigned)(a), (unsigned)(b), (fl)) : close_range((a), (b), (fl)))
    int a = new_eventfd(), b = new_eventfd(), c = new_eventfd();
    int k = open(file_path, O_RDONLY); /* a kernel descriptor in the range too */
    CHECK(b == a + 1 && c == a + 2 && k == a + 3);
    long r = CLOSE_RANGE(a, k, CLOSE_RANGE_CLOEXEC);
    printf("%s CLOEXEC: %s, FD_CLOEXEC %d %d %d %d\n", how, err(r), fd_state(a), fd_state(b), fd_state(c), fd_state(k));
    CHECK(r == 0 && fd_state(a) == 1 && fd_state(k) == 1);
    r = CLOSE_RANGE(b, b, CLOSE_RANGE_UNSHARE);
    printf("%s UNSHARE [b,b]: %s, states %d %d %d %d\n", how, err(r), fd_state(a), fd_state(b), fd_state(c), fd_state(k));
    CHECK(r == 0 && fd_state(b) == -1 && fd_state(a) == 1);
    r = CLOSE_RANGE(a, a, CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC);
    printf("%s UNSHARE|CLOEXEC: %s\n", how, err(r));
    r = CLOSE_RANGE(c, a, 0);
    printf("%s first > last: %s\n", how, err(r));
    CHECK(r == -1 && errno == EINVAL);
    r = CLOSE_RANGE(a, k, 0x8);
    printf("%s unknown flag: %s\n", how, err(r));
    CHECK(r == -1 && errno == EINVAL);
    CHECK(fcntl(c, F_SETFD, 0) == 0 && fcntl(k, F_SETFD, 0) == 0);
    r = CLOSE_RANGE(c, k, CLOSE_RANGE_CLOEXEC | 0x8);
    printf("%s CLOEXEC with an unknown flag: %s, FD_CLOEXEC %d %d (nothing done)\n", how, err(r), fd_state(c),
           fd_state(k));
    CHECK(r == -1 && errno == EINVAL && fd_state(k) == 0);
    r = CLOSE_RANGE(a, ~0U, 0);
    printf("%s [a, ~0]: %s, states %d %d %d %d\n", how, err(r), fd_state(a), fd_state(b), fd_state(c), fd_state(k));
    CHECK(r == 0 && fd_state(a) == -1 && fd_state(c) == -1 && fd_state(k) == -1);
    /* The freed numbers are the kernel's again. */
    int f = open(file_path, O_RDONLY);
    CHECK(f == a);
    check_file("open() after close_range", f);
    close(f);
#undef CLOSE_RANGE
  }
}

static void raw_epoll(void) {
  printf("-- epoll, eventfd, timerfd through syscall()\n");
  int ep = (int)syscall(SYS_epoll_create1, EPOLL_CLOEXEC);
  int efd = (int)syscall(SYS_eventfd2, 0, EFD_NONBLOCK);
  int tfd = (int)syscall(SYS_timerfd_create, CLOCK_MONOTONIC, TFD_NONBLOCK);
  print_fd("epoll", ep);
  print_fd("eventfd", efd);
  print_fd("timerfd", tfd);
  CHECK(ep >= 0 && efd >= 0 && tfd >= 0);
  describe_kernel_fds();
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 7};
  CHECK(syscall(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, efd, &ev) == 0);
  ev.data.u64 = 8;
  CHECK(syscall(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, tfd, &ev) == 0);
  struct epoll_event out[4];
  struct timespec zero = {0, 0};
  long n = syscall(SYS_epoll_pwait2, ep, out, 4, &zero, NULL, (size_t)0);
  printf("epoll_pwait2, nothing ready: %ld\n", n);
  CHECK(n == 0);
  uint64_t one = 1;
  CHECK(syscall(SYS_write, efd, &one, 8) == 8);
#ifdef SYS_epoll_wait
  n = syscall(SYS_epoll_wait, ep, out, 4, 0);
  printf("epoll_wait: %ld, events %#x, data %llu\n", n, out[0].events, (unsigned long long)out[0].data.u64);
  CHECK(n == 1);
#endif
  sigset_t mask;
  sigemptyset(&mask);
  n = syscall(SYS_epoll_pwait, ep, out, 4, 0, &mask, (size_t)(_NSIG / 8));
  printf("epoll_pwait: %ld, data %llu\n", n, (unsigned long long)out[0].data.u64);
  CHECK(n == 1);
  n = syscall(SYS_epoll_pwait, ep, out, 4, 0, &mask, (size_t)4);
  printf("epoll_pwait, sigsetsize 4: %s\n", err(n));
  CHECK(n == -1 && errno == EINVAL);
  n = syscall(SYS_epoll_pwait, ep, out, 4, 0, NULL, (size_t)4);
  printf("epoll_pwait, no mask, sigsetsize 4: %ld\n", n);
  n = syscall(SYS_epoll_pwait2, ep, out, 4, &zero, &mask, (size_t)(_NSIG / 8));
  printf("epoll_pwait2 with a mask: %ld, data %llu\n", n, (unsigned long long)out[0].data.u64);
  CHECK(n == 1);
  n = syscall(SYS_epoll_pwait2, ep, out, 4, NULL, NULL, (size_t)0);
  printf("epoll_pwait2, no timeout, ready: %ld\n", n);
  struct timespec bad = {0, 1000000000L};
  n = syscall(SYS_epoll_pwait2, ep, out, 4, &bad, NULL, (size_t)0);
  printf("epoll_pwait2, tv_nsec 1e9: %s\n", err(n));
  CHECK(n == -1 && errno == EINVAL);
  struct timespec neg = {-1, 0};
  n = syscall(SYS_epoll_pwait2, ep, out, 4, &neg, NULL, (size_t)0);
  printf("epoll_pwait2, tv_sec -1: %s\n", err(n));
  n = syscall(SYS_epoll_pwait2, ep, out, 4, &zero, &mask, (size_t)4);
  printf("epoll_pwait2, sigsetsize 4: %s\n", err(n));
  n = syscall(SYS_epoll_pwait2, ep, out, 0, &zero, NULL, (size_t)0);
  printf("epoll_pwait2, maxevents 0: %s\n", err(n));
  uint64_t got = 0;
  CHECK(syscall(SYS_read, efd, &got, 8) == 8 && got == 1);
  struct timespec ten_ms = {0, 10000000L};
  n = syscall(SYS_epoll_pwait2, ep, out, 4, &ten_ms, NULL, (size_t)0);
  printf("epoll_pwait2 10 ms, nothing ready: %ld\n", n);

  /* The timer fires; poll and ppoll see it; ppoll writes the time left back. */
  struct itimerspec its = {{0, 0}, {0, 1000000L}}, old;
  CHECK(syscall(SYS_timerfd_settime, tfd, 0, &its, &old) == 0);
  struct pollfd p = {tfd, POLLIN, 0};
  n = syscall(SYS_poll, &p, 1, 5000);
  printf("poll on the timer: %ld, revents %#x\n", n, p.revents);
  CHECK(n == 1 && p.revents == POLLIN);
  struct timespec left = {5, 0};
  p.revents = 0;
  n = syscall(SYS_ppoll, &p, 1, &left, NULL, (size_t)(_NSIG / 8));
  printf("ppoll on the timer: %ld, time left written back: %s\n", n,
         left.tv_sec < 5 && left.tv_sec >= 4 ? "yes" : "no");
  CHECK(n == 1 && left.tv_sec == 4);
  n = syscall(SYS_ppoll, &p, 1, NULL, &mask, (size_t)4);
  printf("ppoll, sigsetsize 4: %s\n", err(n));
  CHECK(n == -1 && errno == EINVAL);
  struct itimerspec cur;
  CHECK(syscall(SYS_timerfd_gettime, tfd, &cur) == 0);
  printf("timerfd_gettime: %lld.%09ld\n", (long long)cur.it_value.tv_sec, cur.it_value.tv_nsec);
  uint64_t expirations = 0;
  n = syscall(SYS_read, tfd, &expirations, 8);
  printf("read the timer: %ld, expirations %llu\n", n, (unsigned long long)expirations);
  CHECK(n == 8 && expirations == 1);
  n = syscall(SYS_epoll_ctl, ep, EPOLL_CTL_DEL, tfd, NULL);
  CHECK(n == 0);
  close(tfd);
  close(efd);
  close(ep);
}

static void raw_pairs(void) {
  printf("-- pipe and socketpair through syscall()\n");
  int p[2], sv[2];
  CHECK(syscall(SYS_pipe2, p, O_NONBLOCK) == 0);
  print_fd("pipe[0]", p[0]);
  print_fd("pipe[1]", p[1]);
  char buf[8] = {0};
  CHECK(syscall(SYS_write, p[1], "ab", 2) == 2);
  long n = syscall(SYS_read, p[0], buf, sizeof buf);
  printf("pipe: read %ld '%s'\n", n, buf);
  n = syscall(SYS_read, p[0], buf, sizeof buf);
  printf("pipe, empty: %s\n", err(n));
  struct iovec iov[2] = {{"c", 1}, {"d", 1}};
  CHECK(syscall(SYS_writev, p[1], iov, 2) == 2);
  char x[2] = {0}, y[2] = {0};
  struct iovec riov[2] = {{x, 1}, {y, 1}};
  n = syscall(SYS_readv, p[0], riov, 2);
  printf("pipe readv: %ld '%s%s'\n", n, x, y);
  CHECK(syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  print_fd("socketpair[0]", sv[0]);
  print_fd("socketpair[1]", sv[1]);
  CHECK(syscall(SYS_sendto, sv[0], "xyz", 3, 0, NULL, 0) == 3);
  memset(buf, 0, sizeof buf);
  n = syscall(SYS_recvfrom, sv[1], buf, sizeof buf, 0, NULL, NULL);
  printf("socketpair: recvfrom %ld '%s'\n", n, buf);
  CHECK(syscall(SYS_shutdown, sv[0], SHUT_WR) == 0);
  n = syscall(SYS_recvfrom, sv[1], buf, sizeof buf, 0, NULL, NULL);
  printf("socketpair after shutdown: %ld\n", n);
  CHECK(n == 0);
  close(p[0]);
  close(p[1]);
  close(sv[0]);
  close(sv[1]);
}

static void forwarded(void) {
  printf("-- other numbers keep all six arguments\n");
  CHECK(syscall(SYS_getpid) == getpid());
  int m = memfd_create("raw_calls", 0);
  CHECK(m >= 0 && ftruncate(m, 8192) == 0);
  CHECK(pwrite(m, "page2", 5, 4096) == 5);
  void *map = (void *)syscall(SYS_mmap, NULL, 4096, PROT_READ, MAP_SHARED, m, (long)4096);
  CHECK(map != MAP_FAILED);
  printf("mmap at offset 4096 (6th argument): '%.5s'\n", (const char *)map);
  CHECK(memcmp(map, "page2", 5) == 0);
  munmap(map, 4096);
  close(m);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  snprintf(file_path, sizeof file_path, "/tmp/raw_calls.%d", (int)getpid());
  int f = open(file_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  CHECK(f >= 0 && write(f, "hello\n", 6) == 6 && close(f) == 0);
  raw_epoll();
  stale_numbers();
  raw_dup();
  ranges();
  raw_pairs();
  forwarded();
  unlink(file_path);
  printf("all checks passed\n");
  return 0;
}
