// The kernel side of an instance: kernel descriptors inside a uepoll instance, and the
// instance inside other event loops.
//
// The kernel bridge: implements the core's KernelBridge (core/kernel_bridge.h).
//
// Kernel descriptors are watched by a hidden kernel epoll instance of the uepoll instance,
// added with the caller's own mask and data, so the kernel keeps its own semantics for them
// (LT, ET, EPOLLONESHOT, EPOLLEXCLUSIVE, EPOLLWAKEUP, errno, removal at the last close).
// The hidden instance also holds a kernel eventfd, the doorbell (edge-triggered):
//
//   harvest:  Wait -> the user-space ready list, then the hidden instance (epoll_wait with
//             timeout 0) for the room left, in every call; the kernel is asked only when
//             it may have events (ShouldAsk: the readiness ring signalled, or the last
//             answer had events; always in the syscall mode); a call that may sleep with
//             nothing ready in user space asks through the sleep instead
//   sleep:    one epoll_pwait2() on the hidden instance (or on `sleep`, below), with the
//             caller's mask
//   wake-up:  a user-space event for a sleeper reaches `bell`, an entry on the instance's
//             queue while threads sleep in the kernel; it rings the doorbell once per sleep
//             (`rung`), and the kernel wakes one sleeper, as it would for any other event
//
// The readiness ring (platform/uring.h, one per instance, set up by the first thread that
// harvests it) watches the hidden instance, and the links (below) for an instance that has
// them, with a multishot poll: a harvest reads a few words of shared memory while the kernel
// side is idle.
//
// The doorbell's data is kReservedData. User data in the reserved span is replaced by an
// escape id (looked up again at harvest), so no caller's data can be taken for the doorbell.
//
// Nesting. A uepoll instance C with a kernel side inside other uepoll instances has its
// hidden instance in the process's *links*, one kernel epoll instance (edge-triggered,
// kernel/kernel_side.cc). A drain of the links (DrainLinks) fires the hooks on C's poll_wait_ for
// each event, as C's wake-up would in the kernel: every parent's item on C is queued once,
// and their wake-ups carry it further up in user space. Every ancestor of C drains the
// links before it harvests or is polled, and sleeps on `sleep`, a kernel epoll instance
// holding its hidden instance and the links. So the kernel sees at most three levels
// (sleep -> links -> hidden instance) whatever the depth of the uepoll instances.
//
// uep_epoll_kernel_fd() adds `notify`: a kernel epoll instance holding the hidden one
// (and the links for an instance that drains them: readable while a kernel descriptor is
// ready) and a kernel eventfd that is non-zero while the user-space ready list is not
// empty (`level`, an entry on the instance's queue, raises it; a harvest that empties the
// list lowers it).
//
// Locking: the fields marked (ep->lock) are the instance's wq_.lock; `mu_` guards the
// escape ids and is taken alone; the links' lock is level 2a of eventpoll.cc.
#pragma once

#include <sys/epoll.h>
#include <time.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/kernel_bridge.h"
#include "core/wait_queue.h"
#include "platform/uring.h"

namespace uep {

class EventPoll;

class KernelSide final : public KernelBridge {
 public:
  // User data in [kReservedData, kReservedData + kReservedSpan) is escaped.
  static constexpr uint64_t kReservedData = 0x7565706f6c6c0000ULL;  // "uepoll\0\0"
  static constexpr uint64_t kReservedSpan = 1ULL << 16;
  // The data of the hidden instance and of the links in `sleep`.
  static constexpr uint64_t kOwnData = 1;
  static constexpr uint64_t kLinksData = 2;

  // Makes the hidden instance and the doorbell; nullptr with *error = -errno on failure.
  static KernelSide* Create(int* error);
  ~KernelSide() override;

  // KernelBridge (core/kernel_bridge.h).
  int Wait(EventPoll* ep, epoll_event* events, int maxevents, platform::Timeout* timeout,
           const sigset_t* sigmask, SleepPermit* permit) override;
  bool BeginPoll() override;
  bool OwnReady(EventPoll* ep) override;
  int SleepFd(EventPoll* ep) override;
  void Destroy(EventPoll* ep) override;

  KernelSide(const KernelSide&) = delete;
  KernelSide& operator=(const KernelSide&) = delete;

