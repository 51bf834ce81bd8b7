// Descriptor calls: close, dup*, fcntl and plain I/O. Kernel descriptors go to the kernel.
#include <fcntl.h>
#include <linux/close_range.h>
#include <limits.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>

#include "capi/capi.h"
#include "core/fork.h"
#include "core/reentry.h"
#include "core/waiter.h"
#include "files/fasync.h"
#include "platform/kernel_fd.h"
#include "uepoll/uepoll.h"

using uep::capi::AccessOk;
using uep::capi::kMaxRwCount;
using uep::capi::kUioMaxIov;
using uep::capi::Ret;
using uep::capi::Table;

namespace uep {
namespace {

// import_iovec(): the checks every vector call makes before it looks at the file.
ssize_t CheckIovec(const iovec* iov, int iovcnt, iovec* capped, size_t* total) {
  if (iovcnt < 0 || static_cast<size_t>(iovcnt) > capi::kUioMaxIov) return -EINVAL;
  return capi::ImportIovec(iov, static_cast<size_t>(iovcnt), capped, total);
}

// vfs_read/vfs_write and vfs_readv/vfs_writev, in their order: FMODE_READ/FMODE_WRITE
// (the access mode, EBADF), then FMODE_CAN_READ/FMODE_CAN_WRITE (EINVAL), then the vector.
ssize_t CheckMode(const File* file, bool is_write) {
  const uint32_t accmode = file->f_flags.load(std::memory_order_relaxed) & O_ACCMODE;
  if (accmode == (is_write ? O_RDONLY : O_WRONLY)) return -EBADF;
  if (is_write ? !file->CanWrite() : !file->CanRead()) return -EINVAL;
  return 0;
}

// One read or write on a uepoll descriptor; `iov` already passed import_iovec()'s checks.
ssize_t DoIo(int fd, const iovec* iov, int iovcnt, size_t total, bool is_write, bool vector) {
  ApiScope api;
  WakeScope wake_scope;
  File* file = capi::LookupInReadSection(fd);
  if (file == nullptr) return -EBADF;
  SleepPermit permit(file);  // owns the read section from here
  if (const ssize_t mode = CheckMode(file, is_write); mode < 0) return mode;
  if (vector && total == 0) return 0;
  if (api.reentrant() && !file->HandlesReentrantIo()) {
    // The file's locks may be held by the call this one interrupted: never wait for them.
    return is_write ? DeferWrite(file, iov, iovcnt, total) : -EAGAIN;
  }
  const int flags = file->Nonblocking() ? kIoNonblock : 0;
  return is_write ? file->Write(iov, iovcnt, flags, &permit)
                  : file->Read(iov, iovcnt, flags, &permit);
}

// A buffer check failed with `error`; the kernel looks up the descriptor (fdget()) and
// checks its mode before that, so those errors win.
ssize_t BufferError(int fd, bool is_write, ssize_t error) {
  RcuReadGuard guard;
  const File* file = Table().Lookup(fd);
  if (file == nullptr) return -EBADF;
  const ssize_t mode = CheckMode(file, is_write);
  return mode < 0 ? mode : error;
}

ssize_t DoIoScalar(int fd, void* buf, size_t count, bool is_write) {
  // vfs_read()/vfs_write() check the whole range, before capping it to MAX_RW_COUNT.
  if (!AccessOk(buf, count)) return BufferError(fd, is_write, -EFAULT);
  const iovec iov{buf, std::min(count, kMaxRwCount)};
  return DoIo(fd, &iov, 1, iov.iov_len, is_write, false);
}

ssize_t DoIoVector(int fd, const iovec* iov, int iovcnt, bool is_write) {
  iovec capped[kUioMaxIov];
  size_t total = 0;
  if (const ssize_t r = CheckIovec(iov, iovcnt, capped, &total); r < 0) {
    return BufferError(fd, is_write, r);
  }
  return DoIo(fd, capped, iovcnt, total, is_write, true);
}

int DoDup(int oldfd, int minfd, bool cloexec) {
  ApiScope api;
  if (api.reentrant()) return -EINTR;  // the table's lock may be the interrupted call's
  File* file = nullptr;
  {
    RcuReadGuard guard;
    file = Table().Lookup(oldfd);
    if (file == nullptr || !FileTryGet(file)) return -EBADF;
  }
  // Placeholder numbering: F_DUPFD of oldfd's placeholder picks the kernel's number.
  const int fd = Table().Install(file, cloexec, minfd, Table().Placeholders() ? oldfd : -1);
  if (fd < 0) FilePut(file);
  return fd;
}

// dup2/dup3 of a kernel descriptor: the kernel's, except that a uepoll descriptor at newfd
// (placeholder numbering) is closed as the kernel closes whatever sat there.
int KernelDup3(int oldfd, int newfd, int flags, bool dup2) {
  if (!Table().Owns(newfd)) {
    return dup2 ? kernel::Dup2(oldfd, newfd) : kernel::Dup3(oldfd, newfd, flags);
  }
  // ksys_dup3() checks the flags before either descriptor.
  if (!dup2 && (flags & ~O_CLOEXEC) != 0) return Ret(-EINVAL);
  ApiScope api;
  if (api.reentrant()) return Ret(-EINTR);
  WakeScope wake_scope;
  File* displaced = nullptr;
  const int r = Table().KernelDupOnto(oldfd, newfd, flags, &displaced);
  if (displaced != nullptr) FilePut(displaced);
  return Ret(r);
}

int DoDup3(int oldfd, int newfd, int flags) {
  ApiScope api;
  if (api.reentrant()) return -EINTR;
  WakeScope wake_scope;
  File* displaced = nullptr;
  const int r = Table().DupTo(oldfd, newfd, (flags & O_CLOEXEC) != 0, &displaced);
  if (displaced != nullptr) FilePut(displaced);
  return r;
}

int DoFcntl(int fd, int cmd, unsigned long arg) {
  switch (cmd) {
    case F_DUPFD:
    case F_DUPFD_CLOEXEC: {
      if (InForeignProcess()) {
        const int r = kernel::Fcntl(fd, cmd, arg);
        return r < 0 ? -errno : r;
      }
      const long from = static_cast<long>(arg);
      // Placeholder numbering: the kernel checks `from` against RLIMIT_NOFILE.
      if (!Table().Placeholders() &&
          (from < 0 || from >= static_cast<long>(Table().Base()) + Table().NofileLimit())) {
        RcuReadGuard guard;
        return Table().Lookup(fd) == nullptr ? -EBADF : -EINVAL;
      }
      return DoDup(fd, static_cast<int>(from), cmd == F_DUPFD_CLOEXEC);
    }
    case F_GETFD: {
      const int r = Table().GetCloexec(fd);
      return r < 0 ? r : (r != 0 ? FD_CLOEXEC : 0);
    }
    case F_SETFD: {
      ApiScope api;
      if (api.reentrant()) return -EINTR;
      return Table().SetCloexec(fd, (arg & FD_CLOEXEC) != 0);
    }
    default:
      break;
  }
  RcuReadGuard guard;
  File* file = Table().Lookup(fd);
  if (file == nullptr) return -EBADF;
  switch (cmd) {
    case F_GETFL:
      return static_cast<int>(file->f_flags.load(std::memory_order_relaxed));
    case F_SETFL: {
      // setfl(): ->fasync sets or clears FASYNC (O_ASYNC) once the other checks passed,
      // where the file has one; elsewhere O_ASYNC is outside SETFL_MASK and ignored.
      const uint32_t flags = static_cast<uint32_t>(arg);
      const bool toggle = ((flags ^ file->f_flags.load(std::memory_order_relaxed)) & O_ASYNC) != 0;
      const int r = file->SetFlags(flags);
      if (r == 0 && toggle && file->HasFasync()) FasyncSet(file, fd, (flags & O_ASYNC) != 0);
      return r;
    }
    default:
      if (const long r = OwnerFcntl(file, cmd, arg); r != 1) return static_cast<int>(r);
      return file->Fcntl(cmd, arg);  // F_GETPIPE_SZ/F_SETPIPE_SZ ...; -EINVAL if unknown
  }
}

}  // namespace
}  // namespace uep

