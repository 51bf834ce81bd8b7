// SpinLock: the lock the kernel would make a spinlock (wait-queue heads, the instance's
// ready list, a file's list of watchers). In user space the holder can be preempted, so it
// spins only briefly and then sleeps on a futex instead of burning the other core.
#pragma once

#include <atomic>
#include <cstdint>

#include "platform/futex.h"

namespace uep {

class SpinLock {
 public:
  void lock() {
    uint32_t expected = kUnlocked;
    if (state_.compare_exchange_strong(expected, kLocked, std::memory_order_acquire,
                                       std::memory_order_relaxed)) [[likely]] {
      return;
    }
    LockSlow();
  }

  bool try_lock() {
    uint32_t expected = kUnlocked;
    return state_.compare_exchange_strong(expected, kLocked, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }

  void unlock() {
    if (state_.exchange(kUnlocked, std::memory_order_release) == kContended) [[unlikely]] {
      platform::FutexWake(&state_, 1);
    }
  }

 private:
  static constexpr uint32_t kUnlocked = 0;
  static constexpr uint32_t kLocked = 1;
  static constexpr uint32_t kContended = 2;

  void LockSlow();

  std::atomic<uint32_t> state_{kUnlocked};
};

// The kernel's mutex also spins while the owner runs before it sleeps; in user space the
// same algorithm serves both roles, so ep->mtx is this lock under its kernel name.
using Mutex = SpinLock;

}  // namespace uep
