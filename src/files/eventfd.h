// eventfd: a 64-bit counter with a wait queue (fs/eventfd.c).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>

#include "core/file.h"
#include "core/reentry.h"
#include "core/wait_queue.h"

namespace uep {

class EventFd final : public File {
 public:
  EventFd(unsigned int initval, int flags);

  uint32_t Poll(PollTable* pt) override;
  [[nodiscard]] bool CanRead() const override { return true; }
  [[nodiscard]] bool CanWrite() const override { return true; }
  ssize_t Read(const iovec* iov, int iovcnt, int io_flags, SleepPermit* permit) override;
  ssize_t Write(const iovec* iov, int iovcnt, int io_flags, SleepPermit* permit) override;
  void Release() override;
  [[nodiscard]] bool HandlesReentrantIo() const override { return true; }
  void DeferredWakeUp(uint32_t events) override;
  // Release() only wakes pollers: harmless beside a write or read still running.
  [[nodiscard]] bool ReleasesUnderReaders() const override { return true; }

  // eventfd_read()/eventfd_write() on an 8-byte value.
  ssize_t ReadValue(uint64_t* value, int io_flags, SleepPermit* permit);
  ssize_t WriteValue(uint64_t value, int io_flags, SleepPermit* permit);

 private:
  // ReadValue and WriteValue. A call that interrupted its thread's own uepoll call (a
  // signal handler) may find wqh_.lock held by the frame it interrupted: it changes the
  // count alone.
  template <typename Step>
  ssize_t ChangeCount(const Step& step, uint32_t wake, int io_flags, SleepPermit* permit,
                      uint64_t* before);
  template <typename Step>
  [[gnu::noinline]] ssize_t ChangeCountSlow(const Step& step, uint32_t wake, SleepPermit* permit,
                                            uint64_t* before);
  [[gnu::noinline]] void WakeAfter(uint32_t key);

  WaitQueueHead wqh_;
  // Changed by read-modify-write (seq_cst), with wqh_.lock only when a caller may sleep:
  // the wake-up follows the change. Poll() reads it without the lock.
  std::atomic<uint64_t> count_;
  const bool semaphore_;
  DeferredWake deferred_wake_{this};
};

}  // namespace uep
