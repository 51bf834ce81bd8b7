// eventfd: a 64-bit counter with a wait queue (fs/eventfd.c).
#pragma once

#include <atomic>
#include <cstdint>

#include "core/file.h"
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
  // Release() only wakes pollers: harmless beside a write or read still running.
  [[nodiscard]] bool ReleasesUnderReaders() const override { return true; }

  // eventfd_read()/eventfd_write() on an 8-byte value.
  ssize_t ReadValue(uint64_t* value, int io_flags, SleepPermit* permit);
  ssize_t WriteValue(uint64_t value, int io_flags, SleepPermit* permit);

 private:
  WaitQueueHead wqh_;
  std::atomic<uint64_t> count_;  // written under wqh_.lock; Poll() reads it without
  const bool semaphore_;
};

}  // namespace uep
