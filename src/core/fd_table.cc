#include "core/fd_table.h"

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <new>

#include "core/file.h"
#include "platform/fault.h"

namespace uep {
namespace {

long ReadNrOpen() {
  long nr_open = 1L << 20;
  if (FILE* f = std::fopen("/proc/sys/fs/nr_open", "re")) {
    if (std::fscanf(f, "%ld", &nr_open) != 1) nr_open = 1L << 20;
    std::fclose(f);
  }
  return nr_open;
}

// UEPOLL_MAX_FDS overrides the default capacity (documented in docs/semantics.md).
int ConfiguredCapacity(long base) {
  long cap = 1L << 24;
  if (const char* env = std::getenv("UEPOLL_MAX_FDS")) {
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    if (end != env && v > 0) cap = v;
  }
  cap = std::min<long>(cap, FdTable::kMaxCapacity);
  return static_cast<int>(std::min<long>(cap, INT_MAX - base));
}

}  // namespace

FdTable& FdTable::Get() {
  static FdTable* table = new FdTable;  // never destroyed: lookups may run during exit
  return *table;
}

FdTable::FdTable()
    : base_(static_cast<int>(std::max<long>(1L << 30, std::min<long>(ReadNrOpen(), INT_MAX / 2)))),
      capacity_(ConfiguredCapacity(base_)),
      nofile_limit_(capacity_),
      chunks_(new std::atomic<Chunk*>[kMaxChunks]) {
  for (int i = 0; i < kMaxChunks; ++i) chunks_[i].store(nullptr, std::memory_order_relaxed);
  open_bits_.assign((static_cast<size_t>(capacity_) + 63) / 64, 0);
  full_bits_.assign((open_bits_.size() + 63) / 64, 0);
}

std::atomic<uintptr_t>* FdTable::SlotLocked(unsigned idx) {
  std::atomic<Chunk*>& ref = chunks_[idx >> kChunkShift];
  Chunk* chunk = ref.load(std::memory_order_relaxed);
  if (chunk == nullptr) {
    chunk = TryNew<Chunk>();
    if (chunk == nullptr) return nullptr;
    for (auto& s : chunk->slots) s.store(0, std::memory_order_relaxed);
    ref.store(chunk, std::memory_order_release);
  }
  return &chunk->slots[idx & kChunkMask];
}

void FdTable::MarkUsedLocked(unsigned idx) {
  uint64_t& word = open_bits_[idx / 64];
  word |= 1ULL << (idx % 64);
  if (word == ~0ULL) full_bits_[idx / 4096] |= 1ULL << ((idx / 64) % 64);
  ++open_count_;
}

void FdTable::MarkFreeLocked(unsigned idx) {
  open_bits_[idx / 64] &= ~(1ULL << (idx % 64));
  full_bits_[idx / 4096] &= ~(1ULL << ((idx / 64) % 64));
  if (idx < next_idx_) next_idx_ = idx;
  --open_count_;
}

// Lowest free index >= min_idx (find_next_fd(): full_bits_ lets the scan skip full words).
int FdTable::AllocLocked(unsigned min_idx) {
  const size_t nwords = open_bits_.size();
  const size_t first = min_idx / 64;
  for (size_t w = first; w < nwords; ++w) {
    if (w != first) {
      if (w % 64 == 0 && full_bits_[w / 64] == ~0ULL) {
        w += 63;
        continue;
      }
      if ((full_bits_[w / 64] >> (w % 64) & 1) != 0) continue;
    }
    uint64_t bits = open_bits_[w];
    if (w == first) bits |= (1ULL << (min_idx % 64)) - 1;
    if (bits != ~0ULL) {
      const unsigned idx = static_cast<unsigned>(w * 64 + __builtin_ctzll(~bits));
      if (idx >= static_cast<unsigned>(NofileLimit())) return -EMFILE;
      return static_cast<int>(idx);
    }
  }
  return -EMFILE;
}

int FdTable::Install(File* file, bool cloexec, int minfd) {
  unsigned min_idx = 0;
  if (minfd > base_) min_idx = static_cast<unsigned>(minfd - base_);
  std::lock_guard guard(lock_);
  const unsigned start = std::max(min_idx, next_idx_);
  const int idx = AllocLocked(start);
  if (idx < 0) return idx;
  std::atomic<uintptr_t>* slot = SlotLocked(static_cast<unsigned>(idx));
  if (slot == nullptr) return -ENOMEM;
  MarkUsedLocked(static_cast<unsigned>(idx));
  if (min_idx <= next_idx_) next_idx_ = static_cast<unsigned>(idx) + 1;
  slot->store(reinterpret_cast<uintptr_t>(file) | (cloexec ? kCloexecBit : 0),
              std::memory_order_release);
  return base_ + idx;
}

File* FdTable::Remove(int fd) {
  if (!Owns(fd)) return nullptr;
  const unsigned idx = static_cast<unsigned>(fd - base_);
  std::lock_guard guard(lock_);
  Chunk* chunk = chunks_[idx >> kChunkShift].load(std::memory_order_relaxed);
  if (chunk == nullptr) return nullptr;
  const uintptr_t v = chunk->slots[idx & kChunkMask].exchange(0, std::memory_order_acq_rel);
  if (v == 0) return nullptr;
  MarkFreeLocked(idx);
  return reinterpret_cast<File*>(v & ~kCloexecBit);
}

int FdTable::DupTo(int oldfd, int newfd, bool cloexec, File** displaced) {
  *displaced = nullptr;
  if (!Owns(newfd)) return -EBADF;
  const unsigned nidx = static_cast<unsigned>(newfd - base_);
  if (nidx >= static_cast<unsigned>(NofileLimit())) return -EBADF;
  std::lock_guard guard(lock_);
  File* file = Lookup(oldfd);
  if (file == nullptr) return -EBADF;
  std::atomic<uintptr_t>* slot = SlotLocked(nidx);
  if (slot == nullptr) return -ENOMEM;
  FileGet(file);
  const uintptr_t old = slot->exchange(reinterpret_cast<uintptr_t>(file) | (cloexec ? kCloexecBit : 0),
                                       std::memory_order_acq_rel);
  if (old == 0) {
    MarkUsedLocked(nidx);
    if (nidx == next_idx_) next_idx_ = nidx + 1;
  } else {
    *displaced = reinterpret_cast<File*>(old & ~kCloexecBit);
  }
  return newfd;
}

int FdTable::GetCloexec(int fd) const {
  if (!Owns(fd)) return -EBADF;
  const unsigned idx = static_cast<unsigned>(fd - base_);
  const Chunk* chunk = chunks_[idx >> kChunkShift].load(std::memory_order_acquire);
  if (chunk == nullptr) return -EBADF;
  const uintptr_t v = chunk->slots[idx & kChunkMask].load(std::memory_order_acquire);
  if (v == 0) return -EBADF;
  return (v & kCloexecBit) != 0 ? 1 : 0;
}

int FdTable::SetCloexec(int fd, bool cloexec) {
  if (!Owns(fd)) return -EBADF;
  const unsigned idx = static_cast<unsigned>(fd - base_);
  std::lock_guard guard(lock_);
  Chunk* chunk = chunks_[idx >> kChunkShift].load(std::memory_order_relaxed);
  if (chunk == nullptr) return -EBADF;
  std::atomic<uintptr_t>& slot = chunk->slots[idx & kChunkMask];
  const uintptr_t v = slot.load(std::memory_order_relaxed);
  if (v == 0) return -EBADF;
  slot.store((v & ~kCloexecBit) | (cloexec ? kCloexecBit : 0), std::memory_order_release);
  return 0;
}

int FdTable::SetNofileLimit(int limit) {
  if (limit < 0) return -EINVAL;
  if (limit > capacity_) return -EPERM;
  nofile_limit_.store(limit, std::memory_order_relaxed);
  return 0;
}

int FdTable::OpenCount() const {
  std::lock_guard guard(lock_);
  return open_count_;
}

}  // namespace uep
