/* Built with compat.h only: after fork, the child has none of the parent's uepoll
 * descriptors (docs/semantics.md). Their files live in the parent's memory; a child's
 * copy would silently drift apart from the parent's, so each call on one gives EBADF,
 * while new uepoll descriptors work in the child and the parent keeps its data. (On the
 * kernel a pipe crosses fork: there is nothing to compare with, so this is no
 * differential test.) */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "programs/common.h"

int main(void) {
  int p[2];
  CHECK(pipe(p) == 0);
  int ev = eventfd(0, 0);
  CHECK(ev >= 0 && uep_is_uepoll_fd(p[0]) && uep_is_uepoll_fd(ev));
  CHECK(write(p[1], "kept", 4) == 4);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    char c;
    struct pollfd pfd = {.fd = p[0], .events = POLLIN};
    int code = 0;
    if (read(p[0], &c, 1) != -1 || errno != EBADF) code = 1;
    else if (write(p[1], "x", 1) != -1 || errno != EBADF) code = 2;
    else if (eventfd_write(ev, 1) != -1 || errno != EBADF) code = 3;
    else if (poll(&pfd, 1, 0) != 1 || pfd.revents != POLLNVAL) code = 4;
    else if (close(p[0]) != -1 || errno != EBADF) code = 5;
    else {
      int fresh = eventfd(0, 0);
      eventfd_t v = 0;
      if (fresh < 0 || eventfd_write(fresh, 9) != 0 || eventfd_read(fresh, &v) != 0 || v != 9) code = 6;
    }
    _exit(code);
  }
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status));
  printf("child exit %d\n", WEXITSTATUS(status));
  CHECK(WEXITSTATUS(status) == 0);
  char buf[8] = {0};
  CHECK(read(p[0], buf, sizeof buf) == 4 && strcmp(buf, "kept") == 0);
  CHECK(eventfd_write(ev, 2) == 0);
  printf("parent still has its pipe data and eventfd\n");
  printf("all checks passed\n");
  return 0;
}
