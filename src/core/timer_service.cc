#include "core/timer_service.h"

#include <algorithm>
#include <mutex>
#include <new>

#include "core/fork.h"
#include "platform/clock.h"
#include "platform/fault.h"
#include "platform/futex.h"
#include "platform/kernel_fd.h"
#include "platform/kernel_wait.h"
#include "platform/thread.h"

namespace uep {
namespace {

constexpr size_t kFireBatch = 64;

clockid_t ClockOf(ClockBase base) {
  switch (base) {
    case ClockBase::kRealtime:
      return CLOCK_REALTIME;
    case ClockBase::kBoottime:
      return CLOCK_BOOTTIME;
    case ClockBase::kMonotonic:
      break;
  }
  return CLOCK_MONOTONIC;
}

timespec ToTimespec(int64_t ns) {
  return timespec{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
}

}  // namespace

TimerService& TimerService::Get() {
  // Never destroyed: the thread may run until the process ends.
  static TimerService* service = new TimerService;
  return *service;
}

int64_t TimerService::Now(ClockBase base) { return platform::ClockNs(ClockOf(base)); }

// ---------------------------------------------------------------------------------------
// Heaps (lock held)

void TimerService::SiftUp(std::vector<TimerNode*>& heap, size_t i) {
  TimerNode* node = heap[i];
  while (i > 0) {
    const size_t parent = (i - 1) / 2;
    if (heap[parent]->expires_ <= node->expires_) break;
    heap[i] = heap[parent];
    heap[i]->heap_index_ = i;
    i = parent;
  }
  heap[i] = node;
  node->heap_index_ = i;
}

void TimerService::SiftDown(std::vector<TimerNode*>& heap, size_t i) {
  TimerNode* node = heap[i];
  const size_t n = heap.size();
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && heap[child + 1]->expires_ < heap[child]->expires_) ++child;
    if (node->expires_ <= heap[child]->expires_) break;
    heap[i] = heap[child];
    heap[i]->heap_index_ = i;
    i = child;
  }
  heap[i] = node;
  node->heap_index_ = i;
}

void TimerService::HeapPush(TimerNode* node) {
  auto& heap = heaps_[static_cast<int>(node->base_)];
  heap.push_back(node);
  SiftUp(heap, heap.size() - 1);
}

void TimerService::HeapRemove(TimerNode* node) {
  auto& heap = heaps_[static_cast<int>(node->base_)];
  const size_t i = node->heap_index_;
  node->heap_index_ = TimerNode::kNotQueued;
  TimerNode* last = heap.back();
  heap.pop_back();
  if (last == node) return;
  heap[i] = last;
  last->heap_index_ = i;
  if (i > 0 && heap[(i - 1) / 2]->expires_ > last->expires_) {
    SiftUp(heap, i);
  } else {
    SiftDown(heap, i);
  }
}

int64_t TimerService::EarliestMonotonicLocked(const int64_t now[kClockBases]) const {
  int64_t earliest = kKtimeMax;
  for (int b = 0; b < kClockBases; ++b) {
    if (heaps_[b].empty()) continue;
    const TimerNode* top = heaps_[b].front();
    // A delegate fires it; the service only backs it up.
    const int64_t expires = top->expires_ + (CoveredLocked(top) ? kDelegateGrace : 0);
    // expires - now[b] + now[mono], saturating.
    const int64_t left = expires - now[b];
    int64_t mono = kKtimeMax;
    if (left <= 0) {
      mono = now[0];
    } else if (left < kKtimeMax - now[0]) {
      mono = now[0] + left;
    }
    earliest = std::min(earliest, mono);
  }
  return earliest;
}

// ---------------------------------------------------------------------------------------
// Arming

bool TimerService::CoveredLocked(const TimerNode* node) const {
  if (node->wake_tag_ == nullptr) return false;
  for (int i = 0; i < ndelegates_; ++i) {
    if (delegates_[i].tag == node->wake_tag_ && delegates_[i].expires <= node->expires_) {
      return true;
    }
  }
  return false;
}

