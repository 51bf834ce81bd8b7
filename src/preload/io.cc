// Interposed descriptor calls: read/write and their vector, fortified and __-prefixed
// forms, close (and close_range/closefrom), dup*, fcntl, ioctl.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>

#include "preload/preload.h"
#include "uepoll/uepoll.h"

using uep::preload::Ours;

extern "C" {

[[noreturn]] void __chk_fail(void);  // glibc's: reports a buffer overflow and aborts

ssize_t read(int fd, void* buf, size_t count) {
  if (Ours(fd)) return UEP_SERVE(uep_read(fd, buf, count));
  UEP_NEXT(read);
  return real(fd, buf, count);
}

ssize_t __read(int fd, void* buf, size_t count) {
  if (Ours(fd)) return UEP_SERVE(uep_read(fd, buf, count));
  UEP_NEXT(__read);
  return real(fd, buf, count);
}

// _FORTIFY_SOURCE's read: the buffer's known size first, as glibc checks it.
ssize_t __read_chk(int fd, void* buf, size_t count, size_t buflen) {
  if (Ours(fd)) {
    if (count > buflen) __chk_fail();
    return UEP_SERVE(uep_read(fd, buf, count));
  }
  UEP_NEXT(__read_chk);
  return real(fd, buf, count, buflen);
}

ssize_t write(int fd, const void* buf, size_t count) {
  if (Ours(fd)) return UEP_SERVE(uep_write(fd, buf, count));
  UEP_NEXT(write);
  return real(fd, buf, count);
}

ssize_t __write(int fd, const void* buf, size_t count) {
  if (Ours(fd)) return UEP_SERVE(uep_write(fd, buf, count));
  UEP_NEXT(__write);
  return real(fd, buf, count);
}

ssize_t readv(int fd, const struct iovec* iov, int iovcnt) {
  if (Ours(fd)) return UEP_SERVE(uep_readv(fd, iov, iovcnt));
  UEP_NEXT(readv);
  return real(fd, iov, iovcnt);
}

ssize_t writev(int fd, const struct iovec* iov, int iovcnt) {
  if (Ours(fd)) return UEP_SERVE(uep_writev(fd, iov, iovcnt));
  UEP_NEXT(writev);
  return real(fd, iov, iovcnt);
}

int close(int fd) {
  if (Ours(fd)) return UEP_SERVE(uep_close(fd));
  UEP_NEXT(close);
  return real(fd);
}

int __close(int fd) {
  if (Ours(fd)) return UEP_SERVE(uep_close(fd));
  UEP_NEXT(__close);
  return real(fd);
}

// The uepoll descriptors of the range first (each releases its placeholder), then the
// kernel's call for the rest. CLOSE_RANGE_CLOEXEC marks them close-on-exec instead. A vfork
// child (core/fork.h) leaves the table, which is its parent's, to the kernel's call alone.
int close_range(unsigned int first, unsigned int last, int flags) {
  // The kernel checks the flags and the range before it touches any descriptor.
  if ((flags & ~(CLOSE_RANGE_CLOEXEC | CLOSE_RANGE_UNSHARE)) != 0 || first > last) {
    errno = EINVAL;
    return -1;
  }
  uep::preload::EnsureInit();
  using uep::capi::NextOpenFd;
  if (first <= last && first <= static_cast<unsigned>(INT32_MAX) &&
      NextOpenFd(static_cast<int>(first)) >= 0 && !uep::capi::InForeignProcess()) {
    for (int fd = NextOpenFd(static_cast<int>(first));
         fd >= 0 && static_cast<unsigned>(fd) <= last; fd = NextOpenFd(fd + 1)) {
      if ((flags & CLOSE_RANGE_CLOEXEC) != 0) {
        uep::capi::SetCloexecFd(fd);
      } else if ((flags & ~CLOSE_RANGE_UNSHARE) == 0) {
        UEP_SERVE(uep_close(fd));
      }
    }
  }
  UEP_NEXT(close_range);
  return real(first, last, flags);
}

void closefrom(int lowfd) {
  close_range(static_cast<unsigned>(lowfd < 0 ? 0 : lowfd), ~0U, 0);
}

int dup(int oldfd) {
  if (Ours(oldfd)) return UEP_SERVE(uep_dup(oldfd));
  UEP_NEXT(dup);
  return uep::preload::DropStale(real(oldfd));
}

// Onto a uepoll descriptor (from either kind): uepoll's, which releases it.
int dup2(int oldfd, int newfd) {
  if (Ours(oldfd) || Ours(newfd)) return UEP_SERVE(uep_dup2(oldfd, newfd));
  UEP_NEXT(dup2);
  return real(oldfd, newfd);
}

int __dup2(int oldfd, int newfd) { return dup2(oldfd, newfd); }

int dup3(int oldfd, int newfd, int flags) {
  if (Ours(oldfd) || Ours(newfd)) return UEP_SERVE(uep_dup3(oldfd, newfd, flags));
  UEP_NEXT(dup3);
  return real(oldfd, newfd, flags);
}

// The argument travels as a word whatever the command (glibc reads it the same way).
int fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  const unsigned long arg = va_arg(ap, unsigned long);
  va_end(ap);
  if (Ours(fd)) return UEP_SERVE(uep_fcntl(fd, cmd, arg));
  UEP_NEXT(fcntl);
  const int r = real(fd, cmd, arg);
  return cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC ? uep::preload::DropStale(r) : r;
}

// glibc's fcntl64 and __fcntl are fcntl itself on 64-bit machines (one address).
static_assert(sizeof(long) == 8, "fcntl64 is a separate function on 32-bit machines");
int fcntl64(int fd, int cmd, ...) __attribute__((alias("fcntl")));
int __fcntl(int fd, int cmd, ...) __attribute__((alias("fcntl")));

int ioctl(int fd, unsigned long request, ...) {
  va_list ap;
  va_start(ap, request);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  if (Ours(fd)) return UEP_SERVE(uep_ioctl(fd, request, arg));
  UEP_NEXT(ioctl);
  return real(fd, request, arg);
}

}  // extern "C"
