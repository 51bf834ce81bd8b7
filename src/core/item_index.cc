#include "core/item_index.h"

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <new>

#include "core/rcu.h"
#include "platform/fault.h"

namespace uep {

size_t ItemIndex::Hash(const File* file, int fd) {
  auto h = reinterpret_cast<uintptr_t>(file) >> 4;
  h ^= static_cast<uintptr_t>(static_cast<unsigned>(fd)) * 0x9E3779B97F4A7C15ULL;
  return static_cast<size_t>(h ^ (h >> 29));
}

namespace {

// malloc keeps freed memory in the process unless asked: after this many items freed,
// glibc is asked to hand its free pages back (the kernel's slab shrinkers do the same).
constexpr size_t kTrimEvery = 16384;
std::atomic<size_t> freed_since_trim{0};

void CountFreed(size_t n) {
  if (n == 0 || freed_since_trim.fetch_add(n, std::memory_order_relaxed) + n < kTrimEvery) return;
  freed_since_trim.store(0, std::memory_order_relaxed);
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

void DeleteChain(EpItem* epi) {
  while (epi != nullptr) {
    EpItem* next = epi->next;
    delete epi;
    epi = next;
  }
}

}  // namespace

// The instance is deleted after a grace period (or with no reader left): nothing here can
// still be seen.
ItemIndex::~ItemIndex() {
  DeleteChain(retired_);
  DeleteChain(free_);
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
  const Table* old = table_.load(std::memory_order_relaxed);
  const size_t capacity = old == nullptr ? 0 : old->mask + 1;
  if (count_ + 1 <= capacity) return true;
  if (capacity > (SIZE_MAX >> 4) || AllocFailureInjected()) return false;
  return Resize(std::max<size_t>(kMinSlots, capacity * 2));
}

bool ItemIndex::Resize(size_t size) {
  Table* old = table_.load(std::memory_order_relaxed);
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
  }
  table_.store(grown, std::memory_order_release);
  if (old != nullptr) {
    RcuSynchronize();  // readers still on the old table
    delete old;
  }
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

void ItemIndex::Retire(EpItem* epi, bool reclaim) {
  if (free_count_ < kReclaimBatch) {
    // Kept for the next ADD, type-stable: a lock-free reader that still looks at it checks
    // EpItem::live and the key under ep->lock. No grace period on the ADD/DEL path.
    Recycle(epi);
  } else {
    epi->next = retired_;
    retired_ = epi;
    ++retired_count_;
  }
  if (!reclaim) return;
  // Shrink a table at most 1/8 full to 1/4..1/2 full (growth doubles at full).
  const Table* t = table_.load(std::memory_order_relaxed);
  if (t->mask + 1 > 4 * kMinSlots && count_ <= (t->mask + 1) / 8) {
    size_t size = kMinSlots;
    while (size < 2 * count_) size *= 2;
    Resize(size);  // keeps the old table if memory is short
  }
  if (retired_count_ >= kReclaimBatch) Reclaim();
}

void ItemIndex::Reclaim() {
  RcuSynchronize();  // the retired items are unreachable from here on
  EpItem* epi = retired_;
  retired_ = nullptr;
  retired_count_ = 0;
  size_t freed = 0;
  while (epi != nullptr) {
    EpItem* next = epi->next;
    delete epi;
    ++freed;
    epi = next;
  }
  CountFreed(freed);
}

void ItemIndex::Recycle(EpItem* epi) {
  epi->next = free_;
  free_ = epi;
  ++free_count_;
}

EpItem* ItemIndex::TakeRecycled() {
  EpItem* epi = free_;
  if (epi != nullptr) {
    free_ = epi->next;
    --free_count_;
  }
  return epi;
}

}  // namespace uep
