#include "core/kernel_side.h"

#include <sys/eventfd.h>

#include <algorithm>
#include <cerrno>
#include <new>

#include "core/eventpoll.h"
#include "core/waiter.h"
#include "platform/clock.h"
#include "platform/fault.h"
#include "platform/kernel_fd.h"

namespace uep {

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
  return ks;
}

KernelSide::~KernelSide() {
  for (int fd : {notify_epfd_, level_fd_, links_epfd_, doorbell_, epfd_}) {
    if (fd >= 0) kernel::Close(fd);
  }
}

uint64_t KernelSide::NewEscape(const Escape& escape) {
  // Ids run from kReservedData + 1 to kLinksData - 1.
  if (escapes_.size() >= kReservedSpan - 2) return 0;
  uint64_t id = 0;
  do {
    id = kReservedData + next_escape_;
    next_escape_ = next_escape_ % (kReservedSpan - 2) + 1;
  } while (escapes_.count(id) != 0);
  if (AllocFailureInjected()) return 0;
  try {
    escapes_.emplace(id, escape);
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
    escape = NewEscape({ev.data.u64, nullptr});
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
  return 0;
}

int KernelSide::Harvest(epoll_event* events, int maxevents, const timespec* timeout,
                        const sigset_t* sigmask, bool* rang, bool* fired, int* raw) {
  const bool poll_only = timeout != nullptr && timeout->tv_sec == 0 && timeout->tv_nsec == 0 &&
                         sigmask == nullptr;
  const int n = poll_only ? kernel::EpollPoll(epfd_, events, maxevents)
                          : kernel::EpollPwait2(epfd_, events, maxevents, timeout, sigmask);
  if (n < 0) return -errno;
  if (raw != nullptr) *raw = n;
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
    if (data == kLinksData) {
      DrainLinks(fired);
      continue;
    }
    std::lock_guard guard(mu_);
    auto it = escapes_.find(data);
    if (it == escapes_.end()) continue;  // not an id we handed out
    events[out] = events[i];
    events[out++].data.u64 = it->second.data;
  }
  return out;
}

void KernelSide::DrainLinks(bool* fired) {
  if (children_linked_.load(std::memory_order_relaxed) == 0) return;
  std::lock_guard guard(mu_);
  if (links_epfd_ < 0) return;
  constexpr int kBatch = 16;
  epoll_event events[kBatch];
  int n = 0;
  do {
    n = kernel::EpollPoll(links_epfd_, events, kBatch);
    for (int i = 0; i < n; ++i) {
      const uint64_t id = events[i].data.u64;  // a copy: epoll_event is packed
      auto escape = escapes_.find(id);
      if (escape == escapes_.end()) continue;
      auto child = children_.find(escape->second.child);
      if (child == children_.end()) continue;
      // Under mu_: UnlinkChild() keeps the hooks' items and the child alive meanwhile.
      // Walking the queue fires our hooks in the order a wake-up of the child would, and
      // skips a hook already taken off (an item being removed).
      const std::vector<WaitQueueEntry*>& hooks = child->second.hooks;
      WaitQueueHead* queue = child->second.poll_wait;
      std::lock_guard queue_guard(queue->lock);
      for (ListHead *pos = queue->head.next(), *next = pos->next(); pos != &queue->head;
           pos = next, next = pos->next()) {
        WaitQueueEntry* entry = UEP_CONTAINER_OF(pos, WaitQueueEntry, entry);
        if (std::find(hooks.begin(), hooks.end(), entry) == hooks.end()) continue;
        entry->func(entry, 0, 0, EPOLLIN);
        *fired = true;
      }
    }
  } while (n == kBatch);
}

int KernelSide::LinkChild(const void* key, int child_epfd, WaitQueueHead* child_poll_wait,
                          WaitQueueEntry* hook) {
  std::lock_guard guard(mu_);
  if (links_epfd_ < 0) {
    const int links = kernel::EpollCreate1(EPOLL_CLOEXEC);
    if (links < 0) return -errno;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kLinksData;
    if (kernel::EpollCtl(epfd_, EPOLL_CTL_ADD, links, &ev) != 0) {
      const int error = errno;
      kernel::Close(links);
      return -error;
    }
    links_epfd_ = links;
  }
  try {
    Child& child = children_[key];
    if (child.escape == 0) {
      const uint64_t id = NewEscape({0, key});
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLET;
      ev.data.u64 = id;
      if (id == 0 || kernel::EpollCtl(links_epfd_, EPOLL_CTL_ADD, child_epfd, &ev) != 0) {
        const int error = id == 0 ? ENOMEM : errno;
        escapes_.erase(id);
        children_.erase(key);
        return -error;
      }
      child.escape = id;
      child.poll_wait = child_poll_wait;
      children_linked_.fetch_add(1, std::memory_order_relaxed);
      items_.fetch_add(1, std::memory_order_relaxed);
    }
    for (const WaitQueueEntry* linked : child.hooks) {
      if (linked == hook) return 0;
    }
    child.hooks.push_back(hook);
  } catch (const std::bad_alloc&) {
    return -ENOMEM;
  }
  return 0;
}

