// A byte stream through a uepoll SOCK_STREAM pair between two threads, every byte checked:
// blocking calls with random sizes, then nonblocking calls driven by edge-triggered epoll.
// UEPOLL_STRESS_BYTES sets the volume (default 256 MiB). The kernel runs the same stream
// for comparison; only uepoll's result is asserted.
#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "support/backend.h"

namespace {

using uep::test::Backend;
using uep::test::KernelBackend;
using uep::test::UepollBackend;

using Clock = std::chrono::steady_clock;

uint64_t StressBytes() {
  if (const char* env = std::getenv("UEPOLL_STRESS_BYTES")) {
    const uint64_t v = std::strtoull(env, nullptr, 0);
    if (v > 0) return v;
  }
  return uint64_t{256} << 20;
}

// The stream's content: byte p is pattern[p mod 1 MiB] ^ (p >> 20), so a lost, repeated or
// reordered chunk shows at its first byte.
constexpr size_t kPatternSize = size_t{1} << 20;
const std::vector<uint8_t>& Pattern() {
  static const std::vector<uint8_t> pattern = [] {
    std::vector<uint8_t> p(kPatternSize);
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    for (auto& b : p) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      b = static_cast<uint8_t>(x);
    }
    return p;
  }();
  return pattern;
}

void Fill(uint8_t* dst, uint64_t pos, size_t n) {
  const auto& pat = Pattern();
  while (n > 0) {
    const size_t off = pos % kPatternSize;
    const size_t k = std::min(n, kPatternSize - off);
    const auto mix = static_cast<uint8_t>(pos >> 20);
    for (size_t i = 0; i < k; ++i) dst[i] = pat[off + i] ^ mix;
    dst += k;
    pos += k;
    n -= k;
  }
}

// First position in [pos, pos + n) whose byte is wrong, or UINT64_MAX.
uint64_t Check(const uint8_t* src, uint64_t pos, size_t n, std::vector<uint8_t>& scratch) {
  scratch.resize(n);
  Fill(scratch.data(), pos, n);
  if (std::memcmp(src, scratch.data(), n) == 0) return UINT64_MAX;
  for (size_t i = 0; i < n; ++i) {
    if (src[i] != scratch[i]) return pos + i;
  }
  return UINT64_MAX;
}

uint64_t Fnv1a(uint64_t h, const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001B3ULL;
  }
  return h;
}

struct Result {
  uint64_t sent = 0;
  uint64_t received = 0;
  uint64_t send_sum = 0xCBF29CE484222325ULL;
  uint64_t recv_sum = 0xCBF29CE484222325ULL;
  uint64_t first_bad = UINT64_MAX;
  int send_errno = 0;
  int recv_errno = 0;
  double seconds = 0;
};

