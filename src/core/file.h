// The file contract. Everything uepoll can watch is a File: eventfd, pipes, sockets,
// timers, an eventpoll instance itself, a user's own type. A file
//   - reports its readiness from Poll(), hanging the poll table's entry on each wait queue
//     it will wake (PollWait);
//   - wakes those queues with a key (the events that just happened) when its state changes;
//   - is reference counted; when the last reference goes, every epoll item watching it is
//     removed, then Release() runs, then it is deleted.
// Operations return a byte count or a negative errno, as the kernel's do internally.
#pragma once

#include <fcntl.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <atomic>
#include <cstdint>

#include "core/list.h"
#include "core/rcu.h"
#include "core/poll_table.h"
#include "platform/spinlock.h"

namespace uep {

class File;
void FileUnpinMemory(File* file);

// Flags for Read/Write.
inline constexpr int kIoNonblock = 0x1;  // O_NONBLOCK on the file or MSG_DONTWAIT

// An operation found its file turned into a kernel object (a pipe or socket pair before
// fork: files/kernel_convert.h): nothing was done; the caller waits for the conversion to
// end and makes the call again on the descriptor, which is now the kernel's. Never seen by
// users: no errno is this large.
inline constexpr int kEConverted = 4000;

// Operations run inside the caller's RCU read section, holding no reference to the file
// (the cheap path). One that must sleep first calls Acquire(): it pins the file and leaves
// the section, so the sleep neither blocks RcuSynchronize() nor outlives the file.
class SleepPermit {
 public:
  explicit SleepPermit(File* file) : file_(file) {}
  ~SleepPermit() {
    if (in_read_section_ && !pinned_) {
      in_read_section_ = false;
      RcuReadUnlock();
    } else {
      Finish();
    }
  }
  SleepPermit(const SleepPermit&) = delete;
  SleepPermit& operator=(const SleepPermit&) = delete;

  // False if the file is already being released (a racing close won): fail with EBADF.
  [[nodiscard]] bool Acquire();
  // Leaves the read section or drops the pin, whichever is held. Call with no lock held.
  void Finish();

 private:
  File* file_;
  bool in_read_section_ = true;
  bool pinned_ = false;
};

class File : private RcuHead {  // RcuHead: the deferred delete
 public:
  explicit File(uint32_t flags) : f_flags(flags) {}
  virtual ~File() = default;
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  // Current readiness (EPOLL* bits); registers on wait queues through `pt` if it has a
  // queue procedure. Must not sleep.
  virtual uint32_t Poll(PollTable* pt) = 0;

  // Whether the file has read / write at all (FMODE_CAN_READ/WRITE): EINVAL otherwise.
  [[nodiscard]] virtual bool CanRead() const { return false; }
  [[nodiscard]] virtual bool CanWrite() const { return false; }
  // `iov` has iovcnt >= 1 segments (lengths as the caller gave them, total capped at
  // MAX_RW_COUNT). `permit` must be acquired before the operation sleeps.
  virtual ssize_t Read(const iovec* iov, int iovcnt, int io_flags, SleepPermit* permit);
  virtual ssize_t Write(const iovec* iov, int iovcnt, int io_flags, SleepPermit* permit);
  virtual int Ioctl(unsigned long request, void* arg);
  // fcntl() commands the file type handles itself (F_GETPIPE_SZ/F_SETPIPE_SZ ...), called
  // inside the caller's RCU read section; must not sleep. Default: -EBADF for the pipe
  // commands (not a pipe, as the kernel's pipe_fcntl says), -EINVAL for anything else.
  virtual int Fcntl(int cmd, unsigned long arg);
  // O_DIRECT may be set with F_SETFL (the kernel allows it on pipes and direct-I/O files).
  [[nodiscard]] virtual bool AllowsODirect() const { return false; }
  // The last reference is gone and no epoll item watches the file any more.
  virtual void Release() {}
  // Whether Read/Write serve a call that interrupted its thread's own uepoll call (a
  // signal handler: core/reentry.h) without waiting for a lock. Otherwise such a write is
  // queued for the interrupted call to make, and such a read finds nothing (-EAGAIN).
  [[nodiscard]] virtual bool HandlesReentrantIo() const { return false; }
  // Two writes in a row may be made as one (a byte stream: a pipe without O_DIRECT, a
  // stream socket), so queued ones share a slot.
  [[nodiscard]] virtual bool MergesWrites() const { return false; }
  // Wakes the file's queues with `events` for a change a re-entrant call made without
  // locks (core/reentry.h: DeferredWake). Called with no lock held.
  virtual void DeferredWakeUp(uint32_t /*events*/) {}
  // Whether Release() (and the removal of the items watching the file before it) may run
  // while a lock-free operation that looked the file up before the close is still running
  // on it. Then the last close does both at once and only the memory waits for a grace
  // period (RcuCall); otherwise the close waits for one first (RcuSynchronize).
  [[nodiscard]] virtual bool ReleasesUnderReaders() const { return false; }
  // FilePut(): drops the file's own memory reference once every read section that may see
  // it has ended.
  void DeleteAfterGracePeriod() {
    RcuCall(this, [](RcuHead* head) { FileUnpinMemory(static_cast<File*>(head)); });
  }

