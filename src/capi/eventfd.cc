#include <sys/eventfd.h>

#include <new>

#include "capi/capi.h"
#include "core/reentry.h"
#include "files/eventfd.h"
#include "platform/fault.h"
#include "uepoll/uepoll.h"

using uep::capi::Ret;
using uep::capi::Table;

extern "C" {

int uep_eventfd(unsigned int initval, int flags) {
  if ((flags & ~(EFD_SEMAPHORE | EFD_CLOEXEC | EFD_NONBLOCK)) != 0) return Ret(-EINVAL);
  uep::ApiScope api;
  if (api.reentrant()) return Ret(-EINTR);  // see docs/semantics.md: signal handlers
  auto* file = uep::TryNew<uep::EventFd>(initval, flags);
  if (file == nullptr) return Ret(-ENOMEM);
  const int fd = Table().Install(file, (flags & EFD_CLOEXEC) != 0);
  if (fd < 0) delete file;  // never published
  return Ret(fd);
}

// glibc's eventfd_read/eventfd_write: an 8-byte read/write that must be whole.
int uep_eventfd_read(int fd, eventfd_t* value) {
  return uep_read(fd, value, sizeof(eventfd_t)) != sizeof(eventfd_t) ? -1 : 0;
}

int uep_eventfd_write(int fd, eventfd_t value) {
  return uep_write(fd, &value, sizeof(eventfd_t)) != sizeof(eventfd_t) ? -1 : 0;
}

}  // extern "C"
