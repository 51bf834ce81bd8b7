/* A vfork() child shares its parent's memory until it execs. What it closes, duplicates or
 * marks close-on-exec there (a close loop, close_range, dup2, F_SETFD: what subprocess
 * modules do between vfork and exec) acts on its own kernel descriptors; the parent's
 * epoll instance, eventfd and timerfd must be untouched, as on the kernel. Then a realtime
 * cancel-on-set timerfd is closed: the next pipe gets the kernel's numbers. Same output on
 * the kernel and under the preload library (default kinds), numbers included. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static int efd, ep, tfd;
/* The exec'd program runs without the library (an instrumented one cannot load into it). */
static char *no_env[] = {NULL};

static void check_parent(const char *after) {
  uint64_t one = 1, v = 0;
  CHECK(write(efd, &one, sizeof one) == sizeof one);
  struct epoll_event out;
  CHECK(epoll_wait(ep, &out, 1, 0) == 1 && out.data.fd == efd);
  CHECK(read(efd, &v, sizeof v) == sizeof v && v == 1);
  CHECK(fcntl(efd, F_GETFD) == 0);
  CHECK(fcntl(ep, F_GETFD) == FD_CLOEXEC);
  struct itimerspec cur;
  CHECK(timerfd_gettime(tfd, &cur) == 0 && cur.it_value.tv_sec > 1000);
  printf("after %s: parent's descriptors intact\n", after);
}

static void wait_child(pid_t pid) {
  int status = 0;
  CHECK(pid > 0);
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void) {
  efd = eventfd(0, EFD_NONBLOCK);
  ep = epoll_create1(EPOLL_CLOEXEC);
  tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  CHECK(efd >= 0 && ep >= 0 && tfd >= 0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = efd};
  CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) == 0);
  struct itimerspec far = {.it_value = {.tv_sec = 3600}};
  CHECK(timerfd_settime(tfd, 0, &far, NULL) == 0);
  print_fd("eventfd", efd);
  print_fd("epoll", ep);
  print_fd("timerfd", tfd);
  describe_kernel_fds();

  /* A close loop, as CPython's fallback, then exit. */
  pid_t pid = vfork();
  if (pid == 0) {
    for (int fd = 3; fd < 256; fd++) close(fd);
    _exit(0);
  }
  wait_child(pid);
  check_parent("a close loop");

  /* dup2 onto the descriptors and F_SETFD, then close_range and exec. */
  pid = vfork();
  if (pid == 0) {
    int p[2];
    if (pipe(p) != 0) _exit(2);
    dup2(p[0], efd);
    dup2(ep, p[1]);
    fcntl(efd, F_SETFD, FD_CLOEXEC);
    fcntl(ep, F_SETFD, 0);
    close_range(3, ~0U, 0);
    execle("/bin/true", "true", (char *)NULL, no_env);
    _exit(3);
  }
  wait_child(pid);
  check_parent("dup2, F_SETFD, close_range and exec");

  /* close_range(CLOSE_RANGE_CLOEXEC) marks only the child's descriptors. */
  pid = vfork();
  if (pid == 0) {
    close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    execle("/bin/true", "true", (char *)NULL, no_env);
    _exit(3);
  }
  wait_child(pid);
  check_parent("close_range(CLOSE_RANGE_CLOEXEC) and exec");

  /* A realtime timerfd with TFD_TIMER_CANCEL_ON_SET, closed: the numbers are free again. */
  int rt = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK);
  CHECK(rt >= 0);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  struct itimerspec abs = {.it_value = {.tv_sec = now.tv_sec + 3600}};
  CHECK(timerfd_settime(rt, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &abs, NULL) == 0);
  print_fd("realtime timerfd", rt);
  close(rt);
  int p[2];
  CHECK(pipe2(p, O_CLOEXEC) == 0);
  print_fd("pipe read end", p[0]);
  print_fd("pipe write end", p[1]);
  printf("all checks passed\n");
  return 0;
}
