// A TCP echo server on loopback, served by one event loop thread on the API's epoll
// instance (apis.h): hundreds of kernel sockets plus the API's own eventfd, which a second
// thread posts wake-ups to every few microseconds (the mixed instance of a real server: its
// connections and a cross-thread queue's doorbell). A load generator of its own (kernel
// epoll, one thread) keeps one request in flight per connection for a bounded time,
// checks every echoed byte, and times every request.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "apis.h"
#include "scenarios.h"

namespace uep::bench {

struct EchoConfig {
  int connections = 256;
  int payload = 64;              // bytes per request (and per reply)
  double seconds = 1.0;          // how long the load generator sends
  int wake_period_us = 5;        // the waker's sleep between two eventfd posts
  bool pin = true;               // the loop on one CPU, load generator and waker on another
};

struct EchoResult {
  int64_t requests = 0;          // replies received complete and checked in the window
  double seconds = 0;            // the window's real time
  double server_cpu_ns = 0;      // the loop thread's CPU time (user + system)
  double process_cpu_ns = 0;     // every thread's (getrusage), load generator included
  double p50_us = 0;
  double p99_us = 0;
  int64_t wakeups_posted = 0;
  int64_t wakeups_seen = 0;      // eventfd reads by the loop that returned a count
  int64_t mismatches = 0;        // echoed bytes that differ from the request's
  [[nodiscard]] double RequestsPerSecond() const { return static_cast<double>(requests) / seconds; }
  [[nodiscard]] double ServerCpuPerRequestNs() const {
    return server_cpu_ns / static_cast<double>(requests);
  }
  [[nodiscard]] double ProcessCpuPerRequestNs() const {
    return process_cpu_ns / static_cast<double>(requests);
  }
};

namespace echo_detail {

// Pins the calling thread to the index-th CPU it may run on (no-op if there is none).
inline void PinToAllowedCpu(int index) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &allowed) || index-- > 0) continue;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    sched_setaffinity(0, sizeof one, &one);
    return;
  }
}

inline double ThreadCpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

inline double ProcessCpuNs() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto ns = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) * 1e9 + static_cast<double>(tv.tv_usec) * 1e3;
  };
  return ns(ru.ru_utime) + ns(ru.ru_stime);
}

// The byte a request carries at offset i: differs per connection, request and offset, so
// a reply that went to the wrong connection, came back stale or mixed up is caught.
inline uint8_t PayloadByte(int conn, uint32_t seq, int i) {
  return static_cast<uint8_t>(conn * 131 + static_cast<int>(seq) * 29 + i * 7 + 1);
}

inline void NoDelay(int fd) {
  const int one = 1;
  Check(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0, "TCP_NODELAY");
}

// Writes all of buf to a non-blocking socket (the replies are small: a full send buffer
// is not expected, but handled by retrying).
inline void SendAll(int fd, const uint8_t* buf, size_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, buf, n, MSG_NOSIGNAL);
    if (w < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    Check(w > 0, "send");
    buf += w;
    n -= static_cast<size_t>(w);
  }
}

}  // namespace echo_detail

