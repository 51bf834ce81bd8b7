#include "core/fork.h"

#include <pthread.h>

#include <atomic>
#include <mutex>

#include "platform/kernel_fd.h"

namespace uep {
namespace {

constexpr int kOwners = static_cast<int>(ForkOrder::kCount);

struct Slot {
  std::atomic<void (*)()> prepare{nullptr};
  std::atomic<void (*)()> parent{nullptr};
  std::atomic<void (*)()> child{nullptr};
};
constinit Slot slots[kOwners];

}  // namespace
}  // namespace uep

// Set (never cleared) before the first child that shares this memory is made; the vfork
// trampoline (capi/vfork.cc) stores to it directly.
extern "C" {
[[gnu::visibility("hidden")]] constinit std::atomic<unsigned char> uep_shared_memory_children{0};
}

namespace uep {
namespace {

// The process that owns this memory: set when the library is loaded and in each fork child.
constinit std::atomic<int> owner_pid{0};

int OwnerPid() {
  int pid = owner_pid.load(std::memory_order_relaxed);
  if (pid == 0) [[unlikely]] {
    // Only before the load-time initialiser below (another initialiser asking first).
    pid = kernel::Getpid();
    owner_pid.store(pid, std::memory_order_relaxed);
  }
  return pid;
}

[[maybe_unused]] const int owner_at_load = OwnerPid();

constinit std::atomic<int (*)()> before_child{nullptr};

void Prepare() {
  BeforeChild();
  for (Slot& s : slots) {
    if (auto* fn = s.prepare.load(std::memory_order_acquire)) fn();
  }
}

void Parent() {
  for (int i = kOwners - 1; i >= 0; --i) {
    if (auto* fn = slots[i].parent.load(std::memory_order_acquire)) fn();
  }
}

void Child() {
  owner_pid.store(kernel::Getpid(), std::memory_order_relaxed);
  for (int i = kOwners - 1; i >= 0; --i) {
    if (auto* fn = slots[i].child.load(std::memory_order_acquire)) fn();
  }
}

}  // namespace

void RegisterForkHandlers(ForkOrder order, const ForkHandlers& handlers) {
  static std::once_flag once;
  Slot& s = slots[static_cast<int>(order)];
  s.prepare.store(handlers.prepare, std::memory_order_release);
  s.parent.store(handlers.parent, std::memory_order_release);
  s.child.store(handlers.child, std::memory_order_release);
  std::call_once(once, [] { pthread_atfork(Prepare, Parent, Child); });
}

void SetBeforeChild(int (*fn)()) { before_child.store(fn, std::memory_order_release); }

void BeforeChild() {
  if (auto* fn = before_child.load(std::memory_order_acquire)) fn();
}

bool InForeignProcess() {
  if (uep_shared_memory_children.load(std::memory_order_relaxed) == 0) [[likely]] return false;
  return kernel::Getpid() != OwnerPid();
}

void NoteSharedMemoryChild() { uep_shared_memory_children.store(1, std::memory_order_relaxed); }

}  // namespace uep
