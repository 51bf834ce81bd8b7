// epoll_wait/pwait/pwait2: argument errors and which one wins, timeouts, blocking waits
// woken from another thread, and the order in which ready items come out.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <climits>
#include <string>

#include "support/differential.h"

namespace {

using uep::test::BadPointer;
using uep::test::Fd;
using uep::test::Session;

// A pending SIGUSR2 for this thread, blocked outside the waits, with a handler that counts;
// everything is put back (the signal consumed if still pending) on destruction.
class PendingSignal {
 public:
  PendingSignal() {
    handled = 0;
    struct sigaction sa {};
    sa.sa_handler = [](int) { handled.fetch_add(1); };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR2, &sa, &old_action_);
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &block, &old_mask_);
    pthread_kill(pthread_self(), SIGUSR2);
  }
  ~PendingSignal() {
    sigset_t usr2;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    const timespec now{0, 0};
    sigtimedwait(&usr2, nullptr, &now);
    pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
    sigaction(SIGUSR2, &old_action_, nullptr);
  }
  PendingSignal(const PendingSignal&) = delete;
  PendingSignal& operator=(const PendingSignal&) = delete;

  static std::string Handled() { return "handled " + std::to_string(handled.load()); }

 private:
  static inline std::atomic<int> handled{0};
  struct sigaction old_action_ {};
  sigset_t old_mask_{};
};

// EP_MAX_EVENTS: the largest maxevents the kernel accepts.
constexpr int kMaxEvents = static_cast<int>(INT_MAX / sizeof(epoll_event));

// An instance watching `count` eventfds (data 1..count, level-triggered IN), each already
// written once, so all are ready in order.
Fd InstanceWithReadyEventfds(Session& s, int count, std::vector<Fd>* efds) {
  const Fd ep = s.EpollCreate1(0);
  for (int i = 1; i <= count; ++i) {
    const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
    s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, static_cast<uint64_t>(i));
    s.Write(efd, 1);
    efds->push_back(efd);
  }
  return ep;
}

// The descriptor is looked up before maxevents is checked (6.1 checks maxevents first:
// the kernel profile), and maxevents before the descriptor's type.
DIFF_TEST_PROFILED(WaitErrors, MaxeventsIsCheckedAfterTheDescriptor,
                   kEpollWaitLooksUpDescriptorFirst) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, 0);
  for (int maxevents : {0, -1, INT_MIN, kMaxEvents + 1, INT_MAX}) {
    s.Wait(ep, maxevents, 0);
    s.Wait(s.Spare(0), maxevents, 0);
    s.Wait(s.Raw(-1), maxevents, 0);
    s.Wait(efd, maxevents, 0);
    s.WaitBadEvents(ep, maxevents, 0);
  }
  s.Wait(ep, kMaxEvents, 0);
  s.Wait(ep, 1, 0);
}

DIFF_TEST(WaitErrors, BadOrNonEpollDescriptor) {
  const Fd efd = s.Eventfd(1, 0);
  const Fd devnull = s.OpenKernelFile("/dev/null");
  s.Wait(s.Spare(0), 1, 0);
  s.Wait(s.Raw(-1), 1, 0);
  s.Wait(efd, 1, 0);
  s.Wait(devnull, 1, 0);
  s.WaitBadEvents(s.Spare(0), 1, 0);
  s.WaitBadEvents(efd, 1, 0);
  const Fd ep = s.EpollCreate1(0);
  s.Close(ep);
  s.Wait(ep, 1, 0);
}

DIFF_TEST(WaitErrors, NullEventsFaultsOnlyWhenSomethingIsReady) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, 1);
  s.WaitBadEvents(ep, 1, 0);
  s.Write(efd, 1);
  s.WaitBadEvents(ep, 1, 0);
  s.WaitBadEvents(ep, 4, 10);
  // The item is still ready after the failed copy.
  s.Wait(ep, 4, 0);
  // An edge-triggered item survives a failed copy too.
  s.Ctl(ep, EPOLL_CTL_MOD, efd, EPOLLIN | EPOLLET, 2);
  s.WaitBadEvents(ep, 1, 0);
  s.Wait(ep, 4, 0);
  s.Wait(ep, 4, 0);
}

