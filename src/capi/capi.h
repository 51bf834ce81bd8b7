// Shared by the C entry points: the errno funnel and descriptor resolution.
#pragma once

#include <cerrno>

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

}  // namespace uep::capi
