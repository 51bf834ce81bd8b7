// Descriptors: an epoll item belongs to the open file, not to the number it was added under
// (it outlives that number while a dup lives, and dies with the last reference), dup/dup2/
// dup3 and their errors, fcntl file-status and descriptor flags, F_DUPFD minimums.
#include <sys/syscall.h>
#include <unistd.h>

#include <functional>
#include <thread>

#include "support/differential.h"

namespace {

using uep::test::Fd;

DIFF_TEST(ItemLifetime, ItemOutlivesItsNumberWhileADupLives) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(0, EFD_NONBLOCK);
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, 1);
  const Fd dup = s.Dup(efd);
  s.Close(efd);
  s.Write(dup, 1);
  s.Wait(ep, 4, 0);                  // still reported, with the old data
  s.Ctl(ep, EPOLL_CTL_DEL, efd, 0);  // that number is closed
  s.Ctl(ep, EPOLL_CTL_DEL, dup, 0);  // the item is keyed by the old number
  s.Ctl(ep, EPOLL_CTL_MOD, dup, EPOLLIN, 2);
  s.Ctl(ep, EPOLL_CTL_ADD, dup, EPOLLIN, 3);  // a second item on the same file
  s.Wait(ep, 4, 0);
  s.Close(dup);  // the last reference: both items go
  s.Wait(ep, 4, 0);
}

DIFF_TEST(ItemLifetime, ReusedNumberIsANewKey) {
  const Fd ep = s.EpollCreate1(0);
  const Fd old_file = s.Eventfd(1, 0);
  s.Ctl(ep, EPOLL_CTL_ADD, old_file, EPOLLIN, 1);
  const Fd keep = s.Dup(old_file);
  s.Close(old_file);
  const Fd new_file = s.Eventfd(2, 0);  // gets the number back
  s.Ctl(ep, EPOLL_CTL_MOD, new_file, EPOLLIN, 2);
  s.Ctl(ep, EPOLL_CTL_ADD, new_file, EPOLLIN, 3);
  s.Wait(ep, 4, 0);
  s.Close(keep);
  s.Wait(ep, 4, 0);
}

DIFF_TEST(ItemLifetime, Dup2OverAWatchedDescriptor) {
  const Fd ep = s.EpollCreate1(0);
  const Fd watched = s.Eventfd(1, 0);
  const Fd other = s.Eventfd(2, 0);
  s.Ctl(ep, EPOLL_CTL_ADD, watched, EPOLLIN, 1);
  s.Ctl(ep, EPOLL_CTL_ADD, other, EPOLLIN, 2);
  s.Dup2(other, watched);  // closes the watched file: its item goes
  s.Wait(ep, 4, 0);
  s.Ctl(ep, EPOLL_CTL_ADD, watched, EPOLLIN, 3);  // now the other file under a new number
  s.Wait(ep, 4, 0);
  s.Close(other);
  s.Wait(ep, 4, 0);
  s.Close(watched);
  s.Wait(ep, 4, 0);
}

DIFF_TEST(ItemLifetime, ClosingTheInstanceWhileADupLives) {
  const Fd ep = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(1, 0);
  s.Ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, 1);
  const Fd ep_dup = s.Dup(ep);
  s.Close(ep);
  s.Wait(ep_dup, 4, 0);
  s.Ctl(ep_dup, EPOLL_CTL_DEL, efd, 0);
  s.Wait(ep, 4, 0);
  s.Close(ep_dup);
  s.Write(efd, 1);  // no instance left to tell
  s.Read(efd);
}

DIFF_TEST(ItemLifetime, ItemsInSeveralInstances) {
  const Fd a = s.EpollCreate1(0);
  const Fd b = s.EpollCreate1(0);
  const Fd efd = s.Eventfd(1, 0);
  s.Ctl(a, EPOLL_CTL_ADD, efd, EPOLLIN, 1);
  s.Ctl(b, EPOLL_CTL_ADD, efd, EPOLLIN, 2);
  s.Ctl(a, EPOLL_CTL_DEL, efd, 0);
  s.Wait(a, 4, 0);
  s.Wait(b, 4, 0);
  s.Close(efd);
  s.Wait(b, 4, 0);
  s.Ctl(b, EPOLL_CTL_DEL, efd, 0);
}

// A kernel descriptor in a uepoll instance.
DIFF_TEST(ItemLifetime, KernelFileInAnInstance) {
  const Fd ep = s.EpollCreate1(0);
  const Fd kernel_efd = s.KernelEventfd(0, EFD_NONBLOCK);
  s.Ctl(ep, EPOLL_CTL_ADD, kernel_efd, EPOLLIN | EPOLLOUT, 1);
  s.Wait(ep, 4, 0);
  s.Write(kernel_efd, 1);
  s.Wait(ep, 4, 0);
  s.Ctl(ep, EPOLL_CTL_MOD, kernel_efd, EPOLLIN | EPOLLET, 2);
  s.Wait(ep, 4, 0);
  s.Wait(ep, 4, 0);
  s.Ctl(ep, EPOLL_CTL_DEL, kernel_efd, 0);
}