// After the descriptor and maxevents, access_ok() on the whole buffer; then the type.
DIFF_TEST_PROFILED(WaitErrors, UnwritableEventsBuffer, kEpollWaitLooksUpDescriptorFirst) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(1, 0);
  s.WaitBadEvents(ep, 1, 0, BadPointer::kKernelHalf);
  s.WaitBadEvents(ep, 1, -1, BadPointer::kKernelHalf);  // fails before it would sleep
  s.WaitBadEvents(efd, 1, 0, BadPointer::kKernelHalf);
  s.WaitBadEvents(ep, 0, 0, BadPointer::kKernelHalf);
  s.WaitBadEvents(s.Spare(0), 1, 0, BadPointer::kKernelHalf);
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, 1);
  s.WaitBadEvents(ep, 1, 0, BadPointer::kKernelHalf);
  s.Wait(ep, 1, 0);
}

// The mask and the timeout are copied in before anything else is looked at.
DIFF_TEST(WaitErrors, UnreadableMaskOrTimeout) {
  const Fd ep = s.EpollCreate1(0);
  s.PwaitBadMask(ep, 1, 0);
  s.PwaitBadMask(ep, 1, -1);
  s.PwaitBadMask(s.Spare(0), 0, 0);
  s.Pwait2BadTimeout(ep, 1);
  s.Pwait2BadTimeout(s.Spare(0), 0);
}

DIFF_TEST(WaitErrors, Pwait2RejectsBadTimespecsBeforeAnythingElse) {
  const Fd ep = s.EpollCreate1(0);
  for (const timespec ts : {timespec{-1, 0}, timespec{0, -1}, timespec{0, 1000000000},
                            timespec{-1, 1000000000}, timespec{LONG_MIN, 0}}) {
    s.Pwait2(ep, 1, &ts);
    s.Pwait2(s.Spare(0), 0, &ts);
  }
  const timespec zero{0, 0};
  s.Pwait2(ep, 1, &zero);
  s.Pwait2(s.Spare(0), 1, &zero);
  s.Pwait2(ep, 0, &zero);
  const timespec almost_a_second{0, 999999999};
  const Fd efd = s.Eventfd(1, 0);
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, 5);
  s.Pwait2(ep, 1, &almost_a_second);
  s.Pwait2(ep, 1, nullptr);
}

DIFF_TEST(WaitTimeouts, ExpireWithNothingReadyAndNeverEarly) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, 0);
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, 1);
  s.StartClock();
  s.Wait(ep, 1, 30);
  s.NoteElapsedAtLeast(30);
  s.StartClock();
  s.Pwait(ep, 1, 20, nullptr);
  s.NoteElapsedAtLeast(20);
  const timespec ts{0, 25L * 1000 * 1000};
  s.StartClock();
  s.Pwait2(ep, 1, &ts);
  s.NoteElapsedAtLeast(25);
  // A zero timeout returns at once.
  s.Wait(ep, 1, 0);
}

DIFF_TEST(WaitTimeouts, ReadyItemReturnsAtOnceWhateverTheTimeout) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(3, 0);
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, 1);
  for (int timeout : {0, 10, -1, INT_MIN}) s.Wait(ep, 1, timeout);
  s.Pwait2(ep, 1, nullptr);
}

DIFF_TEST(WaitBlocking, WriterWakesAnInfiniteWait) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, 0);
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, 7);
  s.StartClock();  // before the helper starts its delay
  s.AfterDelay(50, [&s, efd] { s.Write(efd, 2); });
  s.Wait(ep, 4, -1);
  s.NoteElapsedAtLeast(50);
  s.JoinHelpers();
  // Any negative timeout is infinite.
  s.AfterDelay(30, [&s, efd] { s.Write(efd, 0); });
  s.Ctl(ep, EPOLL_CTL_MOD, efd, EPOLLIN | EPOLLET, 8);
  s.Wait(ep, 4, 0);  // the MOD queued the item: consume that edge
  s.Wait(ep, 4, -12345);
  s.JoinHelpers();
  s.Read(efd);
}

