// The two lock types of the core.
//
// SpinLock: where the kernel uses a spinlock (wait-queue heads, the instance's ready list,
// a file's list of watchers). Critical sections are a few dozen instructions and never
// make a system call (wake-ups are posted after unlock, see WakeScope), so unlock is a
// plain release store: the uncontended pair costs one atomic instruction, not two. A
// user-space holder can be preempted, so a waiter spins briefly, then yields, then naps.
//
// Mutex: where the kernel uses a mutex (ep->mtx), held across longer work; spins briefly,
// then sleeps on a futex and is woken by unlock.
#pragma once

#include <atomic>
#include <cstdint>

#include "platform/futex.h"

namespace uep {

class SpinLock {
 public:
  void lock() {
    if (!locked_.exchange(true, std::memory_order_acquire)) [[likely]] return;
    LockSlow();
  }
  bool try_lock() { return !locked_.exchange(true, std::memory_order_acquire); }
  void unlock() { locked_.store(false, std::memory_order_release); }

 private:
  void LockSlow();
  std::atomic<bool> locked_{false};
};

class Mutex {
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

}  // namespace uep
