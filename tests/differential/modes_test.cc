// Trigger modes and masks: level-triggered, EPOLLET (every wake-up of the file is an edge,
// a write of 0 included), EPOLLONESHOT (disarmed after one report until MOD), EPOLLEXCLUSIVE
// (one instance with a sleeping waiter takes the wake-up), and which bits are reported.
#include <climits>
#include <csignal>

#include "support/differential.h"

namespace {

using uep::test::Fd;

constexpr uint64_t kMaxCount = ULLONG_MAX - 1;  // the most an eventfd can hold

DIFF_TEST(Modes, LevelTriggeredReportsUntilConsumed) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, 1);
  s.Wait(ep, 4, 0);
  s.Write(efd, 1);
  s.Wait(ep, 4, 0);
  s.Wait(ep, 4, 0);
  s.Read(efd);
  s.Wait(ep, 4, 0);
  s.Write(efd, 0);  // wakes, but the counter is still 0
  s.Wait(ep, 4, 0);
}

DIFF_TEST(Modes, EdgeTriggeredReportsEachWakeUpOnce) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLET, 1);
  s.Wait(ep, 4, 0);
  s.Write(efd, 1);
  s.Wait(ep, 4, 0);
  s.Wait(ep, 4, 0);
  s.Write(efd, 0);  // no change of the counter, still an edge
  s.Wait(ep, 4, 0);
  s.Write(efd, 2);
  s.Write(efd, 3);  // two edges before a wait: one report
  s.Wait(ep, 4, 0);
  s.Wait(ep, 4, 0);
  s.Read(efd);  // wakes with EPOLLOUT, which this item does not watch
  s.Wait(ep, 4, 0);
}

DIFF_TEST(Modes, EdgeTriggeredOnBothDirections) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLOUT | EPOLLET, 1);
  s.Wait(ep, 4, 0);  // writable at ADD
  s.Wait(ep, 4, 0);
  s.Write(efd, 1);
  s.Wait(ep, 4, 0);
  s.Read(efd);  // an EPOLLOUT edge
  s.Wait(ep, 4, 0);
  s.Read(efd);  // EAGAIN: no wake-up
  s.Wait(ep, 4, 0);
  s.Write(efd, kMaxCount);  // readable, no longer writable
  s.Wait(ep, 4, 0);
  s.Write(efd, 1);  // EAGAIN: no wake-up
  s.Wait(ep, 4, 0);
  s.Write(efd, 0);  // fits: an edge, still not writable
  s.Wait(ep, 4, 0);
}

DIFF_TEST(Modes, EdgeTriggeredOutOnly) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLOUT | EPOLLET, 1);
  s.Wait(ep, 4, 0);
  s.Write(efd, 5);  // EPOLLIN key: not an edge for this item
  s.Wait(ep, 4, 0);
  s.Read(efd);
  s.Wait(ep, 4, 0);
}

DIFF_TEST(Modes, OneshotDisarmsUntilMod) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLONESHOT, 1);
  s.Wait(ep, 4, 0);  // not ready: stays armed
  s.Write(efd, 1);
  s.Wait(ep, 4, 0);
  s.Wait(ep, 4, 0);
  s.Write(efd, 1);
  s.Wait(ep, 4, 0);
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, 2);  // still registered
  s.Ctl(ep, EPOLL_CTL_MOD, efd, EPOLLIN | EPOLLONESHOT, 3);
  s.Wait(ep, 4, 0);
  s.Wait(ep, 4, 0);
  // Disarmed, then MOD with an empty mask: ERR|HUP are added, nothing to report.
  s.Ctl(ep, EPOLL_CTL_MOD, efd, 0, 4);
  s.Write(efd, 1);
  s.Wait(ep, 4, 0);
  // MOD without ONESHOT: level-triggered from now on.
  s.Ctl(ep, EPOLL_CTL_MOD, efd, EPOLLIN, 5);
  s.Wait(ep, 4, 0);
  s.Wait(ep, 4, 0);
  s.Ctl(ep, EPOLL_CTL_DEL, efd, 0);
  s.Wait(ep, 4, 0);
}

