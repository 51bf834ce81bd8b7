#include "files/pipe.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/block_pool.h"
#include "core/wait_event.h"
#include "files/fasync.h"
#include "files/iov_cursor.h"
#include "platform/capability.h"
#include "platform/fault.h"
#include "platform/signal.h"
#include "platform/sysctl.h"

namespace uep {
namespace {

// The sysctls fs/pipe.c consults, read once (the kernel reads them live).
struct PipeLimits {
  unsigned long max_size = 1048576;                         // fs.pipe-max-size
  unsigned long user_pages_soft = kPipeDefBuffers * 1024UL;  // fs.pipe-user-pages-soft
  unsigned long user_pages_hard = 0;                        // fs.pipe-user-pages-hard
};

const PipeLimits& Limits() {
  static const PipeLimits limits = [] {
    PipeLimits l;
    const auto read = [](const char* path, unsigned long fallback) {
      return static_cast<unsigned long>(platform::ReadSysctl(path, static_cast<long>(fallback)));
    };
    l.max_size = read("/proc/sys/fs/pipe-max-size", l.max_size);
    l.user_pages_soft = read("/proc/sys/fs/pipe-user-pages-soft", l.user_pages_soft);
    l.user_pages_hard = read("/proc/sys/fs/pipe-user-pages-hard", l.user_pages_hard);
    return l;
  }();
  return limits;
}

// The user's pipe buffer budget (user->pipe_bufs). The kernel counts every pipe of the
// user; here it is the uepoll pipes of this process.
std::atomic<unsigned long> user_pipe_bufs{0};

unsigned long AccountPipeBuffers(unsigned long old_bufs, unsigned long new_bufs) {
  return user_pipe_bufs.fetch_add(new_bufs - old_bufs, std::memory_order_relaxed) + new_bufs -
         old_bufs;
}
bool TooManyPipeBuffersSoft(unsigned long user_bufs) {
  return Limits().user_pages_soft != 0 && user_bufs > Limits().user_pages_soft;
}
bool TooManyPipeBuffersHard(unsigned long user_bufs) {
  return Limits().user_pages_hard != 0 && user_bufs > Limits().user_pages_hard;
}
bool PipeIsUnprivilegedUser() {
  return !platform::HasEffectiveCapability(CAP_SYS_RESOURCE) &&
         !platform::HasEffectiveCapability(CAP_SYS_ADMIN);
}

// round_pipe_size(): the kernel passes fcntl's argument as an unsigned int.
unsigned RoundPipeSize(unsigned int size) {
  if (size > (1U << 31)) return 0;
  if (size < kPipePageSize) return kPipePageSize;
  unsigned rounded = 1;
  while (rounded < size) rounded <<= 1;
  return rounded;
}

// Pages come from a fixed pool before malloc: a signal handler's write (the self-pipe
// trick) then never calls malloc, which the code it interrupted may be inside.
BlockPool<256, kPipePageSize> page_pool;

char* AllocPage() {
  if (AllocFailureInjected()) return nullptr;  // one allocation site, however it is served
  void* page = page_pool.Take();
  return static_cast<char*>(page != nullptr ? page : std::malloc(kPipePageSize));
}

void FreePage(char* page) {
  if (page_pool.Owns(page)) {
    page_pool.Return(page);
  } else {
    std::free(page);
  }
}

// wake_up_interruptible_sync_poll() and friends: the queue's lock around WakeUpLocked.
void WakeQueue(WaitQueueHead* wq, int nr_exclusive, uint32_t key, int sync) {
  std::lock_guard guard(wq->lock);
  if (wq->Active()) WakeUpLocked(wq, nr_exclusive, key, sync);
}

}  // namespace

// ---- PipeInode ----------------------------------------------------------------------

// alloc_pipe_info().
// No analysis: the new pipe is not shared yet; its mutex guards nothing here.
PipeInode* PipeInode::Create() NO_THREAD_SAFETY_ANALYSIS {
  const PipeLimits& limits = Limits();
  unsigned long pipe_bufs = kPipeDefBuffers;
  if (pipe_bufs * kPipePageSize > limits.max_size &&
      !platform::HasEffectiveCapability(CAP_SYS_RESOURCE)) {
    pipe_bufs = limits.max_size / kPipePageSize;
  }
  unsigned long user_bufs = AccountPipeBuffers(0, pipe_bufs);
  if (TooManyPipeBuffersSoft(user_bufs) && PipeIsUnprivilegedUser()) {
    user_bufs = AccountPipeBuffers(pipe_bufs, kPipeMinDefBuffers);
    pipe_bufs = kPipeMinDefBuffers;
  }
  if (TooManyPipeBuffersHard(user_bufs) && PipeIsUnprivilegedUser()) {
    AccountPipeBuffers(pipe_bufs, 0);
    return nullptr;
  }
  auto* pipe = AllocFailureInjected() ? nullptr : new (std::nothrow) PipeInode();
  if (pipe != nullptr) pipe->bufs.reset(TryNewArray<PipeBuffer>(pipe_bufs));
  if (pipe == nullptr || pipe->bufs == nullptr) {
    delete pipe;
    AccountPipeBuffers(pipe_bufs, 0);
    return nullptr;
  }
  pipe->ring_size = static_cast<unsigned>(pipe_bufs);
  pipe->max_usage.store(static_cast<unsigned>(pipe_bufs), std::memory_order_relaxed);
  pipe->nr_accounted = static_cast<unsigned>(pipe_bufs);
  return pipe;
}

PipeInode::~PipeInode() {
  AccountPipeBuffers(nr_accounted, 0);
  const unsigned h = head.load(std::memory_order_relaxed);
  for (unsigned t = tail.load(std::memory_order_relaxed); t != h; ++t) {
    FreePage(bufs[t & (ring_size - 1)].page);
  }
  if (tmp_page != nullptr) FreePage(tmp_page);
}

void PipeInode::Put() {
  if (files_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

bool PipeInode::Readable() const {
  return !Empty(head.load(std::memory_order_relaxed), tail.load(std::memory_order_relaxed)) ||
         writers.load(std::memory_order_relaxed) == 0 || converted.load(std::memory_order_relaxed);
}

bool PipeInode::Writable() const {
  return !Full(head.load(std::memory_order_relaxed), tail.load(std::memory_order_relaxed),
               max_usage.load(std::memory_order_relaxed)) ||
         readers.load(std::memory_order_relaxed) == 0 || converted.load(std::memory_order_relaxed);
}

bool PipeInode::Freeze(PipeSnapshot* out) {
  {
    std::lock_guard guard(mutex);
    if (converted.load(std::memory_order_relaxed)) return false;
    const unsigned h = head.load(std::memory_order_relaxed);
    for (unsigned t = tail.load(std::memory_order_relaxed); t != h; ++t) {
      const PipeBuffer& buf = bufs[t & (ring_size - 1)];
      out->chunks.push_back({std::string(buf.page + buf.offset, buf.len),
                             (buf.flags & kPipeBufPacket) != 0});
    }
    out->slots = max_usage.load(std::memory_order_relaxed);
    out->reader_end = reader_end;
    out->writer_end = writer_end;
    converted.store(true, std::memory_order_relaxed);
  }
  // Blocked readers and writers wake, see `converted` and retry on the kernel's pipe.
  WakeQueue(&rd_wait, 0, 0, 0);
  WakeQueue(&wr_wait, 0, 0, 0);
  return true;
}

// ---- PipeFile -----------------------------------------------------------------------

PipeFile::PipeFile(PipeInode* pipe, uint32_t flags)
    : File(flags), pipe_(pipe), is_reader_((flags & O_ACCMODE) == O_RDONLY) {
  (is_reader_ ? pipe->reader_end : pipe->writer_end) = this;
}

// pipe_poll(). Hooks first, then the racy tests: a change after the hook wakes the hook.
uint32_t PipeFile::Poll(PollTable* pt) {
  // Epoll's historical semantics: once polled, every write is a wake-up (see PipeInode).
  if (!pipe_->poll_usage.load(std::memory_order_relaxed)) {
    pipe_->poll_usage.store(true, std::memory_order_relaxed);
  }
  PollWait(this, is_reader_ ? &pipe_->rd_wait : &pipe_->wr_wait, pt);
  const unsigned head = pipe_->head.load(std::memory_order_acquire);
  const unsigned tail = pipe_->tail.load(std::memory_order_acquire);
  uint32_t mask = 0;
  if (is_reader_) {
    if (!PipeInode::Empty(head, tail)) mask |= EPOLLIN | EPOLLRDNORM;
    if (pipe_->writers.load(std::memory_order_relaxed) == 0) mask |= EPOLLHUP;
  } else {
    if (!PipeInode::Full(head, tail, pipe_->max_usage.load(std::memory_order_relaxed))) {
      mask |= EPOLLOUT | EPOLLWRNORM;
    }
    // Linux reports EPOLLERR on a pipe's write end once no reader is left.
    if (pipe_->readers.load(std::memory_order_relaxed) == 0) mask |= EPOLLERR;
  }
  return mask;
}

// anon_pipe_read() of 6.18.
ssize_t PipeFile::Read(const iovec* iov, int iovcnt, int io_flags, SleepPermit* permit) {
  if (!is_reader_) return -EBADF;
  IovCursor to(iov, iovcnt);
  size_t total_len = to.Count();
  if (total_len == 0) return 0;  // a null read succeeds

  PipeInode* pipe = pipe_;
  ssize_t ret = 0;
  bool wake_writer = false;
  bool wake_next_reader = false;
  std::unique_lock lock(pipe->mutex);
  for (;;) {
    if (pipe->converted.load(std::memory_order_relaxed)) {  // retried on the kernel's pipe
      if (ret == 0) ret = -kEConverted;
      break;
    }
    const unsigned head = pipe->head.load(std::memory_order_relaxed);
    unsigned tail = pipe->tail.load(std::memory_order_relaxed);
    if (!PipeInode::Empty(head, tail)) {
      PipeBuffer* buf = &pipe->bufs[tail & (pipe->ring_size - 1)];
      size_t chars = std::min<size_t>(buf->len, total_len);
      const size_t written = to.CopyOut(buf->page + buf->offset, chars);
      if (written < chars) {
        if (ret == 0) ret = -EFAULT;
        break;
      }
      ret += static_cast<ssize_t>(chars);
      buf->offset += static_cast<uint32_t>(chars);
      buf->len -= static_cast<uint32_t>(chars);
      // A packet is read whole or its rest is dropped; one packet per read.
      if ((buf->flags & kPipeBufPacket) != 0) {
        total_len = chars;
        buf->len = 0;
      }
      if (buf->len == 0) {
        // Writers only care when a slot of a full pipe frees up.
        wake_writer |= PipeInode::Full(head, tail, pipe->max_usage.load(std::memory_order_relaxed));
        if (pipe->tmp_page == nullptr) {
          pipe->tmp_page = buf->page;
        } else {
          FreePage(buf->page);
        }
        buf->page = nullptr;
        pipe->tail.store(++tail, std::memory_order_release);
      }
      total_len -= chars;
      if (total_len == 0) break;  // the common path: the read is satisfied
      if (!PipeInode::Empty(head, tail)) continue;
    }
    if (pipe->writers.load(std::memory_order_relaxed) == 0) break;  // EOF
    if (ret != 0) break;
    if ((io_flags & kIoNonblock) != 0) {
      ret = -EAGAIN;
      break;
    }
    KillFasync(pipe->writer_end, POLL_OUT);
    lock.unlock();
    FlushSigio();
    // Nothing read yet: an interrupted sleep restarts the call (ERESTARTSYS).
    const int r = WaitEvent(&pipe->rd_wait, [pipe] { return pipe->Readable(); },
                            {.permit = permit, .exclusive = true});
    // The conversion released the file before the sleep could pin it: retry there too.
    if (r == -EBADF && pipe->converted.load(std::memory_order_relaxed)) return -kEConverted;
    if (r < 0) return r;
    wake_writer = false;
    wake_next_reader = true;
    lock.lock();
  }
  if (PipeInode::Empty(pipe->head.load(std::memory_order_relaxed),
                       pipe->tail.load(std::memory_order_relaxed))) {
    wake_next_reader = false;
  }
  KillFasync(pipe->writer_end, POLL_OUT);
  lock.unlock();

  if (wake_writer) WakeQueue(&pipe->wr_wait, 1, EPOLLOUT | EPOLLWRNORM, 1);
  if (wake_next_reader) WakeQueue(&pipe->rd_wait, 1, EPOLLIN | EPOLLRDNORM, 1);
  FlushSigio();
  return ret;
}

// anon_pipe_write() of 6.18.
ssize_t PipeFile::Write(const iovec* iov, int iovcnt, int io_flags, SleepPermit* permit) {
  if (is_reader_) return -EBADF;
  IovCursor from(iov, iovcnt);
  const size_t total_len = from.Count();
  if (total_len == 0) return 0;  // a null write succeeds, even without readers

  PipeInode* pipe = pipe_;
  ssize_t ret = 0;
  bool was_empty = false;
  bool wake_next_writer = false;
  bool sigpipe = false;
  bool interrupted = false;  // a signal handler ran while we slept (signal_pending())
  const bool packet = (f_flags.load(std::memory_order_relaxed) & O_DIRECT) != 0;
  std::unique_lock lock(pipe->mutex);

  if (pipe->converted.load(std::memory_order_relaxed)) {
    ret = -kEConverted;  // retried on the kernel's pipe
  } else if (pipe->readers.load(std::memory_order_relaxed) == 0) {
    sigpipe = true;
    ret = -EPIPE;
  } else {
    // If the pipe is not empty, try to merge the first total_len % PAGE_SIZE bytes into
    // the last buffer. That merges small writes and page-aligns the rest of large ones.
    const unsigned head = pipe->head.load(std::memory_order_relaxed);
    was_empty = PipeInode::Empty(head, pipe->tail.load(std::memory_order_relaxed));
    const size_t chars = total_len & (kPipePageSize - 1);
    bool done = false;
    if (chars != 0 && !was_empty) {
      PipeBuffer* buf = &pipe->bufs[(head - 1) & (pipe->ring_size - 1)];
      const size_t offset = buf->offset + buf->len;
      if ((buf->flags & kPipeBufCanMerge) != 0 && offset + chars <= kPipePageSize) {
        if (from.CopyIn(buf->page + offset, chars) < chars) {
          ret = -EFAULT;
          done = true;
        } else {
          buf->len += static_cast<uint32_t>(chars);
          ret = static_cast<ssize_t>(chars);
          done = from.Count() == 0;
        }
      }
    }
    while (!done) {
      if (pipe->converted.load(std::memory_order_relaxed)) {
        if (ret == 0) ret = -kEConverted;
        break;
      }
      if (pipe->readers.load(std::memory_order_relaxed) == 0) {
        sigpipe = true;
        if (ret == 0) ret = -EPIPE;
        break;
      }
      const unsigned h = pipe->head.load(std::memory_order_relaxed);
      if (!PipeInode::Full(h, pipe->tail.load(std::memory_order_relaxed),
                           pipe->max_usage.load(std::memory_order_relaxed))) {
        char* page = pipe->tmp_page;
        if (page == nullptr) page = AllocPage();
        if (page == nullptr) {
          if (ret == 0) ret = -ENOMEM;
          break;
        }
        pipe->tmp_page = nullptr;
        const size_t copied = from.CopyIn(page, kPipePageSize);
        if (copied < kPipePageSize && from.Count() != 0) {
          pipe->tmp_page = page;  // the slot is never published: no empty buffer
          if (ret == 0) ret = -EFAULT;
          break;
        }
        PipeBuffer* buf = &pipe->bufs[h & (pipe->ring_size - 1)];
        buf->page = page;
        buf->offset = 0;
        buf->len = static_cast<uint32_t>(copied);
        buf->flags = packet ? kPipeBufPacket : kPipeBufCanMerge;
        pipe->head.store(h + 1, std::memory_order_release);
        ret += static_cast<ssize_t>(copied);
        if (from.Count() == 0) break;
        continue;
      }
      // Full: wait for a slot.
      if ((io_flags & kIoNonblock) != 0) {
        if (ret == 0) ret = -EAGAIN;
        break;
      }
      if (interrupted) {
        if (ret == 0) ret = -EINTR;
        break;
      }
      KillFasync(pipe->reader_end, POLL_IN);
      lock.unlock();
      if (was_empty) WakeQueue(&pipe->rd_wait, 1, EPOLLIN | EPOLLRDNORM, 1);
      FlushSigio();
      // With nothing written yet an interrupted sleep restarts the call (SA_RESTART); with
      // a partial write any handler ends it with the count, as signal_pending() does.
      const int r =
          WaitEvent(&pipe->wr_wait, [pipe] { return pipe->Writable(); },
                    {.permit = permit,
                     .kind = ret == 0 ? SleepKind::kRestartable : SleepKind::kInterruptible,
                     .exclusive = true});
      if (r == -EBADF) {
        if (ret == 0) ret = pipe->converted.load(std::memory_order_relaxed) ? -kEConverted : -EBADF;
        lock.lock();
        break;
      }
      if (r == -EINTR) interrupted = true;
      lock.lock();
      was_empty = PipeInode::Empty(pipe->head.load(std::memory_order_relaxed),
                                   pipe->tail.load(std::memory_order_relaxed));
      wake_next_writer = true;
    }
  }
  if (PipeInode::Full(pipe->head.load(std::memory_order_relaxed),
                      pipe->tail.load(std::memory_order_relaxed),
                      pipe->max_usage.load(std::memory_order_relaxed))) {
    wake_next_writer = false;
  }
  KillFasync(pipe->reader_end, POLL_IN);
  lock.unlock();

  // "Epoll nonsensically wants a wakeup whether the pipe was already empty or not."
  if (was_empty || pipe->poll_usage.load(std::memory_order_relaxed)) {
    WakeQueue(&pipe->rd_wait, 1, EPOLLIN | EPOLLRDNORM, 1);
  }
  if (wake_next_writer) WakeQueue(&pipe->wr_wait, 1, EPOLLOUT | EPOLLWRNORM, 1);
  FlushSigio();
  if (sigpipe) {
    // The handler may use uepoll (even close this pipe): leave the read section first.
    permit->Finish();
    platform::RaiseSigpipe();
  }
  return ret;
}

int PipeFile::Ioctl(unsigned long request, void* arg) {
  if (request != FIONREAD) return -ENOTTY;
  unsigned count = 0;
  {
    std::lock_guard guard(pipe_->mutex);
    const unsigned head = pipe_->head.load(std::memory_order_relaxed);
    for (unsigned t = pipe_->tail.load(std::memory_order_relaxed); t != head; ++t) {
      count += pipe_->bufs[t & (pipe_->ring_size - 1)].len;
    }
  }
  if (arg == nullptr) return -EFAULT;
  const int value = static_cast<int>(count);
  std::memcpy(arg, &value, sizeof value);
  return 0;
}

int PipeFile::Fcntl(int cmd, unsigned long arg) {
  if (cmd != F_GETPIPE_SZ && cmd != F_SETPIPE_SZ) return File::Fcntl(cmd, arg);
  int ret = 0;
  {
    std::lock_guard guard(pipe_->mutex);
    if (cmd == F_GETPIPE_SZ) {
      return static_cast<int>(pipe_->max_usage.load(std::memory_order_relaxed) * kPipePageSize);
    }
    ret = SetSize(arg);
  }
  // pipe_resize_ring(): "This might have made more room for writers".
  if (ret > 0) WakeQueue(&pipe_->wr_wait, 1, 0, 0);
  return ret;
}

// pipe_set_size() and pipe_resize_ring(), under the pipe's mutex.
int PipeFile::SetSize(unsigned long arg) {
  PipeInode* pipe = pipe_;
  pipe->mutex.AssertHeld();  // pipe_->mutex, by the caller
  const unsigned size = RoundPipeSize(static_cast<unsigned int>(arg));
  const unsigned nr_slots = size / kPipePageSize;
  if (nr_slots == 0) return -EINVAL;
  const unsigned max_usage = pipe->max_usage.load(std::memory_order_relaxed);
  // Growing beyond fs.pipe-max-size needs CAP_SYS_RESOURCE; shrinking is always allowed.
  if (nr_slots > max_usage && size > Limits().max_size &&
      !platform::HasEffectiveCapability(CAP_SYS_RESOURCE)) {
    return -EPERM;
  }
  const unsigned long user_bufs = AccountPipeBuffers(pipe->nr_accounted, nr_slots);
  auto revert = [&](int err) REQUIRES(pipe->mutex) {
    AccountPipeBuffers(nr_slots, pipe->nr_accounted);
    return err;
  };
  if (nr_slots > max_usage &&
      (TooManyPipeBuffersHard(user_bufs) || TooManyPipeBuffersSoft(user_bufs)) &&
      PipeIsUnprivilegedUser()) {
    return revert(-EPERM);
  }
  const unsigned head = pipe->head.load(std::memory_order_relaxed);
  const unsigned tail = pipe->tail.load(std::memory_order_relaxed);
  const unsigned n = head - tail;
  if (nr_slots < n) return revert(-EBUSY);
  std::unique_ptr<PipeBuffer[]> bufs(TryNewArray<PipeBuffer>(nr_slots));
  if (bufs == nullptr) return revert(-ENOMEM);
  // The new ring starts at zero.
  for (unsigned i = 0; i < n; ++i) bufs[i] = pipe->bufs[(tail + i) & (pipe->ring_size - 1)];
  pipe->bufs = std::move(bufs);
  pipe->ring_size = nr_slots;
  pipe->tail.store(0, std::memory_order_release);
  pipe->head.store(n, std::memory_order_release);
  pipe->max_usage.store(nr_slots, std::memory_order_release);
  pipe->nr_accounted = nr_slots;
  return static_cast<int>(nr_slots * kPipePageSize);
}

// pipe_release(): the last reference to this end is gone.
void PipeFile::Release() {
  PipeInode* pipe = pipe_;
  bool wake = false;
  {
    std::lock_guard guard(pipe->mutex);
    if (is_reader_) {
      pipe->readers.fetch_sub(1, std::memory_order_relaxed);
    } else {
      pipe->writers.fetch_sub(1, std::memory_order_relaxed);
    }
    // The last reader or writer, but not the other side: wake everyone on both queues
    // (blocked I/O returns EOF or EPIPE; watchers see EPOLLHUP or EPOLLERR).
    wake = (pipe->readers.load(std::memory_order_relaxed) == 0) !=
           (pipe->writers.load(std::memory_order_relaxed) == 0);
    // __fput() takes this end off the fasync list first; then the other end hears.
    (is_reader_ ? pipe->reader_end : pipe->writer_end) = nullptr;
    if (wake) {
      KillFasync(pipe->reader_end, POLL_IN);
      KillFasync(pipe->writer_end, POLL_OUT);
    }
  }
  if (wake) {
    WakeQueue(&pipe->rd_wait, 0, 0, 0);
    WakeQueue(&pipe->wr_wait, 0, 0, 0);
  }
  FlushSigio();
  pipe->Put();
}

}  // namespace uep
