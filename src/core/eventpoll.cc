/*
 * LOCKING
 *
 * Locks are taken in this order, from 1 to 6. No lock is held across a sleep except the
 * mutexes 1 and 2; none is taken inside a wait-queue function except 4 and 6. Every lock
 * is a capability of clang's thread-safety analysis (platform/thread_safety.h): the fields
 * name the lock that guards them, *Locked functions the lock they need, and the clang
 * builds fail on an access without it. The order itself is not checked by the compiler.
 *
 * 1) epmutex (global StdMutex). Serialises the structural changes that cross instances:
 *    an ADD that must check for loops, nesting depth and wake-up paths (a nested instance is
 *    involved), the release of an instance (Release) and the release of a watched file
 *    (EventPollReleaseFile), so that those two never tear down the same item at once and
 *    two ADDs cannot build a cycle without either seeing it. Also held while a new kernel
 *    side is linked into the parents' (PropagateKernelSideUp: each parent's 2 in turn, no
 *    other 2 held).
 * 2) ep->mtx (Mutex, one per instance; spins, then sleeps). Held while items are added, changed or
 *    removed, during a transfer (SendEvents) and while the instance itself is polled. A
 *    transfer polls files with it held, and release of a watched file takes it, so an item's
 *    file stays alive while the item is used. When instances nest, a parent's mtx is taken
 *    before its child's (depth order; loops are refused with ELOOP).
 * 2a) The links' mutex (kernel/kernel_side.cc: the process's links of nested instances with
 *    kernel sides) and the ring registry's (a leaf). The links' is taken under 2 (ctl, a
 *    poll of the instance from a parent's scan), under epmutex (linking) or alone (a
 *    harvest), to drain the links: under it an instance's poll_wait_ is woken (6 of that
 *    instance, then 5 of its parents). Held across epoll_ctl / epoll_wait(0) system calls,
 *    never across a sleep: threads sleep in the kernel with no lock held. A kernel side's
 *    own ks->mu_ (escape ids) is taken alone. Its ks->ring_mu_ (the readiness ring it
 *    watches with) is taken only by try-lock, under 2, and a ring's cancel lock
 *    (platform/uring.h, a leaf) under it.
 * 3) file->f_lock (SpinLock). The list of items watching a file. Taken under ep->mtx; the
 *    wake-up path check walks upwards holding a chain of them (acyclic, bottom first).
 * 4) a target's wait-queue lock (WaitQueueHead::lock). Held by whoever wakes the target's
 *    queue, so EpPollCallback always runs under it. Taken alone by the queue procedure,
 *    and under 2 by Modify() to widen an item's key_hint (nothing else held).
 * 5) ep->lock (= ep->wq_.lock, SpinLock). The ready list, the overflow list and the
 *    waiters of the instance. Taken inside EpPollCallback, i.e. under 4; waiters are woken
 *    with it held (their function only unlinks and posts a futex).
 * 6) ep->poll_wait_.lock. Taken by EpPollCallback after dropping 5, to wake whoever polls
 *    this instance; a parent instance's callback then takes the parent's 5 under it. This
 *    repeats at most kEpMaxNests + 1 times up a nesting chain.
 *
 * A kernel side's `bell` and `level` are non-exclusive entries on ep->wq_: their functions
 * run under 5 and only post an eventfd write, deferred past the locks like a futex wake.
 *
 * A MOD of such a target (eventfd) whose mask adds no new bit to the item's key hint takes
 * neither 1 nor 2: it finds the item in the index without a lock, in the caller's RCU read
 * section (core/item_index.h: items and tables are freed only after a grace period) and
 * does the whole change under 5, after checking there that the item is live with that key
 * and that no scan runs.
 *
 * A transfer from an instance none of whose items takes a lock in Poll() (eventfd: a
 * File::PollIsLockless() target) runs entirely under 5, skipping 2 and the overflow list:
 * callbacks simply wait for it, and removal, which unlinks under 5, cannot free an item or
 * its file under it. Nested instances and other locking targets use the path with 2.
 *
 * Files' private locks stay outside this chain: none is taken by a callback or by Poll().
 * A unix socket pair's reader mutex and state lock (files/unix_socket.h) are taken before
 * its ends' wait-queue locks (4), which they wake; the timer service's lock
 * (core/timer_service.h) is a leaf taken under a timerfd's wait-queue lock (4), and the
 * service thread fires timers with no lock held.
 *
 * The other locks of the library, and their places in that order:
 *  - the descriptor table's lock (core/fd_table.h): installs, closes and dups; taken alone
 *    (the file is put after it is dropped).
 *  - a pipe's mutex (files/pipe.h) and a socket pair's reader mutex and state lock
 *    (files/unix_socket.h): before their own wait-queue locks (4), nothing else.
 *  - the timer service's notice_mu_ -> a timerfd's wait-queue lock (4) -> the service's
 *    lock (a leaf); its make_mu_ (the clock watcher) is taken under 4 with nothing under it.
 *  - the conversion mutex (files/kernel_convert.cc): one conversion into kernel pipes and
 *    socket pairs at a time, before fork; the locks of the files it converts (3, 4, the
 *    pipe's and pair's) are taken under it.
 *  - leaves, under which no other lock is taken: the RCU registry lock (core/rcu.cc: a
 *    thread's first read section, RcuCall, RcuSynchronize, which may run under 1 and 2),
 *    the doorbell pool's lock (core/waiter.cc), the trace control lock (core/trace.cc).
 * fork() takes the global ones in ForkOrder (core/fork.h): this order, with the RCU registry
 * lock right after epmutex, as a grace period holds it while it waits for read sections,
 * which may spin on the locks after it (the timer service's).
 *
 * Descriptor lookups hold no lock: they run in an RCU read section (core/rcu.h), which
 * never waits for a mutex (1, 2, 2a): a call that needs one pins its files (FileTryGet) and
 * leaves the section first, so a grace period (RcuSynchronize) may be waited for holding
 * them. A file's memory is freed only after every section that may have seen it has ended;
 * its items and Release() go at the last close, before that for the files that allow it
 * (File::ReleasesUnderReaders). Nothing here calls FilePut() with a lock held.
 *
 * The callback neither allocates nor blocks: items are allocated at ADD, hooks by the
 * queue procedure at ADD, and waking a sleeper is one futex system call.
 *
 * Signal handlers. A call that interrupts its own thread's uepoll call (core/reentry.h) may
 * find any of these locks held by the frame below it, so it waits for none: it only
 * try-locks 5 (HarvestReentrant) and otherwise changes state without locks or queues the
 * work for the interrupted call, which runs it holding nothing, on its way out.
 */
