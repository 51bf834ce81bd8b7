// socketpair(2) and the socket calls: argument checks in the kernel's order (net/socket.c),
// then the protocol (files/unix_socket.cc). Descriptors below uep_fd_base() are the
// kernel's: the call goes to the kernel as it is, with a raw system call.
#include <limits.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "capi/capi.h"
#include "core/reentry.h"
#include "core/waiter.h"
#include "files/unix_socket.h"
#include "platform/capability.h"
#include "platform/sysctl.h"
#include "uepoll/uepoll.h"

using uep::capi::AccessOk;
using uep::capi::kMaxRwCount;
using uep::capi::kUioMaxIov;
using uep::capi::Ret;
using uep::capi::Table;
using uep::capi::UserPtr;

namespace uep {
namespace {

constexpr int kSockTypeMask = 0xf;
constexpr int kSockMax = SOCK_PACKET + 1;
constexpr unsigned kMsgCmsgCompat = 0x80000000U;
constexpr int kScmMaxFd = 253;

// Looks `fd` up and runs `op(socket, permit)`: EBADF for no descriptor, ENOTSOCK for one
// that is not a socket.
template <typename Op>
ssize_t WithSocket(int fd, Op&& op) {
  File* file = capi::LookupInReadSection(fd);
  if (file == nullptr) return -EBADF;
  SleepPermit permit(file);  // owns the read section from here
  auto* sock = dynamic_cast<UnixSocket*>(file);
  if (sock == nullptr) return -ENOTSOCK;
  return op(sock, &permit);
}

// import_iovec(): the segments a msghdr names, capped at MAX_RW_COUNT in total.
ssize_t ImportIovec(const iovec* iov, size_t iovlen, iovec* capped, size_t* total) {
  if (iovlen > kUioMaxIov) return -EMSGSIZE;
  return capi::ImportIovec(iov, iovlen, capped, total);
}

int OptmemMax() {
  static const int v =
      static_cast<int>(platform::ReadSysctl("/proc/sys/net/core/optmem_max", 131072));
  return v;
}

// scm_creds check: one's own pid, uid and gid unless privileged.
int CheckCreds(const ucred& creds) {
  if (creds.uid == static_cast<uid_t>(-1) || creds.gid == static_cast<gid_t>(-1)) return -EINVAL;
  uid_t ruid = 0;
  uid_t euid = 0;
  uid_t suid = 0;
  gid_t rgid = 0;
  gid_t egid = 0;
  gid_t sgid = 0;
  getresuid(&ruid, &euid, &suid);
  getresgid(&rgid, &egid, &sgid);
  const bool pid_ok = creds.pid == getpid() || platform::HasEffectiveCapability(CAP_SYS_ADMIN);
  const bool uid_ok = creds.uid == ruid || creds.uid == euid || creds.uid == suid ||
                      platform::HasEffectiveCapability(CAP_SETUID);
  const bool gid_ok = creds.gid == rgid || creds.gid == egid || creds.gid == sgid ||
                      platform::HasEffectiveCapability(CAP_SETGID);
  return pid_ok && uid_ok && gid_ok ? 0 : -EPERM;
}

// __scm_send(): walks the control messages as the kernel does. Descriptor passing
// (SCM_RIGHTS with descriptors) is not supported: EOPNOTSUPP. Credentials are checked
// and otherwise ignored (no receiver can ask for them: SO_PASSCRED is not supported).
int ScmSend(const msghdr* msg) {
  const auto* base = static_cast<const unsigned char*>(msg->msg_control);
  const size_t len = msg->msg_controllen;
  size_t off = 0;
  while (len - off >= sizeof(cmsghdr)) {
    cmsghdr c{};
    std::memcpy(&c, base + off, sizeof c);
    if (c.cmsg_len < sizeof(cmsghdr) || c.cmsg_len > len - off) return -EINVAL;  // CMSG_OK
    if (c.cmsg_level == SOL_SOCKET) {
      switch (c.cmsg_type) {
        case SCM_RIGHTS: {
          const auto num = static_cast<long>((c.cmsg_len - sizeof(cmsghdr)) / sizeof(int));
          if (num <= 0) break;
          if (num > kScmMaxFd) return -EINVAL;
          return -EOPNOTSUPP;
        }
        case SCM_CREDENTIALS: {
          if (c.cmsg_len != CMSG_LEN(sizeof(ucred))) return -EINVAL;
          ucred creds{};
          std::memcpy(&creds, base + off + CMSG_LEN(0), sizeof creds);
          if (const int err = CheckCreds(creds); err != 0) return err;
          break;
        }
        default:
          return -EINVAL;
      }
    }
    const size_t step = CMSG_ALIGN(c.cmsg_len);
    if (step > len - off) break;
    off += step;
  }
  return 0;
}

// A send by a call that interrupted its thread's own uepoll call (a signal handler): a plain
// send is queued like a write (core/reentry.h); one with an address, control data or flags
// that change its meaning cannot be, and finds no room.
ssize_t SendReentrant(UnixSocket* sock, const iovec* iov, int iovcnt, size_t total, int flags,
                      bool has_addr) {
  if (has_addr || (flags & ~(MSG_DONTWAIT | MSG_NOSIGNAL)) != 0) return -EAGAIN;
  return DeferWrite(sock, iov, iovcnt, total);
}

int SockFlags(UnixSocket* sock, int flags) {
  return sock->Nonblocking() ? (flags | MSG_DONTWAIT) : flags;
}

ssize_t DoSendTo(int fd, const void* buf, size_t len, int flags, const sockaddr* addr,
                 socklen_t addrlen) {
  ApiScope api;
  WakeScope wake_scope;
  if (len > kMaxRwCount) len = kMaxRwCount;
  if (!AccessOk(buf, len)) return -EFAULT;  // import_ubuf() comes before the lookup
  const iovec iov{const_cast<void*>(buf), len};
  return WithSocket(fd, [&](UnixSocket* sock, SleepPermit* permit) -> ssize_t {
    if (api.reentrant()) return SendReentrant(sock, &iov, 1, len, flags, addr != nullptr);
    UnixSendExtra extra;
    if (addr != nullptr) {
      // move_addr_to_kernel()
      if (static_cast<int>(addrlen) < 0 || addrlen > sizeof(sockaddr_storage)) return -EINVAL;
      if (!AccessOk(addr, addrlen)) return -EFAULT;
      extra.name = addr;
      extra.namelen = addrlen;
    }
    return sock->SendMsg(&iov, 1, len, SockFlags(sock, flags), extra, permit);
  });
}

// move_addr_to_user() with the unbound peer's empty address.
ssize_t PutEmptyAddress(socklen_t* addrlen) {
  if (addrlen == nullptr || !AccessOk(addrlen, sizeof *addrlen)) return -EFAULT;
  if (static_cast<int>(*addrlen) < 0) return -EINVAL;
  *addrlen = 0;
  return 0;
}

ssize_t DoRecvFrom(int fd, void* buf, size_t len, int flags, sockaddr* addr, socklen_t* addrlen) {
  ApiScope api;
  WakeScope wake_scope;
  if (len > kMaxRwCount) len = kMaxRwCount;
  if (!AccessOk(buf, len)) return -EFAULT;  // import_ubuf() comes before the lookup
  const iovec iov{buf, len};
  return WithSocket(fd, [&](UnixSocket* sock, SleepPermit* permit) -> ssize_t {
    if (api.reentrant()) return -EAGAIN;  // see HandlesReentrantIo()
    int msg_flags = 0;
    const ssize_t r = sock->RecvMsg(&iov, 1, len, SockFlags(sock, flags), &msg_flags, permit);
    if (r < 0 || addr == nullptr) return r;
    const ssize_t e = PutEmptyAddress(addrlen);
    return e < 0 ? e : r;
  });
}

ssize_t DoSendMsg(int fd, const msghdr* msg, int flags) {
  if ((static_cast<unsigned>(flags) & kMsgCmsgCompat) != 0) return -EINVAL;
  ApiScope api;
  WakeScope wake_scope;
  return WithSocket(fd, [&](UnixSocket* sock, SleepPermit* permit) -> ssize_t {
    if (msg == nullptr || !AccessOk(msg, sizeof *msg)) return -EFAULT;
    if (api.reentrant()) {
      if (msg->msg_iovlen > kUioMaxIov || msg->msg_controllen != 0) return -EAGAIN;
      iovec capped[kUioMaxIov];
      size_t total = 0;
      if (const ssize_t r = ImportIovec(msg->msg_iov, msg->msg_iovlen, capped, &total); r < 0) return r;
      return SendReentrant(sock, capped, static_cast<int>(msg->msg_iovlen), total, flags,
                           msg->msg_name != nullptr);
    }
    UnixSendExtra extra;
    if (msg->msg_name != nullptr) {
      if (static_cast<int>(msg->msg_namelen) < 0) return -EINVAL;
      extra.name = msg->msg_name;
      extra.namelen = std::min<socklen_t>(msg->msg_namelen, sizeof(sockaddr_storage));
      if (!AccessOk(extra.name, extra.namelen)) return -EFAULT;  // move_addr_to_kernel()
    }
    iovec capped[kUioMaxIov];
    size_t total = 0;
    if (const ssize_t r = ImportIovec(msg->msg_iov, msg->msg_iovlen, capped, &total); r < 0) return r;
    if (msg->msg_controllen > INT_MAX) return -ENOBUFS;
    if (msg->msg_controllen > 0) {
      // Longer than the on-stack buffer: sock_kmalloc() within optmem_max.
      if (msg->msg_controllen > sizeof(cmsghdr) + 20 &&
          msg->msg_controllen >= static_cast<size_t>(OptmemMax())) {
        return -ENOBUFS;
      }
      if (msg->msg_control == nullptr || !AccessOk(msg->msg_control, msg->msg_controllen)) {
        return -EFAULT;
      }
      extra.scm_err = ScmSend(msg);
    }
    return sock->SendMsg(capped, static_cast<int>(msg->msg_iovlen), total, SockFlags(sock, flags),
                         extra, permit);
  });
}

ssize_t DoRecvMsg(int fd, msghdr* msg, int flags) {
  if ((static_cast<unsigned>(flags) & kMsgCmsgCompat) != 0) return -EINVAL;
  ApiScope api;
  WakeScope wake_scope;
  return WithSocket(fd, [&](UnixSocket* sock, SleepPermit* permit) -> ssize_t {
    if (msg == nullptr || !AccessOk(msg, sizeof *msg)) return -EFAULT;
    if (api.reentrant()) return -EAGAIN;
    if (msg->msg_name != nullptr && static_cast<int>(msg->msg_namelen) < 0) return -EINVAL;
    iovec capped[kUioMaxIov];
    size_t total = 0;
    if (const ssize_t r = ImportIovec(msg->msg_iov, msg->msg_iovlen, capped, &total); r < 0) return r;
    int msg_flags = flags & MSG_CMSG_CLOEXEC;
    const ssize_t r = sock->RecvMsg(capped, static_cast<int>(msg->msg_iovlen), total,
                                    SockFlags(sock, flags), &msg_flags, permit);
    if (r < 0) return r;
    if (msg->msg_name != nullptr) msg->msg_namelen = 0;  // the peer is unbound
    msg->msg_flags = msg_flags;
    msg->msg_controllen = 0;  // no control messages are ever received
    return r;
  });
}

int DoSocketpair(int type, int protocol, int sv[2]) {
  const int flags = type & ~kSockTypeMask;
  if ((flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK)) != 0) return -EINVAL;
  type &= kSockTypeMask;
  if (sv == nullptr || !AccessOk(sv, 2 * sizeof(int))) return -EFAULT;  // put_user()
  if (type >= kSockMax) return -EINVAL;
  if (protocol != 0 && protocol != PF_UNIX) return -EPROTONOSUPPORT;
  switch (type) {
    case SOCK_STREAM:
    case SOCK_SEQPACKET:
    case SOCK_DGRAM:
      break;
    case SOCK_RAW:  // "Believe it or not BSD has AF_UNIX, SOCK_RAW though nothing uses it."
      type = SOCK_DGRAM;
      break;
    default:
      return -ESOCKTNOSUPPORT;
  }
  UnixSocket* a = nullptr;
  UnixSocket* b = nullptr;
  if (const int r = UnixSocket::CreatePair(type, flags & SOCK_NONBLOCK, &a, &b); r < 0) return r;
  return capi::InstallPair(a, b, (flags & SOCK_CLOEXEC) != 0, sv);
}

}  // namespace
}  // namespace uep

