/* Descriptor numbers as the kernel gives them, whoever serves the descriptor: the lowest
 * free number, dup/F_DUPFD minimums, dup2 onto a kernel descriptor (which it closes) and
 * onto a uepoll one, dup3 flags, FD_CLOEXEC, close_range, and EMFILE at RLIMIT_NOFILE.
 * Prints every number and result; the preload test requires the same output as on the
 * kernel. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common.h"

static const char *err(int r) {
  return r >= 0 ? "ok" : errno == EBADF ? "EBADF" : errno == EINVAL ? "EINVAL" : errno == EMFILE ? "EMFILE"
                                         : errno == ESPIPE ? "ESPIPE" : "other";
}

int main(void) {
  setenv("PRINT_FD_NUMBERS", "1", 1);
  int p[2];
  int a = eventfd(0, 0);
  int null = open("/dev/null", O_RDONLY);
  CHECK(pipe(p) == 0);
  print_fd("eventfd a", a);
  print_fd("/dev/null", null);
  print_fd("pipe[0]", p[0]);
  print_fd("pipe[1]", p[1]);
  describe_kernel_fds();
  CHECK(close(null) == 0);
  int b = eventfd(0, EFD_CLOEXEC);
  print_fd("eventfd b (reuses the freed number)", b);

  int d1 = dup(a);
  print_fd("dup(a)", d1);
  int d2 = fcntl(a, F_DUPFD, 17);
  print_fd("F_DUPFD(a, 17)", d2);
  int d3 = fcntl(a, F_DUPFD_CLOEXEC, 17);
  print_fd("F_DUPFD_CLOEXEC(a, 17)", d3);
  printf("F_GETFD: a %d, d2 %d, d3 %d, b %d\n", fcntl(a, F_GETFD), fcntl(d2, F_GETFD), fcntl(d3, F_GETFD),
         fcntl(b, F_GETFD));
  printf("F_DUPFD(a, -1): %s; F_DUPFD(a, 1<<30): %s\n", err(fcntl(a, F_DUPFD, -1)), err(fcntl(a, F_DUPFD, 1 << 30)));

  /* dup2 of a uepoll descriptor onto a kernel one: the kernel file is closed. */
  int k = open("/dev/null", O_WRONLY);
  print_fd("kernel /dev/null k", k);
  CHECK(dup2(a, k) == k);
  CHECK(eventfd_write(k, 5) == 0);
  eventfd_t v = 0;
  CHECK(eventfd_read(a, &v) == 0 && v == 5);
  printf("dup2(a, k): k is now a's eventfd (read 5 through a)\n");
  /* dup2 of a kernel descriptor onto a uepoll one: the uepoll descriptor is released. */
  int k2 = open("/dev/null", O_RDONLY);
  CHECK(dup2(k2, d1) == d1);
  char c;
  printf("dup2(kernel, d1): read(d1) = %zd (end of file of /dev/null)\n", read(d1, &c, 1));
  CHECK(close(k2) == 0);
  /* dup3 */
  printf("dup3(a, a, 0): %s; dup3(a, 40, 0x1234): %s\n", err(dup3(a, a, 0)), err(dup3(a, 40, 0x1234)));
  CHECK(dup3(p[0], 40, O_CLOEXEC) == 40);
  printf("dup3(pipe[0], 40, O_CLOEXEC): F_GETFD %d\n", fcntl(40, F_GETFD));
  printf("dup2(a, -1): %s; dup2(a, 1<<30): %s; dup2(1<<30, a): %s\n", err(dup2(a, -1)), err(dup2(a, 1 << 30)),
         err(dup2(1 << 30, a)));
  /* FD_CLOEXEC set and cleared, FIOCLEX / FIONCLEX. */
  CHECK(fcntl(a, F_SETFD, FD_CLOEXEC) == 0);
  printf("after F_SETFD: %d", fcntl(a, F_GETFD));
  CHECK(ioctl(a, FIONCLEX) == 0);
  printf(", after FIONCLEX: %d", fcntl(a, F_GETFD));
  CHECK(ioctl(a, FIOCLEX) == 0);
  printf(", after FIOCLEX: %d\n", fcntl(a, F_GETFD));

  /* fstat's type and mode per kind, getsockname/getpeername of a socket pair. */
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  int t = timerfd_create(CLOCK_MONOTONIC, 0);
  CHECK(t >= 0);
  int kinds[] = {a, p[0], p[1], sv[0], t};
  const char *names[] = {"eventfd", "pipe read end", "pipe write end", "socket", "timerfd"};
  for (int i = 0; i < 5; i++) {
    struct stat st;
    CHECK(fstat(kinds[i], &st) == 0);
    printf("fstat %s: mode %o, nlink %lu, uid is ours %d\n", names[i], (unsigned)st.st_mode,
           (unsigned long)st.st_nlink, st.st_uid == geteuid());
  }
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  CHECK(getsockname(sv[0], (struct sockaddr *)&ss, &sl) == 0);
  printf("getsockname: family %d, length %u\n", ss.ss_family, (unsigned)sl);
  sl = sizeof ss;
  CHECK(getpeername(sv[1], (struct sockaddr *)&ss, &sl) == 0);
  printf("getpeername: family %d, length %u\n", ss.ss_family, (unsigned)sl);
  sl = sizeof ss;
  printf("getsockname(eventfd): %s\n", getsockname(a, (struct sockaddr *)&ss, &sl) == -1 && errno == ENOTSOCK ? "ENOTSOCK" : "?");
  /* No positions: lseek, pread, pwrite. */
  char pbuf[8];
  printf("lseek: eventfd %ld, timerfd %ld, pipe %s, socket %s, bad whence %s\n", (long)lseek(a, 5, SEEK_SET),
         (long)lseek(t, 0, SEEK_END), err((int)lseek(p[0], 0, SEEK_CUR)), err((int)lseek(sv[0], 0, SEEK_SET)) ,
         err((int)lseek(a, 0, 99)));
  errno = 0;
  long r1 = (long)pread(p[0], pbuf, 1, 0);
  int e1 = errno;
  long r2 = (long)pread(a, pbuf, 8, -1);
  int e2 = errno;
  long r3 = (long)pwrite(sv[0], "x", 1, 0);
  int e3 = errno;
  printf("pread pipe %ld/%s, pread eventfd offset -1 %ld/%s, pwrite socket %ld/%s\n", r1,
         e1 == ESPIPE ? "ESPIPE" : "?", r2, e2 == EINVAL ? "EINVAL" : "?", r3, e3 == ESPIPE ? "ESPIPE" : "?");
  CHECK(close(sv[0]) == 0 && close(sv[1]) == 0 && close(t) == 0);

  /* close_range over a mix: everything from 17 up is closed. */
  CHECK(close_range(17, ~0U, 0) == 0);
  printf("after close_range(17, ~0): d2 %s, d3 %s, 40 %s\n", err(fcntl(d2, F_GETFD)), err(fcntl(d3, F_GETFD)),
         err(fcntl(40, F_GETFD)));
  int again = fcntl(a, F_DUPFD, 17);
  print_fd("F_DUPFD(a, 17) again", again);

  /* EMFILE at the soft limit: how many eventfds and pipes fit under a limit of 32. */
  struct rlimit rl = {32, 32};
  CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
  int made = 0, last = -1;
  for (;;) {
    int e = eventfd(0, 0);
    if (e < 0) {
      printf("eventfd after %d more: %s\n", made, err(e));
      break;
    }
    last = e;
    made++;
  }
  print_fd("last eventfd", last);
  CHECK(close(last) == 0 && close(last - 1) == 0);
  printf("pipe with 2 free: %s\n", err(pipe(p)));
  printf("pipe with 0 free: %s\n", err(pipe(p)));
  printf("dup with 0 free: %s\n", err(dup(a)));
  printf("all checks passed\n");
  return 0;
}
