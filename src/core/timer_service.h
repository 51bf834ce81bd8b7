// The timer service: every armed uepoll timer, in one min-heap per clock base, fired by a
// single thread (the kernel's hrtimer base and its interrupt). The thread sleeps on a futex
// with an absolute CLOCK_MONOTONIC deadline, the earliest expiry over all bases, with a
// timer slack of 1 ns; it neither ticks nor polls. Arming a timer that is due before the
// thread's deadline wakes it (one futex wake); arming a later one costs no system call.
// The thread is started by the first Arm() (again in a fork child) and runs for the life of
// the process, with every signal blocked.
//
// Expiries are kept on their own clock. The thread converts them to CLOCK_MONOTONIC when
// it goes to sleep, as the kernel programs its clock event device; a discontinuous change
// of CLOCK_REALTIME (settimeofday, clock_settime, resume from suspend, which also moves
// CLOCK_BOOTTIME) is learnt from the clock watcher: a kernel timerfd armed with
// TFD_TIMER_CANCEL_ON_SET, made (and put on the kernel's cancel list) by the first Arm() of
// a REALTIME or BOOTTIME timer or the first RegisterClockSet(), before that call returns.
// It sits at a high number (kernel::OutOfTheWay), so it never takes a number the program
// would get. A second thread, started with it, waits for it to become readable; a caller
// that must see a clock set the kernel already made (timerfd_settime, read, ioctl of a
// cancel-on-set timer) asks the descriptor itself first (SyncClockWasSet). Whoever reads
// the notice (ECANCELED) re-evaluates the deadline and calls TimerNode::ClockWasSet() on the
// nodes that asked for it.
//
// Locking. The service lock (a SpinLock) protects the heaps, each node's queue position,
// expiry and generation, and the clock-set list. Arm/Cancel/Register may be called under a
// timer owner's wait-queue lock: the order is owner's wait-queue lock (level 4 of
// core/eventpoll.cc) -> service lock. The service thread never holds its lock while it
// calls a node (TryPin excepted, which only counts a reference), so a node's Fire() takes
// the owner's wait-queue lock with nothing held. `notice_mu_` serialises reading the clock
// watcher and the ClockWasSet() calls that follow (notice_mu_ -> owner's wait-queue lock ->
// service lock): it is never taken under a wait-queue lock, and its holder never drops a
// reference (a last one waits for every RCU read section, and callers may be in one). `make_mu_` (under an owner's
// wait-queue lock, nothing under it) makes the clock watcher once.
//
// Delegates. The thread that will be woken by a CLOCK_MONOTONIC timer's expiry can sleep
// until the expiry itself and fire it on waking (FireDue), so that the expiry reaches it with
// one wake-up instead of two in series (the service's, then the waiter's). An owner tags a
// node at Arm() with what its expiry wakes (an epoll instance; an opaque pointer, only
// compared); a waiter sleeping on that same thing asks BeginDelegate() for the deadline of
// the earliest monotonic timer if that timer carries its tag. While a delegate sleeps until
// a node's expiry, the service holds that node back for kDelegateGrace: it fires it only if
// the delegate is late (or left). Arming a node whose tag had its last timer fired by a
// delegate (a loop arms its next timer, then sleeps) does not wake the service if it is
// up within kDelegateGrace of the expiry anyway: it then looks again. A delegate that leaves
// before the expiry hands the node back (a kick).
// Whoever takes a node off the heap fires it, exactly once.
//
// Fork (core/fork.h): the locks are held across fork(); in the child no timer of the
// parent is queued (they belong to descriptors the child does not have), the watcher's
// descriptor (shared with the parent) is closed, and both threads start again on demand.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <mutex>
#include <vector>

#include "platform/spinlock.h"

namespace uep {

enum class ClockBase : int { kMonotonic = 0, kRealtime = 1, kBoottime = 2 };
inline constexpr int kClockBases = 3;

inline constexpr int64_t kKtimeMax = INT64_MAX;

class TimerNode {
 public:
  TimerNode() = default;
  TimerNode(const TimerNode&) = delete;
  TimerNode& operator=(const TimerNode&) = delete;

  // Keeps the owner alive while the service calls it; false if it is being destroyed.
  // Called under the service lock: must only count a reference.
  virtual bool TryPin() = 0;
  virtual void Unpin() = 0;
  // The node expired while armed with generation `gen` (compare with generation(), read
  // under a lock held across Arm/Cancel). Called with no service lock held.
  virtual void Fire(uint64_t gen) = 0;
  // CLOCK_REALTIME was set (only for nodes registered with RegisterClockSet()).
  virtual void ClockWasSet() {}

  // Changes in every Arm() and Cancel(): a fire for an older generation is stale.
  [[nodiscard]] uint64_t generation() const { return gen_; }

 protected:
  ~TimerNode() = default;

 private:
  friend class TimerService;
  static constexpr size_t kNotQueued = SIZE_MAX;
  ClockBase base_ = ClockBase::kMonotonic;
  int64_t expires_ = 0;  // ns on base_'s clock
  const void* wake_tag_ = nullptr;  // what its expiry wakes (delegates); monotonic base only
  size_t heap_index_ = kNotQueued;
  uint64_t gen_ = 0;
  bool clock_set_registered_ = false;
};

class TimerService {
 public:
  static TimerService& Get();

  // Delivers a clock set the kernel has already made (the clock watcher is readable) before
  // returning. Call with no lock held. Costs a poll(2) once a watcher exists.
  void SyncClockWasSet();

