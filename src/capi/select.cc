// The poll engine (fs/select.c): poll(2) and ppoll(2) over uepoll and kernel descriptors.
// The entry points (uep_poll ... uep_pselect) are capi/poll.cc.
//
// poll over uepoll descriptors is the kernel's do_poll(): every pass asks each file for its
// mask; the first pass also hangs a hook on each wait queue the file names (the poll
// table's queue procedure, __pollwait), whose function wakes this thread (pollwake); then
// the caller sleeps until a hook fires, the timeout passes or a signal arrives, and scans
// again. Kernel descriptors in the same set are asked with one poll(2) of timeout 0 per
// pass, and the sleep becomes a ppoll(2) on them plus the thread's doorbell eventfd, which
// the hooks ring instead of the futex: whichever kind becomes ready ends the sleep.
//
// A set without uepoll descriptors is handed to the kernel as it is, and so is every
// select: uepoll descriptors (>= uep_fd_base()) cannot be put in an fd_set.
#include <poll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <new>
#include <vector>

#include "capi/capi.h"
#include "capi/select.h"
#include "core/eventpoll.h"
#include "core/poll_table.h"
#include "core/reentry.h"
#include "core/wait_queue.h"
#include "core/waiter.h"
#include "files/kernel_convert.h"
#include "platform/clock.h"
#include "platform/fault.h"
#include "platform/kernel_fd.h"
#include "uepoll/uepoll.h"

using uep::capi::AccessOk;
using uep::capi::Table;

namespace uep {
namespace {

// poll_table_entry: one hook of this call on one wait queue.
struct PollHook {
  WaitQueueEntry wait;
  WaitQueueHead* wq_head = nullptr;
  uint32_t key = 0;  // what the caller asked of that descriptor, plus EPOLLERR | EPOLLHUP
  Waiter* waiter = nullptr;
};

// poll_table_page: hooks never move once queued, so they live in fixed chunks.
struct PollHookChunk {
  static constexpr int kSize = 32;
  PollHookChunk* next = nullptr;
  int used = 0;
  PollHook hooks[kSize];
};

// pollwake(): a wake-up whose key says nothing the caller asked for is ignored.
int PollWake(WaitQueueEntry* wait, unsigned /*mode*/, int /*sync*/, uint32_t key) {
  auto* hook = static_cast<PollHook*>(wait->private_data);
  if (key != 0 && (key & hook->key) == 0) return 0;
  WaiterWake(hook->waiter);
  return 1;
}

// poll_wqueues: the table handed to the files, the hooks it hung and the files they pin.
struct PollWqueues : PollTable {
  PollWqueues();
  ~PollWqueues();  // poll_freewait(): unhook, then unpin (no lock held)
  PollWqueues(const PollWqueues&) = delete;
  PollWqueues& operator=(const PollWqueues&) = delete;

  PollHook* NewHook();

