/* Makes one descriptor of each kind and prints who holds it: "kernel" if the kernel's
 * table has the real object, "uepoll" if it holds a placeholder ("/", see
 * core/fd_table.h). The preload tests run it with several UEPOLL_PRELOAD values. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static const char *holder(int fd) {
  char path[32], target[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(path, target, sizeof target - 1);
  if (n < 0) return "closed";
  target[n] = 0;
  return strcmp(target, "/") == 0 ? "uepoll" : "kernel";
}

int main(void) {
  int p[2], sv[2];
  int ep = epoll_create1(0), ev = eventfd(0, 0), tfd = timerfd_create(CLOCK_MONOTONIC, 0);
  if (ep < 0 || ev < 0 || tfd < 0 || pipe(p) != 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
    perror("create");
    return 1;
  }
  printf("epoll %s\neventfd %s\npipe %s\nsocketpair %s\ntimerfd %s\n", holder(ep), holder(ev),
         holder(p[0]), holder(sv[0]), holder(tfd));
  return 0;
}
