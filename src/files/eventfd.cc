#include "files/eventfd.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <mutex>

#include "core/waiter.h"
#include "platform/clock.h"

namespace uep {

EventFd::EventFd(unsigned int initval, int flags)
    : File(O_RDWR | (static_cast<uint32_t>(flags) & O_NONBLOCK)),
      count_(initval),
      semaphore_((flags & EFD_SEMAPHORE) != 0) {
  SetPollLockless();
}

uint32_t EventFd::Poll(PollTable* pt) {
  // No barrier needed (as in fs/eventfd.c): a registering caller went through wqh_.lock in
  // PollWait, so a writer either ran before (we see its count) or after (it sees our hook
  // and calls back); a re-poll from a transfer follows the callback's lock hand-off.
  PollWait(this, &wqh_, pt);
  const uint64_t count = count_.load(std::memory_order_seq_cst);
  uint32_t events = 0;
  if (count > 0) events |= EPOLLIN;
  if (count == ULLONG_MAX) events |= EPOLLERR;
  if (ULLONG_MAX - 1 > count) events |= EPOLLOUT;
  return events;
}

// One sleep of a blocked read or write, queued behind the others; the lock is dropped
// around it. 0 or -EINTR (re-check the count first), or -EBADF if a close won the race.
// A waiter not yet queued is queued first and the caller looks at the count again (1): a
// writer that changed it without the lock either saw the entry or is seen now.
// No analysis: drops and retakes the caller's guard, a reference the analysis cannot follow.
int EventFd::SleepLocked(std::unique_lock<SpinLock>& guard, Waiter* waiter, SleepPermit* permit)
    NO_THREAD_SAFETY_ANALYSIS {
  if (!permit->Acquire()) return -EBADF;
  if (!waiter->wait.entry.Linked()) {
    waiter->woken.store(kWaiterArmed, std::memory_order_relaxed);
    AddWaitQueueTailLocked(&wqh_, &waiter->wait);
    return 1;
  }
  guard.unlock();
  const int r = WaiterSleep(waiter, platform::kNever, SleepKind::kRestartable, nullptr, 0);
  guard.lock();
  return r == -EINTR ? r : 0;
}

// The wake-up after a change made without the lock: skipped when the queue's only entry
// says it would do nothing (an epoll item already ready, with nobody asleep).
void EventFd::WakeAfter(uint32_t key) {
  if (WakeUpIsQuiet(&wqh_, key)) return;
  std::lock_guard guard(wqh_.lock);
  if (wqh_.Active()) WakeUpLocked(&wqh_, 1, key);
}

ssize_t EventFd::ReadValue(uint64_t* value, int io_flags, SleepPermit* permit) {
  if (InReentrantCall()) [[unlikely]] return ReadValueReentrant(value);
  // Fast path: a count to take is taken without the lock, as a re-entrant call does.
  uint64_t count = count_.load(std::memory_order_relaxed);
  while (count != 0) {
    const uint64_t ucnt = semaphore_ ? 1 : count;
    if (count_.compare_exchange_weak(count, count - ucnt, std::memory_order_seq_cst,
                                     std::memory_order_relaxed)) {
      *value = ucnt;
      WakeAfter(EPOLLOUT);
      return sizeof(uint64_t);
    }
  }
  if ((io_flags & kIoNonblock) != 0) return -EAGAIN;
  std::unique_lock guard(wqh_.lock);
  count = count_.load(std::memory_order_seq_cst);
  Waiter waiter;
  for (;;) {
    if (count != 0) {
      const uint64_t ucnt = semaphore_ ? 1 : count;
      if (!count_.compare_exchange_weak(count, count - ucnt, std::memory_order_relaxed)) continue;
      *value = ucnt;
      break;
    }
    if ((io_flags & kIoNonblock) != 0) return -EAGAIN;
    const int r = SleepLocked(guard, &waiter, permit);
    if (r == -EBADF) return r;
    count = count_.load(std::memory_order_seq_cst);
    if (r == -EINTR && count == 0) {
      if (waiter.wait.entry.Linked()) waiter.wait.entry.DelInit();
      return -EINTR;
    }
  }
  if (waiter.wait.entry.Linked()) waiter.wait.entry.DelInit();
  if (wqh_.Active()) WakeUpLocked(&wqh_, 1, EPOLLOUT);
  return sizeof(uint64_t);
}

ssize_t EventFd::WriteValue(uint64_t ucnt, int io_flags, SleepPermit* permit) {
  if (ucnt == ULLONG_MAX) return -EINVAL;
  if (InReentrantCall()) [[unlikely]] return WriteValueReentrant(ucnt);
  // Fast path: one compare-and-swap, then the wake-up unless the only watcher is an
  // epoll item already ready with nobody asleep (then no lock at all).
  uint64_t count = count_.load(std::memory_order_relaxed);
  while (ULLONG_MAX - count > ucnt) {
    if (count_.compare_exchange_weak(count, count + ucnt, std::memory_order_seq_cst,
                                     std::memory_order_relaxed)) {
      WakeAfter(EPOLLIN);
      return sizeof(uint64_t);
    }
  }
  if ((io_flags & kIoNonblock) != 0) return -EAGAIN;
  std::unique_lock guard(wqh_.lock);
  count = count_.load(std::memory_order_seq_cst);
  Waiter waiter;
  for (;;) {
    if (ULLONG_MAX - count > ucnt) {
      if (!count_.compare_exchange_weak(count, count + ucnt, std::memory_order_relaxed)) continue;
      break;
    }
    if ((io_flags & kIoNonblock) != 0) return -EAGAIN;
    const int r = SleepLocked(guard, &waiter, permit);
    if (r == -EBADF) return r;
    count = count_.load(std::memory_order_seq_cst);
    if (r == -EINTR && ULLONG_MAX - count <= ucnt) {
      if (waiter.wait.entry.Linked()) waiter.wait.entry.DelInit();
      return -EINTR;
    }
  }
  if (waiter.wait.entry.Linked()) waiter.wait.entry.DelInit();
  if (wqh_.Active()) WakeUpLocked(&wqh_, 1, EPOLLIN);
  return sizeof(uint64_t);
}

// Nothing may wait: a count that would block is EAGAIN whatever O_NONBLOCK says, and the
// wake-up is the interrupted call's to make.
ssize_t EventFd::ReadValueReentrant(uint64_t* value) {
  uint64_t count = count_.load(std::memory_order_relaxed);
  uint64_t ucnt = 0;
  do {
    if (count == 0) return -EAGAIN;
    ucnt = semaphore_ ? 1 : count;
  } while (!count_.compare_exchange_weak(count, count - ucnt, std::memory_order_seq_cst,
                                         std::memory_order_relaxed));
  *value = ucnt;
  deferred_wake_.Raise(EPOLLOUT);
  return sizeof(uint64_t);
}

ssize_t EventFd::WriteValueReentrant(uint64_t ucnt) {
  uint64_t count = count_.load(std::memory_order_relaxed);
  do {
    if (ULLONG_MAX - count <= ucnt) return -EAGAIN;
  } while (!count_.compare_exchange_weak(count, count + ucnt, std::memory_order_seq_cst,
                                         std::memory_order_relaxed));
  deferred_wake_.Raise(EPOLLIN);
  return sizeof(uint64_t);
}

// read_iter: the segments together must hold 8 bytes. The value is consumed before it is
// copied out, so a bad buffer loses it with EFAULT, as in the kernel.
ssize_t EventFd::Read(const iovec* iov, int iovcnt, int io_flags, SleepPermit* permit) {
  size_t total = 0;
  for (int i = 0; i < iovcnt; ++i) total += iov[i].iov_len;
  if (total < sizeof(uint64_t)) return -EINVAL;
  uint64_t value = 0;
  const ssize_t r = ReadValue(&value, io_flags, permit);
  if (r < 0) return r;
  if (iovcnt == 1 && iov[0].iov_base != nullptr) {
    std::memcpy(iov[0].iov_base, &value, sizeof value);  // read(2): one 8-byte copy, inlined
    return r;
  }
  const auto* src = reinterpret_cast<const char*>(&value);
  size_t left = sizeof value;
  for (int i = 0; i < iovcnt && left > 0; ++i) {
    const size_t n = std::min(left, iov[i].iov_len);
    if (n == 0) continue;
    if (iov[i].iov_base == nullptr) return -EFAULT;
    std::memcpy(iov[i].iov_base, src, n);
    src += n;
    left -= n;
  }
  return r;
}

// eventfd has only ->write, so writev() is a loop of 8-byte writes (do_loop_readv_writev):
// it stops at the first short or failed segment and reports what was written before it.
ssize_t EventFd::Write(const iovec* iov, int iovcnt, int io_flags, SleepPermit* permit) {
  if (iovcnt == 1 && iov[0].iov_len == sizeof(uint64_t) && iov[0].iov_base != nullptr) {
    uint64_t value = 0;  // write(2) of one value: no loop
    std::memcpy(&value, iov[0].iov_base, sizeof value);
    return WriteValue(value, io_flags, permit);
  }
  ssize_t done = 0;
  for (int i = 0; i < iovcnt; ++i) {
    if (i > 0 && iov[i].iov_len == 0) continue;
    ssize_t nr = 0;
    if (iov[i].iov_len != sizeof(uint64_t)) {
      nr = -EINVAL;
    } else if (iov[i].iov_base == nullptr) {
      nr = -EFAULT;
    } else {
      uint64_t value = 0;
      std::memcpy(&value, iov[i].iov_base, sizeof value);
      nr = WriteValue(value, io_flags, permit);
    }
    if (nr < 0) return done == 0 ? nr : done;
    done += nr;
  }
  return done;
}

void EventFd::Release() { WakeUpPoll(&wqh_, EPOLLHUP); }

void EventFd::DeferredWakeUp(uint32_t events) { WakeUpPoll(&wqh_, events); }

}  // namespace uep
