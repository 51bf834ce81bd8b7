// The kernel side of an instance: kernel descriptors inside a uepoll instance, and the
// instance inside other event loops.
//
// Kernel descriptors are watched by a hidden kernel epoll instance of the uepoll instance,
// added with the caller's own mask and data, so the kernel keeps its own semantics for them
// (LT, ET, EPOLLONESHOT, EPOLLEXCLUSIVE, EPOLLWAKEUP, errno, removal at the last close).
// The hidden instance also holds a kernel eventfd, the doorbell (edge-triggered):
//
//   harvest:  Wait -> user-space ready list first (no system call when it has events);
//             the hidden instance is polled with timeout 0 when the list gave nothing, and
//             first of all on every kKernelPollEvery-th harvest (fairness, semantics.md)
//   sleep:    one epoll_pwait2() on the hidden instance, with the caller's mask
//   wake-up:  a user-space event for a sleeper reaches `bell`, an entry on the instance's
//             queue while threads sleep in the kernel; it rings the doorbell once per sleep
//             (`rung`), and the kernel wakes one sleeper, as it would for any other event
//
// The doorbell's data is kReservedData. User data in the reserved span is replaced by an
// escape id (looked up again at harvest), so no caller's data can be taken for the doorbell.
//
// Children's hidden instances are not in the hidden instance itself but in `links`, a third
// kernel epoll that the hidden instance watches (data kLinksData). A child's kernel event
// reaches this instance only by firing this instance's own hooks on the child's poll_wait_
// (DrainLinks), as the child's wake-up would in the kernel: each parent sees each event
// once, through its item's mask and edge, and a poll() of this instance (which drains
// first) sees the hidden instance readable only for its own kernel descriptors.
//
// uep_epoll_kernel_fd() adds `notify`: a kernel epoll instance holding the hidden one
// (readable while a kernel descriptor is ready) and a kernel eventfd that is non-zero while
// the user-space ready list is not empty (`level`, an entry on the instance's queue, raises
// it; a harvest that empties the list lowers it).
//
// Locking: the fields marked (ep->lock) are the instance's wq_.lock; `mu_` guards the
// escape ids and is taken alone. See the top of eventpoll.cc.
#pragma once

#include <sys/epoll.h>
#include <time.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/wait_queue.h"

namespace uep {

class KernelSide {
 public:
  // User data in [kReservedData, kReservedData + kReservedSpan) is escaped.
  static constexpr uint64_t kReservedData = 0x7565706f6c6c0000ULL;  // "uepoll\0\0"
  static constexpr uint64_t kReservedSpan = 1ULL << 16;
  // The data of `links` in the hidden instance (escape ids stay below it).
  static constexpr uint64_t kLinksData = kReservedData + kReservedSpan - 1;
  // Fairness: the kernel side is polled first on a harvest that follows this many
  // harvests served by user space alone.
  static constexpr unsigned kKernelPollEvery = 8;

  // Makes the hidden instance and the doorbell; nullptr with *error = -errno on failure.
  static KernelSide* Create(int* error);
  ~KernelSide();
  KernelSide(const KernelSide&) = delete;
  KernelSide& operator=(const KernelSide&) = delete;

  // epoll_ctl() on the hidden instance: 0 or the kernel's -errno.
  int Ctl(int op, int fd, const epoll_event* event);
  // epoll_pwait2() on the hidden instance. Drops the doorbell's event (*rang = true),
  // restores escaped data. Returns the number of events left in `events`, or -errno.
  // *fired: hooks on a child were fired (the ready list may have grown). *raw (if given):
  // the events the kernel returned, ours included (0 only when its wait timed out).
  int Harvest(epoll_event* events, int maxevents, const timespec* timeout,
              const sigset_t* sigmask, bool* rang, bool* fired, int* raw = nullptr);
  // The hidden instance has an event to report (a poll() with timeout 0). Call
  // DrainLinks() first, or a child's pending events count too.
  [[nodiscard]] bool Readable() const;
  // Kernel descriptors added and not deleted, plus linked children.
  [[nodiscard]] int items() const { return items_.load(std::memory_order_relaxed); }
  // Kernel descriptors alone (closing one without DEL leaves it counted: only costs a poll).
  [[nodiscard]] int own_items() const {
    return items() - children_linked_.load(std::memory_order_relaxed);
  }
  // Fires our hooks on every child whose hidden instance had an event since the last
  // drain (queueing our items on it); sets *fired if any hook was fired. Every harvest and
  // every poll of the instance drains first (one system call while children are linked),
  // so an event is always queued before an item it coalesces with is reported.
  void DrainLinks(bool* fired);

  // Nesting: the hidden instance of a child uepoll instance that has one is watched by
  // `links` (EPOLLIN | EPOLLET) while one of our items watches the child. `key` names the
  // child; `hook` is our item's entry on the child's queue `child_poll_wait`, fired under
  // that queue's lock. Link/Unlink run under our ep->mtx. Returns 0 or -errno.
  int LinkChild(const void* key, int child_epfd, WaitQueueHead* child_poll_wait,
                WaitQueueEntry* hook);
  void UnlinkChild(const void* key, int child_epfd, WaitQueueEntry* hook);
  [[nodiscard]] int epfd() const { return epfd_; }

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
  // Waits go through the kernel side (EventPoll::WaitKernelSide); set once, under ep->lock.
  std::atomic<bool> active{false};

  std::atomic<unsigned> user_only_streak{0};  // harvests user space served alone (racy hint)

  [[nodiscard]] int level_fd() const { return level_fd_; }
  [[nodiscard]] int doorbell_fd() const { return doorbell_; }

 private:
  KernelSide() = default;

  int epfd_ = -1;       // the hidden kernel epoll instance
  int doorbell_ = -1;   // kernel eventfd in it, data kReservedData, EPOLLET
  int links_epfd_ = -1;   // children's hidden instances (EPOLLET, escape ids); made at the
                          // first link, in epfd_ level-triggered with data kLinksData (mu_)
  int notify_epfd_ = -1;  // uep_epoll_kernel_fd(): {hidden instance, level eventfd}
  int level_fd_ = -1;
  std::atomic<int> items_{0};            // own kernel descriptors + linked children
  std::atomic<int> children_linked_{0};  // linked children (mu_ for writes)
  // What an escape id stands for: the caller's data, or a child (its key).
  struct Escape {
    uint64_t data;
    const void* child;
  };
  struct Child {
    uint64_t escape = 0;
    WaitQueueHead* poll_wait = nullptr;   // the child's queue our hooks hang on
    std::vector<WaitQueueEntry*> hooks;  // our items' hooks on it
  };
  // Allocates an escape id (mu_ held); 0 if none is left.
  uint64_t NewEscape(const Escape& escape);

  std::mutex mu_;  // escapes_, next_escape_, children_, links_epfd_
  std::unordered_map<uint64_t, Escape> escapes_;  // escape id -> what it stands for
  uint64_t next_escape_ = 1;
  std::unordered_map<const void*, Child> children_;
};

// The functions of `bell` and `level` (wait-queue functions: no allocation, no blocking).
int KernelSideBellWake(WaitQueueEntry* wait, unsigned mode, int sync, uint32_t key);
int KernelSideLevelWake(WaitQueueEntry* wait, unsigned mode, int sync, uint32_t key);

}  // namespace uep
