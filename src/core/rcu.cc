#include "core/rcu.h"

#include <linux/membarrier.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>

#include "platform/cpu.h"

namespace uep {
namespace rcu_detail {

constinit thread_local RcuReader* tls_reader __attribute__((tls_model("initial-exec"))) = nullptr;
bool use_fence = false;

namespace {

std::mutex registry_lock;
RcuReader* registry = nullptr;  // every record ever made, under registry_lock
int readers_in_use = 0;         // under registry_lock
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
    long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    if (cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
        syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0) {
      membarrier_ready = true;
    } else {
      use_fence = true;
    }
  }
};

void EnsureInit() { static MembarrierInit init; }

// Returns the thread's record to the registry when the thread exits.
struct ReaderOwner {
  RcuReader* reader = nullptr;
  ~ReaderOwner() {
    if (reader == nullptr) return;
    std::lock_guard guard(registry_lock);
    reader->in_use = false;
    --readers_in_use;
    tls_reader = nullptr;
  }
};
thread_local ReaderOwner tls_owner;

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
  std::lock_guard guard(registry_lock);
  RcuReader* r = registry;
  while (r != nullptr && r->in_use) r = r->next;
  if (r == nullptr) {
    r = new RcuReader;
    r->next = registry;
    registry = r;
  }
  r->in_use = true;
  r->nesting = 0;
  ++readers_in_use;
  tls_reader = r;
  tls_owner.reader = r;
  return r;
}

}  // namespace rcu_detail

void RcuAfterForkInChild() {
  using namespace rcu_detail;
  new (&registry_lock) std::mutex;  // its holder, if any, did not come along
  RcuReader* self = tls_reader;
  readers_in_use = 0;
  for (RcuReader* r = registry; r != nullptr; r = r->next) {
    if (r == self) {
      ++readers_in_use;
      continue;
    }
    r->in_use = false;
    r->nesting = 0;
    r->seq.store(0, std::memory_order_relaxed);
  }
  if (membarrier_ready) syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0);
  // A thread that was running a batch did not come along: its batch is the parent's (the
  // child's copies of those objects stay unfreed, as memory the child never uses again).
  running_callbacks.store(false, std::memory_order_relaxed);
}

void RcuCall(RcuHead* head, void (*func)(RcuHead*)) {
  using namespace rcu_detail;
  static DrainAtExit drain;
  if (pending_count.load(std::memory_order_relaxed) == 0) {
    // No other thread has a reader record: nothing to wait for (see RcuSynchronize).
    std::unique_lock guard(registry_lock);
    const RcuReader* self = tls_reader;
    if (readers_in_use == 0 || (readers_in_use == 1 && self != nullptr && self->in_use)) {
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
  // A thread that registers after this point takes registry_lock first, so its sections
  // already see whatever the caller unpublished.
  if (readers_in_use == 0 || (readers_in_use == 1 && self != nullptr && self->in_use)) return;
  if (membarrier_ready) {
    syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
  } else {
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
  for (RcuReader* r = registry; r != nullptr; r = r->next) {
    if (r == self) continue;
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
