// Timer settings for tests: relative times in nanoseconds.
#pragma once

#include <time.h>

namespace uep::test {

// it_value `ns` from now (relative), then every `interval_ns` (0: one-shot).
inline itimerspec Rel(long ns, long interval_ns = 0) {
  itimerspec its{};
  its.it_value.tv_sec = ns / 1000000000;
  its.it_value.tv_nsec = ns % 1000000000;
  its.it_interval.tv_sec = interval_ns / 1000000000;
  its.it_interval.tv_nsec = interval_ns % 1000000000;
  return its;
}

}  // namespace uep::test