  // Queues `node` to fire once its base's clock reads `expires` ns or later (re-queues a
  // queued node). `wake_tag`: what the expiry will wake, if one thing (see Delegates).
  // Returns the node's new generation.
  uint64_t Arm(TimerNode* node, ClockBase base, int64_t expires,
               const void* wake_tag = nullptr);
  // Takes `node` off the queue; a fire already on its way sees a new generation.
  void Cancel(TimerNode* node);
  // Room for one more timer in every heap and in the clock-set list, made when a timer is
  // created so that Arm() and RegisterClockSet() never allocate (hrtimers never do):
  // false if memory ran out. Unreserve() when the timer is gone.
  bool Reserve();
  void Unreserve();
  // Nodes told about CLOCK_REALTIME changes (TFD_TIMER_CANCEL_ON_SET).
  void RegisterClockSet(TimerNode* node);
  void UnregisterClockSet(TimerNode* node);

  // A waiter about to sleep on `tag`: if the earliest CLOCK_MONOTONIC timer wakes `tag`,
  // registers the caller as its delegate and returns its expiry (ns, possibly past);
  // kKtimeMax otherwise. A delegate sleeps until then at the latest, calls EndDelegate() with
  // the same arguments once awake, and FireDue() if the expiry came first.
  static bool MayDelegate(const void* tag) {
    return tag != nullptr && top_tag_.load(std::memory_order_relaxed) == tag;
  }
  int64_t BeginDelegate(const void* tag);
  void EndDelegate(const void* tag, int64_t expires);
  // Fires every timer that is due, on the calling thread. Call with no lock held, outside
  // any RCU read section (a last reference may be dropped).
  void FireDue();

  // How long the service holds back a node whose delegate sleeps (then fires it itself).
  static constexpr int64_t kDelegateGrace = 200000;

  // The base's clock in ns (CLOCK_MONOTONIC / CLOCK_REALTIME / CLOCK_BOOTTIME).
  static int64_t Now(ClockBase base);

  // The fork handlers (core/fork.h).
  static void PrepareFork();
  static void ParentAfterFork();
  static void ChildAfterFork();

  // For tests (the machine's clock is not theirs to set): a clock-set notice pending on the
  // clock watcher, as the kernel leaves it; only SyncClockWasSet() reads it.
  void InjectClockSetForTest() { injected_clock_set_.store(true, std::memory_order_relaxed); }

  // For tests and statistics: timers queued now, and expiries fired so far.
  size_t QueuedForTest();
  uint64_t FiredForTest() const { return fired_.load(std::memory_order_relaxed); }
  // Of those, the expiries fired by delegates (FireDue).
  uint64_t FiredByDelegatesForTest() const {
    return fired_by_delegates_.load(std::memory_order_relaxed);
  }

 private:
  TimerService() = default;
  void EnsureWatcher();
  void Run();
  void WatchClock(int fd);
  void CheckClock(int fd, bool poll_first);
  // notice_mu_ held: tells every registered node; leaves them pinned in `pinned`.
  void ClockWasSetLocked(std::vector<TimerNode*>* pinned) REQUIRES(notice_mu_);
  void Kick();

  // Takes up to kFireBatch due nodes off the heaps, pinned, with their generations.
  // `hold_back`: leave a node its delegate will fire (the service thread).
  size_t CollectDueLocked(TimerNode** batch, uint64_t* gens, int64_t now[kClockBases],
                          bool hold_back) REQUIRES(lock_);
  // A delegate sleeps until `node`'s expiry.
  [[nodiscard]] bool CoveredLocked(const TimerNode* node) const REQUIRES(lock_);
  void PublishTopLocked() REQUIRES(lock_) {
    top_tag_.store(heaps_[0].empty() ? nullptr : heaps_[0].front()->wake_tag_,
                   std::memory_order_relaxed);
  }

  void HeapPush(TimerNode* node) REQUIRES(lock_);
  void HeapRemove(TimerNode* node) REQUIRES(lock_);
  void SiftUp(std::vector<TimerNode*>& heap, size_t i);
  void SiftDown(std::vector<TimerNode*>& heap, size_t i);
  // The earliest expiry, as a CLOCK_MONOTONIC time in ns (kKtimeMax if none). Lock held.
  int64_t EarliestMonotonicLocked(const int64_t now[kClockBases]) const REQUIRES(lock_);

  SpinLock lock_;
  std::vector<TimerNode*> heaps_[kClockBases] GUARDED_BY(lock_);
  std::vector<TimerNode*> clock_set_nodes_ GUARDED_BY(lock_);
  size_t reserved_ GUARDED_BY(lock_) = 0;                // timers that have room in every vector (under lock_)
  int64_t sleeping_until_ = kKtimeMax;  // monotonic deadline the thread sleeps to
  bool thread_started_ GUARDED_BY(lock_) = false;
  StdMutex make_mu_;                    // makes the clock watcher
  StdMutex notice_mu_;                  // reads the clock watcher
  std::atomic<int> clock_fd_{-1};       // the clock watcher (written under make_mu_)
  bool watcher_failed_ GUARDED_BY(make_mu_) = false;  // no kernel timerfd could be made
  std::atomic<bool> injected_clock_set_{false};
  std::atomic<uint32_t> seq_{0};        // futex word: bumped to wake the thread early
  std::atomic<uint64_t> fired_{0};
  std::atomic<uint64_t> fired_by_delegates_{0};
  struct DelegateSlot {
    const void* tag;
    int64_t expires;
  };
  static constexpr int kMaxDelegates = 16;
  DelegateSlot delegates_[kMaxDelegates] GUARDED_BY(lock_){};
  int ndelegates_ GUARDED_BY(lock_) = 0;
  const void* last_delegate_tag_ GUARDED_BY(lock_) = nullptr;  // a delegate fired its last timer
  // The tag of the earliest CLOCK_MONOTONIC timer (written under lock_): a waiter that is
  // not its delegate pays one load.
  static inline std::atomic<const void*> top_tag_{nullptr};
};

}  // namespace uep
