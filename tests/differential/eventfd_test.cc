// eventfd: initial value, semaphore mode, non-blocking EAGAIN, the 8-byte rules of read and
// write, overflow, bad buffers (a read consumes the counter before it copies out), and the
// vector calls (readv fills the segments together; writev is one write per segment).
#include <climits>

#include "support/differential.h"

namespace {

using uep::test::BadPointer;
using uep::test::Fd;
using uep::test::Seg;

constexpr uint64_t kMaxCount = ULLONG_MAX - 1;  // the most an eventfd can hold

DIFF_TEST(Eventfd, Flags) {
  s.Eventfd(0, 0);
  s.Eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC | EFD_SEMAPHORE);
  for (int flags : {1, O_APPEND, O_RDWR, O_DIRECT, -1, EFD_NONBLOCK | 0x4, INT_MIN}) {
    s.Eventfd(0, flags);
  }
}

DIFF_TEST(Eventfd, InitialValue) {
  for (unsigned initval : {0U, 1U, 7U, UINT_MAX}) {
    const Fd efd = s.Eventfd(initval, EFD_NONBLOCK);
    s.Read(efd);
    s.Read(efd);
  }
}

DIFF_TEST(Eventfd, CounterAddsUpAndReadTakesAll) {
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
  s.Write(efd, 1);
  s.Write(efd, 2);
  s.Write(efd, 0);
  s.Write(efd, 1ULL << 40);
  s.Read(efd);
  s.Read(efd);
}

DIFF_TEST(Eventfd, SemaphoreReadsOneAtATime) {
  const Fd efd = s.Eventfd(2, EFD_NONBLOCK | EFD_SEMAPHORE);
  s.Write(efd, 1);
  for (int i = 0; i < 4; ++i) s.Read(efd);
  s.Write(efd, kMaxCount);
  s.Read(efd);
  s.Write(efd, 1);
  s.Write(efd, 1);
}

DIFF_TEST(Eventfd, OverflowIsEagainAndAllOnesIsEinval) {
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
  s.Write(efd, ULLONG_MAX);
  s.Write(efd, kMaxCount);
  s.Write(efd, 1);
  s.Write(efd, 0);
  s.Write(efd, ULLONG_MAX);  // EINVAL comes before the overflow check
  s.Read(efd);
  s.Write(efd, kMaxCount - 1);
  s.Write(efd, 1);
  s.Write(efd, 1);
  s.Read(efd);
}

DIFF_TEST(Eventfd, LibcWrappers) {
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
  s.EventfdRead(efd);
  s.EventfdWrite(efd, 5);
  s.EventfdWrite(efd, ULLONG_MAX);
  s.EventfdRead(efd);
  s.EventfdWrite(efd, kMaxCount);
  s.EventfdWrite(efd, 1);
  const Fd ep = s.EpollCreate1(0);
  s.EventfdRead(ep);
  s.EventfdWrite(ep, 1);
  s.EventfdRead(s.Spare(0));
  s.EventfdWrite(s.Spare(0), 1);
}

DIFF_TEST(Eventfd, ReadSizes) {
  const Fd efd = s.Eventfd(5, EFD_NONBLOCK);
  for (size_t len : {0, 1, 4, 7}) s.Read(efd, len);
  s.Read(efd, 16);  // only the first 8 bytes are written
  s.Write(efd, 6);
  s.Read(efd, 1 << 20);
  s.Read(efd, 8);  // nothing left
  s.Read(efd, 4);  // the size check comes before EAGAIN
}

DIFF_TEST(Eventfd, WriteSizesMustBeExactlyEight) {
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
  for (size_t len : {0, 1, 4, 7, 9, 16, 4096}) s.Write(efd, 3, len);
  s.Write(efd, 3, 8);
  s.Read(efd);
}

