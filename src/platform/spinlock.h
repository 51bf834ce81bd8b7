// The two lock types of the core.
//
// SpinLock: where the kernel uses a spinlock (wait-queue heads, the instance's ready list,
// a file's list of watchers). Critical sections are a few dozen instructions and never
// make a system call (wake-ups are posted after unlock, see WakeScope), so unlock is a
// plain release store: the uncontended pair costs one atomic instruction, not two. A
// user-space holder can be preempted, so a waiter spins briefly, then yields, then naps.
// A test-and-set lock lets a thread that unlocks and relocks in a loop starve one that
// waits: a waiter that failed for a while marks itself the heir (kHeir), and newcomers
// leave a free lock to it (lock(); try_lock() takes any free lock); the mark is only a
// hint, so a preempted heir cannot stall them for long.
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
    uint8_t expected = 0;
    if (state_.compare_exchange_strong(expected, kLocked, std::memory_order_acquire,
                                       std::memory_order_relaxed)) [[likely]] {
      return;
    }
    LockSlow();
  }
  // Succeeds whenever the lock is free, heir or not (a signal handler's try must not fail
  // for a mark its own thread left).
  bool try_lock() {
    uint8_t v = state_.load(std::memory_order_relaxed);
    while ((v & kLocked) == 0) {
      if (state_.compare_exchange_weak(v, kLocked, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  }
  // Keeps an heir's mark (only the holder clears kLocked; a mark set in between may be
  // lost, which only costs the heir another claim).
  void unlock() {
    state_.store(state_.load(std::memory_order_relaxed) & kHeir, std::memory_order_release);
  }

 private:
  static constexpr uint8_t kLocked = 1;
  static constexpr uint8_t kHeir = 2;
  void LockSlow();
  std::atomic<uint8_t> state_{0};
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
