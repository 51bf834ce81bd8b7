// Threads blocked in epoll_wait and poll on an instance, or on a parent of it, while another
// thread writes: who returns, with what, and that nobody stays asleep, compared with the
// kernel (support/blocking_waiters.h; the kernel's selftest epoll_wakeup_test.c is the model).
#include "support/blocking_waiters.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace uep::test::blocking {
namespace {

// UEPOLL_BLOCKING_FILTER=text runs only the arrangements whose name contains it;
// UEPOLL_BLOCKING_SHARE=n only every n-th (the sanitizer presets, where a run is slower).
bool Selected(const Arrangement& a, size_t index) {
  const char* filter = std::getenv("UEPOLL_BLOCKING_FILTER");
  const char* share = std::getenv("UEPOLL_BLOCKING_SHARE");
  const long every = share != nullptr ? std::strtol(share, nullptr, 10) : 1;
  if (every > 1 && index % static_cast<size_t>(every) != 0) return false;
  return filter == nullptr || a.Name().find(filter) != std::string::npos;
}

void ExpectAllSame(Source source, bool nested, Action action = Action::kWrite) {
  int racy = 0;
  std::vector<Arrangement> all = AllArrangements(source, nested);
  for (size_t i = 0; i < all.size(); ++i) {
    Arrangement& a = all[i];
    a.action = action;
    if (!Selected(a, i)) continue;
    racy += a.Racy() ? 1 : 0;
    const std::string diff = CompareOnKernelAndUepoll(a);
    EXPECT_EQ(diff, "");
  }
  std::printf("%zu arrangements, %d racy (compared by events harvested)\n", all.size(), racy);
}

TEST(BlockingWaiters, FlatSocketPair) { ExpectAllSame(Source::kSocket, false); }
TEST(BlockingWaiters, NestedSocketPair) { ExpectAllSame(Source::kSocket, true); }
TEST(BlockingWaiters, FlatPipe) { ExpectAllSame(Source::kPipe, false); }
TEST(BlockingWaiters, NestedPipe) { ExpectAllSame(Source::kPipe, true); }
TEST(BlockingWaiters, FlatEventfd) { ExpectAllSame(Source::kEventfd, false); }
TEST(BlockingWaiters, NestedEventfd) { ExpectAllSame(Source::kEventfd, true); }
TEST(BlockingWaiters, FlatKernelPipe) { ExpectAllSame(Source::kKernelPipe, false); }
TEST(BlockingWaiters, NestedKernelPipe) { ExpectAllSame(Source::kKernelPipe, true); }
TEST(BlockingWaiters, FlatKernelUdp) { ExpectAllSame(Source::kKernelUdp, false); }
TEST(BlockingWaiters, NestedKernelUdp) { ExpectAllSame(Source::kKernelUdp, true); }
TEST(BlockingWaiters, FlatSocketBesideKernelPipe) {
  ExpectAllSame(Source::kSocketBesideKernel, false);
}
TEST(BlockingWaiters, NestedSocketBesideKernelPipe) {
  ExpectAllSame(Source::kSocketBesideKernel, true);
}
TEST(BlockingWaiters, NestedKernelPipeBesideKernelPipe) {
  ExpectAllSame(Source::kKernelPipeBesideKernel, true);
}

// The readable source is added to the instance while the waiters sleep (the kernel's
// ep_insert() wakes the instance's waiters and pollers, and the parents').
TEST(BlockingWaiters, AddReadySocketPair) {
  ExpectAllSame(Source::kSocket, true, Action::kAddReady);
}
TEST(BlockingWaiters, AddReadyEventfd) { ExpectAllSame(Source::kEventfd, true, Action::kAddReady); }
TEST(BlockingWaiters, AddReadyKernelPipe) {
  ExpectAllSame(Source::kKernelPipe, true, Action::kAddReady);
}
TEST(BlockingWaiters, AddReadySocketBesideKernelPipe) {
  ExpectAllSame(Source::kSocketBesideKernel, true, Action::kAddReady);
}
TEST(BlockingWaiters, AddReadyKernelPipeBesideKernelPipe) {
  ExpectAllSame(Source::kKernelPipeBesideKernel, true, Action::kAddReady);
}

// Two epoll_wait callers on a parent whose child holds a kernel descriptor: both may be
// handed the child's link event, one finds it drained by the other; it must sleep on, not
// return 0 from an infinite wait. A race: repeated.
TEST(BlockingWaiters, TwoWaitersOnParentOfKernelDescriptorRepeated) {
  for (int round = 0; round < 25; ++round) {
    for (Source source : {Source::kKernelPipe, Source::kKernelUdp}) {
      Arrangement a;
      a.source = source;
      a.nested = true;
      a.et0 = true;
      a.et1 = true;
      a.waiters = {{Call::kEpollWait, 0}, {Call::kEpollWait, 0}};
      ASSERT_EQ(CompareOnKernelAndUepoll(a), "") << "round " << round;
    }
  }
}

// Nothing written: the signal alone ends every call, with EINTR.
TEST(BlockingWaiters, SignalEndsEveryWaiter) {
  for (Source source : {Source::kSocket, Source::kKernelPipe}) {
    for (Arrangement a : AllArrangements(source, true)) {
      if (a.et0 || a.et1) continue;
      a.action = Action::kNothing;
      EXPECT_EQ(CompareOnKernelAndUepoll(a), "");
    }
  }
}

}  // namespace
}  // namespace uep::test::blocking
