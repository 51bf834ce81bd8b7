// A byte stream through a uepoll pipe between two threads: random write and read sizes,
// scalar and vector calls, blocking and non-blocking ends (waiting in epoll, edge-triggered,
// or in poll), and a thread that resizes the pipe under the traffic. Every byte is checked
// against its position in the stream, so a lost, duplicated or reordered byte fails the test.
//
// UEPOLL_STRESS_BYTES sets the bytes per test (default 256 MiB for the plain blocking test,
// a quarter of that for each other mode).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "stress/stress_util.h"
#include "uepoll/uepoll.h"

namespace uep::stress {
namespace {

// The stream's byte at position p is kPattern[p % kPeriod]. The period is prime, so it is
// never a multiple of a page or of any size the test uses: a shifted stream never matches.
constexpr size_t kPeriod = 65521;

const std::vector<unsigned char>& Pattern() {
  static const std::vector<unsigned char> pattern = [] {
    std::vector<unsigned char> p(2 * kPeriod);  // doubled: any window of kPeriod is contiguous
    std::mt19937 rng(12345);
    for (size_t i = 0; i < kPeriod; ++i) p[i] = static_cast<unsigned char>(rng());
    for (size_t i = 0; i < kPeriod; ++i) p[kPeriod + i] = p[i];
    return p;
  }();
  return pattern;
}

uint64_t StreamBytes(double fraction) {
  uint64_t total = 256ULL << 20;
  if (const char* env = std::getenv("UEPOLL_STRESS_BYTES")) {
    const unsigned long long v = std::strtoull(env, nullptr, 10);
    if (v > 0) total = v;
  }
  return std::max<uint64_t>(1, static_cast<uint64_t>(static_cast<double>(total) * fraction));
}

enum class Wait { kBlocking, kEpollEt, kPoll };

struct Options {
  Wait wait = Wait::kBlocking;
  bool resize = false;      // a third thread changes F_SETPIPE_SZ all the time
  bool small_ops = false;   // sizes mostly below PIPE_BUF (merging)
  double fraction = 1.0;
};

// A random size: mostly small or mostly large.
size_t RandomSize(std::mt19937_64& rng, bool small_ops) {
  const unsigned kind = static_cast<unsigned>(rng() % 8);
  if (small_ops || kind < 3) return 1 + rng() % 512;
  if (kind < 6) return 1 + rng() % 8192;
  return 1 + rng() % (3 * kPeriod);
}

// Sleeps until `fd` has `events`, in the way the options say.
void WaitFor(const Options& o, int fd, int ep, uint32_t events) {
  if (o.wait == Wait::kEpollEt) {
    epoll_event ev{};
    // Edge-triggered: a report means "something happened since"; retry the I/O after it.
    // No timeout: a lost wake-up hangs here and the watchdog reports it.
    uep_epoll_wait(ep, &ev, 1, -1);
  } else if (o.wait == Wait::kPoll) {
    pollfd pfd{fd, static_cast<short>(events), 0};
    uep_poll(&pfd, 1, -1);
  }
}

void RunStream(const Options& o) {
  const uint64_t total = StreamBytes(o.fraction);
  const bool nonblock = o.wait != Wait::kBlocking;
  int fds[2];
  ASSERT_EQ(0, uep_pipe2(fds, nonblock ? O_NONBLOCK : 0));
  const int rfd = fds[0];
  const int wfd = fds[1];
  int rep = -1;
  int wep = -1;
  if (o.wait == Wait::kEpollEt) {
    rep = uep_epoll_create1(0);
    wep = uep_epoll_create1(0);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ASSERT_EQ(0, uep_epoll_ctl(rep, EPOLL_CTL_ADD, rfd, &ev));
    ev.events = EPOLLOUT | EPOLLET;
    ASSERT_EQ(0, uep_epoll_ctl(wep, EPOLL_CTL_ADD, wfd, &ev));
  }
  struct sigaction ignore{};
  struct sigaction old_sigpipe{};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ignore, &old_sigpipe);
  const std::vector<unsigned char>& pattern = Pattern();
  std::atomic<uint64_t> written{0};
  std::atomic<uint64_t> got{0};
  std::atomic<bool> failed{false};
  std::atomic<bool> done{false};
  Watchdog watchdog(
      "pipe stream",
      [&] {
        failed = true;
        done = true;
      },
      [&] {
        return "written " + std::to_string(written.load()) + ", read " + std::to_string(got.load());
      });