DIFF_TEST(Eventfd, NullBuffers) {
  const Fd efd = s.Eventfd(9, EFD_NONBLOCK);
  s.ReadBad(efd, 4);   // the size check first
  s.ReadBad(efd, 8);   // consumes the counter, then fails to copy it out
  s.Read(efd);         // nothing left: the value is lost
  s.ReadBad(efd, 8);   // nothing to read: EAGAIN before the copy
  s.WriteBad(efd, 4);  // the size check first
  s.WriteBad(efd, 8);
  s.Read(efd);
  // An address no process owns fails access_ok(): nothing is consumed, sizes are not
  // looked at.
  s.Write(efd, 3);
  s.ReadBad(efd, 8, BadPointer::kKernelHalf);
  s.ReadBad(efd, 4, BadPointer::kKernelHalf);
  s.WriteBad(efd, 8, BadPointer::kKernelHalf);
  s.WriteBad(efd, 4, BadPointer::kKernelHalf);
  s.Readv(efd, {Seg{8, 0, BadPointer::kKernelHalf}, Seg{8}});
  s.Readv(efd, {Seg{8, 0, BadPointer::kKernelHalf}});
  s.Writev(efd, {Seg{8, 1}, Seg{8, 0, BadPointer::kKernelHalf}});  // checked before any write
  s.Read(efd);
}

DIFF_TEST(Eventfd, NonblockingAndBlockingDescriptors) {
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
  s.Read(efd);
  s.Write(efd, kMaxCount);
  s.Write(efd, 1);
  // A blocking descriptor waits: a helper makes room, then fills it.
  const Fd blocking = s.Eventfd(0, 0);
  s.StartClock();  // before the helper starts its delay
  s.AfterDelay(40, [&s, blocking] { s.Write(blocking, 11); });
  s.Read(blocking);
  s.NoteElapsedAtLeast(40);
  s.JoinHelpers();
  s.Write(blocking, kMaxCount);
  s.AfterDelay(40, [&s, blocking] { s.Read(blocking); });
  s.Write(blocking, 2);
  s.JoinHelpers();
  s.Read(blocking);
}

// A blocking read holds on to its file: closing the descriptor does not end it, a write
// through another descriptor does.
DIFF_TEST(Eventfd, DescriptorClosedDuringABlockingRead) {
  const Fd efd = s.Eventfd(0, 0);
  const Fd other = s.Dup(efd);
  s.AfterDelay(30, [&s, efd] { s.Close(efd); });
  s.AfterDelay(70, [&s, other] { s.Write(other, 5); });
  s.Read(efd);
  s.JoinHelpers();
  s.Read(efd);
}

// F_SETFL turns blocking on and off for every descriptor of the file.
DIFF_TEST(Eventfd, NonblockingFlagSetLater) {
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
  s.Read(efd);
  s.Fcntl(efd, F_SETFL, 0);
  s.AfterDelay(40, [&s, efd] { s.Write(efd, 6); });
  s.Read(efd);
  s.JoinHelpers();
  s.Fcntl(efd, F_SETFL, O_NONBLOCK);
  s.Read(efd);
}

DIFF_TEST(Eventfd, ReadvFillsSegmentsInOrder) {
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
  s.Write(efd, 0x0102030405060708ULL);
  s.Readv(efd, {Seg{4}, Seg{4}});
  s.Write(efd, 0x1122334455667788ULL);
  s.Readv(efd, {Seg{1}, Seg{0}, Seg{2}, Seg{16}});
  s.Write(efd, 7);
  s.Readv(efd, {Seg{4}, Seg{3}});  // 7 bytes in all: EINVAL, nothing consumed
  s.Readv(efd, {Seg{8}, Seg{8}});
  s.Readv(efd, {Seg{8}});  // empty: EAGAIN
  s.Readv(efd, {});        // nothing asked for: 0, not EINVAL
  s.Readv(efd, {Seg{0}, Seg{0}});
}

DIFF_TEST(Eventfd, ReadvWithANullSegment) {
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
  s.Write(efd, 0x0102030405060708ULL);
  s.Readv(efd,
          {Seg{4}, Seg{4, 0, BadPointer::kNull}});  // half copied, then EFAULT; the value is gone
  s.Read(efd);
  s.Write(efd, 5);
  s.Readv(efd, {Seg{0, 0, BadPointer::kNull}, Seg{8}});  // an empty NULL segment is skipped
  s.Write(efd, 6);
  s.Readv(efd, {Seg{8, 0, BadPointer::kNull}});
  s.Read(efd);
}

