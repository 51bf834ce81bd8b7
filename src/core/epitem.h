// epitem: what an instance keeps per watched (file, fd) pair, and the hooks it hangs on the
// target's wait queues (eppoll_entry). Locking is described at the top of eventpoll.cc.
#pragma once

#include <atomic>
#include <cstdint>

#include "core/list.h"
#include "core/wait_queue.h"

namespace uep {

class EventPoll;
class File;
struct EpItem;

// eppoll_entry: one wait-queue hook of an item.
struct EpPollEntry {
  EpPollEntry* next = nullptr;      // the item's chain of hooks (ep->mtx)
  WaitQueueEntry wait;              // linked on *whead; func = EpPollCallback, private_data
                                    // = the item it belongs to
  WaitQueueHead* whead = nullptr;   // the target's queue it hangs on
};

// epitem: one watched (file, fd) pair.
struct EpItem {
  ListHead rdllink;                 // ready list or a transfer list (ep->lock / transferrer)
  // Overflow chain; kEpUnactive when off it (ep->lock). Once removed: the index's free list.
  EpItem* next;
  File* file;                       // target; no reference: release removes the item
  int fd;                           // the descriptor it was added under (part of the key)
  int16_t nwait = 0;                // hooks hung; -1 once a hook could not be allocated
  // Inserted and not removed (ep->lock): a lock-free index lookup may find an item that was
  // removed, or reused for another key (core/item_index.h).
  bool live = false;
  // Index chain: written under ep->mtx, read lock-free too (core/item_index.h).
  std::atomic<EpItem*> hash_next{nullptr};
  EpPollEntry* pwqlist = nullptr;   // hooks (ep->mtx)
  EventPoll* ep;                    // the instance that owns the item
  ListHead fllink;                  // on file->f_ep (file->f_lock)
  std::atomic<uint32_t> events;     // wanted events + private bits; written under ep->mtx
  // Every event bit `events` ever held (it only grows, at ADD and MOD, under ep->mtx and each
  // hook's queue lock): a callback whose key has none of them returns without ep->lock.
  std::atomic<uint32_t> key_hint;
  std::atomic<uint64_t> data;       // user data; written under ep->mtx
  // EventPoll::QuietStamp() when a callback left the item on the ready list with nobody to
  // wake (ep->lock); 0 once removed. While it matches, another callback would do nothing.
  std::atomic<uint64_t> quiet_stamp{0};
  // Most files have one queue: no second allocation. In use while pwqlist is not empty.
  EpPollEntry first_pwq;
};

// Sizes that matter (x86-64, measured): every watch costs one EpItem, and the first hook
// lives in it; a new field is a deliberate choice, not a side effect.
static_assert(sizeof(void*) != 8 || sizeof(EpPollEntry) == 64, "a hook is one cache line");
static_assert(sizeof(void*) != 8 || sizeof(EpItem) == 168, "EpItem grew: every watch pays");
// The quiet stamp is compared by wakers without any lock: one lock-free 64-bit word.
static_assert(sizeof(EpItem::quiet_stamp) == 8 && std::atomic<uint64_t>::is_always_lock_free,
              "the ready item's stamp must be one lock-free word");

// Sentinel for EpItem::next and EventPoll::ovflist_: "not chained" / "no transfer running".
inline EpItem* const kEpUnactive = reinterpret_cast<EpItem*>(~uintptr_t{0});

}  // namespace uep
