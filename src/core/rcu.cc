#include "core/rcu.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>

#include "core/block_pool.h"
#include "core/fork.h"
#include "platform/cpu.h"
#include "platform/membarrier.h"
#include "platform/spinlock.h"

namespace uep {
namespace rcu_detail {

constinit thread_local RcuReader* tls_reader __attribute__((tls_model("initial-exec"))) = nullptr;
constinit thread_local RcuReader* tls_signal_reader __attribute__((tls_model("initial-exec"))) =
    nullptr;
bool use_fence = false;

namespace {

StdMutex registry_lock;
RcuReader* registry GUARDED_BY(registry_lock) = nullptr;  // every record ever made
int readers_in_use GUARDED_BY(registry_lock) = 0;
bool membarrier_ready = false;

// Registers membarrier once per process, before any reader exists; UEPOLL_RCU_FENCE=1
// forces the fence back-end so both stay tested.
struct MembarrierInit {
  MembarrierInit() {
    const char* force = std::getenv("UEPOLL_RCU_FENCE");
    if (force != nullptr && std::strcmp(force, "1") == 0) {
      use_fence = true;
      return;
    }
    if (platform::MembarrierRegister()) {
      membarrier_ready = true;
    } else {
      use_fence = true;
    }
  }
};

void EnsureInit() { static MembarrierInit init; }

// Returns the thread's records to the registry when the thread exits. A pthread key
// rather than a thread_local destructor: a thread's first uepoll call may come from a signal
// handler, which must not allocate (the key's slot is in the thread descriptor).
void ReleaseRecords(void* /*unused*/) {
  if (tls_reader == nullptr) return;
  std::lock_guard guard(registry_lock);
  tls_reader->in_use = false;
  tls_signal_reader->in_use = false;
  readers_in_use -= 2;
  tls_reader = nullptr;
  tls_signal_reader = nullptr;
}

pthread_key_t owner_key;
[[gnu::constructor]] void CreateOwnerKey() { pthread_key_create(&owner_key, ReleaseRecords); }

// Records come from a fixed pool first, for the same reason; never freed, only reused.
BlockPool<512, sizeof(RcuReader)> record_pool;

RcuReader* TakeRecordLocked() REQUIRES(registry_lock) {
  RcuReader* r = registry;
  while (r != nullptr && r->in_use) r = r->next;
  if (r == nullptr) {
    void* mem = record_pool.Take();
    r = mem != nullptr ? new (mem) RcuReader : new RcuReader;
    r->next = registry;
    registry = r;
  }
  r->in_use = true;
  r->nesting = 0;
  ++readers_in_use;
  return r;
}

// call_rcu() queue: a lock-free stack (a push is safe anywhere, signal handlers too), taken
// whole by the thread that runs a batch.
std::atomic<RcuHead*> pending{nullptr};
std::atomic<long> pending_count{0};
std::atomic<bool> running_callbacks{false};  // one batch at a time

// Runs whatever is still queued when the process exits (no leak for the leak checker);
// registered by the first RcuCall().
struct DrainAtExit {
  ~DrainAtExit() { RcuBarrier(); }
};

// Takes the whole queue, waits for one grace period and runs it. False if another thread
// is running a batch (it will take ours next time).
bool RunBatch() {
  if (running_callbacks.exchange(true, std::memory_order_acquire)) return false;
  RcuHead* batch = pending.exchange(nullptr, std::memory_order_acquire);
  if (batch != nullptr) {
    long n = 0;
    for (RcuHead* h = batch; h != nullptr; h = h->next) ++n;
    pending_count.fetch_sub(n, std::memory_order_relaxed);
    // Every callback in the batch was queued before this grace period began.
    RcuSynchronize();
    while (batch != nullptr) {
      RcuHead* next = batch->next;
      batch->func(batch);
      batch = next;
    }
  }
  running_callbacks.store(false, std::memory_order_release);
  return true;
}

}  // namespace

RcuReader* RegisterReader() {
  EnsureInit();
  // A signal handler that calls uepoll must find both records made, or neither.
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  if (tls_reader == nullptr) {
    std::lock_guard guard(registry_lock);
    RcuReader* signal_reader = TakeRecordLocked();
    RcuReader* r = TakeRecordLocked();
    tls_signal_reader = signal_reader;
    tls_reader = r;
    pthread_setspecific(owner_key, r);  // any non-null value: the destructor runs
  }
  RcuReader* r = tls_reader;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return r;
}

}  // namespace rcu_detail

void RcuPrepareThread() { rcu_detail::RegisterReader(); }

// Runs with registry_lock held by the prepare handler, and releases it (an unlock, as glibc's
// own child handlers do: a lock made anew would still count as held for ThreadSanitizer).
// No analysis: the child is single-threaded here and the lock is not named in rcu.h.
void RcuAfterForkInChild() NO_THREAD_SAFETY_ANALYSIS {
  using namespace rcu_detail;
  RcuReader* self = tls_reader;
  RcuReader* self_signal = tls_signal_reader;
  readers_in_use = 0;
  for (RcuReader* r = registry; r != nullptr; r = r->next) {
    if (r == self || r == self_signal) {
      ++readers_in_use;
      continue;
    }
    r->in_use = false;
    r->nesting = 0;
    r->seq.store(0, std::memory_order_relaxed);
  }
  if (membarrier_ready) platform::MembarrierReregister();
  // A thread that was running a batch did not come along: its batch is the parent's (the
  // child's copies of those objects stay unfreed, as memory the child never uses again).
  running_callbacks.store(false, std::memory_order_relaxed);
  registry_lock.unlock();
}

namespace {
// Fork (core/fork.h): the registry is whole in the child; RcuAfterForkInChild rebuilds it.
void RcuPrepareFork() ACQUIRE(rcu_detail::registry_lock) { rcu_detail::registry_lock.lock(); }
void RcuParentAfterFork() RELEASE(rcu_detail::registry_lock) { rcu_detail::registry_lock.unlock(); }
[[maybe_unused]] const bool fork_registered =
    (RegisterForkHandlers(ForkOrder::kRcu, {RcuPrepareFork, RcuParentAfterFork, RcuAfterForkInChild}),
     true);
}  // namespace

void RcuCall(RcuHead* head, void (*func)(RcuHead*)) {
  using namespace rcu_detail;
  static DrainAtExit drain;
  if (pending_count.load(std::memory_order_relaxed) == 0) {
    // No other thread has a reader record: nothing to wait for (see RcuSynchronize).
    std::unique_lock guard(registry_lock);
    const RcuReader* self = tls_reader;
    // A registered thread holds two records: its own and its signal handlers' (rcu.h).
    if (readers_in_use == 0 || (readers_in_use == 2 && self != nullptr && self->in_use)) {
      guard.unlock();
      func(head);
      return;
    }
  }
  head->func = func;
  RcuHead* top = pending.load(std::memory_order_relaxed);
  do {
    head->next = top;
  } while (!pending.compare_exchange_weak(top, head, std::memory_order_release,
                                          std::memory_order_relaxed));
  if (pending_count.fetch_add(1, std::memory_order_relaxed) + 1 >= kRcuBatch) RunBatch();
}

void RcuBarrier() {
  using namespace rcu_detail;
  // Also waits for a batch another thread is running.
  while (pending.load(std::memory_order_acquire) != nullptr ||
         running_callbacks.load(std::memory_order_acquire)) {
    if (!RunBatch()) sched_yield();
  }
}

void RcuSynchronize() {
  using namespace rcu_detail;
  EnsureInit();
  std::lock_guard guard(registry_lock);
  RcuReader* self = tls_reader;
  RcuReader* self_signal = tls_signal_reader;
  // A thread that registers after this point takes registry_lock first, so its sections
  // already see whatever the caller unpublished.
  if (readers_in_use == 0 || (readers_in_use == 2 && self != nullptr && self->in_use)) return;
  if (membarrier_ready) {
    platform::MembarrierSync();
  } else {
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
  for (RcuReader* r = registry; r != nullptr; r = r->next) {
    if (r == self || r == self_signal) continue;
    const uint64_t seq = r->seq.load(std::memory_order_acquire);
    if ((seq & 1) == 0) continue;
    for (int spin = 0; r->seq.load(std::memory_order_acquire) == seq; ++spin) {
      if (spin < 256) {
        platform::CpuRelax();
      } else {
        sched_yield();
      }
    }
  }
}

}  // namespace uep
