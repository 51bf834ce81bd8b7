// Calls that interrupt the thread's own uepoll call: signal handlers.
//
// A handler may write an eventfd or a pipe while its thread is inside uepoll, holding a
// lock the handler's call would need: waiting for it would wait for ever. The kernel meets
// the same problem with interrupts and answers it with irq_work; so does uepoll:
//
//   - Every entry point opens an ApiScope. A call that begins while the thread is already
//     inside uepoll, and that call is not asleep (see QuiescentScope), is re-entrant.
//   - A re-entrant call never waits for a lock and never sleeps. It makes its change
//     without locks where the file allows it (an eventfd's counter), or queues the whole
//     operation (a pipe or socket write); the wake-ups it owes are queued too.
//   - The interrupted call runs the queue on its way out (its ApiScope ends), or before it
//     goes to sleep, whichever comes first: the kernel's irq_work run on irq exit.
//   - A thread asleep in uepoll holds nothing (QuiescentScope): a handler that runs then
//     takes the ordinary path, so it never holds back another thread's wake-up.
//
// docs/semantics.md lists which calls are async-signal-safe and what a re-entrant call
// reports.
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "core/rcu.h"

namespace uep {

class File;

// A piece of deferred work, on the pending list of the thread whose call was interrupted.
struct DeferredWork {
  DeferredWork* next = nullptr;
  void (*run)(DeferredWork* work) = nullptr;
};

namespace reentry_detail {
// depth (uepoll calls on this thread's stack) in the low bits, and two flags of the
// innermost call: it sleeps holding no lock and no read section (quiescent), or it
// interrupted a call that was not asleep (re-entrant). One word, so that a call saves and
// restores it with one load and one store.
inline constexpr uint32_t kQuiescent = 1U << 30;
inline constexpr uint32_t kReentrant = 1U << 31;
inline constexpr uint32_t kDepthMask = kQuiescent - 1;

struct ThreadState {
  uint32_t word = 0;
  std::atomic<DeferredWork*> pending{nullptr};  // LIFO; handlers push, the frame drains
};
extern thread_local constinit ThreadState tls_state __attribute__((tls_model("initial-exec")));
void RunPending();
void EnterNested(uint32_t prev);
}  // namespace reentry_detail

// True inside a call that interrupted this thread's own uepoll call: take the lock-free or
// deferred path, never wait for a lock.
inline bool InReentrantCall() {
  return (reentry_detail::tls_state.word & reentry_detail::kReentrant) != 0;
}

// Queues `work` for the interrupted call (signal-safe: one compare-and-swap).
void DeferWork(DeferredWork* work);

// At every public entry point, before any lock, read section or allocation.
class ApiScope {
 public:
  ApiScope() {
    using namespace reentry_detail;
    saved_ = tls_state.word;
    if (saved_ == 0) [[likely]] {  // the outermost call
      if (rcu_detail::tls_reader == nullptr) [[unlikely]] RcuPrepareThread();
      tls_state.word = 1;
    } else {
      saved_reader_ = rcu_detail::tls_reader;
      EnterNested(saved_);
    }
    std::atomic_signal_fence(std::memory_order_seq_cst);
  }
  ~ApiScope() {
    using namespace reentry_detail;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    const bool reentrant = (tls_state.word & kReentrant) != 0;
    if (saved_ != 0) rcu_detail::tls_reader = saved_reader_;
    tls_state.word = saved_;
    // A re-entrant call leaves the queue to the call it interrupted, which may hold locks.
    if (!reentrant && tls_state.pending.load(std::memory_order_relaxed) != nullptr) [[unlikely]] {
      RunPending();
    }
  }
  ApiScope(const ApiScope&) = delete;
  ApiScope& operator=(const ApiScope&) = delete;

  [[nodiscard]] bool reentrant() const { return InReentrantCall(); }

 private:
  uint32_t saved_;
  RcuReader* saved_reader_ = nullptr;
};

// Around a sleep in the kernel (futex, ppoll, epoll_wait) with no lock held and outside
// any read section: runs the deferred work first, then lets handlers that run during the
// sleep take the ordinary path.
class QuiescentScope {
 public:
  QuiescentScope();
  ~QuiescentScope();
  QuiescentScope(const QuiescentScope&) = delete;
  QuiescentScope& operator=(const QuiescentScope&) = delete;

 private:
  bool active_ = false;
  int saved_wake_depth_ = 0;
};

// A file's deferred wake-up: the events to report, and whether it is queued. Embedded in
// files that re-entrant calls change without locks (eventfd). The file calls Raise() from
// the re-entrant call; the queue later calls File::DeferredWake() with the events.
class DeferredWake {
 public:
  explicit DeferredWake(File* file) : file_(file) { work_.run = &Run; }
  void Raise(uint32_t events);

 private:
  static void Run(DeferredWork* work);
  DeferredWork work_;
  File* const file_;
  std::atomic<uint32_t> events_{0};
  std::atomic<bool> queued_{false};
};

// A pipe or socket write made by a re-entrant call: copied now, written by the interrupted
// call on its way out. Returns `len` if queued, or -EAGAIN (no room on the file now, more
// than PIPE_BUF bytes, or all slots in use). The file is pinned until then.
ssize_t DeferWrite(File* file, const iovec* iov, int iovcnt, size_t len);

// close() made by a re-entrant call: the descriptor is closed on the way out.
int DeferClose(int fd);

}  // namespace uep
