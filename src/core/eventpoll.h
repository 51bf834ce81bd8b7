// The eventpoll instance: the seed's whole idea in one object.
//
//   register:  Ctl(ADD) -> Insert() -> target->Poll(table) -> EpPtableQueueProc() hangs an
//              EpPollEntry on each of the target's wait queues
//   deliver:   target wakes its queue -> EpPollCallback() puts the item on the ready list
//              (or the overflow list while a transfer runs) and wakes one waiter
//   harvest:   Wait() -> SendEvents() re-polls only the ready items and reports them
//
// Locking is described at the top of eventpoll.cc.
#pragma once

#include <signal.h>
#include <sys/epoll.h>

#include <atomic>
#include <cstdint>
#include <ctime>
#include <mutex>
#include <vector>

#include "core/epitem.h"
#include "core/file.h"
#include "core/item_index.h"
#include "core/kernel_bridge.h"
#include "core/list.h"
#include "core/wait_queue.h"
#include "platform/clock.h"

namespace uep {

int EpPollCallback(WaitQueueEntry* wait, unsigned mode, int sync, uint32_t key);
// WaitQueueEntry::quiet of every hook: a wake-up with `key` would be a no-op now.
bool EpItemQuiet(const WaitQueueEntry* wait, uint32_t key);
bool ItemCallbackIsNoop(const EpItem* epi);

inline constexpr uint32_t kEpPrivateBits = EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE;
inline constexpr int kEpMaxNests = 4;
inline constexpr int kEpMaxEvents = static_cast<int>(INT32_MAX / sizeof(epoll_event));

class EventPoll final : public File {
 public:
  EventPoll();
  ~EventPoll() override;

  uint32_t Poll(PollTable* pt) override { return PollAtDepth(pt, 0); }
  void Release() override;
  // A lock-free reader of a closed instance finds its items removed under the locks it
  // takes, and those items freed only after a grace period. With kernel descriptors the
  // close waits for one first: the hidden kernel descriptors go with the memory.
  [[nodiscard]] bool ReleasesUnderReaders() const override {
    return kside_.load(std::memory_order_acquire) == nullptr;
  }

  // epoll_ctl() after the descriptors were resolved, both files pinned (it may wait for
  // ep->mtx and epmutex) and outside any RCU read section; `event` is ignored for DEL.
  int Ctl(int op, File* tfile, int fd, epoll_event* event);
  // The common MOD (a target whose Poll() takes no lock, a mask the item already had), in
  // the caller's RCU read section with neither file pinned: true with *result set, or false
  // when Ctl() must decide.
  bool TryCtlLockless(int op, File* tfile, int fd, const epoll_event* event, int* result);

  // Lock-free hint: items are ready, or a transfer is moving them (the kernel's
  // "ovflist active"). A transfer takes level-triggered items off the ready list while it
  // re-polls them; the count around it keeps a reader that looked in between from
  // taking the empty list for "nothing ready".
  // No analysis: the ready list is read without ep->lock by design (a hint).
  [[nodiscard]] bool EventsAvailable() const NO_THREAD_SAFETY_ANALYSIS {
    const uint32_t seq = transfer_seq_.load(std::memory_order_acquire);
    if ((seq & 1) != 0 || !rdllist_.Empty()) return true;
    std::atomic_thread_fence(std::memory_order_acquire);
    return transfer_seq_.load(std::memory_order_relaxed) != seq;
  }
  // Transfers up to maxevents ready events; never sleeps (beyond ep->mtx). Inside an RCU
  // read section, `permit` is acquired before waiting for ep->mtx (-EBADF if that fails).
  int SendEvents(epoll_event* events, int maxevents, SleepPermit* permit = nullptr);
  // ep_poll(): harvest, sleeping until the timeout if nothing is ready. `permit` is
  // acquired before sleeping. Returns the number of events or -errno.
  // A harvest by a call that interrupted its thread's own uepoll call (a signal handler):
  // never waits for a lock, so it reports nothing when ep->lock is taken or a transfer
  // needs ep->mtx. Ready items stay queued.
  int HarvestReentrant(epoll_event* events, int maxevents);
  int Wait(epoll_event* events, int maxevents, platform::Timeout timeout,
           const sigset_t* sigmask, SleepPermit* permit);

  // Spin rounds a waiter makes before it sleeps (uep_epoll_set_busy_poll()).
  void SetBusyPollRounds(int rounds) { busy_poll_rounds_.store(rounds, std::memory_order_relaxed); }
  int BusyPollRounds() const { return busy_poll_rounds_.load(std::memory_order_relaxed); }

  // Number of items (for tests).
  int ItemCount();

  // epoll_ctl() of a kernel descriptor (the kernel bridge, core/kernel_bridge.h): 0 or
  // the kernel's -errno.
  int CtlKernel(int op, int fd, epoll_event* event) { return KernelBridgeCtl(this, op, fd, event); }
  // uep_epoll_kernel_fd(): a kernel descriptor readable while events are ready, or -errno.
  int KernelFd() { return KernelBridgeNotifyFd(this); }
  // The hidden kernel instance while it holds kernel descriptors, else -1: poll(2) over
  // this instance sleeps on it too, so a kernel descriptor's readiness wakes the poller.
  [[nodiscard]] int KernelSleepFd() {
    KernelBridge* ks = kside_.load(std::memory_order_acquire);
    return ks != nullptr ? ks->SleepFd(this) : -1;
  }

