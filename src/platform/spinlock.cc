#include "platform/spinlock.h"

#include "platform/cpu.h"

namespace uep {

void SpinLock::LockSlow() {
  for (int spin = 0; spin < 128; ++spin) {
    platform::CpuRelax();
    uint32_t expected = kUnlocked;
    if (state_.load(std::memory_order_relaxed) == kUnlocked &&
        state_.compare_exchange_weak(expected, kLocked, std::memory_order_acquire,
                                     std::memory_order_relaxed)) {
      return;
    }
  }
  // Mark contended so the holder's unlock wakes us; every acquirer from here on keeps the
  // mark, which costs at most one spare wake-up.
  while (state_.exchange(kContended, std::memory_order_acquire) != kUnlocked) {
    platform::FutexWaitRestartable(&state_, kContended);
  }
}

}  // namespace uep
