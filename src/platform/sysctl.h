// The sysctls uepoll follows, read from /proc/sys.
#pragma once

#include <cstdio>

namespace uep::platform {

// The number in `path` (a /proc/sys file), or `fallback` when it cannot be read.
inline long ReadSysctl(const char* path, long fallback) {
  long v = fallback;
  if (FILE* f = std::fopen(path, "re")) {
    if (std::fscanf(f, "%ld", &v) != 1) v = fallback;
    std::fclose(f);
  }
  return v;
}

}  // namespace uep::platform
