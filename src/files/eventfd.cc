#include "files/eventfd.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <mutex>
#include <optional>

#include "core/wait_event.h"

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

// The wake-up after a change made without the lock, when its quiet check failed.
void EventFd::WakeAfter(uint32_t key) {
  std::lock_guard guard(wqh_.lock);
  if (wqh_.Active()) WakeUpLocked(&wqh_, 1, key);
}

// eventfd_read() and eventfd_write(): `step(count)` is the count the call leaves, or
// nullopt while it would block; `wake` the events the change makes (the other side's).
// *before receives the count the call changed.
// The post path, inlined into ReadValue/WriteValue: one compare-and-swap, then the
// wake-up unless the only watcher is an epoll item already ready with nobody asleep (then
// no lock at all). Everything else is ChangeCountSlow.
template <typename Step>
inline ssize_t EventFd::ChangeCount(const Step& step, uint32_t wake, int io_flags,
                                    SleepPermit* permit, uint64_t* before) {
  uint64_t count = count_.load(std::memory_order_relaxed);
  if (!InReentrantCall()) [[likely]] {
    while (const std::optional<uint64_t> after = step(count)) {
      if (count_.compare_exchange_weak(count, *after, std::memory_order_seq_cst,
                                       std::memory_order_relaxed)) {
        *before = count;
        if (!WakeUpIsQuiet(&wqh_, wake)) WakeAfter(wake);
        return sizeof(uint64_t);
      }
    }
    if ((io_flags & kIoNonblock) != 0) return -EAGAIN;
  }
  return ChangeCountSlow(step, wake, permit, before);
}

// A call from a signal handler that interrupted a uepoll call, or one that blocks.
template <typename Step>
ssize_t EventFd::ChangeCountSlow(const Step& step, uint32_t wake, SleepPermit* permit,
                                 uint64_t* before) {
  uint64_t count = count_.load(std::memory_order_relaxed);
  if (InReentrantCall()) {
    // Nothing may wait (wqh_.lock may be held by the interrupted frame): a count that would
    // block is EAGAIN whatever O_NONBLOCK says, and the wake-up is the interrupted call's.
    std::optional<uint64_t> after;
    do {
      after = step(count);
      if (!after) return -EAGAIN;
    } while (!count_.compare_exchange_weak(count, *after, std::memory_order_seq_cst,
                                           std::memory_order_relaxed));
    *before = count;
    deferred_wake_.Raise(wake);
    return sizeof(uint64_t);
  }
  std::unique_lock guard(wqh_.lock);
  for (;;) {
    const int r = WaitEventLocked(&wqh_, guard,
                                  [&] {
                                    count = count_.load(std::memory_order_seq_cst);
                                    return step(count).has_value();
                                  },
                                  {.permit = permit});
    if (r < 0) return r;
    // A change made without the lock may come between: then the wait goes on.
    if (count_.compare_exchange_strong(count, *step(count), std::memory_order_relaxed)) break;
  }
  *before = count;
  if (wqh_.Active()) WakeUpLocked(&wqh_, 1, wake);
  return sizeof(uint64_t);
}

ssize_t EventFd::ReadValue(uint64_t* value, int io_flags, SleepPermit* permit) {
  uint64_t before = 0;
  const ssize_t r = ChangeCount(
      [this](uint64_t count) -> std::optional<uint64_t> {
        if (count == 0) return std::nullopt;
        return semaphore_ ? count - 1 : 0;
      },
      EPOLLOUT, io_flags, permit, &before);
  if (r > 0) *value = semaphore_ ? 1 : before;
  return r;
}

ssize_t EventFd::WriteValue(uint64_t ucnt, int io_flags, SleepPermit* permit) {
  if (ucnt == ULLONG_MAX) return -EINVAL;
  uint64_t before = 0;
  return ChangeCount(
      [ucnt](uint64_t count) -> std::optional<uint64_t> {
        if (ULLONG_MAX - count <= ucnt) return std::nullopt;
        return count + ucnt;
      },
      EPOLLIN, io_flags, permit, &before);
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