DIFF_TEST(Eventfd, WritevIsOneWritePerSegment) {
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
  s.Writev(efd, {Seg{8, 1}, Seg{8, 2}, Seg{8, 3}});
  s.Read(efd);
  s.Writev(efd, {Seg{8, 1}, Seg{4, 2}, Seg{8, 3}});  // stops at the bad segment
  s.Read(efd);
  s.Writev(efd, {Seg{4, 2}, Seg{8, 3}});  // the first segment fails: EINVAL
  s.Read(efd);
  s.Writev(efd, {Seg{8, 1}, Seg{0}, Seg{8, 2}, Seg{0}});  // empty segments are skipped
  s.Read(efd);
  s.Writev(efd, {Seg{0}, Seg{8, 1}});  // ... except a leading one
  s.Read(efd);
  s.Writev(efd, {Seg{16, 1}});
  s.Writev(efd, {});
  s.Writev(efd, {Seg{0}, Seg{0}});
  s.Read(efd);
}

DIFF_TEST(Eventfd, WritevStopsAtAFailingSegment) {
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
  s.Writev(efd, {Seg{8, 1}, Seg{8, ULLONG_MAX}, Seg{8, 4}});
  s.Writev(efd, {Seg{8, 1}, Seg{8, 0, BadPointer::kNull}, Seg{8, 4}});
  s.Writev(efd, {Seg{8, 0, BadPointer::kNull}, Seg{8, 4}});
  s.Read(efd);
  s.Writev(efd, {Seg{8, kMaxCount - 1}, Seg{8, 1}, Seg{8, 1}});  // overflow: EAGAIN ends it
  s.Read(efd);
}

DIFF_TEST(Eventfd, VectorCounts) {
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
  for (int iovcnt : {-1, INT_MIN, 1025, 1024, 0, 1}) {
    s.WritevCount(efd, iovcnt);
    s.Read(efd);
  }
  s.WritevCount(efd, 1, true);
  s.WritevCount(efd, 0, true);
  s.Write(efd, 1);
  for (int iovcnt : {-1, 1025, 1024, 0}) s.ReadvCount(efd, iovcnt);
  s.ReadvCount(efd, 1, true);
  s.ReadvCount(efd, 0, true);
  s.Read(efd);
  // The descriptor is checked before the vector.
  s.WritevCount(s.Spare(0), -1);
  s.ReadvCount(s.Spare(0), 1, true);
}

// A count larger than the address space is EFAULT (access_ok()) before the eventfd sees it.
// A single segment is capped at MAX_RW_COUNT first; in a vector each is checked as given.
DIFF_TEST(Eventfd, CountsBeyondTheAddressSpace) {
  const Fd efd = s.Eventfd(3, EFD_NONBLOCK);
  constexpr size_t kHuge = size_t{1} << 62;  // past the end of any user address space
  for (size_t count : {SIZE_MAX, size_t{1} << 63, size_t{SSIZE_MAX}, kHuge}) {
    s.Read(efd, count);
    s.Write(efd, 1, count);
  }
  s.Read(efd, size_t{INT_MAX} + 1);  // fits: capped to MAX_RW_COUNT
  s.Write(efd, 4);
  s.Readv(efd, {Seg{SIZE_MAX}});  // negative as ssize_t: EINVAL
  s.Readv(efd, {Seg{kHuge}});
  s.Write(efd, 5);
  s.Readv(efd, {Seg{8}, Seg{kHuge}});
  s.Readv(efd, {Seg{8}, Seg{SIZE_MAX}});
  s.Readv(efd, {Seg{8}, Seg{0, 0, BadPointer::kNull}, Seg{kHuge, 0, BadPointer::kNull}});
  s.Writev(efd, {Seg{8, 1}, Seg{kHuge}});
  s.Writev(efd, {Seg{kHuge, 1}});
  s.Read(efd);
}