 private:
  friend int EpPollCallback(WaitQueueEntry* wait, unsigned mode, int sync, uint32_t key);
  friend bool ItemCallbackIsNoop(const EpItem* epi);
  friend void EventPollReleaseFile(File* file);
  friend struct EpLoopCheck;

  uint32_t PollAtDepth(PollTable* wait, int depth);
  // Spins up to busy_poll_rounds_ for events; true if some became available.
  bool BusyLoop();
  uint32_t ItemPoll(EpItem* epi, PollTable* pt, int depth);
  int Insert(const epoll_event& event, File* tfile, int fd, bool full_check);
  int Modify(EpItem* epi, const epoll_event& event);
  // `file_pinned`: the caller keeps epi->file alive (a DEL in an RCU read section, or the
  // file's own release); false from Release(), see there.
  void Remove(EpItem* epi, bool file_pinned = true);
  void UnregisterPollWait(EpItem* epi);
  EpItem* Find(File* file, int fd) { return index_.Find(file, fd); }
  // MOD of a file whose Poll() takes no lock, under ep->lock alone: true with *result set,
  // or false when the locked path must decide.
  bool TryModifyLockless(File* tfile, int fd, const epoll_event& event, int* result);
  // The part of a MOD that runs under ep->lock; true if poll_wait_ needs a wake.
  bool ModifyLocked(EpItem* epi, const epoll_event& event) REQUIRES(wq_.lock);
  int TransferItems(ListHead* txlist, ListHead* requeue, epoll_event* events, int maxevents);
  void BeginTransferLocked() REQUIRES(wq_.lock);
  void EndTransferLocked() REQUIRES(wq_.lock);
  int TransferLocklessLocked(epoll_event* events, int maxevents) REQUIRES(wq_.lock);
  void StartScan(ListHead* txlist);
  void DoneScan(ListHead* txlist, ListHead* requeue);
  // Queues `epi` if it is not yet linked; returns true if the poll_wait queue needs a wake.
  bool ReadyLocked(EpItem* epi) REQUIRES(wq_.lock);
  // Kernel descriptors (the kernel bridge: core/kernel_bridge.h, src/kernel/).
  // Waits go through the kernel side from now on; true if they did not before.
  bool ActivateKernelSide(KernelBridge* ks);
  // Nesting with kernel sides: a child with an active kernel side joins the links and we
  // drain them (ep->mtx held; 1 if our kernel side was created, activated or newly drains
  // the links: our parents must hear of it, 0, or -errno); after that, the same for every
  // parent (epmutex held by KernelSideCreated()).
  int LinkKernelChild(EventPoll* child);
  void PropagateKernelSideUp();
  void KernelSideCreated();
  // A kernel event of `ep`'s (a drain of the links): fires its parents' hooks on
  // poll_wait_, as ep's wake-up would. True if one was fired.
  static bool WakeParentsForKernelEvent(EventPoll* ep);
  friend class KernelSide;
  friend int KernelBridgeCtl(EventPoll* ep, int op, int fd, epoll_event* event);
  friend int KernelBridgeNotifyFd(EventPoll* ep);
  friend int KernelBridgeLinkChild(EventPoll* parent, EventPoll* child);

  Mutex mtx_;                    // ep->mtx: items, index, transfers (see eventpoll.cc)
  WaitQueueHead wq_;             // waiters in Wait(); wq_.lock is "ep->lock"
  WaitQueueHead poll_wait_;      // whoever polls this instance (a parent instance, poll())
  ListHead rdllist_ GUARDED_BY(wq_.lock);  // ready items (ep->lock)
  std::atomic<EpItem*> ovflist_{kEpUnactive};  // items readied during a transfer (ep->lock)
  std::atomic<uint32_t> transfer_seq_{0};  // odd while a transfer runs (written under ep->lock)

  // What makes a callback on a ready item a no-op: no transfer since, nobody queued on wq_
  // or poll_wait_ since (EpItem::quiet_stamp). Never 0.
  [[nodiscard]] uint64_t QuietStamp() const {
    return (uint64_t{transfer_seq_.load(std::memory_order_seq_cst)} << 32) | (uint64_t{1} << 31) |
           (uint64_t{wq_.adds.load(std::memory_order_seq_cst) & 0x7fffU} << 16) |
           (poll_wait_.adds.load(std::memory_order_seq_cst) & 0xffffU);
  }
  int locked_poll_items_ GUARDED_BY(wq_.lock) = 0;  // items whose Poll may take locks (ep->lock)
  ItemIndex index_;               // items by (file, fd) (ep->mtx; core/item_index.h)
  std::atomic<int> busy_poll_rounds_;
  // Kernel descriptors / uep_epoll_kernel_fd(): set once (ep->mtx), read lock-free,
  // deleted with the instance.
  std::atomic<KernelBridge*> kside_{nullptr};
  // Loop and path checks (epmutex).
  uint64_t gen_ = 0;
  int loop_check_depth_ = 0;
};

// ep_poll_callback(): the function of every hook an instance hangs on a target's queue.
int EpPollCallback(WaitQueueEntry* wait, unsigned mode, int sync, uint32_t key);

// eventpoll_release_file(): the last reference to `file` is gone; remove every item that
// still watches it.
void EventPollReleaseFile(File* file);

// The limit on watches in the process (fs.epoll.max_user_watches; ENOSPC beyond).
long EpollMaxUserWatches();
void EpollSetMaxUserWatches(long limit);
// Watches in the process now (the kernel's per-user epoll_watches counter).
long EpollWatches();

}  // namespace uep
