#include "core/waiter.h"

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <mutex>
#include <optional>
#include <vector>

#include "core/fork.h"
#include "core/reentry.h"
#include "core/timer_service.h"
#include "core/trace.h"
#include "platform/clock.h"
#include "platform/cpu.h"
#include "platform/futex.h"
#include "platform/thread.h"
#include "platform/kernel_fd.h"  // raw system calls: the preload library defines read, write ...
#include "platform/kernel_wait.h"
#include "platform/spinlock.h"

namespace uep {

constinit thread_local waiter_detail::DeferredWakes waiter_detail::tls_wakes
    __attribute__((tls_model("initial-exec")));

namespace {

using waiter_detail::DeferredWakes;
using waiter_detail::tls_wakes;

void RingOrPost(std::atomic<uint32_t>* word, int doorbell) {
  if (doorbell >= 0) {
    platform::RingDoorbell(doorbell);
  } else {
    platform::FutexWake(word, 1);
  }
}

// Wakes the thread sleeping on `word` (or ringing its doorbell), now or at the end of the
// current WakeScope.
void PostWake(std::atomic<uint32_t>* word, int doorbell) {
  DeferredWakes& q = tls_wakes;
  // A re-entrant call must not touch the queue of the call it interrupted.
  if (q.depth > 0 && !InReentrantCall() && q.count < static_cast<int>(std::size(q.wakes))) {
    q.wakes[q.count++] = {word, doorbell};
  } else {
    RingOrPost(word, doorbell);
  }
}

int WaiterWakeFunction(WaitQueueEntry* wait, unsigned /*mode*/, int /*sync*/, uint32_t key) {
  auto* waiter = static_cast<Waiter*>(wait->private_data);
  UEP_TRACE(kWaiterWoken, waiter, nullptr, nullptr, nullptr, key, 0);
  const int doorbell = waiter->doorbell;
  wait->entry.DelInit();
  // After this swap the waiter may return and its memory go; only the system call below
  // follows, and a stray futex wake or doorbell ring is harmless (sleepers re-check).
  if (waiter->woken.exchange(kWaiterWoken, std::memory_order_acq_rel) == kWaiterSleeping) {
    PostWake(&waiter->woken, doorbell);
  }
  return 1;
}

// Doorbells are never closed, only recycled between threads, so a late ring from a
// waker can never land in an unrelated file that reused the number.
StdMutex doorbell_lock;
std::vector<int> doorbell_pool GUARDED_BY(doorbell_lock);

// The thread's doorbell: a plain thread_local, which a fork handler can read without
// constructing anything; DoorbellOwner only returns it to the pool when the thread exits.
constinit thread_local int tls_doorbell_fd = -1;
struct DoorbellOwner {
  ~DoorbellOwner() {
    if (tls_doorbell_fd < 0) return;
    std::lock_guard guard(doorbell_lock);
    doorbell_pool.push_back(tls_doorbell_fd);
    tls_doorbell_fd = -1;
  }
};
thread_local DoorbellOwner tls_doorbell_owner;

// Fork (core/fork.h): the child's doorbells are the parent's open eventfds, shared with it
// (a ring or a drain in one would reach the other), so the child closes those it can reach,
// the pool and the forking thread's own, and makes new ones on demand.
void DoorbellChildAfterFork() RELEASE(doorbell_lock) {
  for (const int fd : doorbell_pool) kernel::Close(fd);
  doorbell_pool.clear();
  if (tls_doorbell_fd >= 0) kernel::Close(tls_doorbell_fd);
  tls_doorbell_fd = -1;
  doorbell_lock.unlock();
}
[[maybe_unused]] const bool fork_registered =
    (RegisterForkHandlers(ForkOrder::kDoorbells, {[]() ACQUIRE(doorbell_lock) { doorbell_lock.lock(); },
                                                  []() RELEASE(doorbell_lock) { doorbell_lock.unlock(); },
                                                  DoorbellChildAfterFork}),
     true);

int ThreadDoorbell() {
  if (tls_doorbell_fd >= 0) return tls_doorbell_fd;
  [[maybe_unused]] DoorbellOwner& owner = tls_doorbell_owner;  // returns it at thread exit
  {
    std::lock_guard guard(doorbell_lock);
    if (!doorbell_pool.empty()) {
      tls_doorbell_fd = doorbell_pool.back();
      doorbell_pool.pop_back();
      return tls_doorbell_fd;
    }
  }
  tls_doorbell_fd = platform::MakeDoorbell();
  return tls_doorbell_fd;
}

int SleepWithMask(Waiter* waiter, const timespec& deadline, const sigset_t* sigmask) {
  if (!WaiterPrepareSleep(waiter)) return 0;
  for (;;) {
    if (WaiterWoken(waiter)) return 0;
    timespec left{};
    const timespec* tmo = nullptr;
    if (!platform::IsNever(deadline)) {
      left = platform::Remaining(deadline);
      tmo = &left;
    }
    const int r = platform::PollReadable(waiter->doorbell, tmo, sigmask);
    if (r > 0) {
      platform::DrainDoorbell(waiter->doorbell);
      continue;
    }
    if (WaiterWoken(waiter)) return 0;
    if (r == 0) return -ETIMEDOUT;
    if (errno == EINTR) return -EINTR;
  }
}

constexpr int kTimerFired = 1;
// A thread whose slack is larger sleeps with it (and may be that late).
constexpr int64_t kMaxSpunSlack = 100000;

int64_t ToNs(const timespec& ts) {
  if (ts.tv_sec >= kKtimeMax / 1000000000 - 1) return kKtimeMax;  // kNever included
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// The waiter sleeps (announced: kSleeping) until it is woken, `deadline`, or the expiry of
// the earliest timer, which wakes what it sleeps on; at the expiry it fires the due timers
// itself. Returns what FutexWaitUntil returns, or kTimerFired with the waiter re-armed
// (kArmed, or kWoken if the fire woke it).
int SleepAsTimerDelegate(Waiter* waiter, const timespec& deadline,
                         std::optional<QuiescentScope>* quiescent) {
  TimerService& service = TimerService::Get();
  const void* tag = waiter->timer_tag;
  const int64_t expires = service.BeginDelegate(tag);
  if (expires == kKtimeMax) return platform::FutexWaitUntil(&waiter->woken, kWaiterSleeping, deadline);
  if (ToNs(deadline) <= expires) {  // our own deadline comes first: not the timer's business
    service.EndDelegate(tag, expires);
    return platform::FutexWaitUntil(&waiter->woken, kWaiterSleeping, deadline);
  }
  int r = -ETIMEDOUT;
  // The kernel's hrtimer fires at the expiry; a futex sleep ends up to the thread's timer
  // slack late, so it ends that much early and spins the rest (changing the slack would
  // cost a system call on the way out).
  const int64_t slack = platform::ThreadTimerSlackNs();
  const int64_t wake_at = expires - std::min<int64_t>(slack, kMaxSpunSlack);
  if (wake_at > ToNs(platform::MonotonicNow())) {
    const timespec until{static_cast<time_t>(wake_at / 1000000000),
                         static_cast<long>(wake_at % 1000000000)};
    r = platform::FutexWaitUntil(&waiter->woken, kWaiterSleeping, until);
  }
  while (r == -ETIMEDOUT && !WaiterWoken(waiter) && ToNs(platform::MonotonicNow()) < expires) {
    platform::CpuRelax();
  }
  if (r != -ETIMEDOUT || WaiterWoken(waiter)) {
    service.EndDelegate(tag, expires);
    return r;
  }
  // Take the announcement back first: the fire's wake-up of this waiter is then no system
  // call. A waker that came first left kWoken, and the swap fails.
  uint32_t expected = kWaiterSleeping;
  const bool rearmed = waiter->woken.compare_exchange_strong(
      expected, kWaiterArmed, std::memory_order_acq_rel, std::memory_order_acquire);
  // The fire takes locks: a signal handler that runs meanwhile must not take the ordinary
  // path (core/reentry.h), so the thread is no longer quiescent until it sleeps again.
  quiescent->reset();
  service.FireDue();  // before EndDelegate: the service then finds nothing to take back
  service.EndDelegate(tag, expires);
  FlushDeferredWakes();
  quiescent->emplace();
  return rearmed ? kTimerFired : 0;
}

}  // namespace

void FlushDeferredWakes() {
  DeferredWakes& q = tls_wakes;
  for (int i = 0; i < q.count; ++i) RingOrPost(q.wakes[i].word, q.wakes[i].doorbell);
  q.count = 0;
}

Waiter::Waiter() {
  wait.func = WaiterWakeFunction;
  wait.private_data = this;
}

int WaiterSleep(Waiter* waiter, const timespec& deadline, SleepKind kind,
                const sigset_t* sigmask, int spin) {
  UEP_TRACE(kSleep, waiter, nullptr, nullptr, nullptr, static_cast<uint32_t>(spin), sigmask != nullptr ? 1U : 0U);
  FlushDeferredWakes();
  // Nothing is held: a signal handler may take the ordinary path.
  std::optional<QuiescentScope> quiescent(std::in_place);
  for (int i = 0; i < spin; ++i) {
    if (WaiterWoken(waiter)) return 0;
    platform::CpuRelax();
  }
  if (sigmask != nullptr) return SleepWithMask(waiter, deadline, sigmask);
  if (!WaiterPrepareSleep(waiter)) return 0;
  for (;;) {
    int r = 0;
    // A timed futex sleep returns EINTR after an SA_RESTART handler: only interruptible
    // sleeps stand in for the timer service.
    if (kind == SleepKind::kInterruptible && TimerService::MayDelegate(waiter->timer_tag) &&
        !InReentrantCall()) {
      r = SleepAsTimerDelegate(waiter, deadline, &quiescent);
      if (r == kTimerFired) {
        if (WaiterWoken(waiter) || !WaiterPrepareSleep(waiter)) return 0;
        continue;
      }
    } else if (kind == SleepKind::kRestartable && platform::IsNever(deadline)) {
      r = platform::FutexWaitRestartable(&waiter->woken, kWaiterSleeping);
    } else {
      r = platform::FutexWaitUntil(&waiter->woken, kWaiterSleeping, deadline);
    }
    if (WaiterWoken(waiter)) return 0;
    if (r != 0) return r;  // -ETIMEDOUT or -EINTR; the word stays kSleeping until re-armed
  }
}

bool WaiterPrepareSleep(Waiter* waiter) {
  uint32_t expected = kWaiterArmed;
  if (waiter->woken.compare_exchange_strong(expected, kWaiterSleeping, std::memory_order_acq_rel,
                                            std::memory_order_acquire)) {
    return true;
  }
  return expected == kWaiterSleeping;  // announced by an earlier sleep that timed out
}

void WaiterWake(Waiter* waiter) {
  const int doorbell = waiter->doorbell;
  // kWoken: already woken and not yet re-armed, that wake-up is on its way; kArmed: the
  // owner is awake and will see kWoken before it sleeps.
  if (waiter->woken.exchange(kWaiterWoken, std::memory_order_acq_rel) != kWaiterSleeping) return;
  PostWake(&waiter->woken, doorbell);
}

void WaiterRingDoorbell(int doorbell) { PostWake(nullptr, doorbell); }

// Used by the eventpoll code to give a waiter a doorbell before it sleeps with a mask.
int WaiterDoorbell() { return ThreadDoorbell(); }

}  // namespace uep
