/* The defaults the documentation states, as the library reports them (scripts/check_docs.py):
 *
 *   docs_probe              key=value lines from the C API
 *   docs_probe kinds        run under the preload library: which kinds of descriptor it
 *                           makes (epoll,eventfd,...), from what /proc/self/fd says of each
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "uepoll/uepoll.h"

/* A uepoll descriptor under the preload library is an O_PATH placeholder of "/"; a kernel
 * one is an anonymous inode, a pipe or a socket. */
static int MadeByUepoll(int fd) {
  char path[64], link[256];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(path, link, sizeof link - 1);
  if (n < 0) {
    perror("readlink");
    exit(2);
  }
  link[n] = '\0';
  return strcmp(link, "/") == 0;
}

static int Kinds(void) {
  int p[2], s[2];
  const struct {
    const char* name;
    int fd;
  } made[] = {
      {"epoll", epoll_create1(0)},
      {"eventfd", eventfd(0, 0)},
      {"pipe", pipe(p) == 0 ? p[0] : -1},
      {"socketpair", socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0 ? s[0] : -1},
      {"timerfd", timerfd_create(CLOCK_MONOTONIC, 0)},
  };
  const char* sep = "";
  printf("preload_kinds=");
  for (size_t i = 0; i < sizeof made / sizeof made[0]; i++) {
    if (made[i].fd < 0) {
      perror(made[i].name);
      return 2;
    }
    if (MadeByUepoll(made[i].fd)) {
      printf("%s%s", sep, made[i].name);
      sep = ",";
    }
  }
  printf("\n");
  return 0;
}

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "kinds") == 0) return Kinds();
  const int ep = uep_epoll_create1(0);
  if (ep < 0) {
    perror("uep_epoll_create1");
    return 2;
  }
  printf("busy_poll=%d\n", uep_epoll_get_busy_poll(ep));
  printf("fd_base=%d\n", uep_fd_base());
  printf("nofile_limit=%d\n", uep_get_nofile_limit());
  printf("max_user_watches=%ld\n", uep_get_max_user_watches());
  uep_close(ep);
  return 0;
}
