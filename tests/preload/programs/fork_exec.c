/* What crosses fork and exec. On the kernel a pipe crosses both. Under the preload library
 * a uepoll pipe becomes a kernel pipe in the parent just before the child is made (its
 * data, flags and numbers kept), so it crosses both too and every check below is the
 * kernel's:
 *   fork:  the child reads the parent's byte and writes back; the parent reads it.
 *   exec:  a close-on-exec descriptor is closed in the new image; one whose FD_CLOEXEC the
 *          program cleared is the pipe there, and the image's write reaches the parent.
 *   posix_spawn with a close-on-exec pipe's write end as the child's stdout (made after
 *          the fork above, so a uepoll pipe again): the parent reads what the child wrote.
 * What does not cross fork is the rest of uepoll's kinds: an eventfd made before the fork
 * fails in the child (EBADF, poll POLLNVAL), and one made in the child works. The program
 * asks the kernel's table whether the pipe is uepoll's (placeholder: "/") and prints one
 * line per check. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#include "common.h"

static int is_placeholder(int fd) {
  char path[32], target[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(path, target, sizeof target - 1);
  if (n < 0) return 0;
  target[n] = 0;
  return strcmp(target, "/") == 0;
}

/* The exec'd image: argv = {self, "--exec-child", cloexec_fd, kept_fd}. */
static int exec_child(int cloexec_fd, int kept_fd) {
  errno = 0;
  int closed = fcntl(cloexec_fd, F_GETFD) == -1 && errno == EBADF;
  if (!closed) return 10;
  if (write(kept_fd, "from exec", 9) != 9) return 14;
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "--exec-child") == 0) {
    return exec_child(atoi(argv[2]), atoi(argv[3]));
  }
  setvbuf(stdout, NULL, _IONBF, 0);
  int p[2];
  CHECK(pipe(p) == 0);
  const int uepoll = is_placeholder(p[0]);
  printf("pipe served by %s\n", uepoll ? "uepoll" : "the kernel");
  CHECK(write(p[1], "before fork", 11) == 11);
  const int ev_before = eventfd(0, 0);
  CHECK(ev_before >= 0);
  const int ev_uepoll = is_placeholder(ev_before);

  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    char buf[16] = {0};
    int code = 0;
    if (read(p[0], buf, 11) != 11 || strcmp(buf, "before fork") != 0) code = 1;
    else if (write(p[1], "before fork and after", 21) != 21) code = 2;
    else if (ev_uepoll) {
      struct pollfd pfd = {.fd = ev_before, .events = POLLIN};
      eventfd_t v = 0;
      if (eventfd_write(ev_before, 1) != -1 || errno != EBADF) code = 3;
      else if (poll(&pfd, 1, 0) != 1 || pfd.revents != POLLNVAL) code = 4;
      else if (close(ev_before) != 0) code = 5;
      else {
        int ev = eventfd(0, 0); /* a new uepoll descriptor works in the child */
        if (ev < 0 || eventfd_write(ev, 5) != 0 || eventfd_read(ev, &v) != 0 || v != 5) code = 6;
      }
    }
    _exit(code);
  }
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  printf("fork: child exit %d\n", WEXITSTATUS(status));
  CHECK(WEXITSTATUS(status) == 0);
  char buf[64] = {0};
  CHECK(read(p[0], buf, sizeof buf) > 0);
  printf("fork: parent reads \"%s\"\n", buf);
  CHECK(strcmp(buf, "before fork and after") == 0);
  printf("after fork the pipe is %s\n", is_placeholder(p[0]) ? "uepoll's" : "the kernel's");
  CHECK(!is_placeholder(p[0]));

  /* exec: q[1] stays close-on-exec, p[1] has FD_CLOEXEC cleared. */
  int q[2];
  CHECK(pipe2(q, O_CLOEXEC) == 0);
  CHECK(fcntl(p[1], F_SETFD, 0) == 0 && fcntl(p[1], F_GETFD) == 0);
  pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    char a[16], b[16];
    snprintf(a, sizeof a, "%d", q[1]);
    snprintf(b, sizeof b, "%d", p[1]);
    execl("/proc/self/exe", argv[0], "--exec-child", a, b, (char *)NULL);
    _exit(127);
  }
  CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status));
  printf("exec: child exit %d\n", WEXITSTATUS(status));
  CHECK(WEXITSTATUS(status) == 0);
  memset(buf, 0, sizeof buf);
  CHECK(fcntl(p[0], F_SETFL, O_NONBLOCK) == 0);
  ssize_t n = read(p[0], buf, sizeof buf);
  printf("exec: parent reads %s\n", n > 0 ? buf : "nothing (EAGAIN)");
  CHECK(n == 9 && strcmp(buf, "from exec") == 0);

  /* posix_spawn with a new pipe's write end (close-on-exec) as the child's stdout. */
  CHECK(close(q[0]) == 0 && close(q[1]) == 0);
  CHECK(pipe2(q, O_CLOEXEC) == 0);
  printf("posix_spawn: the pipe is %s\n", is_placeholder(q[0]) == uepoll ? "as the first" : "not as the first");
  posix_spawn_file_actions_t fa;
  CHECK(posix_spawn_file_actions_init(&fa) == 0);
  CHECK(posix_spawn_file_actions_adddup2(&fa, q[1], 1) == 0);
  char sh[] = "sh", dash_c[] = "-c", cmd[] = "echo spawned";
  char *args[] = {sh, dash_c, cmd, NULL};
  CHECK(posix_spawn(&pid, "/bin/sh", &fa, NULL, args, environ) == 0);
  CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status));
  CHECK(close(q[1]) == 0);
  memset(buf, 0, sizeof buf);
  n = read(q[0], buf, sizeof buf);
  printf("posix_spawn: child exit %s, parent reads %s\n", WEXITSTATUS(status) == 0 ? "0" : "non-zero",
         n > 0 ? buf : "end of file");
  CHECK(WEXITSTATUS(status) == 0 && strcmp(buf, "spawned\n") == 0);
  printf("all checks passed\n");
  return 0;
}