DIFF_TEST(WaitBlocking, WriterWakesATimedWait) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, 0);
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, 7);
  s.AfterDelay(40, [&s, efd] { s.Write(efd, 1); });
  s.Wait(ep, 4, 5000);
  s.JoinHelpers();
  s.AfterDelay(40, [&s, efd] { s.Read(efd); });
  s.Ctl(ep, EPOLL_CTL_MOD, efd, EPOLLOUT | EPOLLET, 9);
  s.Wait(ep, 4, 0);
  const timespec ts{5, 0};
  s.Pwait2(ep, 4, &ts);  // woken by the read's EPOLLOUT edge
  s.JoinHelpers();
  // The longest timeout there is, and none at all.
  s.Ctl(ep, EPOLL_CTL_MOD, efd, EPOLLIN | EPOLLET, 10);
  const timespec longest{LONG_MAX, 999999999};
  s.AfterDelay(30, [&s, efd] { s.Write(efd, 1); });
  s.Pwait2(ep, 4, &longest);
  s.JoinHelpers();
  s.AfterDelay(30, [&s, efd] { s.Write(efd, 1); });
  s.Pwait2(ep, 4, nullptr);
  s.JoinHelpers();
}

DIFF_TEST(WaitBlocking, WakeFromAnotherInstanceIsNotOurs) {
  const Fd ep = s.EpollCreate1(0);
  const Fd other = s.EpollCreate1(0);
  const Fd mine = s.Eventfd(0, 0);
  const Fd theirs = s.Eventfd(0, 0);
  s.Ctl(ep, EPOLL_CTL_ADD, mine, EPOLLIN, 1);
  s.Ctl(other, EPOLL_CTL_ADD, theirs, EPOLLIN, 2);
  s.AfterDelay(20, [&s, theirs] { s.Write(theirs, 1); });
  s.AfterDelay(60, [&s, mine] { s.Write(mine, 1); });
  s.Wait(ep, 4, 5000);
  s.JoinHelpers();
  s.Wait(other, 4, 0);
}

// The item is queued by a write of 0 (a wake-up with EPOLLIN), but the re-poll finds the
// counter empty: the waiter goes back to sleep until its timeout.
DIFF_TEST(WaitBlocking, WakeUpWithNothingToReportKeepsWaiting) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, 1);
  s.StartClock();  // before the helper starts its delay
  s.AfterDelay(30, [&s, efd] { s.Write(efd, 0); });
  s.Wait(ep, 4, 150);
  s.NoteElapsedAtLeast(150);
  s.JoinHelpers();
}

DIFF_TEST(WaitBlocking, PwaitWithAMaskTimesOutAndWakes) {
  sigset_t empty;
  sigemptyset(&empty);
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, 1);
  s.StartClock();
  s.Pwait(ep, 4, 40, &empty);
  s.NoteElapsedAtLeast(40);
  s.AfterDelay(30, [&s, efd] { s.Write(efd, 1); });
  s.Pwait(ep, 4, 5000, &empty);
  s.JoinHelpers();
  s.Pwait(ep, 4, 0, &empty);
}

// A wait holds on to its instance: closing the descriptor meanwhile changes nothing for it.
DIFF_TEST(WaitBlocking, InstanceClosedDuringAWait) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, 1);
  s.AfterDelay(30, [&s, ep] { s.Close(ep); });
  s.AfterDelay(80, [&s, efd] { s.Write(efd, 1); });
  s.Wait(ep, 4, 5000);
  s.JoinHelpers();
  s.Wait(ep, 4, 0);
}

DIFF_TEST(WaitBlocking, WatchedFileClosedDuringAWait) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, 1);
  s.StartClock();  // before the helper starts its delay
  s.AfterDelay(30, [&s, efd] { s.Close(efd); });
  s.Wait(ep, 4, 120);
  s.NoteElapsedAtLeast(120);
  s.JoinHelpers();
}

// A signal the wait's mask lets in ends a wait that would sleep, and only such a wait:
// a zero timeout or a ready event returns first, and the signal stays pending. `ep` has
// nothing ready.
void PendingSignalAndTheWaitsMask(Session& s, Fd ep) {
  sigset_t none;
  sigemptyset(&none);
  const Fd efd = s.Eventfd(1, EFD_NONBLOCK);
  PendingSignal pending;
  s.Pwait(ep, 4, 0, &none);
  s.Note(PendingSignal::Handled());
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, 1);
  s.Pwait(ep, 4, 1000, &none);
  s.Note(PendingSignal::Handled());
  s.Ctl(ep, EPOLL_CTL_DEL, efd, 0);
  s.Pwait(ep, 4, 50, nullptr);  // still blocked: the timeout runs out
  s.Note(PendingSignal::Handled());
  s.Pwait(ep, 4, 1000, &none);
  s.Note(PendingSignal::Handled());
}

