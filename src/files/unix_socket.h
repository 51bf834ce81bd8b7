// AF_UNIX socket pairs: SOCK_STREAM, SOCK_SEQPACKET and SOCK_DGRAM (net/unix/af_unix.c).
//
// The two ends share one state lock (UnixPairCore::lock), the kernel's unix_state_lock of
// both socks at once. Each end has its own wait queue (sk_sleep), where its readers, its
// blocked writers and epoll items wait, and its own reader mutex (u->iolock).
//
// Data travels in "skbs": a sender allocates one, charges its truesize to its own
// wmem_alloc, copies the data in and queues it on the peer's receive queue; the receiver
// uncharges the sender when it frees the skb, which wakes the sender for write space. The
// truesize of an skb is computed exactly as the 6.18 kernel on x86-64 computes it (head in
// a kmalloc bucket plus struct sk_buff plus shared info, data beyond the head in pages),
// so EPOLLOUT, EAGAIN and SIOCOUTQ change at the same byte counts as the kernel's.
//
// Locks, in order (see the table at the top of core/eventpoll.cc):
//   iolock_ (std::mutex, one reader at a time; held while copying out, never while asleep)
//     -> UnixPairCore::lock (SpinLock, the state of both ends)
//        -> a WaitQueueHead::lock (level 4: wakes run epoll callbacks under it)
// Poll() takes none of them (it only reads atomics), so an instance may call it under its
// own lock. Nothing here calls FilePut() or epoll code with a lock held.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "core/file.h"
#include "core/wait_queue.h"
#include "platform/spinlock.h"

namespace uep {

struct UnixSkb;
struct UnixPairCore;

// What a sendmsg() carries besides the data: the destination (only SOCK_DGRAM looks at
// it) and the verdict on its control messages (scm_send(): 0 or -errno), applied where the
// kernel applies it.
struct UnixSendExtra {
  const void* name = nullptr;
  socklen_t namelen = 0;
  int scm_err = 0;
};

// What one end of a pair held when the pair was frozen (UnixSocket::FreezePair).
struct UnixEndSnapshot {
  std::vector<std::string> queue;  // unread data of each skb in order (a record each)
  uint8_t shutdown = 0;            // RCV_SHUTDOWN 1 | SEND_SHUTDOWN 2
  bool peer_dead = false;          // the other end was released
  int err = 0;                     // a pending sk_err
  int sndbuf = 0;
  int rcvbuf = 0;
};

class UnixSocket final : public File {
 public:
  // socketpair(): `type` is SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET; `flags` holds
  // SOCK_NONBLOCK. Returns 0 or -ENOMEM.
  static int CreatePair(int type, int flags, UnixSocket** a, UnixSocket** b);

  uint32_t Poll(PollTable* pt) override;
  [[nodiscard]] bool CanRead() const override { return true; }
  [[nodiscard]] bool CanWrite() const override { return true; }
  // read/readv/write/writev: recvmsg/sendmsg with no flags (MSG_DONTWAIT when nonblocking).
  ssize_t Read(const iovec* iov, int iovcnt, int io_flags, SleepPermit* permit) override;
  ssize_t Write(const iovec* iov, int iovcnt, int io_flags, SleepPermit* permit) override;
  // SIOCINQ (FIONREAD) and SIOCOUTQ.
  int Ioctl(unsigned long request, void* arg) override;
  [[nodiscard]] bool HasFasync() const override { return true; }  // sock_fasync()
  void Release() override;

  // The protocol operations, kernel style (>= 0 or -errno). `flags` already holds
  // MSG_DONTWAIT if the file is nonblocking. `total` is the sum of the segment lengths.
  ssize_t SendMsg(const iovec* iov, int iovcnt, size_t total, int flags,
                  const UnixSendExtra& extra, SleepPermit* permit);
  // `msg_flags` receives MSG_TRUNC when a record did not fit.
  ssize_t RecvMsg(const iovec* iov, int iovcnt, size_t total, int flags, int* msg_flags,
                  SleepPermit* permit);
  int Shutdown(int how);
  int GetSockOpt(int level, int optname, void* optval, socklen_t* optlen);
  int SetSockOpt(int level, int optname, const void* optval, socklen_t optlen);

