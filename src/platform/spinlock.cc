#include "platform/spinlock.h"

#include <sched.h>
#include <time.h>

#include "platform/cpu.h"

namespace uep {

void SpinLock::LockSlow() {
  constexpr unsigned kClaimAfter = 16;    // rounds before a waiter marks itself the heir
  constexpr unsigned kHeirPatience = 512;  // rounds before others ignore an absent heir
  bool heir = false;
  for (unsigned round = 0;; ++round) {
    uint8_t v = state_.load(std::memory_order_relaxed);
    if ((v & kLocked) == 0 && (v == 0 || heir || round >= kHeirPatience)) {
      if (state_.compare_exchange_weak(v, kLocked, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        return;
      }
      continue;
    }
    if (v == kLocked && round >= kClaimAfter &&
        state_.compare_exchange_weak(v, kLocked | kHeir, std::memory_order_relaxed)) {
      heir = true;  // claimed again if the mark was lost
    }
    if (round < 128) {
      platform::CpuRelax();
    } else if (round < 256 || heir) {
      sched_yield();
    } else {
      // The holder may be a lower-priority thread that yielding never lets run.
      const timespec nap{0, 20000};
      nanosleep(&nap, nullptr);
    }
  }
}

void Mutex::LockSlow() {
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
