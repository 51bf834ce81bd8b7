// epoll_ctl() and epoll_create*() argument errors, and which errno wins when several apply.
// The kernel checks, in order: EFAULT (event unreadable, except for DEL), EBADF (epfd, then
// fd), EPERM (target cannot be polled), EINVAL (epfd not an epoll, fd == epfd,
// EPOLLEXCLUSIVE misuse), ELOOP (nesting_test.cc), then EEXIST / ENOENT / EINVAL (bad op).
#include "support/differential.h"

namespace {

using uep::test::BadPointer;
using uep::test::Fd;

constexpr int kBadOp = 7;

DIFF_TEST(CtlErrors, CreateArguments) {
  s.EpollCreate(0);
  s.EpollCreate(-1);
  s.EpollCreate(1);
  s.EpollCreate(1 << 30);
  s.EpollCreate1(0);
  s.EpollCreate1(EPOLL_CLOEXEC);
  s.EpollCreate1(1);
  s.EpollCreate1(-1);
  s.EpollCreate1(EPOLL_CLOEXEC | O_NONBLOCK);
}

DIFF_TEST(CtlErrors, NullEventIsEfaultExceptForDel) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, 0);
  s.CtlBadEvent(ep, EPOLL_CTL_ADD, efd);
  s.CtlBadEvent(ep, EPOLL_CTL_MOD, efd);
  s.CtlBadEvent(ep, kBadOp, efd);
  s.CtlBadEvent(ep, EPOLL_CTL_DEL, efd);  // not registered: DEL never reads the event
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN);
  s.CtlBadEvent(ep, EPOLL_CTL_DEL, efd);
}

DIFF_TEST(CtlErrors, EfaultWinsOverEverythingElse) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, 0);
  const Fd devnull = s.OpenKernelFile("/dev/null");
  s.CtlBadEvent(s.Spare(0), EPOLL_CTL_ADD, s.Spare(1));
  s.CtlBadEvent(s.Raw(-1), EPOLL_CTL_MOD, efd);
  s.CtlBadEvent(ep, EPOLL_CTL_ADD, devnull);
  s.CtlBadEvent(efd, EPOLL_CTL_ADD, ep);
  s.CtlBadEvent(ep, EPOLL_CTL_ADD, ep);
  // An address no process owns fails the same way, first too.
  s.CtlBadEvent(ep, EPOLL_CTL_ADD, efd, BadPointer::kKernelHalf);
  s.CtlBadEvent(ep, EPOLL_CTL_MOD, efd, BadPointer::kKernelHalf);
  s.CtlBadEvent(s.Spare(0), EPOLL_CTL_ADD, s.Spare(1), BadPointer::kKernelHalf);
  s.CtlBadEvent(efd, kBadOp, efd, BadPointer::kKernelHalf);
  // With DEL the other checks run.
  s.CtlBadEvent(ep, EPOLL_CTL_DEL, efd, BadPointer::kKernelHalf);
  s.CtlBadEvent(s.Spare(0), EPOLL_CTL_DEL, efd);
  s.CtlBadEvent(ep, EPOLL_CTL_DEL, devnull);
  s.CtlBadEvent(ep, EPOLL_CTL_DEL, ep);
}

DIFF_TEST(CtlErrors, BadDescriptors) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, 0);
  for (int op : {EPOLL_CTL_ADD, EPOLL_CTL_MOD, EPOLL_CTL_DEL, kBadOp}) {
    s.Ctl(s.Spare(0), op, efd, EPOLLIN);
    s.Ctl(s.Raw(-1), op, efd, EPOLLIN);
    s.Ctl(ep, op, s.Spare(1), EPOLLIN);
    s.Ctl(ep, op, s.Raw(-1), EPOLLIN);
    s.Ctl(s.Spare(0), op, s.Spare(1), EPOLLIN);
    // epfd not an epoll and fd closed: EBADF first.
    s.Ctl(efd, op, s.Spare(1), EPOLLIN);
  }
  // An O_PATH descriptor is open, but invisible to everything but *at(), fstat and fcntl.
  const Fd path_only = s.OpenKernelFile("/dev/null", O_PATH);
  s.Ctl(ep, EPOLL_CTL_ADD, path_only, EPOLLIN);
  s.Ctl(ep, EPOLL_CTL_DEL, path_only, 0);
  const Fd closed = s.Eventfd(0, 0);
  s.Close(closed);
  s.Ctl(ep, EPOLL_CTL_ADD, closed, EPOLLIN);
}

DIFF_TEST(CtlErrors, TargetThatCannotBePolledIsEperm) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, 0);
  const Fd devnull = s.OpenKernelFile("/dev/null");
  for (int op : {EPOLL_CTL_ADD, EPOLL_CTL_MOD, EPOLL_CTL_DEL, kBadOp}) {
    s.Ctl(ep, op, devnull, EPOLLIN);
    // EPERM comes before "epfd is not an epoll" and before the EPOLLEXCLUSIVE checks.
    s.Ctl(efd, op, devnull, EPOLLIN);
    s.Ctl(ep, op, devnull, EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT);
  }
  s.Ctl(s.Spare(0), EPOLL_CTL_ADD, devnull, EPOLLIN);
}

DIFF_TEST(CtlErrors, EpfdThatIsNotAnEpollIsEinval) {
  const Fd efd = s.Eventfd(0, 0);
  const Fd other = s.Eventfd(0, 0);
  const Fd ep = s.EpollCreate1(0);
  for (int op : {EPOLL_CTL_ADD, EPOLL_CTL_MOD, EPOLL_CTL_DEL, kBadOp}) {
    s.Ctl(efd, op, other, EPOLLIN);
    s.Ctl(efd, op, efd, EPOLLIN);
    s.Ctl(efd, op, ep, EPOLLIN);
  }
}

