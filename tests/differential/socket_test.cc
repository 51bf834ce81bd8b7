// AF_UNIX socket pairs, differential: every scenario runs on the kernel and on uepoll and
// the two traces (results, errno, readiness masks, SIGPIPEs, byte counts) must be equal.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "support/sock_timer_diff.h"
#include "uepoll/uepoll.h"

namespace uep::test {
namespace {

constexpr int kTypes[] = {SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM};

std::string TypeName(int type) {
  switch (type) {
    case SOCK_STREAM:
      return "stream";
    case SOCK_SEQPACKET:
      return "seqpacket";
    case SOCK_DGRAM:
      return "dgram";
    default:
      return std::to_string(type);
  }
}

struct Pair {
  int a = -1;
  int b = -1;
};

Pair MakePair(Trace& t, int type, int flags = 0) {
  int sv[2] = {-1, -1};
  t.Rec("socketpair(" + TypeName(type) + ")", t.backend().socketpair(AF_UNIX, type | flags, 0, sv));
  return {sv[0], sv[1]};
}

void ClosePair(Trace& t, const Pair& p) {
  if (p.a >= 0) t.backend().close(p.a);
  if (p.b >= 0) t.backend().close(p.b);
}

long Send(Trace& t, const std::string& what, int fd, const std::string& data, int flags = 0) {
  return t.Rec("send(" + what + ", " + std::to_string(data.size()) + ")",
               t.backend().send(fd, data.data(), data.size(), flags));
}

// Receives up to `len` bytes and records what came.
long Recv(Trace& t, const std::string& what, int fd, size_t len, int flags = 0) {
  std::string buf(len, '\0');
  const long r = t.backend().recv(fd, buf.data(), len, flags);
  const int err = errno;
  t.Rec("recv(" + what + ", " + std::to_string(len) + ", " + std::to_string(flags) + ")", r);
  if (r > 0)
    t.Note("  data '" + buf.substr(0, std::min<size_t>(static_cast<size_t>(r), len)) + "'");
  errno = err;
  return r;
}

long RecvMsg(Trace& t, const std::string& what, int fd, size_t len, int flags = 0) {
  std::string buf(len, '\0');
  iovec iov{buf.data(), len};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  const long r = t.backend().recvmsg(fd, &msg, flags);
  t.Rec("recvmsg(" + what + ", " + std::to_string(len) + ", " + std::to_string(flags) + ")", r);
  if (r >= 0) {
    t.Note("  msg_flags " + std::to_string(msg.msg_flags) + " data '" +
           buf.substr(0, std::min<size_t>(static_cast<size_t>(r), len)) + "'");
  }
  return r;
}

int Ioctl(Trace& t, const std::string& what, int fd, unsigned long request) {
  int v = -1;
  const int r = t.backend().ioctl(fd, request, &v);
  t.Rec(what, r >= 0 ? v : r);
  return v;
}

int GetInt(Trace& t, const std::string& what, int fd, int optname) {
  int v = -7;
  socklen_t len = sizeof v;
  const int r = t.backend().getsockopt(fd, SOL_SOCKET, optname, &v, &len);
  t.Rec(what, r);
  if (r == 0) t.Note("  value " + std::to_string(v) + " len " + std::to_string(len));
  return v;
}

// A level-triggered mask, only when it changed: compact traces for long loops.
struct MaskWatch {
  uint32_t last = ~0U;
  bool Changed(Trace& t, int fd) {
    const int ep = t.backend().epoll_create1(0);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
    t.backend().epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    epoll_event out{};
    const uint32_t mask = t.backend().epoll_wait(ep, &out, 1, 0) == 1 ? out.events : 0;
    t.backend().close(ep);
    const bool changed = mask != last;
    last = mask;
    return changed;
  }
};

// ---------------------------------------------------------------------------------------

TEST(SocketDiffTest, SocketpairArguments) {
  RunOnBoth([](Trace& t) {
    const struct {
      int domain, type, protocol;
    } cases[] = {
        {AF_UNIX, SOCK_STREAM, 0},
        {AF_UNIX, SOCK_STREAM, PF_UNIX},
        {AF_UNIX, SOCK_STREAM, 2},
        {AF_UNIX, SOCK_STREAM, -1},
        {AF_UNIX, SOCK_DGRAM, 0},
        {AF_UNIX, SOCK_SEQPACKET, 0},
        {AF_UNIX, SOCK_RAW, 0},
        {AF_UNIX, SOCK_RDM, 0},
        {AF_UNIX, SOCK_DCCP, 0},
        {AF_UNIX, SOCK_PACKET, 0},
        {AF_UNIX, 0, 0},
        {AF_UNIX, 9, 0},
        {AF_UNIX, 11, 0},
        {AF_UNIX, 15, 0},
        {AF_UNIX, -1, 0},
        {AF_UNIX, SOCK_STREAM | 0x100, 0},
        {AF_UNIX, SOCK_RDM, 5},
        {AF_UNIX, 0x14, 5},
        {AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0},
        {AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0},
        {AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0},
        {AF_INET, SOCK_STREAM, 0},
        {AF_INET, SOCK_DGRAM, 0},
        {AF_INET6, SOCK_STREAM, 0},
        {AF_INET, SOCK_STREAM, 99},
        {AF_NETLINK, SOCK_RAW, 0},
        {-1, SOCK_STREAM, 0},
        {46, SOCK_STREAM, 0},
        {200, SOCK_STREAM, 0},
        {AF_UNSPEC, SOCK_STREAM, 0},
    };
    for (const auto& c : cases) {
      int sv[2] = {-1, -1};
      const std::string what = "socketpair(" + std::to_string(c.domain) + ", " +
                               std::to_string(c.type) + ", " + std::to_string(c.protocol) + ")";
      if (t.Rec(what, t.backend().socketpair(c.domain, c.type, c.protocol, sv)) != 0) continue;
      GetInt(t, "  SO_TYPE", sv[0], SO_TYPE);
      GetInt(t, "  SO_DOMAIN", sv[1], SO_DOMAIN);
      GetInt(t, "  SO_PROTOCOL", sv[1], SO_PROTOCOL);
      t.Rec("  F_GETFL a", t.backend().fcntl(sv[0], F_GETFL, 0));
      t.Rec("  F_GETFL b", t.backend().fcntl(sv[1], F_GETFL, 0));
      t.Rec("  F_GETFD a", t.backend().fcntl(sv[0], F_GETFD, 0));
      t.Rec("  F_GETFD b", t.backend().fcntl(sv[1], F_GETFD, 0));
      t.Rec("  distinct", sv[0] != sv[1] ? 1 : 0);
      t.backend().close(sv[0]);
      t.backend().close(sv[1]);
    }
    t.Rec("socketpair(NULL)", t.backend().socketpair(AF_UNIX, SOCK_STREAM, 0, nullptr));
    t.Rec("socketpair(NULL, bad type)", t.backend().socketpair(AF_UNIX, SOCK_RDM, 0, nullptr));
    t.Rec("socketpair(NULL, bad flags)",
          t.backend().socketpair(AF_UNIX, SOCK_STREAM | 0x100, 0, nullptr));
    t.Rec("socketpair(NULL, inet)", t.backend().socketpair(AF_INET, SOCK_STREAM, 0, nullptr));
  });
}

TEST(SocketDiffTest, MasksThroughSendAndRecv) {
  RunOnBoth([](Trace& t) {
    for (const int type : kTypes) {
      const Pair p = MakePair(t, type, SOCK_NONBLOCK);
      t.Mask("a", p.a);
      t.Mask("b", p.b);
      Send(t, "a", p.a, "hello");
      t.Mask("a", p.a);
      t.Mask("b", p.b);
      Send(t, "a", p.a, "world!");
      Ioctl(t, "SIOCINQ b", p.b, SIOCINQ);
      Ioctl(t, "SIOCOUTQ a", p.a, SIOCOUTQ);
      Recv(t, "b", p.b, 2);
      t.Mask("b", p.b);
      Ioctl(t, "SIOCINQ b", p.b, SIOCINQ);
      Ioctl(t, "SIOCOUTQ a", p.a, SIOCOUTQ);
      Recv(t, "b", p.b, 100);
      t.Mask("b", p.b);
      Recv(t, "b", p.b, 100);
      t.Mask("b", p.b);
      Ioctl(t, "SIOCOUTQ a", p.a, SIOCOUTQ);
      Recv(t, "b", p.b, 100);
      ClosePair(t, p);
    }
  });
}

TEST(SocketDiffTest, RecordBoundariesTruncationAndPeek) {
  RunOnBoth([](Trace& t) {
    for (const int type : kTypes) {
      const Pair p = MakePair(t, type, SOCK_NONBLOCK);
      Send(t, "a", p.a, "abc");
      Send(t, "a", p.a, "defgh");
      Send(t, "a", p.a, "");
      Send(t, "a", p.a, "ij");
      Recv(t, "b", p.b, 10, MSG_PEEK);
      Recv(t, "b", p.b, 10);
      Recv(t, "b", p.b, 10, MSG_PEEK | MSG_TRUNC);
      Recv(t, "b", p.b, 10);
      Recv(t, "b", p.b, 10);
      Recv(t, "b", p.b, 10);
      Recv(t, "b", p.b, 10);
      Send(t, "a", p.a, "0123456789");
      Send(t, "a", p.a, "abcdef");
      Send(t, "a", p.a, "XYZ");
      RecvMsg(t, "b", p.b, 4);
      RecvMsg(t, "b", p.b, 4, MSG_TRUNC);
      RecvMsg(t, "b", p.b, 4, MSG_PEEK);
      RecvMsg(t, "b", p.b, 2, MSG_PEEK | MSG_TRUNC);
      RecvMsg(t, "b", p.b, 8);
      RecvMsg(t, "b", p.b, 8);
      // recv with room for nothing
      Send(t, "a", p.a, "qq");
      Recv(t, "b", p.b, 0);
      Recv(t, "b", p.b, 0);
      Recv(t, "b", p.b, 10);
      // MSG_WAITALL on a nonblocking socket
      Send(t, "a", p.a, "123");
      Send(t, "a", p.a, "45");
      Recv(t, "b", p.b, 10, MSG_WAITALL);
      Recv(t, "b", p.b, 10, MSG_WAITALL);
      Recv(t, "b", p.b, 10, MSG_WAITALL);
      // SO_RCVLOWAT
      const int lowat = 4;
      t.Rec("SO_RCVLOWAT",
            t.backend().setsockopt(p.b, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof lowat));
      Send(t, "a", p.a, "12");
      Recv(t, "b", p.b, 10);
      Recv(t, "b", p.b, 10);
      ClosePair(t, p);
    }
  });
}

TEST(SocketDiffTest, ShutdownSequences) {
  RunOnBoth([](Trace& t) {
    for (const int type : kTypes) {
      for (const int how : {SHUT_RD, SHUT_WR, SHUT_RDWR}) {
        t.Note("-- " + TypeName(type) + " shutdown(a, " + std::to_string(how) + ")");
        const Pair p = MakePair(t, type, SOCK_NONBLOCK);
        Send(t, "b", p.b, "pending");
        t.Rec("shutdown(a)", t.backend().shutdown(p.a, how));
        t.Mask("a", p.a);
        t.Mask("b", p.b);
        Send(t, "a", p.a, "x");
        t.Sigpipes("send a");
        Send(t, "a", p.a, "x", MSG_NOSIGNAL);
        t.Sigpipes("send a nosignal");
        t.Rec("write(a, 0)", t.backend().write(p.a, "", 0));
        t.Sigpipes("write a 0");
        Send(t, "b", p.b, "y");
        t.Sigpipes("send b");
        Recv(t, "a", p.a, 100);
        Recv(t, "a", p.a, 100);
        Recv(t, "b", p.b, 100);
        t.Rec("shutdown(a) again", t.backend().shutdown(p.a, how));
        t.Rec("shutdown(b, RDWR)", t.backend().shutdown(p.b, SHUT_RDWR));
        t.Mask("a", p.a);
        t.Mask("b", p.b);
        Recv(t, "a", p.a, 100);
        Recv(t, "b", p.b, 100);
        Send(t, "b", p.b, "z");
        t.Sigpipes("send b");
        t.Rec("shutdown(a, 3)", t.backend().shutdown(p.a, 3));
        t.Rec("shutdown(a, -1)", t.backend().shutdown(p.a, -1));
        ClosePair(t, p);
      }
    }
  });
}

// The peer closes with or without data it had not read: masks, SO_ERROR, the order of
// data, ECONNRESET and EOF, EPIPE and SIGPIPE.
TEST(SocketDiffTest, PeerClose) {
  RunOnBoth([](Trace& t) {
    for (const int type : kTypes) {
      for (const bool unread : {false, true}) {
        for (const bool read_error_first : {false, true}) {
          t.Note("-- " + TypeName(type) + (unread ? " unread" : " clean") +
                 (read_error_first ? " SO_ERROR first" : ""));
          const Pair p = MakePair(t, type, SOCK_NONBLOCK);
          if (unread) Send(t, "a", p.a, "hello");
          Send(t, "b", p.b, "abc");
          Send(t, "b", p.b, "de");
          t.backend().close(p.b);
          t.Mask("a", p.a);
          if (read_error_first) {
            GetInt(t, "SO_ERROR", p.a, SO_ERROR);
            t.Mask("a", p.a);
          }
          Ioctl(t, "SIOCOUTQ a", p.a, SIOCOUTQ);
          Recv(t, "a", p.a, 10);
          Send(t, "a", p.a, "x");
          t.Sigpipes("send");
          Recv(t, "a", p.a, 10);
          Recv(t, "a", p.a, 10);
          Send(t, "a", p.a, "x");
          t.Sigpipes("send");
          Recv(t, "a", p.a, 10);
          t.Mask("a", p.a);
          GetInt(t, "SO_ERROR", p.a, SO_ERROR);
          t.Rec("shutdown(a, WR)", t.backend().shutdown(p.a, SHUT_WR));
          t.Mask("a", p.a);
          t.backend().close(p.a);
        }
      }
    }
  });
}

TEST(SocketDiffTest, SocketOptions) {
  RunOnBoth([](Trace& t) {
    for (const int type : kTypes) {
      const Pair p = MakePair(t, type);
      for (const int opt :
           {SO_TYPE, SO_ERROR, SO_DOMAIN, SO_PROTOCOL, SO_SNDBUF, SO_RCVBUF, SO_ACCEPTCONN,
            SO_RCVLOWAT, SO_SNDLOWAT, SO_SNDBUFFORCE, SO_RCVBUFFORCE, 1000, -1}) {
        GetInt(t, "get " + std::to_string(opt), p.a, opt);
      }
      int v = 0;
      socklen_t len = 2;
      t.Rec("get len 2", t.backend().getsockopt(p.a, SOL_SOCKET, SO_SNDBUF, &v, &len));
      t.Note("  len " + std::to_string(len));
      len = 0;
      t.Rec("get len 0", t.backend().getsockopt(p.a, SOL_SOCKET, SO_SNDBUF, &v, &len));
      len = static_cast<socklen_t>(-1);
      t.Rec("get len -1", t.backend().getsockopt(p.a, SOL_SOCKET, SO_SNDBUF, &v, &len));
      len = 8;
      t.Rec("get len 8", t.backend().getsockopt(p.a, SOL_SOCKET, SO_SNDBUF, &v, &len));
      t.Note("  len " + std::to_string(len));
      len = 4;
      t.Rec("get NULL value", t.backend().getsockopt(p.a, SOL_SOCKET, SO_SNDBUF, nullptr, &len));
      t.Rec("get NULL len", t.backend().getsockopt(p.a, SOL_SOCKET, SO_SNDBUF, &v, nullptr));
      len = 0;
      t.Rec("get NULL value len 0",
            t.backend().getsockopt(p.a, SOL_SOCKET, SO_SNDBUF, nullptr, &len));
      len = 4;
      t.Rec("get level TCP", t.backend().getsockopt(p.a, IPPROTO_TCP, 1, &v, &len));
      t.Rec("get level 0", t.backend().getsockopt(p.a, 0, 1, &v, &len));
      t.Rec("get level SOL_UNIX", t.backend().getsockopt(p.a, 270, 1, &v, &len));
      t.Rec("set level TCP", t.backend().setsockopt(p.a, IPPROTO_TCP, 1, &v, 4));
      for (const int val : {0, 1, 100, 2303, 2304, 2305, 4000, 65536, 212992, 4194304, 4194305,
                            100000000, -1, -100}) {
        for (const int opt : {SO_SNDBUF, SO_RCVBUF, SO_SNDBUFFORCE, SO_RCVBUFFORCE, SO_RCVLOWAT}) {
          const std::string what = "set " + std::to_string(opt) + " " + std::to_string(val);
          t.Rec(what, t.backend().setsockopt(p.a, SOL_SOCKET, opt, &val, sizeof val));
          GetInt(t, "  get", p.a,
                 opt == SO_SNDBUFFORCE   ? SO_SNDBUF
                 : opt == SO_RCVBUFFORCE ? SO_RCVBUF
                                         : opt);
        }
      }
      const int x = 1000;
      t.Rec("set len 3", t.backend().setsockopt(p.a, SOL_SOCKET, SO_SNDBUF, &x, 3));
      t.Rec("set len 8", t.backend().setsockopt(p.a, SOL_SOCKET, SO_SNDBUF, &x, 8));
      t.Rec("set len -1",
            t.backend().setsockopt(p.a, SOL_SOCKET, SO_SNDBUF, &x, static_cast<socklen_t>(-1)));
      t.Rec("set NULL", t.backend().setsockopt(p.a, SOL_SOCKET, SO_SNDBUF, nullptr, 4));
      t.Rec("set unknown len 2", t.backend().setsockopt(p.a, SOL_SOCKET, 1000, &x, 2));
      for (const int opt :
           {SO_TYPE, SO_ERROR, SO_DOMAIN, SO_PROTOCOL, SO_ACCEPTCONN, SO_SNDLOWAT, 1000}) {
        t.Rec("set " + std::to_string(opt), t.backend().setsockopt(p.a, SOL_SOCKET, opt, &x, 4));
      }
      ClosePair(t, p);
    }
  });
}

TEST(SocketDiffTest, BadCalls) {
  RunOnBoth([](Trace& t) {
    const auto& a = t.backend();
    const int efd = a.eventfd(0, 0);
    const Pair closed = MakePair(t, SOCK_STREAM);
    a.close(closed.a);
    a.close(closed.b);
    char buf[64] = {};
    int v = 0;
    socklen_t len = sizeof v;
    msghdr msg{};
    for (const int fd : {efd, closed.a}) {
      const std::string n = fd == efd ? " eventfd" : " closed";
      t.Rec("send" + n, a.send(fd, buf, 1, 0));
      t.Rec("recv" + n, a.recv(fd, buf, 1, MSG_DONTWAIT));
      t.Rec("sendto" + n, a.sendto(fd, buf, 1, 0, nullptr, 0));
      t.Rec("recvfrom" + n, a.recvfrom(fd, buf, 1, MSG_DONTWAIT, nullptr, nullptr));
      t.Rec("sendmsg" + n, a.sendmsg(fd, &msg, 0));
      t.Rec("sendmsg NULL" + n, a.sendmsg(fd, nullptr, 0));
      t.Rec("recvmsg" + n, a.recvmsg(fd, &msg, MSG_DONTWAIT));
      t.Rec("shutdown" + n, a.shutdown(fd, SHUT_RD));
      t.Rec("shutdown bad how" + n, a.shutdown(fd, 7));
      t.Rec("getsockopt" + n, a.getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len));
      t.Rec("setsockopt" + n, a.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v));
      t.Rec("setsockopt len -1" + n,
            a.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, static_cast<socklen_t>(-1)));
      t.Rec("sendmsg compat" + n, a.sendmsg(fd, &msg, static_cast<int>(0x80000000U)));
      t.Rec("recvmsg compat" + n, a.recvmsg(fd, &msg, static_cast<int>(0x80000000U)));
    }
    a.close(efd);