  // epoll_ctl() on the hidden instance: 0 or the kernel's -errno.
  int Ctl(int op, int fd, const epoll_event* event);
  // Asks the kernel side: epoll_pwait2() on the hidden instance, or a sleep on `sleep`
  // followed by epoll_wait(0) on the hidden instance. Drops the doorbell's event
  // (*rang = true), restores escaped data. Returns the number of events left in `events`,
  // or -errno. *fired: hooks were fired by a drain of the links (the ready list may have
  // grown). *raw (if given): the events the kernel returned, ours included (0 only when
  // its wait timed out).
  int Harvest(epoll_event* events, int maxevents, const timespec* timeout,
              const sigset_t* sigmask, bool* rang, bool* fired, int* raw = nullptr);
  // The hidden instance has an event to report (a poll() with timeout 0).
  [[nodiscard]] bool Readable() const;
  // Kernel descriptors added and not deleted (closing one without DEL leaves it counted:
  // only costs a poll).
  [[nodiscard]] int own_items() const { return items_.load(std::memory_order_relaxed); }
  // Kernel descriptors, or descendants with kernel sides: the kernel side has something to
  // say.
  [[nodiscard]] bool has_items() const {
    return own_items() > 0 || drains_links_.load(std::memory_order_relaxed);
  }
  // Drains the links if this instance has descendants with kernel sides (see above); sets
  // *fired if a hook was fired.
  void DrainLinks(bool* fired);
  // From now on this instance has descendants with kernel sides: it drains the links and
  // sleeps on `sleep` (ep->mtx or epmutex held). 0 or -errno.
  int EnableLinks();
  [[nodiscard]] bool drains_links() const { return drains_links_.load(std::memory_order_acquire); }
  [[nodiscard]] int epfd() const { return epfd_; }
  // What a sleeper sleeps on (poll(2) over the instance too).
  [[nodiscard]] int sleep_fd() const {
    const int fd = sleep_epfd_.load(std::memory_order_acquire);
    return fd >= 0 ? fd : epfd_;
  }

  // The readiness hint. True if a harvest must ask the kernel side (drain the links,
  // epoll_wait the hidden instance): always in the syscall mode; in the ring mode when
  // the ring signalled, when the last answer had events (level-triggered items stay ready
  // without a new wake-up), or when no ring can tell. Consumes the ring's signal: a caller
  // that then does not ask calls MarkBusy().
  bool ShouldAsk();
  // ShouldAsk() would say yes only because the last answer had events (or always, in the
  // syscall mode), with no ring signal to consume and no ring or links to set up: a wait
  // about to sleep can let its sleep ask instead (WaitKernelSide).
  [[nodiscard]] bool AsksAnyway() const {
    if (!ring_mode_ || ring_failed_.load(std::memory_order_relaxed)) return true;
    const platform::ReadinessRing* ring = ring_.load(std::memory_order_acquire);
    return ring != nullptr && ring->IssuerAliveIn(platform::ProcessGeneration()) &&
           !drains_links() && Busy();
  }
  // The ring mode's idle case in plain loads (no lock, no system call): true when
  // ShouldAsk() would say no. False when unsure.
  [[nodiscard]] bool LooksIdle() const {
    if (!ring_mode_ || ring_failed_.load(std::memory_order_relaxed)) return false;
    const platform::ReadinessRing* ring = ring_.load(std::memory_order_acquire);
    if (ring == nullptr || !ring->IssuerAliveIn(platform::ProcessGeneration()) || Busy() ||
        pending_.load(std::memory_order_acquire)) {
      return false;
    }
    if (drains_links() && (!links_armed_.load(std::memory_order_acquire) ||
                           links_seen_.load(std::memory_order_relaxed) !=
                               links_events.load(std::memory_order_acquire))) {
      return false;
    }
    return !ring->Signalled();
  }
  // Events of the links reported by any ring (OnRingEvent).
  static inline std::atomic<uint64_t> links_events{0};
  // Around an ask: BeginAsk() before the system call, EndAsk() with the number of events
  // the hidden instance returned. The hint says "busy" until an ask that started after
  // every other one returned nothing.
  uint64_t BeginAsk() { return asks_.fetch_add(1, std::memory_order_acq_rel) + 1; }
  void EndAsk(uint64_t seq, int raw);
  void MarkBusy() { asks_.fetch_add(1, std::memory_order_acq_rel); }

  // The descriptor uep_epoll_kernel_fd() hands out, made on first use (ep->mtx held).
  // Returns it or -errno. Link `level` afterwards.
  int NotifyFd();

