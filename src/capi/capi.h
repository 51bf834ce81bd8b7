// Shared by the C entry points: the errno funnel and descriptor resolution.
#pragma once

#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdint>

#include "core/fd_table.h"
#include "core/file.h"
#include "core/rcu.h"
#include "files/kernel_convert.h"

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

// fdget() for a call that may sleep: the file at `fd` inside an RCU read section, which the
// caller's SleepPermit then owns; nullptr (EBADF) outside one.
inline File* LookupInReadSection(int fd) {
  RcuReadLock();
  File* file = Table().Lookup(fd);
  if (file == nullptr) RcuReadUnlock();
  return file;
}

// An I/O call: `kernel()` for a kernel descriptor (libc style), else `op()` (a count or
// -errno). A pipe or socket pair that became a kernel object meanwhile (before fork:
// files/kernel_convert.h) answers -kEConverted without doing anything, or EBADF if the
// number was taken over between the check and the lookup; once the conversion is over the
// call is made again, by the kernel now. A number still uepoll's then was made for the
// frozen file during the conversion (a racing dup): EBADF.
template <typename Kernel, typename Op>
inline ssize_t ServeIo(int fd, Kernel&& kernel, Op&& op) {
  const uint64_t seq = ConversionGeneration();  // before the check: see EBADF above
  if (!Table().Owns(fd)) return kernel();
  ssize_t r = op();
  if (r != -kEConverted && (r != -EBADF || ((seq & 1) == 0 && ConversionGeneration() == seq)))
      [[likely]] {
    return Ret(r);
  }
  WaitForConversions();
  if (!Table().Owns(fd)) return kernel();
  if (r == -EBADF) return Ret(r);
  r = op();
  return Ret(r == -kEConverted ? ssize_t{-EBADF} : r);
}

// TASK_SIZE_MAX, the end of the user address space that access_ok() checks ranges against.
// On x86-64 it is 2^47 - 4096 with 4-level paging and 2^56 - 4096 with 5-level paging,
// whether or not the process maps anything above 2^47; found once by asking for a page at
// 2^47, which only 5-level paging can give. Elsewhere 2^57, above any 64-bit Linux's user
// space (ranges below it that the kernel refuses are not detected there).
inline uintptr_t ProbeUserAddressEnd() {
#if defined(__x86_64__)
  const int saved_errno = errno;
  const uintptr_t want = uintptr_t{1} << 47;
  // Every argument a long: syscall() reads them so, the last one from the stack.
  const long got =
      syscall(SYS_mmap, want, 4096L, long{PROT_NONE},
              long{MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE}, -1L, 0L);
  // A kernel without MAP_FIXED_NOREPLACE takes the address as a hint and may map elsewhere.
  if (got != -1) syscall(SYS_munmap, got, 4096L);
  errno = saved_errno;
  return (uintptr_t{1} << (static_cast<uintptr_t>(got) == want ? 56 : 47)) - 4096;
#else
  return uintptr_t{1} << 57;
#endif
}

inline std::atomic<uintptr_t> user_address_end{0};  // 0 until probed (racy but idempotent)

inline uintptr_t UserAddressEnd() {
  uintptr_t end = user_address_end.load(std::memory_order_relaxed);
  if (end == 0) {
    end = ProbeUserAddressEnd();
    user_address_end.store(end, std::memory_order_relaxed);
  }
  return end;
}

// access_ok(): the range ends at or below TASK_SIZE_MAX, as the running kernel checks it.
// (NULL passes: the kernel faults on it only when it copies.)
inline bool AccessOk(const void* addr, size_t size) {
  const uintptr_t end = UserAddressEnd();
  return size <= end && reinterpret_cast<uintptr_t>(addr) <= end - size;
}

// The page of the last signal mask this thread's kernel copy succeeded on (1: none yet,
// never a page address).
inline constinit thread_local uintptr_t tls_sigmask_page
    __attribute__((tls_model("initial-exec"))) = 1;

// set_user_sigmask(): the kernel copies the caller's mask (8 bytes) before anything else, so
// an unreadable one is EFAULT even when events are ready and nothing would sleep. uepoll
// cannot read it itself without risking SIGSEGV: the kernel copies it for us
// (process_vm_readv on ourselves) once per page, then the page is taken as readable (a
// mask on a page unmapped since faults instead). 0 or -EFAULT.
inline int CheckSigmask(const sigset_t* sigmask) {
  if (!AccessOk(sigmask, sizeof(uint64_t))) return -EFAULT;
  const auto addr = reinterpret_cast<uintptr_t>(sigmask);
  const uintptr_t page = addr & ~uintptr_t{4095};
  const uintptr_t last_page = (addr + sizeof(uint64_t) - 1) & ~uintptr_t{4095};
  if (page == tls_sigmask_page && last_page == page) return 0;
  const int saved_errno = errno;
  uint64_t copy = 0;
  iovec local{&copy, sizeof copy};
  iovec remote{const_cast<sigset_t*>(sigmask), sizeof copy};
  const long n = syscall(SYS_process_vm_readv, long{getpid()}, &local, 1L, &remote, 1L, 0UL);
  const int error = errno;
  errno = saved_errno;
  if (n == static_cast<long>(sizeof copy)) {
    tls_sigmask_page = page;
    return 0;
  }
  // Refused (a seccomp filter, ENOSYS): cannot tell; the sleep's system call still checks.
  return n < 0 && error == EFAULT ? -EFAULT : 0;
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
