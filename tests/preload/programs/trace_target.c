/* A small program for `uepoll trace -- <program>`: one edge-triggered eventfd in an epoll
 * instance, written once and harvested once; a second wait finds nothing (edge-triggered).
 * The test checks the trace holds that path: registration, the wake-up, the callback
 * linking the item, the transfer reporting it (and not re-queueing it).
 * `trace_target fork`: a forked child does that; the parent only waits for it.
 * `trace_target kernel`: an epoll instance holding only a kernel socket pair (the default
 * kinds leave socket pairs to the kernel): a timed-out wait, then one byte, harvested once. */
#include <stdio.h>
#include <sys/epoll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int Path(void);
static int KernelPath(void);

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "fork") == 0) {
    const pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid == 0) exit(Path());  /* exit(): the child writes its trace */
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) return 1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
  }
  if (argc > 1 && strcmp(argv[1], "kernel") == 0) return KernelPath();
  return Path();
}

static int KernelPath(void) {
  int sv[2];
  int ep = epoll_create1(0);
  if (ep < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 1;
  struct epoll_event e = {.events = EPOLLIN, .data.u64 = 9}, out[4];
  if (epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &e) != 0) return 1;
  int idle = epoll_wait(ep, out, 4, 10);
  if (write(sv[1], "x", 1) != 1) return 1;
  int ready = epoll_wait(ep, out, 4, 1000);
  printf("idle wait %d, ready wait %d (data %llu)\n", idle, ready,
         (unsigned long long)out[0].data.u64);
  close(sv[0]);
  close(sv[1]);
  close(ep);
  return idle == 0 && ready == 1 ? 0 : 1;
}

static int Path(void) {
  int ep = epoll_create1(0);
  int ev = eventfd(0, EFD_NONBLOCK);
  struct epoll_event e = {.events = EPOLLIN | EPOLLET, .data.u64 = 7}, out[4];
  if (ep < 0 || ev < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ev, &e) != 0) return 1;
  if (eventfd_write(ev, 1) != 0) return 1;
  int first = epoll_wait(ep, out, 4, 1000);
  int second = epoll_wait(ep, out, 4, 0);
  printf("first wait %d (data %llu), second wait %d\n", first, (unsigned long long)out[0].data.u64,
         second);
  close(ev);
  close(ep);
  return first == 1 && second == 0 ? 0 : 1;
}
