// One loop, two kinds of event source: a kernel TCP socket on 127.0.0.1 and a uepoll
// channel fed by another thread, waited for together with uep_poll().
//
// A uepoll instance cannot watch kernel descriptors yet (uep_epoll_ctl returns EPERM), but
// uep_poll() accepts a mixed set: kernel descriptors go to the kernel, uepoll ones are
// watched in user space, and one wait covers both.
//
// The program: a client thread connects and sends "ping <i>" lines; a ticker thread sends
// numbers on the channel. The loop echoes each line back in upper case, counts the ticks,
// and stops when the client has its last echo and every tick is in.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "uepoll/channel.hpp"
#include "uepoll/uepoll.h"

namespace {

constexpr int kLines = 50;
constexpr int kTicks = 100;

int Fail(const char* what) {
  std::perror(what);
  return 1;
}

// The client: sends kLines lines and reads the echoes back.
bool RunClient(sockaddr_in addr) {
  const int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0 || connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return false;
  std::string expected;
  for (int i = 0; i < kLines; ++i) {
    const std::string line = "ping " + std::to_string(i) + "\n";
    if (write(s, line.data(), line.size()) != static_cast<ssize_t>(line.size())) return false;
    expected += "PING " + std::to_string(i) + "\n";
  }
  shutdown(s, SHUT_WR);
  std::string got;
  char buf[512];
  ssize_t n = 0;
  while ((n = read(s, buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
  close(s);
  return got == expected;
}

}  // namespace

int main() {
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) return Fail("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // 127.0.0.1 only
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listener, 4) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return Fail("bind/listen");
  }

  auto ticks = uep::Channel<int>::create(8).value();
  bool client_ok = false;
  std::thread client([&] { client_ok = RunClient(addr); });
  std::thread ticker([&] {
    for (int i = 1; i <= kTicks; ++i) ticks.send(i).value();
  });

  int conn = -1;
  int ticks_seen = 0;
  long tick_sum = 0;
  bool conn_done = false;
  while (!conn_done || ticks_seen < kTicks) {
    pollfd fds[3] = {{listener, POLLIN, 0}, {conn, POLLIN, 0}, {ticks.get(), POLLIN, 0}};
    const int n = uep_poll(fds, 3, 10000);  // -1 entries (no connection yet) are skipped
    if (n < 0) return Fail("uep_poll");
    if (n == 0) {
      std::fprintf(stderr, "tcp_channel: timed out\n");
      return 1;
    }
    if ((fds[0].revents & POLLIN) != 0) {
      conn = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) return Fail("accept");
    }
    if ((fds[1].revents & (POLLIN | POLLHUP)) != 0) {
      char buf[512];
      const ssize_t r = read(conn, buf, sizeof buf);
      if (r < 0) return Fail("read");
      if (r == 0) {  // the client is done sending: close our side
        close(conn);
        conn = -1;
        conn_done = true;
      } else {
        for (ssize_t i = 0; i < r; ++i) buf[i] = static_cast<char>(std::toupper(buf[i]));
        if (write(conn, buf, static_cast<size_t>(r)) != r) return Fail("write");
      }
    }
    if ((fds[2].revents & POLLIN) != 0) {
      while (auto t = ticks.try_recv()) {
        ++ticks_seen;
        tick_sum += *t;
      }
    }
  }
  client.join();
  ticker.join();
  close(listener);
  std::printf("tcp_channel: %d lines echoed over TCP (%s), %d ticks (sum %ld) from the channel\n",
              kLines, client_ok ? "verified" : "MISMATCH", ticks_seen, tick_sum);
  return client_ok && tick_sum == static_cast<long>(kTicks) * (kTicks + 1) / 2 ? 0 : 1;
}