  [[nodiscard]] bool MergesWrites() const override { return type_ == SOCK_STREAM; }
  [[nodiscard]] int type() const { return type_; }
  // Names the pair: both ends give the same key.
  [[nodiscard]] const void* PairKey() const { return core_; }
  // Before the pair becomes a kernel socket pair (files/kernel_convert.h): copies the state
  // of `a` and of its peer `b` (nullptr: not open) out and marks the pair converted, so
  // that every send and receive from now on (blocked ones woken) returns -kEConverted.
  // Returns false if it was already frozen.
  static bool FreezePair(UnixSocket* a, UnixSocket* b, UnixEndSnapshot* sa, UnixEndSnapshot* sb);

  // For tests: the sender-side memory charged to this end (SIOCOUTQ).
  [[nodiscard]] int64_t WmemAlloc() const { return wmem_.load(std::memory_order_relaxed); }

 private:
  UnixSocket(int type, int flags, UnixPairCore* core);

  ssize_t StreamSend(const iovec* iov, int iovcnt, size_t len, int flags,
                     const UnixSendExtra& extra, SleepPermit* permit);
  ssize_t DgramSend(const iovec* iov, int iovcnt, size_t len, int flags,
                    const UnixSendExtra& extra, SleepPermit* permit);
  ssize_t StreamRecv(const iovec* iov, int iovcnt, size_t size, int flags,
                     SleepPermit* permit);
  ssize_t DgramRecv(const iovec* iov, int iovcnt, size_t size, int flags, int* msg_flags,
                    SleepPermit* permit);
  // sock_alloc_send_pskb(): waits for sndbuf space, then allocates `len` bytes charged
  // with `truesize`. `interruptible_sleep`: any signal ends a wait (data already went out).
  int AllocSendSkb(size_t len, int64_t truesize, bool noblock, bool interruptible_sleep,
                   SleepPermit* permit, UnixSkb** out);
  // The skb leaves its queue for good: uncharge the sender (sock_wfree), free it.
  void FreeSkb(UnixSkb* skb);
  void UnchargeLocked(UnixSkb* skb);
  // Empties this end's receive queue (uncharging the senders); returns the skbs to free.
  UnixSkb* PurgeLocked();
  // unix_write_space() with the sk_wmem_alloc reference sock_wfree keeps (`extra`).
  void WriteSpaceLocked(int extra);
  // sk_data_ready / sk_state_change on this end.
  void DataReadyLocked();
  int DoShutdown(int how);  // Shutdown() before its signals go out
  void QueueSkbLocked(UnixSkb* skb);  // core lock held
  void StateChangeLocked();
  [[nodiscard]] bool WritableWith(int extra) const;
  int TakeErrorLocked();
  // Sleeps on wq_ until (this->*over)() holds, read under the pair lock (held through
  // `guard`). `io`, if given, is released after the pair lock and taken again before it.
  // 0, -EINTR, or -EBADF / -kEConverted when the file is being released.
  int WaitLocked(std::unique_lock<SpinLock>& guard, std::unique_lock<std::mutex>* io,
                 bool (UnixSocket::*over)() const, bool interruptible, SleepPermit* permit);
  [[nodiscard]] bool SendWaitOverLocked() const;
  [[nodiscard]] bool RecvWaitOverLocked() const;

  const int type_;
  UnixPairCore* const core_;

  // Under core_->lock.
  UnixSocket* peer_ = nullptr;  // the live peer
  bool peer_dead_ = false;      // the peer was released; the kernel still points at it
  UnixSkb* rq_head_ = nullptr;  // receive queue
  UnixSkb* rq_tail_ = nullptr;

  // Written under core_->lock, read by Poll() without it.
  std::atomic<uint32_t> rq_len_{0};    // skbs queued
  std::atomic<uint8_t> shutdown_{0};   // RCV_SHUTDOWN | SEND_SHUTDOWN
  std::atomic<uint8_t> closed_{0};     // sk_state == TCP_CLOSE
  std::atomic<int> err_{0};            // sk_err
  std::atomic<bool> async_nospace_{false};  // SOCKWQ_ASYNC_NOSPACE: a sender found no room
  std::atomic<int64_t> wmem_{0};       // sk_wmem_alloc_get(): truesize in flight
  std::atomic<int> sndbuf_;
  std::atomic<int> rcvbuf_;
  std::atomic<int> rcvlowat_{1};

  WaitQueueHead wq_;
  std::mutex iolock_;
};

}  // namespace uep
