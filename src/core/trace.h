// Trace points: make epoll's path visible (registration, a file's wake-up, the callback's
// decision, a waiter's sleep and wake-up, the transfer, nested wake-ups).
//
// Always compiled in. Off by default: each point costs one relaxed load of a global flag and
// a predictable branch; the arguments are evaluated only when tracing is on. When on, a
// record goes into a preallocated buffer (one atomic fetch_add to claim a slot, a release
// store to publish it): no lock, no allocation, no system call other than clock_gettime's
// vDSO read, so points may sit in wait-queue functions that run under spin locks.
// The buffer is a ring: a trace keeps the last `capacity` records; the earlier ones (and the
// rare record whose slot another writer held) are counted as dropped.
// This is the writing side; trace/record.h is the format the reader sees.
#pragma once

#include <atomic>
#include <cstdint>

#include "trace/record.h"  // the format and the reader's calls

namespace uep::trace {

extern std::atomic<bool> g_enabled;

inline bool On() { return __builtin_expect(g_enabled.load(std::memory_order_relaxed), 0); }

[[gnu::cold, gnu::noinline]] void Emit(Kind kind, const void* a, const void* b, const void* c,
                                       const void* d, uint32_t x, uint32_t y,
                                       const char* tag = nullptr);

// Simplified type name of a file (eventfd, pipe, epoll, socket, timerfd ...), static storage.
const char* TypeName(const char* mangled);

}  // namespace uep::trace

// One line per trace point: UEP_TRACE(kWake, nullptr, wq, nullptr, nullptr, key, nr).
// Built with UEPOLL_TRACE_POINTS=0 the points vanish: scripts/trace_overhead.sh compares
// such a build with the normal one, to show what they cost while tracing is off.
#ifndef UEPOLL_TRACE_POINTS
#define UEPOLL_TRACE_POINTS 1
#endif
#if UEPOLL_TRACE_POINTS
#define UEP_TRACE(kind, ...)                                                 \
  do {                                                                       \
    if (::uep::trace::On()) ::uep::trace::Emit(::uep::trace::Kind::kind, __VA_ARGS__); \
  } while (0)
#else
#define UEP_TRACE(kind, ...) \
  do {                       \
  } while (0)
#endif
