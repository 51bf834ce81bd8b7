/*
 * The descriptor calls that the real programs (docs/compatibility.md, "Real programs") make
 * on their socket pairs and pipes besides I/O and epoll, one line each: CPython checks a
 * socket with getsockname(), open(fd) fstat()s it, libevent's evbuffer sends files with
 * sendfile(). run_suite.py (suite `calls`) compares the lines with the kernel's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static void report(const char *what, int rc) {
  if (rc < 0)
    printf("%s: -1 %s\n", what, strerrorname_np(errno));
  else
    printf("%s: %d\n", what, rc);
}

static void name_of(const char *what, int fd, int peer) {
  struct sockaddr_un addr;
  socklen_t len = sizeof(addr);
  memset(&addr, 0xff, sizeof(addr));
  int rc = peer ? getpeername(fd, (struct sockaddr *)&addr, &len)
                : getsockname(fd, (struct sockaddr *)&addr, &len);
  if (rc < 0) {
    report(what, rc);
    return;
  }
  printf("%s: %d family=%d len=%u\n", what, rc, addr.sun_family, (unsigned)len);
}

static void type_of(const char *what, int fd) {
  struct stat st;
  int rc = fstat(fd, &st);
  if (rc < 0) {
    report(what, rc);
    return;
  }
  printf("%s: %d %s\n", what, rc,
         S_ISSOCK(st.st_mode) ? "socket" : S_ISFIFO(st.st_mode) ? "fifo"
         : S_ISDIR(st.st_mode) ? "directory" : "other");
}

int main(void) {
  int sv[2], p[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || pipe(p) < 0) {
    perror("socketpair/pipe");
    return 1;
  }
  name_of("getsockname(socketpair)", sv[0], 0);
  name_of("getpeername(socketpair)", sv[0], 1);
  type_of("fstat(socketpair)", sv[0]);
  type_of("fstat(pipe read end)", p[0]);

  FILE *file = tmpfile();
  if (file == NULL || fputs("twelve bytes", file) < 0 || fflush(file) != 0) {
    perror("tmpfile");
    return 1;
  }
  off_t offset = 0;
  report("sendfile(file -> socketpair)", (int)sendfile(sv[0], fileno(file), &offset, 12));
  offset = 0;
  report("sendfile(file -> pipe)", (int)sendfile(p[1], fileno(file), &offset, 12));
  char buf[16];
  report("recv(socketpair) after sendfile", (int)recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT));
  return 0;
}