DIFF_TEST(Close, Errors) {
  const Fd efd = s.Eventfd(0, 0);
  s.Close(efd);
  s.Close(efd);
  s.Close(s.Spare(0));
  s.Close(s.Raw(-1));
}

DIFF_TEST(Close, NumbersAreReusedLowestFirst) {
  const Fd a = s.Eventfd(0, 0);
  const Fd b = s.EpollCreate1(0);
  const Fd c = s.Eventfd(0, 0);
  s.Close(b);
  s.Close(a);
  s.Eventfd(0, 0);  // a's number
  s.Dup(c);         // b's number
  s.EpollCreate1(0);
}

DIFF_TEST(Dup, Errors) {
  const Fd efd = s.Eventfd(0, 0);
  s.Dup(s.Spare(0));
  s.Dup(s.Raw(-1));
  s.Dup2(s.Spare(0), s.Spare(1));
  s.Dup2(s.Spare(0), s.Spare(0));  // same number, but closed
  s.Dup2(efd, s.Raw(-1));
  s.Dup2(efd, s.Limit(0));
  s.Dup2(s.Spare(0), s.Limit(0));
  s.Dup3(efd, efd, 0);  // same number: EINVAL, unlike dup2
  s.Dup3(s.Spare(0), s.Spare(0), 0);
  s.Dup3(efd, s.Spare(1), 1);
  s.Dup3(efd, s.Spare(1), O_NONBLOCK);
  s.Dup3(s.Spare(0), s.Spare(1), O_NONBLOCK);  // flags first
  s.Dup3(efd, efd, O_NONBLOCK);
  s.Dup3(efd, s.Limit(0), 0);
  s.Dup3(s.Spare(0), s.Limit(0), 0);
  s.Dup3(s.Spare(0), s.Spare(1), 0);
  s.Dup3(efd, s.Raw(-1), 0);
}

DIFF_TEST(Dup, Targets) {
  const Fd efd = s.Eventfd(3, EFD_NONBLOCK);
  s.Dup2(efd, efd);  // returns the number, changes nothing
  s.Fcntl(efd, F_GETFD);
  const Fd d1 = s.Dup2(efd, s.Spare(1));
  s.Read(d1);
  s.Write(efd, 4);
  s.Dup3(efd, s.Spare(2), O_CLOEXEC);
  s.Fcntl(s.Spare(2), F_GETFD);
  s.Fcntl(d1, F_GETFD);
  s.Dup2(efd, s.Limit(-1));  // the highest number there is
  s.Read(s.Limit(-1));
  s.Close(s.Limit(-1));
  // Onto an open descriptor: that one is closed first.
  const Fd victim = s.Eventfd(7, 0);
  s.Dup2(efd, victim);
  s.Read(victim);
}

DIFF_TEST(Fcntl, FlagsOfNewDescriptors) {
  const Fd plain = s.Eventfd(0, 0);
  const Fd flagged = s.Eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC | EFD_SEMAPHORE);
  const Fd ep = s.EpollCreate1(0);
  const Fd ep_cloexec = s.EpollCreate1(EPOLL_CLOEXEC);
  for (const Fd& fd : {plain, flagged, ep, ep_cloexec}) {
    s.Fcntl(fd, F_GETFL);
    s.Fcntl(fd, F_GETFD);
  }
}

DIFF_TEST(Fcntl, SetflChangesOnlyItsFlags) {
  const Fd efd = s.Eventfd(0, 0);
  const Fd dup = s.Dup(efd);
  s.Fcntl(efd, F_SETFL, O_NONBLOCK);
  s.Fcntl(dup, F_GETFL);  // shared by every descriptor of the file
  s.Read(dup);            // EAGAIN now
  s.Fcntl(efd, F_SETFL, O_APPEND);
  s.Fcntl(efd, F_GETFL);
  s.Fcntl(efd, F_SETFL, O_NOATIME);
  s.Fcntl(efd, F_GETFL);
  s.Fcntl(efd, F_SETFL, O_DIRECT);
  s.Fcntl(efd, F_SETFL, O_DIRECT | O_NONBLOCK);
  s.Fcntl(efd, F_GETFL);
  // The access mode and creation flags cannot be changed.
  s.Fcntl(efd, F_SETFL, O_RDONLY | O_NONBLOCK | O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC);
  s.Fcntl(efd, F_GETFL);
  s.Fcntl(efd, F_SETFL, O_WRONLY | O_SYNC | O_DSYNC | O_ASYNC);
  s.Fcntl(efd, F_GETFL);
  s.Fcntl(efd, F_SETFL, ~0UL & ~static_cast<unsigned long>(O_DIRECT));
  s.Fcntl(efd, F_GETFL);
  s.Fcntl(efd, F_SETFL, 0);
  s.Fcntl(efd, F_GETFL);
  const Fd ep = s.EpollCreate1(0);
  s.Fcntl(ep, F_SETFL, O_NONBLOCK);
  s.Fcntl(ep, F_GETFL);
}

