/* What crosses fork and exec. On the kernel a pipe crosses both; under the preload library
 * a uepoll descriptor cannot (its file lives in this process's memory), and the rule is
 * that nothing is lost silently:
 *   fork:  the child's uepoll descriptors fail: read/write EBADF, poll POLLNVAL; close
 *          works; new uepoll descriptors made in the child work. The parent's pipe keeps
 *          every byte.
 *   exec:  a close-on-exec descriptor is closed in the new image (EBADF); one whose
 *          FD_CLOEXEC the program cleared stays open there as the placeholder, on which
 *          read/write fail with EBADF (the number is not free for an unrelated file).
 *   posix_spawn with the pipe as the child's stdout: the child's writes fail (EBADF), it
 *          exits non-zero, and the parent reads end of file.
 * The program asks the kernel's table which case it is in (placeholder: "/") and checks
 * the matching behaviour; it prints one line per check. */
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

/* The exec'd image: argv = {self, "--exec-child", cloexec_fd, kept_fd, mode}. */
static int exec_child(int cloexec_fd, int kept_fd, int uepoll) {
  char c = 'x';
  errno = 0;
  int closed = fcntl(cloexec_fd, F_GETFD) == -1 && errno == EBADF;
  if (!closed) return 10;
  if (uepoll) {
    if (fcntl(kept_fd, F_GETFD) != 0) return 11;              /* open, not close-on-exec */
    if (write(kept_fd, &c, 1) != -1 || errno != EBADF) return 12;
    if (read(kept_fd, &c, 1) != -1 || errno != EBADF) return 13;
  } else {
    if (write(kept_fd, "from exec", 9) != 9) return 14;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "--exec-child") == 0) {
    return exec_child(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
  }
  setvbuf(stdout, NULL, _IONBF, 0);
  int p[2];
  CHECK(pipe(p) == 0);
  const int uepoll = is_placeholder(p[0]);
  printf("pipe served by %s\n", uepoll ? "uepoll" : "the kernel");
  CHECK(write(p[1], "before fork", 11) == 11);

  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    char c;
    int code = 0;
    if (uepoll) {
      struct pollfd pfd = {.fd = p[0], .events = POLLIN};
      if (read(p[0], &c, 1) != -1 || errno != EBADF) code = 1;
      else if (write(p[1], "lost?", 5) != -1 || errno != EBADF) code = 2;
      else if (poll(&pfd, 1, 0) != 1 || pfd.revents != POLLNVAL) code = 3;
      else if (close(p[0]) != 0 || close(p[1]) != 0) code = 4;
      else {
        int ev = eventfd(0, 0); /* a new uepoll descriptor works in the child */
        eventfd_t v = 0;
        if (ev < 0 || eventfd_write(ev, 5) != 0 || eventfd_read(ev, &v) != 0 || v != 5) code = 5;
      }
    } else {
      if (write(p[1], " and after", 10) != 10) code = 6;
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
  CHECK(strcmp(buf, uepoll ? "before fork" : "before fork and after") == 0);

  /* exec: q[1] stays close-on-exec, p[1] has FD_CLOEXEC cleared. */
  int q[2];
  CHECK(pipe2(q, O_CLOEXEC) == 0);
  CHECK(fcntl(p[1], F_SETFD, 0) == 0 && fcntl(p[1], F_GETFD) == 0);
  pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    char a[16], b[16], m[4];
    snprintf(a, sizeof a, "%d", q[1]);
    snprintf(b, sizeof b, "%d", p[1]);
    snprintf(m, sizeof m, "%d", uepoll);
    execl("/proc/self/exe", argv[0], "--exec-child", a, b, m, (char *)NULL);
    _exit(127);
  }
  CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status));
  printf("exec: child exit %d\n", WEXITSTATUS(status));
  CHECK(WEXITSTATUS(status) == 0);
  memset(buf, 0, sizeof buf);
  CHECK(fcntl(p[0], F_SETFL, O_NONBLOCK) == 0);
  ssize_t n = read(p[0], buf, sizeof buf);
  printf("exec: parent reads %s\n", n > 0 ? buf : "nothing (EAGAIN)");
  CHECK(uepoll ? (n == -1 && errno == EAGAIN) : (n == 9 && strcmp(buf, "from exec") == 0));

  /* posix_spawn with the pipe's write end as the child's stdout. */
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
  CHECK(uepoll ? (WEXITSTATUS(status) != 0 && n == 0)
               : (WEXITSTATUS(status) == 0 && strcmp(buf, "spawned\n") == 0));
  printf("all checks passed\n");
  return 0;
}