extern "C" {

int uep_socketpair(int domain, int type, int protocol, int sv[2]) {
  if (domain != AF_UNIX) {
    // Any other family is the kernel's, errno included (EAFNOSUPPORT, EOPNOTSUPP, ...).
    return static_cast<int>(syscall(SYS_socketpair, domain, type, protocol, sv));
  }
  uep::ApiScope api;
  if (api.reentrant()) return Ret(-EINTR);  // see docs/semantics.md: signal handlers
  uep::WakeScope wake_scope;
  return Ret(uep::DoSocketpair(type, protocol, sv));
}

ssize_t uep_send(int fd, const void* buf, size_t len, int flags) {
  return uep::capi::ServeIo(
      fd, [&] { return syscall(SYS_sendto, fd, buf, len, flags, nullptr, 0); },
      [&] { return uep::DoSendTo(fd, buf, len, flags, nullptr, 0); });
}

ssize_t uep_sendto(int fd, const void* buf, size_t len, int flags,
                   const struct sockaddr* dest_addr, socklen_t addrlen) {
  return uep::capi::ServeIo(
      fd, [&] { return syscall(SYS_sendto, fd, buf, len, flags, dest_addr, addrlen); },
      [&] { return uep::DoSendTo(fd, buf, len, flags, dest_addr, addrlen); });
}

ssize_t uep_recv(int fd, void* buf, size_t len, int flags) {
  return uep::capi::ServeIo(
      fd, [&] { return syscall(SYS_recvfrom, fd, buf, len, flags, nullptr, nullptr); },
      [&] { return uep::DoRecvFrom(fd, buf, len, flags, nullptr, nullptr); });
}

ssize_t uep_recvfrom(int fd, void* buf, size_t len, int flags, struct sockaddr* src_addr,
                     socklen_t* addrlen) {
  return uep::capi::ServeIo(
      fd, [&] { return syscall(SYS_recvfrom, fd, buf, len, flags, src_addr, addrlen); },
      [&] { return uep::DoRecvFrom(fd, buf, len, flags, src_addr, addrlen); });
}

ssize_t uep_sendmsg(int fd, const struct msghdr* msg, int flags) {
  return uep::capi::ServeIo(
      fd, [&] { return syscall(SYS_sendmsg, fd, msg, flags); },
      [&] { return uep::DoSendMsg(fd, msg, flags); });
}

ssize_t uep_recvmsg(int fd, struct msghdr* msg, int flags) {
  return uep::capi::ServeIo(
      fd, [&] { return syscall(SYS_recvmsg, fd, msg, flags); },
      [&] { return uep::DoRecvMsg(fd, msg, flags); });
}

int uep_shutdown(int fd, int how) {
  if (!Table().Owns(fd)) return static_cast<int>(syscall(SYS_shutdown, fd, how));
  uep::ApiScope api;
  if (api.reentrant()) return Ret(-EINTR);
  uep::WakeScope wake_scope;
  return static_cast<int>(Ret(uep::WithSocket(
      fd, [how](uep::UnixSocket* sock, uep::SleepPermit* /*permit*/) -> ssize_t {
        return sock->Shutdown(how);
      })));
}

int uep_getsockopt(int fd, int level, int optname, void* optval, socklen_t* optlen) {
  if (!Table().Owns(fd)) {
    return static_cast<int>(syscall(SYS_getsockopt, fd, level, optname, optval, optlen));
  }
  return static_cast<int>(Ret(uep::WithSocket(
      fd, [&](uep::UnixSocket* sock, uep::SleepPermit* /*permit*/) -> ssize_t {
        return sock->GetSockOpt(level, optname, UserPtr(optval, 1),
                                UserPtr(optlen, sizeof *optlen));
      })));
}

int uep_setsockopt(int fd, int level, int optname, const void* optval, socklen_t optlen) {
  if (!Table().Owns(fd)) {
    return static_cast<int>(syscall(SYS_setsockopt, fd, level, optname, optval, optlen));
  }
  uep::ApiScope api;
  if (api.reentrant()) return Ret(-EINTR);
  uep::WakeScope wake_scope;
  return static_cast<int>(Ret(uep::WithSocket(
      fd, [&](uep::UnixSocket* sock, uep::SleepPermit* /*permit*/) -> ssize_t {
        return sock->SetSockOpt(level, optname, UserPtr(optval, 1), optlen);
      })));
}

}  // extern "C"