size_t TimerService::CollectDueLocked(TimerNode** batch, uint64_t* gens,
                                      int64_t now[kClockBases], bool hold_back) {
  size_t n = 0;
  for (int b = 0; b < kClockBases; ++b) {
    auto& heap = heaps_[b];
    if (heap.empty()) continue;
    if (now[b] == 0) now[b] = Now(static_cast<ClockBase>(b));
    while (!heap.empty() && n < kFireBatch && heap.front()->expires_ <= now[b]) {
      TimerNode* node = heap.front();
      if (hold_back && now[b] - node->expires_ < kDelegateGrace && CoveredLocked(node)) break;
      HeapRemove(node);
      // The service fires a tagged node: no delegate came, expect none next time.
      if (hold_back && node->wake_tag_ == last_delegate_tag_) last_delegate_tag_ = nullptr;
      if (!hold_back && node->wake_tag_ != nullptr) last_delegate_tag_ = node->wake_tag_;
      if (node->TryPin()) {  // else it is being destroyed: drop the expiry
        batch[n] = node;
        gens[n] = node->gen_;
        ++n;
      }
    }
  }
  PublishTopLocked();
  return n;
}

int64_t TimerService::BeginDelegate(const void* tag) {
  if (!MayDelegate(tag)) return kKtimeMax;
  std::lock_guard guard(lock_);
  if (heaps_[0].empty() || heaps_[0].front()->wake_tag_ != tag || ndelegates_ == kMaxDelegates) {
    return kKtimeMax;
  }
  const int64_t expires = heaps_[0].front()->expires_;
  delegates_[ndelegates_++] = {tag, expires};
  return expires;
}

void TimerService::EndDelegate(const void* tag, int64_t expires) {
  bool kick = false;
  {
    std::lock_guard guard(lock_);
    for (int i = 0; i < ndelegates_; ++i) {
      if (delegates_[i].tag == tag && delegates_[i].expires == expires) {
        delegates_[i] = delegates_[--ndelegates_];
        break;
      }
    }
    // Left before firing it (woken by something else) while the service holds the node
    // back: the service takes it on again, on time.
    if (!heaps_[0].empty()) {
      const TimerNode* top = heaps_[0].front();
      if (top->expires_ == expires && expires < sleeping_until_ && !CoveredLocked(top)) {
        sleeping_until_ = expires;
        kick = true;
      }
    }
  }
  if (kick) Kick();
}

void TimerService::FireDue() {
  TimerNode* batch[kFireBatch];
  uint64_t gens[kFireBatch];
  for (;;) {
    size_t n = 0;
    {
      std::lock_guard guard(lock_);
      int64_t now[kClockBases] = {0, 0, 0};
      n = CollectDueLocked(batch, gens, now, /*hold_back=*/false);
    }
    for (size_t i = 0; i < n; ++i) {
      batch[i]->Fire(gens[i]);
      batch[i]->Unpin();
    }
    fired_.fetch_add(n, std::memory_order_relaxed);
    fired_by_delegates_.fetch_add(n, std::memory_order_relaxed);
    if (n < kFireBatch) return;
  }
}

uint64_t TimerService::Arm(TimerNode* node, ClockBase base, int64_t expires,
                           const void* wake_tag) {
  bool kick = false;
  bool start = false;
  uint64_t gen = 0;
  {
    std::lock_guard guard(lock_);
    if (node->heap_index_ != TimerNode::kNotQueued) HeapRemove(node);
    node->base_ = base;
    node->expires_ = expires;
    node->wake_tag_ = base == ClockBase::kMonotonic ? wake_tag : nullptr;
    gen = ++node->gen_;
    HeapPush(node);
    PublishTopLocked();
    if (!thread_started_) {
      thread_started_ = true;
      start = true;
    }
    // Due before the thread means to wake: wake it now. Its own clock reads decide what is
    // due, so converting with a fresh reading here is only about when to look.
    if (!start) {
      int64_t now[kClockBases] = {Now(ClockBase::kMonotonic), 0, 0};
      int64_t mono = now[0];
      if (base != ClockBase::kMonotonic) now[static_cast<int>(base)] = Now(base);
      const int64_t left = expires - now[static_cast<int>(base)];
      if (left > 0) mono = left < kKtimeMax - now[0] ? now[0] + left : kKtimeMax;
      // A delegate will fire it (one sleeps on it, or fired its tag's last timer: a loop
      // arms its next timer, then sleeps), so the service need not be woken for it now if
      // it is up by the backup time anyway; then it looks again (and fires it if no delegate
      // sleeps on it by then).
      const bool predicted = node->wake_tag_ != nullptr &&
                             (node->wake_tag_ == last_delegate_tag_ || CoveredLocked(node));
      if (node->heap_index_ == 0 && predicted && mono < kKtimeMax - kDelegateGrace) {
        mono += kDelegateGrace;
      }
      if (mono < sleeping_until_) {
        sleeping_until_ = mono;
        kick = true;
      }
    }
  }
  if (start) platform::StartDetachedThread([this] { Run(); });
  if (base != ClockBase::kMonotonic) EnsureWatcher();
  if (kick) Kick();
  return gen;
}

