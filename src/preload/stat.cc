// Interposed fstat: the file type and mode the kernel reports for each kind (pipes
// S_IFIFO 0600, sockets S_IFSOCK 0777, eventfd/epoll/timerfd anonymous inodes 0600 with
// no type bits), so that code which tells descriptors apart with fstat (libuv's
// uv_guess_handle, Python's os.fstat checks) sees the right kind. Device, inode number and
// times are zero: uepoll files have none.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "preload/preload.h"
#include "uepoll/uepoll.h"

using uep::preload::Ours;

namespace uep::preload {

FileKind KindOf(int fd) {
  int type = 0;
  socklen_t len = sizeof type;
  if (uep_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0) return FileKind::kSocket;
  if (uep_fcntl(fd, F_GETPIPE_SZ) >= 0) return FileKind::kPipe;
  return FileKind::kAnonymous;
}

}  // namespace uep::preload

namespace {

template <typename Stat>
int StatOurs(int fd, Stat* st) {
  if (st == nullptr) {
    errno = EFAULT;
    return -1;
  }
  mode_t mode = 0600;
  switch (uep::preload::KindOf(fd)) {
    case uep::preload::FileKind::kSocket:
      mode = S_IFSOCK | 0777;
      break;
    case uep::preload::FileKind::kPipe:
      mode = S_IFIFO | 0600;
      break;
    case uep::preload::FileKind::kAnonymous:
      break;
  }
  std::memset(st, 0, sizeof *st);
  st->st_mode = mode;
  st->st_nlink = 1;
  st->st_uid = geteuid();
  st->st_gid = getegid();
  st->st_blksize = 4096;
  return 0;
}

}  // namespace

extern "C" {

int fstat(int fd, struct stat* st) {
  if (Ours(fd)) return UEP_SERVE(StatOurs(fd, st));
  UEP_NEXT(fstat);
  return real(fd, st);
}

int fstat64(int fd, struct stat64* st) {
  if (Ours(fd)) return UEP_SERVE(StatOurs(fd, st));
  UEP_NEXT(fstat64);
  return real(fd, st);
}

}  // extern "C"
