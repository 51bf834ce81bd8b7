// capi/preload_support.h over the descriptor table, fork handling and the trace.
#include "capi/preload_support.h"

#include "core/fd_table.h"
#include "core/file.h"
#include "core/fork.h"
#include "core/waiter.h"
#include "trace/record.h"

namespace uep::capi {

bool OwnsFd(int fd) { return FdTable::Get().Owns(fd); }

void ForgetStaleFd(int fd) {
  WakeScope wake_scope;
  if (File* file = FdTable::Get().ForgetStale(fd)) FilePut(file);
}

int NextOpenFd(int fd) { return FdTable::Get().NextOpen(fd); }

int SetCloexecFd(int fd) { return FdTable::Get().SetCloexec(fd, true); }

bool InForeignProcess() { return uep::InForeignProcess(); }

void NoteSharedMemoryChild() { uep::NoteSharedMemoryChild(); }

int CloneV(int (*fn)(void*), void* stack, int flags, void* arg, va_list ap) {
  return uep::CloneV(fn, stack, flags, arg, ap);
}

void SetTraceThreadName(const char* static_name) { trace::SetThreadName(static_name); }

}  // namespace uep::capi
