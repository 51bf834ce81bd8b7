// The preload library (libuepoll-preload.so): interposes the libc calls that uepoll serves,
// so an unmodified dynamically linked program gets uepoll's epoll instances, eventfds,
// pipes, socket pairs and timers (docs/compatibility.md). Descriptors use kernel
// numbering (UEP_NUMBERING_KERNEL): as small as the kernel's.
//
// Each interposer asks whether the descriptor is uepoll's; if not, the call goes to the
// next definition of the same name (dlsym(RTLD_NEXT): libc, or another interposer), so
// kernel descriptors keep everything libc gives them (cancellation points, fortify
// checks). Creation calls go to uepoll for the kinds UEPOLL_PRELOAD selects.
#pragma once

#include <dlfcn.h>
#include <sys/socket.h>

#include "capi/preload_support.h"

namespace uep::preload {

// What UEPOLL_PRELOAD selects (comma-separated names, or `all` / `none`). The default,
// kDefaultKinds, leaves pipes and socket pairs to the kernel: programs hand those to
// child processes (shells' pipelines and $(...), subprocess modules), where a uepoll one
// cannot follow (docs/compatibility.md).
enum Kind : unsigned {
  kEpoll = 1U << 0,
  kEventfd = 1U << 1,
  kPipe = 1U << 2,
  kSocketpair = 1U << 3,
  kTimerfd = 1U << 4,
  kAllKinds = (1U << 5) - 1,
  kDefaultKinds = kEpoll | kEventfd | kTimerfd,
};

// Set by Init(): placeholder numbering, the kinds, tracing (UEPOLL_TRACE_OUT).
extern bool g_ready;
extern unsigned g_kinds;
void Init();

inline void EnsureInit() {
  if (__builtin_expect(!__atomic_load_n(&g_ready, __ATOMIC_ACQUIRE), 0)) Init();
}

// Depth of uepoll calls made on the program's behalf on this thread. A libc call made
// meanwhile — by uepoll's own code, or by a sanitizer runtime that probes memory with
// pipe() — must get a kernel descriptor, never a uepoll one.
inline thread_local int tls_serving __attribute__((tls_model("initial-exec"))) = 0;
struct Serving {
  Serving() { ++tls_serving; }
  ~Serving() { --tls_serving; }
  Serving(const Serving&) = delete;
  Serving& operator=(const Serving&) = delete;
};

// Whether uepoll makes descriptors of this kind (for the program, not for itself). Never
// in a vfork child: it would add to its parent's table; a kernel descriptor is what the
// program it execs can use.
inline bool Takes(Kind kind) {
  EnsureInit();
  return (g_kinds & kind) != 0 && tls_serving == 0 && !capi::InForeignProcess();
}

// Whether `fd` is an open uepoll descriptor.
inline bool Ours(int fd) {
  EnsureInit();
  return capi::OwnsFd(fd);
}

// The kernel just handed out `fd` (open, socket, accept, a kernel dup ...). If the table
// still holds that number, the placeholder behind it was closed behind uepoll's back (a
// raw system call, a close uepoll cannot see): the entry is stale, and is dropped so that
// the new kernel descriptor is never served by the dead uepoll file. Not in a vfork child
// (another process that shares this memory: the table is its parent's). Returns fd.
int DropStale(int fd);
// Records this process as the table's owner (at start-up and in a fork child).
void SetTableOwner();
// DropStale for every descriptor an SCM_RIGHTS message handed out.
void DropStaleRights(const struct msghdr* msg);

// What a uepoll descriptor is, as fstat and lseek tell kinds apart: sockets, pipes, and
// anonymous-inode files (eventfd, epoll, timerfd).
enum class FileKind { kSocket, kPipe, kAnonymous };
FileKind KindOf(int fd);

// The next definition of `name` (libc's); resolved once, on first use.
void* NextSymbol(const char* name);

}  // namespace uep::preload

// `return UEP_SERVE(uep_read(fd, buf, n));`: the uepoll call, marked as serving.
#define UEP_SERVE(call) (::uep::preload::Serving(), (call))

// Inside an interposer of `name`: `real` is the next definition, with the same type.
#define UEP_NEXT(name) \
  static const auto real = reinterpret_cast<decltype(&::name)>(::uep::preload::NextSymbol(#name))