    for (const int type : kTypes) {
      t.Note("-- " + TypeName(type));
      const Pair p = MakePair(t, type, SOCK_NONBLOCK);
      iovec iov{buf, 3};
      msghdr m{};
      m.msg_iov = &iov;
      m.msg_iovlen = 1;
      t.Rec("sendmsg NULL", a.sendmsg(p.a, nullptr, 0));
      m.msg_iovlen = 1025;
      t.Rec("sendmsg iovlen 1025", a.sendmsg(p.a, &m, 0));
      t.Rec("recvmsg iovlen 1025", a.recvmsg(p.b, &m, 0));
      m.msg_iovlen = 1;
      m.msg_iov = nullptr;
      t.Rec("sendmsg iov NULL", a.sendmsg(p.a, &m, 0));
      t.Rec("recvmsg iov NULL", a.recvmsg(p.b, &m, 0));
      m.msg_iovlen = 0;
      t.Rec("sendmsg iovlen 0", a.sendmsg(p.a, &m, 0));
      t.Rec("recvmsg iovlen 0", a.recvmsg(p.b, &m, 0));
      iovec bad{buf, static_cast<size_t>(-1)};
      m.msg_iov = &bad;
      m.msg_iovlen = 1;
      t.Rec("sendmsg negative len", a.sendmsg(p.a, &m, 0));
      t.Rec("recvmsg negative len", a.recvmsg(p.b, &m, 0));
      m.msg_iov = &iov;
      // Room for the longest msg_namelen tried (200 > sizeof(sockaddr_un)).
      union {
        sockaddr_un sa;
        char room[256];
      } addr{};
      sockaddr_un& sa = addr.sa;
      sa.sun_family = AF_UNIX;
      std::strcpy(sa.sun_path, "/nonexistent/uepoll-test");
      m.msg_name = &sa;
      for (const int nl : {static_cast<int>(sizeof sa), 1, 2, 3, -1, 200}) {
        m.msg_namelen = static_cast<socklen_t>(nl);
        t.Rec("sendmsg namelen " + std::to_string(nl), a.sendmsg(p.a, &m, 0));
      }
      std::strcpy(sa.sun_path, "/");
      m.msg_namelen = sizeof sa;
      t.Rec("sendmsg to a directory", a.sendmsg(p.a, &m, 0));
      sa.sun_path[0] = '\0';
      std::strcpy(sa.sun_path + 1, "uepoll-abstract-none");
      t.Rec("sendmsg to an abstract name", a.sendmsg(p.a, &m, 0));
      sa.sun_family = AF_INET;
      t.Rec("sendmsg family inet", a.sendmsg(p.a, &m, 0));
      t.Rec("sendto family inet",
            a.sendto(p.a, buf, 2, 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa));
      t.Rec("sendto NULL addr len 5", a.sendto(p.a, buf, 2, 0, nullptr, 5));
      t.Rec("sendto addr len -1",
            a.sendto(p.a, buf, 2, 0, reinterpret_cast<sockaddr*>(&sa), static_cast<socklen_t>(-1)));
      m.msg_name = nullptr;
      m.msg_namelen = 5;
      t.Rec("sendmsg NULL name len 5", a.sendmsg(p.a, &m, 0));
      m.msg_namelen = 0;
      // control messages
      alignas(cmsghdr) unsigned char cbuf[256] = {};
      m.msg_control = cbuf;
      m.msg_controllen = 4;
      t.Rec("sendmsg controllen 4", a.sendmsg(p.a, &m, 0));
      m.msg_controllen = static_cast<size_t>(INT_MAX) + 1;
      t.Rec("sendmsg controllen > INT_MAX", a.sendmsg(p.a, &m, 0));
      m.msg_controllen = 1 << 20;
      t.Rec("sendmsg controllen 1 MiB", a.sendmsg(p.a, &m, 0));
      m.msg_control = nullptr;
      m.msg_controllen = 20;
      t.Rec("sendmsg control NULL", a.sendmsg(p.a, &m, 0));
      m.msg_control = cbuf;
      auto* c = reinterpret_cast<cmsghdr*>(cbuf);
      m.msg_controllen = CMSG_SPACE(0);
      c->cmsg_len = CMSG_LEN(0);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      t.Rec("sendmsg SCM_RIGHTS no fds", a.sendmsg(p.a, &m, 0));
      c->cmsg_len = 100;
      t.Rec("sendmsg cmsg_len too big", a.sendmsg(p.a, &m, 0));
      c->cmsg_len = 4;
      t.Rec("sendmsg cmsg_len too small", a.sendmsg(p.a, &m, 0));
      c->cmsg_len = CMSG_LEN(4);
      m.msg_controllen = CMSG_SPACE(4);
      c->cmsg_type = 77;
      t.Rec("sendmsg cmsg type 77", a.sendmsg(p.a, &m, 0));
      c->cmsg_level = 0;
      t.Rec("sendmsg cmsg level 0", a.sendmsg(p.a, &m, 0));
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_CREDENTIALS;
      t.Rec("sendmsg creds bad len", a.sendmsg(p.a, &m, 0));
      c->cmsg_len = CMSG_LEN(sizeof(ucred));
      m.msg_controllen = CMSG_SPACE(sizeof(ucred));
      ucred creds{getpid(), getuid(), getgid()};
      std::memcpy(CMSG_DATA(c), &creds, sizeof creds);
      t.Rec("sendmsg creds", a.sendmsg(p.a, &m, 0));
      creds.uid = static_cast<uid_t>(-1);
      std::memcpy(CMSG_DATA(c), &creds, sizeof creds);
      t.Rec("sendmsg creds invalid uid", a.sendmsg(p.a, &m, 0));
      m.msg_control = nullptr;
      m.msg_controllen = 0;
      // OOB
      t.Rec("recv MSG_OOB", a.recv(p.b, buf, 10, MSG_OOB));
      if (type != SOCK_STREAM) t.Rec("send MSG_OOB", a.send(p.a, buf, 1, MSG_OOB));
      // Unknown and ignored flags.
      t.Rec("send MSG_EOR|MSG_MORE", a.send(p.a, buf, 1, MSG_EOR | MSG_MORE));
      t.Rec("send 0x80000000", a.send(p.a, buf, 1, static_cast<int>(0x80000000U)));
      // NULL buffers
      t.Rec("send NULL", a.send(p.a, nullptr, 4, 0));
      t.Rec("send NULL 0", a.send(p.a, nullptr, 0, 0));
      while (a.recv(p.b, buf, sizeof buf, 0) >= 0) {
      }
      t.Rec("recv NULL empty", a.recv(p.b, nullptr, 4, 0));
      Send(t, "a", p.a, "data");
      t.Rec("recv NULL", a.recv(p.b, nullptr, 4, 0));
      Recv(t, "b", p.b, 10);
      // recvfrom / recvmsg address and flag results
      Send(t, "a", p.a, "abcdef");
      sockaddr_un from;
      std::memset(&from, 0x55, sizeof from);
      socklen_t fromlen = sizeof from;
      t.Rec("recvfrom", a.recvfrom(p.b, buf, 4, 0, reinterpret_cast<sockaddr*>(&from), &fromlen));
      t.Note("  fromlen " + std::to_string(fromlen) + " family " + std::to_string(from.sun_family));
      while (a.recv(p.b, buf, sizeof buf, 0) >= 0) {
      }
      Send(t, "a", p.a, "abcdef");
      t.Rec("recvfrom NULL len",
            a.recvfrom(p.b, buf, 4, 0, reinterpret_cast<sockaddr*>(&from), nullptr));
      Recv(t, "b after", p.b, 10);
      Send(t, "a", p.a, "abcdef");
      std::memset(&from, 0x55, sizeof from);
      iovec riov{buf, 3};
      msghdr rm{};
      rm.msg_iov = &riov;
      rm.msg_iovlen = 1;
      rm.msg_name = &from;
      rm.msg_namelen = sizeof from;
      rm.msg_control = cbuf;
      rm.msg_controllen = sizeof cbuf;
      rm.msg_flags = 0x7777;
      t.Rec("recvmsg", a.recvmsg(p.b, &rm, MSG_CMSG_CLOEXEC));
      t.Note("  namelen " + std::to_string(rm.msg_namelen) + " controllen " +
             std::to_string(rm.msg_controllen) + " flags " + std::to_string(rm.msg_flags));
      rm.msg_namelen = 33;
      rm.msg_flags = 0x7777;
      rm.msg_controllen = 99;
      t.Rec("recvmsg empty", a.recvmsg(p.b, &rm, 0));
      t.Note("  namelen " + std::to_string(rm.msg_namelen) + " controllen " +
             std::to_string(rm.msg_controllen) + " flags " + std::to_string(rm.msg_flags));
      rm.msg_namelen = static_cast<socklen_t>(-1);
      t.Rec("recvmsg namelen -1", a.recvmsg(p.b, &rm, 0));
      ClosePair(t, p);
    }
  });
}