extern "C" {

ssize_t uep_read(int fd, void* buf, size_t count) {
  return uep::capi::ServeIo(
      fd, [&] { return uep::kernel::Read(fd, buf, count); },
      [&] { return uep::DoIoScalar(fd, buf, count, false); });
}

ssize_t uep_write(int fd, const void* buf, size_t count) {
  return uep::capi::ServeIo(
      fd, [&] { return uep::kernel::Write(fd, buf, count); },
      [&] { return uep::DoIoScalar(fd, const_cast<void*>(buf), count, true); });
}

ssize_t uep_readv(int fd, const struct iovec* iov, int iovcnt) {
  return uep::capi::ServeIo(
      fd, [&] { return uep::kernel::Readv(fd, iov, iovcnt); },
      [&] { return uep::DoIoVector(fd, iov, iovcnt, false); });
}

ssize_t uep_writev(int fd, const struct iovec* iov, int iovcnt) {
  return uep::capi::ServeIo(
      fd, [&] { return uep::kernel::Writev(fd, iov, iovcnt); },
      [&] { return uep::DoIoVector(fd, iov, iovcnt, true); });
}

// A vfork child (core/fork.h) shares the parent's table: what it closes or duplicates is
// only the kernel's descriptor on that number (the placeholder), never the parent's entry.
int uep_close(int fd) {
  if (!Table().Owns(fd) || uep::InForeignProcess()) return uep::kernel::Close(fd);
  uep::ApiScope api;
  // Closed on the interrupted call's way out: the table's lock may be that call's.
  if (api.reentrant()) return Ret(uep::DeferClose(fd));
  uep::WakeScope wake_scope;
  uep::File* file = Table().Remove(fd);
  if (file == nullptr) return Ret(-EBADF);
  uep::FilePut(file);
  return 0;
}

// close_range(2): the flags first (EINVAL, nothing done), then first > last (EINVAL);
// the uepoll descriptors of the range are closed (CLOSE_RANGE_CLOEXEC: marked), then the
// kernel's call does the rest. CLOSE_RANGE_UNSHARE changes nothing for this process's
// view: the table is its own.
int uep_close_range(unsigned int first, unsigned int last, int flags) {
  constexpr int kKnownFlags = CLOSE_RANGE_CLOEXEC | CLOSE_RANGE_UNSHARE;
  if ((flags & ~kKnownFlags) != 0 || first > last) return Ret(-EINVAL);
  // A vfork child (core/fork.h): only its kernel descriptors, never the parent's table.
  if (uep::InForeignProcess()) return static_cast<int>(syscall(SYS_close_range, first, last, flags));
  uep::ApiScope api;
  // Marking close-on-exec takes the table's lock, which the interrupted call may hold.
  if (api.reentrant() && (flags & CLOSE_RANGE_CLOEXEC) != 0) return Ret(-EINTR);
  uep::FdTable& table = Table();
  if (first <= static_cast<unsigned>(INT32_MAX)) {
    for (int fd = table.NextOpen(static_cast<int>(first));
         fd >= 0 && static_cast<unsigned>(fd) <= last; fd = table.NextOpen(fd + 1)) {
      if ((flags & CLOSE_RANGE_CLOEXEC) != 0) {
        table.SetCloexec(fd, true);
      } else {
        uep_close(fd);
      }
    }
  }
  // High numbering: the kernel's part ends below the first uepoll number.
  if (!table.Placeholders() && last >= static_cast<unsigned>(table.Base())) {
    if (first >= static_cast<unsigned>(table.Base())) return 0;
    last = static_cast<unsigned>(table.Base()) - 1;
  }
  return static_cast<int>(syscall(SYS_close_range, first, last, flags));
}

void uep_closefrom(int lowfd) { uep_close_range(static_cast<unsigned>(lowfd < 0 ? 0 : lowfd), ~0U, 0); }

int uep_dup(int oldfd) {
  if (!Table().Owns(oldfd) || uep::InForeignProcess()) return uep::kernel::Dup(oldfd);
  return Ret(uep::DoDup(oldfd, 0, false));
}

int uep_dup2(int oldfd, int newfd) {
  if ((Table().Owns(oldfd) || Table().Owns(newfd)) && uep::InForeignProcess()) {
    return uep::kernel::Dup2(oldfd, newfd);
  }
  if (!Table().Owns(oldfd)) return uep::KernelDup3(oldfd, newfd, 0, true);
  if (oldfd == newfd) {
    uep::RcuReadGuard guard;
    return Table().Lookup(oldfd) != nullptr ? newfd : Ret(-EBADF);
  }
  return Ret(uep::DoDup3(oldfd, newfd, 0));
}

int uep_dup3(int oldfd, int newfd, int flags) {
  if ((Table().Owns(oldfd) || Table().Owns(newfd)) && uep::InForeignProcess()) {
    return uep::kernel::Dup3(oldfd, newfd, flags);
  }
  if (!Table().Owns(oldfd)) return uep::KernelDup3(oldfd, newfd, flags, false);
  if ((flags & ~O_CLOEXEC) != 0 || oldfd == newfd) return Ret(-EINVAL);
  return Ret(uep::DoDup3(oldfd, newfd, flags));
}

int uep_fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  const unsigned long arg = va_arg(ap, unsigned long);
  va_end(ap);
  if (cmd == F_GETOWN) {
    // A process group is a negative owner, which a system call's return cannot tell from
    // an error: glibc asks F_GETOWN_EX instead, and so do we.
    f_owner_ex ex{};
    const int r = Table().Owns(fd) ? uep::DoFcntl(fd, F_GETOWN_EX, reinterpret_cast<unsigned long>(&ex))
                                   : (uep::kernel::Fcntl(fd, F_GETOWN_EX, reinterpret_cast<unsigned long>(&ex)) < 0
                                          ? -errno
                                          : 0);
    if (r < 0) return Ret(r);
    return ex.type == F_OWNER_PGRP ? -ex.pid : ex.pid;
  }
  if (!Table().Owns(fd)) return uep::kernel::Fcntl(fd, cmd, arg);
  return Ret(uep::DoFcntl(fd, cmd, arg));
}

int uep_set_numbering(int numbering) {
  if (numbering != UEP_NUMBERING_HIGH && numbering != UEP_NUMBERING_KERNEL) return Ret(-EINVAL);
  const auto choice = numbering == UEP_NUMBERING_KERNEL ? uep::FdTable::Numbering::kPlaceholder
                                                        : uep::FdTable::Numbering::kHigh;
  return uep::FdTable::SetNumbering(choice) ? 0 : Ret(-EBUSY);
}

int uep_fd_base(void) { return Table().Base(); }

int uep_set_nofile_limit(int limit) { return Ret(Table().SetNofileLimit(limit)); }

int uep_get_nofile_limit(void) { return Table().NofileLimit(); }

int uep_is_uepoll_fd(int fd) {
  uep::RcuReadGuard guard;
  return Table().Lookup(fd) != nullptr ? 1 : 0;
}

}  // extern "C"