// Runs `body` on a thread whose effective uid is not root. Credentials belong to the thread
// in the kernel, and the raw system call changes only the caller's (glibc's setresuid would
// change every thread's).
void OnUnprivilegedThread(const std::function<void()>& body) {
  std::thread thread([&body] {
    constexpr long kNobody = 65534;
    if (geteuid() == 0) syscall(SYS_setresuid, -1L, kNobody, -1L);
    body();
  });
  thread.join();
}

// O_NOATIME needs ownership of the inode (root's, for eventfd and epoll) or CAP_FOWNER.
DIFF_TEST(Fcntl, NoatimeNeedsOwnership) {
  const Fd efd = s.Eventfd(0, 0);
  const Fd ep = s.EpollCreate1(0);
  OnUnprivilegedThread([&s, efd, ep] {
    s.Fcntl(efd, F_SETFL, O_NOATIME);
    s.Fcntl(efd, F_SETFL, O_NOATIME | O_NONBLOCK);
    s.Fcntl(ep, F_SETFL, O_NOATIME);
    s.Fcntl(efd, F_SETFL, O_NOATIME | O_DIRECT);  // EPERM before O_DIRECT's EINVAL
    s.Fcntl(efd, F_SETFL, O_NONBLOCK);
  });
  s.Fcntl(efd, F_GETFL);
  s.Fcntl(efd, F_SETFL, O_NOATIME);
  OnUnprivilegedThread([&s, efd] {
    s.Fcntl(efd, F_SETFL, O_NOATIME | O_APPEND);  // already set: no check
    s.Fcntl(efd, F_SETFL, 0);
    s.Fcntl(efd, F_SETFL, O_NOATIME);
  });
  s.Fcntl(efd, F_GETFL);
}

DIFF_TEST(Fcntl, DescriptorFlags) {
  const Fd efd = s.Eventfd(0, EFD_CLOEXEC);
  s.Fcntl(efd, F_GETFD);
  const Fd dup = s.Dup(efd);  // dup never copies FD_CLOEXEC
  s.Fcntl(dup, F_GETFD);
  s.Fcntl(efd, F_SETFD, 0);
  s.Fcntl(efd, F_GETFD);
  s.Fcntl(efd, F_SETFD, ~0UL);  // only FD_CLOEXEC is kept
  s.Fcntl(efd, F_GETFD);
  s.Fcntl(dup, F_GETFD);
  s.Fcntl(s.Spare(0), F_GETFD);
  s.Fcntl(s.Spare(0), F_SETFD, FD_CLOEXEC);
  s.Fcntl(s.Spare(0), F_GETFL);
  s.Fcntl(s.Spare(0), F_SETFL, O_NONBLOCK);
}

DIFF_TEST(Fcntl, UnknownCommands) {
  const Fd efd = s.Eventfd(0, 0);
  for (int cmd : {-1, 12345, 1 << 20}) {
    s.Fcntl(efd, cmd);
    s.Fcntl(s.Spare(0), cmd);
  }
}

DIFF_TEST(Fcntl, DupfdTakesTheLowestFreeNumberFromTheMinimum) {
  const Fd efd = s.Eventfd(5, EFD_CLOEXEC);
  s.FcntlDupfd(efd, F_DUPFD, s.Spare(3));
  s.FcntlDupfd(efd, F_DUPFD, s.Spare(3));
  s.FcntlDupfd(efd, F_DUPFD_CLOEXEC, s.Spare(3));
  s.Fcntl(s.Spare(3), F_GETFD);
  s.Fcntl(s.Spare(5), F_GETFD);
  s.Close(s.Spare(4));
  s.FcntlDupfd(efd, F_DUPFD, s.Spare(2));
  s.FcntlDupfd(efd, F_DUPFD, s.Raw(0));  // below every number: the lowest free one
  s.Read(s.Spare(3));
  s.FcntlDupfd(efd, F_DUPFD, s.Limit(-1));
  s.FcntlDupfd(efd, F_DUPFD, s.Limit(0));
  s.FcntlDupfd(efd, F_DUPFD, s.Raw(-1));
  s.FcntlDupfd(s.Spare(9), F_DUPFD, s.Spare(10));
  s.FcntlDupfd(s.Spare(9), F_DUPFD, s.Limit(0));  // EBADF before EINVAL
  s.FcntlDupfd(s.Spare(9), F_DUPFD_CLOEXEC, s.Raw(-1));
}

}  // namespace
