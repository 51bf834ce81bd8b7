// Shared by the C entry points: the errno funnel and descriptor resolution.
#pragma once

#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdint>

#include "core/fd_table.h"
#include "core/file.h"
#include "core/rcu.h"

namespace uep::capi {

// Kernel-style result (>= 0 or -errno) to libc style (-1 and errno).
template <typename T>
inline T Ret(T r) {
  if (r < 0) {
    errno = static_cast<int>(-r);
    return -1;
  }
  return r;
}

inline FdTable& Table() { return FdTable::Get(); }

// access_ok(): the range lies in the user address space. The kernel's end of it (TASK_SIZE)
// depends on the machine (47 or 56 bits on x86-64, up to 52 on arm64); no 64-bit Linux
// has user addresses at or above 2^57, so a range reaching beyond is EFAULT everywhere.
// (NULL passes: the kernel faults on it only when it copies.)
inline bool AccessOk(const void* addr, size_t size) {
  constexpr uintptr_t kUserAddressEnd = uintptr_t{1} << 57;
  return size <= kUserAddressEnd && reinterpret_cast<uintptr_t>(addr) <= kUserAddressEnd - size;
}

// A pointer whose `size` bytes the kernel could not copy, as NULL: the files answer EFAULT
// for NULL at the point where the kernel copies, so the errno order stays the kernel's.
template <typename T>
inline T* UserPtr(T* p, size_t size) {
  return AccessOk(p, size) ? p : nullptr;
}

inline constexpr size_t kMaxRwCount = INT_MAX & ~static_cast<size_t>(4095);  // MAX_RW_COUNT
inline constexpr size_t kUioMaxIov = 1024;                                   // UIO_MAXIOV

// import_iovec() after the caller checked `count` against UIO_MAXIOV (its errno differs:
// EINVAL for readv/writev, EMSGSIZE for a msghdr): every length is checked for sign first,
// then each segment's range, as given when there are several, capped to MAX_RW_COUNT when
// there is one (import_ubuf()); `capped` gets the segments cut to MAX_RW_COUNT in total.
inline ssize_t ImportIovec(const iovec* iov, size_t count, iovec* capped, size_t* total) {
  if (count > 0 && (iov == nullptr || !AccessOk(iov, count * sizeof *iov))) return -EFAULT;
  for (size_t i = 0; i < count; ++i) {
    if (static_cast<ssize_t>(iov[i].iov_len) < 0) return -EINVAL;
  }
  size_t sum = 0;
  for (size_t i = 0; i < count; ++i) {
    const size_t checked = count == 1 ? std::min(iov[i].iov_len, kMaxRwCount) : iov[i].iov_len;
    if (!AccessOk(iov[i].iov_base, checked)) return -EFAULT;
    capped[i] = iov[i];
    if (capped[i].iov_len > kMaxRwCount - sum) capped[i].iov_len = kMaxRwCount - sum;
    sum += capped[i].iov_len;
  }
  *total = sum;
  return 0;
}

// For an operation that may wait for a mutex (no RCU read section does): keeps the
// instance `ep` open (a reference) and the target `tfile`'s memory (FilePinMemory; a
// reference if it does not ReleasesUnderReaders()), then leaves `section`. A target closed
// meanwhile has File::f_released set. False if a close won the race (EBADF).
class FilePin {
 public:
  FilePin(File* ep, RcuReadGuard* section) : FilePin(ep, nullptr, section) {}
  FilePin(File* ep, File* tfile, RcuReadGuard* section) {
    if (FileTryGet(ep)) {
      ep_ = ep;
      if (tfile != nullptr && tfile->ReleasesUnderReaders()) {
        FilePinMemory(tfile);
        tfile_memory_ = tfile;
      } else if (tfile != nullptr && FileTryGet(tfile)) {
        tfile_ = tfile;
      }
    }
    section->Unlock();
    if (ep_ != nullptr && tfile != nullptr && tfile_ == nullptr && tfile_memory_ == nullptr) {
      FilePut(ep_);
      ep_ = nullptr;
    }
  }
  ~FilePin() {
    if (tfile_memory_ != nullptr) FileUnpinMemory(tfile_memory_);
    if (tfile_ != nullptr) FilePut(tfile_);
    if (ep_ != nullptr) FilePut(ep_);
  }
  FilePin(const FilePin&) = delete;
  FilePin& operator=(const FilePin&) = delete;
  explicit operator bool() const { return ep_ != nullptr; }

 private:
  File* ep_ = nullptr;
  File* tfile_ = nullptr;
  File* tfile_memory_ = nullptr;
};

// fd_install() of the two new files of pipe2() or socketpair(), both or neither: on failure
// both references are dropped and no descriptor is left. Fills fds[] (already checked).
inline int InstallPair(File* first, File* second, bool cloexec, int fds[2]) {
  const int fd0 = Table().Install(first, cloexec);
  if (fd0 < 0) {
    FilePut(first);
    FilePut(second);
    return fd0;
  }
  const int fd1 = Table().Install(second, cloexec);
  if (fd1 < 0) {
    FilePut(second);
    if (File* file = Table().Remove(fd0)) FilePut(file);
    return fd1;
  }
  fds[0] = fd0;
  fds[1] = fd1;
  return 0;
}

}  // namespace uep::capi

namespace uep {
// uep_syscall()'s calls on descriptors (capi/syscall.cc): if `n` is one of them and its
// descriptor is uepoll's, serves it and sets *served; else *served is false.
long SyscallOnOurs(long n, const long a[6], bool* served);
}  // namespace uep
