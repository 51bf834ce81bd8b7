#include "core/item_index.h"

#include <algorithm>
#include <new>

#include "platform/fault.h"

namespace uep {

size_t ItemIndex::Hash(const File* file, int fd) {
  auto h = reinterpret_cast<uintptr_t>(file) >> 4;
  h ^= static_cast<uintptr_t>(static_cast<unsigned>(fd)) * 0x9E3779B97F4A7C15ULL;
  return static_cast<size_t>(h ^ (h >> 29));
}

ItemIndex::~ItemIndex() {
  while (EpItem* epi = TakeRecycled()) delete epi;
  while (Table* t = outgrown_) {
    outgrown_ = t->outgrown_next;
    delete t;
  }
  delete table_.load(std::memory_order_relaxed);
}

EpItem* ItemIndex::Find(const File* file, int fd) const {
  const Table* t = table_.load(std::memory_order_relaxed);
  if (t == nullptr) return nullptr;
  for (EpItem* epi = t->slots[Hash(file, fd) & t->mask].load(std::memory_order_relaxed);
       epi != nullptr; epi = epi->hash_next.load(std::memory_order_relaxed)) {
    if (epi->file == file && epi->fd == fd) return epi;
  }
  return nullptr;
}

EpItem* ItemIndex::FindRcu(const File* file, int fd) const {
  const Table* t = table_.load(std::memory_order_acquire);
  if (t == nullptr) return nullptr;
  // A chain being rehashed can lead into another chain, never around a cycle; the bound
  // only keeps a reader that races with many growths short (it then takes the lock).
  int steps = 64;
  for (EpItem* epi = t->slots[Hash(file, fd) & t->mask].load(std::memory_order_acquire);
       epi != nullptr && steps-- > 0; epi = epi->hash_next.load(std::memory_order_acquire)) {
    // The key of an item being reused is rewritten meanwhile: read it atomically.
    if (std::atomic_ref(epi->file).load(std::memory_order_relaxed) == file &&
        std::atomic_ref(epi->fd).load(std::memory_order_relaxed) == fd) {
      return epi;
    }
  }
  return nullptr;
}

bool ItemIndex::ReserveOne() {
  Table* old = table_.load(std::memory_order_relaxed);
  const size_t capacity = old == nullptr ? 0 : old->mask + 1;
  if (count_ + 1 <= capacity) return true;
  if (capacity > (SIZE_MAX >> 4) || AllocFailureInjected()) return false;
  const size_t size = std::max<size_t>(16, capacity * 2);
  auto* grown = new (std::nothrow) Table;
  if (grown == nullptr) return false;
  grown->mask = size - 1;
  grown->slots.reset(new (std::nothrow) std::atomic<EpItem*>[size]);
  if (grown->slots == nullptr) {
    delete grown;
    return false;
  }
  for (size_t i = 0; i < size; ++i) grown->slots[i].store(nullptr, std::memory_order_relaxed);
  // Items move one by one, each pushed onto its new chain (release: a reader that reaches
  // it sees its fields); a reader on an old chain may be led into a new one and miss its
  // item, which sends it to the locked path.
  if (old != nullptr) {
    for (size_t i = 0; i <= old->mask; ++i) {
      EpItem* epi = old->slots[i].load(std::memory_order_relaxed);
      while (epi != nullptr) {
        EpItem* next = epi->hash_next.load(std::memory_order_relaxed);
        std::atomic<EpItem*>& slot = grown->slots[Hash(epi->file, epi->fd) & grown->mask];
        epi->hash_next.store(slot.load(std::memory_order_relaxed), std::memory_order_release);
        slot.store(epi, std::memory_order_release);
        epi = next;
      }
    }
    old->outgrown_next = outgrown_;
    outgrown_ = old;
  }
  table_.store(grown, std::memory_order_release);
  return true;
}

void ItemIndex::Insert(EpItem* epi, File* file, int fd) {
  std::atomic_ref(epi->file).store(file, std::memory_order_relaxed);
  std::atomic_ref(epi->fd).store(fd, std::memory_order_relaxed);
  Table* t = table_.load(std::memory_order_relaxed);
  std::atomic<EpItem*>& slot = t->slots[Hash(file, fd) & t->mask];
  epi->hash_next.store(slot.load(std::memory_order_relaxed), std::memory_order_relaxed);
  slot.store(epi, std::memory_order_release);  // publishes the item's fields
  ++count_;
}

void ItemIndex::Erase(EpItem* epi) {
  Table* t = table_.load(std::memory_order_relaxed);
  std::atomic<EpItem*>* link = &t->slots[Hash(epi->file, epi->fd) & t->mask];
  while (link->load(std::memory_order_relaxed) != epi) {
    link = &link->load(std::memory_order_relaxed)->hash_next;
  }
  // epi keeps its hash_next: a reader standing on it walks on.
  link->store(epi->hash_next.load(std::memory_order_relaxed), std::memory_order_release);
  --count_;
}

EpItem* ItemIndex::Next(size_t* cursor) const {
  const Table* t = table_.load(std::memory_order_relaxed);
  if (t == nullptr) return nullptr;
  for (; *cursor <= t->mask; ++*cursor) {
    if (EpItem* epi = t->slots[*cursor].load(std::memory_order_relaxed)) return epi;
  }
  return nullptr;
}

void ItemIndex::Recycle(EpItem* epi) {
  epi->next = recycled_;
  recycled_ = epi;
}

EpItem* ItemIndex::TakeRecycled() {
  EpItem* epi = recycled_;
  if (epi != nullptr) recycled_ = epi->next;
  return epi;
}

}  // namespace uep
