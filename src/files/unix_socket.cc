#include "files/unix_socket.h"

#include <fcntl.h>
#include <linux/sockios.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/block_pool.h"
#include "core/wait_event.h"
#include "files/fasync.h"
#include "files/iov_cursor.h"
#include "platform/capability.h"
#include "platform/clock.h"
#include "platform/fault.h"
#include "platform/signal.h"
#include "platform/sysctl.h"

namespace uep {

// One skb: `len` bytes of data after the header. `consumed` counts what stream readers
// took already (UNIXCB(skb).consumed). The owner is charged `truesize` until it is freed.
struct UnixSkb {
  UnixSkb* next = nullptr;
  UnixSocket* owner = nullptr;  // nullptr once the sender is gone
  size_t len = 0;
  size_t consumed = 0;
  int64_t truesize = 0;
  char* data() { return reinterpret_cast<char*>(this + 1); }
};

struct UnixPairCore {
  SpinLock lock;
  std::atomic<int> refs{2};
  std::atomic<bool> converted{false};  // frozen for a kernel pair (written under `lock`)
};

namespace {

constexpr uint8_t kRcvShutdown = 1;   // RCV_SHUTDOWN
constexpr uint8_t kSendShutdown = 2;  // SEND_SHUTDOWN
constexpr uint8_t kShutdownMask = 3;

constexpr uint32_t kReadableKey = EPOLLIN | EPOLLPRI | EPOLLRDNORM | EPOLLRDBAND;
constexpr uint32_t kWritableKey = EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND;

// Memory accounting of the 6.18 kernel on x86-64 with 4 KiB pages (measured with SIOCOUTQ
// against the running kernel): an skb costs its head's kmalloc bucket, which holds the
// cache-aligned head plus struct skb_shared_info, plus struct sk_buff, plus whole pages
// for data kept in fragments.
constexpr int64_t kPageSize = 4096;
constexpr int64_t kSkbStructSize = 256;  // SKB_DATA_ALIGN(sizeof(struct sk_buff))
constexpr int64_t kShinfoSize = 320;     // SKB_DATA_ALIGN(sizeof(struct skb_shared_info))
constexpr int64_t kMaxSkbFrags = 17;     // MAX_SKB_FRAGS
constexpr int64_t kKmallocMaxSize = kPageSize << 10;               // KMALLOC_MAX_SIZE
constexpr int64_t kSkbMaxHead0 = kPageSize - kShinfoSize;          // SKB_MAX_HEAD(0)
constexpr int64_t kSkbMaxAlloc = (kPageSize << 2) - kShinfoSize;   // SKB_MAX_ALLOC
constexpr int64_t kUnixSkbFragsSize = 32768;                       // UNIX_SKB_FRAGS_SZ
constexpr int kSockMinSndbuf = 2 * (2048 + static_cast<int>(kSkbStructSize));  // 4608
constexpr int kSockMinRcvbuf = 2048 + static_cast<int>(kSkbStructSize);        // 2304

int64_t DataAlign(int64_t x) { return (x + 63) & ~int64_t{63}; }
int64_t PageAlign(int64_t x) { return (x + kPageSize - 1) & ~(kPageSize - 1); }

// kmalloc_size_roundup().
int64_t KmallocSize(int64_t n) {
  static constexpr int64_t kBuckets[] = {8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192};
  for (const int64_t b : kBuckets) {
    if (n <= b) return b;
  }
  int64_t size = kPageSize;
  while (size < n) size <<= 1;
  return size;
}

// The truesize of an skb with a `head`-byte linear part and `data_len` bytes in pages;
// -1 when the kernel could not allocate the head (ENOBUFS).
int64_t SkbTruesize(int64_t head, int64_t data_len) {
  const int64_t alloc = KmallocSize(DataAlign(head) + kShinfoSize);
  if (alloc > kKmallocMaxSize) return -1;
  return alloc + kSkbStructSize + PageAlign(data_len);
}

int ReadSysctl(const char* path, int fallback) {
  return static_cast<int>(platform::ReadSysctl(path, fallback));
}

// sysctl_wmem_default / rmem_default: read once (sockets take them when created).
int DefaultSndbuf() {
  static const int v = ReadSysctl("/proc/sys/net/core/wmem_default", 212992);
  return v;
}
int DefaultRcvbuf() {
  static const int v = ReadSysctl("/proc/sys/net/core/rmem_default", 212992);
  return v;
}

// Small messages come from a fixed pool before malloc: a signal handler's send (the
// self-pipe trick) then never calls malloc, which the code it interrupted may be inside.
BlockPool<1024, 256> small_skbs;

UnixSkb* NewSkb(size_t len) {
  if (AllocFailureInjected()) return nullptr;  // one allocation site, however it is served
  void* mem = sizeof(UnixSkb) + len <= decltype(small_skbs)::kBlockSize ? small_skbs.Take() : nullptr;
  if (mem == nullptr) mem = std::malloc(sizeof(UnixSkb) + len);
  if (mem == nullptr) return nullptr;
  return new (mem) UnixSkb;
}

void FreeSkbMemory(UnixSkb* skb) {
  while (skb != nullptr) {
    UnixSkb* next = skb->next;
    skb->~UnixSkb();
    if (small_skbs.Owns(skb)) {
      small_skbs.Return(skb);
    } else {
      std::free(skb);
    }
    skb = next;
  }
}

// unix_find_other() for an address no uepoll socket can have: the kernel finds no socket
// of ours there. A path that does not exist fails the lookup itself.
int LookupUnixAddress(const void* name, socklen_t namelen) {
  const auto* sun = static_cast<const sockaddr_un*>(name);
  if (sun->sun_path[0] == '\0') return -ECONNREFUSED;  // abstract: none bound
  char path[sizeof(sun->sun_path) + 1];
  const size_t n = namelen - offsetof(sockaddr_un, sun_path);
  std::memcpy(path, sun->sun_path, n);
  path[n] = '\0';
  if (access(path, F_OK) != 0) return -errno;
  return -ECONNREFUSED;
}

}  // namespace

int UnixSocket::CreatePair(int type, int flags, UnixSocket** a, UnixSocket** b) {
  auto* core = TryNew<UnixPairCore>();
  if (core == nullptr) return -ENOMEM;
  // (Private constructor: TryNew cannot reach it.)
  auto* sa = AllocFailureInjected() ? nullptr : new (std::nothrow) UnixSocket(type, flags, core);
  auto* sb = AllocFailureInjected() ? nullptr : new (std::nothrow) UnixSocket(type, flags, core);
  if (sa == nullptr || sb == nullptr) {
    delete sa;
    delete sb;
    delete core;
    return -ENOMEM;
  }
  sa->peer_ = sb;
  sb->peer_ = sa;
  *a = sa;
  *b = sb;
  return 0;
}

UnixSocket::UnixSocket(int type, int flags, UnixPairCore* core)
    : File(O_RDWR | (static_cast<uint32_t>(flags) & O_NONBLOCK)),
      type_(type),
      core_(core),
      sndbuf_(DefaultSndbuf()),
      rcvbuf_(DefaultRcvbuf()) {
  SetPollLockless();
}

// ---------------------------------------------------------------------------------------
// Readiness and wake-ups

bool UnixSocket::WritableWith(int extra) const {
  // unix_writable(): refcount_read(&sk_wmem_alloc) << 2 <= sk_sndbuf, where the refcount
  // is the charged truesize plus the socket's own reference (plus the one sock_wfree holds
  // while it calls sk_write_space).
  return (wmem_.load(std::memory_order_relaxed) + extra) * 4 <=
         sndbuf_.load(std::memory_order_relaxed);
}

uint32_t UnixSocket::Poll(PollTable* pt) {
  PollWait(this, &wq_, pt);
  const uint8_t shutdown = shutdown_.load(std::memory_order_relaxed);
  const bool closed = closed_.load(std::memory_order_relaxed) != 0;
  uint32_t mask = 0;
  if (err_.load(std::memory_order_relaxed) != 0) mask |= EPOLLERR;
  if (type_ == SOCK_STREAM) {  // unix_poll()
    if (shutdown == kShutdownMask) mask |= EPOLLHUP;
    if ((shutdown & kRcvShutdown) != 0) mask |= EPOLLRDHUP | EPOLLIN | EPOLLRDNORM;
    if (rq_len_.load(std::memory_order_relaxed) != 0) mask |= EPOLLIN | EPOLLRDNORM;
    if (closed) mask |= EPOLLHUP;
    if (WritableWith(1)) mask |= EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND;
    return mask;
  }
  // unix_dgram_poll(), SOCK_SEQPACKET's too.
  if ((shutdown & kRcvShutdown) != 0) mask |= EPOLLRDHUP | EPOLLIN | EPOLLRDNORM;
  if (shutdown == kShutdownMask) mask |= EPOLLHUP;
  if (rq_len_.load(std::memory_order_relaxed) != 0) mask |= EPOLLIN | EPOLLRDNORM;
  if (type_ == SOCK_SEQPACKET && closed) mask |= EPOLLHUP;
  // No write status requested: the kernel skips it.
  if (pt != nullptr && (pt->key & (EPOLLWRBAND | EPOLLWRNORM | EPOLLOUT)) == 0) return mask;
  if (WritableWith(1)) mask |= EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND;
  return mask;
}

void UnixSocket::WriteSpaceLocked(int extra) {
  if (!WritableWith(extra)) return;
  {
    std::lock_guard wq_guard(wq_.lock);
    if (wq_.Active()) WakeUpLocked(&wq_, 1, kWritableKey, 1);
  }
  // sk_wake_async(SOCK_WAKE_SPACE): only if a sender found the buffer full.
  if (async_nospace_.exchange(false, std::memory_order_relaxed)) KillFasync(this, POLL_OUT);
}

// skb_queue_tail() onto this socket's receive queue, then sk_data_ready().
void UnixSocket::QueueSkbLocked(UnixSkb* skb) {
  if (rq_tail_ != nullptr) {
    rq_tail_->next = skb;
  } else {
    rq_head_ = skb;
  }
  rq_tail_ = skb;
  rq_len_.store(rq_len_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  DataReadyLocked();
}

void UnixSocket::DataReadyLocked() {
  {
    std::lock_guard wq_guard(wq_.lock);
    if (wq_.Active()) WakeUpLocked(&wq_, 1, kReadableKey, 1);
  }
  KillFasync(this, POLL_IN);  // sock_def_readable(): sk_wake_async(SOCK_WAKE_WAITD)
}

void UnixSocket::StateChangeLocked() {
  std::lock_guard wq_guard(wq_.lock);
  if (wq_.Active()) WakeUpLocked(&wq_, 0, 0);
}

int UnixSocket::TakeErrorLocked() {
  if (err_.load(std::memory_order_relaxed) == 0) return 0;
  return err_.exchange(0, std::memory_order_relaxed);
}

// What a blocked send waits for (sock_wait_for_wmem()): room, or a reason to stop.
bool UnixSocket::SendWaitOverLocked() const {
  return core_->converted.load(std::memory_order_relaxed) ||
         err_.load(std::memory_order_relaxed) != 0 ||
         (shutdown_.load(std::memory_order_relaxed) & kSendShutdown) != 0 ||
         wmem_.load(std::memory_order_relaxed) < sndbuf_.load(std::memory_order_relaxed);
}

// What a blocked receive waits for (unix_stream_data_wait(),
// __skb_wait_for_more_packets()): data, or a reason to stop.
bool UnixSocket::RecvWaitOverLocked() const {
  return core_->converted.load(std::memory_order_relaxed) || rq_head_ != nullptr ||
         err_.load(std::memory_order_relaxed) != 0 ||
         (shutdown_.load(std::memory_order_relaxed) & kRcvShutdown) != 0;
}

// No analysis: drops and retakes the caller's guards, references the analysis cannot follow.
int UnixSocket::WaitLocked(std::unique_lock<SpinLock>& guard, std::unique_lock<std::mutex>* io,
                           bool (UnixSocket::*over)() const, bool interruptible,
                           SleepPermit* permit) NO_THREAD_SAFETY_ANALYSIS {
  // The pair lock and the call's I/O lock, dropped around each sleep; what the call
  // signalled so far goes out before it sleeps.
  struct Held {
    std::unique_lock<SpinLock>& guard;
    std::unique_lock<std::mutex>* io;
    void unlock() NO_THREAD_SAFETY_ANALYSIS {
      guard.unlock();
      if (io != nullptr) io->unlock();
      FlushSigio();
    }
    void lock() NO_THREAD_SAFETY_ANALYSIS {
      if (io != nullptr) io->lock();
      guard.lock();
    }
  } held{guard, io};
  const int r = WaitEventHolding(
      &wq_, held, [this, over] { return (this->*over)(); },
      {.permit = permit,
       .kind = interruptible ? SleepKind::kInterruptible : SleepKind::kRestartable});
  // The file is being released: closed, or converted (then the caller retries on the
  // kernel's socket).
  if (r == -EBADF && core_->converted.load(std::memory_order_relaxed)) return -kEConverted;
  return r;
}

// ---------------------------------------------------------------------------------------
// Memory

void UnixSocket::UnchargeLocked(UnixSkb* skb) {
  UnixSocket* owner = skb->owner;
  if (owner == nullptr) return;
  skb->owner = nullptr;
  owner->wmem_.store(owner->wmem_.load(std::memory_order_relaxed) - skb->truesize,
                     std::memory_order_relaxed);
  owner->WriteSpaceLocked(2);
}

void UnixSocket::FreeSkb(UnixSkb* skb) {
  {
    std::lock_guard guard(core_->lock);
    UnchargeLocked(skb);
  }
  FreeSkbMemory(skb);
}

UnixSkb* UnixSocket::PurgeLocked() {
  UnixSkb* list = rq_head_;
  rq_head_ = rq_tail_ = nullptr;
  rq_len_.store(0, std::memory_order_relaxed);
  for (UnixSkb* skb = list; skb != nullptr; skb = skb->next) UnchargeLocked(skb);
  return list;
}

int UnixSocket::AllocSendSkb(size_t len, int64_t truesize, bool noblock, bool interruptible_sleep,
                             SleepPermit* permit, UnixSkb** out) {
  {
    std::unique_lock guard(core_->lock);
    for (;;) {
      if (core_->converted.load(std::memory_order_relaxed)) return -kEConverted;
      if (const int err = TakeErrorLocked(); err != 0) return -err;
      if ((shutdown_.load(std::memory_order_relaxed) & kSendShutdown) != 0) return -EPIPE;
      if (wmem_.load(std::memory_order_relaxed) < sndbuf_.load(std::memory_order_relaxed)) break;
      async_nospace_.store(true, std::memory_order_relaxed);  // SOCKWQ_ASYNC_NOSPACE
      if (noblock) return -EAGAIN;
      const int r =
          WaitLocked(guard, nullptr, &UnixSocket::SendWaitOverLocked, interruptible_sleep, permit);
      if (r != 0) return r;
    }
    if (truesize < 0) return -ENOBUFS;
    wmem_.store(wmem_.load(std::memory_order_relaxed) + truesize, std::memory_order_relaxed);
  }
  UnixSkb* skb = NewSkb(len);
  if (skb == nullptr) {
    std::lock_guard guard(core_->lock);
    wmem_.store(wmem_.load(std::memory_order_relaxed) - truesize, std::memory_order_relaxed);
    WriteSpaceLocked(1);
    return -ENOBUFS;
  }
  skb->owner = this;
  skb->len = len;
  skb->truesize = truesize;
  *out = skb;
  return 0;
}

// ---------------------------------------------------------------------------------------
// Sending

ssize_t UnixSocket::SendMsg(const iovec* iov, int iovcnt, size_t total, int flags,
                            const UnixSendExtra& extra, SleepPermit* permit) {
  const ssize_t r = type_ == SOCK_STREAM ? StreamSend(iov, iovcnt, total, flags, extra, permit)
                                         : DgramSend(iov, iovcnt, total, flags, extra, permit);
  FlushSigio();
  return r;
}

// unix_stream_sendmsg()
ssize_t UnixSocket::StreamSend(const iovec* iov, int iovcnt, size_t len, int flags,
                               const UnixSendExtra& extra, SleepPermit* permit) {
  if (extra.scm_err != 0) return extra.scm_err;
  // MSG_OOB: the kernel built with CONFIG_AF_UNIX_OOB queues one urgent byte; uepoll has
  // no out-of-band data and answers as a kernel built without it.
  if ((flags & MSG_OOB) != 0) return -EOPNOTSUPP;
  if (extra.namelen != 0) return closed_.load(std::memory_order_relaxed) != 0 ? -EOPNOTSUPP : -EISCONN;
  {
    std::lock_guard guard(core_->lock);
    if (peer_ == nullptr && !peer_dead_) return -ENOTCONN;
  }
  const bool noblock = (flags & MSG_DONTWAIT) != 0;
  size_t sent = 0;
  bool pipe = (shutdown_.load(std::memory_order_relaxed) & kSendShutdown) != 0;
  IovCursor in(iov, iovcnt);
  while (!pipe && sent < len) {
    // Keep two messages in the pipe so it schedules better; at most a head and 32 KiB of
    // page fragments per skb.
    int64_t size = static_cast<int64_t>(len - sent);
    size = std::min<int64_t>(size, (sndbuf_.load(std::memory_order_relaxed) >> 1) - 64);
    size = std::min<int64_t>(size, kSkbMaxHead0 + kUnixSkbFragsSize);
    int64_t data_len = std::max<int64_t>(0, size - kSkbMaxHead0);
    data_len = std::min<int64_t>(size, PageAlign(data_len));
    const int64_t truesize = SkbTruesize(size - data_len, data_len);

    UnixSkb* skb = nullptr;
    const int r = AllocSendSkb(static_cast<size_t>(size), truesize, noblock, sent > 0, permit, &skb);
    if (r < 0) return sent > 0 ? static_cast<ssize_t>(sent) : r;
    if (in.CopyIn(skb->data(), static_cast<size_t>(size)) < static_cast<size_t>(size)) {
      FreeSkb(skb);
      return sent > 0 ? static_cast<ssize_t>(sent) : -EFAULT;
    }
    bool converted = false;
    {
      std::lock_guard guard(core_->lock);
      UnixSocket* other = peer_;
      if (core_->converted.load(std::memory_order_relaxed)) {
        UnchargeLocked(skb);
        converted = true;
      } else if (other == nullptr ||
                 (other->shutdown_.load(std::memory_order_relaxed) & kRcvShutdown) != 0) {
        UnchargeLocked(skb);
        pipe = true;
      } else {
        other->QueueSkbLocked(skb);
        skb = nullptr;
      }
    }
    if (skb != nullptr) {
      FreeSkbMemory(skb);
      if (converted) return sent > 0 ? static_cast<ssize_t>(sent) : -kEConverted;
      break;
    }
    sent += static_cast<size_t>(size);
  }
  if (!pipe) return static_cast<ssize_t>(sent);
  if (sent == 0 && (flags & MSG_NOSIGNAL) == 0) {
    permit->Finish();  // the handler runs outside any read section
    platform::RaiseSigpipe();
  }
  return sent > 0 ? static_cast<ssize_t>(sent) : -EPIPE;
}

// unix_dgram_sendmsg(), and unix_seqpacket_sendmsg() in front of it.
ssize_t UnixSocket::DgramSend(const iovec* iov, int iovcnt, size_t len, int flags,
                              const UnixSendExtra& extra, SleepPermit* permit) {
  socklen_t namelen = extra.namelen;
  if (type_ == SOCK_SEQPACKET) {
    {
      std::lock_guard guard(core_->lock);
      if (const int err = TakeErrorLocked(); err != 0) return -err;
    }
    if (closed_.load(std::memory_order_relaxed) != 0) return -ENOTCONN;
    namelen = 0;
  }
  if (extra.scm_err != 0) return extra.scm_err;
  if ((flags & MSG_OOB) != 0) return -EOPNOTSUPP;
  int lookup_err = 0;
  bool no_peer = false;
  if (namelen != 0) {
    // unix_validate_addr()
    if (namelen <= offsetof(sockaddr_un, sun_path) || namelen > sizeof(sockaddr_un)) return -EINVAL;
    if (static_cast<const sockaddr_un*>(extra.name)->sun_family != AF_UNIX) return -EINVAL;
    lookup_err = LookupUnixAddress(extra.name, namelen);
  } else {
    std::lock_guard guard(core_->lock);
    no_peer = peer_ == nullptr && !peer_dead_;
  }
  if (len > static_cast<size_t>(sndbuf_.load(std::memory_order_relaxed) - 32)) return -EMSGSIZE;
  int64_t data_len = 0;
  if (static_cast<int64_t>(len) > kSkbMaxAlloc) {
    data_len = std::min<int64_t>(static_cast<int64_t>(len) - kSkbMaxAlloc, kMaxSkbFrags * kPageSize);
    data_len = PageAlign(data_len);
  }
  const int64_t truesize = SkbTruesize(static_cast<int64_t>(len) - data_len, data_len);
  UnixSkb* skb = nullptr;
  if (const int r = AllocSendSkb(len, truesize, (flags & MSG_DONTWAIT) != 0, false, permit, &skb); r < 0) {
    return r;
  }
  IovCursor in(iov, iovcnt);
  if (in.CopyIn(skb->data(), len) < len) {
    FreeSkb(skb);
    return -EFAULT;
  }
  if (namelen != 0) {
    FreeSkb(skb);
    return lookup_err;
  }
  // unix_peer_get() comes after the size check, the allocation and the copy.
  if (no_peer) {
    FreeSkb(skb);
    return -ENOTCONN;
  }
  ssize_t result = static_cast<ssize_t>(len);
  UnixSkb* purged = nullptr;
  {
    std::lock_guard guard(core_->lock);
    UnixSocket* other = peer_;
    if (core_->converted.load(std::memory_order_relaxed)) {
      result = -kEConverted;
    } else if (other == nullptr) {
      if (!peer_dead_) {
        result = -ECONNRESET;  // another sender disconnected us meanwhile
      } else if (type_ == SOCK_SEQPACKET) {
        result = -EPIPE;
      } else {
        // The peer is dead: disconnect, and drop what it had sent us
        // (unix_dgram_disconnected()).
        peer_dead_ = false;
        closed_.store(1, std::memory_order_relaxed);
        purged = PurgeLocked();
        result = -ECONNREFUSED;
      }
    } else if ((other->shutdown_.load(std::memory_order_relaxed) & kRcvShutdown) != 0) {
      result = -EPIPE;
    }
    if (result < 0) {
      UnchargeLocked(skb);
    } else {
      other->QueueSkbLocked(skb);
      skb = nullptr;
    }
  }
  FreeSkbMemory(purged);
  FreeSkbMemory(skb);
  return result;
}

// ---------------------------------------------------------------------------------------
// Receiving

ssize_t UnixSocket::RecvMsg(const iovec* iov, int iovcnt, size_t total, int flags,
                            int* msg_flags, SleepPermit* permit) {
  const ssize_t r = type_ == SOCK_STREAM ? StreamRecv(iov, iovcnt, total, flags, permit)
                                         : DgramRecv(iov, iovcnt, total, flags, msg_flags, permit);
  FlushSigio();
  return r;
}

// unix_stream_read_generic()
ssize_t UnixSocket::StreamRecv(const iovec* iov, int iovcnt, size_t size, int flags,
                               SleepPermit* permit) {
  // With CONFIG_AF_UNIX_OOB the kernel looks for an urgent byte; there is never one here.
  if ((flags & MSG_OOB) != 0) return -EINVAL;
  const bool noblock = (flags & MSG_DONTWAIT) != 0;
  const bool peek = (flags & MSG_PEEK) != 0;
  // sock_rcvlowat()
  int64_t target = (flags & MSG_WAITALL) != 0
                       ? static_cast<int64_t>(size)
                       : std::min<int64_t>(rcvlowat_.load(std::memory_order_relaxed),
                                           static_cast<int64_t>(size));
  if (target == 0) target = 1;

  IovCursor out(iov, iovcnt);
  ssize_t copied = 0;
  int err = 0;
  std::unique_lock io(iolock_);
  std::unique_lock guard(core_->lock, std::defer_lock);
  for (;;) {
    guard.lock();
    if (core_->converted.load(std::memory_order_relaxed)) {
      if (copied == 0) err = -kEConverted;
      break;
    }
    UnixSkb* skb = rq_head_;
    if (skb == nullptr) {
      if (copied >= target) break;
      // POSIX 1003.1g mandates this order.
      if (const int e = TakeErrorLocked(); e != 0) {
        err = -e;
        break;
      }
      if ((shutdown_.load(std::memory_order_relaxed) & kRcvShutdown) != 0) break;
      if (noblock) {
        err = -EAGAIN;
        break;
      }
      // unix_stream_data_wait(). Once data was copied any signal ends the call with it.
      const int r = WaitLocked(guard, &io, &UnixSocket::RecvWaitOverLocked, copied > 0, permit);
      guard.unlock();
      if (r != 0) {
        io.unlock();
        return copied != 0 ? copied : r;
      }
      continue;
    }
    guard.unlock();
    bool stop = false;
    while (skb != nullptr) {
      const size_t chunk = std::min(skb->len - skb->consumed, size);
      if (out.CopyOut(skb->data() + skb->consumed, chunk) < chunk) {
        if (copied == 0) copied = -EFAULT;
        stop = true;
        break;
      }
      copied += static_cast<ssize_t>(chunk);
      size -= chunk;
      if (!peek) {
        guard.lock();
        skb->consumed += chunk;
        if (skb->consumed < skb->len) {
          guard.unlock();
          stop = true;
          break;
        }
        rq_head_ = skb->next;
        if (rq_head_ == nullptr) rq_tail_ = nullptr;
        rq_len_.store(rq_len_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
        skb->next = nullptr;
        UnchargeLocked(skb);
        guard.unlock();
        FreeSkbMemory(skb);
        break;  // look at the queue again
      }
      // MSG_PEEK goes on through the queue, but never waits for more.
      guard.lock();
      skb = skb->next;
      guard.unlock();
      if (skb == nullptr || size == 0) stop = true;
    }
    if (stop || size == 0) {
      io.unlock();
      return copied != 0 ? copied : err;
    }
  }
  guard.unlock();
  io.unlock();
  return copied != 0 ? copied : err;
}

// __unix_dgram_recvmsg(), behind unix_seqpacket_recvmsg() for SOCK_SEQPACKET.
ssize_t UnixSocket::DgramRecv(const iovec* iov, int iovcnt, size_t size, int flags,
                              int* msg_flags, SleepPermit* permit) {
  if (type_ == SOCK_SEQPACKET && closed_.load(std::memory_order_relaxed) != 0) return -ENOTCONN;
  if ((flags & MSG_OOB) != 0) return -EOPNOTSUPP;
  const bool noblock = (flags & MSG_DONTWAIT) != 0;
  const bool peek = (flags & MSG_PEEK) != 0;
  std::unique_lock io(iolock_, std::defer_lock);
  std::unique_lock guard(core_->lock, std::defer_lock);
  UnixSkb* skb = nullptr;
  int err = 0;
  for (;;) {
    io.lock();
    guard.lock();
    if (core_->converted.load(std::memory_order_relaxed)) {
      err = -kEConverted;
      guard.unlock();
      io.unlock();
      break;
    }
    if (const int e = TakeErrorLocked(); e != 0) {
      err = -e;
      guard.unlock();
      io.unlock();
      break;
    }
    skb = rq_head_;
    if (skb != nullptr) {
      if (!peek) {
        rq_head_ = skb->next;
        if (rq_head_ == nullptr) rq_tail_ = nullptr;
        rq_len_.store(rq_len_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
        skb->next = nullptr;
      }
      guard.unlock();
      break;  // iolock stays held while copying
    }
    err = -EAGAIN;
    if (noblock) {
      guard.unlock();
      io.unlock();
      break;
    }
    // __skb_wait_for_more_packets()
    if ((shutdown_.load(std::memory_order_relaxed) & kRcvShutdown) != 0) {
      err = 0;
      guard.unlock();
      io.unlock();
      break;
    }
    const int r = WaitLocked(guard, &io, &UnixSocket::RecvWaitOverLocked, false, permit);
    guard.unlock();
    io.unlock();
    if (r != 0) {
      err = r;
      break;
    }
  }
  if (skb == nullptr) {
    // EOF on a disconnected nonblocking SOCK_SEQPACKET socket.
    if (type_ == SOCK_SEQPACKET && err == -EAGAIN &&
        (shutdown_.load(std::memory_order_relaxed) & kRcvShutdown) != 0) {
      err = 0;
    }
    return err;
  }
  size_t n = size;
  if (n > skb->len) {
    n = skb->len;
  } else if (n < skb->len) {
    *msg_flags |= MSG_TRUNC;
  }
  IovCursor out(iov, iovcnt);
  ssize_t result = -EFAULT;
  if (out.CopyOut(skb->data(), n) == n) {
    result = static_cast<ssize_t>((flags & MSG_TRUNC) != 0 ? skb->len : n);
  }
  if (!peek) FreeSkb(skb);
  io.unlock();
  return result;
}

// ---------------------------------------------------------------------------------------
// read/write, shutdown, options, ioctl, release

ssize_t UnixSocket::Read(const iovec* iov, int iovcnt, int io_flags, SleepPermit* permit) {
  size_t total = 0;
  for (int i = 0; i < iovcnt; ++i) total += iov[i].iov_len;
  if (total == 0) return 0;  // sock_read_iter()
  int msg_flags = 0;
  return RecvMsg(iov, iovcnt, total, (io_flags & kIoNonblock) != 0 ? MSG_DONTWAIT : 0, &msg_flags,
                 permit);
}

ssize_t UnixSocket::Write(const iovec* iov, int iovcnt, int io_flags, SleepPermit* permit) {
  size_t total = 0;
  for (int i = 0; i < iovcnt; ++i) total += iov[i].iov_len;
  int flags = (io_flags & kIoNonblock) != 0 ? MSG_DONTWAIT : 0;
  if (type_ == SOCK_SEQPACKET) flags |= MSG_EOR;
  return SendMsg(iov, iovcnt, total, flags, UnixSendExtra{}, permit);
}

int UnixSocket::Shutdown(int how) {
  if (how < SHUT_RD || how > SHUT_RDWR) return -EINVAL;
  const int r = DoShutdown(how);
  FlushSigio();
  return r;
}

int UnixSocket::DoShutdown(int how) {
  const auto mode = static_cast<uint8_t>(how + 1);
  std::lock_guard guard(core_->lock);
  shutdown_.store(shutdown_.load(std::memory_order_relaxed) | mode, std::memory_order_relaxed);
  StateChangeLocked();
  UnixSocket* other = peer_;
  if (other != nullptr && type_ != SOCK_DGRAM) {
    uint8_t peer_mode = 0;
    if ((mode & kRcvShutdown) != 0) peer_mode |= kSendShutdown;
    if ((mode & kSendShutdown) != 0) peer_mode |= kRcvShutdown;
    other->shutdown_.store(other->shutdown_.load(std::memory_order_relaxed) | peer_mode,
                           std::memory_order_relaxed);
    other->StateChangeLocked();
    if (peer_mode == kShutdownMask) {
      KillFasync(other, POLL_HUP);
    } else if ((peer_mode & kRcvShutdown) != 0) {
      KillFasync(other, POLL_IN);
    }
  }
  return 0;
}

int UnixSocket::GetSockOpt(int level, int optname, void* optval, socklen_t* optlen) {
  if (level != SOL_SOCKET) return -EOPNOTSUPP;
  if (optlen == nullptr) return -EFAULT;
  int len = static_cast<int>(*optlen);
  if (len < 0) return -EINVAL;
  int v = 0;
  switch (optname) {
    case SO_TYPE:
      v = type_;
      break;
    case SO_ERROR: {
      std::lock_guard guard(core_->lock);
      v = TakeErrorLocked();
      break;
    }
    case SO_DOMAIN:
      v = AF_UNIX;
      break;
    case SO_PROTOCOL:
    case SO_ACCEPTCONN:
      v = 0;
      break;
    case SO_SNDBUF:
      v = sndbuf_.load(std::memory_order_relaxed);
      break;
    case SO_RCVBUF:
      v = rcvbuf_.load(std::memory_order_relaxed);
      break;
    case SO_RCVLOWAT:
      v = rcvlowat_.load(std::memory_order_relaxed);
      break;
    case SO_SNDLOWAT:
      v = 1;
      break;
    default:
      return -ENOPROTOOPT;
  }
  len = std::min(len, static_cast<int>(sizeof v));
  if (len > 0) {
    if (optval == nullptr) return -EFAULT;
    std::memcpy(optval, &v, static_cast<size_t>(len));
  }
  *optlen = static_cast<socklen_t>(len);
  return 0;
}

int UnixSocket::SetSockOpt(int level, int optname, const void* optval, socklen_t optlen) {
  if (static_cast<int>(optlen) < 0) return -EINVAL;
  if (level != SOL_SOCKET) return -EOPNOTSUPP;
  if (optlen < sizeof(int)) return -EINVAL;
  if (optval == nullptr) return -EFAULT;
  int val = 0;
  std::memcpy(&val, optval, sizeof val);
  bool set_sndbuf = false;
  bool set_rcvbuf = false;
  switch (optname) {
    case SO_SNDBUF:
      val = static_cast<int>(std::min(static_cast<uint32_t>(val),
                                      static_cast<uint32_t>(ReadSysctl("/proc/sys/net/core/wmem_max", 212992))));
      set_sndbuf = true;
      break;
    case SO_SNDBUFFORCE:
      if (!platform::HasEffectiveCapability(CAP_NET_ADMIN)) return -EPERM;
      val = std::max(val, 0);  // no negative values: val is doubled
      set_sndbuf = true;
      break;
    case SO_RCVBUF:
      val = static_cast<int>(std::min(static_cast<uint32_t>(val),
                                      static_cast<uint32_t>(ReadSysctl("/proc/sys/net/core/rmem_max", 212992))));
      set_rcvbuf = true;
      break;
    case SO_RCVBUFFORCE:
      if (!platform::HasEffectiveCapability(CAP_NET_ADMIN)) return -EPERM;
      val = std::max(val, 0);
      set_rcvbuf = true;
      break;
    case SO_RCVLOWAT:
      if (val < 0) val = INT_MAX;
      rcvlowat_.store(val != 0 ? val : 1, std::memory_order_relaxed);
      return 0;
    default:
      return -ENOPROTOOPT;
  }
  val = std::min(val, INT_MAX / 2);
  if (set_sndbuf) {
    std::lock_guard guard(core_->lock);
    sndbuf_.store(std::max(val * 2, kSockMinSndbuf), std::memory_order_relaxed);
    WriteSpaceLocked(1);  // sk->sk_write_space()
  } else if (set_rcvbuf) {
    rcvbuf_.store(std::max(val * 2, kSockMinRcvbuf), std::memory_order_relaxed);
  }
  FlushSigio();  // sk_write_space()'s SIGIO
  return 0;
}

int UnixSocket::Ioctl(unsigned long request, void* arg) {
  int amount = 0;
  switch (request) {
    case SIOCINQ: {  // FIONREAD
      std::lock_guard guard(core_->lock);
      if (type_ == SOCK_DGRAM) {
        if (rq_head_ != nullptr) amount = static_cast<int>(rq_head_->len);
      } else {
        int64_t sum = 0;
        for (UnixSkb* skb = rq_head_; skb != nullptr; skb = skb->next) {
          sum += static_cast<int64_t>(skb->len - skb->consumed);
        }
        amount = static_cast<int>(sum);
      }
      break;
    }
    case SIOCOUTQ:
      amount = static_cast<int>(wmem_.load(std::memory_order_relaxed));
      break;
    case FIOSETOWN:  // sock_ioctl(): f_setown()
    case SIOCSPGRP: {
      if (arg == nullptr) return -EFAULT;
      int who = 0;
      std::memcpy(&who, arg, sizeof who);
      return SetOwner(this, who);
    }
    case FIOGETOWN:
    case SIOCGPGRP:
      amount = GetOwner(this);
      break;
    default:
      return -ENOTTY;
  }
  if (arg == nullptr) return -EFAULT;
  std::memcpy(arg, &amount, sizeof amount);
  return 0;
}

bool UnixSocket::FreezePair(UnixSocket* a, UnixSocket* b, UnixEndSnapshot* sa,
                            UnixEndSnapshot* sb) {
  // Readers copy out under iolock_ alone: with both held no skb is half taken.
  std::unique_lock io_a(a->iolock_, std::defer_lock);
  std::unique_lock io_b(b != nullptr ? b->iolock_ : a->iolock_, std::defer_lock);
  if (b != nullptr) {
    std::lock(io_a, io_b);
  } else {
    io_a.lock();
  }
  {
    std::lock_guard guard(a->core_->lock);
    if (a->core_->converted.load(std::memory_order_relaxed)) return false;
    for (auto [end, snap] : {std::pair{a, sa}, std::pair{b, sb}}) {
      if (end == nullptr) continue;
      for (UnixSkb* skb = end->rq_head_; skb != nullptr; skb = skb->next) {
        snap->queue.emplace_back(skb->data() + skb->consumed, skb->len - skb->consumed);
      }
      snap->shutdown = end->shutdown_.load(std::memory_order_relaxed);
      snap->peer_dead = end->peer_ == nullptr;
      snap->err = end->err_.load(std::memory_order_relaxed);
      snap->sndbuf = end->sndbuf_.load(std::memory_order_relaxed);
      snap->rcvbuf = end->rcvbuf_.load(std::memory_order_relaxed);
    }
    a->core_->converted.store(true, std::memory_order_relaxed);
  }
  // Blocked senders and receivers wake, see `converted` and retry on the kernel's pair.
  for (UnixSocket* end : {a, b}) {
    if (end == nullptr) continue;
    std::lock_guard wq_guard(end->wq_.lock);
    if (end->wq_.Active()) WakeUpLocked(&end->wq_, 0, 0);
  }
  return true;
}

// unix_release_sock()
void UnixSocket::Release() {
  UnixSkb* purged = nullptr;
  {
    std::lock_guard guard(core_->lock);
    shutdown_.store(kShutdownMask, std::memory_order_relaxed);
    closed_.store(1, std::memory_order_relaxed);
    UnixSocket* other = peer_;
    peer_ = nullptr;
    peer_dead_ = false;
    if (other != nullptr) {
      if (type_ != SOCK_DGRAM) {
        // No more writes; unread data makes the peer's next call fail with ECONNRESET. An
        // empty first message does not count: the kernel skips it (CONFIG_AF_UNIX_OOB's
        // test for its out-of-band place holder catches a zero-length record too).
        other->shutdown_.store(kShutdownMask, std::memory_order_relaxed);
        const UnixSkb* unread = rq_head_;
        if (unread != nullptr && unread->len == unread->consumed) unread = unread->next;
        if (unread != nullptr) other->err_.store(ECONNRESET, std::memory_order_relaxed);
        other->StateChangeLocked();
        KillFasync(other, POLL_HUP);
      }
      other->peer_ = nullptr;
      other->peer_dead_ = true;
      // What we sent and the peer has not read no longer counts against anyone.
      for (UnixSkb* skb = other->rq_head_; skb != nullptr; skb = skb->next) {
        if (skb->owner == this) skb->owner = nullptr;
      }
    }
    purged = PurgeLocked();
  }
  FreeSkbMemory(purged);
  FlushSigio();
  if (core_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete core_;
}

}  // namespace uep