void KernelSide::UnlinkChild(const void* key, int child_epfd, WaitQueueEntry* hook) {
  std::lock_guard guard(mu_);
  auto it = children_.find(key);
  if (it == children_.end()) return;
  std::vector<WaitQueueEntry*>& hooks = it->second.hooks;
  for (size_t i = 0; i < hooks.size(); ++i) {
    if (hooks[i] == hook) {
      hooks[i] = hooks.back();
      hooks.pop_back();
      break;
    }
  }
  if (!hooks.empty()) return;
  epoll_event none{};
  kernel::EpollCtl(links_epfd_, EPOLL_CTL_DEL, child_epfd, &none);
  escapes_.erase(it->second.escape);
  children_.erase(it);
  children_linked_.fetch_sub(1, std::memory_order_relaxed);
  items_.fetch_sub(1, std::memory_order_relaxed);
}

bool KernelSide::Readable() const { return kernel::Readable(epfd_); }

int KernelSide::NotifyFd() {
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
  level_fd_ = level_fd;
  notify_epfd_ = notify;
  return notify;
}

int KernelSideBellWake(WaitQueueEntry* wait, unsigned /*mode*/, int /*sync*/, uint32_t /*key*/) {
  auto* ks = static_cast<KernelSide*>(wait->private_data);
  if (!ks->rung) {
    ks->rung = true;
    ++ks->rings_posted;
    WaiterRingDoorbell(ks->doorbell_fd());
  }
  return 0;
}

int KernelSideLevelWake(WaitQueueEntry* wait, unsigned /*mode*/, int /*sync*/, uint32_t /*key*/) {
  auto* ks = static_cast<KernelSide*>(wait->private_data);
  if (!ks->raised) {
    ks->raised = true;
    ++ks->level_posted;
    WaiterRingDoorbell(ks->level_fd());
  }
  return 0;
}

// ---- EventPoll's kernel-side paths (the rest of EventPoll is in eventpoll.cc) ----

void EventPoll::ActivateKernelSide(KernelSide* ks) {
  {
    std::lock_guard guard(wq_.lock);
    if (ks->active.load(std::memory_order_relaxed)) return;
    ks->active.store(true, std::memory_order_release);
    // Threads asleep on their futex cannot see kernel events: wake them all; they come back
    // through WaitKernelSide().
    WakeUpLocked(&wq_, 0, 0);
  }
  // Threads in poll(2) on the instance went to sleep without the hidden instance in their
  // set, so the kernel cannot wake them for it: wake them, their next sleep includes it
  // (KernelSleepFd). A parent's hooks are left alone: the parent links the hidden
  // instance, and its drain fires them once per event, as the kernel would.
  std::lock_guard guard(poll_wait_.lock);
  ListHead* head = &poll_wait_.head;
  for (ListHead *pos = head->next(), *tmp = pos->next(); pos != head;
       pos = tmp, tmp = pos->next()) {
    WaitQueueEntry* entry = UEP_CONTAINER_OF(pos, WaitQueueEntry, entry);
    if (entry->func != EpPollCallback) entry->func(entry, 0, 0, EPOLLIN);
  }
}

int EventPoll::CtlKernel(int op, int fd, epoll_event* event) {
  std::unique_lock guard(mtx_);
  KernelSide* ks = kside_.load(std::memory_order_relaxed);
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
    kside_.store(ks, std::memory_order_release);
    ActivateKernelSide(ks);
    guard.unlock();
    KernelSideCreated();
    return 0;
  }
  const int r = ks->Ctl(op, fd, event);
  if (r == 0 && op == EPOLL_CTL_ADD) ActivateKernelSide(ks);
  return r;
}