DIFF_TEST(Modes, OneshotWithEdgeTrigger) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLOUT | EPOLLET | EPOLLONESHOT, 1);
  s.Wait(ep, 4, 0);
  s.Write(efd, 1);
  s.Read(efd);
  s.Wait(ep, 4, 0);
  s.Ctl(ep, EPOLL_CTL_MOD, efd, EPOLLIN | EPOLLET | EPOLLONESHOT, 2);
  s.Wait(ep, 4, 0);
  s.Write(efd, 1);
  s.Wait(ep, 4, 0);
  s.Write(efd, 1);
  s.Wait(ep, 4, 0);
}

DIFF_TEST(Modes, OneshotItemsAmongOthersWithSmallMaxevents) {
  const Fd ep = s.EpollCreate1(0);
  const Fd a = s.Eventfd(1, EFD_NONBLOCK);
  const Fd b = s.Eventfd(1, EFD_NONBLOCK);
  const Fd c = s.Eventfd(1, EFD_NONBLOCK);
  s.Ctl(ep, EPOLL_CTL_ADD, a, EPOLLIN | EPOLLONESHOT, 1);
  s.Ctl(ep, EPOLL_CTL_ADD, b, EPOLLIN, 2);
  s.Ctl(ep, EPOLL_CTL_ADD, c, EPOLLIN | EPOLLONESHOT, 3);
  s.Wait(ep, 2, 0);
  s.Wait(ep, 2, 0);
  s.Wait(ep, 2, 0);
  s.Ctl(ep, EPOLL_CTL_MOD, a, EPOLLIN | EPOLLONESHOT, 4);
  s.Wait(ep, 8, 0);
}

DIFF_TEST(Masks, EventfdReadinessAtTheLimits) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLOUT, 1);
  s.Wait(ep, 4, 0);
  s.Write(efd, kMaxCount - 1);
  s.Wait(ep, 4, 0);
  s.Write(efd, 1);  // at the maximum: not writable
  s.Wait(ep, 4, 0);
  s.Write(efd, 1);
  s.Write(efd, 0);
  s.Wait(ep, 4, 0);
  s.Read(efd);
  s.Wait(ep, 4, 0);
}

DIFF_TEST(Masks, OnlyWatchedBitsAreReported) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(1, EFD_NONBLOCK);
  // eventfd reports IN, OUT (and ERR on overflow) only: the normal/band variants, PRI,
  // RDHUP, MSG never show.
  const uint32_t masks[] = {
      EPOLLIN,
      EPOLLOUT,
      EPOLLIN | EPOLLOUT,
      EPOLLRDNORM | EPOLLWRNORM | EPOLLRDBAND | EPOLLWRBAND,
      EPOLLPRI | EPOLLRDHUP | EPOLLMSG,
      EPOLLERR | EPOLLHUP,
      0,
      ~0U & ~uint32_t{EPOLLEXCLUSIVE | EPOLLONESHOT | EPOLLET},
  };
  uint64_t data = 1;
  for (uint32_t mask : masks) {
    s.Ctl(ep, EPOLL_CTL_MOD, efd, mask, data);
    if (data == 1) s.Ctl(ep, EPOLL_CTL_ADD, efd, mask, data);
    s.Wait(ep, 4, 0);
    ++data;
  }
}