#include "core/eventpoll.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <typeinfo>
#include <unordered_set>

#include "core/fork.h"
#include "core/trace.h"
#include "core/waiter.h"
#include "platform/clock.h"
#include "platform/cpu.h"
#include "platform/env.h"
#include "platform/fault.h"
#include "platform/sysctl.h"

namespace uep {
namespace {

StdMutex epmutex;
uint64_t loop_check_gen GUARDED_BY(epmutex) = 0;
std::vector<File*> tfile_check_list GUARDED_BY(epmutex);  // leaf files whose wake-up paths grow
std::unordered_set<File*> tfile_listed GUARDED_BY(epmutex);
bool tfile_check_failed GUARDED_BY(epmutex) = false;  // a file could not be listed (ENOMEM)

std::atomic<long> epoll_watches{0};

// Fork (core/fork.h): what epmutex guards is whole in the child.
[[maybe_unused]] const bool fork_registered =
    (RegisterForkHandlers(ForkOrder::kEpmutex,
                          {[]() ACQUIRE(epmutex) { epmutex.lock(); },
                           []() RELEASE(epmutex) { epmutex.unlock(); },
                           []() RELEASE(epmutex) { epmutex.unlock(); }}),
     true);

long ReadMaxUserWatches() {
  if (const char* env = std::getenv("UEPOLL_MAX_USER_WATCHES")) {
    long v = 0;
    if (platform::ParseEnvNumber(env, 0, &v)) return v;
    platform::ReportIgnoredEnv("UEPOLL_MAX_USER_WATCHES", env,
                               "is not a number >= 0: ignored (the system's limit used)");
  }
  const long v = platform::ReadSysctl("/proc/sys/fs/epoll/max_user_watches", -1);
  return v > 0 ? v : (1L << 22);
}

std::atomic<long>& MaxUserWatches() {
  static std::atomic<long> limit{ReadMaxUserWatches()};
  return limit;
}

// No spin by default, as the kernel (net.core.busy_poll = 0). Measured on a 2-vCPU KVM guest:
// 64 rounds of PAUSE take ~1.6 us (and long spins end in pause-loop VM exits), so a waiter
// that spun and then slept anyway made the sleeping round trip ~2x slower (docs/benchmarks.md).
constexpr int kDefaultBusyPollRounds = 0;

// ep_pqueue: the poll table handed to the target at ADD, and the item it registers for.
struct EpPqueue {
  PollTable pt;
  EpItem* epi;
};

EpItem* ItemFromWait(WaitQueueEntry* wait) {
  return static_cast<EpItem*>(wait->private_data);
}

EpItem* ItemFromRdllink(ListHead* link) { return UEP_CONTAINER_OF(link, EpItem, rdllink); }

// ep_ptable_queue_proc(): called by the target's Poll() for each queue it will wake.
void EpPtableQueueProc(File* file, WaitQueueHead* whead, PollTable* pt) {
  auto* epq = UEP_CONTAINER_OF(pt, EpPqueue, pt);
  EpItem* epi = epq->epi;
  if (epi->nwait < 0) return;
  EpPollEntry* pwq = nullptr;
  if (epi->pwqlist == nullptr) {
    pwq = &epi->first_pwq;
  } else {
    pwq = TryNew<EpPollEntry>();
    if (pwq == nullptr) {
      epi->nwait = -1;
      return;
    }
  }
  // Stored only when they differ: a recycled item's hook holds these already, and a waker
  // of the queue it hung on before may still read them without a lock (WakeUpIsQuiet).
  if (pwq->wait.func != EpPollCallback) pwq->wait.func = EpPollCallback;
  if (pwq->wait.quiet != EpItemQuiet) pwq->wait.quiet = EpItemQuiet;
  if (pwq->wait.private_data != epi) pwq->wait.private_data = epi;
  pwq->whead = whead;
  if ((epi->events.load(std::memory_order_relaxed) & EPOLLEXCLUSIVE) != 0) {
    AddWaitQueueExclusive(whead, &pwq->wait);
  } else {
    AddWaitQueue(whead, &pwq->wait);
  }
  pwq->next = epi->pwqlist;
  epi->pwqlist = pwq;
  epi->nwait++;
  UEP_TRACE(kRegister, file, whead, epi, epi->ep, epi->events.load(std::memory_order_relaxed), 0, trace::TypeName(typeid(*file).name()));
}

void ListFile(File* file) REQUIRES(epmutex) {
  try {
    if (AllocFailureInjected()) throw std::bad_alloc();
    if (tfile_listed.insert(file).second) tfile_check_list.push_back(file);
  } catch (const std::bad_alloc&) {
    tfile_check_failed = true;  // Insert() fails with ENOMEM rather than check half a list
  }
}

void ClearTfileCheckList() REQUIRES(epmutex) {
  tfile_check_list.clear();
  tfile_listed.clear();
  tfile_check_failed = false;
}

// Wake-up paths allowed per nesting depth (the kernel's path_limits).
constexpr int kPathLimits[kEpMaxNests + 1] = {1000, 500, 100, 50, 10};
int path_count[kEpMaxNests + 1];

bool PathCountInc(int nests) {
  if (nests == 0) return true;  // any number of direct watchers
  return ++path_count[nests] <= kPathLimits[nests];
}

}  // namespace

// The items watching an instance, through its file's f_ep list (epmutex held).
struct EpLoopCheck {
  EventPoll* inserting_into = nullptr;

  // Depth of the subtree below `ep`, or more than kEpMaxNests on a loop / too deep.
  int Down(EventPoll* ep, int depth) REQUIRES(epmutex) {
    if (ep->gen_ == loop_check_gen) return ep->loop_check_depth_;
    int result = 0;
    std::lock_guard guard(ep->mtx_);
    ep->gen_ = loop_check_gen;
    ep->index_.ForEach([&](EpItem* epi) {
      epmutex.AssertHeld();  // by Down()'s caller
      if (!epi->file->IsEventPoll()) {
        ListFile(epi->file);
        return true;
      }
      auto* to_visit = static_cast<EventPoll*>(epi->file);
      if (to_visit == inserting_into || depth > kEpMaxNests) {
        result = kEpMaxNests + 1;
      } else {
        result = std::max(result, Down(to_visit, depth + 1) + 1);
      }
      return result <= kEpMaxNests;
    });
    ep->loop_check_depth_ = result;
    return result;
  }