// One run: connections set up, the loop on Api's instance, the waker, the load generator
// (the calling thread) for cfg.seconds, then everything closed.
template <typename Api>
EchoResult EchoRun(const EchoConfig& cfg) {
  using namespace echo_detail;
  using Clock = std::chrono::steady_clock;
  const int n = cfg.connections;
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  Check(listener >= 0, "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  Check(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0, "bind");
  Check(::listen(listener, n + 16) == 0, "listen");
  Check(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0, "getsockname");
  std::vector<int> clients(static_cast<size_t>(n));
  std::vector<int> served(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    clients[i] = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    Check(clients[i] >= 0, "socket");
    Check(::connect(clients[i], reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0, "connect");
    served[i] = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    Check(served[i] >= 0, "accept");
    Check(::fcntl(clients[i], F_SETFL, O_NONBLOCK) == 0, "O_NONBLOCK");
    NoDelay(clients[i]);
    NoDelay(served[i]);
  }

  // The loop: level-triggered items, the eventfd's data is n (never a connection index).
  const int ep = Api::EpollCreate();
  const int wake = Api::EventFd(0, EFD_NONBLOCK);
  Check(ep >= 0 && wake >= 0, "instance");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = static_cast<uint64_t>(n);
  Check(Api::Ctl(ep, EPOLL_CTL_ADD, wake, &ev) == 0, "ctl add eventfd");
  for (int i = 0; i < n; ++i) {
    ev.data.u64 = static_cast<uint64_t>(i);
    Check(Api::Ctl(ep, EPOLL_CTL_ADD, served[i], &ev) == 0, "ctl add socket");
  }
  std::atomic<bool> stop{false};
  EchoResult r;
  double server_cpu = 0;
  int64_t wakeups_seen = 0;
  cpu_set_t saved;
  CPU_ZERO(&saved);
  const bool pin = cfg.pin && sched_getaffinity(0, sizeof saved, &saved) == 0 && CPU_COUNT(&saved) >= 2;
  std::thread loop([&] {
    if (pin) PinToAllowedCpu(0);
    const double cpu0 = ThreadCpuNs();
    std::vector<uint8_t> buf(65536);
    epoll_event out[64];
    while (!stop.load(std::memory_order_acquire)) {
      const int got = Api::Wait(ep, out, 64, 100);
      for (int k = 0; k < got; ++k) {
        const auto i = static_cast<int>(out[k].data.u64);
        if (i == n) {
          uint64_t v = 0;
          if (Api::Read(wake, &v, sizeof v) == sizeof v) ++wakeups_seen;
          continue;
        }
        const ssize_t rd = ::recv(served[i], buf.data(), buf.size(), 0);
        if (rd > 0) SendAll(served[i], buf.data(), static_cast<size_t>(rd));
      }
    }
    server_cpu = ThreadCpuNs() - cpu0;
  });
  std::atomic<int64_t> posted{0};
  if (pin) PinToAllowedCpu(1);  // the load generator, and the waker it starts
  std::thread waker([&] {
    prctl(PR_SET_TIMERSLACK, 1UL);  // sleep the period asked, not the default 50 us
    const timespec period{0, static_cast<long>(cfg.wake_period_us) * 1000};
    const uint64_t one = 1;
    int64_t count = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      clock_nanosleep(CLOCK_MONOTONIC, 0, &period, nullptr);
      if (Api::Write(wake, &one, sizeof one) == sizeof one) ++count;
    }
    posted.store(count);
  });

  // The load generator: one request in flight per connection.
  const int gen = ::epoll_create1(EPOLL_CLOEXEC);
  for (int i = 0; i < n; ++i) {
    ev.events = EPOLLIN;
    ev.data.u64 = static_cast<uint64_t>(i);
    Check(::epoll_ctl(gen, EPOLL_CTL_ADD, clients[i], &ev) == 0, "gen ctl");
  }
  const auto p = static_cast<size_t>(cfg.payload);
  std::vector<uint32_t> seq(static_cast<size_t>(n), 0);
  std::vector<size_t> have(static_cast<size_t>(n), 0);
  std::vector<Clock::time_point> sent(static_cast<size_t>(n));
  std::vector<uint8_t> reply(static_cast<size_t>(n) * p);
  std::vector<uint8_t> req(p);
  std::vector<float> lat_us;
  lat_us.reserve(1 << 20);
  auto send_request = [&](int i) {
    for (size_t b = 0; b < p; ++b) req[b] = PayloadByte(i, seq[i], static_cast<int>(b));
    sent[i] = Clock::now();
    SendAll(clients[i], req.data(), p);
  };
  const double pcpu0 = ProcessCpuNs();
  const auto t0 = Clock::now();
  const auto deadline = t0 + std::chrono::duration<double>(cfg.seconds);
  for (int i = 0; i < n; ++i) send_request(i);
  epoll_event gout[64];
  auto now = Clock::now();
  while (now < deadline) {
    const int got = ::epoll_wait(gen, gout, 64, 10);
    now = Clock::now();
    for (int k = 0; k < got; ++k) {
      const auto i = static_cast<int>(gout[k].data.u64);
      uint8_t* dst = reply.data() + static_cast<size_t>(i) * p;
      const ssize_t rd = ::recv(clients[i], dst + have[i], p - have[i], 0);
      if (rd <= 0) continue;
      have[i] += static_cast<size_t>(rd);
      if (have[i] < p) continue;
      for (size_t b = 0; b < p; ++b) {
        if (dst[b] != PayloadByte(i, seq[i], static_cast<int>(b))) ++r.mismatches;
      }
      lat_us.push_back(
          static_cast<float>(std::chrono::duration<double, std::micro>(now - sent[i]).count()));
      have[i] = 0;
      ++seq[i];
      if (now < deadline) send_request(i);
    }
  }
  r.seconds = std::chrono::duration<double>(now - t0).count();
  r.process_cpu_ns = ProcessCpuNs() - pcpu0;
  stop.store(true, std::memory_order_release);
  waker.join();
  const uint64_t one = 1;
  Api::Write(wake, &one, sizeof one);  // the loop may be asleep
  loop.join();

  r.requests = static_cast<int64_t>(lat_us.size());
  r.server_cpu_ns = server_cpu;
  r.wakeups_posted = posted.load();
  r.wakeups_seen = wakeups_seen;
  if (!lat_us.empty()) {
    std::sort(lat_us.begin(), lat_us.end());
    auto at = [&](double q) {
      return static_cast<double>(lat_us[static_cast<size_t>(q * static_cast<double>(lat_us.size() - 1))]);
    };
    r.p50_us = at(0.5);
    r.p99_us = at(0.99);
  }
  ::close(gen);
  for (int i = 0; i < n; ++i) {
    ::close(clients[i]);
    ::close(served[i]);
  }
  Api::Close(wake);
  Api::Close(ep);
  ::close(listener);
  if (pin) sched_setaffinity(0, sizeof saved, &saved);
  return r;
}

}  // namespace uep::bench
