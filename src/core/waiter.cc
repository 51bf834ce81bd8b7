#include "core/waiter.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <iterator>
#include <mutex>
#include <vector>

#include "core/fork.h"
#include "core/reentry.h"
#include "core/trace.h"
#include "platform/clock.h"
#include "platform/cpu.h"
#include "platform/futex.h"
#include "platform/kernel_fd.h"  // raw system calls: the preload library defines read, write ...
#include "platform/spinlock.h"

namespace uep {

constinit thread_local waiter_detail::DeferredWakes waiter_detail::tls_wakes
    __attribute__((tls_model("initial-exec")));

namespace {

using waiter_detail::DeferredWakes;
using waiter_detail::tls_wakes;

void RingOrPost(std::atomic<uint32_t>* word, int doorbell) {
  if (doorbell >= 0) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = kernel::Write(doorbell, &one, sizeof one);
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
  tls_doorbell_fd = kernel::Eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  return tls_doorbell_fd;
}

int SleepWithMask(Waiter* waiter, const timespec& deadline, const sigset_t* sigmask) {
  if (!WaiterPrepareSleep(waiter)) return 0;
  for (;;) {
    if (WaiterWoken(waiter)) return 0;
    pollfd pfd{waiter->doorbell, POLLIN, 0};
    timespec left{};
    const timespec* tmo = nullptr;
    if (!platform::IsNever(deadline)) {
      left = platform::Remaining(deadline);
      tmo = &left;
    }
    const int r = static_cast<int>(syscall(SYS_ppoll, &pfd, 1, tmo, sigmask, _NSIG / 8));
    if (r > 0) {
      uint64_t drained = 0;
      [[maybe_unused]] ssize_t n = kernel::Read(waiter->doorbell, &drained, sizeof drained);
      continue;
    }
    if (WaiterWoken(waiter)) return 0;
    if (r == 0) return -ETIMEDOUT;
    if (errno == EINTR) return -EINTR;
  }
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
  QuiescentScope quiescent;  // nothing is held: a signal handler may take the ordinary path
  for (int i = 0; i < spin; ++i) {
    if (WaiterWoken(waiter)) return 0;
    platform::CpuRelax();
  }
  if (sigmask != nullptr) return SleepWithMask(waiter, deadline, sigmask);
  if (!WaiterPrepareSleep(waiter)) return 0;
  for (;;) {
    int r = 0;
    if (kind == SleepKind::kRestartable && platform::IsNever(deadline)) {
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