  // How many instances are stacked above `ep`.
  static int Up(EventPoll* ep) REQUIRES(epmutex) {
    if (ep->gen_ == loop_check_gen) return ep->loop_check_depth_;
    int result = 0;
    std::lock_guard guard(ep->f_lock);
    for (ListHead* pos = ep->f_ep.next(); pos != &ep->f_ep; pos = pos->next()) {
      EpItem* epi = UEP_CONTAINER_OF(pos, EpItem, fllink);
      result = std::max(result, Up(epi->ep) + 1);
    }
    ep->gen_ = loop_check_gen;
    ep->loop_check_depth_ = result;
    return result;
  }

  bool Check(EventPoll* ep, EventPoll* to) REQUIRES(epmutex) {
    inserting_into = ep;
    const int depth = Down(to, 0);
    if (depth > kEpMaxNests) return false;
    return depth + 1 + Up(ep) <= kEpMaxNests;
  }

  // reverse_path_check(): every listed leaf file keeps within kPathLimits.
  static bool ReversePathProc(File* file, int depth) {
    if (depth > kEpMaxNests) return false;
    std::lock_guard guard(file->f_lock);
    for (ListHead* pos = file->f_ep.next(); pos != &file->f_ep; pos = pos->next()) {
      EventPoll* ep = UEP_CONTAINER_OF(pos, EpItem, fllink)->ep;
      bool ok = false;
      {
        // Peek without holding ep->f_lock: the recursion takes it.
        std::lock_guard inner(ep->f_lock);
        ok = ep->f_ep.Empty();
      }
      ok = ok ? PathCountInc(depth) : ReversePathProc(ep, depth + 1);
      if (!ok) return false;
    }
    return true;
  }