bool EventPoll::LinkKernelChild(EventPoll* child, EpItem* epi) {
  KernelSide* cks = child->kside_.load(std::memory_order_acquire);
  if (cks == nullptr || !cks->active.load(std::memory_order_acquire)) return false;
  KernelSide* ks = kside_.load(std::memory_order_relaxed);
  bool created = false;
  if (ks == nullptr) {
    int error = 0;
    ks = KernelSide::Create(&error);
    if (ks == nullptr) return false;  // the child's kernel events then reach us only on a harvest
    kside_.store(ks, std::memory_order_release);
    created = true;
  }
  WaitQueueEntry* hook = &epi->first_pwq.wait;  // an instance's only queue: poll_wait_
  ks->LinkChild(child, cks->epfd(), &child->poll_wait_, hook);
  ActivateKernelSide(ks);
  return created;
}

int EventPoll::KernelSleepFd() {
  KernelSide* ks = kside_.load(std::memory_order_acquire);
  if (ks == nullptr || ks->items() == 0) return -1;
  DropStaleDoorbell(ks);
  return ks->epfd();
}

// A ring that no sleeper harvested (it came after the last sleeper's harvest, e.g. from that
// sleeper's own drain of the links) leaves the doorbell's edge queued in the hidden instance,
// which then stays readable for poll(2) though nothing is ready: a poller of the instance
// would spin, and a poll of it would report EPOLLIN. With no ring owed to a sleeper
// (`rung` clear), empty the doorbell: the kernel drops an edge whose file is no longer
// readable at the next poll or harvest. The read is made without ep->lock (its holders make
// no system call), so a ring posted meanwhile may be eaten by it: it is posted again. True
// if a count was drained.
bool EventPoll::DropStaleDoorbell(KernelSide* ks) {
  WakeScope wake_scope;  // a ring posted again is written after ep->lock is released
  {
    std::lock_guard guard(wq_.lock);
    if (ks->rung || ks->rings_posted == ks->rings_drained) return false;
  }
  uint64_t count = 0;
  if (kernel::Read(ks->doorbell_fd(), &count, sizeof count) != sizeof count) count = 0;
  std::lock_guard guard(wq_.lock);
  ks->rings_drained += count;
  if (ks->rung) {
    ++ks->rings_posted;
    WaiterRingDoorbell(ks->doorbell_fd());
  }
  return count != 0;
}

void EventPoll::UnlinkKernelChild(KernelSide* ks, EventPoll* child, EpItem* epi) {
  KernelSide* cks = child->kside_.load(std::memory_order_acquire);
  if (cks != nullptr) ks->UnlinkChild(child, cks->epfd(), &epi->first_pwq.wait);
}

void EventPoll::PropagateKernelSideUp() {
  std::vector<std::pair<EventPoll*, int>> parents;
  {
    std::lock_guard guard(f_lock);
    for (ListHead* pos = f_ep.next(); pos != &f_ep; pos = pos->next()) {
      EpItem* epi = UEP_CONTAINER_OF(pos, EpItem, fllink);
      parents.emplace_back(epi->ep, epi->fd);
    }
  }
  for (auto [parent, fd] : parents) {
    bool created = false;
    {
      std::lock_guard guard(parent->mtx_);
      EpItem* epi = parent->Find(this, fd);
      if (epi == nullptr) continue;
      created = parent->LinkKernelChild(this, epi);
    }
    if (created) parent->PropagateKernelSideUp();
  }
}

int EventPoll::KernelFd() {
  std::unique_lock guard(mtx_);
  KernelSide* ks = kside_.load(std::memory_order_relaxed);
  bool created = false;
  if (ks == nullptr) {
    int error = 0;
    ks = KernelSide::Create(&error);
    if (ks == nullptr) return error;
    created = true;
  }
  const int fd = ks->NotifyFd();
  if (fd < 0) {
    if (created) delete ks;
    return fd;
  }
  if (created) kside_.store(ks, std::memory_order_release);
  {
    std::lock_guard lock(wq_.lock);
    if (!ks->level.entry.Linked()) {
      AddWaitQueueLocked(&wq_, &ks->level);
      if (EventsAvailable()) KernelSideLevelWake(&ks->level, 0, 0, 0);
    }
  }
  ActivateKernelSide(ks);
  guard.unlock();
  if (created) KernelSideCreated();
  return fd;
}

// After a harvest: lower the level eventfd if the ready list is empty. Reads it only when
// writes were posted since the last read; a raise that raced with the read is re-posted.
void EventPoll::LowerKernelFdLevel(KernelSide* ks) {
  {
    std::lock_guard guard(wq_.lock);
    if (!ks->level.entry.Linked() || EventsAvailable()) return;
    ks->raised = false;
    if (ks->level_posted == ks->level_drained) return;
  }
  uint64_t count = 0;
  if (kernel::Read(ks->level_fd(), &count, sizeof count) != sizeof count) count = 0;
  std::lock_guard guard(wq_.lock);
  ks->level_drained += count;
  if (ks->raised && ks->level_posted == ks->level_drained) {
    ++ks->level_posted;
    WaiterRingDoorbell(ks->level_fd());
  }
}

