/* Descriptors that are the kernel's whoever serves the program: a regular file, a UDP
 * socket on loopback, /dev/null. Every call that compat.h maps or the preload library
 * interposes must reach the kernel for them, with the kernel's results and errno:
 * read/write/readv/writev, fcntl (F_GETFL/F_SETFL/F_DUPFD/F_GETFD), dup/dup2/dup3,
 * ioctl(FIONREAD), send/sendto/recv/recvfrom/sendmsg/recvmsg, shutdown, getsockopt,
 * poll, select, close; and a kernel socket in a kernel-only poll/select set. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common.h"

int main(void) {
  char path[] = "/tmp/uepoll-kernel-fds-XXXXXX";
  int file = mkstemp(path);
  CHECK(file >= 0);
  unlink(path);
  print_fd("file", file);
  CHECK(write(file, "hello ", 6) == 6);
  struct iovec iov[2] = {{"wor", 3}, {"ld", 2}};
  CHECK(writev(file, iov, 2) == 5);
  CHECK(lseek(file, 0, SEEK_SET) == 0);
  char buf[32] = {0};
  char a[6] = {0}, b[7] = {0};
  struct iovec riov[2] = {{a, 5}, {b, 6}};
  CHECK(readv(file, riov, 2) == 11);
  printf("file: \"%s\" + \"%s\"\n", a, b);
  CHECK((fcntl(file, F_GETFL) & O_ACCMODE) == O_RDWR);
  CHECK(fcntl(file, F_SETFL, O_APPEND) == 0 && (fcntl(file, F_GETFL) & O_APPEND) != 0);
  int d = fcntl(file, F_DUPFD_CLOEXEC, 10);
  CHECK(d >= 10 && fcntl(d, F_GETFD) == FD_CLOEXEC);
  print_fd("F_DUPFD_CLOEXEC(file, 10)", d);
  int d2 = dup(file);
  CHECK(d2 >= 0);
  print_fd("dup(file)", d2);
  CHECK(dup2(file, d2) == d2 && dup3(file, d2, O_CLOEXEC) == d2 && fcntl(d2, F_GETFD) == FD_CLOEXEC);
  CHECK(dup3(file, file, 0) == -1 && errno == EINVAL);
  int n = -1;
  CHECK(ioctl(file, FIONREAD, &n) == 0);
  printf("file FIONREAD at end: %d\n", n);
  CHECK(shutdown(file, SHUT_RD) == -1 && errno == ENOTSOCK);
  CHECK(send(file, "x", 1, 0) == -1 && errno == ENOTSOCK);
  CHECK(recv(file, buf, 1, 0) == -1 && errno == ENOTSOCK);

  int dn = open("/dev/null", O_RDWR);
  CHECK(dn >= 0);
  CHECK(read(dn, buf, sizeof buf) == 0 && write(dn, "x", 1) == 1);
  struct pollfd p[2] = {{.fd = dn, .events = POLLIN | POLLOUT}, {.fd = file, .events = POLLIN}};
  CHECK(poll(p, 2, 0) == 2);
  printf("poll /dev/null and file: %#x %#x\n", (unsigned)p[0].revents, (unsigned)p[1].revents);

  int s1 = socket(AF_INET, SOCK_DGRAM, 0), s2 = socket(AF_INET, SOCK_DGRAM, 0);
  CHECK(s1 >= 0 && s2 >= 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof addr;
  CHECK(bind(s2, (struct sockaddr *)&addr, sizeof addr) == 0);
  CHECK(getsockname(s2, (struct sockaddr *)&addr, &len) == 0);
  CHECK(sendto(s1, "datagram", 8, 0, (struct sockaddr *)&addr, sizeof addr) == 8);
  fd_set rd;
  FD_ZERO(&rd);
  FD_SET(s2, &rd);
  struct timeval tv = {5, 0};
  CHECK(select(s2 + 1, &rd, NULL, NULL, &tv) == 1 && FD_ISSET(s2, &rd));
  CHECK(ioctl(s2, FIONREAD, &n) == 0);
  printf("udp FIONREAD: %d\n", n);
  struct sockaddr_in from;
  socklen_t fromlen = sizeof from;
  CHECK(recvfrom(s2, buf, sizeof buf, 0, (struct sockaddr *)&from, &fromlen) == 8);
  printf("udp: \"%.8s\" from loopback: %s\n", buf, from.sin_addr.s_addr == htonl(INADDR_LOOPBACK) ? "yes" : "no");
  CHECK(connect(s1, (struct sockaddr *)&addr, sizeof addr) == 0);
  CHECK(send(s1, "one", 3, 0) == 3);
  struct iovec miov = {"two", 3};
  struct msghdr msg = {.msg_iov = &miov, .msg_iovlen = 1};
  CHECK(sendmsg(s1, &msg, 0) == 3);
  CHECK(recv(s2, buf, sizeof buf, 0) == 3);
  char rbuf[8] = {0};
  struct iovec rmiov = {rbuf, sizeof rbuf};
  struct msghdr rmsg = {.msg_iov = &rmiov, .msg_iovlen = 1};
  CHECK(recvmsg(s2, &rmsg, 0) == 3);
  printf("udp connected: \"%.3s\" then \"%s\"\n", buf, rbuf);
  int type = 0;
  len = sizeof type;
  CHECK(getsockopt(s1, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_DGRAM);
  CHECK(shutdown(s2, SHUT_RDWR) == -1 && errno == ENOTCONN);
  CHECK(fcntl(s2, F_SETFL, O_NONBLOCK) == 0);
  CHECK(recv(s2, buf, sizeof buf, 0) == -1 && errno == EAGAIN);
  printf("udp: shutdown ENOTCONN, nonblocking recv EAGAIN\n");

  int fds[] = {file, d, d2, dn, s1, s2};
  for (int i = 0; i < 6; i++) CHECK(close(fds[i]) == 0);
  CHECK(close(file) == -1 && errno == EBADF);
  CHECK(read(file, buf, 1) == -1 && errno == EBADF);
  CHECK(fcntl(file, F_GETFD) == -1 && errno == EBADF);
  CHECK(dup(file) == -1 && errno == EBADF);
  printf("closed: EBADF after\n");
  printf("all checks passed\n");
  return 0;
}
