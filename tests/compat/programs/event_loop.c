/* An epoll(7)-style event loop over the descriptor kinds uepoll serves: an eventfd
 * (eventfd(2) counter and semaphore), a pipe (pipe(2): a writer that closes), an AF_UNIX
 * stream pair (socketpair(2) with send/recv/sendmsg/recvmsg/shutdown/FIONREAD) and a
 * periodic timer (timerfd_create(2)); producers are threads. Then poll(),
 * dup/dup2/F_DUPFD and close on the same descriptors. Prints what it sees. (select() is
 * in tests/preload/programs/select_loop.c: under compat.h uepoll's numbers do not fit an
 * fd_set.) */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common.h"

static int efd, pfd[2], sv[2], tfd;

static void *producer(void *arg) {
  (void)arg;
  for (int i = 1; i <= 3; i++) CHECK(eventfd_write(efd, (eventfd_t)i) == 0);
  static const char text[] = "through the pipe";
  CHECK(write(pfd[1], text, sizeof text - 1) == (ssize_t)(sizeof text - 1));
  CHECK(close(pfd[1]) == 0);
  CHECK(send(sv[1], "ping", 4, 0) == 4);
  char a[] = "vec", b[] = "tor";
  struct iovec iov[2] = {{a, 3}, {b, 3}};
  struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
  CHECK(sendmsg(sv[1], &msg, 0) == 6);
  CHECK(shutdown(sv[1], SHUT_WR) == 0);
  return NULL;
}

static const char *name_of(int fd) {
  if (fd == efd) return "eventfd";
  if (fd == pfd[0]) return "pipe";
  if (fd == sv[0]) return "socket";
  if (fd == tfd) return "timer";
  return "?";
}