  std::thread writer([&] {
    std::mt19937_64 rng(1);
    uint64_t pos = 0;
    while (pos < total && !failed) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(RandomSize(rng, o.small_ops), total - pos));
      // Up to three segments, each a window of the pattern at the right phase.
      iovec iov[3];
      int iovcnt = 0;
      size_t off = 0;
      while (off < want && iovcnt < 3) {
        const size_t seg = std::min(want - off, kPeriod);
        iov[iovcnt++] = {const_cast<unsigned char*>(&pattern[(pos + off) % kPeriod]), seg};
        off += seg;
      }
      want = off;
      const bool vector = iovcnt > 1 || rng() % 4 == 0;
      const ssize_t n = vector ? uep_writev(wfd, iov, iovcnt) : uep_write(wfd, iov[0].iov_base, want);
      if (n < 0) {
        if (errno == EAGAIN) {
          WaitFor(o, wfd, wep, POLLOUT);
          continue;
        }
        ADD_FAILURE() << "write: " << strerrorname_np(errno);
        failed = true;
        break;
      }
      if (n == 0 || static_cast<size_t>(n) > want) {
        ADD_FAILURE() << "write returned " << n << " of " << want;
        failed = true;
        break;
      }
      pos += static_cast<uint64_t>(n);
      written.store(pos, std::memory_order_relaxed);
    }
    uep_close(wfd);
  });

  std::thread resizer;
  if (o.resize) {
    resizer = std::thread([&] {
      std::mt19937_64 rng(3);
      while (!done && !failed) {
        const unsigned long size = 4096UL << (rng() % 6);  // 4 KiB .. 128 KiB
        const int r = uep_fcntl(rfd, F_SETPIPE_SZ, size);
        if (r < 0 && errno != EBUSY) {
          ADD_FAILURE() << "F_SETPIPE_SZ: " << strerrorname_np(errno);
          failed = true;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(50 + rng() % 200));
      }
    });
  }

  std::mt19937_64 rng(2);
  std::vector<unsigned char> buf(4 * kPeriod);
  uint64_t pos = 0;
  while (!failed) {
    const size_t want = RandomSize(rng, o.small_ops);
    ssize_t n = 0;
    if (rng() % 4 == 0 && want > 1) {
      const size_t half = want / 2;
      iovec iov[2] = {{buf.data(), half}, {buf.data() + half, want - half}};
      n = uep_readv(rfd, iov, 2);
    } else {
      n = uep_read(rfd, buf.data(), want);
    }
    if (n < 0) {
      if (errno == EAGAIN) {
        WaitFor(o, rfd, rep, POLLIN);
        continue;
      }
      ADD_FAILURE() << "read: " << strerrorname_np(errno);
      failed = true;
      break;
    }
    if (n == 0) break;  // EOF: the writer is done
    size_t checked = 0;
    while (checked < static_cast<size_t>(n)) {
      const size_t chunk = std::min(static_cast<size_t>(n) - checked, kPeriod);
      if (std::memcmp(buf.data() + checked, &pattern[(pos + checked) % kPeriod], chunk) != 0) {
        ADD_FAILURE() << "stream corrupt near offset " << pos + checked;
        failed = true;
        break;
      }
      checked += chunk;
    }
    pos += static_cast<uint64_t>(n);
    got.store(pos, std::memory_order_relaxed);
  }
  done = true;
  uep_close(rfd);  // a writer still at work (after a failure) gets EPIPE instead of hanging
  writer.join();
  if (resizer.joinable()) resizer.join();
  watchdog.Disarm();
  EXPECT_FALSE(failed.load());
  EXPECT_EQ(total, pos);
  if (rep >= 0) uep_close(rep);
  if (wep >= 0) uep_close(wep);
  sigaction(SIGPIPE, &old_sigpipe, nullptr);
}

TEST(PipeStream, Blocking) { RunStream({}); }

TEST(PipeStream, BlockingSmallOps) {
  Options o;
  o.small_ops = true;
  o.fraction = 1.0 / 16;
  RunStream(o);
}

TEST(PipeStream, NonblockingEdgeTriggeredEpoll) {
  Options o;
  o.wait = Wait::kEpollEt;
  o.fraction = 0.25;
  RunStream(o);
}

TEST(PipeStream, NonblockingPoll) {
  Options o;
  o.wait = Wait::kPoll;
  o.fraction = 0.25;
  RunStream(o);
}

TEST(PipeStream, BlockingWhileResized) {
  Options o;
  o.resize = true;
  o.fraction = 0.25;
  RunStream(o);
}

}  // namespace
}  // namespace uep::stress
