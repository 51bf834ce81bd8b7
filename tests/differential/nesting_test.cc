// Instances watching instances: readiness shows through without being consumed, wake-ups
// climb the chain, and the kernel's limits hold: at most 5 instances in a chain
// (EP_MAX_NESTS = 4 levels below the top), no cycles (ELOOP), and at most 500, 100, 50, 10
// wake-up paths from one file through 1, 2, 3, 4 levels of nesting (EINVAL beyond).
#include "support/differential.h"

namespace {

using uep::test::Fd;
using uep::test::Session;

// Instances chain[0] <- chain[1] <- ... (each watches the previous one with IN).
std::vector<Fd> Chain(Session& s, int length) {
  std::vector<Fd> chain;
  for (int i = 0; i < length; ++i) {
    chain.push_back(s.EpollCreate1(0));
    if (i > 0) s.Ctl(chain[i], EPOLL_CTL_ADD, chain[i - 1], EPOLLIN, static_cast<uint64_t>(i));
  }
  return chain;
}

DIFF_TEST(Nesting, PollingAnInstanceDoesNotConsumeItsEvents) {
  const Fd outer = s.EpollCreate1(0);
  const Fd inner = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
  s.Ctl(inner, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLET, 1);
  s.Ctl(outer, EPOLL_CTL_ADD, inner, EPOLLIN, 2);
  s.Wait(outer, 4, 0);
  s.Write(efd, 1);
  s.Wait(outer, 4, 0);
  s.Wait(outer, 4, 0);
  s.Wait(inner, 4, 0);  // the edge is still there
  s.Wait(inner, 4, 0);
  s.Wait(outer, 4, 0);  // and now it is gone for the outer instance too
  s.Write(efd, 1);
  s.Wait(outer, 4, 0);
  s.Read(efd);  // no longer ready, though still queued in the inner instance
  s.Wait(outer, 4, 0);
  s.Wait(inner, 4, 0);
}

DIFF_TEST(Nesting, InstanceReportsInAndRdnormOnly) {
  const Fd inner = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(1, 0);
  s.Ctl(inner, EPOLL_CTL_ADD, efd, EPOLLIN, 1);
  const Fd outer = s.EpollCreate1(0);
  uint64_t data = 10;
  for (uint32_t mask :
       {uint32_t{EPOLLIN}, uint32_t{EPOLLIN | EPOLLRDNORM}, uint32_t{EPOLLOUT | EPOLLPRI},
        uint32_t{EPOLLRDNORM}, ~0U & ~uint32_t{EPOLLEXCLUSIVE | EPOLLET | EPOLLONESHOT}}) {
    s.Ctl(outer, EPOLL_CTL_ADD, inner, mask, data++);
    s.Wait(outer, 4, 0);
    s.Ctl(outer, EPOLL_CTL_DEL, inner, 0);
  }
}

DIFF_TEST(Nesting, EdgeTriggeredOnAnInstance) {
  const Fd outer = s.EpollCreate1(0);
  const Fd inner = s.EpollCreate1(0);
  const Fd a = s.Eventfd(0, EFD_NONBLOCK);
  const Fd b = s.Eventfd(0, EFD_NONBLOCK);
  s.Ctl(inner, EPOLL_CTL_ADD, a, EPOLLIN, 1);
  s.Ctl(inner, EPOLL_CTL_ADD, b, EPOLLIN, 2);
  s.Ctl(outer, EPOLL_CTL_ADD, inner, EPOLLIN | EPOLLET, 3);
  s.Write(a, 1);
  s.Wait(outer, 4, 0);
  s.Wait(outer, 4, 0);
  s.Write(b, 1);  // a new item became ready in the inner instance: an edge
  s.Wait(outer, 4, 0);
  s.Write(a, 1);  // already queued in the inner instance, still an edge outside
  s.Wait(outer, 4, 0);
  s.Wait(inner, 4, 0);
  s.Wait(outer, 4, 0);
  // Items readied inside by ADD or MOD are edges outside; a MOD of an item that is
  // still queued inside is not.
  const Fd c = s.Eventfd(1, EFD_NONBLOCK);
  s.Ctl(inner, EPOLL_CTL_ADD, c, EPOLLIN, 4);
  s.Wait(outer, 4, 0);
  s.Wait(outer, 4, 0);
  s.Ctl(inner, EPOLL_CTL_MOD, c, EPOLLIN, 5);
  s.Wait(outer, 4, 0);
  s.Ctl(inner, EPOLL_CTL_MOD, c, EPOLLIN | EPOLLET, 6);
  s.Wait(inner, 8, 0);
  s.Ctl(inner, EPOLL_CTL_MOD, c, EPOLLIN | EPOLLET, 7);
  s.Wait(outer, 4, 0);
}

DIFF_TEST(Nesting, OneshotOnAnInstance) {
  const Fd outer = s.EpollCreate1(0);
  const Fd inner = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(1, EFD_NONBLOCK);
  s.Ctl(inner, EPOLL_CTL_ADD, efd, EPOLLIN, 1);
  s.Ctl(outer, EPOLL_CTL_ADD, inner, EPOLLIN | EPOLLONESHOT, 2);
  s.Wait(outer, 4, 0);
  s.Wait(outer, 4, 0);
  s.Ctl(outer, EPOLL_CTL_MOD, inner, EPOLLIN | EPOLLONESHOT, 3);
  s.Wait(outer, 4, 0);
}

DIFF_TEST(Nesting, WakeUpClimbsTheWholeChain) {
  const std::vector<Fd> chain = Chain(s, 5);
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
  s.Ctl(chain[0], EPOLL_CTL_ADD, efd, EPOLLIN, 100);
  s.Wait(chain[4], 4, 0);
  s.AfterDelay(50, [&s, efd] { s.Write(efd, 1); });
  s.Wait(chain[4], 4, -1);
  s.JoinHelpers();
  for (const Fd& ep : chain) s.Wait(ep, 4, 0);
  s.Read(efd);
  for (const Fd& ep : chain) s.Wait(ep, 4, 0);
}

DIFF_TEST(Nesting, AddingAReadyFileInsideWakesTheOuterWaiter) {
  const Fd outer = s.EpollCreate1(0);
  const Fd inner = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(1, 0);
  s.Ctl(outer, EPOLL_CTL_ADD, inner, EPOLLIN, 1);
  s.AfterDelay(30, [&s, inner, efd] { s.Ctl(inner, EPOLL_CTL_ADD, efd, EPOLLIN, 2); });
  s.Wait(outer, 4, 5000);
  s.JoinHelpers();
  s.Wait(inner, 4, 0);
}

DIFF_TEST(Nesting, ChainOfFiveIsTheLimit) {
  const Fd efd = s.Eventfd(1, 0);
  const std::vector<Fd> chain = Chain(s, 5);
  s.Ctl(chain[0], EPOLL_CTL_ADD, efd, EPOLLIN, 100);
  const Fd sixth = s.EpollCreate1(0);
  s.Ctl(sixth, EPOLL_CTL_ADD, chain[4], EPOLLIN, 5);
  s.Ctl(sixth, EPOLL_CTL_ADD, chain[3], EPOLLIN, 4);  // a shorter chain is fine
  // Joining at the bottom: the new instance would sit under five levels.
  const Fd below = s.EpollCreate1(0);
  s.Ctl(chain[0], EPOLL_CTL_ADD, below, EPOLLIN, 6);
  s.Ctl(chain[1], EPOLL_CTL_ADD, below, EPOLLIN, 7);
  s.Wait(chain[4], 4, 0);
  s.Wait(sixth, 4, 0);
}

DIFF_TEST(Nesting, JoiningTwoChains) {
  const std::vector<Fd> upper = Chain(s, 3);
  const std::vector<Fd> lower = Chain(s, 3);
  s.Ctl(upper[0], EPOLL_CTL_ADD, lower[2], EPOLLIN, 10);  // 6 instances: ELOOP
  s.Ctl(upper[0], EPOLL_CTL_ADD, lower[1], EPOLLIN, 11);  // 5 instances
  s.Ctl(upper[0], EPOLL_CTL_ADD, lower[0], EPOLLIN, 12);
  const Fd efd = s.Eventfd(1, 0);
  s.Ctl(lower[0], EPOLL_CTL_ADD, efd, EPOLLIN, 13);
  s.Wait(upper[2], 8, 0);
  s.Wait(upper[0], 8, 0);
}

DIFF_TEST(Nesting, DiamondsAreNotLoops) {
  const Fd top = s.EpollCreate1(0);
  const Fd left = s.EpollCreate1(0);
  const Fd right = s.EpollCreate1(0);
  const Fd bottom = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
  s.Ctl(bottom, EPOLL_CTL_ADD, efd, EPOLLIN, 1);
  s.Ctl(left, EPOLL_CTL_ADD, bottom, EPOLLIN, 2);
  s.Ctl(right, EPOLL_CTL_ADD, bottom, EPOLLIN, 3);
  s.Ctl(top, EPOLL_CTL_ADD, left, EPOLLIN, 4);
  s.Ctl(top, EPOLL_CTL_ADD, right, EPOLLIN, 5);
  s.Ctl(top, EPOLL_CTL_ADD, bottom, EPOLLIN, 6);
  s.Write(efd, 1);
  s.Wait(top, 8, 0);
  s.Ctl(bottom, EPOLL_CTL_ADD, top, EPOLLIN, 7);
}

DIFF_TEST(Nesting, CyclesAreEloop) {
  const Fd a = s.EpollCreate1(0);
  const Fd b = s.EpollCreate1(0);
  const Fd c = s.EpollCreate1(0);
  s.Ctl(b, EPOLL_CTL_ADD, a, EPOLLIN, 1);
  s.Ctl(a, EPOLL_CTL_ADD, b, EPOLLIN, 2);
  s.Ctl(a, EPOLL_CTL_ADD, b, EPOLLIN | EPOLLEXCLUSIVE, 2);  // EINVAL comes first
  s.Ctl(a, EPOLL_CTL_MOD, b, EPOLLIN, 2);                   // only ADD checks for loops
  s.Ctl(c, EPOLL_CTL_ADD, b, EPOLLIN, 3);
  s.Ctl(a, EPOLL_CTL_ADD, c, EPOLLIN, 4);
  // Through another descriptor of the same instance.
  const Fd c_again = s.Dup(c);
  s.Ctl(a, EPOLL_CTL_ADD, c_again, EPOLLIN, 5);
  // Adding an existing link again passes the loop check and finds the item.
  s.Ctl(c, EPOLL_CTL_ADD, b, EPOLLIN, 6);
  // After the link is gone the other direction is fine.
  s.Ctl(b, EPOLL_CTL_DEL, a, 0);
  s.Ctl(a, EPOLL_CTL_ADD, b, EPOLLIN, 7);
}

DIFF_TEST(Nesting, ClosingTheInnerInstanceRemovesTheOuterItem) {
  const Fd outer = s.EpollCreate1(0);
  const Fd inner = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(1, 0);
  s.Ctl(inner, EPOLL_CTL_ADD, efd, EPOLLIN, 1);
  s.Ctl(outer, EPOLL_CTL_ADD, inner, EPOLLIN, 2);
  const Fd inner_dup = s.Dup(inner);
  s.Close(inner);
  s.Wait(outer, 4, 0);  // the dup keeps the instance, and the item, alive
  s.Close(inner_dup);
  s.Wait(outer, 4, 0);
  // Closing the outer instance first leaves the inner one working.
  const Fd outer2 = s.EpollCreate1(0);
  const Fd inner2 = s.EpollCreate1(0);
  s.Ctl(inner2, EPOLL_CTL_ADD, efd, EPOLLIN, 3);
  s.Ctl(outer2, EPOLL_CTL_ADD, inner2, EPOLLIN, 4);
  s.Close(outer2);
  s.Wait(inner2, 4, 0);
}

// One eventfd under `depth` nested instances, the last of which is watched by `tops`
// unwatched instances: `tops` wake-up paths of length depth + 1.
void PathsThroughLevels(Session& s, int depth, int tops) {
  const Fd efd = s.Eventfd(1, 0);
  const std::vector<Fd> chain = Chain(s, depth);
  s.Ctl(chain[0], EPOLL_CTL_ADD, efd, EPOLLIN, 1);
  int accepted = 0;
  for (int i = 0; i < tops; ++i) {
    const Fd top = s.EpollCreate1(0);
    if (s.Ctl(top, EPOLL_CTL_ADD, chain.back(), EPOLLIN, 2) == 0) ++accepted;
  }
  s.Note(std::to_string(accepted) + " of " + std::to_string(tops) + " paths accepted");
  // Another file added at the bottom is checked against the same limit.
  const Fd efd2 = s.Eventfd(1, 0);
  s.Ctl(chain[0], EPOLL_CTL_ADD, efd2, EPOLLIN, 3);
}

DIFF_TEST(WakeUpPaths, FiveHundredThroughOneLevel) { PathsThroughLevels(s, 1, 501); }

DIFF_TEST(WakeUpPaths, OneHundredThroughTwoLevels) { PathsThroughLevels(s, 2, 101); }

DIFF_TEST(WakeUpPaths, FiftyThroughThreeLevels) { PathsThroughLevels(s, 3, 51); }

DIFF_TEST(WakeUpPaths, TenThroughFourLevels) { PathsThroughLevels(s, 4, 11); }

// Paths are counted only when a file at the bottom is checked: instances stack up freely
// over an empty chain, and then the file itself is refused.
DIFF_TEST(WakeUpPaths, FullPathsRejectAFileAtTheBottom) {
  const std::vector<Fd> chain = Chain(s, 2);
  std::vector<Fd> tops;
  for (int i = 0; i < 101; ++i) {
    tops.push_back(s.EpollCreate1(0));
    s.Ctl(tops.back(), EPOLL_CTL_ADD, chain[1], EPOLLIN, 1);
  }
  const Fd efd = s.Eventfd(1, 0);
  s.Ctl(chain[0], EPOLL_CTL_ADD, efd, EPOLLIN, 2);
  s.Ctl(tops.back(), EPOLL_CTL_DEL, chain[1], 0);
  s.Ctl(chain[0], EPOLL_CTL_ADD, efd, EPOLLIN, 3);
  s.Ctl(tops.back(), EPOLL_CTL_ADD, chain[1], EPOLLIN, 4);
  // Watched directly, a file has any number of paths of length 1.
  const Fd direct = s.EpollCreate1(0);
  s.Ctl(direct, EPOLL_CTL_ADD, efd, EPOLLIN, 5);
  s.Wait(tops.front(), 4, 0);
}

}  // namespace