TEST(SocketDiffTest, ReadWriteCalls) {
  RunOnBoth([](Trace& t) {
    const auto& a = t.backend();
    for (const int type : kTypes) {
      const Pair p = MakePair(t, type, SOCK_NONBLOCK);
      char buf[64] = {};
      t.Rec("write 0", a.write(p.a, "", 0));
      t.Rec("read 0", a.read(p.b, buf, 0));
      t.Mask("b", p.b);
      t.Rec("read", a.read(p.b, buf, sizeof buf));
      t.Rec("write", a.write(p.a, "hello", 5));
      char x[3] = {};
      char y[4] = {};
      iovec riov[] = {{x, sizeof x}, {nullptr, 0}, {y, sizeof y}};
      t.Rec("readv", a.readv(p.b, riov, 3));
      t.Note("  '" + std::string(x, 3) + "' '" + std::string(y, 2) + "'");
      iovec wiov[] = {{const_cast<char*>("ab"), 2}, {const_cast<char*>("cde"), 3}, {nullptr, 0}};
      t.Rec("writev", a.writev(p.a, wiov, 3));
      t.Rec("writev 0 total", a.writev(p.a, wiov + 2, 1));
      t.Rec("read 2", a.read(p.b, buf, 2));
      t.Rec("read", a.read(p.b, buf, sizeof buf));
      t.Rec("fcntl F_SETFL 0", a.fcntl(p.a, F_SETFL, 0));
      t.Rec("F_GETFL", a.fcntl(p.a, F_GETFL, 0));
      t.Rec("shutdown(a, WR)", a.shutdown(p.a, SHUT_WR));
      t.Rec("write after SHUT_WR", a.write(p.a, "x", 1));
      t.Sigpipes("write");
      t.Rec("writev after SHUT_WR", a.writev(p.a, wiov, 2));
      t.Sigpipes("writev");
      t.Rec("read after peer SHUT_WR", a.read(p.b, buf, sizeof buf));
      ClosePair(t, p);
    }
  });
}

