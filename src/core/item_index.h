// The index of an instance's items by (file, fd): the kernel's red-black tree, here a hash
// table. ctl finds items in it under ep->mtx; a MOD of a file whose Poll() takes no lock
// also finds them with no lock at all, inside an RCU read section (EventPoll::Ctl).
//
// For that reader nothing it can reach is ever freed while the instance lives, so it needs
// no grace period (and no system call) to be safe: a removed item goes to the index's free
// list and is only reused by this instance's next ADD (type-stable memory, as the kernel's
// SLAB_TYPESAFE_BY_RCU), and an outgrown table is kept until the instance goes. The reader
// may miss an item while the table grows and may find one that was removed or reused: it
// takes the locked path when it finds nothing, and checks EpItem::live and the key under
// ep->lock when it finds something.
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
  // `epi` was erased and is unlinked everywhere: kept for reuse, never freed meanwhile.
  void Recycle(EpItem* epi);
  // A recycled item (its key still readable by lock-free readers), or nullptr.
  EpItem* TakeRecycled();

  // ---- in an RCU read section, no lock ----
  [[nodiscard]] EpItem* FindRcu(const File* file, int fd) const;

 private:
  struct Table {
    size_t mask = 0;
    Table* outgrown_next = nullptr;
    std::unique_ptr<std::atomic<EpItem*>[]> slots;
  };
  static size_t Hash(const File* file, int fd);

  std::atomic<Table*> table_{nullptr};
  size_t count_ = 0;
  Table* outgrown_ = nullptr;  // earlier tables, kept for readers still on them
  EpItem* recycled_ = nullptr;  // chained through EpItem::next
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
