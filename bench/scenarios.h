// Benchmark scenarios, written once and instantiated for Kernel and Uepoll (apis.h). Each
// is a class: the constructor sets up, Op() is one timed operation, the destructor tears
// down. Used by the Google Benchmark suite (epoll_bench.cc) and by `uepoll bench`.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace uep::bench {

inline void Check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(what);
}

// write 1 to an eventfd, harvest it with wait(0), read it back.
template <typename Api>
class EventfdRoundTrip {
 public:
  explicit EventfdRoundTrip(bool edge)
      : ep_(Api::EpollCreate()), fd_(Api::EventFd(0, EFD_NONBLOCK)) {
    epoll_event ev{};
    ev.events = EPOLLIN | (edge ? EPOLLET : 0U);
    Check(Api::Ctl(ep_, EPOLL_CTL_ADD, fd_, &ev) == 0, "ctl add");
  }
  ~EventfdRoundTrip() {
    Api::Close(fd_);
    Api::Close(ep_);
  }
  void Op() {
    const uint64_t one = 1;
    uint64_t value = 0;
    epoll_event out[4];
    Api::Write(fd_, &one, sizeof one);
    harvested_ += Api::Wait(ep_, out, 4, 0);
    Api::Read(fd_, &value, sizeof value);
  }
  [[nodiscard]] int64_t harvested() const { return harvested_; }

 private:
  int ep_;
  int fd_;
  int64_t harvested_ = 0;
};

enum class PairKind { kPipe, kSocketPair };

// write one byte into a pipe (pipe2) or an AF_UNIX stream socket pair, harvest the read
// end with wait(0), read the byte back.
template <typename Api>
class PairRoundTrip {
 public:
  PairRoundTrip(PairKind kind, bool edge) : ep_(Api::EpollCreate()) {
    const int rc = kind == PairKind::kPipe ? Api::Pipe2(fds_, O_NONBLOCK)
                                           : Api::SocketPair(SOCK_STREAM | SOCK_NONBLOCK, fds_);
    Check(rc == 0, kind == PairKind::kPipe ? "pipe2" : "socketpair");
    epoll_event ev{};
    ev.events = EPOLLIN | (edge ? EPOLLET : 0U);
    Check(Api::Ctl(ep_, EPOLL_CTL_ADD, fds_[0], &ev) == 0, "ctl add");
  }
  ~PairRoundTrip() {
    Api::Close(fds_[0]);
    Api::Close(fds_[1]);
    Api::Close(ep_);
  }
  void Op() {
    char byte = 'x';
    epoll_event out[4];
    Api::Write(fds_[1], &byte, 1);
    harvested_ += Api::Wait(ep_, out, 4, 0);
    Api::Read(fds_[0], &byte, 1);
  }
  [[nodiscard]] int64_t harvested() const { return harvested_; }

 private:
  int ep_;
  int fds_[2] = {-1, -1};
  int64_t harvested_ = 0;
};

// wait(0) on an instance with one idle item.
template <typename Api>
class WaitNothingReady {
 public:
  WaitNothingReady() : ep_(Api::EpollCreate()), fd_(Api::EventFd(0, EFD_NONBLOCK)) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    Check(Api::Ctl(ep_, EPOLL_CTL_ADD, fd_, &ev) == 0, "ctl add");
  }
  ~WaitNothingReady() {
    Api::Close(fd_);
    Api::Close(ep_);
  }
  void Op() {
    epoll_event out[4];
    harvested_ += Api::Wait(ep_, out, 4, 0);
  }
  [[nodiscard]] int64_t harvested() const { return harvested_; }

 private:
  int ep_;
  int fd_;
  int64_t harvested_ = 0;
};