void TimerService::Cancel(TimerNode* node) {
  std::lock_guard guard(lock_);
  if (node->heap_index_ != TimerNode::kNotQueued) HeapRemove(node);
  ++node->gen_;
  PublishTopLocked();
}

bool TimerService::Reserve() {
  std::lock_guard guard(lock_);
  try {
    if (AllocFailureInjected()) throw std::bad_alloc();
    for (auto& heap : heaps_) heap.reserve(reserved_ + 1);
    clock_set_nodes_.reserve(reserved_ + 1);
  } catch (const std::bad_alloc&) {
    return false;  // what did grow stays: room for later timers
  }
  ++reserved_;
  return true;
}

void TimerService::Unreserve() {
  std::lock_guard guard(lock_);
  --reserved_;
}

void TimerService::RegisterClockSet(TimerNode* node) {
  {
    std::lock_guard guard(lock_);
    if (node->clock_set_registered_) return;
    node->clock_set_registered_ = true;
    clock_set_nodes_.push_back(node);
  }
  EnsureWatcher();
}

void TimerService::UnregisterClockSet(TimerNode* node) {
  std::lock_guard guard(lock_);
  if (!node->clock_set_registered_) return;
  node->clock_set_registered_ = false;
  clock_set_nodes_.erase(std::find(clock_set_nodes_.begin(), clock_set_nodes_.end(), node));
}

size_t TimerService::QueuedForTest() {
  std::lock_guard guard(lock_);
  return heaps_[0].size() + heaps_[1].size() + heaps_[2].size();
}

void TimerService::Kick() {
  seq_.fetch_add(1, std::memory_order_release);
  platform::FutexWake(&seq_, 1);
}

// The clock watcher: a kernel timerfd on CLOCK_REALTIME with TFD_TIMER_CANCEL_ON_SET, never
// due; its read fails with ECANCELED once after each clock set (and resume). Made here, on
// the kernel's cancel list before the caller's timer is armed, so no clock set after this
// call returns goes unseen.
void TimerService::EnsureWatcher() {
  if (clock_fd_.load(std::memory_order_acquire) >= 0) return;
  std::lock_guard guard(make_mu_);
  if (clock_fd_.load(std::memory_order_relaxed) >= 0 || watcher_failed_) return;
  const int tfd = platform::MakeClockSetWatcher();
  if (tfd < 0) {
    watcher_failed_ = true;  // no notice of clock changes: REALTIME timers may fire late
    return;
  }
  clock_fd_.store(tfd, std::memory_order_release);
  platform::StartDetachedThread([this, tfd] { WatchClock(tfd); });
}

void TimerService::WatchClock(int fd) {
  // Until the descriptor is gone: clock sets are then seen only by SyncClockWasSet().
  while (platform::WaitClockSetWatcher(fd)) CheckClock(fd, /*poll_first=*/false);
}

void TimerService::SyncClockWasSet() {
  const int fd = clock_fd_.load(std::memory_order_acquire);
  if (fd >= 0) CheckClock(fd, /*poll_first=*/true);
}

// Under notice_mu_, so that a caller finds a notice another thread took already delivered.
// The nodes' references are dropped after it: a last one waits for a grace period
// (FilePut), which a caller of SyncClockWasSet, inside a read section, would hold up.
void TimerService::CheckClock(int fd, bool poll_first) {
  std::vector<TimerNode*> pinned;
  {
    std::lock_guard guard(notice_mu_);
    bool set = injected_clock_set_.exchange(false, std::memory_order_relaxed);
    if (!set && (!poll_first || kernel::Readable(fd))) set = platform::ReadClockSetNotice(fd);
    if (set) ClockWasSetLocked(&pinned);
  }
  for (TimerNode* node : pinned) node->Unpin();
}

