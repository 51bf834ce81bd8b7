// What the preload library (src/preload) needs beyond the public C API: the one internal
// interface it may include (cmake/parts.cmake). Everything here is hidden: libuepoll.so
// does not export it, and the preload library exports only the libc names it interposes.
// Defined in capi/preload_support.cc over the descriptor table, fork handling and trace.
#pragma once

#include <cstdarg>

namespace uep::capi {

// Whether `fd` is an open uepoll descriptor: the table's slot, no RCU section (the check
// every interposer makes first).
[[gnu::visibility("hidden")]] bool OwnsFd(int fd);
// Drops the table's entry at `fd`, a placeholder closed behind uepoll's back (a raw close),
// and with it the table's reference to the dead file; the wake-ups it causes are deferred
// to the end of the call (WakeScope).
[[gnu::visibility("hidden")]] void ForgetStaleFd(int fd);
// The first open uepoll descriptor at or above `fd`, or -1 (close_range's walk).
[[gnu::visibility("hidden")]] int NextOpenFd(int fd);
// Marks `fd` close-on-exec, as the table does for F_SETFD (close_range's CLOSE_RANGE_CLOEXEC).
[[gnu::visibility("hidden")]] int SetCloexecFd(int fd);

// A vfork or CLONE_VM child, which must leave its parent's table alone (core/fork.h).
[[gnu::visibility("hidden")]] bool InForeignProcess();
// A raw vfork or CLONE_VM clone is about to make such a child.
[[gnu::visibility("hidden")]] void NoteSharedMemoryChild();
// uep_clone() with its optional arguments in `ap` (the interposed clone is variadic too).
[[gnu::visibility("hidden")]] int CloneV(int (*fn)(void*), void* stack, int flags, void* arg,
                                         va_list ap);

// Names the calling thread in the trace (uep_trace_start() starts it).
[[gnu::visibility("hidden")]] void SetTraceThreadName(const char* static_name);

}  // namespace uep::capi

namespace uep {
// uep_syscall()'s calls on descriptors (capi/syscall.cc): if `n` is one of them and its
// descriptor is uepoll's, serves it and sets *served; else *served is false.
long SyscallOnOurs(long n, const long a[6], bool* served);
}  // namespace uep