// wait(0) on a mixed instance: one eventfd of the API's own (ready or not, level-triggered)
// and `sockets` idle kernel UDP sockets. On uepoll the sockets live in the instance's
// hidden kernel instance, watched by the readiness ring.
template <typename Api>
class MixedWait {
 public:
  MixedWait(bool eventfd_ready, int sockets)
      : ep_(Api::EpollCreate()), fd_(Api::EventFd(eventfd_ready ? 1 : 0, EFD_NONBLOCK)) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    Check(Api::Ctl(ep_, EPOLL_CTL_ADD, fd_, &ev) == 0, "ctl add");
    for (int i = 0; i < sockets; ++i) {
      const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      Check(s >= 0, "socket");
      ev.data.u64 = static_cast<uint64_t>(i) + 1;
      Check(Api::Ctl(ep_, EPOLL_CTL_ADD, s, &ev) == 0, "ctl add socket");
      sockets_.push_back(s);
    }
  }
  ~MixedWait() {
    for (const int s : sockets_) ::close(s);
    Api::Close(fd_);
    Api::Close(ep_);
  }
  void Op() {
    epoll_event out[8];
    harvested_ += Api::Wait(ep_, out, 8, 0);
  }
  [[nodiscard]] int64_t harvested() const { return harvested_; }

 private:
  int ep_;
  int fd_;
  std::vector<int> sockets_;
  int64_t harvested_ = 0;
};

enum class CtlKind { kAddDel, kMod, kOneshotRearm };

// ctl ADD+DEL, ctl MOD, or a one-shot item re-armed by MOD after each delivery.
template <typename Api>
class CtlOps {
 public:
  explicit CtlOps(CtlKind kind)
      : kind_(kind),
        ep_(Api::EpollCreate()),
        fd_(Api::EventFd(kind == CtlKind::kOneshotRearm, EFD_NONBLOCK)) {
    ev_.events = EPOLLIN | (kind == CtlKind::kOneshotRearm ? EPOLLONESHOT : 0U);
    if (kind != CtlKind::kAddDel) Check(Api::Ctl(ep_, EPOLL_CTL_ADD, fd_, &ev_) == 0, "ctl add");
  }
  ~CtlOps() {
    Api::Close(fd_);
    Api::Close(ep_);
  }
  void Op() {
    switch (kind_) {
      case CtlKind::kAddDel:
        Api::Ctl(ep_, EPOLL_CTL_ADD, fd_, &ev_);
        Api::Ctl(ep_, EPOLL_CTL_DEL, fd_, nullptr);
        break;
      case CtlKind::kMod:
        Api::Ctl(ep_, EPOLL_CTL_MOD, fd_, &ev_);
        break;
      case CtlKind::kOneshotRearm: {
        epoll_event out;
        harvested_ += Api::Wait(ep_, &out, 1, 0);
        Api::Ctl(ep_, EPOLL_CTL_MOD, fd_, &ev_);
        break;
      }
    }
  }
  [[nodiscard]] int64_t harvested() const { return harvested_; }

 private:
  CtlKind kind_;
  int ep_;
  int fd_;
  epoll_event ev_{};
  int64_t harvested_ = 0;
};

// eventfd create, ADD to an instance, close (the close removes the item).
template <typename Api>
class CreateWatchClose {
 public:
  CreateWatchClose() : ep_(Api::EpollCreate()) {}
  ~CreateWatchClose() { Api::Close(ep_); }
  void Op() {
    const int fd = Api::EventFd(0, EFD_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    Api::Ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
    Api::Close(fd);
  }

 private:
  int ep_;
};

// N watched eventfds, K of them signalled, one wait harvests K (LT items are then reset).
template <typename Api>
class Batch {
 public:
  Batch(int watched, int ready) : ep_(Api::EpollCreate()), out_(static_cast<size_t>(ready)) {
    for (int i = 0; i < watched; ++i) {
      const int fd = Api::EventFd(0, EFD_NONBLOCK);
      Check(fd >= 0, "eventfd (descriptor limit?)");
      fds_.push_back(fd);
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLET;
      ev.data.u32 = static_cast<uint32_t>(i);
      Check(Api::Ctl(ep_, EPOLL_CTL_ADD, fd, &ev) == 0, "ctl add");
    }
    const size_t stride = static_cast<size_t>(watched / ready);
    for (int i = 0; i < ready; ++i) signalled_.push_back(fds_[static_cast<size_t>(i) * stride]);
  }
  ~Batch() {
    for (int fd : fds_) Api::Close(fd);
    Api::Close(ep_);
  }
  // Untimed: signal the K files.
  void Prepare() {
    const uint64_t one = 1;
    for (int fd : signalled_) Api::Write(fd, &one, sizeof one);
  }
  // Timed: one wait that harvests them all.
  void Op() { harvested_ += Api::Wait(ep_, out_.data(), static_cast<int>(out_.size()), 0); }
  // Untimed: drain the counters.
  void Drain() {
    uint64_t value = 0;
    for (int fd : signalled_) Api::Read(fd, &value, sizeof value);
  }
  [[nodiscard]] int64_t harvested() const { return harvested_; }

