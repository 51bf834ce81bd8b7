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
//
// StdMutex: a std::mutex the thread-safety analysis knows (global and per-object locks
// held across system calls: epmutex, the kernel side's locks, the doorbell lock ...).
//
// All three are capabilities (platform/thread_safety.h), and std::lock_guard and
// std::unique_lock of them are specialised below as scoped capabilities, so that the
// ordinary guards are checked with no change at their call sites.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <utility>

#include "platform/futex.h"
#include "platform/thread_safety.h"

namespace uep {

class CAPABILITY("mutex") SpinLock {
 public:
  void lock() ACQUIRE() {
    uint8_t expected = 0;
    if (state_.compare_exchange_strong(expected, kLocked, std::memory_order_acquire,
                                       std::memory_order_relaxed)) [[likely]] {
      return;
    }
    LockSlow();
  }
  // Succeeds whenever the lock is free, heir or not (a signal handler's try must not fail
  // for a mark its own thread left).
  bool try_lock() TRY_ACQUIRE(true) {
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
  void unlock() RELEASE() {
    state_.store(state_.load(std::memory_order_relaxed) & kHeir, std::memory_order_release);
  }
  // Tells the analysis the caller holds the lock (no check at run time): for code that
  // runs under a lock another frame took (a wait-queue function, a fork handler).
  void AssertHeld() const ASSERT_CAPABILITY(this) {}

 private:
  static constexpr uint8_t kLocked = 1;
  static constexpr uint8_t kHeir = 2;
  void LockSlow();
  std::atomic<uint8_t> state_{0};
};

class CAPABILITY("mutex") Mutex {
 public:
  void lock() ACQUIRE() {
    uint32_t expected = kUnlocked;
    if (state_.compare_exchange_strong(expected, kLocked, std::memory_order_acquire,
                                       std::memory_order_relaxed)) [[likely]] {
      return;
    }
    LockSlow();
  }

  bool try_lock() TRY_ACQUIRE(true) {
    uint32_t expected = kUnlocked;
    return state_.compare_exchange_strong(expected, kLocked, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }

  void unlock() RELEASE() {
    if (state_.exchange(kUnlocked, std::memory_order_release) == kContended) [[unlikely]] {
      platform::FutexWake(&state_, 1);
    }
  }
  void AssertHeld() const ASSERT_CAPABILITY(this) {}

 private:
  static constexpr uint32_t kUnlocked = 0;
  static constexpr uint32_t kLocked = 1;
  static constexpr uint32_t kContended = 2;

  void LockSlow();

  std::atomic<uint32_t> state_{kUnlocked};
};

class CAPABILITY("mutex") StdMutex {
 public:
  void lock() ACQUIRE() { mu_.lock(); }
  bool try_lock() TRY_ACQUIRE(true) { return mu_.try_lock(); }
  void unlock() RELEASE() { mu_.unlock(); }
  void AssertHeld() const ASSERT_CAPABILITY(this) {}

 private:
  std::mutex mu_;
};

template <class L>
inline constexpr bool kAnnotatedLock = false;
template <>
inline constexpr bool kAnnotatedLock<SpinLock> = true;
template <>
inline constexpr bool kAnnotatedLock<Mutex> = true;
template <>
inline constexpr bool kAnnotatedLock<StdMutex> = true;

}  // namespace uep

namespace std {

// The standard guards over the library's locks, as scoped capabilities: same interface
// and behaviour as the primary templates.
template <class L>
  requires uep::kAnnotatedLock<L>
class SCOPED_CAPABILITY lock_guard<L> {
 public:
  using mutex_type = L;
  explicit lock_guard(L& m) ACQUIRE(m) : m_(m) { m_.lock(); }
  lock_guard(L& m, adopt_lock_t) REQUIRES(m) : m_(m) {}
  ~lock_guard() RELEASE() { m_.unlock(); }
  lock_guard(const lock_guard&) = delete;
  lock_guard& operator=(const lock_guard&) = delete;

 private:
  L& m_;
};

// Moves, a default-constructed guard and try_to_lock are beyond the analysis: a function
// using them says NO_THREAD_SAFETY_ANALYSIS.
template <class L>
  requires uep::kAnnotatedLock<L>
class SCOPED_CAPABILITY unique_lock<L> {
 public:
  using mutex_type = L;
  unique_lock() noexcept = default;
  explicit unique_lock(L& m) ACQUIRE(m) : m_(&m), owns_(true) { m.lock(); }
  unique_lock(L& m, defer_lock_t) noexcept EXCLUDES(m) : m_(&m) {}
  unique_lock(L& m, try_to_lock_t) : m_(&m), owns_(m.try_lock()) {}
  unique_lock(L& m, adopt_lock_t) REQUIRES(m) : m_(&m), owns_(true) {}
  ~unique_lock() RELEASE() {
    if (owns_) m_->unlock();
  }
  unique_lock(const unique_lock&) = delete;
  unique_lock& operator=(const unique_lock&) = delete;
  unique_lock(unique_lock&& o) noexcept
      : m_(std::exchange(o.m_, nullptr)), owns_(std::exchange(o.owns_, false)) {}
  unique_lock& operator=(unique_lock&& o) noexcept NO_THREAD_SAFETY_ANALYSIS {
    if (owns_) m_->unlock();
    m_ = std::exchange(o.m_, nullptr);
    owns_ = std::exchange(o.owns_, false);
    return *this;
  }

  void lock() ACQUIRE() {
    m_->lock();
    owns_ = true;
  }
  bool try_lock() TRY_ACQUIRE(true) {
    owns_ = m_->try_lock();
    return owns_;
  }
  void unlock() RELEASE() {
    m_->unlock();
    owns_ = false;
  }
  void swap(unique_lock& o) noexcept {
    std::swap(m_, o.m_);
    std::swap(owns_, o.owns_);
  }
  L* release() noexcept {
    owns_ = false;
    return std::exchange(m_, nullptr);
  }
  [[nodiscard]] bool owns_lock() const noexcept { return owns_; }
  explicit operator bool() const noexcept { return owns_; }
  [[nodiscard]] L* mutex() const noexcept { return m_; }

 private:
  L* m_ = nullptr;
  bool owns_ = false;
};

}  // namespace std