uint64_t NextRand(uint64_t& s) {
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

// The writer's side: the stream up to `total` in chunks of random size up to 64 KiB, each
// handed to `send(data, n, rand)` until it has taken all of it (`rand` picks the call).
// `send` returns the bytes taken, or <= 0 with errno set to stop. False when it stopped.
template <typename Send>
bool SendStream(Result& res, uint64_t total, uint64_t seed, Send send) {
  std::vector<uint8_t> buf(1 << 16);
  while (res.sent < total) {
    const size_t n = std::min<uint64_t>(1 + NextRand(seed) % buf.size(), total - res.sent);
    Fill(buf.data(), res.sent, n);
    size_t off = 0;
    while (off < n) {
      const ssize_t w = send(buf.data() + off, n - off, seed);
      if (w <= 0) {
        res.send_errno = errno;
        return false;
      }
      res.send_sum = Fnv1a(res.send_sum, buf.data() + off, static_cast<size_t>(w));
      off += static_cast<size_t>(w);
    }
    res.sent += n;
  }
  return true;
}

// The reader's side: `receive(data, want, rand)` with random sizes up to 128 KiB until it
// returns 0 (EOF) or < 0 (errno set); every byte is checked against the pattern.
template <typename Receive>
void ReceiveStream(Result& res, uint64_t seed, Receive receive) {
  std::vector<uint8_t> buf(1 << 17);
  std::vector<uint8_t> scratch;
  for (;;) {
    const size_t want = 1 + NextRand(seed) % buf.size();
    const ssize_t r = receive(buf.data(), want, seed);
    if (r < 0) {
      res.recv_errno = errno;
      return;
    }
    if (r == 0) return;  // the writer closed: EOF
    if (res.first_bad == UINT64_MAX) {
      res.first_bad = Check(buf.data(), res.received, static_cast<size_t>(r), scratch);
    }
    res.recv_sum = Fnv1a(res.recv_sum, buf.data(), static_cast<size_t>(r));
    res.received += static_cast<uint64_t>(r);
  }
}

// Blocking send/recv (or write/read, alternately).
Result RunBlocking(const Backend& api, uint64_t total) {
  Result res;
  int sv[2];
  if (api.socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
    res.send_errno = errno;
    return res;
  }
  const auto start = Clock::now();
  std::thread writer([&] {
    const bool sent = SendStream(res, total, 12345, [&](const uint8_t* p, size_t n, uint64_t rand) {
      return (rand & 1) != 0 ? api.send(sv[0], p, n, 0) : api.write(sv[0], p, n);
    });
    if (sent) api.close(sv[0]);
  });
  ReceiveStream(res, 777, [&](uint8_t* p, size_t want, uint64_t rand) {
    return (rand & 2) != 0 ? api.recv(sv[1], p, want, 0) : api.read(sv[1], p, want);
  });
  writer.join();
  res.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  api.close(sv[1]);
  return res;
}

// Waits up to 10 s for the edge-triggered item on `ep`; false with errno ETIMEDOUT if none.
bool AwaitEdge(const Backend& api, int ep) {
  epoll_event out{};
  if (api.epoll_wait(ep, &out, 1, 10000) == 1) return true;
  errno = ETIMEDOUT;
  return false;
}

// Both ends nonblocking; each thread waits on its own edge-triggered epoll instance.
Result RunEpoll(const Backend& api, uint64_t total) {
  Result res;
  int sv[2];
  if (api.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0) {
    res.send_errno = errno;
    return res;
  }
  const auto start = Clock::now();
  std::thread writer([&] {
    const int ep = api.epoll_create1(0);
    epoll_event ev{};
    ev.events = EPOLLOUT | EPOLLET;
    api.epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev);
    const bool sent = SendStream(res, total, 4242, [&](const uint8_t* p, size_t n, uint64_t) {
      for (;;) {
        const ssize_t w = api.send(sv[0], p, n, 0);
        if (w >= 0 || errno != EAGAIN) return w;
        if (!AwaitEdge(api, ep)) return ssize_t{-1};
      }
    });
    api.close(ep);
    if (sent) api.close(sv[0]);
  });
  const int ep = api.epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
  api.epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev);
  ReceiveStream(res, 99, [&](uint8_t* p, size_t want, uint64_t) {
    for (;;) {
      const ssize_t r = api.recv(sv[1], p, want, 0);
      if (r >= 0 || errno != EAGAIN) return r;
      if (!AwaitEdge(api, ep)) return ssize_t{-1};
    }
  });
  writer.join();
  res.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  api.close(ep);
  api.close(sv[1]);
  return res;
}

void Print(const char* mode, const Backend& api, const Result& r) {
  std::printf("%-9s %-7s %12llu bytes  %7.3f s  %8.1f MB/s  checksum %016llx %s\n", mode, api.name,
              static_cast<unsigned long long>(r.received), r.seconds,
              r.seconds > 0 ? static_cast<double>(r.received) / r.seconds / 1e6 : 0.0,
              static_cast<unsigned long long>(r.recv_sum),
              r.recv_sum == r.send_sum ? "ok" : "MISMATCH");
}

void Expect(const Result& r, uint64_t total) {
  EXPECT_EQ(0, r.send_errno) << std::strerror(r.send_errno);
  EXPECT_EQ(0, r.recv_errno) << std::strerror(r.recv_errno);
  EXPECT_EQ(total, r.sent);
  EXPECT_EQ(total, r.received);
  EXPECT_EQ(UINT64_MAX, r.first_bad) << "first wrong byte at " << r.first_bad;
  EXPECT_EQ(r.send_sum, r.recv_sum);
}

TEST(SocketStreamStress, BlockingChecksummedStream) {
  const uint64_t total = StressBytes();
  const Result k = RunBlocking(KernelBackend(), total);
  const Result u = RunBlocking(UepollBackend(), total);
  Print("blocking", KernelBackend(), k);
  Print("blocking", UepollBackend(), u);
  Expect(u, total);
}

TEST(SocketStreamStress, EdgeTriggeredEpollStream) {
  const uint64_t total = StressBytes() / 4;
  const Result k = RunEpoll(KernelBackend(), total);
  const Result u = RunEpoll(UepollBackend(), total);
  Print("epoll-et", KernelBackend(), k);
  Print("epoll-et", UepollBackend(), u);
  Expect(u, total);
}

}  // namespace