DIFF_TEST(WaitSignals, PendingSignalAndTheWaitsMask) {
  PendingSignalAndTheWaitsMask(s, s.EpollCreate1(0));
}

// The same with a kernel eventfd in the instance: a uepoll instance holding kernel
// descriptors sleeps in the kernel with the caller's mask (kernel/kernel_side.h).
DIFF_TEST(WaitSignals, PendingSignalAndTheWaitsMaskWithAKernelFd) {
  const Fd ep = s.EpollCreate1(0);
  const Fd kefd = s.KernelEventfd(0, EFD_NONBLOCK);
  s.Ctl(ep, EPOLL_CTL_ADD, kefd, EPOLLIN, 2);
  PendingSignalAndTheWaitsMask(s, ep);
  s.Write(kefd, 1);
  sigset_t none;
  sigemptyset(&none);
  s.Pwait(ep, 4, 1000, &none);
}

// O_NONBLOCK on the instance's file does not make epoll_wait() non-blocking.
DIFF_TEST(WaitTimeouts, NonblockingInstanceStillWaits) {
  const Fd ep = s.EpollCreate1(0);
  s.Fcntl(ep, F_SETFL, O_NONBLOCK);
  s.StartClock();
  s.Wait(ep, 1, 40);
  s.NoteElapsedAtLeast(40);
}

DIFF_TEST(WaitBlocking, CtlOfAReadyFileWakesAWaiter) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(1, EFD_NONBLOCK);
  s.AfterDelay(30, [&s, ep, efd] { s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLONESHOT, 1); });
  s.Wait(ep, 4, 5000);
  s.JoinHelpers();
  s.Wait(ep, 4, 0);
  s.AfterDelay(30, [&s, ep, efd] { s.Ctl(ep, EPOLL_CTL_MOD, efd, EPOLLIN | EPOLLONESHOT, 2); });
  s.Wait(ep, 4, 5000);
  s.JoinHelpers();
}

// Waiters sleep exclusively, first come first woken: one event wakes one of them. A
// level-triggered item is still ready after the first harvest, and the harvest passes the
// wake-up on to the next waiter; an edge-triggered one is gone, so the second sleeps on.
DIFF_TEST(WaitBlocking, OneWakeUpPerEventAmongSeveralWaiters) {
  const Fd ep = s.EpollCreate1(0);
  const Fd level = s.Eventfd(0, EFD_NONBLOCK);
  const Fd edge = s.Eventfd(0, EFD_NONBLOCK);
  s.Ctl(ep, EPOLL_CTL_ADD, level, EPOLLIN, 1);
  s.Ctl(ep, EPOLL_CTL_ADD, edge, EPOLLIN | EPOLLET, 2);
  for (const Fd& efd : {edge, level}) {
    s.AfterDelay(0, [&s, ep] { s.Wait(ep, 4, 400); });
    s.AfterDelay(50, [&s, ep] { s.Wait(ep, 4, 400); });
    s.AfterDelay(120, [&s, efd] { s.Write(efd, 1); });
    s.JoinHelpers();
    s.Read(efd);
  }
}

DIFF_TEST(WaitOrder, LevelTriggeredItemsTakeTurnsWhenMaxeventsIsSmall) {
  std::vector<Fd> efds;
  const Fd ep = InstanceWithReadyEventfds(s, 5, &efds);
  for (int i = 0; i < 6; ++i) s.Wait(ep, 2, 0);
  s.Wait(ep, 1, 0);
  s.Wait(ep, 3, 0);
  s.Wait(ep, 8, 0);
}

