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

// `clock`'s time in ns (CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME).
inline int64_t ClockNs(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
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

namespace uep::platform {

// A wait's timeout as the caller gave it. The absolute deadline is read off the clock only
// when the waiter first goes to sleep, so a wait that finds events ready never reads the
// clock; starting the count a little later can only make a timeout longer, never early.
// 16 bytes, so that it travels by value in two registers: a 24-byte one went through the
// stack, and its copies (built with 8-byte stores, reloaded with 16-byte ones) stalled on
// store forwarding in every epoll_wait (perf annotate: the largest cost of wait(0)).
class Timeout {
 public:
  static Timeout Nonblocking() { return Timeout(Kind::kNonblocking, {}); }
  static Timeout Never() { return Timeout(Kind::kForever, {}); }
  static Timeout After(const timespec& rel) { return Timeout(Kind::kRelative, rel); }
  static Timeout AfterMs(long ms) {
    if (ms < 0) return Never();
    if (ms == 0) return Nonblocking();
    return After(timespec{ms / 1000, (ms % 1000) * 1000000L});
  }

  [[nodiscard]] bool nonblocking() const { return kind_ == Kind::kNonblocking; }
  timespec Deadline() {
    if (kind_ == Kind::kRelative) {
      const timespec abs = DeadlineAfter(timespec{sec_, nsec_});
      sec_ = abs.tv_sec;
      nsec_ = static_cast<int32_t>(abs.tv_nsec);
      kind_ = Kind::kAbsolute;
    } else if (kind_ != Kind::kAbsolute) {
      sec_ = kNever.tv_sec;
      nsec_ = 0;
      kind_ = Kind::kAbsolute;
    }
    return timespec{sec_, nsec_};
  }

 private:
  enum class Kind : int32_t { kNonblocking, kForever, kRelative, kAbsolute };
  Timeout(Kind kind, const timespec& value)
      : sec_(value.tv_sec), nsec_(static_cast<int32_t>(value.tv_nsec)), kind_(kind) {}
  int64_t sec_;
  int32_t nsec_;  // tv_nsec, always below 10^9
  Kind kind_;
};
static_assert(sizeof(Timeout) == 16);

}  // namespace uep::platform
