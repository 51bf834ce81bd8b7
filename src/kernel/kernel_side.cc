#include "kernel/kernel_side.h"

#include <sys/eventfd.h>

#include <algorithm>
#include <cerrno>
#include <new>

#include "core/eventpoll.h"
#include "core/fork.h"
#include "core/trace.h"
#include "core/waiter.h"
#include "platform/clock.h"
#include "platform/fault.h"
#include "platform/kernel_fd.h"

namespace uep {
namespace {

// The process's links (kernel_side.h, "Nesting"): one kernel epoll instance holding the
// hidden instance of every instance that has parents, edge-triggered, data an id.
struct Links {
  StdMutex mu;  // level 2a of eventpoll.cc: everything here
  std::atomic<int> epfd{-1};
  uint64_t next_id GUARDED_BY(mu) = 1;
  struct Entry {
    EventPoll* ep;
    int fd;
  };
  std::unordered_map<uint64_t, Entry> by_id GUARDED_BY(mu);
  std::unordered_map<const EventPoll*, uint64_t> ids GUARDED_BY(mu);
};
Links& TheLinks() {
  static auto* links = new Links;  // never destroyed: instances may outlive static exit
  return *links;
}

// Instances by ring token, for OnRingEvent() (a leaf lock).
StdMutex registry_mu;
std::unordered_map<uint64_t, KernelSide*> registry GUARDED_BY(registry_mu);
uint64_t next_token GUARDED_BY(registry_mu) = 1;
// The token of the links' watch (their events are counted in KernelSide::links_events).
constexpr uint64_t kLinksToken = 0;

// Fork (core/fork.h): the links and the registry are whole in the child, and a ring made
// in another process is never used there.
[[maybe_unused]] const bool fork_registered =
    (RegisterForkHandlers(ForkOrder::kKernelLinks,
                          {[]() ACQUIRE(TheLinks().mu, registry_mu) {
                             TheLinks().mu.lock();
                             registry_mu.lock();
                           },
                           []() RELEASE(TheLinks().mu, registry_mu) {
                             registry_mu.unlock();
                             TheLinks().mu.unlock();
                           },
                           []() RELEASE(registry_mu) {
                             // The child forgets the parent's instances, and must never
                             // drain the parent's links (edges the parent would lose).
                             Links& links = TheLinks();
                             links.mu.AssertHeld();  // by the prepare handler
                             const int fd = links.epfd.exchange(-1, std::memory_order_relaxed);
                             if (fd >= 0) kernel::Close(fd);
                             links.by_id.clear();
                             links.ids.clear();
                             registry_mu.unlock();
                             links.mu.unlock();
                             platform::ReadinessRingsAfterFork();
                           }}),
     true);

// Signals a thread that cannot reset the ring may see in a row before it takes the ring
// over (the issuer stopped harvesting this instance).
constexpr unsigned kForeignSignals = 64;

int LinksFd(int* error) {
  Links& links = TheLinks();
  int fd = links.epfd.load(std::memory_order_acquire);
  if (fd >= 0) return fd;
  std::lock_guard guard(links.mu);
  fd = links.epfd.load(std::memory_order_relaxed);
  if (fd < 0) {
    fd = kernel::EpollCreate1(EPOLL_CLOEXEC);
    if (fd < 0) {
      *error = -errno;
      return -1;
    }
    links.epfd.store(fd, std::memory_order_release);
  }
  return fd;
}

}  // namespace

int KernelLinksAdd(EventPoll* child, int child_epfd) {
  int error = 0;
  const int links_fd = LinksFd(&error);
  if (links_fd < 0) return error;
  Links& links = TheLinks();
  std::lock_guard guard(links.mu);
  if (links.ids.count(child) != 0) return 0;
  if (AllocFailureInjected()) return -ENOMEM;
  const uint64_t id = links.next_id++;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;
  ev.data.u64 = id;
  if (kernel::EpollCtl(links_fd, EPOLL_CTL_ADD, child_epfd, &ev) != 0) return -errno;
  try {
    links.by_id.emplace(id, Links::Entry{child, child_epfd});
    links.ids.emplace(child, id);
  } catch (const std::bad_alloc&) {
    links.by_id.erase(id);
    kernel::EpollCtl(links_fd, EPOLL_CTL_DEL, child_epfd, &ev);
    return -ENOMEM;
  }
  return 0;
}

int KernelLinksFd() { return TheLinks().epfd.load(std::memory_order_acquire); }

void KernelLinksRemove(EventPoll* child) {
  Links& links = TheLinks();
  std::lock_guard guard(links.mu);
  auto it = links.ids.find(child);
  if (it == links.ids.end()) return;
  auto entry = links.by_id.find(it->second);
  if (entry != links.by_id.end()) {
    epoll_event none{};
    kernel::EpollCtl(links.epfd.load(std::memory_order_relaxed), EPOLL_CTL_DEL, entry->second.fd,
                     &none);
    links.by_id.erase(entry);
  }
  links.ids.erase(it);
}

KernelSide* KernelSide::Create(int* error) {
  auto* ks = AllocFailureInjected() ? nullptr : new (std::nothrow) KernelSide;
  if (ks == nullptr) {
    *error = -ENOMEM;
    return nullptr;
  }
  ks->bell.func = KernelSideBellWake;
  ks->bell.private_data = ks;
  ks->level.func = KernelSideLevelWake;
  ks->level.private_data = ks;
  ks->epfd_ = kernel::EpollCreate1(EPOLL_CLOEXEC);
  if (ks->epfd_ >= 0) ks->doorbell_ = kernel::Eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;
  ev.data.u64 = kReservedData;
  if (ks->epfd_ < 0 || ks->doorbell_ < 0 ||
      kernel::EpollCtl(ks->epfd_, EPOLL_CTL_ADD, ks->doorbell_, &ev) != 0) {
    *error = -errno;
    delete ks;
    return nullptr;
  }
  ks->ring_mode_ = platform::KernelReadinessMode() == platform::KernelReadiness::kUring;
  try {
    std::lock_guard guard(registry_mu);
    registry.emplace(next_token, ks);
    ks->token_ = next_token++;
  } catch (const std::bad_alloc&) {
    ks->ring_failed_.store(true, std::memory_order_relaxed);  // no ring: asks by system call
  }
  return ks;
}

KernelSide::~KernelSide() {
  if (token_ != 0) {
    std::lock_guard guard(registry_mu);
    registry.erase(token_);
  }
  // The rings' issuers cancel the watch (its poll holds the hidden instance open till then).
  if (platform::ReadinessRing* ring = ring_.load(std::memory_order_relaxed)) {
    ring->Unwatch(token_);
    ring->Release();
  }
  for (platform::ReadinessRing* ring : retired_rings_) ring->Release();
  for (int fd : {notify_epfd_, level_fd_, sleep_epfd_.load(std::memory_order_relaxed), doorbell_,
                 epfd_}) {
    if (fd >= 0) kernel::Close(fd);
  }
}

uint64_t KernelSide::NewEscape(uint64_t data) {
  // Ids run from kReservedData + 1 to kReservedData + kReservedSpan - 1.
  if (escapes_.size() >= kReservedSpan - 1) return 0;
  uint64_t id = 0;
  do {
    id = kReservedData + next_escape_;
    next_escape_ = next_escape_ % (kReservedSpan - 1) + 1;
  } while (escapes_.count(id) != 0);
  if (AllocFailureInjected()) return 0;
  try {
    escapes_.emplace(id, data);
  } catch (const std::bad_alloc&) {
    return 0;
  }
  return id;
}

int KernelSide::Ctl(int op, int fd, const epoll_event* event) {
  epoll_event ev{};
  if (event != nullptr && op != EPOLL_CTL_DEL) ev = *event;  // DEL never reads it
  uint64_t escape = 0;
  if (op != EPOLL_CTL_DEL && ev.data.u64 - kReservedData < kReservedSpan) {
    // The caller's data could be mistaken for ours: the kernel gets an escape id instead.
    std::lock_guard guard(mu_);
    escape = NewEscape(ev.data.u64);
    if (escape == 0) return -ENOMEM;
    ev.data.u64 = escape;
  }
  if (kernel::EpollCtl(epfd_, op, fd, &ev) != 0) {
    const int error = errno;
    if (escape != 0) {
      std::lock_guard guard(mu_);
      escapes_.erase(escape);
    }
    return -error;
  }
  // (An escape id replaced by MOD or DEL stays allocated until the instance goes: the
  // kernel does not say which id the item had. Only data in the reserved span gets one.)
  if (op == EPOLL_CTL_ADD) items_.fetch_add(1, std::memory_order_relaxed);
  if (op == EPOLL_CTL_DEL) items_.fetch_sub(1, std::memory_order_relaxed);
  // A new item may be ready at once, before any ring watches: ask at the next harvest.
  if (op != EPOLL_CTL_DEL) MarkBusy();
  return 0;
}

int KernelSide::Harvest(epoll_event* events, int maxevents, const timespec* timeout,
                        const sigset_t* sigmask, bool* rang, bool* fired, int* raw) {
  const bool poll_only = timeout != nullptr && timeout->tv_sec == 0 && timeout->tv_nsec == 0 &&
                         sigmask == nullptr;
  const int sleep_fd = sleep_epfd_.load(std::memory_order_acquire);
  const uint64_t seq = BeginAsk();
  int n = 0;
  if (!poll_only && sleep_fd >= 0) {
    // Sleep on {hidden instance, links}, then collect what woke us.
    epoll_event tags[2];
    const int woken = kernel::EpollPwait2(sleep_fd, tags, 2, timeout, sigmask);
    if (woken < 0) {
      const int error = errno;
      EndAsk(seq, 1);
      return -error;
    }
    if (raw != nullptr) *raw = woken;
    if (woken == 0) {
      EndAsk(seq, 0);
      return 0;
    }
    DrainLinks(fired);
    n = kernel::EpollPoll(epfd_, events, maxevents);
  } else {
    n = poll_only ? kernel::EpollPoll(epfd_, events, maxevents)
                  : kernel::EpollPwait2(epfd_, events, maxevents, timeout, sigmask);
    if (raw != nullptr && n >= 0) *raw = n;
  }
  if (n < 0) {
    const int error = errno;
    EndAsk(seq, 1);
    return -error;
  }
  EndAsk(seq, n);
  int out = 0;
  for (int i = 0; i < n; ++i) {
    const uint64_t data = events[i].data.u64;
    if (data - kReservedData >= kReservedSpan) {
      events[out++] = events[i];
      continue;
    }
    if (data == kReservedData) {
      *rang = true;
      continue;
    }
    std::lock_guard guard(mu_);
    auto it = escapes_.find(data);
    if (it == escapes_.end()) continue;  // not an id we handed out
    events[out] = events[i];
    events[out++].data.u64 = it->second;
  }
  return out;
}

void KernelSide::EndAsk(uint64_t seq, int raw) {
  if (raw > 0) {
    MarkBusy();  // level-triggered items may still be ready: ask again next time
  } else if (asks_.load(std::memory_order_acquire) == seq) {
    idle_at_.store(seq, std::memory_order_release);
  }
}

void KernelSide::OnRingEvent(uint64_t token, bool ended) {
  if (token == kLinksToken) {
    UEP_TRACE(kRingSignal, nullptr, nullptr, nullptr, nullptr, ended ? 1U : 0U, 0);
    links_events.fetch_add(1, std::memory_order_acq_rel);
    return;
  }
  std::lock_guard guard(registry_mu);
  auto it = registry.find(token);
  if (it == registry.end()) return;
  UEP_TRACE(kRingSignal, it->second, nullptr, nullptr, nullptr, ended ? 1U : 0U, 0);
  it->second->pending_.store(true, std::memory_order_release);
}

// No analysis: a try_to_lock guard (owns_lock() decides), beyond the analysis.
void KernelSide::AttachRing() NO_THREAD_SAFETY_ANALYSIS {
  std::unique_lock guard(ring_mu_, std::try_to_lock);
  if (!guard.owns_lock() || ring_failed_.load(std::memory_order_relaxed)) return;
  platform::ReadinessRing* mine = platform::ReadinessRing::ForThisThread();
  if (mine == nullptr || !mine->Watch(token_, epfd_)) {
    UEP_TRACE(kRingRearm, this, nullptr, nullptr, nullptr, 0, 1);
    ring_failed_.store(true, std::memory_order_release);  // asks by system call from now on
    return;
  }
  UEP_TRACE(kRingRearm, this, nullptr, nullptr, nullptr, 1, 1);
  try {
    retired_rings_.reserve(retired_rings_.size() + 1);
  } catch (const std::bad_alloc&) {
    mine->Unwatch(token_);
    return;
  }
  mine->Hold();
  links_armed_.store(false, std::memory_order_relaxed);
  if (platform::ReadinessRing* old = ring_.exchange(mine, std::memory_order_acq_rel)) {
    old->Unwatch(token_);
    retired_rings_.push_back(old);  // another thread may still read it
  }
  foreign_signals_.store(0, std::memory_order_relaxed);
}

bool KernelSide::ShouldAsk() {
  if (!ring_mode_ || ring_failed_.load(std::memory_order_relaxed)) {
    return true;
  }
  platform::ReadinessRing* ring = ring_.load(std::memory_order_acquire);
  if (ring == nullptr || !ring->IssuerAlive()) {
    AttachRing();  // the kernel is asked this time: whatever happened before is seen
    return true;
  }
  if (drains_links() && !links_armed_.load(std::memory_order_acquire)) {
    if (ring->CalledByIssuer()) {
      int error = 0;
      const int links_fd = LinksFd(&error);
      if (links_fd < 0 ||
          (!ring->Watching(kLinksToken) && !ring->Watch(kLinksToken, links_fd))) {
        ring_failed_.store(true, std::memory_order_release);
      }
      links_armed_.store(true, std::memory_order_release);
    }
    return true;
  }
  if (Busy()) return true;
  const auto links_changed = [this] {
    if (!drains_links()) return false;
    const uint64_t events = links_events.load(std::memory_order_acquire);
    if (links_seen_.load(std::memory_order_relaxed) == events) return false;
    links_seen_.store(events, std::memory_order_relaxed);
    return true;
  };
  if (pending_.load(std::memory_order_acquire) &&
      pending_.exchange(false, std::memory_order_acq_rel)) {
    return true;
  }
  if (links_changed()) return true;
  if (!ring->Signalled()) return false;
  if (!ring->CalledByIssuer()) {
    // Only the issuer can consume the signal, which may be another instance's: ask. A
    // thread that keeps seeing it harvests here and the issuer does not: take the watch.
    if (foreign_signals_.fetch_add(1, std::memory_order_relaxed) + 1 >= kForeignSignals) {
      AttachRing();
    }
    return true;
  }
  foreign_signals_.store(0, std::memory_order_relaxed);
  if (!ring->Reset(OnRingEvent)) {
    UEP_TRACE(kRingRearm, this, nullptr, nullptr, nullptr, 0, 0);
    ring_failed_.store(true, std::memory_order_release);
    return true;
  }
  UEP_TRACE(kRingRearm, this, nullptr, nullptr, nullptr, 1, 0);
  const bool mine = pending_.load(std::memory_order_acquire) &&
                    pending_.exchange(false, std::memory_order_acq_rel);
  return links_changed() || mine;
}

void KernelSide::DrainLinks(bool* fired) {
  if (!drains_links()) return;
  Links& links = TheLinks();
  const int links_fd = links.epfd.load(std::memory_order_acquire);
  if (links_fd < 0) return;
  std::lock_guard guard(links.mu);
  constexpr int kBatch = 16;
  epoll_event events[kBatch];
  int n = 0;
  do {
    n = kernel::EpollPoll(links_fd, events, kBatch);
    for (int i = 0; i < n; ++i) {
      const uint64_t id = events[i].data.u64;  // a copy: epoll_event is packed
      auto entry = links.by_id.find(id);
      if (entry == links.by_id.end()) continue;
      // Under links.mu: the instance is not freed meanwhile (KernelLinksRemove).
      if (EventPoll::WakeParentsForKernelEvent(entry->second.ep)) *fired = true;
    }
  } while (n == kBatch);
}

int KernelSide::EnableLinks() {
  if (drains_links()) return 0;
  int error = 0;
  const int links_fd = LinksFd(&error);
  if (links_fd < 0) return error;
  const int sleep = kernel::EpollCreate1(EPOLL_CLOEXEC);
  if (sleep < 0) return -errno;
  epoll_event own{};
  own.events = EPOLLIN;
  own.data.u64 = kOwnData;
  epoll_event linked{};
  linked.events = EPOLLIN;
  linked.data.u64 = kLinksData;
  if (kernel::EpollCtl(sleep, EPOLL_CTL_ADD, epfd_, &own) != 0 ||
      kernel::EpollCtl(sleep, EPOLL_CTL_ADD, links_fd, &linked) != 0) {
    const int e = errno;
    kernel::Close(sleep);
    return -e;
  }
  {
    std::lock_guard guard(mu_);
    if (notify_epfd_ >= 0) kernel::EpollCtl(notify_epfd_, EPOLL_CTL_ADD, links_fd, &linked);
  }
  sleep_epfd_.store(sleep, std::memory_order_release);
  drains_links_.store(true, std::memory_order_release);
  MarkBusy();
  return 0;
}

bool KernelSide::Readable() const { return kernel::Readable(epfd_); }

int KernelSide::NotifyFd() {
  std::lock_guard guard(mu_);
  if (notify_epfd_ >= 0) return notify_epfd_;
  const int level_fd = kernel::Eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (level_fd < 0) return -errno;
  const int notify = kernel::EpollCreate1(EPOLL_CLOEXEC);
  if (notify < 0) {
    const int error = errno;
    kernel::Close(level_fd);
    return -error;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  if (kernel::EpollCtl(notify, EPOLL_CTL_ADD, level_fd, &ev) != 0 ||
      kernel::EpollCtl(notify, EPOLL_CTL_ADD, epfd_, &ev) != 0) {
    const int error = errno;
    kernel::Close(notify);
    kernel::Close(level_fd);
    return -error;
  }
  if (drains_links()) {
    int error = 0;
    const int links_fd = LinksFd(&error);
    if (links_fd >= 0) kernel::EpollCtl(notify, EPOLL_CTL_ADD, links_fd, &ev);
  }
  level_fd_ = level_fd;
  notify_epfd_ = notify;
  return notify;
}

namespace {

// One write to the eventfd `fd` until its reader takes it (clears `pending`): wake-ups
// meanwhile find it pending (ep->lock held).
void RingOnceLocked(bool* pending, uint64_t* posted, int fd) {
  if (*pending) return;
  *pending = true;
  ++*posted;
  WaiterRingDoorbell(fd);
}

}  // namespace

int KernelSideBellWake(WaitQueueEntry* wait, unsigned /*mode*/, int /*sync*/, uint32_t /*key*/) {
  auto* ks = static_cast<KernelSide*>(wait->private_data);
  RingOnceLocked(&ks->rung, &ks->rings_posted, ks->doorbell_fd());
  return 0;
}

int KernelSideLevelWake(WaitQueueEntry* wait, unsigned /*mode*/, int /*sync*/, uint32_t /*key*/) {
  auto* ks = static_cast<KernelSide*>(wait->private_data);
  RingOnceLocked(&ks->raised, &ks->level_posted, ks->level_fd());
  return 0;
}

// ---- The bridge's half of an instance's paths (the core's half is in core/eventpoll.cc) ----

bool KernelSide::BeginPoll() {
  const bool ask = has_items() && ShouldAsk();
  bool fired = false;
  if (ask) DrainLinks(&fired);
  return ask;
}

bool KernelSide::OwnReady(EventPoll* ep) {
  if (own_items() <= 0) return false;
  // An ask that harvests nothing: the hint stays busy while the hidden instance is
  // readable, so the next harvest asks too.
  // (Readable for a ring nobody took is not ready: drop it and ask again.)
  const uint64_t seq = BeginAsk();
  const bool readable = Readable() && (!DropStaleDoorbell(ep) || Readable());
  EndAsk(seq, readable ? 1 : 0);
  return readable;
}

int KernelSide::SleepFd(EventPoll* ep) {
  if (!has_items()) return -1;
  DropStaleDoorbell(ep);
  return sleep_fd();
}

void KernelSide::Destroy(EventPoll* ep) {
  KernelLinksRemove(ep);  // before the memory goes: a drain may be about to use it
  delete this;
}

int KernelBridgeCtl(EventPoll* ep, int op, int fd, epoll_event* event) {
  std::unique_lock guard(ep->mtx_);
  auto* ks = static_cast<KernelSide*>(ep->kside_.load(std::memory_order_relaxed));
  if (ks == nullptr) {
    epoll_event none{};
    // Nothing to create for an operation that cannot add: the kernel's answer for an
    // instance without kernel descriptors (EPERM, EINVAL, ENOENT ...).
    if (op != EPOLL_CTL_ADD) return kernel::EmptyEpollCtl(op, fd, event != nullptr ? event : &none);
    int error = 0;
    ks = KernelSide::Create(&error);
    if (ks == nullptr) return error;
    if (const int r = ks->Ctl(op, fd, event); r != 0) {
      delete ks;
      return r;
    }
    ep->kside_.store(ks, std::memory_order_release);
    ep->ActivateKernelSide(ks);
    guard.unlock();
    ep->KernelSideCreated();
    return 0;
  }
  const int r = ks->Ctl(op, fd, event);
  if (r == 0 && op == EPOLL_CTL_ADD && ep->ActivateKernelSide(ks)) {
    guard.unlock();
    ep->KernelSideCreated();  // active now: the parents link it
  }
  return r;
}

namespace {

// An instance's kernel side `current` (read under ep->mtx), or a new one (*created) that
// the caller publishes in ep->kside_; nullptr with *error if it cannot be made.
KernelSide* KernelSideOrNew(KernelBridge* current, bool* created, int* error) {
  auto* ks = static_cast<KernelSide*>(current);
  *created = ks == nullptr;
  return ks != nullptr ? ks : KernelSide::Create(error);
}

}  // namespace

int KernelBridgeLinkChild(EventPoll* ep, EventPoll* child) {
  auto* cks = static_cast<KernelSide*>(child->kside_.load(std::memory_order_acquire));
  if (const int r = KernelLinksAdd(child, cks->epfd()); r != 0) return r;
  bool created = false;
  int error = 0;
  KernelSide* ks = KernelSideOrNew(ep->kside_.load(std::memory_order_relaxed), &created, &error);
  if (ks == nullptr) return error;
  if (created) ep->kside_.store(ks, std::memory_order_release);
  const bool newly = !ks->drains_links();
  if (const int r = ks->EnableLinks(); r != 0) return r;
  const bool activated = ep->ActivateKernelSide(ks);
  return created || newly || activated ? 1 : 0;
}

int KernelBridgeNotifyFd(EventPoll* ep) {
  std::unique_lock guard(ep->mtx_);
  bool created = false;
  int error = 0;
  KernelSide* ks = KernelSideOrNew(ep->kside_.load(std::memory_order_relaxed), &created, &error);
  if (ks == nullptr) return error;
  const int fd = ks->NotifyFd();
  if (fd < 0) {
    if (created) delete ks;
    return fd;
  }
  if (created) ep->kside_.store(ks, std::memory_order_release);
  {
    std::lock_guard lock(ep->wq_.lock);
    if (!ks->level.entry.Linked()) {
      AddWaitQueueLocked(&ep->wq_, &ks->level);
      ks->has_level.store(true, std::memory_order_release);
      if (ep->EventsAvailable()) KernelSideLevelWake(&ks->level, 0, 0, 0);
    }
  }
  const bool activated = ep->ActivateKernelSide(ks);
  guard.unlock();
  if (created || activated) ep->KernelSideCreated();
  return fd;
}

// A ring that no sleeper harvested (it came after the last sleeper's harvest, e.g. from that
// sleeper's own drain of the links) leaves the doorbell's edge queued in the hidden instance,
// which then stays readable for poll(2) though nothing is ready: a poller of the instance
// would spin, and a poll of it would report EPOLLIN. With no ring owed to a sleeper
// (`rung` clear), empty the doorbell: the kernel drops an edge whose file is no longer
// readable at the next poll or harvest. The read is made without ep->lock (its holders make
// no system call), so a ring posted meanwhile may be eaten by it: it is posted again. True
// if a count was drained.
bool KernelSide::DropStaleDoorbell(EventPoll* ep) {
  KernelSide* ks = this;
  WakeScope wake_scope;  // a ring posted again is written after ep->lock is released
  {
    std::lock_guard guard(ep->wq_.lock);
    if (ks->rung || ks->rings_posted == ks->rings_drained) return false;
  }
  uint64_t count = 0;
  if (kernel::Read(ks->doorbell_fd(), &count, sizeof count) != sizeof count) count = 0;
  std::lock_guard guard(ep->wq_.lock);
  ks->rings_drained += count;
  if (ks->rung) {
    ++ks->rings_posted;
    WaiterRingDoorbell(ks->doorbell_fd());
  }
  return count != 0;
}

// After a harvest: lower the level eventfd if the ready list is empty. Reads it only when
// writes were posted since the last read; a raise that raced with the read is re-posted.
void KernelSide::LowerLevel(EventPoll* ep) {
  KernelSide* ks = this;
  if (!ks->has_level.load(std::memory_order_acquire)) return;
  {
    std::lock_guard guard(ep->wq_.lock);
    if (!ks->level.entry.Linked() || ep->EventsAvailable()) return;
    ks->raised = false;
    if (ks->level_posted == ks->level_drained) return;
  }
  uint64_t count = 0;
  if (kernel::Read(ks->level_fd(), &count, sizeof count) != sizeof count) count = 0;
  std::lock_guard guard(ep->wq_.lock);
  ks->level_drained += count;
  if (ks->raised && ks->level_posted == ks->level_drained) {
    ++ks->level_posted;
    WaiterRingDoorbell(ks->level_fd());
  }
}

// The doorbell's event was taken by a thread that is not about to harvest the ready list
// for a sleeper: pass the ring on if a sleeper may be left without it.
void KernelSide::RingTaken(EventPoll* ep) {
  KernelSide* ks = this;
  std::lock_guard guard(ep->wq_.lock);
  ks->rung = false;
  if (ks->sleepers > 0 && ep->EventsAvailable()) KernelSideBellWake(&ks->bell, 0, 0, 0);
}

int KernelSide::Wait(EventPoll* ep, epoll_event* events, int maxevents,
                     platform::Timeout* timeout, const sigset_t* sigmask, SleepPermit* permit) {
  KernelSide* ks = this;
  // wait(0) with nothing ready on either side: a few loads (the readiness ring).
  if (timeout->nonblocking() && !ep->EventsAvailable() && (!has_items() || LooksIdle())) return 0;
  static constexpr timespec kZero{0, 0};
  bool timed_out = timeout->nonblocking();
  for (;;) {
    int n = 0;
    bool rang = false;
    bool fired = false;
    // Both sides fill maxevents in every call, user space first, as one ready list would
    // (semantics.md). The kernel is asked only when it may have something (ShouldAsk).
    // An idle kernel side is seen in plain loads, still in the caller's RCU read section;
    // otherwise leave it: asking takes the links' lock and ep->mtx.
    bool ask = false;
    if (ks->has_items() && !ks->LooksIdle()) {
      if (!permit->Acquire()) return -EBADF;
      // A call that may sleep with nothing ready in user space: its sleep (epoll_pwait2 on
      // the hidden instance) returns at once what the kernel side has, so an ask with
      // timeout 0 first would be a second system call for the same answer.
      const bool sleep_asks = !timed_out && !ks->drains_links() && ks->AsksAnyway() &&
                              !ep->EventsAvailable();
      ask = !sleep_asks && ks->ShouldAsk();
    }
    // Descendants' kernel events first, as the kernel would have queued them already: an
    // item reported now must not be queued again later by an event it already covers.
    if (ask) ks->DrainLinks(&fired);
    const bool ask_own = ask && ks->own_items() > 0;
    // After a call that user-space events filled, the kernel side goes first: a
    // level-triggered user item that was reported goes to the back of the line, as in the
    // kernel's one ready list, so kernel items are never starved.
    const bool first = ask_own && ks->kernel_first.load(std::memory_order_relaxed) &&
                       ks->kernel_first.exchange(false, std::memory_order_relaxed);
    if (first) {
      int raw = 0;
      const int k = ks->Harvest(events, maxevents, &kZero, nullptr, &rang, &fired, &raw);
      UEP_TRACE(kKernelHarvest, ks, nullptr, nullptr, ep, uint32_t(raw), uint32_t(k));
      if (k < 0) return k;
      n = k;
    }
    if (n < maxevents && ep->EventsAvailable()) {
      const int u = ep->SendEvents(events + n, maxevents - n, permit);
      if (u < 0 && n == 0) return u;
      if (u > 0) n += u;
    }
    if (ask_own && !first) {
      if (n < maxevents) {
        int raw = 0;
        const int k =
            ks->Harvest(events + n, maxevents - n, &kZero, nullptr, &rang, &fired, &raw);
        UEP_TRACE(kKernelHarvest, ks, nullptr, nullptr, ep, uint32_t(raw), uint32_t(k));
        if (k < 0 && n == 0) return k;
        if (k > 0) n += k;
      } else {
        ks->MarkBusy();  // the signal was taken and the kernel not asked: ask next time
        ks->kernel_first.store(true, std::memory_order_relaxed);
      }
    }
    if (rang) RingTaken(ep);
    if (ks->has_level.load(std::memory_order_acquire)) LowerLevel(ep);
    if (n == 0 && fired) continue;  // a child's item is queued now: harvest it
    if (n > 0) return n;
    if (timed_out) return 0;
    if (!permit->Acquire()) return -EBADF;

    {
      std::lock_guard guard(ep->wq_.lock);
      if (ep->EventsAvailable()) continue;
      if (ks->sleepers++ == 0) AddWaitQueueLocked(&ep->wq_, &ks->bell);
    }
    FlushDeferredWakes();  // never sleep on wake-ups this thread still owes
    timespec left{};
    const timespec* tmo = nullptr;
    if (const timespec& deadline = timeout->Deadline(); !platform::IsNever(deadline)) {
      left = platform::Remaining(deadline);
      tmo = &left;
    }
    rang = false;
    fired = false;
    int raw = 0;
    UEP_TRACE(kKernelSleep, ks, nullptr, nullptr, ep,
              tmo == nullptr ? ~0U : uint32_t(tmo->tv_sec * 1000 + tmo->tv_nsec / 1000000),
              ks->drains_links() ? 1U : 0U);
    n = ks->Harvest(events, maxevents, tmo, sigmask, &rang, &fired, &raw);
    UEP_TRACE(kKernelSleepEnd, ks, nullptr, nullptr, ep, uint32_t(n), uint32_t(raw));
    {
      std::lock_guard guard(ep->wq_.lock);
      if (rang) ks->rung = false;
      if (--ks->sleepers == 0) {
        ks->bell.entry.DelInit();
        ks->rung = false;
      }
    }
    if (n < 0) return n;  // -EINTR as the kernel's, after the mask was applied atomically
    if (n > 0) {
      if (n < maxevents && ep->EventsAvailable()) {
        // User-space events come first in a call, as on every other harvest.
        const int u = ep->SendEvents(events + n, maxevents - n);
        if (u > 0) {
          std::rotate(events, events + n, events + n + u);
          n += u;
        }
      } else if (rang) {
        RingTaken(ep);  // no room for what rang: another sleeper may take it
      }
      LowerLevel(ep);
      return n;
    }
    // Nothing from the kernel: the doorbell or a child (harvest the ready list), the
    // timeout, or an event that was nobody's by the time it was looked at (a link that
    // another thread drained first): that is no timeout, sleep again.
    if (fired) rang = true;
    if (raw == 0 || (tmo != nullptr && tmo->tv_sec == 0 && tmo->tv_nsec == 0)) timed_out = true;
    if (raw != 0 && tmo != nullptr) {
      const timespec rest = platform::Remaining(timeout->Deadline());
      if (rest.tv_sec == 0 && rest.tv_nsec == 0) timed_out = true;
    }
  }
}

}  // namespace uep
