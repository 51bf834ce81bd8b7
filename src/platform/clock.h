// Deadlines on CLOCK_MONOTONIC, the clock epoll's timeouts are measured on.
#pragma once

#include <time.h>

#include <cstdint>

namespace uep::platform {

inline timespec MonotonicNow() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts;
}

// Far enough that no wait reaches it; the kernel saturates it to "never".
inline constexpr timespec kNever{INT64_MAX / 4, 0};

inline bool IsNever(const timespec& ts) { return ts.tv_sec >= kNever.tv_sec; }

// now + rel, saturating at kNever (the kernel's timespec64_add_safe).
inline timespec DeadlineAfter(const timespec& rel) {
  timespec now = MonotonicNow();
  if (rel.tv_sec >= kNever.tv_sec - now.tv_sec) return kNever;
  timespec out{now.tv_sec + rel.tv_sec, now.tv_nsec + rel.tv_nsec};
  if (out.tv_nsec >= 1000000000L) {
    out.tv_sec += 1;
    out.tv_nsec -= 1000000000L;
  }
  return out;
}

inline timespec DeadlineAfterMs(long ms) {
  return DeadlineAfter(timespec{ms / 1000, (ms % 1000) * 1000000L});
}

// Time left until `deadline`, zero when it has passed.
inline timespec Remaining(const timespec& deadline) {
  timespec now = MonotonicNow();
  int64_t sec = deadline.tv_sec - now.tv_sec;
  long nsec = deadline.tv_nsec - now.tv_nsec;
  if (nsec < 0) {
    nsec += 1000000000L;
    sec -= 1;
  }
  if (sec < 0) return timespec{0, 0};
  return timespec{sec, nsec};
}

}  // namespace uep::platform
