// Shared by the C entry points: the errno funnel and descriptor resolution.
#pragma once

#include <cerrno>
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

}  // namespace uep::capi
