// A thread asleep on a wait queue. Its entry's function is the kernel's
// autoremove_wake_function: unlink the entry, then wake the thread. "Woken" and "no longer
// queued" are therefore the same fact, which lets a waiter that timed out tell under the
// queue's lock whether a wake-up raced with its timeout.
#pragma once

#include <signal.h>

#include <atomic>
#include <cstdint>
#include <ctime>

#include "core/wait_queue.h"

namespace uep {

// The states of Waiter::woken. The owner arms it (kArmed) under the queue's lock before it
// queues or re-checks; a waker swaps in kWoken; the owner swaps kArmed for kSleeping right
// before it sleeps in the kernel (futex or doorbell) and only then.
// Invariant: a waker makes the system call if and only if it swapped kSleeping out. Both
// sides change the word with one atomic read-modify-write each, so they are totally ordered:
// either the waker comes first (the owner's swap fails on kWoken and it does not sleep), or
// the owner comes first (the waker sees kSleeping and posts; a FUTEX_WAIT on kSleeping that
// has not yet begun returns at once on kWoken). No wake-up is lost, and a waiter that is
// still spinning (busy-poll) costs its waker no system call.
inline constexpr uint32_t kWaiterArmed = 0;
inline constexpr uint32_t kWaiterWoken = 1;
inline constexpr uint32_t kWaiterSleeping = 2;

struct Waiter {
  Waiter();
  WaitQueueEntry wait;
  std::atomic<uint32_t> woken{kWaiterArmed};
  // A kernel eventfd to ring instead of the futex, while sleeping in ppoll() with a
  // signal mask; -1 otherwise. Written by the owner before it queues the entry.
  int doorbell = -1;
  // What the waiter sleeps on, for timers whose expiry wakes it (core/timer_service.h,
  // Delegates): it then sleeps until that expiry at the latest and fires it itself.
  // nullptr: no timer is its business. Written by the owner before it sleeps.
  const void* timer_tag = nullptr;
};

enum class SleepKind {
  kInterruptible,  // epoll_wait: a signal handler always ends the sleep with EINTR
  kRestartable,    // read/write: SA_RESTART handlers resume the sleep, as the kernel's
};

// Sleeps until the waiter is woken, `deadline` (CLOCK_MONOTONIC) passes, or a signal
// interrupts. An interruptible sleep without `sigmask` on a `timer_tag` that the earliest
// timer wakes sleeps until that timer's expiry at most and fires it (the timer's wake-up of
// this waiter is then no system call) before it re-checks. With `sigmask`, the mask is in force during the sleep only, applied
// atomically with it (ppoll). Spins `spin` rounds first. Returns 0, -ETIMEDOUT or -EINTR.
int WaiterSleep(Waiter* waiter, const timespec& deadline, SleepKind kind,
                const sigset_t* sigmask, int spin);

// Wakes the waiter without touching its entry: for owners that hang entries of their own on
// several queues (poll(2)'s pollwake) and sleep on the one waiter. Safe from several queues
// at once; the owner re-arms with `woken = kWaiterArmed` before it re-checks and sleeps again.
void WaiterWake(Waiter* waiter);

// True once a waker has run (the owner then returns instead of sleeping).
inline bool WaiterWoken(const Waiter* waiter) {
  return waiter->woken.load(std::memory_order_acquire) == kWaiterWoken;
}

// For owners that sleep in the kernel themselves (ppoll on a doorbell): announces the sleep
// (kArmed -> kSleeping) so that wakers post. False if the waiter was woken already.
bool WaiterPrepareSleep(Waiter* waiter);

// Rings a kernel eventfd doorbell (writes 1), now or at the end of the current WakeScope,
// like a waiter's wake-up: for wait-queue entries that stand for threads asleep in the
// kernel (core/kernel_side.h).
void WaiterRingDoorbell(int doorbell);

}  // namespace uep

namespace uep {
// This thread's kernel eventfd for SleepWithMask-style sleeps (-1 if none could be made).
int WaiterDoorbell();

// Inside a WakeScope, waking a sleeping thread is deferred until the outermost scope ends,
// i.e. until the locks taken after the scope began are released: a woken thread then
// never runs into a lock its waker still holds (the kernel's wake_q). Outside any scope
// waiters are woken at once. A thread flushes its deferred wakes before it sleeps itself.
void FlushDeferredWakes();

namespace waiter_detail {
// A wake-up waiting for the end of the scope: the futex word or the doorbell to post.
struct DeferredWake {
  std::atomic<uint32_t>* word;
  int doorbell;
};
struct DeferredWakes {
  int depth = 0;
  int count = 0;
  DeferredWake wakes[16]{};
};
extern thread_local constinit DeferredWakes tls_wakes __attribute__((tls_model("initial-exec")));
}  // namespace waiter_detail

class WakeScope {
 public:
  WakeScope() { ++waiter_detail::tls_wakes.depth; }
  ~WakeScope() {
    waiter_detail::DeferredWakes& q = waiter_detail::tls_wakes;
    if (--q.depth == 0 && q.count != 0) FlushDeferredWakes();
  }
  WakeScope(const WakeScope&) = delete;
  WakeScope& operator=(const WakeScope&) = delete;
};
}  // namespace uep
