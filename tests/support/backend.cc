#include "support/backend.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

#include "core/fd_table.h"
#include "uepoll/uepoll.h"

namespace uep::test {
namespace {

// Far above what any scenario allocates (the largest opens about 520 descriptors).
constexpr int kSpareOffset = 1000;

int KernelFdLimit() {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  return static_cast<int>(std::min<rlim_t>(lim.rlim_cur, 1 << 30));
}

int KernelSpareBase() { return std::min(kSpareOffset, KernelFdLimit() - kSpareCount); }

int KernelFcntl(int fd, int cmd, unsigned long arg) { return ::fcntl(fd, cmd, arg); }
int KernelIoctl(int fd, unsigned long request, void* arg) { return ::ioctl(fd, request, arg); }

// close(2) as a raw system call: scenarios close a descriptor while another thread is
// blocked on it (the kernel's answer is what they test), which ThreadSanitizer's close()
// interceptor reports as a race on the descriptor.
int KernelClose(int fd) { return static_cast<int>(syscall(SYS_close, fd)); }

int UepollSpareBase() { return uep_fd_base() + kSpareOffset; }

int UepollFdLimit() { return uep_fd_base() + FdTable::Get().NofileLimit(); }

int UepollFcntl(int fd, int cmd, unsigned long arg) { return uep_fcntl(fd, cmd, arg); }
int UepollIoctl(int fd, unsigned long request, void* arg) { return uep_ioctl(fd, request, arg); }

}  // namespace

const Backend& KernelBackend() {
  static const Backend backend{
      .name = "kernel",
      .epoll_create = ::epoll_create,
      .epoll_create1 = ::epoll_create1,
      .epoll_ctl = ::epoll_ctl,
      .epoll_wait = ::epoll_wait,
      .epoll_pwait = ::epoll_pwait,
      .epoll_pwait2 = ::epoll_pwait2,
      .eventfd = ::eventfd,
      .eventfd_read = ::eventfd_read,
      .eventfd_write = ::eventfd_write,
      .read = ::read,
      .write = ::write,
      .readv = ::readv,
      .writev = ::writev,
      .close = KernelClose,
      .dup = ::dup,
      .dup2 = ::dup2,
      .dup3 = ::dup3,
      .fcntl = KernelFcntl,
      .pipe = ::pipe,
      .pipe2 = ::pipe2,
      .ioctl = KernelIoctl,
      .poll = ::poll,
      .ppoll = ::ppoll,
      .select = ::select,
      .pselect = ::pselect,
      .socketpair = ::socketpair,
      .send = ::send,
      .recv = ::recv,
      .sendto = ::sendto,
      .recvfrom = ::recvfrom,
      .sendmsg = ::sendmsg,
      .recvmsg = ::recvmsg,
      .shutdown = ::shutdown,
      .getsockopt = ::getsockopt,
      .setsockopt = ::setsockopt,
      .timerfd_create = ::timerfd_create,
      .timerfd_settime = ::timerfd_settime,
      .timerfd_gettime = ::timerfd_gettime,
      .spare_base = KernelSpareBase,
      .fd_limit = KernelFdLimit,
  };
  return backend;
}

const Backend& UepollBackend() {
  static const Backend backend{
      .name = "uepoll",
      .epoll_create = uep_epoll_create,
      .epoll_create1 = uep_epoll_create1,
      .epoll_ctl = uep_epoll_ctl,
      .epoll_wait = uep_epoll_wait,
      .epoll_pwait = uep_epoll_pwait,
      .epoll_pwait2 = uep_epoll_pwait2,
      .eventfd = uep_eventfd,
      .eventfd_read = uep_eventfd_read,
      .eventfd_write = uep_eventfd_write,
      .read = uep_read,
      .write = uep_write,
      .readv = uep_readv,
      .writev = uep_writev,
      .close = uep_close,
      .dup = uep_dup,
      .dup2 = uep_dup2,
      .dup3 = uep_dup3,
      .fcntl = UepollFcntl,
      .pipe = uep_pipe,
      .pipe2 = uep_pipe2,
      .ioctl = UepollIoctl,
      .poll = uep_poll,
      .ppoll = uep_ppoll,
      .select = uep_select,
      .pselect = uep_pselect,
      .socketpair = uep_socketpair,
      .send = uep_send,
      .recv = uep_recv,
      .sendto = uep_sendto,
      .recvfrom = uep_recvfrom,
      .sendmsg = uep_sendmsg,
      .recvmsg = uep_recvmsg,
      .shutdown = uep_shutdown,
      .getsockopt = uep_getsockopt,
      .setsockopt = uep_setsockopt,
      .timerfd_create = uep_timerfd_create,
      .timerfd_settime = uep_timerfd_settime,
      .timerfd_gettime = uep_timerfd_gettime,
      .spare_base = UepollSpareBase,
      .fd_limit = UepollFdLimit,
  };
  return backend;
}

}  // namespace uep::test
