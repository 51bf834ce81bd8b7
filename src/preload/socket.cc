// Interposed socket calls for uepoll's AF_UNIX socket pairs (and their fortified forms).
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "preload/preload.h"
#include "uepoll/uepoll.h"

using uep::preload::Ours;

extern "C" {

[[noreturn]] void __chk_fail(void);

ssize_t send(int fd, const void* buf, size_t len, int flags) {
  if (Ours(fd)) return UEP_SERVE(uep_send(fd, buf, len, flags));
  UEP_NEXT(send);
  return real(fd, buf, len, flags);
}

ssize_t sendto(int fd, const void* buf, size_t len, int flags, const struct sockaddr* dest_addr,
               socklen_t addrlen) {
  if (Ours(fd)) return UEP_SERVE(uep_sendto(fd, buf, len, flags, dest_addr, addrlen));
  UEP_NEXT(sendto);
  return real(fd, buf, len, flags, dest_addr, addrlen);
}

ssize_t sendmsg(int fd, const struct msghdr* msg, int flags) {
  if (Ours(fd)) return UEP_SERVE(uep_sendmsg(fd, msg, flags));
  UEP_NEXT(sendmsg);
  return real(fd, msg, flags);
}

ssize_t recv(int fd, void* buf, size_t len, int flags) {
  if (Ours(fd)) return UEP_SERVE(uep_recv(fd, buf, len, flags));
  UEP_NEXT(recv);
  return real(fd, buf, len, flags);
}

ssize_t __recv_chk(int fd, void* buf, size_t len, size_t buflen, int flags) {
  if (Ours(fd)) {
    if (len > buflen) __chk_fail();
    return UEP_SERVE(uep_recv(fd, buf, len, flags));
  }
  UEP_NEXT(__recv_chk);
  return real(fd, buf, len, buflen, flags);
}

ssize_t recvfrom(int fd, void* buf, size_t len, int flags, struct sockaddr* src_addr,
                 socklen_t* addrlen) {
  if (Ours(fd)) return UEP_SERVE(uep_recvfrom(fd, buf, len, flags, src_addr, addrlen));
  UEP_NEXT(recvfrom);
  return real(fd, buf, len, flags, src_addr, addrlen);
}

ssize_t __recvfrom_chk(int fd, void* buf, size_t len, size_t buflen, int flags,
                       struct sockaddr* src_addr, socklen_t* addrlen) {
  if (Ours(fd)) {
    if (len > buflen) __chk_fail();
    return UEP_SERVE(uep_recvfrom(fd, buf, len, flags, src_addr, addrlen));
  }
  UEP_NEXT(__recvfrom_chk);
  return real(fd, buf, len, buflen, flags, src_addr, addrlen);
}

ssize_t recvmsg(int fd, struct msghdr* msg, int flags) {
  if (Ours(fd)) return UEP_SERVE(uep_recvmsg(fd, msg, flags));
  UEP_NEXT(recvmsg);
  const ssize_t r = real(fd, msg, flags);
  if (r >= 0) uep::preload::DropStaleRights(msg);
  return r;
}

int shutdown(int fd, int how) {
  if (Ours(fd)) return UEP_SERVE(uep_shutdown(fd, how));
  UEP_NEXT(shutdown);
  return real(fd, how);
}

int getsockopt(int fd, int level, int optname, void* optval, socklen_t* optlen) {
  if (Ours(fd)) return UEP_SERVE(uep_getsockopt(fd, level, optname, optval, optlen));
  UEP_NEXT(getsockopt);
  return real(fd, level, optname, optval, optlen);
}

int setsockopt(int fd, int level, int optname, const void* optval, socklen_t optlen) {
  if (Ours(fd)) return UEP_SERVE(uep_setsockopt(fd, level, optname, optval, optlen));
  UEP_NEXT(setsockopt);
  return real(fd, level, optname, optval, optlen);
}

// uepoll's sockets are unnamed AF_UNIX socket pairs: the kernel's unix_getname() gives
// just the family (length sizeof(sa_family_t)) for either end. Not a socket: ENOTSOCK.
static int UnnamedUnixName(int fd, struct sockaddr* addr, socklen_t* addrlen) {
  int type = 0;
  socklen_t len = sizeof type;
  if (uep_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) return -1;
  if (addr == nullptr || addrlen == nullptr) {
    errno = EFAULT;
    return -1;
  }
  if (static_cast<int>(*addrlen) < 0) {
    errno = EINVAL;
    return -1;
  }
  const sa_family_t family = AF_UNIX;
  std::memcpy(addr, &family, std::min<size_t>(*addrlen, sizeof family));
  *addrlen = sizeof family;
  return 0;
}

int getsockname(int fd, struct sockaddr* addr, socklen_t* addrlen) {
  if (Ours(fd)) return UEP_SERVE(UnnamedUnixName(fd, addr, addrlen));
  UEP_NEXT(getsockname);
  return real(fd, addr, addrlen);
}

int getpeername(int fd, struct sockaddr* addr, socklen_t* addrlen) {
  if (Ours(fd)) return UEP_SERVE(UnnamedUnixName(fd, addr, addrlen));
  UEP_NEXT(getpeername);
  return real(fd, addr, addrlen);
}

}  // extern "C"
