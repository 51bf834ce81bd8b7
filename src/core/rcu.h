// Read-side critical sections for descriptor lookups, as the kernel's fdget() relies on RCU.
//
// A thread inside RcuReadLock()/RcuReadUnlock() may use a File* it looked up without
// holding a reference: the file is not released until every section that could have seen
// it has ended (RcuSynchronize). The read side is two plain stores to a thread-local
// record, no atomic read-modify-write; the write side pays with one membarrier(2) when
// other threads exist. Sections must not sleep for long (a blocking operation first takes a
// real reference and leaves the section) and must never drop a file's last reference.
#pragma once

#include <atomic>
#include <cstdint>

namespace uep {

struct RcuReader {
  std::atomic<uint64_t> seq{0};  // odd while inside a section
  uint32_t nesting = 0;          // owner thread only
  bool in_use = false;           // under the registry lock
  RcuReader* next = nullptr;     // registry chain, never unlinked
};

namespace rcu_detail {
extern thread_local constinit RcuReader* tls_reader __attribute__((tls_model("initial-exec")));
// The record of calls that interrupt this thread's own uepoll call (core/reentry.h): the
// interrupted call may be half-way through a store to its record.
extern thread_local constinit RcuReader* tls_signal_reader __attribute__((tls_model("initial-exec")));
extern bool use_fence;  // no membarrier(2): readers pay a full fence instead
RcuReader* RegisterReader();
}  // namespace rcu_detail

inline void RcuReadLock() {
  RcuReader* r = rcu_detail::tls_reader;
  if (r == nullptr) [[unlikely]] r = rcu_detail::RegisterReader();
  if (r->nesting++ == 0) {
    r->seq.store(r->seq.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    // Orders the store above before the section's loads: a full fence, or, with
    // membarrier, only the compiler's (the writer's membarrier supplies the rest).
    if (rcu_detail::use_fence) {
      std::atomic_thread_fence(std::memory_order_seq_cst);
    } else {
      std::atomic_signal_fence(std::memory_order_seq_cst);
    }
  }
}

inline void RcuReadUnlock() {
  RcuReader* r = rcu_detail::tls_reader;
  if (--r->nesting == 0) {
    r->seq.store(r->seq.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }
}

// Registers the calling thread's records (with signals blocked, so that a handler never
// finds them half made). RcuReadLock() does it too, on first use.
void RcuPrepareThread();

// Waits until every section that began before the call has ended. Must be called outside
// any section. Sections never wait for a mutex, so it may be called holding one.
void RcuSynchronize();

// call_rcu(): what a callback needs, embedded in the object it frees.
struct RcuHead {
  RcuHead* next = nullptr;
  void (*func)(RcuHead*) = nullptr;
};

// call_rcu(): runs func(head) once every section that began before the call has ended,
// without waiting for them; at once when no other thread has a reader record. Callbacks
// are batched: the caller that queues the kRcuBatch-th one runs one grace period
// (RcuSynchronize) for the whole batch and then the callbacks, on its own thread, outside
// any section; fewer wait for the next batch or RcuBarrier() (the exit of the process runs
// one). The queue is lock-free; a fork child keeps it. No lock may be held, no section
// entered, when calling it.
void RcuCall(RcuHead* head, void (*func)(RcuHead*));
inline constexpr long kRcuBatch = 128;

// rcu_barrier(): runs every callback queued so far (after a grace period). Outside any
// section, no lock held.
void RcuBarrier();

// In a child after fork (a core/fork.h handler): only the calling thread exists, so every
// other reader record is free (a section it was inside will never end) and membarrier is
// registered again.
void RcuAfterForkInChild();

// True when the caller is inside a section (for assertions).
inline bool RcuInReadSection() {
  return rcu_detail::tls_reader != nullptr && rcu_detail::tls_reader->nesting != 0;
}

class RcuReadGuard {
 public:
  RcuReadGuard() { RcuReadLock(); }
  ~RcuReadGuard() {
    if (held_) RcuReadUnlock();
  }
  RcuReadGuard(const RcuReadGuard&) = delete;
  RcuReadGuard& operator=(const RcuReadGuard&) = delete;
  void Unlock() {
    RcuReadUnlock();
    held_ = false;
  }

 private:
  bool held_ = true;
};

}  // namespace uep
