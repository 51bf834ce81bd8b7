// Allocation failure injection, for the fault tests (tests/fault/).
//
// Every allocation uepoll makes on behalf of a call goes through TryNew/TryNewArray/
// TryMalloc (or asks AllocFailureInjected() before growing a container), which return
// nullptr when the allocation fails, for real or by injection. A test arms a countdown on
// its own thread: FailNthAllocation(n) makes the n-th allocation site that thread reaches
// fail, once. Other threads are never affected.
//
// Built with UEPOLL_FAULT_INJECTION=0 every check is the constant false. Built with it on,
// a site costs one relaxed load of a global flag and a branch that is not taken unless a
// test armed a countdown (docs/testing.md has the measurement).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>
#include <utility>

#ifndef UEPOLL_FAULT_INJECTION
#define UEPOLL_FAULT_INJECTION 0
#endif

namespace uep {

#if UEPOLL_FAULT_INJECTION
namespace fault {
inline std::atomic<int> armed_threads{0};  // threads with a countdown running
inline thread_local long countdown = 0;    // 0: off; else allocation sites left until one fails

[[gnu::noinline]] inline bool Countdown() {
  if (countdown == 0 || --countdown != 0) return false;
  armed_threads.fetch_sub(1, std::memory_order_relaxed);
  return true;
}
}  // namespace fault

// True if the allocation about to be made must fail (an armed countdown reached zero).
inline bool AllocFailureInjected() {
  if (__builtin_expect(fault::armed_threads.load(std::memory_order_relaxed) == 0, 1)) return false;
  return fault::Countdown();
}

// Arms (n > 0) or disarms (n == 0) this thread's countdown.
inline void FailNthAllocation(long n) {
  if (fault::countdown != 0) fault::armed_threads.fetch_sub(1, std::memory_order_relaxed);
  fault::countdown = n;
  if (n != 0) fault::armed_threads.fetch_add(1, std::memory_order_relaxed);
}

// Allocation sites this thread still has to pass before the armed one fails; 0 once it
// failed (or when none was armed).
inline long AllocationsUntilFailure() { return fault::countdown; }
#else
constexpr bool AllocFailureInjected() { return false; }
#endif

// new (std::nothrow) T(args...) that an armed countdown can fail.
template <typename T, typename... Args>
T* TryNew(Args&&... args) {
  if (AllocFailureInjected()) return nullptr;
  return new (std::nothrow) T(std::forward<Args>(args)...);
}

// new (std::nothrow) T[n] that an armed countdown can fail.
template <typename T>
T* TryNewArray(size_t n) {
  if (AllocFailureInjected()) return nullptr;
  return new (std::nothrow) T[n];
}

// std::malloc that an armed countdown can fail.
inline void* TryMalloc(size_t size) {
  if (AllocFailureInjected()) return nullptr;
  return std::malloc(size);
}

}  // namespace uep
