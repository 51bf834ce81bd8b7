// Wait queues: the source of all asynchrony in the seed's story. Whoever cannot proceed
// queues an entry on a head; whoever makes progress walks the head and calls each entry's
// function with a key saying what happened. epoll's callback is one such function, a
// sleeping thread's wake-up is another.
#pragma once

#include <atomic>
#include <cstdint>

#include "core/list.h"
#include "platform/spinlock.h"

namespace uep {

struct WaitQueueEntry;

// Called with the head's lock held; must neither block nor allocate. Returns non-zero
// when the entry accepted the wake-up (counts against nr_exclusive for exclusive entries).
using WaitQueueFunc = int (*)(WaitQueueEntry* wait, unsigned mode, int sync, uint32_t key);

inline constexpr unsigned kWqFlagExclusive = 0x01;

struct WaitQueueEntry {
  unsigned flags = 0;           // kWqFlagExclusive
  WaitQueueFunc func = nullptr;
  void* private_data = nullptr;  // owner (a waiter, an eppoll entry's item ...)
  ListHead entry;                // on WaitQueueHead::head, under its lock
  // Optional: true if a wake-up with `key` would find nothing to do for this entry now.
  // Asked without the head's lock, inside an RCU read section (WakeUpIsQuiet).
  bool (*quiet)(const WaitQueueEntry* wait, uint32_t key) = nullptr;
};

// Embedded in every hook and every sleeping thread's waiter (x86-64, measured).
static_assert(sizeof(void*) != 8 || sizeof(WaitQueueEntry) == 48, "WaitQueueEntry grew");

struct WaitQueueHead {
  SpinLock lock;
  ListHead head GUARDED_BY(lock);  // non-exclusive entries first, exclusive ones at the tail (an epoll
                  // instance's own queue holds only exclusive sleepers, newest first)

  // The only entry of the queue, which found nothing to do at its last wake-up and can
  // tell without the lock whether that still holds (WaitQueueEntry::quiet); else null.
  // Set by that entry's function under `lock`; cleared by every add and removal.
  std::atomic<WaitQueueEntry*> quiet{nullptr};
  // Entries added so far (written under `lock`): a stamp for entries' quiet checks.
  std::atomic<uint32_t> adds{0};

  // True if someone is queued. Only exact under `lock`; a hint otherwise.
  // No analysis: read without the lock by design (a hint).
  [[nodiscard]] bool Active() const NO_THREAD_SAFETY_ANALYSIS { return !head.Empty(); }
  // Every add: the quiet entry may no longer be alone. seq_cst, so that a waker that
  // changed the state and then read `quiet` either sees null or the adder, which looks at
  // the state after this, sees the change.
  void NoteAddLocked() REQUIRES(lock) {
    adds.store(adds.load(std::memory_order_relaxed) + 1, std::memory_order_seq_cst);
    quiet.store(nullptr, std::memory_order_seq_cst);
  }
};

// add_wait_queue / add_wait_queue_exclusive / remove_wait_queue, taking the head's lock.
void AddWaitQueue(WaitQueueHead* wq_head, WaitQueueEntry* wait);
void AddWaitQueueExclusive(WaitQueueHead* wq_head, WaitQueueEntry* wait);
void RemoveWaitQueue(WaitQueueHead* wq_head, WaitQueueEntry* wait);

// The same with the lock already held.
inline void AddWaitQueueLocked(WaitQueueHead* wq_head, WaitQueueEntry* wait)
    REQUIRES(wq_head->lock) {
  wq_head->NoteAddLocked();
  wait->flags &= ~kWqFlagExclusive;
  wq_head->head.AddHead(&wait->entry);
}
// __add_wait_queue_entry_tail(): a non-exclusive entry behind the others (blocking I/O).
inline void AddWaitQueueTailLocked(WaitQueueHead* wq_head, WaitQueueEntry* wait)
    REQUIRES(wq_head->lock) {
  wq_head->NoteAddLocked();
  wait->flags &= ~kWqFlagExclusive;
  wq_head->head.AddTail(&wait->entry);
}
inline void AddWaitQueueExclusiveLocked(WaitQueueHead* wq_head, WaitQueueEntry* wait)
    REQUIRES(wq_head->lock) {
  wq_head->NoteAddLocked();
  wait->flags |= kWqFlagExclusive;
  wq_head->head.AddTail(&wait->entry);
}
// __add_wait_queue_exclusive(): an exclusive entry at the head. epoll_wait() queues its
// sleepers so, making the newest sleeper the first woken (LIFO, as the kernel's ep_poll()).
inline void AddWaitQueueExclusiveHeadLocked(WaitQueueHead* wq_head, WaitQueueEntry* wait)
    REQUIRES(wq_head->lock) {
  wq_head->NoteAddLocked();
  wait->flags |= kWqFlagExclusive;
  wq_head->head.AddHead(&wait->entry);
}

// __wake_up_common: calls every non-exclusive entry and stops after `nr_exclusive`
// exclusive entries accepted (0 wakes all). The lock must be held.
void WakeUpLocked(WaitQueueHead* wq_head, int nr_exclusive, uint32_t key, int sync = 0)
    REQUIRES(wq_head->lock);

// wake_up_poll(): takes the lock and wakes with nr_exclusive = 1.
void WakeUpPoll(WaitQueueHead* wq_head, uint32_t key);

// True if a wake-up of `wq_head` with `key` may be skipped: its only entry said it would
// do nothing, and still says so. Call after the state change (a seq_cst read-modify-write),
// inside an RCU read section, without the lock; on false, wake as usual.
inline bool WakeUpIsQuiet(WaitQueueHead* wq_head, uint32_t key) {
  WaitQueueEntry* wait = wq_head->quiet.load(std::memory_order_seq_cst);
  return wait != nullptr && wait->quiet(wait, key) &&
         wq_head->quiet.load(std::memory_order_seq_cst) == wait;
}

}  // namespace uep
