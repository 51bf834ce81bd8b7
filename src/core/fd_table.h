// The descriptor table: int -> File*, with the kernel's close/dup semantics.
//
// Numbering. uepoll descriptors live above every number the kernel can hand out: the
// kernel never allocates a descriptor at or above fs.nr_open (default 1,048,576, and the
// hard RLIMIT_NOFILE can never exceed it), so uepoll numbers start at
// Base() = max(2^30, nr_open) and run to Base() + Capacity() - 1. A uepoll descriptor
// costs no kernel descriptor, and any int below Base() is the kernel's. Within its range
// the table allocates the lowest free number, as the kernel does.
//
// Lookups are lock-free: a slot is an atomic pointer read inside an RCU read section
// (core/rcu.h). Allocation, installation and closing take `lock_`.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "core/rcu.h"

namespace uep {

class File;

class FdTable {
 public:
  static FdTable& Get();

  // First uepoll descriptor number.
  [[nodiscard]] int Base() const { return base_; }
  // Most uepoll descriptors open at once (EMFILE beyond); at most kMaxCapacity.
  [[nodiscard]] int Capacity() const { return capacity_; }
  static constexpr int kMaxCapacity = 1 << 26;
  // uepoll's RLIMIT_NOFILE: descriptors are allocated at Base() + [0, NofileLimit()) only
  // (EMFILE beyond), dup2() to newfd >= Base() + NofileLimit() is EBADF. Open descriptors
  // beyond a lowered limit stay usable, as with setrlimit(). Starts at Capacity().
  [[nodiscard]] int NofileLimit() const { return nofile_limit_.load(std::memory_order_relaxed); }
  // 0 or -EINVAL (negative) / -EPERM (above Capacity(), as setrlimit() above fs.nr_open).
  int SetNofileLimit(int limit);

  [[nodiscard]] bool Owns(int fd) const {
    return fd >= base_ && static_cast<int64_t>(fd) - base_ < capacity_;
  }

  // The file behind `fd`, or nullptr. Call inside an RCU read section; the pointer is valid
  // until the section ends (FileTryGet() it to keep it longer).
  [[nodiscard]] File* Lookup(int fd) const {
    if (!Owns(fd)) return nullptr;
    const unsigned idx = static_cast<unsigned>(fd - base_);
    const Chunk* chunk = chunks_[idx >> kChunkShift].load(std::memory_order_acquire);
    if (chunk == nullptr) return nullptr;
    const uintptr_t v = chunk->slots[idx & kChunkMask].load(std::memory_order_acquire);
    return reinterpret_cast<File*>(v & ~kCloexecBit);
  }

  // Installs `file` (taking over one reference) at the lowest free number >= minfd.
  // Returns the descriptor or -EMFILE / -ENOMEM.
  int Install(File* file, bool cloexec, int minfd = 0);
  // Removes `fd`; returns its file (the caller owns that reference) or nullptr.
  File* Remove(int fd);
  // dup3() within the table: puts oldfd's file at newfd, returning the displaced file (or
  // nullptr) through `displaced`. Returns newfd or a negative errno.
  int DupTo(int oldfd, int newfd, bool cloexec, File** displaced);
  // F_GETFD / F_SETFD.
  int GetCloexec(int fd) const;
  int SetCloexec(int fd, bool cloexec);
  // How many descriptors are open (for tests and limits).
  int OpenCount() const;

 private:
  static constexpr int kChunkShift = 12;
  static constexpr unsigned kChunkMask = (1U << kChunkShift) - 1;
  static constexpr int kMaxChunks = kMaxCapacity >> kChunkShift;
  static constexpr uintptr_t kCloexecBit = 1;

  struct Chunk {
    std::atomic<uintptr_t> slots[1U << kChunkShift];
  };

  FdTable();
  std::atomic<uintptr_t>* SlotLocked(unsigned idx);
  int AllocLocked(unsigned min_idx);
  void MarkUsedLocked(unsigned idx);
  void MarkFreeLocked(unsigned idx);

  int base_;
  int capacity_;
  std::atomic<int> nofile_limit_;
  std::unique_ptr<std::atomic<Chunk*>[]> chunks_;
  mutable std::mutex lock_;
  std::vector<uint64_t> open_bits_;  // bit per descriptor, under lock_
  std::vector<uint64_t> full_bits_;  // bit per open_bits_ word that is all ones
  unsigned next_idx_ = 0;            // no free slot below this index
  int open_count_ = 0;
};

}  // namespace uep
