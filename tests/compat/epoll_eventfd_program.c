/*
 * A small epoll + eventfd program written against plain libc, knowing nothing of uepoll.
 *
 * tests/compat builds it twice from this one file: as is (the kernel serves every call)
 * and with `-include uepoll/compat.h` linked with uepoll (uepoll serves them). The two
 * must print the same lines and both exit 0; the uepoll build must also run with no free
 * kernel descriptor at all (RLIMIT_NOFILE = 3), which proves its epoll instances and
 * eventfds are uepoll's. It prints through write(1, ...), so its output also goes through
 * uepoll's pass-through to the kernel for kernel descriptors.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static void say(const char *fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0 && write(STDOUT_FILENO, buf, (size_t)n) != n) exit(3);
}

#define CHECK(cond)                                                                  \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      fprintf(stderr, "%s:%d: check failed: %s (errno %d: %s)\n", __FILE__, __LINE__, \
              #cond, errno, strerror(errno));                                        \
      exit(1);                                                                       \
    }                                                                                \
  } while (0)

/* Fails with -1 and this errno. */
#define CHECK_ERR(call, err)         \
  do {                               \
    errno = 0;                       \
    CHECK((call) == -1);             \
    CHECK(errno == (err));           \
    say("  %-44s -> %s\n", #call, #err); \
  } while (0)

static const char *mask_str(uint32_t m) {
  static char buf[128];
  buf[0] = '\0';
  if (m & EPOLLIN) strcat(buf, "IN|");
  if (m & EPOLLOUT) strcat(buf, "OUT|");
  if (m & EPOLLERR) strcat(buf, "ERR|");
  if (m & EPOLLHUP) strcat(buf, "HUP|");
  if (buf[0] == '\0') return "0";
  buf[strlen(buf) - 1] = '\0';
  return buf;
}

static void show_wait(const char *what, int ep, int timeout) {
  struct epoll_event evs[8];
  int n = epoll_wait(ep, evs, 8, timeout);
  CHECK(n >= 0);
  say("  %-44s -> %d", what, n);
  for (int i = 0; i < n; i++) say(" [%s data=%llu]", mask_str(evs[i].events),
                                  (unsigned long long)evs[i].data.u64);
  say("\n");
}

struct producer {
  int fd;
  int count;
};

static void *produce(void *arg) {
  struct producer *p = arg;
  for (int i = 0; i < p->count; i++) CHECK(eventfd_write(p->fd, 1) == 0);
  return NULL;
}

int main(void) {
  struct epoll_event ev;
  eventfd_t value = 0;

  say("create\n");
  int ep = epoll_create1(EPOLL_CLOEXEC);
  CHECK(ep >= 0);
  int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  CHECK(efd >= 0);
  int fl = fcntl(efd, F_GETFL);
  CHECK(fl >= 0);
  say("  fcntl(F_GETFL): O_RDWR=%d O_NONBLOCK=%d\n", (fl & O_ACCMODE) == O_RDWR,
      (fl & O_NONBLOCK) != 0);
  say("  fcntl(F_GETFD): FD_CLOEXEC=%d\n", fcntl(efd, F_GETFD) == FD_CLOEXEC);

  say("level-triggered\n");
  memset(&ev, 0, sizeof ev);
  ev.events = EPOLLIN;
  ev.data.u64 = 7;
  CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) == 0);
  show_wait("nothing written", ep, 0);
  CHECK(eventfd_write(efd, 2) == 0);
  uint64_t one = 1;
  CHECK(write(efd, &one, sizeof one) == (ssize_t)sizeof one);
  show_wait("after writing 2 and 1", ep, 0);
  show_wait("again (level-triggered)", ep, 0);
  CHECK(read(efd, &value, sizeof value) == (ssize_t)sizeof value);
  say("  read -> %llu\n", (unsigned long long)value);
  show_wait("after the read", ep, 0);
  CHECK_ERR(read(efd, &value, sizeof value), EAGAIN);

  say("edge-triggered\n");
  ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
  ev.data.u64 = 8;
  CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, efd, &ev) == 0);
  show_wait("after MOD IN|OUT|ET", ep, 0);
  show_wait("again (edge-triggered)", ep, 0);
  CHECK(eventfd_write(efd, 5) == 0);
  show_wait("after writing 5", ep, 0);
  CHECK(eventfd_read(efd, &value) == 0);
  say("  eventfd_read -> %llu\n", (unsigned long long)value);

  say("one-shot\n");
  ev.events = EPOLLIN | EPOLLONESHOT;
  ev.data.u64 = 9;
  CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, efd, &ev) == 0);
  CHECK(eventfd_write(efd, 1) == 0);
  show_wait("after a write", ep, 0);
  show_wait("disarmed", ep, 0);
  CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, efd, &ev) == 0);
  show_wait("re-armed by MOD", ep, 0);
  CHECK(eventfd_read(efd, &value) == 0);

  say("errors\n");
  CHECK_ERR(epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev), EEXIST);
  CHECK_ERR(epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev), EINVAL);
  CHECK_ERR(epoll_ctl(ep, 99, efd, &ev), EINVAL);
  CHECK_ERR(epoll_wait(ep, &ev, 0, 0), EINVAL);
  CHECK_ERR(epoll_wait(efd, &ev, 1, 0), EINVAL);
  CHECK_ERR(epoll_create(0), EINVAL);
  CHECK_ERR(eventfd(0, -1), EINVAL);
  uint64_t too_big = UINT64_MAX;
  CHECK_ERR(write(efd, &too_big, sizeof too_big), EINVAL);
  uint32_t small = 0;
  CHECK_ERR(read(efd, &small, sizeof small), EINVAL);
  CHECK_ERR(dup3(efd, efd, 0), EINVAL);

  say("vectors\n");
  uint64_t three = 3;
  struct iovec wiov = {&three, sizeof three};
  CHECK(writev(efd, &wiov, 1) == (ssize_t)sizeof three);
  uint32_t halves[2] = {0, 0};
  struct iovec riov[2] = {{&halves[0], 4}, {&halves[1], 4}};
  CHECK(readv(efd, riov, 2) == 8);
  uint64_t joined;
  memcpy(&joined, halves, sizeof joined);
  say("  writev 3, readv into 4+4 bytes -> %llu\n", (unsigned long long)joined);

  say("dup\n");
  int d = dup(efd);
  CHECK(d >= 0);
  CHECK(dup2(d, d) == d);
  int other = eventfd(0, 0);
  CHECK(other >= 0);
  CHECK(dup2(d, other) == other); /* `other` now names efd's eventfd too */
  CHECK(eventfd_write(other, 4) == 0);
  CHECK(eventfd_read(d, &value) == 0);
  say("  write through dup2 copy, read through dup -> %llu\n", (unsigned long long)value);
  ev.events = EPOLLIN;
  ev.data.u64 = 10;
  CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, efd, &ev) == 0);
  CHECK(close(efd) == 0);
  CHECK(eventfd_write(d, 1) == 0);
  say("  closed the added fd, the file lives on through its copies:\n");
  show_wait("item still reports", ep, 0);
  CHECK_ERR(epoll_ctl(ep, EPOLL_CTL_DEL, efd, NULL), EBADF);
  CHECK(close(other) == 0);
  CHECK(close(d) == 0);
  show_wait("after the last copy is closed", ep, 0);
  CHECK_ERR(close(d), EBADF);

  say("nested\n");
  int inner = epoll_create1(0);
  CHECK(inner >= 0);
  int nfd = eventfd(0, EFD_NONBLOCK);
  CHECK(nfd >= 0);
  ev.events = EPOLLIN;
  ev.data.u64 = 11;
  CHECK(epoll_ctl(inner, EPOLL_CTL_ADD, nfd, &ev) == 0);
  ev.data.u64 = 12;
  CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, inner, &ev) == 0);
  show_wait("outer, inner idle", ep, 0);
  CHECK(eventfd_write(nfd, 1) == 0);
  show_wait("outer, inner ready", ep, 0);
  CHECK_ERR(epoll_ctl(inner, EPOLL_CTL_ADD, ep, &ev), ELOOP);
  CHECK(close(inner) == 0);
  CHECK(close(nfd) == 0);
  show_wait("after closing the inner instance", ep, 0);

  say("threads\n");
  int tfd = eventfd(0, 0); /* blocking */
  CHECK(tfd >= 0);
  ev.events = EPOLLIN | EPOLLET;
  ev.data.u64 = 13;
  CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev) == 0);
  struct producer p = {tfd, 10000};
  pthread_t th;
  CHECK(pthread_create(&th, NULL, produce, &p) == 0);
  uint64_t total = 0;
  while (total < (uint64_t)p.count) {
    struct epoll_event got;
    int n = epoll_wait(ep, &got, 1, -1);
    CHECK(n == 1);
    CHECK(got.data.u64 == 13 && got.events == EPOLLIN);
    CHECK(eventfd_read(tfd, &value) == 0);
    total += value;
  }
  CHECK(pthread_join(th, NULL) == 0);
  say("  %d writes from another thread, epoll_wait(-1) + read -> total %llu\n", p.count,
      (unsigned long long)total);

  say("timeouts and masks\n");
  struct timespec ms = {0, 1000000};
  struct epoll_event got;
  CHECK(epoll_pwait2(ep, &got, 1, &ms, NULL) == 0);
  say("  epoll_pwait2 1 ms, nothing ready -> 0\n");
  struct timespec bad = {0, 1000000000};
  CHECK_ERR(epoll_pwait2(ep, &got, 1, &bad, NULL), EINVAL);
  sigset_t mask;
  sigemptyset(&mask);
  CHECK(eventfd_write(tfd, 1) == 0);
  CHECK(epoll_pwait(ep, &got, 1, 0, &mask) == 1);
  say("  epoll_pwait with a mask, ready -> 1 [%s]\n", mask_str(got.events));
  CHECK(eventfd_read(tfd, &value) == 0);

  CHECK(close(tfd) == 0);
  CHECK(close(ep) == 0);
  CHECK_ERR(close(ep), EBADF);
  CHECK_ERR(close(-1), EBADF); /* a kernel-range number: the kernel answers */
  say("all checks passed\n");
  return 0;
}
