#include "core/file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "core/eventpoll.h"
#include "core/rcu.h"
#include "platform/capability.h"

namespace uep {

ssize_t File::Read(const iovec* /*iov*/, int /*iovcnt*/, int /*io_flags*/, SleepPermit* /*permit*/) {
  return -EINVAL;
}
ssize_t File::Write(const iovec* /*iov*/, int /*iovcnt*/, int /*io_flags*/, SleepPermit* /*permit*/) {
  return -EINVAL;
}
int File::Ioctl(unsigned long /*request*/, void* /*arg*/) { return -ENOTTY; }
int File::Fcntl(int cmd, unsigned long /*arg*/) {
  return cmd == F_GETPIPE_SZ || cmd == F_SETPIPE_SZ ? -EBADF : -EINVAL;
}


int File::SetFlags(uint32_t arg) {
  constexpr uint32_t kSetflMask = O_APPEND | O_NONBLOCK | O_NDELAY | O_DIRECT | O_NOATIME;
  // O_NOATIME is for the inode's owner or CAP_FOWNER, checked only when it is being set.
  // uepoll's files have the kernel's anonymous inode as model: root owns it.
  if ((arg & O_NOATIME) != 0 && (f_flags.load(std::memory_order_relaxed) & O_NOATIME) == 0 &&
      geteuid() != 0 && !platform::HasEffectiveCapability(CAP_FOWNER)) {
    return -EPERM;
  }
  if ((arg & O_NDELAY) != 0) arg |= O_NONBLOCK;
  if ((arg & O_DIRECT) != 0 && !AllowsODirect()) return -EINVAL;
  uint32_t old = f_flags.load(std::memory_order_relaxed);
  while (!f_flags.compare_exchange_weak(old, (arg & kSetflMask) | (old & ~kSetflMask),
                                        std::memory_order_relaxed)) {
  }
  return 0;
}

bool SleepPermit::Acquire() {
  if (!in_read_section_) return true;
  if (!FileTryGet(file_)) return false;
  pinned_ = true;
  in_read_section_ = false;
  RcuReadUnlock();
  return true;
}

void SleepPermit::Finish() {
  if (in_read_section_) {
    in_read_section_ = false;
    RcuReadUnlock();
  }
  if (pinned_) {
    pinned_ = false;
    FilePut(file_);
  }
}

bool FileTryGet(File* file) {
  long count = file->f_count.load(std::memory_order_relaxed);
  while (count != 0) {
    if (file->f_count.compare_exchange_weak(count, count + 1, std::memory_order_acquire,
                                            std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

void FilePut(File* file) {
  if (file->f_count.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  // Lock-free lookups may still hold the pointer. Items watching the file go now (an
  // operation that would add one pins the file first, and fails now), so that a wait after
  // the close reports none, as the kernel's fput() does; so does Release() when the file
  // allows it, so that peers see the close at once; the memory waits for a grace period.
  const bool deferred = file->ReleasesUnderReaders();
  if (!deferred) RcuSynchronize();
  {
    std::lock_guard guard(file->f_lock);  // an ADD links its item under it, or sees this
    file->f_released.store(true, std::memory_order_release);
  }
  if (file->f_ep_nonempty.load(std::memory_order_acquire)) EventPollReleaseFile(file);
  file->Release();
  if (deferred) {
    file->DeleteAfterGracePeriod();
  } else {
    FileUnpinMemory(file);
  }
}

void FileUnpinMemory(File* file) {
  if (file->f_mem_refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete file;
}

}  // namespace uep
