/* A small program for `uepoll trace -- <program>`: one edge-triggered eventfd in an epoll
 * instance, written once and harvested once; a second wait finds nothing (edge-triggered).
 * The test checks the trace holds that path: registration, the wake-up, the callback
 * linking the item, the transfer reporting it (and not re-queueing it). */
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

int main(void) {
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