  // Fields under ep->lock.
  WaitQueueEntry bell;       // on the queue while sleepers > 0: rings the doorbell
  int sleepers = 0;          // threads in epoll_pwait2() on the hidden instance
  bool rung = false;         // the doorbell rang and no sleeper has taken it yet
  // Rings posted to the doorbell, and counts read back from it (DropStaleDoorbell): a
  // ring nobody harvested leaves an edge that keeps the hidden instance readable.
  uint64_t rings_posted = 0;
  uint64_t rings_drained = 0;
  WaitQueueEntry level;      // on the queue once NotifyFd() exists: raises the level
  bool raised = false;       // the level eventfd should be non-zero
  uint64_t level_posted = 0;   // writes posted to the level eventfd
  uint64_t level_drained = 0;  // counts read back from it
  // uep_epoll_kernel_fd() linked `level` (set once, under ep->mtx).
  std::atomic<bool> has_level{false};
  // The last harvest had no room left for the kernel side: the next one asks it first.
  std::atomic<bool> kernel_first{false};


  [[nodiscard]] int level_fd() const { return level_fd_; }
  [[nodiscard]] int doorbell_fd() const { return doorbell_; }

 private:
  KernelSide() = default;

  // After a harvest of ep: lower the level eventfd if the ready list is empty.
  void LowerLevel(EventPoll* ep);
  // The doorbell's event was taken by a thread that is not about to harvest the ready list
  // for a sleeper: pass the ring on if a sleeper may be left without it.
  void RingTaken(EventPoll* ep);
  // Empties a doorbell whose ring no sleeper is owed; true if a count was drained.
  bool DropStaleDoorbell(EventPoll* ep);

  bool Busy() const {
    return asks_.load(std::memory_order_acquire) != idle_at_.load(std::memory_order_acquire);
  }
  // Watches this instance with the calling thread's ring (replacing another thread's).
  void AttachRing();
  // A completion of a ring's watch (platform::ReadinessRing::Sink).
  static void OnRingEvent(uint64_t token, bool ended);

  int epfd_ = -1;       // the hidden kernel epoll instance
  int doorbell_ = -1;   // kernel eventfd in it, data kReservedData, EPOLLET
  // {hidden instance, links}, level-triggered, data kOwnData / kLinksData: made by
  // EnableLinks().
  std::atomic<int> sleep_epfd_{-1};
  std::atomic<bool> drains_links_{false};
  int notify_epfd_ = -1;  // uep_epoll_kernel_fd(): {hidden instance, level eventfd, links}
  int level_fd_ = -1;
  std::atomic<int> items_{0};  // own kernel descriptors
  // Allocates an escape id for `data` (mu_ held); 0 if none is left.
  uint64_t NewEscape(uint64_t data) REQUIRES(mu_);

  StdMutex mu_;  // escapes_, next_escape_, notify_epfd_ (after creation)
  std::unordered_map<uint64_t, uint64_t> escapes_ GUARDED_BY(mu_);  // escape id -> the caller's data
  uint64_t next_escape_ GUARDED_BY(mu_) = 1;

  // The readiness ring (ring mode) whose watch `token_` is this instance's hidden instance:
  // replaced only by AttachRing() under ring_mu_; a replaced ring is held until the
  // instance goes (another thread may still read it).
  uint64_t token_ = 0;  // registered for OnRingEvent() from Create() to the destructor
  bool ring_mode_ = false;  // the process's mode is kUring (set at Create())
  std::atomic<platform::ReadinessRing*> ring_{nullptr};
  std::atomic<bool> ring_failed_{false};
  std::atomic<bool> pending_{false};          // the ring reported an event (OnRingEvent)
  std::atomic<bool> links_armed_{false};      // ring_ also watches the links
  std::atomic<uint64_t> links_seen_{0};       // the links' events counted when last asked
  std::atomic<unsigned> foreign_signals_{0};  // signals seen by threads that cannot reset
  StdMutex ring_mu_;
  std::vector<platform::ReadinessRing*> retired_rings_ GUARDED_BY(ring_mu_);
  // The "busy" hint (BeginAsk / EndAsk).
  std::atomic<uint64_t> asks_{0};
  std::atomic<uint64_t> idle_at_{0};
};

// Nesting (see above): `child` (an instance with a kernel side) is watched by its parents:
// its hidden instance joins the links. Unlink when no parent watches it any more and
// before it is freed. Under epmutex or the child's parent's ep->mtx.
int KernelLinksAdd(EventPoll* child, int child_epfd);
void KernelLinksRemove(EventPoll* child);
// The links' kernel descriptor once made (it stays for the process), else -1.
int KernelLinksFd();

// The functions of `bell` and `level` (wait-queue functions: no allocation, no blocking).
int KernelSideBellWake(WaitQueueEntry* wait, unsigned mode, int sync, uint32_t key);
int KernelSideLevelWake(WaitQueueEntry* wait, unsigned mode, int sync, uint32_t key);

}  // namespace uep