 private:
  int ep_;
  std::vector<int> fds_;
  std::vector<int> signalled_;
  std::vector<epoll_event> out_;
  int64_t harvested_ = 0;
};

// N watched, exactly one ready (level-triggered, stays ready): the cost of one wait.
template <typename Api>
class OneReadyAmongN {
 public:
  explicit OneReadyAmongN(int watched) : ep_(Api::EpollCreate()) {
    for (int i = 0; i < watched; ++i) {
      const int fd = Api::EventFd(0, EFD_NONBLOCK);
      Check(fd >= 0, "eventfd (descriptor limit?)");
      fds_.push_back(fd);
      epoll_event ev{};
      ev.events = EPOLLIN;
      Check(Api::Ctl(ep_, EPOLL_CTL_ADD, fd, &ev) == 0, "ctl add");
    }
    const uint64_t one = 1;
    Api::Write(fds_[fds_.size() / 2], &one, sizeof one);
  }
  ~OneReadyAmongN() {
    for (int fd : fds_) Api::Close(fd);
    Api::Close(ep_);
  }
  void Op() {
    epoll_event out[4];
    harvested_ += Api::Wait(ep_, out, 4, 0);
  }
  [[nodiscard]] int64_t harvested() const { return harvested_; }

 private:
  int ep_;
  std::vector<int> fds_;
  int64_t harvested_ = 0;
};

// poll(0) over N kernel eventfds, one ready (the middle one). Kernel only.
class PollOneReadyAmongN {
 public:
  explicit PollOneReadyAmongN(int watched) {
    for (int i = 0; i < watched; ++i) {
      const int fd = ::eventfd(0, EFD_NONBLOCK);
      Check(fd >= 0, "eventfd (descriptor limit?)");
      fds_.push_back({fd, POLLIN, 0});
    }
    const uint64_t one = 1;
    Check(::write(fds_[fds_.size() / 2].fd, &one, sizeof one) == sizeof one, "write");
  }
  ~PollOneReadyAmongN() {
    for (auto& p : fds_) ::close(p.fd);
  }
  void Op() { harvested_ += ::poll(fds_.data(), fds_.size(), 0); }
  [[nodiscard]] int64_t harvested() const { return harvested_; }

 private:
  std::vector<pollfd> fds_;
  int64_t harvested_ = 0;
};

// select(0) over N kernel eventfds, one ready; the fd_set is rebuilt each call, as a
// select() loop must. Kernel only; every descriptor must be below FD_SETSIZE.
class SelectOneReadyAmongN {
 public:
  explicit SelectOneReadyAmongN(int watched) {
    for (int i = 0; i < watched; ++i) {
      const int fd = ::eventfd(0, EFD_NONBLOCK);
      Check(fd >= 0, "eventfd (descriptor limit?)");
      fds_.push_back(fd);
      maxfd_ = std::max(maxfd_, fd);
    }
    if (maxfd_ >= FD_SETSIZE) {
      for (int fd : fds_) ::close(fd);
      throw std::runtime_error("select() cannot hold descriptors >= FD_SETSIZE");
    }
    const uint64_t one = 1;
    Check(::write(fds_[fds_.size() / 2], &one, sizeof one) == sizeof one, "write");
  }
  ~SelectOneReadyAmongN() {
    for (int fd : fds_) ::close(fd);
  }
  void Op() {
    fd_set set;
    FD_ZERO(&set);
    for (int fd : fds_) FD_SET(fd, &set);
    timeval tv{0, 0};
    harvested_ += ::select(maxfd_ + 1, &set, nullptr, nullptr, &tv);
  }
  [[nodiscard]] int64_t harvested() const { return harvested_; }

 private:
  std::vector<int> fds_;
  int maxfd_ = 0;
  int64_t harvested_ = 0;
};

}  // namespace uep::bench
