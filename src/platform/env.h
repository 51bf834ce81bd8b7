// The UEPOLL_* environment variables: a value that is not used is said on stderr, as the
// preload library says an unknown kind, never ignored silently.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "platform/kernel_fd.h"

namespace uep::platform {

// "uepoll: NAME=VALUE WHAT" on stderr, with a raw write: it may run while the descriptor
// table is being made inside an interposed call of the preload library.
inline void ReportIgnoredEnv(const char* name, const char* value, const char* what) {
  char line[256];
  const int n = std::snprintf(line, sizeof line, "uepoll: %s=%s %s\n", name, value, what);
  if (n > 0) {
    [[maybe_unused]] ssize_t w =
        kernel::Write(2, line, std::min<size_t>(static_cast<size_t>(n), sizeof line - 1));
  }
}

// A whole decimal number >= `min` from `value`; false when it is anything else. errno is
// left as it was (this runs inside calls that may succeed).
inline bool ParseEnvNumber(const char* value, long min, long* out) {
  const int saved_errno = errno;
  errno = 0;
  char* end = nullptr;
  const long v = std::strtol(value, &end, 10);
  const bool ok = end != value && *end == '\0' && errno == 0 && v >= min;
  errno = saved_errno;
  if (ok) *out = v;
  return ok;
}

}  // namespace uep::platform
