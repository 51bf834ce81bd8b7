// One instance holding both kinds of descriptors (on uepoll: a uepoll eventfd and kernel
// sockets and pipes; on the kernel: all kernel descriptors), compared call by call with the
// events of a call as a set (uepoll reports user-space events first: docs/semantics.md).
// Every call reports every ready event that fits, from both sides. Also run with
// UEPOLL_KERNEL_READINESS=syscall (tests/CMakeLists.txt).
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <vector>

#include "support/differential.h"

namespace {

using uep::test::Fd;

DIFF_TEST(Mixed, BothSidesReadyInOneCall) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
  const auto [a, b] = s.KernelSocketpair(SOCK_DGRAM | SOCK_NONBLOCK);
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, 1);
  s.Ctl(ep, EPOLL_CTL_ADD, a, EPOLLIN, 2);
  s.WaitSet(ep, 8, 0);
  s.Write(b, 1);
  s.WaitSet(ep, 8, 0);
  s.Write(efd, 1);
  for (int i = 0; i < 3; ++i) s.WaitSet(ep, 8, 0);  // level-triggered: both, every time
  s.WaitSet(ep, 8, 1000);
  s.Read(efd);
  s.WaitSet(ep, 8, 0);
  s.Write(efd, 1);
  s.Read(a);
  s.WaitSet(ep, 8, 0);
  s.Write(b, 1);
  s.WaitSet(ep, 2, 0);
  s.Read(a);
  s.Read(efd);
  s.WaitSet(ep, 8, 0);
}

// Edge-triggered items on both sides: each edge once, both in one call, and an ET MOD
// re-arms both (a new edge if ready).
DIFF_TEST(Mixed, BothSidesAfterAnEdgeTriggeredMod) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
  const auto [rd, wr] = s.KernelPipe2(O_NONBLOCK);
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLET, 1);
  s.Ctl(ep, EPOLL_CTL_ADD, rd, EPOLLIN | EPOLLET, 2);
  s.Write(efd, 1);
  s.Write(wr, 1);
  s.WaitSet(ep, 8, 0);
  s.WaitSet(ep, 8, 0);  // edges taken
  s.Ctl(ep, EPOLL_CTL_MOD, efd, EPOLLIN | EPOLLET, 3);
  s.Ctl(ep, EPOLL_CTL_MOD, rd, EPOLLIN | EPOLLET, 4);
  s.WaitSet(ep, 8, 0);
  s.WaitSet(ep, 8, 0);
  s.Write(wr, 1);
  s.Write(efd, 1);
  s.WaitSet(ep, 8, 1000);
  s.Ctl(ep, EPOLL_CTL_MOD, rd, EPOLLIN | EPOLLONESHOT, 5);
  s.Ctl(ep, EPOLL_CTL_MOD, efd, EPOLLIN | EPOLLONESHOT, 6);
  s.WaitSet(ep, 8, 0);
  s.WaitSet(ep, 8, 0);  // disarmed
}

// Through a nested instance: the inner one holds both kinds, the outer one an item on it
// and an eventfd of its own; both of the outer's items come in one call, and both of the
// inner's.
DIFF_TEST(Mixed, BothSidesThroughANestedInstance) {
  const Fd inner = s.EpollCreate1(0);
  const Fd outer = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
  const Fd own = s.Eventfd(0, EFD_NONBLOCK);
  const auto [a, b] = s.KernelSocketpair(SOCK_STREAM | SOCK_NONBLOCK);
  s.Ctl(inner, EPOLL_CTL_ADD, efd, EPOLLIN, 1);
  s.Ctl(inner, EPOLL_CTL_ADD, a, EPOLLIN, 2);
  s.Ctl(outer, EPOLL_CTL_ADD, inner, EPOLLIN, 3);
  s.Ctl(outer, EPOLL_CTL_ADD, own, EPOLLIN, 4);
  s.WaitSet(outer, 8, 0);
  s.Write(b, 1);
  s.Write(own, 1);
  s.WaitSet(outer, 8, 0);
  s.Write(efd, 1);
  s.WaitSet(inner, 8, 0);
  s.WaitSet(outer, 8, 0);
  s.Read(a);
  s.Read(efd);
  s.WaitSet(inner, 8, 0);
  s.WaitSet(outer, 8, 0);
  s.Read(own);
  s.WaitSet(outer, 8, 0);
}

// A chain of n instances over a kernel pipe, one byte written: every depth the kernel
// accepts delivers, and the depth it refuses is refused at ADD with its errno. Built from
// the bottom up and from the top down.
void Chain(uep::test::Session& s, int n, bool top_down) {
  const auto [rd, wr] = s.KernelPipe2(O_NONBLOCK);
  std::vector<Fd> eps;
  for (int i = 0; i < n; ++i) eps.push_back(s.EpollCreate1(0));
  for (int k = 0; k < n; ++k) {
    const int i = top_down ? n - 1 - k : k;
    s.Ctl(eps[static_cast<size_t>(i)], EPOLL_CTL_ADD, i == 0 ? rd : eps[static_cast<size_t>(i - 1)],
          EPOLLIN, static_cast<uint64_t>(i + 1));
  }
  s.Wait(eps.back(), 4, 0);
  s.Write(wr, 1);
  s.Wait(eps.back(), 4, 1000);
  s.Wait(eps.front(), 4, 0);
  s.Read(rd, 1);
  s.Wait(eps.back(), 4, 0);
  for (const Fd ep : eps) s.Close(ep);
  s.Close(rd);
  s.Close(wr);
}

DIFF_TEST(Mixed, ChainsOfInstancesOverAKernelPipe) {
  for (int n = 1; n <= 7; ++n) Chain(s, n, /*top_down=*/false);
}

DIFF_TEST(Mixed, ChainsOfInstancesBuiltFromTheTop) {
  for (int n = 1; n <= 7; ++n) Chain(s, n, /*top_down=*/true);
}

// A sleeper on the outermost of a chain of five is woken by the pipe.
DIFF_TEST(Mixed, SleeperOnADeepChainWokenByAKernelPipe) {
  const auto [rd, wr] = s.KernelPipe2(O_NONBLOCK);
  std::vector<Fd> eps;
  for (int i = 0; i < 5; ++i) {
    eps.push_back(s.EpollCreate1(0));
    s.Ctl(eps.back(), EPOLL_CTL_ADD, i == 0 ? rd : eps[static_cast<size_t>(i - 1)], EPOLLIN,
          static_cast<uint64_t>(i + 1));
  }
  s.AfterDelay(20, [&s, wr = wr] { s.Write(wr, 1); });
  s.Wait(eps.back(), 4, 5000);
  s.JoinHelpers();
}

}  // namespace