int main(void) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  CHECK(ep >= 0);
  CHECK((efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) >= 0);
  CHECK(pipe2(pfd, O_NONBLOCK | O_CLOEXEC) == 0);
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
  CHECK((tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK)) >= 0);
  print_fd("epoll", ep);
  print_fd("eventfd", efd);
  print_fd("pipe read end", pfd[0]);
  print_fd("pipe write end", pfd[1]);
  print_fd("socket 0", sv[0]);
  print_fd("socket 1", sv[1]);
  print_fd("timerfd", tfd);
  describe_kernel_fds();

  int watched[] = {efd, pfd[0], sv[0], tfd};
  for (int i = 0; i < 4; i++) {
    struct epoll_event ev = {.events = EPOLLIN | (watched[i] == pfd[0] ? EPOLLET : 0),
                             .data.fd = watched[i]};
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, watched[i], &ev) == 0);
  }
  struct epoll_event dummy = {.events = EPOLLIN};
  CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, efd, &dummy) == -1 && errno == EEXIST);
  struct itimerspec its = {.it_interval = {0, 5000000}, .it_value = {0, 5000000}};
  CHECK(timerfd_settime(tfd, 0, &its, NULL) == 0);

  pthread_t t;
  CHECK(pthread_create(&t, NULL, producer, NULL) == 0);
  CHECK(pthread_join(t, NULL) == 0);

  /* Everything is produced: harvest until each source is drained. */
  uint64_t counter = 0, expirations = 0;
  char pipe_text[64] = {0}, sock_text[64] = {0};
  size_t pipe_len = 0, sock_len = 0;
  int pipe_eof = 0, sock_eof = 0;
  uint32_t pipe_events = 0;
  while (counter == 0 || !pipe_eof || !sock_eof || expirations < 3) {
    struct epoll_event out[8];
    int n = epoll_wait(ep, out, 8, 2000);
    CHECK(n > 0);
    for (int i = 0; i < n; i++) {
      int fd = out[i].data.fd;
      if (fd == efd) {
        eventfd_t v;
        CHECK(eventfd_read(efd, &v) == 0);
        counter += v;
        printf("eventfd read %llu\n", (unsigned long long)v);
      } else if (fd == pfd[0]) {
        for (;;) { /* edge-triggered: drain */
          ssize_t r = read(pfd[0], pipe_text + pipe_len, sizeof pipe_text - 1 - pipe_len);
          if (r > 0) pipe_len += (size_t)r;
          if (r == 0) pipe_eof = 1;
          if (r <= 0) {
            CHECK(r == 0 || errno == EAGAIN);
            break;
          }
        }
        if (pipe_eof) {
          pipe_events = out[i].events;
          CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, pfd[0], NULL) == 0);
        }
      } else if (fd == sv[0]) {
        int avail = -1;
        CHECK(ioctl(sv[0], FIONREAD, &avail) == 0);
        char buf[16];
        ssize_t r = avail > 4 ? recv(sv[0], buf, 4, 0) : read(sv[0], buf, sizeof buf);
        CHECK(r >= 0);
        if (r == 0) {
          sock_eof = 1;
          CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, sv[0], NULL) == 0);
        } else {
          memcpy(sock_text + sock_len, buf, (size_t)r);
          sock_len += (size_t)r;
        }
      } else if (fd == tfd) {
        uint64_t exp;
        CHECK(read(tfd, &exp, sizeof exp) == sizeof exp);
        expirations += exp;
      }
    }
  }
  /* Printed here, in a fixed order: the order of events within one epoll_wait is not
   * part of the contract when the sources differ (kernel and uepoll descriptors). */
  printf("pipe: \"%s\" then end of file (events %s%s)\n", pipe_text,
         (pipe_events & EPOLLIN) ? "IN" : "", (pipe_events & EPOLLHUP) ? "|HUP" : "");
  printf("socket: \"%s\" then end of stream\n", sock_text);
  printf("eventfd total %llu, timer expired at least 3 times: %s\n", (unsigned long long)counter,
         expirations >= 3 ? "yes" : "no");
  CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, tfd, NULL) == 0);
  CHECK(close(tfd) == 0);
  struct epoll_event none[1];
  CHECK(epoll_wait(ep, none, 1, 0) == 0);

  /* An eventfd in semaphore mode, poll() on it. */
  int sem = eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK);
  CHECK(sem >= 0);
  print_fd("semaphore", sem);
  struct pollfd p = {.fd = sem, .events = POLLIN | POLLOUT};
  CHECK(poll(&p, 1, 0) == 1);
  printf("poll on semaphore: %s%s\n", (p.revents & POLLIN) ? "IN" : "", (p.revents & POLLOUT) ? "|OUT" : "");
  eventfd_t one;
  CHECK(eventfd_read(sem, &one) == 0 && one == 1);
  CHECK(eventfd_read(sem, &one) == 0 && one == 1);
  CHECK(eventfd_read(sem, &one) == -1 && errno == EAGAIN);
  printf("semaphore: two reads of 1, then EAGAIN\n");

  /* dup, dup2, F_DUPFD_CLOEXEC, F_GETFD/F_SETFD, F_GETFL/F_SETFL, close. */
  int d = dup(efd);
  CHECK(d >= 0);
  print_fd("dup(eventfd)", d);
  CHECK(fcntl(d, F_GETFD) == 0 && fcntl(efd, F_GETFD) == FD_CLOEXEC);
  CHECK(eventfd_write(d, 7) == 0);
  eventfd_t seven;
  CHECK(eventfd_read(efd, &seven) == 0 && seven == 7);
  int high = fcntl(efd, F_DUPFD_CLOEXEC, 20);
  CHECK(high >= 20);
  print_fd("F_DUPFD_CLOEXEC(eventfd, 20)", high);
  CHECK(dup2(sem, d) == d);
  CHECK(eventfd_write(sem, 1) == 0);
  CHECK(eventfd_read(d, &one) == 0 && one == 1);
  int fl = fcntl(d, F_GETFL);
  CHECK((fl & O_NONBLOCK) != 0 && (fl & O_ACCMODE) == O_RDWR);
  CHECK(fcntl(d, F_SETFL, fl & ~O_NONBLOCK) == 0 && (fcntl(sem, F_GETFL) & O_NONBLOCK) == 0);
  printf("dup, dup2, F_DUPFD_CLOEXEC and F_SETFL behave\n");

  int fds[] = {d, high, sem, efd, pfd[0], sv[0], sv[1], ep};
  for (int i = 0; i < 8; i++) CHECK(close(fds[i]) == 0);
  CHECK(close(efd) == -1 && errno == EBADF);
  CHECK(read(ep, &one, sizeof one) == -1 && errno == EBADF);
  printf("%s closed: EBADF after\n", name_of(-1)[0] == '?' ? "all" : "?");
  printf("all checks passed\n");
  return 0;
}
