#include "support/raw_kernel.h"

#include <sys/syscall.h>
#include <unistd.h>

namespace uep::test {
namespace {

constexpr long kSigsetSize = 8;  // the kernel's sigset_t (_NSIG / 8)

int EpollCreate(int size) { return static_cast<int>(syscall(SYS_epoll_create, size)); }
int EpollCreate1(int flags) { return static_cast<int>(syscall(SYS_epoll_create1, flags)); }
int EpollCtl(int epfd, int op, int fd, epoll_event* ev) {
  return static_cast<int>(syscall(SYS_epoll_ctl, epfd, op, fd, ev));
}
int EpollWait(int epfd, epoll_event* events, int maxevents, int timeout) {
  return static_cast<int>(syscall(SYS_epoll_wait, epfd, events, maxevents, timeout));
}
int EpollPwait(int epfd, epoll_event* events, int maxevents, int timeout, const sigset_t* mask) {
  return static_cast<int>(
      syscall(SYS_epoll_pwait, epfd, events, maxevents, timeout, mask, kSigsetSize));
}
int EpollPwait2(int epfd, epoll_event* events, int maxevents, const timespec* timeout,
                const sigset_t* mask) {
  return static_cast<int>(
      syscall(SYS_epoll_pwait2, epfd, events, maxevents, timeout, mask, kSigsetSize));
}
int Eventfd(unsigned initval, int flags) {
  return static_cast<int>(syscall(SYS_eventfd2, initval, flags));
}
ssize_t Read(int fd, void* buf, size_t count) { return syscall(SYS_read, fd, buf, count); }
ssize_t Write(int fd, const void* buf, size_t count) { return syscall(SYS_write, fd, buf, count); }
// glibc's eventfd_read()/eventfd_write(): one 8-byte read or write, 0 or -1.
int EventfdRead(int fd, eventfd_t* value) { return Read(fd, value, 8) != 8 ? -1 : 0; }
int EventfdWrite(int fd, eventfd_t value) { return Write(fd, &value, 8) != 8 ? -1 : 0; }
ssize_t Readv(int fd, const iovec* iov, int iovcnt) { return syscall(SYS_readv, fd, iov, iovcnt); }
ssize_t Writev(int fd, const iovec* iov, int iovcnt) {
  return syscall(SYS_writev, fd, iov, iovcnt);
}
int Close(int fd) { return static_cast<int>(syscall(SYS_close, fd)); }
int Dup(int fd) { return static_cast<int>(syscall(SYS_dup, fd)); }
int Dup2(int oldfd, int newfd) { return static_cast<int>(syscall(SYS_dup2, oldfd, newfd)); }
int Dup3(int oldfd, int newfd, int flags) {
  return static_cast<int>(syscall(SYS_dup3, oldfd, newfd, flags));
}
int Fcntl(int fd, int cmd, unsigned long arg) {
  return static_cast<int>(syscall(SYS_fcntl, fd, cmd, arg));
}
int Pipe(int fds[2]) { return static_cast<int>(syscall(SYS_pipe2, fds, 0)); }
int Pipe2(int fds[2], int flags) { return static_cast<int>(syscall(SYS_pipe2, fds, flags)); }
int Ioctl(int fd, unsigned long request, void* arg) {
  return static_cast<int>(syscall(SYS_ioctl, fd, request, arg));
}
int Socketpair(int domain, int type, int protocol, int sv[2]) {
  return static_cast<int>(syscall(SYS_socketpair, domain, type, protocol, sv));
}
ssize_t Sendto(int fd, const void* buf, size_t len, int flags, const sockaddr* addr,
               socklen_t addrlen) {
  return syscall(SYS_sendto, fd, buf, len, flags, addr, addrlen);
}
ssize_t Send(int fd, const void* buf, size_t len, int flags) {
  return Sendto(fd, buf, len, flags, nullptr, 0);
}
ssize_t Recvfrom(int fd, void* buf, size_t len, int flags, sockaddr* addr, socklen_t* addrlen) {
  return syscall(SYS_recvfrom, fd, buf, len, flags, addr, addrlen);
}
ssize_t Recv(int fd, void* buf, size_t len, int flags) {
  return Recvfrom(fd, buf, len, flags, nullptr, nullptr);
}
ssize_t Sendmsg(int fd, const msghdr* msg, int flags) {
  return syscall(SYS_sendmsg, fd, msg, flags);
}
ssize_t Recvmsg(int fd, msghdr* msg, int flags) { return syscall(SYS_recvmsg, fd, msg, flags); }
int Shutdown(int fd, int how) { return static_cast<int>(syscall(SYS_shutdown, fd, how)); }
int Getsockopt(int fd, int level, int name, void* val, socklen_t* len) {
  return static_cast<int>(syscall(SYS_getsockopt, fd, level, name, val, len));
}
int Setsockopt(int fd, int level, int name, const void* val, socklen_t len) {
  return static_cast<int>(syscall(SYS_setsockopt, fd, level, name, val, len));
}
int TimerfdCreate(int clockid, int flags) {
  return static_cast<int>(syscall(SYS_timerfd_create, clockid, flags));
}
int TimerfdSettime(int fd, int flags, const itimerspec* nv, itimerspec* old) {
  return static_cast<int>(syscall(SYS_timerfd_settime, fd, flags, nv, old));
}
int TimerfdGettime(int fd, itimerspec* cur) {
  return static_cast<int>(syscall(SYS_timerfd_gettime, fd, cur));
}
int Poll(pollfd* fds, nfds_t nfds, int timeout) {
  return static_cast<int>(syscall(SYS_poll, fds, nfds, timeout));
}
// The system calls update the timeout; libc's wrappers pass a copy.
int Ppoll(pollfd* fds, nfds_t nfds, const timespec* timeout, const sigset_t* mask) {
  timespec copy{};
  timespec* t = const_cast<timespec*>(timeout);  // passed through when the copy would fault
  if (timeout != nullptr && reinterpret_cast<uintptr_t>(timeout) < (uintptr_t{1} << 47)) {
    copy = *timeout;
    t = &copy;
  }
  return static_cast<int>(syscall(SYS_ppoll, fds, nfds, t, mask, kSigsetSize));
}
int Select(int nfds, fd_set* r, fd_set* w, fd_set* e, timeval* timeout) {
  return static_cast<int>(syscall(SYS_select, nfds, r, w, e, timeout));
}
int Pselect(int nfds, fd_set* r, fd_set* w, fd_set* e, const timespec* timeout,
            const sigset_t* mask) {
  timespec copy{};
  timespec* t = const_cast<timespec*>(timeout);
  if (timeout != nullptr && reinterpret_cast<uintptr_t>(timeout) < (uintptr_t{1} << 47)) {
    copy = *timeout;
    t = &copy;
  }
  const struct {
    const sigset_t* mask;
    long size;
  } sig{mask, kSigsetSize};
  return static_cast<int>(syscall(SYS_pselect6, nfds, r, w, e, t, &sig));
}

}  // namespace

const Backend& RawKernelBackend() {
  static const Backend backend = [] {
    Backend b = KernelBackend();  // spare_base, fd_limit
    b.epoll_create = EpollCreate;
    b.epoll_create1 = EpollCreate1;
    b.epoll_ctl = EpollCtl;
    b.epoll_wait = EpollWait;
    b.epoll_pwait = EpollPwait;
    b.epoll_pwait2 = EpollPwait2;
    b.eventfd = Eventfd;
    b.eventfd_read = EventfdRead;
    b.eventfd_write = EventfdWrite;
    b.read = Read;
    b.write = Write;
    b.readv = Readv;
    b.writev = Writev;
    b.close = Close;
    b.dup = Dup;
    b.dup2 = Dup2;
    b.dup3 = Dup3;
    b.fcntl = Fcntl;
    b.pipe = Pipe;
    b.pipe2 = Pipe2;
    b.ioctl = Ioctl;
    b.poll = Poll;
    b.ppoll = Ppoll;
    b.select = Select;
    b.pselect = Pselect;
    b.socketpair = Socketpair;
    b.send = Send;
    b.recv = Recv;
    b.sendto = Sendto;
    b.recvfrom = Recvfrom;
    b.sendmsg = Sendmsg;
    b.recvmsg = Recvmsg;
    b.shutdown = Shutdown;
    b.getsockopt = Getsockopt;
    b.setsockopt = Setsockopt;
    b.timerfd_create = TimerfdCreate;
    b.timerfd_settime = TimerfdSettime;
    b.timerfd_gettime = TimerfdGettime;
    return b;
  }();
  return backend;
}

}  // namespace uep::test
