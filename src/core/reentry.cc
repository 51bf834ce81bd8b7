#include "core/reentry.h"

#include <sys/epoll.h>

#include <cerrno>
#include <climits>
#include <algorithm>
#include <cstring>
#include <new>

#include "core/block_pool.h"
#include "core/fd_table.h"
#include "core/file.h"
#include "core/rcu.h"
#include "core/waiter.h"

namespace uep {
namespace reentry_detail {

constinit thread_local ThreadState tls_state __attribute__((tls_model("initial-exec")));

void EnterNested(uint32_t prev) {
  // Re-entrant unless the call below sleeps holding nothing.
  const bool reentrant = (prev & kQuiescent) == 0;
  // The interrupted call may be half-way into a read section of its own record.
  if (reentrant) rcu_detail::tls_reader = rcu_detail::tls_signal_reader;
  tls_state.word = ((prev & kDepthMask) + 1) | (reentrant ? kReentrant : 0);
}

void RunPending() {
  ThreadState& s = tls_state;
  // Runs as an ordinary call of its own: a handler interrupting it must defer, not take
  // the locks this work takes.
  const uint32_t saved = s.word;
  s.word = (saved & kDepthMask) + 1;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  while (DeferredWork* list = s.pending.exchange(nullptr, std::memory_order_acquire)) {
    // Pushed newest first: run them in the order the handlers made them.
    DeferredWork* fifo = nullptr;
    while (list != nullptr) {
      DeferredWork* next = list->next;
      list->next = fifo;
      fifo = list;
      list = next;
    }
    while (fifo != nullptr) {
      DeferredWork* next = fifo->next;  // before run(): the work may be queued again
      fifo->run(fifo);
      fifo = next;
    }
  }
  std::atomic_signal_fence(std::memory_order_seq_cst);
  s.word = saved;
}

}  // namespace reentry_detail

using reentry_detail::tls_state;

void DeferWork(DeferredWork* work) {
  DeferredWork* head = tls_state.pending.load(std::memory_order_relaxed);
  do {
    work->next = head;
  } while (!tls_state.pending.compare_exchange_weak(head, work, std::memory_order_release,
                                                    std::memory_order_relaxed));
}

QuiescentScope::QuiescentScope() {
  using namespace reentry_detail;
  ThreadState& s = tls_state;
  // Only an ordinary call qualifies, outside read sections.
  if ((s.word & kDepthMask) == 0 || (s.word & kReentrant) != 0 || RcuInReadSection()) return;
  if (s.pending.load(std::memory_order_relaxed) != nullptr) RunPending();
  saved_wake_depth_ = waiter_detail::tls_wakes.depth;
  waiter_detail::tls_wakes.depth = 0;  // a handler's wake-ups go out at once, not after us
  std::atomic_signal_fence(std::memory_order_seq_cst);
  s.word |= kQuiescent;
  active_ = true;
}

QuiescentScope::~QuiescentScope() {
  using namespace reentry_detail;
  if (!active_) return;
  ThreadState& s = tls_state;
  s.word &= ~kQuiescent;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  waiter_detail::tls_wakes.depth = saved_wake_depth_;
  // A handler that began as the sleep ended may have queued work: it is ours now.
  if (s.pending.load(std::memory_order_relaxed) != nullptr) RunPending();
}

void DeferredWake::Raise(uint32_t events) {
  events_.fetch_or(events, std::memory_order_acq_rel);
  if (queued_.exchange(true, std::memory_order_acq_rel)) return;  // a queue will report it
  if (!FileTryGet(file_)) {  // being released: nobody is left to wake
    queued_.store(false, std::memory_order_release);
    return;
  }
  DeferWork(&work_);
}

void DeferredWake::Run(DeferredWork* work) {
  auto* self = reinterpret_cast<DeferredWake*>(reinterpret_cast<char*>(work) -
                                               offsetof(DeferredWake, work_));
  File* file = self->file_;
  // Cleared before the events are taken: a Raise() after this queues the work again.
  self->queued_.store(false, std::memory_order_seq_cst);
  const uint32_t events = self->events_.exchange(0, std::memory_order_seq_cst);
  if (events != 0) file->DeferredWakeUp(events);
  FilePut(file);
}

namespace {

// Deferred writes and closes live in fixed pools: a handler cannot allocate. Most handler
// writes are a few bytes (a signal number, an eventfd-style counter), so small slots are
// many and large ones (up to PIPE_BUF) few.
constexpr size_t kDeferredWriteMax = 4096;  // PIPE_BUF
constexpr size_t kSmallWrite = 64;

struct Slot {
  DeferredWork work;
  File* file = nullptr;
  int fd = -1;
  uint32_t len = 0;
  char* data() { return reinterpret_cast<char*>(this + 1); }
};

BlockPool<1024, sizeof(Slot) + kSmallWrite> small_slots;
BlockPool<32, sizeof(Slot) + kDeferredWriteMax> large_slots;

Slot* TakeSlot(size_t len) {
  void* block = len <= kSmallWrite ? small_slots.Take() : nullptr;
  if (block == nullptr) block = large_slots.Take();
  return block != nullptr ? new (block) Slot : nullptr;
}

void ReturnSlot(Slot* slot) {
  if (small_slots.Owns(slot)) {
    small_slots.Return(slot);
  } else {
    large_slots.Return(slot);
  }
}

void RunWrite(DeferredWork* work) {
  auto* slot = reinterpret_cast<Slot*>(work);
  File* file = slot->file;
  const iovec iov{slot->data(), slot->len};
  {
    RcuReadLock();
    SleepPermit permit(file);
    ssize_t r = file->Write(&iov, 1, kIoNonblock, &permit);
    // Room was there when the handler looked; if this call filled it since, wait for a
    // reader rather than drop what the handler was told was written.
    if (r == -EAGAIN) r = file->Write(&iov, 1, 0, &permit);
    (void)r;
  }
  ReturnSlot(slot);
  FilePut(file);
}

size_t SlotCapacity(const Slot* slot) {
  return small_slots.Owns(slot) ? kSmallWrite : kDeferredWriteMax;
}

// A stream's write joins a queued write of the same file, if one of the last few queued
// has room: handler storms on a self-pipe then take a slot per interrupted call, not one
// per signal. Only this thread's handlers touch its queue, and the call they interrupted
// cannot be running it meanwhile.
bool AppendToQueuedWrite(File* file, const iovec* iov, int iovcnt, size_t len) {
  if (!file->MergesWrites()) return false;
  DeferredWork* work = reentry_detail::tls_state.pending.load(std::memory_order_relaxed);
  Slot* slot = nullptr;
  for (int i = 0; i < 8 && work != nullptr && slot == nullptr; ++i, work = work->next) {
    auto* queued = reinterpret_cast<Slot*>(work);
    if (work->run == RunWrite && queued->file == file &&
        SlotCapacity(queued) - queued->len >= len) {
      slot = queued;
    }
  }
  if (slot == nullptr) return false;
  for (int i = 0; i < iovcnt && len > 0; ++i) {
    const size_t n = std::min(iov[i].iov_len, len);
    if (n != 0) std::memcpy(slot->data() + slot->len, iov[i].iov_base, n);
    slot->len += static_cast<uint32_t>(n);
    len -= n;
  }
  return true;
}

void RunClose(DeferredWork* work) {
  auto* slot = reinterpret_cast<Slot*>(work);
  const int fd = slot->fd;
  File* pinned = slot->file;
  ReturnSlot(slot);
  bool same = false;
  {
    RcuReadGuard guard;
    same = FdTable::Get().Lookup(fd) == pinned;
  }
  // Closed (and maybe reused) by someone else meanwhile: that close was the one.
  if (same) {
    if (File* file = FdTable::Get().Remove(fd); file != nullptr) FilePut(file);
  }
  FilePut(pinned);
}

}  // namespace

ssize_t DeferWrite(File* file, const iovec* iov, int iovcnt, size_t len) {
  if (len > kDeferredWriteMax) return -EAGAIN;
  for (int i = 0; i < iovcnt; ++i) {
    if (iov[i].iov_len != 0 && iov[i].iov_base == nullptr) return -EFAULT;
  }
  // What a non-blocking write would find now (Poll() takes no lock).
  PollTable pt;
  pt.key = EPOLLOUT;
  if ((file->Poll(&pt) & EPOLLOUT) == 0) return -EAGAIN;
  if (AppendToQueuedWrite(file, iov, iovcnt, len)) return static_cast<ssize_t>(len);
  Slot* slot = TakeSlot(len);
  if (slot == nullptr) return -EAGAIN;
  if (!FileTryGet(file)) {
    ReturnSlot(slot);
    return -EBADF;
  }
  size_t copied = 0;
  for (int i = 0; i < iovcnt && copied < len; ++i) {
    const size_t n = std::min(iov[i].iov_len, len - copied);
    if (n != 0) std::memcpy(slot->data() + copied, iov[i].iov_base, n);
    copied += n;
  }
  slot->file = file;
  slot->len = static_cast<uint32_t>(copied);
  slot->work.run = RunWrite;
  DeferWork(&slot->work);
  return static_cast<ssize_t>(copied);
}

int DeferClose(int fd) {
  RcuReadGuard guard;
  File* file = FdTable::Get().Lookup(fd);
  if (file == nullptr) return -EBADF;
  Slot* slot = TakeSlot(0);
  if (slot == nullptr || !FileTryGet(file)) {
    if (slot != nullptr) ReturnSlot(slot);
    return -EINTR;
  }
  slot->file = file;
  slot->fd = fd;
  slot->work.run = RunClose;
  DeferWork(&slot->work);
  return 0;
}

}  // namespace uep