DIFF_TEST(WaitOrder, EdgeTriggeredItemsLeftOverStayFirst) {
  const Fd ep = s.EpollCreate1(0);
  std::vector<Fd> efds;
  for (int i = 1; i <= 4; ++i) {
    efds.push_back(s.Eventfd(0, EFD_NONBLOCK));
    s.Ctl(ep, EPOLL_CTL_ADD, efds.back(), EPOLLIN | EPOLLET, static_cast<uint64_t>(i));
  }
  for (const Fd& efd : efds) s.Write(efd, 1);
  s.Wait(ep, 1, 0);
  s.Write(efds[0], 1);  // re-signalled: back at the tail
  s.Wait(ep, 2, 0);
  s.Wait(ep, 8, 0);
  s.Wait(ep, 8, 0);
}

DIFF_TEST(WaitOrder, ItemsThatStoppedBeingReadyAreDropped) {
  std::vector<Fd> efds;
  const Fd ep = InstanceWithReadyEventfds(s, 4, &efds);
  s.Read(efds[1]);
  s.Read(efds[3]);
  s.Wait(ep, 8, 0);
  s.Read(efds[0]);
  s.Read(efds[2]);
  s.Wait(ep, 8, 0);
  s.Write(efds[3], 1);
  s.Write(efds[1], 1);
  s.Wait(ep, 8, 0);
}

DIFF_TEST(WaitOrder, ModAndAddOfReadyItems) {
  std::vector<Fd> efds;
  const Fd ep = InstanceWithReadyEventfds(s, 3, &efds);
  // Already queued: MOD keeps the item's place and takes the new data.
  s.Ctl(ep, EPOLL_CTL_MOD, efds[0], EPOLLIN, 10);
  s.Wait(ep, 8, 0);
  // Now queued as [1 2 3] again; drop item 2 from the queue by reading, MOD re-queues it last.
  s.Read(efds[1]);
  s.Wait(ep, 8, 0);
  s.Write(efds[1], 1);
  s.Ctl(ep, EPOLL_CTL_MOD, efds[1], EPOLLIN, 20);
  s.Wait(ep, 8, 0);
  // An edge-triggered item that was already reported goes to the tail on MOD.
  s.Ctl(ep, EPOLL_CTL_MOD, efds[0], EPOLLIN | EPOLLET, 11);
  s.Wait(ep, 8, 0);
  s.Ctl(ep, EPOLL_CTL_MOD, efds[0], EPOLLIN | EPOLLET, 12);
  s.Wait(ep, 8, 0);
  // ADD of a ready file: last.
  const Fd late = s.Eventfd(1, 0);
  s.Ctl(ep, EPOLL_CTL_ADD, late, EPOLLIN, 99);
  s.Wait(ep, 8, 0);
  // DEL and re-ADD: last again.
  s.Ctl(ep, EPOLL_CTL_DEL, efds[2], 0);
  s.Ctl(ep, EPOLL_CTL_ADD, efds[2], EPOLLIN, 30);
  s.Wait(ep, 8, 0);
  // MOD to a mask that is not ready: dropped at the next wait.
  s.Ctl(ep, EPOLL_CTL_MOD, late, EPOLLPRI, 98);
  s.Wait(ep, 8, 0);
}

DIFF_TEST(WaitOrder, ManyEventfdsAndPartialHarvests) {
  const Fd ep = s.EpollCreate1(0);
  std::vector<Fd> efds;
  for (int i = 0; i < 12; ++i) {
    efds.push_back(s.Eventfd(0, EFD_NONBLOCK));
    const uint32_t mode =
        i % 3 == 0 ? uint32_t{EPOLLET} : (i % 3 == 1 ? uint32_t{EPOLLONESHOT} : 0U);
    s.Ctl(ep, EPOLL_CTL_ADD, efds.back(), EPOLLIN | mode, 100 + static_cast<uint64_t>(i));
  }
  for (int i = 11; i >= 0; i -= 2) s.Write(efds[static_cast<size_t>(i)], 1);
  for (int i = 0; i < 12; i += 2) s.Write(efds[static_cast<size_t>(i)], 1);
  for (int round = 0; round < 5; ++round) s.Wait(ep, 5, 0);
  for (int i = 0; i < 12; i += 3) s.Write(efds[static_cast<size_t>(i)], 1);
  s.Wait(ep, 64, 0);
  s.Wait(ep, 64, 0);
}

}  // namespace