DIFF_TEST(Eventfd, EpollDescriptorHasNoReadOrWrite) {
  const Fd ep = s.EpollCreate1(0);
  s.Read(ep);
  s.Write(ep, 1);
  s.Readv(ep, {Seg{8}});
  s.Writev(ep, {Seg{8, 1}});
  s.Read(ep, 0);
  s.Readv(ep, {});
  s.ReadvCount(ep, -1);
  // "Cannot read" comes before the vector is looked at, and before access_ok().
  s.ReadvCount(ep, 1, true);
  s.WritevCount(ep, 1, true);
  s.ReadBad(ep, 8);
  s.Read(ep, SIZE_MAX);
  s.Readv(ep, {Seg{8}, Seg{size_t{1} << 62}});
  s.Read(s.Spare(0));
  s.Write(s.Spare(0), 1);
}

DIFF_TEST(Eventfd, ReadinessThroughEpoll) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK | EFD_SEMAPHORE);
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLOUT, 1);
  s.Wait(ep, 4, 0);
  s.Write(efd, 2);
  s.Wait(ep, 4, 0);
  s.Read(efd);
  s.Wait(ep, 4, 0);
  s.Read(efd);
  s.Wait(ep, 4, 0);
  s.Write(efd, kMaxCount);
  s.Wait(ep, 4, 0);
  s.Read(efd);
  s.Wait(ep, 4, 0);
}

// Posts to an item already ready (edge- and level-triggered) coalesce into one report;
// after the harvest the next post is an edge again.
DIFF_TEST(Eventfd, PostsToAReadyItem) {
  for (uint32_t et : {uint32_t{EPOLLET}, 0U}) {
    const Fd ep = s.EpollCreate1(0);
    const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
    s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN | et, 1);
    for (int i = 0; i < 5; ++i) s.Write(efd, 1);
    s.Wait(ep, 4, 0);
    s.Wait(ep, 4, 0);
    s.Write(efd, 1);
    s.Wait(ep, 4, 0);
    s.Read(efd);
    s.Wait(ep, 4, 0);
    s.Write(efd, 1);
    s.Write(efd, 1);
    s.Wait(ep, 4, 0);
  }
}

// While one instance's item is ready and the count was read away, a second instance, a
// poll() and a parent instance start watching: the next post reaches each of them.
DIFF_TEST(Eventfd, WatchersAddedWhileAnItemIsReady) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLET, 1);
  s.Write(efd, 1);
  s.Write(efd, 1);
  s.Read(efd);
  const Fd ep2 = s.EpollCreate1(0);
  s.Ctl(ep2, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLET, 2);
  s.Wait(ep2, 4, 0);
  s.Write(efd, 1);
  s.Wait(ep2, 4, 0);
  s.Wait(ep, 4, 0);
  s.Read(efd);
  s.Poll(efd, POLLIN, 0);
  s.Write(efd, 1);
  s.Poll(efd, POLLIN, 0);
  s.Read(efd);
  const Fd parent = s.EpollCreate1(0);
  s.Ctl(parent, EPOLL_CTL_ADD, ep, EPOLLIN | EPOLLET, 3);
  s.Wait(parent, 4, 0);
  s.Write(efd, 1);
  s.Write(efd, 1);
  s.Wait(parent, 4, 0);
  s.Wait(ep, 4, 0);
  s.Write(efd, 1);
  s.Wait(parent, 4, 0);
}

// Reads wake EPOLLOUT; an item that watched EPOLLIN only ignored them until a MOD adds
// EPOLLOUT: from then on every read is an edge for it.
DIFF_TEST(Eventfd, ModAddingEpolloutAfterReads) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLET, 1);
  s.Write(efd, 1);
  s.Read(efd);
  s.Write(efd, 1);
  s.Read(efd);
  s.Wait(ep, 4, 0);
  s.Ctl(ep, EPOLL_CTL_MOD, efd, EPOLLIN | EPOLLOUT | EPOLLET, 1);
  s.Wait(ep, 4, 0);
  s.Wait(ep, 4, 0);
  s.Write(efd, 1);
  s.Wait(ep, 4, 0);
  s.Read(efd);
  s.Wait(ep, 4, 0);
  s.Read(efd);
  s.Wait(ep, 4, 0);
}

}  // namespace
