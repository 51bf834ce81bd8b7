#include "core/fd_table.h"

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/file.h"
#include "core/fork.h"
#include "core/rcu.h"
#include "platform/env.h"
#include "platform/fault.h"
#include "platform/kernel_fd.h"
#include "platform/sysctl.h"

namespace uep {
namespace {

long ReadNrOpen() { return platform::ReadSysctl("/proc/sys/fs/nr_open", 1L << 20); }

// UEPOLL_MAX_FDS overrides the default capacity (documented in docs/semantics.md).
int ConfiguredCapacity(long base) {
  long cap = 1L << 24;
  if (const char* env = std::getenv("UEPOLL_MAX_FDS")) {
    long v = 0;
    if (!platform::ParseEnvNumber(env, 1, &v)) {
      platform::ReportIgnoredEnv("UEPOLL_MAX_FDS", env,
                                 "is not a positive number: ignored (default 2^24)");
    } else {
      if (v > FdTable::kMaxCapacity) {
        platform::ReportIgnoredEnv("UEPOLL_MAX_FDS", env, "is above the ceiling: 2^26 used");
      }
      cap = v;
    }
  }
  cap = std::min<long>(cap, FdTable::kMaxCapacity);
  return static_cast<int>(std::min<long>(cap, INT_MAX - base));
}

std::atomic<FdTable::Numbering> requested_numbering{FdTable::Numbering::kHigh};
std::atomic<bool> numbering_requested{false};
std::atomic<bool> table_made{false};

// UEPOLL_NUMBERING=kernel|high (docs/compatibility.md): for programs that cannot call
// SetNumbering (compat.h). Anything else is the default, high.
FdTable::Numbering NumberingFromEnvironment() {
  const char* env = std::getenv("UEPOLL_NUMBERING");
  if (env != nullptr && std::strcmp(env, "kernel") == 0) return FdTable::Numbering::kPlaceholder;
  if (env != nullptr && std::strcmp(env, "high") != 0) {
    platform::ReportIgnoredEnv("UEPOLL_NUMBERING", env, "is neither kernel nor high: high used");
  }
  return FdTable::Numbering::kHigh;
}

std::atomic<bool> table_creating{false};
bool held_for_fork = false;  // under the table lock

// Fork (core/fork.h): the table lock is held across fork so the child's copy is whole; the
// child forgets every descriptor. A table still being made is waited for. No analysis in
// the three: the lock is held only if the table existed (held_for_fork).
void PrepareFork() NO_THREAD_SAFETY_ANALYSIS {
  if (!table_creating.load(std::memory_order_acquire)) return;
  FdTable::Get().LockForFork();
  held_for_fork = true;
}
void ParentAfterFork() NO_THREAD_SAFETY_ANALYSIS {
  if (!held_for_fork) return;
  held_for_fork = false;
  FdTable::Get().UnlockAfterFork();
}
void ChildAfterFork() NO_THREAD_SAFETY_ANALYSIS {
  if (!held_for_fork) return;
  held_for_fork = false;
  FdTable::Get().ForgetAllInChild();
  FdTable::Get().UnlockAfterFork();
}

[[maybe_unused]] const bool fork_registered =
    (RegisterForkHandlers(ForkOrder::kFdTable, {PrepareFork, ParentAfterFork, ChildAfterFork}),
     true);

}  // namespace

bool FdTable::SetNumbering(Numbering numbering) {
  if (table_made.load(std::memory_order_acquire)) return false;
  requested_numbering.store(numbering, std::memory_order_relaxed);
  numbering_requested.store(true, std::memory_order_relaxed);
  return !table_made.load(std::memory_order_acquire);
}

bool FdTable::Made() { return table_made.load(std::memory_order_acquire); }

FdTable* FdTable::Create() {
  table_creating.store(true, std::memory_order_release);
  // Never destroyed: lookups may run during exit.
  // A call (the preload library's, uep_set_numbering) wins over the environment.
  auto* t = new FdTable(numbering_requested.load(std::memory_order_relaxed)
                            ? requested_numbering.load(std::memory_order_relaxed)
                            : NumberingFromEnvironment());
  table_made.store(true, std::memory_order_release);
  return t;
}

// Placeholder numbering: numbers are the kernel's, which stay below fs.nr_open.
FdTable::FdTable(Numbering numbering)
    : placeholders_(numbering == Numbering::kPlaceholder),
      base_(placeholders_ ? 0
                          : static_cast<int>(std::max<long>(
                                1L << 30, std::min<long>(ReadNrOpen(), INT_MAX / 2)))),
      capacity_(placeholders_ ? static_cast<int>(std::min<long>(ReadNrOpen(), kMaxCapacity))
                              : ConfiguredCapacity(base_)),
      nofile_limit_(capacity_),
      chunks_(new std::atomic<Chunk*>[kMaxChunks]) {
  for (int i = 0; i < kMaxChunks; ++i) chunks_[i].store(nullptr, std::memory_order_relaxed);
  if (placeholders_) kernel::internal_fds_high.store(true, std::memory_order_relaxed);
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
  if (idx >= used_limit_) used_limit_ = idx + 1;
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

int FdTable::InstallPlaceholder(File* file, bool cloexec, int minfd, int dup_of) {
  const int fd = kernel::OpenPlaceholder(cloexec, minfd, dup_of);
  if (fd < 0) return -errno;
  std::unique_lock guard(lock_);
  std::atomic<uintptr_t>* slot = fd < capacity_ ? SlotLocked(static_cast<unsigned>(fd)) : nullptr;
  if (slot == nullptr) {
    kernel::Close(fd);
    return fd < capacity_ ? -ENOMEM : -EMFILE;
  }
  // The kernel handed out a number the table still holds: that entry's placeholder was
  // closed behind its back (ForgetStale); the new file replaces it.
  const uintptr_t stale = slot->exchange(reinterpret_cast<uintptr_t>(file) | (cloexec ? kCloexecBit : 0),
                                         std::memory_order_acq_rel);
  if (stale == 0) MarkUsedLocked(static_cast<unsigned>(fd));
  guard.unlock();
  if (stale != 0) FilePut(reinterpret_cast<File*>(stale & ~kCloexecBit));
  return fd;
}

int FdTable::Install(File* file, bool cloexec, int minfd, int dup_of) {
  if (placeholders_) return InstallPlaceholder(file, cloexec, minfd, dup_of);
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

// Empties the slot; its file, or null when it was empty.
File* FdTable::TakeSlotLocked(unsigned idx) {
  Chunk* chunk = chunks_[idx >> kChunkShift].load(std::memory_order_relaxed);
  if (chunk == nullptr) return nullptr;
  const uintptr_t v = chunk->slots[idx & kChunkMask].exchange(0, std::memory_order_acq_rel);
  if (v == 0) return nullptr;
  MarkFreeLocked(idx);
  return reinterpret_cast<File*>(v & ~kCloexecBit);
}

File* FdTable::Remove(int fd) {
  if (!Owns(fd)) return nullptr;
  std::lock_guard guard(lock_);
  File* file = TakeSlotLocked(static_cast<unsigned>(fd - base_));
  // Under the lock: the number must not be reused (dup2 onto it) before it is closed.
  if (file != nullptr && placeholders_) kernel::Close(fd);
  return file;
}

int FdTable::DupTo(int oldfd, int newfd, bool cloexec, File** displaced) {
  *displaced = nullptr;
  if (!InRange(newfd)) return -EBADF;
  const unsigned nidx = static_cast<unsigned>(newfd - base_);
  if (nidx >= static_cast<unsigned>(NofileLimit())) return -EBADF;
  std::lock_guard guard(lock_);
  File* file = Lookup(oldfd);
  if (file == nullptr) return -EBADF;
  std::atomic<uintptr_t>* slot = SlotLocked(nidx);
  if (slot == nullptr) return -ENOMEM;
  // The kernel's dup3 of the placeholder checks newfd against RLIMIT_NOFILE and closes a
  // kernel descriptor that sat there.
  if (placeholders_ && kernel::Dup3(oldfd, newfd, cloexec ? O_CLOEXEC : 0) < 0) return -errno;
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

int FdTable::KernelDupOnto(int kernel_fd, int newfd, int flags, File** displaced,
                           const File* expected) {
  *displaced = nullptr;
  if (!placeholders_ || !Owns(newfd)) return -EBADF;
  const unsigned idx = static_cast<unsigned>(newfd);
  std::lock_guard guard(lock_);
  if (expected != nullptr && Lookup(newfd) != expected) return -EBADF;
  if (kernel::Dup3(kernel_fd, newfd, flags) < 0) return -errno;
  std::atomic<uintptr_t>* slot = SlotLocked(idx);
  const uintptr_t old = slot->exchange(0, std::memory_order_acq_rel);
  if (old != 0) {
    MarkFreeLocked(idx);
    *displaced = reinterpret_cast<File*>(old & ~kCloexecBit);
  }
  return newfd;
}

File* FdTable::ForgetStale(int fd) {
  if (!placeholders_ || !Owns(fd)) return nullptr;
  std::lock_guard guard(lock_);
  return TakeSlotLocked(static_cast<unsigned>(fd));
}

int FdTable::NextOpen(int fd) const {
  int64_t idx = std::max<int64_t>(0, static_cast<int64_t>(fd) - base_);
  std::lock_guard guard(lock_);
  for (; idx < capacity_; idx = (idx | 63) + 1) {
    const uint64_t bits = open_bits_[static_cast<size_t>(idx) / 64] >> (idx % 64);
    if (bits != 0) return base_ + static_cast<int>(idx + __builtin_ctzll(bits));
  }
  return -1;
}

// Touches only the part of the bitmaps ever used: after fork the first touch of each page
// faults, and the bitmaps are 2 MiB at the default capacity (clearing them all made each
// fork ~20 ms slower on a 2-vCPU VM, scanning them all ~5 ms).
void FdTable::ForgetAllInChild() {
  const size_t used_words = (static_cast<size_t>(used_limit_) + 63) / 64;
  for (size_t w = 0; w < used_words; ++w) {
    for (uint64_t bits = open_bits_[w]; bits != 0; bits &= bits - 1) {
      const unsigned idx = static_cast<unsigned>(w * 64 + __builtin_ctzll(bits));
      chunks_[idx >> kChunkShift].load(std::memory_order_relaxed)->slots[idx & kChunkMask].store(
          0, std::memory_order_relaxed);
    }
    if (open_bits_[w] != 0) open_bits_[w] = 0;
  }
  for (size_t w = 0; w < (used_words + 63) / 64; ++w) full_bits_[w] = 0;
  next_idx_ = 0;
  open_count_ = 0;
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
  if (InForeignProcess()) {
    if (!placeholders_) return -EBADF;  // the kernel's answer for that number
    return kernel::Fcntl(fd, F_SETFD, cloexec ? FD_CLOEXEC : 0) < 0 ? -errno : 0;
  }
  const unsigned idx = static_cast<unsigned>(fd - base_);
  std::lock_guard guard(lock_);
  Chunk* chunk = chunks_[idx >> kChunkShift].load(std::memory_order_relaxed);
  if (chunk == nullptr) return -EBADF;
  std::atomic<uintptr_t>& slot = chunk->slots[idx & kChunkMask];
  const uintptr_t v = slot.load(std::memory_order_relaxed);
  if (v == 0) return -EBADF;
  // The placeholder follows, so that an exec'd image finds the number taken (and failing
  // with EBADF) rather than free for an unrelated file.
  if (placeholders_) kernel::Fcntl(fd, F_SETFD, cloexec ? FD_CLOEXEC : 0);
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
