// The two sides every benchmark runs on, as static functions so that neither side pays
// for an indirect call: Kernel (system calls through libc) and Uepoll (the uep_* API).
#pragma once

#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "uepoll/uepoll.h"

namespace uep::bench {

struct Kernel {
  static constexpr const char* kName = "kernel";
  static int EpollCreate() { return ::epoll_create1(0); }
  static int Ctl(int ep, int op, int fd, epoll_event* ev) { return ::epoll_ctl(ep, op, fd, ev); }
  static int Wait(int ep, epoll_event* evs, int n, int timeout) {
    return ::epoll_wait(ep, evs, n, timeout);
  }
  static int EventFd(unsigned init, int flags) { return ::eventfd(init, flags); }
  static ssize_t Read(int fd, void* buf, size_t n) { return ::read(fd, buf, n); }
  static ssize_t Write(int fd, const void* buf, size_t n) { return ::write(fd, buf, n); }
  static int Close(int fd) { return ::close(fd); }
  static void SetBusyPoll(int /*ep*/, int /*rounds*/) {}
  static int Pipe2(int fds[2], int flags) { return ::pipe2(fds, flags); }
  static int SocketPair(int type, int sv[2]) { return ::socketpair(AF_UNIX, type, 0, sv); }
  static int TimerfdCreate(int clock, int flags) { return ::timerfd_create(clock, flags); }
  static int TimerfdSettime(int fd, int flags, const itimerspec* v) {
    return ::timerfd_settime(fd, flags, v, nullptr);
  }
};

struct Uepoll {
  static constexpr const char* kName = "uepoll";
  static int EpollCreate() { return uep_epoll_create1(0); }
  static int Ctl(int ep, int op, int fd, epoll_event* ev) { return uep_epoll_ctl(ep, op, fd, ev); }
  static int Wait(int ep, epoll_event* evs, int n, int timeout) {
    return uep_epoll_wait(ep, evs, n, timeout);
  }
  static int EventFd(unsigned init, int flags) { return uep_eventfd(init, flags); }
  static ssize_t Read(int fd, void* buf, size_t n) { return uep_read(fd, buf, n); }
  static ssize_t Write(int fd, const void* buf, size_t n) { return uep_write(fd, buf, n); }
  static int Close(int fd) { return uep_close(fd); }
  // rounds < 0 keeps the instance's default.
  static void SetBusyPoll(int ep, int rounds) {
    if (rounds >= 0) uep_epoll_set_busy_poll(ep, rounds);
  }
  static int Pipe2(int fds[2], int flags) { return uep_pipe2(fds, flags); }
  static int SocketPair(int type, int sv[2]) { return uep_socketpair(AF_UNIX, type, 0, sv); }
  static int TimerfdCreate(int clock, int flags) { return uep_timerfd_create(clock, flags); }
  static int TimerfdSettime(int fd, int flags, const itimerspec* v) {
    return uep_timerfd_settime(fd, flags, v, nullptr);
  }
};

}  // namespace uep::bench