// ---------------------------------------------------------------------------------------
// Fork (core/fork.h)

// No analysis: the locks stay held until the after-fork handlers.
void TimerService::PrepareFork() NO_THREAD_SAFETY_ANALYSIS {
  TimerService& s = Get();  // a construction under way finishes first
  s.notice_mu_.lock();
  s.make_mu_.lock();
  s.lock_.lock();
}

void TimerService::ParentAfterFork() {
  TimerService& s = Get();
  s.notice_mu_.AssertHeld();  // by PrepareFork()
  s.make_mu_.AssertHeld();
  s.lock_.AssertHeld();
  s.lock_.unlock();
  s.make_mu_.unlock();
  s.notice_mu_.unlock();
}

// The parent's timers are files the child does not have (core/fd_table.h): none stays
// queued, and their heap room stays reserved. The threads are the parent's.
void TimerService::ChildAfterFork() {
  TimerService& s = Get();
  s.notice_mu_.AssertHeld();  // by PrepareFork()
  s.make_mu_.AssertHeld();
  s.lock_.AssertHeld();
  for (auto& heap : s.heaps_) {
    for (TimerNode* node : heap) node->heap_index_ = TimerNode::kNotQueued;
    heap.clear();
  }
  for (TimerNode* node : s.clock_set_nodes_) node->clock_set_registered_ = false;
  s.clock_set_nodes_.clear();
  s.sleeping_until_ = kKtimeMax;
  s.thread_started_ = false;
  s.ndelegates_ = 0;  // they were the parent's threads
  s.last_delegate_tag_ = nullptr;
  s.PublishTopLocked();
  const int fd = s.clock_fd_.exchange(-1, std::memory_order_relaxed);
  if (fd >= 0) kernel::Close(fd);  // one open file with the parent's: its notices are theirs
  s.watcher_failed_ = false;
  s.lock_.unlock();
  s.make_mu_.unlock();
  s.notice_mu_.unlock();
}

namespace {
[[maybe_unused]] const bool fork_registered =
    (RegisterForkHandlers(ForkOrder::kTimerService,
                          {TimerService::PrepareFork, TimerService::ParentAfterFork,
                           TimerService::ChildAfterFork}),
     true);
}  // namespace

// ---------------------------------------------------------------------------------------
// The service thread

void TimerService::Run() {
  // Sleep to the nanosecond: futex timeouts otherwise get the default 50 us of slack.
  platform::SetTimerSlackNs(1);
  TimerNode* batch[kFireBatch];
  uint64_t gens[kFireBatch];
  for (;;) {
    size_t n = 0;
    int64_t deadline = kKtimeMax;
    uint32_t seq = 0;
    {
      std::lock_guard guard(lock_);
      seq = seq_.load(std::memory_order_acquire);
      int64_t now[kClockBases] = {Now(ClockBase::kMonotonic), 0, 0};
      n = CollectDueLocked(batch, gens, now, /*hold_back=*/true);
      if (n == 0) {
        for (int b = 1; b < kClockBases; ++b) {
          if (!heaps_[b].empty() && now[b] == 0) now[b] = Now(static_cast<ClockBase>(b));
        }
        deadline = EarliestMonotonicLocked(now);
      }
      sleeping_until_ = n > 0 ? now[0] : deadline;
    }
    if (n > 0) {
      for (size_t i = 0; i < n; ++i) {
        batch[i]->Fire(gens[i]);
        batch[i]->Unpin();
      }
      fired_.fetch_add(n, std::memory_order_relaxed);
      continue;  // time went on: look again before sleeping
    }
    const timespec until = deadline == kKtimeMax ? timespec{INT64_MAX / 4, 0} : ToTimespec(deadline);
    platform::FutexWaitUntil(&seq_, seq, until);
  }
}

void TimerService::ClockWasSetLocked(std::vector<TimerNode*>* pinned) {
  {
    std::lock_guard guard(lock_);
    pinned->reserve(clock_set_nodes_.size());
    for (TimerNode* node : clock_set_nodes_) {
      if (node->TryPin()) pinned->push_back(node);
    }
    sleeping_until_ = kKtimeMax;
  }
  Kick();  // the REALTIME and BOOTTIME deadlines moved
  for (TimerNode* node : *pinned) node->ClockWasSet();
}

}  // namespace uep