// Where EPOLLOUT goes and comes back, and how much fits, for each write size: the skb
// truesize accounting must match the kernel's byte for byte.
TEST(SocketDiffTest, SendBufferThresholds) {
  RunOnBoth([](Trace& t) {
    const auto& a = t.backend();
    static char buf[1 << 20];
    for (const int type : kTypes) {
      for (const size_t size : {size_t{1}, size_t{100}, size_t{1000}, size_t{4096}, size_t{65536},
                                size_t{200000}, size_t{1} << 20}) {
        for (const int sndbuf : {0, 5000, 100000}) {
          t.Note("-- " + TypeName(type) + " write " + std::to_string(size) + " SO_SNDBUF " +
                 std::to_string(sndbuf));
          const Pair p = MakePair(t, type, SOCK_NONBLOCK);
          if (sndbuf != 0) {
            a.setsockopt(p.a, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
          }
          const int ep = a.epoll_create1(0);
          epoll_event ev{};
          ev.events = EPOLLOUT | EPOLLET;
          a.epoll_ctl(ep, EPOLL_CTL_ADD, p.a, &ev);
          epoll_event out{};
          t.Rec("ET events at start", a.epoll_wait(ep, &out, 1, 0));
          long total = 0;
          int writes = 0;
          MaskWatch watch;
          watch.Changed(t, p.a);
          for (int i = 0; i < 100000; ++i) {
            const long n = a.write(p.a, buf, size);
            if (n < 0) {
              t.Rec("write " + std::to_string(writes), n);
              break;
            }
            if (static_cast<size_t>(n) != size) t.Note("  partial write " + std::to_string(n));
            ++writes;
            total += n;
            if (watch.Changed(t, p.a)) {
              t.Note("  mask " + EpollMaskName(watch.last) + " after " + std::to_string(writes) +
                     " writes, " + std::to_string(total) + " bytes");
              Ioctl(t, "  SIOCOUTQ", p.a, SIOCOUTQ);
            }
          }
          t.Note("  total " + std::to_string(total));
          Ioctl(t, "SIOCOUTQ", p.a, SIOCOUTQ);
          Ioctl(t, "SIOCINQ", p.b, SIOCINQ);
          t.Rec("ET events when full", a.epoll_wait(ep, &out, 1, 0));
          long drained = 0;
          int et_events = 0;
          for (int i = 0; i < 100000; ++i) {
            const long n = a.read(p.b, buf, 4096);
            if (n <= 0) break;
            drained += n;
            if (a.epoll_wait(ep, &out, 1, 0) == 1) {
              ++et_events;
              t.Note("  ET event " + EpollMaskName(out.events) + " after reading " +
                     std::to_string(drained));
              Ioctl(t, "  SIOCOUTQ", p.a, SIOCOUTQ);
            }
            if (watch.Changed(t, p.a)) {
              t.Note("  mask " + EpollMaskName(watch.last) + " after reading " +
                     std::to_string(drained));
            }
          }
          t.Note("  drained " + std::to_string(drained) + " ET events " +
                 std::to_string(et_events));
          a.close(ep);
          ClosePair(t, p);
        }
      }
    }
  });
}

TEST(SocketDiffTest, SkbTruesize) {
  RunOnBoth([](Trace& t) {
    const auto& a = t.backend();
    static char buf[1 << 23];
    for (const int type : kTypes) {
      for (const size_t size :
           {0,     1,     192,   193,   704,    705,    1728,   1729,  3776,  3777,
            4096,  4097,  7872,  7873,  8192,   16000,  16064,  16065, 16129, 20000,
            32768, 36544, 36545, 65536, 100000, 106400, 200000, 500000}) {
        const Pair p = MakePair(t, type, SOCK_NONBLOCK);
        const int big = 4 << 20;
        a.setsockopt(p.a, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
        t.Rec(TypeName(type) + " write " + std::to_string(size), a.write(p.a, buf, size));
        Ioctl(t, "  SIOCOUTQ", p.a, SIOCOUTQ);
        Ioctl(t, "  SIOCINQ", p.b, SIOCINQ);
        t.Rec("  read", a.read(p.b, buf, 4096));
        Ioctl(t, "  SIOCOUTQ", p.a, SIOCOUTQ);
        ClosePair(t, p);
      }
      // The largest datagram: sk_sndbuf - 32; the head must fit a kmalloc (ENOBUFS).
      const Pair p = MakePair(t, type, SOCK_NONBLOCK);
      for (const size_t size : {212960, 212961, 1 << 20}) {
        t.Rec(TypeName(type) + " send " + std::to_string(size), a.send(p.a, buf, size, 0));
        while (a.recv(p.b, buf, sizeof buf, 0) > 0) {
        }
      }
      const int big = 4 << 20;
      a.setsockopt(p.a, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
      for (const size_t size : {4000000, 4263616, 4263617, 8388576, 8388577}) {
        t.Rec(TypeName(type) + " send " + std::to_string(size), a.send(p.a, buf, size, 0));
        Ioctl(t, "  SIOCOUTQ", p.a, SIOCOUTQ);
        while (a.recv(p.b, buf, sizeof buf, 0) > 0) {
        }
      }
      ClosePair(t, p);
    }
  });
}

// Which changes wake an edge-triggered item: data (IN key), write space (OUT key), state
// changes (no key: every item is re-polled) and SO_SNDBUF.
TEST(SocketDiffTest, EdgeTriggeredWakeups) {
  RunOnBoth([](Trace& t) {
    const auto& a = t.backend();
    static char buf[1 << 18];
    for (const int type : kTypes) {
      t.Note("-- " + TypeName(type));
      const Pair p = MakePair(t, type, SOCK_NONBLOCK);
      const int ep = a.epoll_create1(0);
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
      ev.data.u64 = 1;
      a.epoll_ctl(ep, EPOLL_CTL_ADD, p.b, &ev);
      ev.events = EPOLLOUT | EPOLLET;
      ev.data.u64 = 2;
      a.epoll_ctl(ep, EPOLL_CTL_ADD, p.a, &ev);
      auto wait = [&](const std::string& what) {
        epoll_event out[4];
        const int n = a.epoll_wait(ep, out, 4, 0);
        std::string s = what + ": " + std::to_string(n);
        for (int i = 0; i < n; ++i)
          s += " [" + std::to_string(out[i].data.u64) + " " + EpollMaskName(out[i].events) + "]";
        t.Note(s);
      };
      wait("start");
      wait("again");
      Send(t, "a", p.a, "x");
      wait("after send");
      Send(t, "a", p.a, "y");
      wait("after 2nd send");
      Recv(t, "b", p.b, 1);
      wait("after recv");
      Recv(t, "b", p.b, 1);
      wait("after recv");
      // fill a's buffer, then free space
      while (a.send(p.a, buf, 4096, 0) > 0) {
      }
      wait("after fill");
      long drained = 0;
      while (a.recv(p.b, buf, 4096, 0) > 0) drained += 1;
      t.Note("drained " + std::to_string(drained > 0));
      wait("after drain");
      const int small = 1;
      t.Rec("SO_SNDBUF", a.setsockopt(p.a, SOL_SOCKET, SO_SNDBUF, &small, sizeof small));
      wait("after SO_SNDBUF");
      t.Rec("SO_RCVBUF", a.setsockopt(p.a, SOL_SOCKET, SO_RCVBUF, &small, sizeof small));
      wait("after SO_RCVBUF");
      t.Rec("shutdown(b, RD)", a.shutdown(p.b, SHUT_RD));
      wait("after shutdown(b, RD)");
      t.Rec("shutdown(a, RD)", a.shutdown(p.a, SHUT_RD));
      wait("after shutdown(a, RD)");
      a.close(p.b);
      wait("after close(b)");
      a.close(ep);
      a.close(p.a);
    }
  });
}

// Blocking calls, woken by another thread. The trace is written by the main thread only,
// after the helper is joined.
TEST(SocketDiffTest, BlockingCalls) {
  RunOnBoth([](Trace& t) {
    const auto& a = t.backend();
    using std::chrono::milliseconds;
    for (const int type : kTypes) {
      t.Note("-- " + TypeName(type));
      {
        const Pair p = MakePair(t, type);
        std::thread helper([&] {
          std::this_thread::sleep_for(milliseconds(30));
          a.send(p.a, "wake", 4, 0);
        });
        Recv(t, "blocking", p.b, 10);
        helper.join();
        ClosePair(t, p);
      }
      if (type != SOCK_DGRAM) {  // a datagram peer's SHUT_WR does not reach us
        const Pair p = MakePair(t, type);
        std::thread helper([&] {
          std::this_thread::sleep_for(milliseconds(30));
          a.shutdown(p.a, SHUT_WR);
        });
        Recv(t, "blocking until peer SHUT_WR", p.b, 10);
        helper.join();
        ClosePair(t, p);
      }
      {
        const Pair p = MakePair(t, type);
        std::thread helper([&] {
          std::this_thread::sleep_for(milliseconds(30));
          a.shutdown(p.b, SHUT_RD);
        });
        Recv(t, "blocking until own SHUT_RD", p.b, 10);
        helper.join();
        ClosePair(t, p);
      }
      if (type != SOCK_DGRAM) {
        const Pair p = MakePair(t, type);
        std::thread helper([&] {
          std::this_thread::sleep_for(milliseconds(30));
          a.close(p.a);
        });
        Recv(t, "blocking until peer close", p.b, 10);
        helper.join();
        a.close(p.b);
      }
      if (type == SOCK_STREAM) {
        const Pair p = MakePair(t, type);
        std::thread helper([&] {
          for (const char* s : {"ab", "cd", "ef"}) {
            std::this_thread::sleep_for(milliseconds(15));
            a.send(p.a, s, 2, 0);
          }
        });
        Recv(t, "MSG_WAITALL", p.b, 6, MSG_WAITALL);
        helper.join();
        ClosePair(t, p);
      }
      {
        // A writer blocked on a full buffer, released by a reader.
        const Pair p = MakePair(t, type);
        static char buf[1 << 16];
        const int fl = a.fcntl(p.a, F_GETFL, 0);
        a.fcntl(p.a, F_SETFL, static_cast<unsigned long>(fl | O_NONBLOCK));
        long total = 0;
        for (;;) {
          const long n = a.send(p.a, buf, 1000, 0);
          if (n < 0) break;
          total += n;
        }
        a.fcntl(p.a, F_SETFL, static_cast<unsigned long>(fl));
        std::thread helper([&] {
          std::this_thread::sleep_for(milliseconds(30));
          static char rbuf[1 << 16];  // not the sender's buffer
          long got = 0;
          while (got < total) {
            const long n = a.recv(p.b, rbuf, sizeof rbuf, 0);
            if (n <= 0) break;
            got += n;
          }
        });
        t.Rec("blocking send on full buffer", a.send(p.a, buf, 1000, 0));
        helper.join();
        ClosePair(t, p);
      }
      if (type != SOCK_DGRAM) {
        // The reader closes with our data unread: a blocked writer gets ECONNRESET.
        const Pair p = MakePair(t, type);
        static char buf[1 << 16];
        const int fl = a.fcntl(p.a, F_GETFL, 0);
        a.fcntl(p.a, F_SETFL, static_cast<unsigned long>(fl | O_NONBLOCK));
        while (a.send(p.a, buf, 1000, 0) > 0) {
        }
        a.fcntl(p.a, F_SETFL, static_cast<unsigned long>(fl));
        std::thread helper([&] {
          std::this_thread::sleep_for(milliseconds(30));
          a.close(p.b);
        });
        t.Rec("blocked send, peer closes", a.send(p.a, buf, 1000, 0));
        t.Sigpipes("blocked send");
        t.Rec("send again", a.send(p.a, buf, 1000, 0));
        t.Sigpipes("send again");
        helper.join();
        a.close(p.a);
      }
    }
  });
}

// A SOCK_DGRAM pair whose peer is gone: the next send disconnects (ECONNREFUSED) and drops
// what was queued for us; later sends have no peer (ENOTCONN).
TEST(SocketDiffTest, DgramPeerGone) {
  RunOnBoth([](Trace& t) {
    const auto& a = t.backend();
    const Pair p = MakePair(t, SOCK_DGRAM, SOCK_NONBLOCK);
    Send(t, "b", p.b, "one");
    Send(t, "b", p.b, "two");
    Send(t, "a", p.a, "unread");
    a.close(p.b);
    t.Mask("a", p.a);
    Recv(t, "a", p.a, 10);
    Send(t, "a", p.a, "x");
    t.Mask("a", p.a);
    Recv(t, "a", p.a, 10);
    Send(t, "a", p.a, "x");
    Send(t, "a", p.a, "x", MSG_NOSIGNAL);
    t.Sigpipes("sends");
    GetInt(t, "SO_ERROR", p.a, SO_ERROR);
    t.Rec("shutdown", a.shutdown(p.a, SHUT_RDWR));
    t.Mask("a", p.a);
    Recv(t, "a", p.a, 10);
    a.close(p.a);
  });
}

// Calls on kernel descriptors pass through to the kernel.
TEST(SocketKernelPassThroughTest, KernelSocketpair) {
  SigpipeCount();  // installs a handler: EPIPE below raises SIGPIPE
  int sv[2];
  ASSERT_EQ(0, ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
  EXPECT_EQ(3, uep_send(sv[0], "abc", 3, 0));
  char buf[8] = {};
  EXPECT_EQ(3, uep_recv(sv[1], buf, sizeof buf, 0));
  EXPECT_EQ(0, std::memcmp(buf, "abc", 3));
  int v = 0;
  socklen_t len = sizeof v;
  EXPECT_EQ(0, uep_getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &v, &len));
  EXPECT_EQ(SOCK_STREAM, v);
  v = 10000;
  EXPECT_EQ(0, uep_setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, sizeof v));
  EXPECT_EQ(0, uep_shutdown(sv[0], SHUT_WR));
  EXPECT_EQ(0, uep_recv(sv[1], buf, sizeof buf, 0));
  EXPECT_EQ(-1, uep_recv(sv[0], buf, sizeof buf, 0));
  EXPECT_EQ(EAGAIN, errno);
  iovec iov{buf, sizeof buf};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  EXPECT_EQ(2, uep_sendto(sv[1], "hi", 2, 0, nullptr, 0));
  EXPECT_EQ(2, uep_recvmsg(sv[0], &msg, 0));
  EXPECT_EQ(-1, uep_sendmsg(sv[0], &msg, 0));
  EXPECT_EQ(EPIPE, errno);
  ::close(sv[0]);
  ::close(sv[1]);
  EXPECT_EQ(-1, uep_send(sv[0], "abc", 3, 0));
  EXPECT_EQ(EBADF, errno);
}

}  // namespace
}  // namespace uep::test
