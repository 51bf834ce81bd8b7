/* Uses the installed C header. */
#include <stdio.h>
#include <uepoll/uepoll.h>

int main(void) {
  int ep = uep_epoll_create1(EPOLL_CLOEXEC);
  int ev = uep_eventfd(0, EFD_NONBLOCK);
  struct epoll_event e = {.events = EPOLLIN, .data.u64 = 42};
  if (ep < 0 || ev < 0 || uep_epoll_ctl(ep, EPOLL_CTL_ADD, ev, &e) != 0) return 1;
  if (uep_eventfd_write(ev, 1) != 0) return 1;
  struct epoll_event out[4];
  int n = uep_epoll_wait(ep, out, 4, 5000);
  printf("consumer (C): %d event(s), data %llu\n", n, (unsigned long long)out[0].data.u64);
  uep_close(ev);
  uep_close(ep);
  return n == 1 && out[0].data.u64 == 42 ? 0 : 1;
}
