/* One epoll instance over kernel and in-process descriptors, as a server loop has them: a
 * UDP socket on loopback (always the kernel's), an eventfd used as a wake-up from a worker
 * thread, and a pipe carrying the worker's results. The worker sends datagrams to the
 * socket, results into the pipe, and bumps the eventfd; the loop stops after all of them.
 * A descriptor made after the kernel socket joined the instance shows that the numbering
 * is undisturbed. Edge-triggered, one-shot re-arming and EPOLL_CTL_MOD are exercised. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

#define ROUNDS 20

static int udp_rx, udp_tx, efd, res[2];
static struct sockaddr_in addr;

static void *worker(void *arg) {
  (void)arg;
  for (int i = 0; i < ROUNDS; i++) {
    char msg[16];
    int len = snprintf(msg, sizeof msg, "dgram %d", i);
    CHECK(sendto(udp_tx, msg, (size_t)len, 0, (struct sockaddr *)&addr, sizeof addr) == len);
    int32_t r = i * i;
    CHECK(write(res[1], &r, sizeof r) == sizeof r);
    CHECK(eventfd_write(efd, 1) == 0);
    if (i % 5 == 4) usleep(2000);
  }
  return NULL;
}

int main(void) {
  int ep = epoll_create1(0);
  CHECK(ep >= 0);
  CHECK((udp_rx = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0)) >= 0);
  CHECK((udp_tx = socket(AF_INET, SOCK_DGRAM, 0)) >= 0);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  CHECK(bind(udp_rx, (struct sockaddr *)&addr, sizeof addr) == 0);
  CHECK(getsockname(udp_rx, (struct sockaddr *)&addr, &len) == 0);
  CHECK((efd = eventfd(0, EFD_NONBLOCK)) >= 0);
  CHECK(pipe2(res, O_NONBLOCK) == 0);
  print_fd("epoll", ep);
  print_fd("udp rx", udp_rx);
  print_fd("eventfd", efd);
  print_fd("results pipe", res[0]);

  struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = 1};
  CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, udp_rx, &ev) == 0);
  ev.events = EPOLLIN | EPOLLONESHOT;
  ev.data.u64 = 2;
  CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) == 0);
  ev.events = EPOLLIN;
  ev.data.u64 = 3;
  CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, res[0], &ev) == 0);
  CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, udp_rx, &ev) == -1 && errno == EEXIST);
  int later = eventfd(0, 0);
  CHECK(later >= 0);
  print_fd("eventfd made after the ADDs", later);
  describe_kernel_fds();

  pthread_t t;
  CHECK(pthread_create(&t, NULL, worker, NULL) == 0);
  int datagrams = 0, results = 0;
  long sum = 0;
  uint64_t bumps = 0;
  while (datagrams < ROUNDS || results < ROUNDS || bumps < ROUNDS) {
    struct epoll_event out[4];
    int n = epoll_wait(ep, out, 4, 5000);
    CHECK(n > 0);
    for (int i = 0; i < n; i++) {
      if (out[i].data.u64 == 1) { /* edge-triggered: drain */
        char buf[32];
        while (recv(udp_rx, buf, sizeof buf, 0) > 0) datagrams++;
        CHECK(errno == EAGAIN);
      } else if (out[i].data.u64 == 2) { /* one-shot: read, then re-arm */
        eventfd_t v;
        CHECK(eventfd_read(efd, &v) == 0);
        bumps += v;
        struct epoll_event re = {.events = EPOLLIN | EPOLLONESHOT, .data.u64 = 2};
        CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, efd, &re) == 0);
      } else {
        int32_t r;
        while (read(res[0], &r, sizeof r) == sizeof r) {
          results++;
          sum += r;
        }
      }
    }
  }
  CHECK(pthread_join(t, NULL) == 0);
  printf("datagrams %d, results %d (sum %ld), eventfd bumps %llu\n", datagrams, results, sum,
         (unsigned long long)bumps);
  CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, udp_rx, NULL) == 0);
  CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, udp_rx, NULL) == -1 && errno == ENOENT);
  struct epoll_event none[2];
  CHECK(epoll_wait(ep, none, 2, 0) == 0);
  int fds[] = {later, res[0], res[1], efd, udp_tx, udp_rx, ep};
  for (int i = 0; i < 7; i++) CHECK(close(fds[i]) == 0);
  printf("all checks passed\n");
  return 0;
}