  static bool ReversePathCheck() REQUIRES(epmutex) {
    for (File* file : tfile_check_list) {
      for (int& c : path_count) c = 0;
      if (!ReversePathProc(file, 0)) return false;
    }
    return true;
  }
};

long EpollMaxUserWatches() { return MaxUserWatches().load(std::memory_order_relaxed); }
long EpollWatches() { return epoll_watches.load(std::memory_order_relaxed); }
void EpollSetMaxUserWatches(long limit) { MaxUserWatches().store(limit, std::memory_order_relaxed); }

EventPoll::EventPoll() : File(O_RDWR, EventPollTag{}), busy_poll_rounds_(kDefaultBusyPollRounds) {}

EventPoll::~EventPoll() {
  if (KernelBridge* ks = kside_.load(std::memory_order_relaxed); ks != nullptr) ks->Destroy(this);
}

int EventPoll::ItemCount() {
  std::lock_guard guard(mtx_);
  return static_cast<int>(index_.size());
}

// The item is on the ready list with nobody to wake, and nothing changed that since the
// callback that found it so: a callback now would do nothing. The waker changed the
// target's state first; a transfer (or a waiter, a poller) moved its count first: with a
// full barrier between on both sides, either we see the new count or its poll sees the
// new state.
bool ItemCallbackIsNoop(const EpItem* epi) {
  const uint64_t stamp = epi->quiet_stamp.load(std::memory_order_seq_cst);
  return stamp != 0 && ((stamp >> 32) & 1) == 0 && stamp == epi->ep->QuietStamp() &&
         epi->quiet_stamp.load(std::memory_order_seq_cst) == stamp;
}

// WaitQueueEntry::quiet of a hook, asked by a waker without the queue's lock (an RCU read
// section keeps the item and its instance allocated; an item removed meanwhile had its
// stamp cleared first, and was unhooked before it could be reused).
bool EpItemQuiet(const WaitQueueEntry* wait, uint32_t key) {
  const EpItem* epi = ItemFromWait(const_cast<WaitQueueEntry*>(wait));
  if (key != 0 && (key & epi->key_hint.load(std::memory_order_seq_cst)) == 0) return true;
  return ItemCallbackIsNoop(epi);
}

// ep_poll_callback(): the function of every hook. Runs under the target's queue lock.
int EpPollCallback(WaitQueueEntry* wait, unsigned /*mode*/, int /*sync*/, uint32_t key) {
  EpItem* epi = ItemFromWait(wait);
  EventPoll* ep = epi->ep;
  WaitQueueHead* whead = UEP_CONTAINER_OF(wait, EpPollEntry, wait)->whead;
  whead->lock.AssertHeld();  // the waker's (WakeUpLocked)
  // Alone on the queue, this hook lets wakers skip the queue while it stays quiet.
  const bool alone = whead->head.next() == &wait->entry && wait->entry.next() == &whead->head;
  if (const uint32_t hint = epi->key_hint.load(std::memory_order_relaxed);
      key != 0 && (key & hint) == 0) {
    // A key the item never watched (eventfd's EPOLLOUT after a read, for a reader): no need
    // for ep->lock. Sound because the hint only grows, under this queue's lock (Modify).
    UEP_TRACE(kCallback, nullptr, whead, epi, ep, key, uint32_t(trace::Decision::kIgnoredKey));
    if (alone) whead->quiet.store(wait, std::memory_order_release);
    return (hint & EPOLLEXCLUSIVE) != 0 ? 0 : 1;
  }
  // The fence only when the answer would let us skip: "not a no-op" is always safe.
  if (ItemCallbackIsNoop(epi) && (std::atomic_thread_fence(std::memory_order_seq_cst), ItemCallbackIsNoop(epi))) {
    // Already on the ready list, nobody to wake: what the locked path below would find.
    UEP_TRACE(kCallback, nullptr, whead, epi, ep, key, uint32_t(trace::Decision::kAlreadyLinked));
    if (alone) whead->quiet.store(wait, std::memory_order_release);
    return (epi->events.load(std::memory_order_relaxed) & EPOLLEXCLUSIVE) != 0 ? 0 : 1;
  }
  bool pwake = false;
  int ewake = 0;
  uint32_t events = 0;
  {
    std::lock_guard guard(ep->wq_.lock);
    // The mask is read under ep->lock, as the kernel does: Modify() writes it under ep->lock
    // too, so a MOD re-arming the item and the wake-up of a target whose state changed just
    // before (eventfd: count_ stored, then this callback) are ordered by the lock: either
    // the callback comes second and sees the new mask, or the MOD comes second and its poll
    // sees the new state. Read before the lock, both could miss (store->load reordering).
    events = epi->events.load(std::memory_order_relaxed);
    // Disabled by EPOLLONESHOT until the next MOD, or a key the item does not watch.
    if ((events & ~kEpPrivateBits) == 0 || (key != 0 && (key & events) == 0)) {
      [[maybe_unused]] const bool disabled = (events & ~kEpPrivateBits) == 0;
      UEP_TRACE(kCallback, nullptr, whead, epi, ep, key,
                uint32_t(disabled ? trace::Decision::kDisabled : trace::Decision::kIgnoredKey));
      return (events & EPOLLEXCLUSIVE) != 0 ? 0 : 1;
    }
    [[maybe_unused]] trace::Decision decision = trace::Decision::kAlreadyLinked;
    if (ep->ovflist_.load(std::memory_order_relaxed) != kEpUnactive) {
      // A transfer is running without ep->lock: chain the item for DoneScan().
      decision = trace::Decision::kOverflowAlready;
      if (epi->next == kEpUnactive) {
        decision = trace::Decision::kOverflow;
        epi->next = ep->ovflist_.load(std::memory_order_relaxed);
        ep->ovflist_.store(epi, std::memory_order_relaxed);
      }
    } else if (!epi->rdllink.Linked()) {
      decision = trace::Decision::kLinked;
      ep->rdllist_.AddTail(&epi->rdllink);
    }
    UEP_TRACE(kCallback, nullptr, whead, epi, ep, key, uint32_t(decision));
    if (ep->wq_.Active()) {
      if ((events & EPOLLEXCLUSIVE) != 0) {
        switch (key & (EPOLLIN | EPOLLOUT)) {
          case EPOLLIN:
            ewake = (events & EPOLLIN) != 0 ? 1 : 0;
            break;
          case EPOLLOUT:
            ewake = (events & EPOLLOUT) != 0 ? 1 : 0;
            break;
          case 0:
            ewake = 1;
            break;
          default:
            break;
        }
      }
      WakeUpLocked(&ep->wq_, 1, 0);
    }
    pwake = ep->poll_wait_.Active();
    if (!pwake && !ep->wq_.Active() && epi->rdllink.Linked() &&
        ep->ovflist_.load(std::memory_order_relaxed) == kEpUnactive) {
      // The next callback would find the item linked and nobody to wake.
      const uint64_t stamp = ep->QuietStamp();
      if (((stamp >> 32) & 1) == 0) {
        // Release is enough: a waker that does not see these yet takes the locked path.
        epi->quiet_stamp.store(stamp, std::memory_order_release);
        if (alone) whead->quiet.store(wait, std::memory_order_release);
      }
    }
  }
  if (pwake) WakeUpPoll(&ep->poll_wait_, EPOLLIN);
  if ((events & EPOLLEXCLUSIVE) == 0) ewake = 1;
  return ewake;
}

bool EventPoll::ReadyLocked(EpItem* epi) {
  if (epi->rdllink.Linked()) return false;
  rdllist_.AddTail(&epi->rdllink);
  if (wq_.Active()) WakeUpLocked(&wq_, 1, 0);
  return poll_wait_.Active();
}

uint32_t EventPoll::ItemPoll(EpItem* epi, PollTable* pt, int depth) {
  pt->key = epi->events.load(std::memory_order_relaxed);
  uint32_t res = 0;
  if (epi->file->IsEventPoll()) {
    res = static_cast<EventPoll*>(epi->file)->PollAtDepth(pt, depth);
  } else {
    res = epi->file->Poll(pt);
  }
  return res & epi->events.load(std::memory_order_relaxed);
}

// No analysis: the target instance's mtx and epmutex (full_check) are held on some paths only.
int EventPoll::Insert(const epoll_event& event, File* tfile, int fd, bool full_check)
    NO_THREAD_SAFETY_ANALYSIS {
  // Charged before anything else, exactly: concurrent ADDs never pass the limit together.
  const long max_watches = EpollMaxUserWatches();
  long watches = epoll_watches.load(std::memory_order_relaxed);
  do {
    if (watches >= max_watches) return -ENOSPC;
  } while (!epoll_watches.compare_exchange_weak(watches, watches + 1, std::memory_order_relaxed));
  // The item, then room in the index: nothing can fail once the item is visible. An item
  // from the index's free list counts as an allocation site (the kernel's slab allocation
  // can fail however it is served), so fault injection sees the same sites.
  EpItem* epi = nullptr;
  if (!AllocFailureInjected()) {
    epi = index_.TakeRecycled();
    if (epi == nullptr) epi = new (std::nothrow) EpItem;
  }
  if (epi != nullptr && !index_.ReserveOne()) {
    index_.Recycle(epi);
    epi = nullptr;
  }
  if (epi == nullptr) {
    epoll_watches.fetch_sub(1, std::memory_order_relaxed);
    return -ENOMEM;
  }
  epi->next = kEpUnactive;
  epi->nwait = 0;
  // A recycled item is already ours: no store a stale lock-free reader (EpItemQuiet) could
  // race with.
  if (epi->ep != this) epi->ep = this;
  epi->events.store(event.events, std::memory_order_relaxed);
  epi->key_hint.store(event.events, std::memory_order_relaxed);  // before any hook is hung
  epi->data.store(event.data.u64, std::memory_order_relaxed);

  EventPoll* tep = tfile->IsEventPoll() ? static_cast<EventPoll*>(tfile) : nullptr;
  {
    std::unique_lock<Mutex> tep_guard;
    if (tep != nullptr) tep_guard = std::unique_lock(tep->mtx_);
    {
      std::lock_guard guard(tfile->f_lock);
      if (tfile->f_released.load(std::memory_order_relaxed)) {
        // Closed while the caller, which keeps only its memory, waited for the locks.
        index_.Recycle(epi);
        epoll_watches.fetch_sub(1, std::memory_order_relaxed);
        return -EBADF;
      }
      tfile->f_ep.AddHead(&epi->fllink);
      tfile->f_ep_nonempty.store(true, std::memory_order_release);
    }
    index_.Insert(epi, tfile, fd);  // sets the key
    // From here on Remove() undoes everything, this count included.
    if (!tfile->PollIsLockless()) {
      std::lock_guard guard(wq_.lock);
      ++locked_poll_items_;
    }
  }
  if (full_check) {
    if (tep == nullptr) ListFile(tfile);
    if (tfile_check_failed) {
      Remove(epi);
      return -ENOMEM;
    }
    if (!EpLoopCheck::ReversePathCheck()) {
      Remove(epi);
      return -EINVAL;
    }
  }

  EpPqueue epq;
  epq.pt.qproc = EpPtableQueueProc;
  epq.epi = epi;
  const uint32_t revents = ItemPoll(epi, &epq.pt, 1);
  if (epi->nwait < 0) {
    Remove(epi);
    return -ENOMEM;
  }

  bool pwake = false;
  {
    std::lock_guard guard(wq_.lock);
    epi->live = true;  // only now may a lock-free MOD change it (TryModifyLockless)
    if (revents != 0) UEP_TRACE(kReadyOnCtl, nullptr, nullptr, epi, this, revents, 1);
    if (revents != 0) pwake = ReadyLocked(epi);
  }
  if (pwake) WakeUpPoll(&poll_wait_, EPOLLIN);
  return 0;
}

int EventPoll::Modify(EpItem* epi, const epoll_event& event) {
  // Widen the hint first, under each hook's queue lock: a waker holding that lock either
  // comes later and sees the new bits, or came earlier and the poll below sees its state.
  const uint32_t hint = epi->key_hint.load(std::memory_order_relaxed);
  if ((event.events & ~hint) != 0) {
    for (EpPollEntry* pwq = epi->pwqlist; pwq != nullptr; pwq = pwq->next) {
      std::lock_guard guard(pwq->whead->lock);
      epi->key_hint.store(hint | event.events, std::memory_order_relaxed);
      // Wakers that skipped the queue for a key the hint lacked must ask again.
      pwq->whead->quiet.store(nullptr, std::memory_order_seq_cst);
    }
    epi->key_hint.store(hint | event.events, std::memory_order_relaxed);  // no hook yet
  }
  if (epi->file->PollIsLockless()) {
    bool pwake = false;
    {
      std::lock_guard guard(wq_.lock);
      pwake = ModifyLocked(epi, event);
    }
    if (pwake) WakeUpPoll(&poll_wait_, EPOLLIN);
    return 0;
  }
  {
    // A lockless transfer (SendEvents under ep->lock alone) reads the mask and data of a
    // reported item and disarms a one-shot one without ep->mtx: under ep->lock the new
    // mask and data land wholly before or after it, never between its load and its
    // disarming store (which would undo this re-arm).
    std::lock_guard guard(wq_.lock);
    epi->events.store(event.events, std::memory_order_relaxed);
    epi->data.store(event.data.u64, std::memory_order_relaxed);
  }
  // Pairs with the target's wake-up: either our poll below sees its new state, or its
  // callback sees the new mask (ep_modify()'s smp_mb()).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  PollTable pt;
  const uint32_t revents = ItemPoll(epi, &pt, 1);
  bool pwake = false;
  if ((revents & event.events) != 0) {
    UEP_TRACE(kReadyOnCtl, nullptr, nullptr, epi, this, revents, 2);
    std::lock_guard guard(wq_.lock);
    pwake = ReadyLocked(epi);
  }
  if (pwake) WakeUpPoll(&poll_wait_, EPOLLIN);
  return 0;
}

// One lock instead of lock + fence + lock, for a target whose Poll() takes no lock (it may
// run under ep->lock, as in the lockless transfer). A callback takes ep->lock after the
// target's state changed, so either it ran before (this poll sees that state) or it runs
// after (and sees the new mask).
bool EventPoll::ModifyLocked(EpItem* epi, const epoll_event& event) {
  epi->events.store(event.events, std::memory_order_relaxed);
  epi->data.store(event.data.u64, std::memory_order_relaxed);
  PollTable pt;
  const uint32_t revents = ItemPoll(epi, &pt, 1);
  if ((revents & event.events) == 0) return false;
  UEP_TRACE(kReadyOnCtl, nullptr, nullptr, epi, this, revents, 2);
  return ReadyLocked(epi);
}

// The common MOD (an eventfd, a mask the item already had) without ep->mtx: the index is
// read lock-free, and ep->lock alone makes the change. It keeps the locked path's results:
// the item must be live (inserted and not removed) under ep->lock, no widening of the key
// hint (which needs the target's queue locks and the hooks, under ep->mtx), and no scan
// running (a scan under ep->mtx disarms one-shot items and moves items without ep->lock).
bool EventPoll::TryModifyLockless(File* tfile, int fd, const epoll_event& event, int* result) {
  EpItem* epi = index_.FindRcu(tfile, fd);
  if (epi == nullptr) return false;
  bool pwake = false;
  {
    std::lock_guard guard(wq_.lock);
    if (!epi->live || epi->file != tfile || epi->fd != fd ||
        ovflist_.load(std::memory_order_relaxed) != kEpUnactive ||
        (event.events & ~epi->key_hint.load(std::memory_order_relaxed)) != 0) {
      return false;
    }
    if ((epi->events.load(std::memory_order_relaxed) & EPOLLEXCLUSIVE) != 0) {
      *result = -EINVAL;
      return true;
    }
    pwake = ModifyLocked(epi, event);
  }
  if (pwake) WakeUpPoll(&poll_wait_, EPOLLIN);
  *result = 0;
  return true;
}

void EventPoll::UnregisterPollWait(EpItem* epi) {
  while (EpPollEntry* pwq = epi->pwqlist) {
    epi->pwqlist = pwq->next;
    // Taking the queue's lock also waits out a callback running on this hook.
    RemoveWaitQueue(pwq->whead, &pwq->wait);
    if (pwq != &epi->first_pwq) delete pwq;
  }
}

void EventPoll::Remove(EpItem* epi, bool file_pinned) {
  UnregisterPollWait(epi);
  File* file = epi->file;
  index_.Erase(epi);
  {
    std::lock_guard guard(wq_.lock);
    epi->live = false;
    epi->quiet_stamp.store(0, std::memory_order_relaxed);
    if (epi->rdllink.Linked()) epi->rdllink.DelInit();
    if (!file->PollIsLockless()) --locked_poll_items_;
  }
  // Off the file's list last: a close that finds the list empty (EventPollReleaseFile)
  // returns knowing that no wait can report the item any more, even while a DEL that keeps
  // only the file's memory (DoEpollCtl) is still removing it.
  {
    std::lock_guard guard(file->f_lock);
    epi->fllink.DelInit();
    // Unpinned, the flag stays set: a final FilePut() that sees it clear skips
    // EventPollReleaseFile() and frees the file at once, while we still use it (this lock's
    // release). Set, it sends that FilePut() through epmutex, which Release() holds until
    // it is done with the file.
    if (file_pinned) file->f_ep_nonempty.store(!file->f_ep.Empty(), std::memory_order_release);
  }
  // A lock-free MOD may still look at it: kept, or freed after a grace period. Release() walks
  // the index while removing (!file_pinned): no reclaim, no resize, meanwhile.
  index_.Retire(epi, /*reclaim=*/file_pinned);
  epoll_watches.fetch_sub(1, std::memory_order_relaxed);
}

bool EventPoll::TryCtlLockless(int op, File* tfile, int fd, const epoll_event* event,
                               int* result) {
  // Bits that Ctl() checks or strips first, and a target of the wrong kind, go there.
  if (op != EPOLL_CTL_MOD || !tfile->PollIsLockless() ||
      (event->events & (EPOLLEXCLUSIVE | EPOLLWAKEUP)) != 0) {
    return false;
  }
  epoll_event armed = *event;
  armed.events |= EPOLLERR | EPOLLHUP;
  return TryModifyLockless(tfile, fd, armed, result);
}

// No analysis: epmutex is taken on one branch only (nested_guard) and kept to the end.
int EventPoll::Ctl(int op, File* tfile, int fd, epoll_event* event) NO_THREAD_SAFETY_ANALYSIS {
  epoll_event epds{};
  const bool has_event = op != EPOLL_CTL_DEL;
  if (has_event) {
    epds = *event;
    // EPOLLWAKEUP needs CAP_BLOCK_SUSPEND; without it the kernel drops the bit silently.
    if ((epds.events & EPOLLWAKEUP) != 0 && geteuid() != 0) epds.events &= ~EPOLLWAKEUP;
  }
  if (tfile == this) return -EINVAL;
  if (has_event && (epds.events & EPOLLEXCLUSIVE) != 0) {
    constexpr uint32_t kExclusiveOkBits =
        EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE;
    if (op == EPOLL_CTL_MOD) return -EINVAL;
    if (op == EPOLL_CTL_ADD && (tfile->IsEventPoll() || (epds.events & ~kExclusiveOkBits) != 0)) {
      return -EINVAL;
    }
  }

  std::unique_lock mtx_guard(mtx_);
  std::unique_lock<StdMutex> nested_guard;
  bool full_check = false;
  if (op == EPOLL_CTL_ADD &&
      (f_ep_nonempty.load(std::memory_order_acquire) || tfile->IsEventPoll())) {
    // Adding below or into a nested instance: check loops, depth and wake-up paths.
    mtx_guard.unlock();
    nested_guard = std::unique_lock(epmutex);
    full_check = true;
    ++loop_check_gen;
    if (tfile->IsEventPoll()) {
      EpLoopCheck check;
      if (!check.Check(this, static_cast<EventPoll*>(tfile))) {
        ClearTfileCheckList();
        ++loop_check_gen;
        return -ELOOP;
      }
    }
    mtx_guard.lock();
  }

  EpItem* epi = Find(tfile, fd);
  int error = -EINVAL;
  bool created_kside = false;
  // Closed while we waited for the locks (the caller keeps only the target's memory, so
  // that a close is never held back): as if this call came after the close.
  if (tfile->f_released.load(std::memory_order_acquire)) {
    error = -EBADF;
  } else switch (op) {
    case EPOLL_CTL_ADD:
      if (epi == nullptr) {
        epds.events |= EPOLLERR | EPOLLHUP;
        error = Insert(epds, tfile, fd, full_check);
        // A child with a kernel side: its kernel events reach us (kernel/kernel_side.h, Nesting).
        if (error == 0 && tfile->IsEventPoll()) {
          const int r = LinkKernelChild(static_cast<EventPoll*>(tfile));
          if (r < 0) {
            Remove(Find(tfile, fd));
            error = r;
          }
          created_kside = r > 0;
        }
      } else {
        error = -EEXIST;
      }
      break;
    case EPOLL_CTL_DEL:
      if (epi != nullptr) {
        Remove(epi);
        error = 0;
      } else {
        error = -ENOENT;
      }
      break;
    case EPOLL_CTL_MOD:
      if (epi != nullptr) {
        if ((epi->events.load(std::memory_order_relaxed) & EPOLLEXCLUSIVE) == 0) {
          epds.events |= EPOLLERR | EPOLLHUP;
          error = Modify(epi, epds);
        }
      } else {
        error = -ENOENT;
      }
      break;
    default:
      break;
  }
  mtx_guard.unlock();
  if (created_kside) PropagateKernelSideUp();  // epmutex is held: an instance was added
  if (full_check) {
    ClearTfileCheckList();
    ++loop_check_gen;
  }
  return error;
}

void EventPoll::StartScan(ListHead* txlist) {
  std::lock_guard guard(wq_.lock);
  BeginTransferLocked();
  txlist->SpliceTailInit(&rdllist_);
  ovflist_.store(nullptr, std::memory_order_relaxed);
}

// ep_done_scan(): the ready list becomes [left over][readied meanwhile, FIFO][requeued LT].
void EventPoll::DoneScan(ListHead* txlist, ListHead* requeue) {
  std::lock_guard guard(wq_.lock);
  rdllist_.SpliceTailInit(requeue);
  for (EpItem *nepi = ovflist_.load(std::memory_order_relaxed), *epi = nullptr;
       (epi = nepi) != nullptr;) {
    nepi = epi->next;
    epi->next = kEpUnactive;
    // Items still on txlist or requeued are linked already and keep their place.
    if (!epi->rdllink.Linked()) UEP_TRACE(kOvfRequeue, nullptr, nullptr, epi, this, 0, 0);
    if (!epi->rdllink.Linked()) rdllist_.AddHead(&epi->rdllink);
  }
  ovflist_.store(kEpUnactive, std::memory_order_relaxed);
  rdllist_.SpliceHeadInit(txlist);
  EndTransferLocked();
  if (!rdllist_.Empty() && wq_.Active()) WakeUpLocked(&wq_, 1, 0);
}

// Moves up to maxevents ready items of `txlist` to `events`: each is re-polled, reported if
// still ready, then requeued (level-triggered), disarmed (one-shot) or dropped (edge).
int EventPoll::TransferItems(ListHead* txlist, ListHead* requeue, epoll_event* events,
                             int maxevents) {
  PollTable pt;
  int res = 0;
  UEP_TRACE(
      kTransferBegin, nullptr, nullptr, nullptr, this, 0,
      uint32_t(txlist == &rdllist_ ? trace::TransferPath::kLockless : trace::TransferPath::kScan));
  for (ListHead *pos = txlist->next(), *tmp = pos->next(); pos != txlist;
       pos = tmp, tmp = pos->next()) {
    if (res >= maxevents) break;
    EpItem* epi = ItemFromRdllink(pos);
    epi->rdllink.DelInit();
    const uint32_t revents = ItemPoll(epi, &pt, 1);
    if (revents == 0) {
      UEP_TRACE(kTransferItem, nullptr, nullptr, epi, this, 0,
                uint32_t(trace::ItemFate::kNotReady));
      continue;
    }
    if (events == nullptr) {
      // The kernel's failed copy to user memory: the item stays ready.
      txlist->AddHead(&epi->rdllink);
      if (res == 0) res = -EFAULT;
      break;
    }
    events[res].events = revents;
    events[res].data.u64 = epi->data.load(std::memory_order_relaxed);
    ++res;
    const uint32_t ev = epi->events.load(std::memory_order_relaxed);
    [[maybe_unused]] trace::ItemFate fate = trace::ItemFate::kReportedEt;
    if ((ev & EPOLLONESHOT) != 0) {
      fate = trace::ItemFate::kDisarmed;
      epi->events.store(ev & kEpPrivateBits, std::memory_order_relaxed);
    } else if ((ev & EPOLLET) == 0) {
      fate = trace::ItemFate::kRequeued;
      requeue->AddTail(&epi->rdllink);
    }
    UEP_TRACE(kTransferItem, nullptr, nullptr, epi, this, revents, uint32_t(fate));
  }
  UEP_TRACE(kTransferEnd, nullptr, nullptr, nullptr, this, uint32_t(res), 0);
  return res;
}

// Without the count a wait(0) on another thread could look between the two and take a
// level-triggered item that is being re-polled for "nothing ready".
void EventPoll::BeginTransferLocked() {
  // A full barrier (one locked instruction): the re-polls below see the state of every
  // waker that took the callback's lock-free path with the old count (ItemCallbackIsNoop).
  transfer_seq_.fetch_add(1, std::memory_order_seq_cst);
}

void EventPoll::EndTransferLocked() {
  transfer_seq_.store(transfer_seq_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
}

// A transfer under ep->lock alone (every item polls without locks).
int EventPoll::TransferLocklessLocked(epoll_event* events, int maxevents) {
  BeginTransferLocked();
  ListHead requeue;
  const int res = TransferItems(&rdllist_, &requeue, events, maxevents);
  rdllist_.SpliceTailInit(&requeue);
  EndTransferLocked();
  if (!rdllist_.Empty() && wq_.Active()) WakeUpLocked(&wq_, 1, 0);
  return res;
}

int EventPoll::SendEvents(epoll_event* events, int maxevents, SleepPermit* permit) {
  {
    std::lock_guard guard(wq_.lock);
    if (locked_poll_items_ == 0 && ovflist_.load(std::memory_order_relaxed) == kEpUnactive) {
      // Every item polls without locks: transfer under ep->lock alone. No callback can
      // run meanwhile, so neither ep->mtx nor the overflow list is needed, and removal
      // (which unlinks under ep->lock) keeps each item and its file alive.
      return TransferLocklessLocked(events, maxevents);
    }
  }
  // No RCU read section waits for a mutex.
  if (permit != nullptr && !permit->Acquire()) return -EBADF;
  std::lock_guard guard(mtx_);
  ListHead txlist;
  ListHead requeue;
  StartScan(&txlist);
  const int res = TransferItems(&txlist, &requeue, events, maxevents);
  DoneScan(&txlist, &requeue);
  return res;
}

// No analysis: the try-lock loop leaves its result in `locked`, which the analysis cannot follow.
int EventPoll::HarvestReentrant(epoll_event* events, int maxevents) NO_THREAD_SAFETY_ANALYSIS {
  if (KernelBridge* ks = kside_.load(std::memory_order_acquire); ks != nullptr && ks->active.load(std::memory_order_acquire)) {
    return 0;
  }
  if (!EventsAvailable()) return 0;
  // Held by another thread, it is released soon; held by the interrupted call, never.
  bool locked = false;
  for (int i = 0; i < 1024 && !(locked = wq_.lock.try_lock()); ++i) platform::CpuRelax();
  if (!locked) return 0;
  int res = 0;
  if (locked_poll_items_ == 0 && ovflist_.load(std::memory_order_relaxed) == kEpUnactive) {
    res = TransferLocklessLocked(events, maxevents);
  }
  wq_.lock.unlock();
  return res;
}

// ep_busy_loop(): spin on the ready list before sleeping, with no waiter queued, so that a
// producer's callback finds nobody to wake: it neither calls a wake function nor touches this
// thread's stack, and the only cache line that crosses is the instance's own.
bool EventPoll::BusyLoop() {
  const int rounds = busy_poll_rounds_.load(std::memory_order_relaxed);
  if (rounds == 0) return false;
  FlushDeferredWakes();  // nobody waits for us while we spin
  for (int i = 0; i < rounds; ++i) {
    if (EventsAvailable()) return true;
    platform::CpuRelax();
  }
  return false;
}

int EventPoll::Wait(epoll_event* events, int maxevents, platform::Timeout timeout,
                    const sigset_t* sigmask, SleepPermit* permit) {
  // An instance with kernel descriptors (or watched through uep_epoll_kernel_fd()) waits
  // in the kernel bridge (core/kernel_bridge.h); the others pay this one load.
  if (KernelBridge* ks = kside_.load(std::memory_order_acquire); ks != nullptr && ks->active.load(std::memory_order_acquire)) {
    return ks->Wait(this, events, maxevents, &timeout, sigmask, permit);
  }
  bool timed_out = timeout.nonblocking();
  bool interrupted = false;
  bool eavail = EventsAvailable();
  for (;;) {
    if (eavail) {
      const int res = SendEvents(events, maxevents, permit);
      if (res != 0) return res;
    }
    if (timed_out) return 0;
    if (interrupted) return -EINTR;
    if (!permit->Acquire()) return -EBADF;
    if (BusyLoop()) {
      eavail = true;
      continue;
    }

    Waiter waiter;
    waiter.timer_tag = this;  // timerfds this instance watches tag their expiries with it
    if (sigmask != nullptr) {
      waiter.doorbell = WaiterDoorbell();
      if (waiter.doorbell < 0) return -ENOMEM;
    }
    KernelBridge* ks = nullptr;
    {
      std::lock_guard guard(wq_.lock);
      eavail = EventsAvailable();
      // Became a kernel-side instance meanwhile (ActivateKernelSide, under ep->lock).
      if (KernelBridge* k = kside_.load(std::memory_order_acquire); k != nullptr && k->active.load(std::memory_order_relaxed)) {
        ks = k;
      }
      if (!eavail && ks == nullptr) AddWaitQueueExclusiveHeadLocked(&wq_, &waiter.wait);
    }
    if (ks != nullptr) return ks->Wait(this, events, maxevents, &timeout, sigmask, permit);
    if (eavail) continue;
    UEP_TRACE(kEpWait, &waiter, &wq_, nullptr, this, 0, 0);
    const int r = WaiterSleep(&waiter, timeout.Deadline(), SleepKind::kInterruptible, sigmask, 0);
    UEP_TRACE(kSleepEnd, &waiter, &wq_, nullptr, this, uint32_t(r), 0);
    timed_out = r == -ETIMEDOUT;
    interrupted = r == -EINTR;
    eavail = true;
    if (!WaiterWoken(&waiter)) {
      std::lock_guard guard(wq_.lock);
      // Woken between the timeout and here: the wake-up is ours, harvest it.
      if (timed_out) eavail = !waiter.wait.entry.Linked();
      if (waiter.wait.entry.Linked()) waiter.wait.entry.DelInit();
    }
  }
}

uint32_t EventPoll::PollAtDepth(PollTable* wait, int depth) {
  PollWait(this, &poll_wait_, wait);
  // Children's pending kernel events become our items on them, queued on the ready list
  // with their masks and edges, before the list is looked at.
  KernelBridge* ks = kside_.load(std::memory_order_acquire);
  const bool ask = ks != nullptr && ks->BeginPoll();
  std::lock_guard guard(mtx_);
  ListHead txlist;
  ListHead requeue;
  StartScan(&txlist);
  PollTable pt;
  uint32_t res = 0;
  for (ListHead *pos = txlist.next(), *tmp = pos->next(); pos != &txlist;
       pos = tmp, tmp = pos->next()) {
    EpItem* epi = ItemFromRdllink(pos);
    if (ItemPoll(epi, &pt, depth + 1) != 0) {
      res = EPOLLIN | EPOLLRDNORM;
      break;
    }
    // Queued by a callback but not ready for what the item wants: drop it.
    epi->rdllink.DelInit();
  }
  DoneScan(&txlist, &requeue);
  // Our own kernel descriptors are ready when the hidden kernel instance says so.
  // (Readable for a ring nobody took is not ready: drop it and ask again.)
  if (ask && ks->OwnReady(this)) res = EPOLLIN | EPOLLRDNORM;
  UEP_TRACE(kPollAtDepth, nullptr, &poll_wait_, nullptr, this, res, uint32_t(depth));
  return res;
}

// ep_free() / ep_clear_and_put(): the instance's last reference is gone.
void EventPoll::Release() {
  if (poll_wait_.Active()) WakeUpPoll(&poll_wait_, EPOLLIN);
  std::lock_guard nested(epmutex);
  std::lock_guard guard(mtx_);
  index_.ForEach([this](EpItem* epi) {
    UnregisterPollWait(epi);
    return true;
  });
  // No reference pins the targets: one may be in its final FilePut() right now.
  size_t cursor = 0;
  while (EpItem* epi = index_.Next(&cursor)) Remove(epi, /*file_pinned=*/false);
}

// ---- The kernel side's core half (the bridge itself is in src/kernel/) ----

bool EventPoll::ActivateKernelSide(KernelBridge* ks) {
  {
    std::lock_guard guard(wq_.lock);
    if (ks->active.load(std::memory_order_relaxed)) return false;
    ks->active.store(true, std::memory_order_release);
    // Threads asleep on their futex cannot see kernel events: wake them all; they come back
    // through the kernel side's Wait().
    WakeUpLocked(&wq_, 0, 0);
  }
  // Threads in poll(2) on the instance went to sleep without the hidden instance in their
  // set, so the kernel cannot wake them for it: wake them, their next sleep includes it
  // (KernelSleepFd). A parent's hooks are left alone: the links fire them once per
  // kernel event, as the kernel would.
  std::lock_guard guard(poll_wait_.lock);
  ListHead* head = &poll_wait_.head;
  for (ListHead *pos = head->next(), *tmp = pos->next(); pos != head;
       pos = tmp, tmp = pos->next()) {
    WaitQueueEntry* entry = UEP_CONTAINER_OF(pos, WaitQueueEntry, entry);
    if (entry->func != EpPollCallback) entry->func(entry, 0, 0, EPOLLIN);
  }
  return true;
}

bool EventPoll::WakeParentsForKernelEvent(EventPoll* ep) {
  // Walking the queue fires the parents' hooks in the order a wake-up of the instance
  // would; poll(2) sleepers sleep on the hidden instance and are woken by the kernel.
  bool fired = false;
  std::lock_guard guard(ep->poll_wait_.lock);
  ListHead* head = &ep->poll_wait_.head;
  for (ListHead *pos = head->next(), *next = pos->next(); pos != head;
       pos = next, next = pos->next()) {
    WaitQueueEntry* entry = UEP_CONTAINER_OF(pos, WaitQueueEntry, entry);
    if (entry->func != EpPollCallback) continue;
    entry->func(entry, 0, 0, EPOLLIN);
    fired = true;
  }
  return fired;
}

int EventPoll::LinkKernelChild(EventPoll* child) {
  KernelBridge* cks = child->kside_.load(std::memory_order_acquire);
  if (cks == nullptr || !cks->active.load(std::memory_order_acquire)) return 0;
  return KernelBridgeLinkChild(this, child);
}

// Every parent of this instance links it, and from them on up every ancestor drains the
// links (epmutex held).
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
    int r = 0;
    {
      std::lock_guard guard(parent->mtx_);
      if (parent->Find(this, fd) == nullptr) continue;
      r = parent->LinkKernelChild(this);
    }
    if (r > 0) parent->PropagateKernelSideUp();
  }
}

void EventPoll::KernelSideCreated() {
  std::lock_guard nested(epmutex);
  PropagateKernelSideUp();
}

void EventPollReleaseFile(File* file) {
  std::lock_guard nested(epmutex);  // keeps every instance watching the file alive
  for (;;) {
    EpItem* epi = nullptr;
    EventPoll* ep = nullptr;
    {
      std::lock_guard guard(file->f_lock);
      if (file->f_ep.Empty()) break;
      epi = UEP_CONTAINER_OF(file->f_ep.next(), EpItem, fllink);
      ep = epi->ep;
    }
    std::lock_guard guard(ep->mtx_);
    {
      // A DEL that held ep->mtx may have removed it meanwhile (it keeps only the file's
      // memory: see DoEpollCtl): take it only if it is still first and ep's.
      std::lock_guard check(file->f_lock);
      if (file->f_ep.Empty() || file->f_ep.next() != &epi->fllink || epi->ep != ep) continue;
    }
    ep->Remove(epi);
  }
}

}  // namespace uep