// The doorbell's event was taken by a thread that is not about to harvest the ready list
// for a sleeper: pass the ring on if a sleeper may be left without it.
void EventPoll::KernelRingTaken(KernelSide* ks) {
  std::lock_guard guard(wq_.lock);
  ks->rung = false;
  if (ks->sleepers > 0 && EventsAvailable()) KernelSideBellWake(&ks->bell, 0, 0, 0);
}

int EventPoll::WaitKernelSide(KernelSide* ks, epoll_event* events, int maxevents,
                              platform::Timeout* timeout, const sigset_t* sigmask,
                              SleepPermit* permit) {
  static constexpr timespec kZero{0, 0};
  // Leave the RCU read section at once: this path takes ks->mu_ and ep->mtx.
  if (!permit->Acquire()) return -EBADF;
  bool timed_out = timeout->nonblocking();
  for (;;) {
    int n = 0;
    bool kernel_polled = false;
    bool rang = false;
    bool fired = false;
    const bool has_kernel_items = ks->items() > 0;
    // Children's kernel events first, as the kernel would have queued them already: an
    // item reported now must not be queued again later by an event it already covers.
    ks->DrainLinks(&fired);
    // Fairness: after kKernelPollEvery harvests served by user space alone, the kernel
    // side goes first.
    if (has_kernel_items &&
        ks->user_only_streak.load(std::memory_order_relaxed) >= KernelSide::kKernelPollEvery) {
      n = ks->Harvest(events, maxevents, &kZero, nullptr, &rang, &fired);
      if (n < 0) return n;
      kernel_polled = true;
    }
    if (n < maxevents && EventsAvailable()) {
      const int u = SendEvents(events + n, maxevents - n);
      if (u < 0 && n == 0) return u;
      if (u > 0) n += u;
    }
    if (n == 0 && has_kernel_items && !kernel_polled) {
      n = ks->Harvest(events, maxevents, &kZero, nullptr, &rang, &fired);
      if (n < 0) return n;
      kernel_polled = true;
    }
    if (rang) KernelRingTaken(ks);
    LowerKernelFdLevel(ks);
    if (n == 0 && fired) continue;  // a child's item is queued now: harvest it
    if (n > 0) {
      if (kernel_polled) {
        ks->user_only_streak.store(0, std::memory_order_relaxed);
      } else {
        ks->user_only_streak.fetch_add(1, std::memory_order_relaxed);
      }
      return n;
    }
    if (timed_out) return 0;
    if (!permit->Acquire()) return -EBADF;

    {
      std::lock_guard guard(wq_.lock);
      if (EventsAvailable()) continue;
      if (ks->sleepers++ == 0) AddWaitQueueLocked(&wq_, &ks->bell);
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
    n = ks->Harvest(events, maxevents, tmo, sigmask, &rang, &fired, &raw);
    {
      std::lock_guard guard(wq_.lock);
      if (rang) ks->rung = false;
      if (--ks->sleepers == 0) {
        ks->bell.entry.DelInit();
        ks->rung = false;
      }
    }
    if (n < 0) return n;  // -EINTR as the kernel's, after the mask was applied atomically
    if (n > 0) {
      if (n < maxevents && EventsAvailable()) {
        const int u = SendEvents(events + n, maxevents - n);
        if (u > 0) n += u;
      } else if (rang) {
        KernelRingTaken(ks);  // no room for what rang: another sleeper may take it
      }
      ks->user_only_streak.store(0, std::memory_order_relaxed);
      LowerKernelFdLevel(ks);
      return n;
    }
    // Nothing from the kernel: the doorbell or a child (harvest the ready list), the
    // timeout, or an event that was nobody's by the time it was looked at (a child's link
    // that another thread drained first): that is no timeout, sleep again.
    if (fired) rang = true;
    if (raw == 0 || (tmo != nullptr && tmo->tv_sec == 0 && tmo->tv_nsec == 0)) timed_out = true;
    if (raw != 0 && tmo != nullptr) {
      const timespec rest = platform::Remaining(timeout->Deadline());
      if (rest.tv_sec == 0 && rest.tv_nsec == 0) timed_out = true;
    }
  }
}

}  // namespace uep