  // A plain field, not a virtual: asked on every wait and every transferred item.
  [[nodiscard]] bool IsEventPoll() const { return is_eventpoll_; }
  // Poll() with a table that has no queue procedure takes no lock and never sleeps (it
  // only reads state), so an instance may call it under its own spin lock.
  [[nodiscard]] bool PollIsLockless() const { return poll_lockless_; }

  [[nodiscard]] bool Nonblocking() const {  // inline: every read and write asks
    return (f_flags.load(std::memory_order_relaxed) & O_NONBLOCK) != 0;
  }
  // F_SETFL with the kernel's rules (setfl() in fs/fcntl.c).
  int SetFlags(uint32_t arg);

  std::atomic<long> f_count{1};    // references: descriptors and pinned operations
  std::atomic<uint32_t> f_flags;   // O_ACCMODE | O_NONBLOCK | ... as F_GETFL reports them
  SpinLock f_lock;                 // protects f_ep
  ListHead f_ep GUARDED_BY(f_lock);  // EpItem::fllink of every item watching this file
  std::atomic<bool> f_ep_nonempty{false};  // f_ep is not empty; read without f_lock
  // Set under f_lock by the last FilePut() before the items go: no item may be added after.
  std::atomic<bool> f_released{false};
  // Keep the memory, not the file, alive: the file's own reference (dropped by FilePut(),
  // after a grace period for a file that ReleasesUnderReaders()) and FilePinMemory()'s.
  std::atomic<long> f_mem_refs{1};

  // fown_struct (F_SETOWN, F_SETOWN_EX, F_SETSIG; files/fasync.h): whom a file in O_ASYNC
  // mode signals, and with what. f_owner_pid 0: nobody.
  std::atomic<int> f_owner_pid{0};
  std::atomic<int> f_owner_type{0};     // F_OWNER_TID 0 (a new file), F_OWNER_PID 1, F_OWNER_PGRP 2
  std::atomic<int> f_owner_signum{0};   // 0: plain SIGIO
  std::atomic<int> f_fasync_fd{-1};     // the descriptor O_ASYNC was set through (si_fd)
  // ->fasync: whether the file sends SIGIO (pipes, sockets). On the others FIOASYNC is
  // ENOTTY and F_SETFL ignores O_ASYNC, as the kernel does for a file without ->fasync.
  [[nodiscard]] virtual bool HasFasync() const { return false; }

 protected:
  struct EventPollTag {};
  File(uint32_t flags, EventPollTag /*tag*/) : f_flags(flags), is_eventpoll_(true) {}
  void SetPollLockless() { poll_lockless_ = true; }

 private:
  const bool is_eventpoll_ = false;
  bool poll_lockless_ = false;
};

inline void FileGet(File* file) { file->f_count.fetch_add(1, std::memory_order_relaxed); }

// get_file_rcu(): fails once the count reached zero (the file is being released).
bool FileTryGet(File* file);

// For an operation that must leave its RCU read section (to wait for a mutex) but not hold
// back the close of a file that ReleasesUnderReaders(): keeps only its memory. Call in the
// section that looked the file up; after the section the file may have been released
// (File::f_released), never freed.
inline void FilePinMemory(File* file) { file->f_mem_refs.fetch_add(1, std::memory_order_relaxed); }
void FileUnpinMemory(File* file);

// fput(): drops a reference; the last one removes epoll items, releases and deletes (after
// a grace period: see File::ReleasesUnderReaders()). Must be called outside any RCU read
// section and with no lock held.
void FilePut(File* file);

}  // namespace uep