DIFF_TEST(CtlErrors, AddingAnInstanceToItselfIsEinval) {
  const Fd ep = s.EpollCreate1(0);
  for (int op : {EPOLL_CTL_ADD, EPOLL_CTL_MOD, EPOLL_CTL_DEL, kBadOp}) {
    s.Ctl(ep, op, ep, EPOLLIN);
  }
  // The same instance through another descriptor is the same file.
  const Fd dup = s.Dup(ep);
  s.Ctl(ep, EPOLL_CTL_ADD, dup, EPOLLIN);
  s.Ctl(dup, EPOLL_CTL_ADD, ep, EPOLLIN);
}

DIFF_TEST(CtlErrors, ExistsAndNotFound) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, 0);
  s.Ctl(ep, EPOLL_CTL_MOD, efd, EPOLLIN);
  s.Ctl(ep, EPOLL_CTL_DEL, efd, EPOLLIN);
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, 1);
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLOUT, 2);
  s.Ctl(ep, EPOLL_CTL_MOD, efd, EPOLLOUT, 3);
  s.Wait(ep, 8, 0);
  s.Ctl(ep, EPOLL_CTL_DEL, efd, 0);
  s.Ctl(ep, EPOLL_CTL_DEL, efd, 0);
  s.Ctl(ep, EPOLL_CTL_MOD, efd, EPOLLIN);
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLOUT, 4);
  s.Wait(ep, 8, 0);
}

DIFF_TEST(CtlErrors, UnknownOpIsEinvalAfterTheOtherChecks) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, 0);
  for (int op : {kBadOp, 0, -1, 4}) {
    s.Ctl(ep, op, efd, EPOLLIN);  // unregistered: still EINVAL, not ENOENT
  }
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN);
  s.Ctl(ep, kBadOp, efd, EPOLLIN);
  s.Ctl(ep, kBadOp, efd, EPOLLIN | EPOLLEXCLUSIVE);
}

DIFF_TEST(CtlErrors, ExclusiveWithModIsEinvalEvenWhenUnregistered) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, 0);
  s.Ctl(ep, EPOLL_CTL_MOD, efd, EPOLLIN | EPOLLEXCLUSIVE);
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN);
  s.Ctl(ep, EPOLL_CTL_MOD, efd, EPOLLIN | EPOLLEXCLUSIVE);
  s.Ctl(ep, EPOLL_CTL_MOD, efd, EPOLLOUT);
  // DEL ignores the event, EPOLLEXCLUSIVE included.
  s.Ctl(ep, EPOLL_CTL_DEL, efd, EPOLLIN | EPOLLEXCLUSIVE);
}

DIFF_TEST(CtlErrors, ExclusiveItemCannotBeModified) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, 0);
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLEXCLUSIVE);
  s.Ctl(ep, EPOLL_CTL_MOD, efd, EPOLLIN);
  s.Ctl(ep, EPOLL_CTL_MOD, efd, EPOLLOUT);
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLEXCLUSIVE);
  s.Ctl(ep, EPOLL_CTL_DEL, efd, 0);
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN);
}

DIFF_TEST(CtlErrors, ExclusiveAllowsOnlySomeBits) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, 0);
  // Allowed: IN, OUT, ERR, HUP, WAKEUP, ET.
  for (uint32_t bit : {0U, uint32_t{EPOLLIN}, uint32_t{EPOLLOUT}, uint32_t{EPOLLERR},
                       uint32_t{EPOLLHUP}, uint32_t{EPOLLWAKEUP}, uint32_t{EPOLLET}}) {
    s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLEXCLUSIVE | bit);
    s.Ctl(ep, EPOLL_CTL_DEL, efd, 0);
  }
  for (uint32_t bit : {uint32_t{EPOLLPRI}, uint32_t{EPOLLRDNORM}, uint32_t{EPOLLRDBAND},
                       uint32_t{EPOLLWRNORM}, uint32_t{EPOLLWRBAND}, uint32_t{EPOLLMSG},
                       uint32_t{EPOLLRDHUP}, uint32_t{EPOLLONESHOT}, 1U << 16, 1U << 27}) {
    s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLEXCLUSIVE | bit);
  }
  s.Ctl(ep, EPOLL_CTL_ADD, efd,
        EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE);
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN);  // EEXIST now
}

DIFF_TEST(CtlErrors, ExclusiveOnAnEpollTargetIsEinval) {
  const Fd outer = s.EpollCreate1(0);
  const Fd inner = s.EpollCreate1(0);
  s.Ctl(outer, EPOLL_CTL_ADD, inner, EPOLLIN | EPOLLEXCLUSIVE);
  s.Ctl(outer, EPOLL_CTL_ADD, inner, EPOLLEXCLUSIVE);
  s.Ctl(outer, EPOLL_CTL_ADD, inner, EPOLLIN);
  // Already registered, yet the EPOLLEXCLUSIVE check comes first.
  s.Ctl(outer, EPOLL_CTL_ADD, inner, EPOLLIN | EPOLLEXCLUSIVE);
}

DIFF_TEST(CtlErrors, AnyEventMaskIsAccepted) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(1, 0);
  for (uint32_t events : {0U, ~0U & ~uint32_t{EPOLLEXCLUSIVE}, 1U << 20, uint32_t{EPOLLWAKEUP}}) {
    s.Ctl(ep, EPOLL_CTL_ADD, efd, events, events);
    s.Wait(ep, 8, 0);
    s.Ctl(ep, EPOLL_CTL_MOD, efd, events | EPOLLIN, 1);
    s.Wait(ep, 8, 0);
    s.Ctl(ep, EPOLL_CTL_DEL, efd, 0);
  }
}

}  // namespace