// EPOLLERR and EPOLLHUP are watched whatever the mask says (a pipe's read end reports HUP
// once the write end is gone, the write end ERR once the read end is), except by a
// one-shot item that has fired.
DIFF_TEST(Masks, ErrAndHupAreAlwaysWatched) {
  struct IgnoreSigpipe {  // the last write gets EPIPE instead of ending the test
    IgnoreSigpipe() { old = std::signal(SIGPIPE, SIG_IGN); }
    ~IgnoreSigpipe() { std::signal(SIGPIPE, old); }
    IgnoreSigpipe(const IgnoreSigpipe&) = delete;
    IgnoreSigpipe& operator=(const IgnoreSigpipe&) = delete;
    void (*old)(int);
  } ignore_sigpipe;
  const Fd ep = s.EpollCreate1(0);
  const auto [r, w] = s.Pipe2(O_NONBLOCK);
  s.Ctl(ep, EPOLL_CTL_ADD, r, 0, 1);
  s.Ctl(ep, EPOLL_CTL_ADD, w, EPOLLIN, 2);
  s.Wait(ep, 4, 0);
  s.Write(w, 7);
  s.Wait(ep, 4, 0);
  s.Close(w);
  s.Wait(ep, 4, 0);
  s.Wait(ep, 4, 0);
  s.Ctl(ep, EPOLL_CTL_MOD, r, EPOLLIN | EPOLLET, 3);
  s.Wait(ep, 4, 0);
  s.Wait(ep, 4, 0);
  s.Ctl(ep, EPOLL_CTL_MOD, r, EPOLLOUT | EPOLLONESHOT, 4);
  s.Wait(ep, 4, 0);
  s.Wait(ep, 4, 0);
  s.Ctl(ep, EPOLL_CTL_MOD, r, 0, 5);
  s.Wait(ep, 4, 0);
  const auto [r2, w2] = s.Pipe2(O_NONBLOCK);
  s.Ctl(ep, EPOLL_CTL_ADD, w2, EPOLLIN | EPOLLRDHUP, 6);
  s.Wait(ep, 4, 0);
  s.Close(r2);
  s.Wait(ep, 4, 0);
  s.Write(w2, 1);
}

DIFF_TEST(Masks, DataIsReportedVerbatim) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(1, 0);
  for (uint64_t data : {uint64_t{0}, ~uint64_t{0}, uint64_t{1} << 63, uint64_t{0xdeadbeefcafe}}) {
    s.Ctl(ep, EPOLL_CTL_DEL, efd, 0);
    s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, data);
    s.Wait(ep, 4, 0);
  }
}

DIFF_TEST(Exclusive, WithoutWaitersEveryInstanceIsQueued) {
  const Fd a = s.EpollCreate1(0);
  const Fd b = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
  s.Ctl(a, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLEXCLUSIVE, 1);
  s.Ctl(b, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLEXCLUSIVE | EPOLLET, 2);
  s.Write(efd, 1);
  s.Wait(a, 4, 0);
  s.Wait(b, 4, 0);
  s.Wait(b, 4, 0);
  s.Write(efd, 1);
  s.Wait(b, 4, 0);
}

// A wake-up stops at the first instance with a sleeping waiter that wants it, so the
// instances behind it on the eventfd's queue never see this write.
DIFF_TEST(Exclusive, SleepingWaiterTakesTheWakeUp) {
  const Fd a = s.EpollCreate1(0);
  const Fd b = s.EpollCreate1(0);
  const Fd c = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
  s.Ctl(a, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLEXCLUSIVE, 1);
  s.Ctl(b, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLEXCLUSIVE, 2);
  s.Ctl(c, EPOLL_CTL_ADD, efd, EPOLLIN, 3);  // not exclusive: always called
  s.AfterDelay(50, [&s, efd] { s.Write(efd, 1); });
  s.Wait(a, 4, 5000);
  s.JoinHelpers();
  s.Wait(b, 4, 0);
  s.Wait(c, 4, 0);
  // A waiter on the second instance: the first has none, so the wake-up passes it (and
  // queues its item) on the way to the second.
  s.Read(efd);
  s.Wait(a, 4, 0);
  s.AfterDelay(50, [&s, efd] { s.Write(efd, 1); });
  s.Wait(b, 4, 5000);
  s.JoinHelpers();
  s.Wait(a, 4, 0);
}

// A wake-up whose key the sleeping instance's item does not watch passes on.
DIFF_TEST(Exclusive, WakeUpWithAnUnwatchedKeyPassesOn) {
  const Fd a = s.EpollCreate1(0);
  const Fd b = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(1, EFD_NONBLOCK);
  s.Ctl(a, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLEXCLUSIVE | EPOLLET, 1);
  s.Ctl(b, EPOLL_CTL_ADD, efd, EPOLLOUT | EPOLLEXCLUSIVE | EPOLLET, 2);
  s.Wait(a, 4, 0);
  s.Wait(b, 4, 0);
  s.AfterDelay(50, [&s, efd] { s.Read(efd); });  // key EPOLLOUT
  const timespec wait_a_bit{0, 150L * 1000 * 1000};
  s.Pwait2(a, 4, &wait_a_bit);
  s.JoinHelpers();
  s.Wait(b, 4, 0);
}

}  // namespace
