// The public extension point (include/uepoll/file.hpp) on top of the file contract
// (core/file.h): UserFileAdapter is a File that forwards to a user's Pollable, WaitQueue
// is a WaitQueueHead, PollContext a PollTable.
#include "uepoll/file.hpp"

#include <fcntl.h>

#include <atomic>
#include <cstddef>

#include <memory>
#include <mutex>
#include <new>
#include <utility>

#include "core/fd_table.h"
#include "core/file.h"
#include "core/poll_table.h"
#include "core/reentry.h"
#include "core/wait_event.h"
#include "core/wait_queue.h"
#include "core/waiter.h"
#include "platform/clock.h"
#include "platform/fault.h"

namespace uep {

// A File running a Pollable. The file holds the Pollable's last reference on the library
// side: it drops it when the file is deleted, after every epoll item went and Release().
class UserFileAdapter final : public File {
 public:
  UserFileAdapter(std::shared_ptr<api::Pollable> impl, uint32_t flags)
      : File(flags), impl_(std::move(impl)) {
    if (impl_->lockless_poll()) SetPollLockless();
  }

  uint32_t Poll(PollTable* pt) override {
    api::PollContext ctx(this, pt);
    return impl_->poll(ctx);
  }
  [[nodiscard]] bool CanRead() const override { return impl_->can_read(); }
  [[nodiscard]] bool CanWrite() const override { return impl_->can_write(); }

  // A user's operation may sleep whenever it is blocking: pin the file first (it leaves the
  // RCU read section), so that the sleep neither stalls RcuSynchronize() nor outlives it.
  ssize_t Read(const iovec* iov, int iovcnt, int io_flags, SleepPermit* permit) override {
    const bool nonblock = (io_flags & kIoNonblock) != 0;
    if (!nonblock && !permit->Acquire()) return -EBADF;
    return impl_->read({iov, static_cast<size_t>(iovcnt)}, nonblock);
  }
  ssize_t Write(const iovec* iov, int iovcnt, int io_flags, SleepPermit* permit) override {
    const bool nonblock = (io_flags & kIoNonblock) != 0;
    if (!nonblock && !permit->Acquire()) return -EBADF;
    return impl_->write({iov, static_cast<size_t>(iovcnt)}, nonblock);
  }
  void Release() override { impl_->release(); }

 private:
  std::shared_ptr<api::Pollable> impl_;
};

inline namespace api {

struct WaitQueue::Impl {
  WaitQueueHead head;
  // A wake() from a signal handler that interrupted a uepoll call on its thread: queued for
  // that call, which may hold head.lock (core/reentry.h).
  DeferredWork deferred;
  std::atomic<uint32_t> deferred_key{0};
  std::atomic<bool> deferred_queued{false};
  std::atomic<bool> deferred_all{false};  // a wake_all() among them: no exclusive limit
  std::atomic<int> refs{1};  // the WaitQueue, and the queued wake-up while there is one

  void Unref() {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  void Defer(std::uint32_t key, bool all) {
    if (all) deferred_all.store(true, std::memory_order_release);
    // Key 0 wakes every watcher: as a set of events, everything.
    deferred_key.fetch_or(key == 0 ? ~0U : key, std::memory_order_acq_rel);
    if (deferred_queued.exchange(true, std::memory_order_acq_rel)) return;
    refs.fetch_add(1, std::memory_order_relaxed);
    deferred.run = &RunDeferred;
    DeferWork(&deferred);
  }

  static void RunDeferred(DeferredWork* work) {
    auto* impl = reinterpret_cast<Impl*>(reinterpret_cast<char*>(work) - offsetof(Impl, deferred));
    impl->deferred_queued.store(false, std::memory_order_seq_cst);
    const bool all = impl->deferred_all.exchange(false, std::memory_order_seq_cst);
    if (const uint32_t key = impl->deferred_key.exchange(0, std::memory_order_seq_cst); key != 0) {
      WakeScope scope;
      std::lock_guard guard(impl->head.lock);
      WakeUpLocked(&impl->head, all ? 0 : 1, key);
    }
    impl->Unref();
  }
};

WaitQueue::WaitQueue() : impl_(std::make_unique<Impl>()) {}
WaitQueue::~WaitQueue() { impl_.release()->Unref(); }

// Sleeping threads are woken once the queue's lock is dropped (WakeScope), so they do
// not run straight into it.
void WaitQueue::wake(std::uint32_t key) noexcept {
  ApiScope api;
  if (api.reentrant()) {
    impl_->Defer(key, false);
    return;
  }
  WakeScope scope;
  WakeUpPoll(&impl_->head, key);
}

void WaitQueue::wake_all(std::uint32_t key) noexcept {
  ApiScope api;
  if (api.reentrant()) {
    impl_->Defer(key, true);
    return;
  }
  WakeScope scope;
  std::lock_guard guard(impl_->head.lock);
  WakeUpLocked(&impl_->head, 0, key);
}

// wait_event(): the condition is read without the queue's lock, after the entry is queued.
int WaitQueue::wait_impl(bool (*ready)(void*), void* ctx, const timespec* rel) {
  if (ready(ctx)) return 0;
  if (rel != nullptr && rel->tv_sec == 0 && rel->tv_nsec == 0) return -ETIMEDOUT;
  return WaitEvent(&impl_->head, [ready, ctx] { return ready(ctx); },
                   {.deadline = rel != nullptr ? platform::DeadlineAfter(*rel) : platform::kNever});
}

void PollContext::wait_on(WaitQueue& wq) noexcept { PollWait(file_, &wq.impl_->head, pt_); }

std::uint32_t PollContext::key() const noexcept { return pt_ != nullptr ? pt_->key : ~0U; }

namespace detail {

int install_pollable(std::shared_ptr<Pollable> file, int flags) noexcept {
  if (file == nullptr || (flags & ~(O_CLOEXEC | O_NONBLOCK)) != 0) return -EINVAL;
  auto* adapter = TryNew<UserFileAdapter>(std::move(file),
                                          O_RDWR | (static_cast<uint32_t>(flags) & O_NONBLOCK));
  if (adapter == nullptr) return -ENOMEM;
  const int fd = FdTable::Get().Install(adapter, (flags & O_CLOEXEC) != 0);
  if (fd < 0) delete adapter;  // never published
  return fd;
}

}  // namespace detail
}  // namespace api
}  // namespace uep
