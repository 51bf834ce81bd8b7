// Reads of the kernel's tunables (/proc/sys), for limits uepoll mirrors.
#pragma once

#include <cstdio>

namespace uep::platform {

// The number in /proc/sys/<name> (e.g. "fs/nr_open"), or `fallback` when it cannot be read.
inline long ReadSysctl(const char* name, long fallback) {
  char path[128];
  std::snprintf(path, sizeof path, "/proc/sys/%s", name);
  long v = fallback;
  if (FILE* f = std::fopen(path, "re")) {
    if (std::fscanf(f, "%ld", &v) != 1) v = fallback;
    std::fclose(f);
  }
  return v;
}

}  // namespace uep::platform
