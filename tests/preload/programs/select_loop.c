/* select() and pselect() over the descriptors uepoll serves, as older programs use them:
 * readable, writable and exceptional sets; a pipe whose writer closes (readable at end of
 * file); a full pipe (not writable); an eventfd made readable by a thread while select
 * sleeps; the timeout select writes back; EBADF for a closed descriptor in a set; the
 * count of bits. (Preload only: under compat.h uepoll's numbers do not fit an fd_set.) */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static int efd;

static void *late_writer(void *arg) {
  (void)arg;
  usleep(20000);
  CHECK(eventfd_write(efd, 3) == 0);
  return NULL;
}

static int max3(int a, int b, int c) { return a > b ? (a > c ? a : c) : (b > c ? b : c); }

int main(void) {
  int p[2], sv[2];
  CHECK(pipe2(p, O_NONBLOCK) == 0);
  CHECK((efd = eventfd(0, 0)) >= 0);
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  print_fd("pipe read end", p[0]);
  print_fd("eventfd", efd);
  describe_kernel_fds();
  int nfds = max3(p[1], efd, sv[1]) + 1;

  /* Nothing readable; pipe and socket writable; zero timeout. */
  fd_set rd, wr, ex;
  FD_ZERO(&rd); FD_ZERO(&wr); FD_ZERO(&ex);
  FD_SET(p[0], &rd); FD_SET(efd, &rd); FD_SET(sv[0], &rd);
  FD_SET(p[1], &wr); FD_SET(sv[0], &wr); FD_SET(sv[0], &ex);
  struct timeval tv = {0, 0};
  int n = select(nfds, &rd, &wr, &ex, &tv);
  printf("idle: %d ready; read %d%d%d write %d%d except %d\n", n, FD_ISSET(p[0], &rd),
         FD_ISSET(efd, &rd), FD_ISSET(sv[0], &rd), FD_ISSET(p[1], &wr), FD_ISSET(sv[0], &wr),
         FD_ISSET(sv[0], &ex));

  /* Sleep until a thread writes the eventfd; the timeout left is written back. */
  pthread_t t;
  CHECK(pthread_create(&t, NULL, late_writer, NULL) == 0);
  FD_ZERO(&rd);
  FD_SET(p[0], &rd); FD_SET(efd, &rd);
  tv.tv_sec = 5;
  tv.tv_usec = 0;
  n = select(nfds, &rd, NULL, NULL, &tv);
  CHECK(pthread_join(t, NULL) == 0);
  printf("woken: %d ready; eventfd %d pipe %d; time left between 4s and 5s: %s\n", n,
         FD_ISSET(efd, &rd), FD_ISSET(p[0], &rd),
         (tv.tv_sec == 4 || (tv.tv_sec == 5 && tv.tv_usec == 0)) ? "yes" : "no");
  eventfd_t v;
  CHECK(eventfd_read(efd, &v) == 0 && v == 3);

  /* Fill the pipe: not writable. Timeout expires: 0, sets cleared, timeout 0. */
  char block[4096] = {0};
  while (write(p[1], block, sizeof block) > 0) {}
  CHECK(errno == EAGAIN);
  FD_ZERO(&wr);
  FD_SET(p[1], &wr);
  FD_ZERO(&rd);
  FD_SET(efd, &rd);
  tv.tv_sec = 0;
  tv.tv_usec = 10000;
  n = select(nfds, &rd, &wr, NULL, &tv);
  printf("full pipe: %d ready; write %d read %d; timeout left %ld.%06ld\n", n, FD_ISSET(p[1], &wr),
         FD_ISSET(efd, &rd), (long)tv.tv_sec, (long)tv.tv_usec);

  /* The writer closes: the read end is readable (data, then end of file). */
  CHECK(close(p[1]) == 0);
  FD_ZERO(&rd);
  FD_SET(p[0], &rd);
  struct timespec ts = {1, 0};
  sigset_t mask;
  sigemptyset(&mask);
  n = pselect(nfds, &rd, NULL, NULL, &ts, &mask);
  printf("pselect after close of writer: %d ready, read %d, timeout untouched %s\n", n,
         FD_ISSET(p[0], &rd), ts.tv_sec == 1 && ts.tv_nsec == 0 ? "yes" : "no");

  /* A closed descriptor in a set: EBADF. */
  CHECK(close(sv[1]) == 0);
  int closed = sv[1];
  FD_ZERO(&rd);
  FD_SET(sv[0], &rd);
  FD_SET(closed, &rd);
  tv.tv_sec = 0;
  tv.tv_usec = 0;
  n = select(closed + 1, &rd, NULL, NULL, &tv);
  printf("closed descriptor in the set: %d, %s\n", n, n == -1 && errno == EBADF ? "EBADF" : "?");
  /* The peer's close: the socket reads end of stream, so it is readable. */
  FD_ZERO(&rd);
  FD_SET(sv[0], &rd);
  n = select(sv[0] + 1, &rd, NULL, NULL, &tv);
  printf("peer closed: %d ready, read %d\n", n, FD_ISSET(sv[0], &rd));
  CHECK(close(p[0]) == 0 && close(efd) == 0 && close(sv[0]) == 0);
  printf("all checks passed\n");
  return 0;
}
