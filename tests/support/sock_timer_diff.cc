#include "support/sock_timer_diff.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/epoll.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>
#include <utility>

namespace uep::test {
namespace {

std::atomic<int> sigpipe_count{0};
void OnSigpipe(int /*sig*/) { sigpipe_count.fetch_add(1, std::memory_order_relaxed); }

void InstallSigpipeHandler() {
  static const bool installed = [] {
    struct sigaction sa {};
    sa.sa_handler = OnSigpipe;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, nullptr);
    return true;
  }();
  (void)installed;
}

}  // namespace

long Trace::Rec(const std::string& what, long r) {
  const int err = errno;
  lines_.push_back(what + " = " + (r >= 0 ? std::to_string(r) : "-1 " + ErrnoName(err)));
  errno = err;
  return r;
}

uint32_t Trace::Mask(const std::string& what, int fd) {
  const int ep = backend_.epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLRDNORM | EPOLLRDBAND | EPOLLWRNORM |
              EPOLLWRBAND;
  uint32_t mask = 0;
  if (backend_.epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
    lines_.push_back(what + " mask: epoll_ctl " + ErrnoName(errno));
  } else {
    epoll_event out{};
    const int n = backend_.epoll_wait(ep, &out, 1, 0);
    if (n == 1) mask = out.events;
    lines_.push_back(what + " mask: " + EpollMaskName(mask));
  }
  backend_.close(ep);
  return mask;
}

Trace::Trace(const Backend& backend) : backend_(backend), sigpipes_seen_(SigpipeCount()) {}

void Trace::Sigpipes(const std::string& what) {
  const int now = SigpipeCount();
  lines_.push_back(what + " sigpipes: " + std::to_string(now - sigpipes_seen_));
  sigpipes_seen_ = now;
}

int SigpipeCount() {
  InstallSigpipeHandler();
  return sigpipe_count.load(std::memory_order_relaxed);
}

namespace {

std::pair<std::vector<std::string>, std::vector<std::string>> RunBoth(
    const std::function<void(Trace&)>& scenario) {
  InstallSigpipeHandler();
  Trace kernel(KernelBackend());
  scenario(kernel);
  Trace uepoll(UepollBackend());
  scenario(uepoll);
  return {kernel.lines(), uepoll.lines()};
}

}  // namespace

void RunOnBoth(const std::function<void(Trace&)>& scenario) {
  const auto [kernel, uepoll] = RunBoth(scenario);
  ExpectSameTraces(kernel, uepoll);
}

void RunOnBoth(KernelBehaviour behaviour, const std::function<void(Trace&)>& scenario) {
  const auto [kernel, uepoll] = RunBoth(scenario);
  ExpectAsProfiled(behaviour, kernel, uepoll);
}

}  // namespace uep::test
