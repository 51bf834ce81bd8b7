// Kernel readiness through shared memory: an io_uring whose multishot polls watch kernel
// epoll instances, so that "may one have events?" is a few plain loads, no system call.
//
// One ring per thread, made at its first use and closed only when the thread exits. Two
// kernel behaviours decide this:
// - A ring posts a completion through task work of the thread that armed the poll. Set up
//   by default, that interrupts the thread (its next sleep, epoll_wait included, ends in a
//   spurious EINTR). IORING_SETUP_DEFER_TASKRUN (Linux 6.1) never interrupts it: an event
//   only sets IORING_SQ_TASKRUN in the ring's flags at once (Signalled() reads it), and the
//   completion is posted when the thread that set the ring up (the issuer,
//   IORING_SETUP_SINGLE_ISSUER) calls Reset(). So only the issuer can consume a signal.
// - Closing a ring sends task work to every thread that submitted to it: the same spurious
//   EINTR, whenever the close happens. So a ring is never closed while its thread runs;
//   a watch that is no longer wanted is cancelled instead.
//
// Without liburing at build time, or where the ring cannot be set up (older kernels,
// kernel.io_uring_disabled, seccomp), the mode is kSyscall and ForThisThread() returns
// nullptr.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "platform/spinlock.h"

namespace uep::platform {

enum class KernelReadiness { kUring, kSyscall };

// Chosen once per process, at the first call (which sets up the calling thread's ring to
// find out): UEPOLL_KERNEL_READINESS=uring|syscall forces one (uring falls back to syscall
// where a ring cannot be set up); the default is uring where it works.
KernelReadiness KernelReadinessMode();
const char* KernelReadinessName(KernelReadiness mode);

class ReadinessRing {
 public:
  // Called by Reset() for each completion: the watch `token` saw an event, or its poll
  // ended and was armed again (ended: the caller must ask, an event may be hidden there).
  using Sink = void (*)(uint64_t token, bool ended);

  // The calling thread's ring, set up on first use; nullptr if none can be had. In a fork
  // child, the first call abandons the parent's ring (never used there) for a new one.
  static ReadinessRing* ForThisThread();

  // A watched descriptor may have become readable since the last Reset() (plain loads).
  [[nodiscard]] bool Signalled() const {
    constexpr unsigned kTaskrun = 1U << 2;     // IORING_SQ_TASKRUN
    constexpr unsigned kCqOverflow = 1U << 1;  // IORING_SQ_CQ_OVERFLOW
    return (__atomic_load_n(kflags_, __ATOMIC_ACQUIRE) & (kTaskrun | kCqOverflow)) != 0 ||
           __atomic_load_n(cq_tail_, __ATOMIC_ACQUIRE) !=
               __atomic_load_n(cq_head_, __ATOMIC_RELAXED) ||
           cancels_pending_.load(std::memory_order_relaxed) ||
           broken_.load(std::memory_order_relaxed);
  }
  // The issuer still runs in this process (it alone can reset and arm the ring).
  [[nodiscard]] bool IssuerAlive() const;
  // IssuerAlive() given the current process generation (the hot path's form).
  [[nodiscard]] bool IssuerAliveIn(uint32_t generation) const {
    return generation_ == generation && issuer_alive_->load(std::memory_order_acquire);
  }
  [[nodiscard]] bool CalledByIssuer() const;

  // Issuer only. Arms a multishot poll (POLLIN) on `fd` for `token`. False on failure.
  bool Watch(uint64_t token, int fd);
  // Issuer only. Runs the ring's pending work, consumes its completions (a drained
  // overflow included), passes each to `sink`, re-arms polls that ended and cancels the
  // watches Unwatch() asked for. A poll that cannot be armed again is retried at the next
  // Reset(), the ring saying "signalled" meanwhile. False if the ring can no longer be
  // trusted (out of memory).
  bool Reset(Sink sink);
  // Issuer only: `token` is watched.
  [[nodiscard]] bool Watching(uint64_t token) const { return watches_.count(token) != 0; }
  // Any thread: the watch `token` is no longer wanted; its poll is cancelled by the
  // issuer's next Reset() (until then the watched file stays open in the kernel).
  void Unwatch(uint64_t token);

  // A ring lives while its thread runs and while instances hold it (Hold / Release).
  void Hold() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Release();
  [[nodiscard]] uint32_t generation() const { return generation_; }

  ~ReadinessRing();
  ReadinessRing(const ReadinessRing&) = delete;
  ReadinessRing& operator=(const ReadinessRing&) = delete;

 private:
  ReadinessRing() = default;
  bool Arm(uint64_t token, int fd);
  struct Impl;
  Impl* impl_ = nullptr;
  // The ring's shared words (set up once; the kernel writes the flags and the tail).
  const unsigned* kflags_ = nullptr;
  const unsigned* cq_tail_ = nullptr;
  const unsigned* cq_head_ = nullptr;
  std::shared_ptr<std::atomic<bool>> issuer_alive_;
  uint32_t generation_ = 0;  // the process generation it was made in
  std::unordered_map<uint64_t, int> watches_;  // token -> fd (issuer only)
  StdMutex cancel_mu_;
  std::vector<uint64_t> cancels_ GUARDED_BY(cancel_mu_);
  std::atomic<bool> cancels_pending_{false};
  // Watches whose poll ended and could not be armed again (issuer only): retried at each
  // Reset(); meanwhile the ring always says "signalled", so nothing is missed.
  std::vector<uint64_t> unarmed_;
  std::atomic<bool> broken_{false};
  std::atomic<int> refs_{1};  // the thread's own

  friend struct RingOwner;
};

// Called in every fork child (kernel/kernel_side.cc registers it): a ring made in another
// process is never used there.
void ReadinessRingsAfterFork();
// The process generation (bumped by ReadinessRingsAfterFork()).
inline std::atomic<uint32_t> process_generation{0};
inline uint32_t ProcessGeneration() { return process_generation.load(std::memory_order_relaxed); }

}  // namespace uep::platform
