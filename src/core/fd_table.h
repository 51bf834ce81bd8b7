// The descriptor table: int -> File*, with the kernel's close/dup semantics.
//
// Numbering. uepoll descriptors live above every number the kernel can hand out: the
// kernel never allocates a descriptor at or above fs.nr_open (default 1,048,576, and the
// hard RLIMIT_NOFILE can never exceed it), so uepoll numbers start at
// Base() = max(2^30, nr_open) and run to Base() + Capacity() - 1. A uepoll descriptor
// costs no kernel descriptor, and any int below Base() is the kernel's. Within its range
// the table allocates the lowest free number, as the kernel does.
//
// Placeholder numbering (chosen once, before the table is first used: the preload library
// does, see src/preload/; else uep_set_numbering() or UEPOLL_NUMBERING=kernel): each uepoll descriptor holds a kernel descriptor, an O_PATH
// placeholder, and takes its number, so numbers stay as small as the kernel's would be
// (programs index arrays by descriptor) and RLIMIT_NOFILE applies as the kernel applies it.
// An O_PATH descriptor fails every read, write, poll and epoll_ctl with EBADF (POLLNVAL),
// so whatever reaches the kernel on such a number (a child after fork, an exec'd image,
// glibc's internal calls) fails loudly instead of reading or writing something else.
// Here Base() is 0 and Owns(fd) asks the slot, not the range.
//
// Fork: in the child every descriptor of the parent is forgotten (see ForgetAllInChild):
// its files live in the parent's memory, so a child's copy would silently diverge.
// vfork: a child sharing the parent's memory (core/fork.h: InForeignProcess()) must never
// change this table, which is the parent's. Callers that would change it (close, dup,
// close-on-exec: src/capi/fd.cc, the preload library's close_range) give such a child the
// kernel's call on the number instead, which acts on the child's own kernel table: with
// placeholders, on the placeholder, as the exec'd image will see it.
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
#include "platform/spinlock.h"

namespace uep {

class File;

class FdTable {
 public:
  enum class Numbering { kHigh, kPlaceholder };

  // Inline: every uep_* call resolves a descriptor through it (an out-of-line call was
  // visible in the profile of wait(0)); Create() keeps the allocation out of line.
  static FdTable& Get() {
    static FdTable* const table = Create();
    return *table;
  }
  // Chooses the numbering; only before the first Get(). Returns false if too late.
  // Without a call, the first Get() reads UEPOLL_NUMBERING (kernel: placeholders).
  static bool SetNumbering(Numbering numbering);
  [[nodiscard]] bool Placeholders() const { return placeholders_; }
  // Whether the table exists (Get() was called), without making it.
  static bool Made();

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

  // Whether `fd` is uepoll's to serve: in its range, and (placeholder numbering) open.
  [[nodiscard]] bool Owns(int fd) const {
    if (!InRange(fd)) return false;
    return !placeholders_ || SlotValue(static_cast<unsigned>(fd - base_)) != 0;
  }

  // The file behind `fd`, or nullptr. Call inside an RCU read section; the pointer is valid
  // until the section ends (FileTryGet() it to keep it longer).
  [[nodiscard]] File* Lookup(int fd) const {
    if (!InRange(fd)) return nullptr;
    return reinterpret_cast<File*>(SlotValue(static_cast<unsigned>(fd - base_)) & ~kCloexecBit);
  }

  // Installs `file` (taking over one reference) at the lowest free number >= minfd.
  // Placeholder numbering: the kernel picks the number (a new placeholder; with
  // `dup_of` >= 0, F_DUPFD of that descriptor). Returns the descriptor or -errno
  // (EMFILE, ENOMEM, or the kernel's).
  int Install(File* file, bool cloexec, int minfd = 0, int dup_of = -1);
  // Removes `fd` (and closes its placeholder); returns its file (the caller owns that
  // reference) or nullptr.
  File* Remove(int fd);
  // dup3() within the table: puts oldfd's file at newfd, returning the displaced file (or
  // nullptr) through `displaced`. Placeholder numbering: newfd may be any number the
  // kernel accepts; a kernel descriptor there is closed, as dup3 does. Returns newfd or a
  // negative errno.
  int DupTo(int oldfd, int newfd, bool cloexec, File** displaced);
  // Placeholder numbering: the kernel descriptor `kernel_fd` is dup3()ed onto `newfd`, a
  // uepoll number, whose file is returned through `displaced`. Returns newfd or -errno.
  // With `expected`, only if newfd still holds that file (-EBADF otherwise).
  int KernelDupOnto(int kernel_fd, int newfd, int flags, File** displaced,
                    const File* expected = nullptr);
  // Placeholder numbering: the kernel handed out `fd` as a new descriptor, so the
  // placeholder that held the number was closed behind the table's back (a raw system
  // call): forgets the entry without closing the number, which is no longer uepoll's.
  // Returns the dropped file (the caller owns that reference) or nullptr.
  File* ForgetStale(int fd);
  // Lowest open uepoll descriptor >= fd, or -1 (close_range, closefrom).
  int NextOpen(int fd) const;
  // In a child after fork: drops every descriptor without releasing its file (the files'
  // locks may be held by threads that do not exist here; the memory is the parent's copy).
  // Placeholders stay with the kernel, so the numbers are taken and fail with EBADF.
  void ForgetAllInChild() REQUIRES(lock_);
  // Held across fork() (pthread_atfork), so that the child's copy is consistent.
  void LockForFork() ACQUIRE(lock_) { lock_.lock(); }
  void UnlockAfterFork() RELEASE(lock_) { lock_.unlock(); }
  // F_GETFD / F_SETFD. SetCloexec in a vfork child changes only the placeholder.
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

  explicit FdTable(Numbering numbering);
  static FdTable* Create();
  [[nodiscard]] bool InRange(int fd) const {
    return fd >= base_ && static_cast<int64_t>(fd) - base_ < capacity_;
  }
  [[nodiscard]] uintptr_t SlotValue(unsigned idx) const {
    const Chunk* chunk = chunks_[idx >> kChunkShift].load(std::memory_order_acquire);
    if (chunk == nullptr) return 0;
    return chunk->slots[idx & kChunkMask].load(std::memory_order_acquire);
  }
  std::atomic<uintptr_t>* SlotLocked(unsigned idx) REQUIRES(lock_);
  int InstallPlaceholder(File* file, bool cloexec, int minfd, int dup_of);
  int AllocLocked(unsigned min_idx) REQUIRES(lock_);
  void MarkUsedLocked(unsigned idx) REQUIRES(lock_);
  void MarkFreeLocked(unsigned idx) REQUIRES(lock_);
  File* TakeSlotLocked(unsigned idx) REQUIRES(lock_);

  bool placeholders_;
  int base_;
  int capacity_;
  std::atomic<int> nofile_limit_;
  std::unique_ptr<std::atomic<Chunk*>[]> chunks_;
  mutable StdMutex lock_;
  std::vector<uint64_t> open_bits_ GUARDED_BY(lock_);  // bit per descriptor
  std::vector<uint64_t> full_bits_ GUARDED_BY(lock_); // bit per open_bits_ word that is all ones
  unsigned next_idx_ GUARDED_BY(lock_) = 0;           // no free slot below this index
  unsigned used_limit_ GUARDED_BY(lock_) = 0;  // one past the highest index ever used
  int open_count_ GUARDED_BY(lock_) = 0;
};

}  // namespace uep