  Waiter waiter;
  int error = 0;  // -ENOMEM when a hook could not be allocated
  PollHookChunk inline_chunk;
  PollHookChunk* last = &inline_chunk;
  std::vector<File*> pinned;  // files with hooks on their queues (get_file in __pollwait)
};

// __pollwait().
void PollQueueProc(File* /*file*/, WaitQueueHead* wq_head, PollTable* pt) {
  auto* table = static_cast<PollWqueues*>(pt);
  PollHook* hook = table->NewHook();
  if (hook == nullptr) {
    table->error = -ENOMEM;
    return;
  }
  hook->wait.func = PollWake;
  hook->wait.private_data = hook;
  hook->wq_head = wq_head;
  hook->key = pt->key;
  hook->waiter = &table->waiter;
  AddWaitQueue(wq_head, &hook->wait);
}

PollWqueues::PollWqueues() { qproc = PollQueueProc; }

PollWqueues::~PollWqueues() {
  for (PollHookChunk* chunk = &inline_chunk; chunk != nullptr; chunk = chunk->next) {
    for (int i = 0; i < chunk->used; ++i) RemoveWaitQueue(chunk->hooks[i].wq_head, &chunk->hooks[i].wait);
  }
  for (PollHookChunk* chunk = inline_chunk.next; chunk != nullptr;) {
    PollHookChunk* next = chunk->next;
    delete chunk;
    chunk = next;
  }
  for (File* file : pinned) FilePut(file);
}

PollHook* PollWqueues::NewHook() {
  if (last->used == PollHookChunk::kSize) {
    auto* chunk = TryNew<PollHookChunk>();
    if (chunk == nullptr) return nullptr;
    last->next = chunk;
    last = chunk;
  }
  return &last->hooks[last->used++];
}

// do_pollfd() for a uepoll descriptor.
uint32_t PollUepollFd(const pollfd& pfd, PollWqueues* table) {
  const uint32_t filter = static_cast<uint16_t>(pfd.events) | POLLERR | POLLHUP;
  table->key = filter;
  if (table->qproc == nullptr) {
    RcuReadGuard guard;
    File* file = Table().Lookup(pfd.fd);
    if (file == nullptr) return POLLNVAL;
    if (!file->IsEventPoll()) return file->Poll(table) & filter;
    capi::FilePin pin(file, &guard);  // an instance's poll takes ep->mtx
    if (!pin) return POLLNVAL;
    return file->Poll(table) & filter;
  }
  // The first pass hooks onto the file's queues: pin the file until the hooks are gone.
  File* file = nullptr;
  {
    RcuReadGuard guard;
    file = Table().Lookup(pfd.fd);
    if (file == nullptr || !FileTryGet(file)) return POLLNVAL;
  }
  try {
    if (AllocFailureInjected()) throw std::bad_alloc();
    table->pinned.push_back(file);
  } catch (const std::bad_alloc&) {
    FilePut(file);
    table->error = -ENOMEM;
    table->qproc = nullptr;
    return PollUepollFd(pfd, table);
  }
  return file->Poll(table) & filter;
}

// do_sys_poll()'s "nfds > RLIMIT_NOFILE: EINVAL", without a system call per poll: the limit
// is read once and again only when a call asks for more entries than the last reading
// allowed. (Deliberate difference: a limit lowered after that reading is not noticed until
// a call exceeds the old one; docs/semantics.md.)
std::atomic<rlim_t> nofile_seen{0};

int CheckNfds(nfds_t nfds) {
  if (nfds <= nofile_seen.load(std::memory_order_relaxed)) return 0;
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return -errno;
  nofile_seen.store(lim.rlim_cur, std::memory_order_relaxed);
  return nfds > lim.rlim_cur ? -EINVAL : 0;
}

// The sleep of a set that holds kernel descriptors: ppoll() on them and on the doorbell.
// Returns 0 (something may be ready: scan again), -ETIMEDOUT or -EINTR.
int SleepWithKernelFds(Waiter* waiter, std::vector<pollfd>* sleep_set, platform::Timeout* timeout,
                       const sigset_t* sigmask) {
  pollfd& bell = sleep_set->back();
  if (!WaiterPrepareSleep(waiter)) return 0;  // from here on, wakers ring the doorbell
  for (;;) {
    if (WaiterWoken(waiter)) return 0;
    timespec left{};
    const timespec* tmo = nullptr;
    if (const timespec& deadline = timeout->Deadline(); !platform::IsNever(deadline)) {
      left = platform::Remaining(deadline);
      tmo = &left;
    }
    const long r = syscall(SYS_ppoll, sleep_set->data(), sleep_set->size(), tmo, sigmask, kSigsetSize);
    if (r > 0) {
      if (bell.revents != 0) {
        uint64_t drained = 0;
        [[maybe_unused]] ssize_t n = kernel::Read(bell.fd, &drained, sizeof drained);
        // A stale ring (a late wake of an earlier sleep) wakes nobody: sleep again.
        if (r == 1 && !WaiterWoken(waiter)) continue;
      }
      return 0;
    }
    if (WaiterWoken(waiter)) return 0;
    if (r == 0) return -ETIMEDOUT;
    if (errno == EINTR) return -EINTR;
    return -errno;
  }
}

// The uepoll instances in the set: one may hold kernel descriptors (now or by the
// time the sleep begins), whose readiness only the kernel can wake us for, so hooks must
// ring the doorbell rather than the futex.
size_t CountEventPolls(const pollfd* fds, nfds_t nfds) {
  RcuReadGuard guard;
  size_t count = 0;
  for (nfds_t i = 0; i < nfds; ++i) {
    if (fds[i].fd < 0 || !Table().Owns(fds[i].fd)) continue;
    File* file = Table().Lookup(fds[i].fd);
    count += file != nullptr && file->IsEventPoll();
  }
  return count;
}

// do_sys_poll() and do_poll() over a set that holds at least one uepoll descriptor.
int DoPoll(pollfd* fds, nfds_t nfds, platform::Timeout timeout, const sigset_t* sigmask) {
  ApiScope api;
  // A handler that interrupted a uepoll call on its thread: the files' queue locks may be
  // that call's, and poll hangs hooks on them (docs/semantics.md: signal handlers).
  if (api.reentrant()) return -EINTR;
  PollWqueues table;
  // A pipe or socket pair of the set may become the kernel's (before fork): then the split
  // below is stale, and the call starts again (-kEConverted).
  const uint64_t generation = ConversionGeneration();
  // Kernel descriptors: asked together, in the set's order.
  std::vector<pollfd> kfds;
  std::vector<pollfd> sleep_set;  // kfds, hidden kernel instances and the doorbell
  size_t nkernel = 0;
  for (nfds_t i = 0; i < nfds; ++i) nkernel += fds[i].fd >= 0 && !Table().Owns(fds[i].fd);
  const size_t ninstances = CountEventPolls(fds, nfds);
  if (nkernel + ninstances != 0) {
    // All the room up front (poll_list in do_sys_poll()): ENOMEM before anything happened.
    try {
      if (AllocFailureInjected()) throw std::bad_alloc();
      kfds.reserve(nkernel);
      sleep_set.reserve(nkernel + ninstances + 1);
    } catch (const std::bad_alloc&) {
      return -ENOMEM;
    }
  }
  for (nfds_t i = 0; i < nfds; ++i) {
    if (fds[i].fd >= 0 && !Table().Owns(fds[i].fd)) kfds.push_back({fds[i].fd, fds[i].events, 0});
  }
  bool timed_out = false;
  if (timeout.nonblocking()) {
    table.qproc = nullptr;
    timed_out = true;
  } else if (!kfds.empty() || sigmask != nullptr || ninstances != 0) {
    // Hooks must ring the doorbell: set it before the first one is hung.
    table.waiter.doorbell = WaiterDoorbell();
    if (table.waiter.doorbell < 0) return -ENOMEM;
  }
  bool interrupted = false;
  int count = 0;
  for (;;) {
    count = 0;
    if (!kfds.empty()) {
      for (pollfd& k : kfds) k.revents = 0;
      const timespec zero{0, 0};
      if (syscall(SYS_ppoll, kfds.data(), kfds.size(), &zero, nullptr, kSigsetSize) < 0) {
        return errno == EINTR ? -EINTR : -errno;
      }
    }
    size_t k = 0;
    for (nfds_t i = 0; i < nfds; ++i) {
      pollfd& pfd = fds[i];
      uint32_t mask = 0;
      if (pfd.fd < 0) {
        mask = 0;
      } else if (Table().Owns(pfd.fd)) {
        mask = PollUepollFd(pfd, &table);
      } else if (k < kfds.size()) {
        mask = static_cast<uint16_t>(kfds[k++].revents);
      }
      pfd.revents = static_cast<short>(mask);
      if (mask != 0) {
        // Found one: hang no more hooks, they would be taken down at once.
        ++count;
        table.qproc = nullptr;
      }
    }
    table.qproc = nullptr;  // every hook is hung after the first pass
    if (ConversionGeneration() != generation) return -kEConverted;
    if (count == 0) {
      count = table.error;
      if (interrupted) count = -EINTR;
    }
    if (count == 0 && timed_out && sigmask != nullptr && !interrupted) {
      // The kernel's last pass still sees a signal the mask lets in (signal_pending()),
      // even with a zero timeout: let the mask in for an instant.
      const timespec zero{0, 0};
      if (syscall(SYS_ppoll, nullptr, 0, &zero, sigmask, kSigsetSize) < 0 && errno == EINTR) {
        count = -EINTR;
      }
    }
    if (count != 0 || timed_out) break;

    int r = 0;
    // Instances holding kernel descriptors are slept on through their hidden kernel
    // instance (the pinned files outlive the sleep); the set can change between sleeps.
    // No allocation: the room was reserved above (one entry per instance named).
    sleep_set = kfds;
    for (File* file : table.pinned) {
      if (!file->IsEventPoll()) continue;
      const int hidden = static_cast<EventPoll*>(file)->KernelSleepFd();
      if (hidden >= 0 && sleep_set.size() + 1 < sleep_set.capacity()) {
        sleep_set.push_back({hidden, POLLIN, 0});
      }
    }
    // With a doorbell the hooks ring it instead of posting the futex: sleep on it (with a
    // mask WaiterSleep does), even when no instance holds kernel descriptors (yet).
    if (sleep_set.empty() && (table.waiter.doorbell < 0 || sigmask != nullptr)) {
      r = WaiterSleep(&table.waiter, timeout.Deadline(), SleepKind::kInterruptible, sigmask, 0);
    } else {
      sleep_set.push_back({table.waiter.doorbell, POLLIN, 0});
      r = SleepWithKernelFds(&table.waiter, &sleep_set, &timeout, sigmask);
    }
    if (r == -ETIMEDOUT) {
      timed_out = true;
    } else if (r == -EINTR) {
      interrupted = true;  // one more pass: events found now still win over the signal
    } else if (r < 0) {
      return r;
    }
    // Re-arm (poll_schedule_timeout's triggered = 0) before the next pass reads the files:
    // a hook that fires from here on makes the next sleep return at once.
    table.waiter.woken.exchange(kWaiterArmed, std::memory_order_seq_cst);
  }
  return count;
}

bool HasUepollFd(const pollfd* fds, nfds_t nfds) {
  for (nfds_t i = 0; i < nfds; ++i) {
    if (fds[i].fd >= 0 && Table().Owns(fds[i].fd)) return true;
  }
  return false;
}

}  // namespace

int Poll(pollfd* fds, nfds_t nfds, platform::Timeout timeout, const timespec* kernel_timeout,
         const sigset_t* sigmask) {
  // A set the kernel cannot read goes to it too: EINVAL for too many, else EFAULT.
  const bool readable = fds != nullptr && nfds <= SIZE_MAX / sizeof(pollfd) &&
                        AccessOk(fds, nfds * sizeof(pollfd));
  if (!readable || !HasUepollFd(fds, nfds)) {
    // Only the kernel's descriptors: the kernel's poll, exactly. `kernel_timeout` is a
    // copy, as glibc passes one, so the caller's timespec is never updated.
    const long r = syscall(SYS_ppoll, fds, nfds, kernel_timeout, sigmask, kSigsetSize);
    return r < 0 ? -errno : static_cast<int>(r);
  }
  // nfds is at least 1 here, and the set fits in memory: the one check left is the limit.
  if (const int r = CheckNfds(nfds); r < 0) return r;
  const int r = DoPoll(fds, nfds, timeout, sigmask);
  if (r == -kEConverted) [[unlikely]] {
    // Again once the descriptors are the kernel's: the timeout counts from the new start
    // (it can only get longer, as a late start of its count does).
    WaitForConversions();
    return Poll(fds, nfds, timeout, kernel_timeout, sigmask);
  }
  return r;
}

}  // namespace uep

