// The index of an instance's items by (file, fd): the kernel's red-black tree, here a hash
// table. ctl finds items in it under ep->mtx; a MOD of a file whose Poll() takes no lock
// also finds them with no lock at all, inside an RCU read section
// (EventPoll::TryCtlLockless).
//
// For that reader nothing it can reach is freed before a grace period. A removed item is
// kept for this instance's next ADD (type-stable memory, as the kernel's
// SLAB_TYPESAFE_BY_RCU: up to kReclaimBatch of them, so that ADD and DEL make no system
// call), or retired and freed after a grace period (RcuSynchronize, one for a batch of
// kReclaimBatch items); a table the index outgrew or shrank from is freed after one. The
// reader may miss an item while the table is resized and may find one that was removed or
// reused: it takes the locked path when it finds nothing, and checks EpItem::live and the
// key under ep->lock when it finds something.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>

#include "core/epitem.h"

namespace uep {

class ItemIndex {
 public:
  ItemIndex() = default;
  ~ItemIndex();  // frees the tables and the free items; live items are the owner's
  ItemIndex(const ItemIndex&) = delete;
  ItemIndex& operator=(const ItemIndex&) = delete;

  // ---- ep->mtx held ----
  [[nodiscard]] EpItem* Find(const File* file, int fd) const;
  // Room for one more item; false if the table could not grow (ENOMEM).
  bool ReserveOne();
  // Publishes `epi` with its key; everything written to it before is visible to readers.
  void Insert(EpItem* epi, File* file, int fd);
  void Erase(EpItem* epi);
  [[nodiscard]] size_t size() const { return count_; }
  // Calls fn(item) for each item while it returns true; fn must not change the index.
  template <class Fn>
  void ForEach(Fn fn) const;
  // The first item at or after the slot *cursor (advanced past empty slots), or nullptr:
  // removing each item found walks the index once.
  [[nodiscard]] EpItem* Next(size_t* cursor) const;
  // `epi` was erased and is unlinked everywhere: kept for reuse, or freed after a grace
  // period. `reclaim`: run one now if a batch is complete, and shrink an emptied table;
  // false while the instance itself is being released (its destructor frees the rest).
  void Retire(EpItem* epi, bool reclaim);
  // `epi` came from TakeRecycled() or new and was never published: reusable at once.
  void Recycle(EpItem* epi);
  // A kept item (its key still readable by lock-free readers), or nullptr.
  EpItem* TakeRecycled();

  // ---- in an RCU read section, no lock ----
  [[nodiscard]] EpItem* FindRcu(const File* file, int fd) const;

 private:
  struct Table {
    size_t mask = 0;
    std::unique_ptr<std::atomic<EpItem*>[]> slots;
  };
  static size_t Hash(const File* file, int fd);
  // Moves every item to a table of `size` slots, publishes it and frees the old one after a
  // grace period; false if it could not be allocated.
  bool Resize(size_t size);
  // One grace period, then the retired items are freed.
  void Reclaim();

  static constexpr size_t kReclaimBatch = 128;
  static constexpr size_t kMinSlots = 16;

  std::atomic<Table*> table_{nullptr};
  size_t count_ = 0;
  EpItem* retired_ = nullptr;  // removed, maybe still seen by a reader; chained by `next`
  size_t retired_count_ = 0;
  EpItem* free_ = nullptr;     // removed or never published: reusable; chained by `next`
  size_t free_count_ = 0;
};

template <class Fn>
void ItemIndex::ForEach(Fn fn) const {
  const Table* t = table_.load(std::memory_order_relaxed);
  if (t == nullptr) return;
  for (size_t i = 0; i <= t->mask; ++i) {
    for (EpItem* epi = t->slots[i].load(std::memory_order_relaxed); epi != nullptr;
         epi = epi->hash_next.load(std::memory_order_relaxed)) {
      if (!fn(epi)) return;
    }
  }
}

}  // namespace uep
