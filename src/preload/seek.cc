// Interposed lseek, pread and pwrite: none of uepoll's files has a position. The kernel's
// answers: lseek on a pipe or socket is ESPIPE (no_llseek), on eventfd/epoll/timerfd it
// returns 0 (noop_llseek), after the whence check (EINVAL beyond SEEK_MAX); pread and
// pwrite check the offset (EINVAL if negative), then find no FMODE_PREAD/PWRITE: ESPIPE.
#include <unistd.h>

#include <cerrno>

#include "preload/preload.h"

using uep::preload::Ours;

namespace {

constexpr int kSeekMax = SEEK_HOLE;

off_t SeekOurs(int whence) {
  if (whence < 0 || whence > kSeekMax) {
    errno = EINVAL;
    return -1;
  }
  return 0;
}

ssize_t PositionedIo(off_t offset) {
  errno = offset < 0 ? EINVAL : ESPIPE;
  return -1;
}

}  // namespace

extern "C" {

off_t lseek(int fd, off_t offset, int whence) {
  if (Ours(fd)) {
    if (whence >= 0 && whence <= kSeekMax && UEP_SERVE(uep::preload::KindOf(fd)) != uep::preload::FileKind::kAnonymous) {
      errno = ESPIPE;
      return -1;
    }
    return SeekOurs(whence);
  }
  UEP_NEXT(lseek);
  return real(fd, offset, whence);
}

off64_t lseek64(int fd, off64_t offset, int whence) { return lseek(fd, offset, whence); }

ssize_t pread(int fd, void* buf, size_t count, off_t offset) {
  if (Ours(fd)) return PositionedIo(offset);
  UEP_NEXT(pread);
  return real(fd, buf, count, offset);
}

ssize_t pread64(int fd, void* buf, size_t count, off64_t offset) { return pread(fd, buf, count, offset); }

ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset) {
  if (Ours(fd)) return PositionedIo(offset);
  UEP_NEXT(pwrite);
  return real(fd, buf, count, offset);
}

ssize_t pwrite64(int fd, const void* buf, size_t count, off64_t offset) {
  return pwrite(fd, buf, count, offset);
}

}  // extern "C"
