// wait_event(): the one blocking loop of every file (include/linux/wait.h). A blocked read
// or write queues a Waiter on the file's wait queue, then reads its condition, then sleeps;
// a waker changes the state first and takes the queue's lock to wake second, so either the
// condition sees the change or the wake-up finds the entry. The loop ends when the
// condition holds, or with -EINTR / -ETIMEDOUT when a signal or the deadline ended a sleep
// and the condition still does not hold (the condition wins a race with a signal, as in the
// kernel's ___wait_event()). O_NONBLOCK is the caller's: it answers -EAGAIN before calling.
#pragma once

#include <cerrno>
#include <mutex>

#include "core/file.h"
#include "core/wait_queue.h"
#include "core/waiter.h"
#include "platform/clock.h"
#include "platform/thread_safety.h"

namespace uep {

// How a wait sleeps.
struct WaitSpec {
  // Acquired before the first sleep, so that the sleep neither holds back a grace period
  // nor outlives the file: -EBADF if a close (or a conversion to a kernel object) is
  // releasing the file. Null: the caller holds its own reference.
  SleepPermit* permit = nullptr;
  // kRestartable: SA_RESTART handlers resume the sleep (the kernel's -ERESTARTSYS with
  // nothing done yet); kInterruptible: any handler ends it (a partial transfer).
  SleepKind kind = SleepKind::kRestartable;
  // prepare_to_wait_exclusive(): an exclusive entry at the tail, one woken per wake-up.
  // Otherwise a non-exclusive entry behind the others.
  bool exclusive = false;
  timespec deadline = platform::kNever;  // CLOCK_MONOTONIC
};

namespace wait_detail {

// prepare_to_wait_event(): re-arms the waiter and queues it unless it still is. wq->lock held.
inline void PrepareToWaitLocked(WaitQueueHead* wq, Waiter* waiter, bool exclusive)
    REQUIRES(wq->lock) {
  waiter->woken.store(kWaiterArmed, std::memory_order_relaxed);
  if (waiter->wait.entry.Linked()) return;
  if (exclusive) {
    AddWaitQueueExclusiveLocked(wq, &waiter->wait);
  } else {
    AddWaitQueueTailLocked(wq, &waiter->wait);
  }
}

struct NoLock {
  void lock() {}
  void unlock() {}
};

// ___wait_event(). `held` guards the condition: it is held on entry and on return, and
// dropped around each sleep. kHeldIsQueueLock: `held` is wq->lock itself.
// No analysis: `held` is any lock()/unlock() pair, dropped and retaken through a reference;
// the entry points below state what they require.
template <bool kHeldIsQueueLock, typename Held, typename Cond>
int WaitEvent(WaitQueueHead* wq, Held& held, const Cond& cond, const WaitSpec& spec)
    NO_THREAD_SAFETY_ANALYSIS {
  if (cond()) return 0;
  if (spec.permit != nullptr && !spec.permit->Acquire()) return -EBADF;
  Waiter waiter;
  int result = 0;
  for (;;) {
    if constexpr (kHeldIsQueueLock) {
      PrepareToWaitLocked(wq, &waiter, spec.exclusive);
    } else {
      std::lock_guard guard(wq->lock);
      PrepareToWaitLocked(wq, &waiter, spec.exclusive);
    }
    if (cond()) break;
    held.unlock();
    const int r = WaiterSleep(&waiter, spec.deadline, spec.kind, nullptr, 0);
    held.lock();
    if (r < 0 && !cond()) {
      result = r;
      break;
    }
  }
  // finish_wait(): a waker unlinks the entry it wakes; one that ended otherwise is still on.
  if constexpr (kHeldIsQueueLock) {
    if (waiter.wait.entry.Linked()) waiter.wait.entry.DelInit();
  } else {
    std::lock_guard guard(wq->lock);
    if (waiter.wait.entry.Linked()) waiter.wait.entry.DelInit();
  }
  return result;
}

}  // namespace wait_detail

// wait_event_interruptible(): sleeps on `wq` until cond() holds. The condition is read
// without any lock (atomics, or a state whose writer wakes under wq->lock). Returns 0,
// -EINTR, -ETIMEDOUT or -EBADF (see WaitSpec::permit).
template <typename Cond>
int WaitEvent(WaitQueueHead* wq, const Cond& cond, const WaitSpec& spec) {
  wait_detail::NoLock none;
  return wait_detail::WaitEvent<false>(wq, none, cond, spec);
}

// wait_event_interruptible_locked(): the same with wq->lock held by the caller through
// `guard`; the condition is read under it.
template <typename Cond>
int WaitEventLocked(WaitQueueHead* wq, std::unique_lock<SpinLock>& guard, const Cond& cond,
                    const WaitSpec& spec) REQUIRES(wq->lock) {
  return wait_detail::WaitEvent<true>(wq, guard, cond, spec);
}

// wait_event_interruptible_lock_irq(): the same with another lock held by the caller (any
// lock()/unlock() pair that orders before wq->lock); the condition is read under it, and it
// is dropped around each sleep.
template <typename Held, typename Cond>
int WaitEventHolding(WaitQueueHead* wq, Held& held, const Cond& cond, const WaitSpec& spec) {
  return wait_detail::WaitEvent<false>(wq, held, cond, spec);
}

}  // namespace uep
