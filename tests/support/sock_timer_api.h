// Socket and timerfd calls of the two implementations a differential scenario runs on:
// the kernel (libc) and uepoll (uep_*). Both are called libc-style.
//
// A scenario records what it observes into a Trace in words that do not depend on the
// backend (no descriptor numbers), and RunOnBoth() asserts the two traces are equal:
//
//   RunOnBoth([](Trace& t) {
//     const SockTimerApi& a = t.api();
//     int sv[2];
//     t.Rec("socketpair", a.socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
//     t.Rec("send", a.send(sv[0], "x", 1, 0));
//     t.Mask("b", sv[1]);
//   });
#pragma once

#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <functional>
#include <string>
#include <vector>

#include "support/backend.h"

namespace uep::test {

struct SockTimerApi {
  const char* name;
  // sockets
  int (*socketpair)(int domain, int type, int protocol, int sv[2]);
  ssize_t (*send)(int fd, const void* buf, size_t len, int flags);
  ssize_t (*recv)(int fd, void* buf, size_t len, int flags);
  ssize_t (*sendto)(int fd, const void* buf, size_t len, int flags, const sockaddr* addr,
                    socklen_t addrlen);
  ssize_t (*recvfrom)(int fd, void* buf, size_t len, int flags, sockaddr* addr, socklen_t* addrlen);
  ssize_t (*sendmsg)(int fd, const msghdr* msg, int flags);
  ssize_t (*recvmsg)(int fd, msghdr* msg, int flags);
  int (*shutdown)(int fd, int how);
  int (*getsockopt)(int fd, int level, int optname, void* optval, socklen_t* optlen);
  int (*setsockopt)(int fd, int level, int optname, const void* optval, socklen_t optlen);
  int (*ioctl)(int fd, unsigned long request, void* arg);
  // timerfd
  int (*timerfd_create)(int clockid, int flags);
  int (*timerfd_settime)(int fd, int flags, const itimerspec* new_value, itimerspec* old_value);
  int (*timerfd_gettime)(int fd, itimerspec* curr_value);
  // descriptors, I/O, epoll, eventfd
  ssize_t (*read)(int fd, void* buf, size_t count);
  ssize_t (*write)(int fd, const void* buf, size_t count);
  ssize_t (*readv)(int fd, const iovec* iov, int iovcnt);
  ssize_t (*writev)(int fd, const iovec* iov, int iovcnt);
  int (*close)(int fd);
  int (*fcntl)(int fd, int cmd, unsigned long arg);
  int (*epoll_create1)(int flags);
  int (*epoll_ctl)(int epfd, int op, int fd, epoll_event* event);
  int (*epoll_wait)(int epfd, epoll_event* events, int maxevents, int timeout);
  int (*eventfd)(unsigned initval, int flags);
};

const SockTimerApi& KernelSockTimerApi();
const SockTimerApi& UepollSockTimerApi();
// The table of the same implementation as a differential Backend (support/backend.h).
const SockTimerApi& SockTimerApiFor(const Backend& backend);

// "EPOLLIN|EPOLLOUT"-style names (short: IN|OUT|RDHUP ...).
std::string MaskName(uint32_t mask);
// "EAGAIN"-style name of an errno value.
std::string ErrnoName(int err);

class Trace {
 public:
  explicit Trace(const SockTimerApi& api);
  [[nodiscard]] const SockTimerApi& api() const { return api_; }
  [[nodiscard]] const std::vector<std::string>& lines() const { return lines_; }

  // Records "what = r" (or "what = -1 ENAME") and returns r. errno is read at once.
  long Rec(const std::string& what, long r);
  void Note(const std::string& line) { lines_.push_back(line); }
  // The readiness of `fd` now: a level-triggered epoll of every event, timeout 0.
  uint32_t Mask(const std::string& what, int fd);
  // How many SIGPIPEs the process took since the last call (or the trace began).
  void Sigpipes(const std::string& what);

 private:
  const SockTimerApi& api_;
  std::vector<std::string> lines_;
  int sigpipes_seen_;
};

// Runs `scenario` on the kernel, then on uepoll; fails with both traces unless equal.
// UEPOLL_DIFF_VERBOSE=1 prints the traces of passing scenarios too.
void RunOnBoth(const std::function<void(Trace&)>& scenario);

// Counts SIGPIPE (handler installed by the first call); the count is per process.
int SigpipeCount();

}  // namespace uep::test
