// pipe(2), pipe2(2) and ioctl(2).
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdarg>
#include <cstring>
#include <new>

#include "capi/capi.h"
#include "core/reentry.h"
#include "files/fasync.h"
#include "files/pipe.h"
#include "platform/fault.h"
#include "uepoll/uepoll.h"

using uep::capi::AccessOk;
using uep::capi::Ret;
using uep::capi::Table;
using uep::capi::UserPtr;

namespace uep {
namespace {

constexpr int kNotificationPipe = O_EXCL;  // O_NOTIFICATION_PIPE (linux/watch_queue.h)

// do_pipe2(): flags first, then the pipe, then the two descriptors, then the copy-out.
int DoPipe2(int* pipefd, int flags) {
  ApiScope api;
  if (api.reentrant()) return -EINTR;  // see docs/semantics.md: signal handlers
  if ((flags & ~(O_CLOEXEC | O_NONBLOCK | O_DIRECT | kNotificationPipe)) != 0) return -EINVAL;
  // watch_queue_init() of a kernel without CONFIG_WATCH_QUEUE, like the oracle's.
  if ((flags & kNotificationPipe) != 0) return -ENOPKG;
  // The copy-out fails last in the kernel; only running out of memory or descriptors
  // would have won over it.
  if (pipefd == nullptr || !AccessOk(pipefd, 2 * sizeof(int))) return -EFAULT;
  PipeInode* pipe = PipeInode::Create();
  if (pipe == nullptr) return -ENFILE;
  const auto nonblock = static_cast<uint32_t>(flags & O_NONBLOCK);
  // O_DIRECT (packet mode) is a property of the write end only.
  auto* reader = TryNew<PipeFile>(pipe, O_RDONLY | nonblock);
  auto* writer =
      TryNew<PipeFile>(pipe, O_WRONLY | nonblock | static_cast<uint32_t>(flags & O_DIRECT));
  if (reader == nullptr || writer == nullptr) {
    // Never published: tear down by hand (each end holds one of the pipe's references).
    if (reader != nullptr) {
      reader->Release();
      delete reader;
    } else {
      pipe->Put();
    }
    if (writer != nullptr) {
      writer->Release();
      delete writer;
    } else {
      pipe->Put();
    }
    return -ENOMEM;
  }
  if (pipefd == nullptr) {
    FilePut(reader);
    FilePut(writer);
    return -EFAULT;
  }
  return capi::InstallPair(reader, writer, (flags & O_CLOEXEC) != 0, pipefd);
}

// do_vfs_ioctl() for the generic requests, then the file's own.
int DoIoctl(int fd, unsigned long request, void* arg) {
  ApiScope api;
  if (api.reentrant()) return -EINTR;  // see docs/semantics.md: signal handlers
  switch (request) {
    case FIOCLEX:
    case FIONCLEX:
      return Table().SetCloexec(fd, request == FIOCLEX);
    default:
      break;
  }
  RcuReadGuard guard;
  File* file = Table().Lookup(fd);
  if (file == nullptr) return -EBADF;
  if (request == FIONBIO) {  // ioctl_fionbio()
    if (arg == nullptr) return -EFAULT;
    int on = 0;
    std::memcpy(&on, arg, sizeof on);
    uint32_t old = file->f_flags.load(std::memory_order_relaxed);
    uint32_t want = 0;
    do {
      want = on != 0 ? (old | O_NONBLOCK) : (old & ~static_cast<uint32_t>(O_NONBLOCK));
    } while (!file->f_flags.compare_exchange_weak(old, want, std::memory_order_relaxed));
    return 0;
  }
  if (request == FIOASYNC) {  // ioctl_fioasync()
    if (arg == nullptr) return -EFAULT;
    int on = 0;
    std::memcpy(&on, arg, sizeof on);
    const uint32_t flag = on != 0 ? O_ASYNC : 0;
    if (((flag ^ file->f_flags.load(std::memory_order_relaxed)) & O_ASYNC) == 0) return 0;
    if (!file->HasFasync()) return -ENOTTY;
    FasyncSet(file, fd, on != 0);
    return 0;
  }
  // ep_eventpoll_ioctl(): an instance answers EINVAL to every other request (the busy-poll
  // parameters EPIOCSPARAMS/EPIOCGPARAMS are not provided).
  if (file->IsEventPoll()) return -EINVAL;
  return file->Ioctl(request, arg);
}

}  // namespace
}  // namespace uep

extern "C" {

int uep_pipe(int pipefd[2]) { return Ret(uep::DoPipe2(pipefd, 0)); }

int uep_pipe2(int pipefd[2], int flags) { return Ret(uep::DoPipe2(pipefd, flags)); }

int uep_ioctl(int fd, unsigned long request, ...) {
  va_list ap;
  va_start(ap, request);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  if (!Table().Owns(fd)) return static_cast<int>(syscall(SYS_ioctl, fd, request, arg));
  // The kernel's ioctl takes the request as an unsigned int. Every request served copies
  // at most 8 bytes.
  return Ret(uep::DoIoctl(fd, static_cast<unsigned int>(request), UserPtr(arg, 8)));
}

}  // extern "C"
