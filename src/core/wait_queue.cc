#include "core/wait_queue.h"

#include <mutex>

#include "core/trace.h"

namespace uep {

void AddWaitQueue(WaitQueueHead* wq_head, WaitQueueEntry* wait) {
  std::lock_guard guard(wq_head->lock);
  AddWaitQueueLocked(wq_head, wait);
}

void AddWaitQueueExclusive(WaitQueueHead* wq_head, WaitQueueEntry* wait) {
  std::lock_guard guard(wq_head->lock);
  AddWaitQueueExclusiveLocked(wq_head, wait);
}

void RemoveWaitQueue(WaitQueueHead* wq_head, WaitQueueEntry* wait) {
  std::lock_guard guard(wq_head->lock);
  if (wq_head->quiet.load(std::memory_order_relaxed) == wait) {
    wq_head->quiet.store(nullptr, std::memory_order_seq_cst);
  }
  wait->entry.DelInit();
}

void WakeUpLocked(WaitQueueHead* wq_head, int nr_exclusive, uint32_t key, int sync) {
  UEP_TRACE(kWake, nullptr, wq_head, nullptr, nullptr, key, static_cast<uint32_t>(nr_exclusive));
  ListHead* head = &wq_head->head;
  // The function may unlink its own entry (autoremove), so fetch `next` first.
  for (ListHead *pos = head->next(), *next = pos->next(); pos != head; pos = next, next = pos->next()) {
    WaitQueueEntry* curr = UEP_CONTAINER_OF(pos, WaitQueueEntry, entry);
    const unsigned flags = curr->flags;
    const int ret = curr->func(curr, 0, sync, key);
    if (ret < 0) break;
    if (ret != 0 && (flags & kWqFlagExclusive) != 0 && --nr_exclusive == 0) break;
  }
}

void WakeUpPoll(WaitQueueHead* wq_head, uint32_t key) {
  std::lock_guard guard(wq_head->lock);
  WakeUpLocked(wq_head, 1, key);
}

}  // namespace uep
