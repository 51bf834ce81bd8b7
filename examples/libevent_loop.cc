// A libevent loop watching a uepoll instance (docs/event-loops.md).
//
// The instance holds two uepoll eventfds, a uepoll pipe and a kernel pipe. A producer
// thread writes to all of them; libevent (its own kernel epoll back-end) watches only
// uep_epoll_kernel_fd(ep), which is readable while the instance has events to report, and
// its callback harvests them with uep_epoll_wait(ep, ..., 0). The example checks that every
// value written arrives, then exits 0.
#include <event2/event.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <thread>

#include "uepoll/uepoll.h"

namespace {

constexpr int kRounds = 2000;

struct Loop {
  event_base* base = nullptr;
  int ep = -1;
  int efd[2] = {-1, -1};
  int upipe[2] = {-1, -1};  // uepoll pipe
  int kpipe[2] = {-1, -1};  // kernel pipe
  uint64_t eventfd_sum = 0;
  long pipe_bytes = 0;
  long kernel_bytes = 0;
  long callbacks = 0;
  bool Done() const {
    return eventfd_sum == 2 * static_cast<uint64_t>(kRounds) && pipe_bytes == kRounds &&
           kernel_bytes == kRounds;
  }
};

// Drains what a ready descriptor holds; its number is the item's data.
void Drain(Loop* loop, int fd) {
  if (fd == loop->efd[0] || fd == loop->efd[1]) {
    eventfd_t value = 0;
    if (uep_eventfd_read(fd, &value) == 0) loop->eventfd_sum += value;
    return;
  }
  char buf[512];
  for (;;) {
    const ssize_t n = uep_read(fd, buf, sizeof buf);  // kernel descriptors go to the kernel
    if (n <= 0) break;
    (fd == loop->upipe[0] ? loop->pipe_bytes : loop->kernel_bytes) += n;
  }
}

// libevent saw the instance's kernel descriptor readable: harvest without blocking.
void OnInstanceReadable(evutil_socket_t /*fd*/, short /*what*/, void* arg) {
  auto* loop = static_cast<Loop*>(arg);
  ++loop->callbacks;
  epoll_event events[16];
  const int n = uep_epoll_wait(loop->ep, events, 16, 0);
  for (int i = 0; i < n; ++i) Drain(loop, events[i].data.fd);
  if (loop->Done()) event_base_loopbreak(loop->base);
}

void OnTimeout(evutil_socket_t /*fd*/, short /*what*/, void* arg) {
  std::fprintf(stderr, "libevent_loop: timed out\n");
  event_base_loopbreak(static_cast<Loop*>(arg)->base);
}

int Watch(int ep, int fd) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  return uep_epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

}  // namespace

int main() {
  Loop loop;
  loop.ep = uep_epoll_create1(EPOLL_CLOEXEC);
  loop.efd[0] = uep_eventfd(0, EFD_NONBLOCK);
  loop.efd[1] = uep_eventfd(0, EFD_NONBLOCK);
  if (loop.ep < 0 || loop.efd[0] < 0 || loop.efd[1] < 0 ||
      uep_pipe2(loop.upipe, O_NONBLOCK) != 0 || pipe2(loop.kpipe, O_NONBLOCK | O_CLOEXEC) != 0) {
    std::perror("libevent_loop: setup");
    return 1;
  }
  for (int fd : {loop.efd[0], loop.efd[1], loop.upipe[0], loop.kpipe[0]}) {
    if (Watch(loop.ep, fd) != 0) {
      std::perror("libevent_loop: uep_epoll_ctl");
      return 1;
    }
  }
  const int kfd = uep_epoll_kernel_fd(loop.ep);
  if (kfd < 0) {
    std::perror("libevent_loop: uep_epoll_kernel_fd");
    return 1;
  }

  loop.base = event_base_new();
  // Level-triggered (libevent's default): the callback runs while the instance has events.
  event* readable = event_new(loop.base, kfd, EV_READ | EV_PERSIST, OnInstanceReadable, &loop);
  event* timeout = evtimer_new(loop.base, OnTimeout, &loop);
  const timeval ten_seconds{10, 0};
  if (loop.base == nullptr || readable == nullptr || timeout == nullptr ||
      event_add(readable, nullptr) != 0 || evtimer_add(timeout, &ten_seconds) != 0) {
    std::fprintf(stderr, "libevent_loop: libevent setup failed\n");
    return 1;
  }

  std::thread producer([&loop] {
    for (int i = 0; i < kRounds; ++i) {
      uep_eventfd_write(loop.efd[i % 2], 2);
      (void)uep_write(loop.upipe[1], "u", 1);
      (void)uep_write(loop.kpipe[1], "k", 1);
      if (i % 128 == 0) std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
  });
  event_base_dispatch(loop.base);
  producer.join();

  std::printf("libevent (%s) watched uepoll instance: eventfd sum %llu, uepoll pipe %ld bytes, "
              "kernel pipe %ld bytes, %ld callbacks\n",
              event_base_get_method(loop.base), static_cast<unsigned long long>(loop.eventfd_sum),
              loop.pipe_bytes, loop.kernel_bytes, loop.callbacks);
  const bool ok = loop.Done();
  event_free(readable);
  event_free(timeout);
  event_base_free(loop.base);
  for (int fd : {loop.efd[0], loop.efd[1], loop.upipe[0], loop.upipe[1], loop.kpipe[0],
                 loop.kpipe[1], loop.ep}) {
    uep_close(fd);
  }
  return ok ? 0 : 1;
}
