// Chaos: threads that at random create, add, modify, delete, wait on, write to, read from,
// dup and close the same descriptors and instances: eventfds, pipes, unix socket pairs,
// timerfds and instances nested in instances (links added and removed concurrently, so the
// loop and depth checks race the ctl calls that change the graph).
//
// Nothing here can be counted exactly (any descriptor may be closed or renumbered under
// any call); what is checked: no crash, no hang (ProgressWatchdog), no errno outside the
// set a racing program can get, never more events than asked for, only data that was
// given to some ctl call, no leaked descriptor at the end, and (sanitizer builds) no
// leak, no invalid access, no data race.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "torture/torture_util.h"
#include "uepoll/uepoll.h"

namespace uep::torture {
namespace {

enum class Kind : int { kEventfd, kPipeRead, kPipeWrite, kSocket, kTimerfd, kEpoll, kCount };

// A slot owns the descriptor it holds: whoever takes it out (exchange to kEmpty) is the
// only one who may close it or put it back. Others may use the number meanwhile: it may
// be closed or reused by then, which is part of the test.
constexpr int64_t kEmpty = -1;
constexpr int kSlots = 32;
constexpr int kThreads = 5;

int64_t Pack(Kind kind, int fd) { return (static_cast<int64_t>(kind) << 32) | static_cast<uint32_t>(fd); }
Kind KindOf(int64_t v) { return static_cast<Kind>(v >> 32); }
int FdOf(int64_t v) { return static_cast<int>(static_cast<uint32_t>(v)); }

// Data given to ctl: a tag and a serial, so that any reported data can be recognised.
constexpr uint64_t kDataTag = 0x7e57ull << 48;
std::atomic<uint64_t> next_serial{1};

struct Counters {
  std::atomic<uint64_t> ops{0}, ctl_ok{0}, eloop{0}, waits{0}, events{0}, bytes{0}, creates{0},
      closes{0}, dups{0};
  std::atomic<uint64_t> bad_errno{0}, too_many{0}, bad_data{0};
  std::atomic<int> last_bad_errno{0};
  std::atomic<const char*> last_bad_op{""};
};

class Chaos {
 public:
  Chaos() {
    for (auto& s : slots_) s.store(kEmpty);
  }

  // Creates one object of a random kind into empty slots (two for a pipe or socket pair).
  void Create(std::mt19937_64& rng) {
    int fds[2] = {-1, -1};
    Kind kinds[2] = {Kind::kCount, Kind::kCount};
    switch (static_cast<Kind>(rng() % static_cast<int>(Kind::kCount))) {
      case Kind::kEventfd:
        fds[0] = uep_eventfd(static_cast<unsigned>(rng() % 2), EFD_NONBLOCK | (rng() % 2 != 0 ? EFD_SEMAPHORE : 0));
        kinds[0] = Kind::kEventfd;
        break;
      case Kind::kPipeRead:
      case Kind::kPipeWrite:
        if (uep_pipe2(fds, O_NONBLOCK) != 0) fds[0] = fds[1] = -1;
        kinds[0] = Kind::kPipeRead;
        kinds[1] = Kind::kPipeWrite;
        break;
      case Kind::kSocket:
        if (uep_socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) != 0) fds[0] = fds[1] = -1;
        kinds[0] = kinds[1] = Kind::kSocket;
        break;
      case Kind::kTimerfd:
        fds[0] = uep_timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
        kinds[0] = Kind::kTimerfd;
        break;
      default:
        fds[0] = uep_epoll_create1(0);
        kinds[0] = Kind::kEpoll;
        break;
    }
    for (int i = 0; i < 2; ++i) {
      if (kinds[i] == Kind::kCount) continue;
      if (fds[i] < 0) {
        Bad("create", errno);
        continue;
      }
      c_.creates.fetch_add(1);
      Put(Pack(kinds[i], fds[i]), rng);
    }
  }

  // Puts an owned descriptor into a random empty slot, or closes it if there is none.
  void Put(int64_t v, std::mt19937_64& rng) {
    const size_t start = rng() % kSlots;
    for (size_t i = 0; i < kSlots; ++i) {
      int64_t expected = kEmpty;
      if (slots_[(start + i) % kSlots].compare_exchange_strong(expected, v)) return;
    }
    Close(FdOf(v));
  }

  void Close(int fd) {
    if (uep_close(fd) != 0) Bad("close", errno);
    c_.closes.fetch_add(1);
  }

  // A descriptor held by a random slot, or kEmpty: not owned, may die under the caller.
  int64_t Peek(std::mt19937_64& rng) { return slots_[rng() % kSlots].load(); }
  int64_t PeekKind(std::mt19937_64& rng, Kind kind) {
    for (int tries = 0; tries < 8; ++tries) {
      const int64_t v = Peek(rng);
      if (v != kEmpty && KindOf(v) == kind) return v;
    }
    return kEmpty;
  }

  void Ctl(std::mt19937_64& rng) {
    const int64_t ep = PeekKind(rng, Kind::kEpoll);
    // Nesting links are a quarter of the ADDs: instances inside instances.
    const int64_t target = rng() % 4 == 0 ? PeekKind(rng, Kind::kEpoll) : Peek(rng);
    if (ep == kEmpty || target == kEmpty) return;
    static constexpr uint32_t kBits[] = {EPOLLIN, EPOLLOUT, EPOLLRDHUP, EPOLLPRI, EPOLLET, EPOLLONESHOT};
    uint32_t events = 0;
    for (uint32_t bit : kBits) {
      if (rng() % 2 != 0) events |= bit;
    }
    const bool exclusive = rng() % 8 == 0;
    if (exclusive) events = (events & ~(EPOLLONESHOT | EPOLLRDHUP | EPOLLPRI)) | EPOLLEXCLUSIVE;
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = kDataTag | next_serial.fetch_add(1);
    const int r = static_cast<int>(rng() % 3);
    const int op = r == 0 ? EPOLL_CTL_ADD : r == 1 ? EPOLL_CTL_MOD : EPOLL_CTL_DEL;
    // ADD is made more frequent so that instances keep items to wait on.
    const int final_op = rng() % 2 == 0 ? EPOLL_CTL_ADD : op;
    Status().Begin(final_op == EPOLL_CTL_ADD ? "ctl ADD" : final_op == EPOLL_CTL_MOD ? "ctl MOD" : "ctl DEL", FdOf(ep));
    if (uep_epoll_ctl(FdOf(ep), final_op, FdOf(target), &ev) == 0) {
      c_.ctl_ok.fetch_add(1);
    } else if (errno == ELOOP) {
      c_.eloop.fetch_add(1);
    } else if (errno != EBADF && errno != EEXIST && errno != ENOENT && errno != EINVAL &&
               errno != EPERM) {
      Bad("epoll_ctl", errno);
    }
  }

  void Wait(std::mt19937_64& rng) {
    const int64_t ep = PeekKind(rng, Kind::kEpoll);
    if (ep == kEmpty) return;
    epoll_event evs[8];
    const int maxevents = 1 + static_cast<int>(rng() % 8);
    const int timeout = rng() % 3 == 0 ? 0 : 1 + static_cast<int>(rng() % 3);
    Status().Begin(timeout == 0 ? "epoll_wait(0)" : "epoll_wait(ms)", FdOf(ep));
    const int n = uep_epoll_wait(FdOf(ep), evs, maxevents, timeout);
    c_.waits.fetch_add(1);
    if (n < 0) {
      if (errno != EBADF && errno != EINVAL) Bad("epoll_wait", errno);
      return;
    }
    if (n > maxevents) c_.too_many.fetch_add(1);
    c_.events.fetch_add(static_cast<uint64_t>(n));
    const uint64_t issued = next_serial.load();
    for (int i = 0; i < n; ++i) {
      const uint64_t data = stress::DataOf(evs[i]);
      if ((data & ~((uint64_t{1} << 48) - 1)) != kDataTag || (data & 0xffffffffffff) >= issued ||
          stress::EventsOf(evs[i]) == 0) {
        c_.bad_data.fetch_add(1);
      }
    }
  }

  void Io(std::mt19937_64& rng) {
    const int64_t v = Peek(rng);
    if (v == kEmpty) return;
    const int fd = FdOf(v);
    char buf[256] = {};
    ssize_t r = 0;
    switch (KindOf(v)) {
      case Kind::kEventfd: {
        uint64_t one = 1 + rng() % 3;
        Status().Begin(rng() % 2 == 0 ? "eventfd write" : "eventfd read", fd);
        r = rng() % 2 == 0 ? uep_write(fd, &one, sizeof one) : uep_read(fd, &one, sizeof one);
        break;
      }
      case Kind::kPipeWrite:
      case Kind::kSocket:
        if (rng() % 2 == 0) {
          Status().Begin("write", fd);
          r = uep_write(fd, buf, 1 + rng() % sizeof buf);
          break;
        }
        [[fallthrough]];
      case Kind::kPipeRead:
        Status().Begin("read", fd);
        r = uep_read(fd, buf, sizeof buf);
        break;
      case Kind::kTimerfd:
        if (rng() % 2 == 0) {
          itimerspec its{};
          its.it_value.tv_nsec = 200000 + static_cast<long>(rng() % 2000000);
          if (rng() % 2 == 0) its.it_interval.tv_nsec = 500000;
          Status().Begin("timerfd_settime", fd);
          r = uep_timerfd_settime(fd, 0, &its, nullptr);
        } else {
          uint64_t ticks = 0;
          Status().Begin("timerfd read", fd);
          r = uep_read(fd, &ticks, sizeof ticks);
        }
        break;
      case Kind::kEpoll:
        Wait(rng);
        return;
      default:
        return;
    }
    if (r > 0) c_.bytes.fetch_add(static_cast<uint64_t>(r));
    // The number may now name any file of any kind, or none.
    if (r < 0 && errno != EAGAIN && errno != EBADF && errno != EINVAL && errno != EPIPE &&
        errno != ECONNRESET && errno != ENOTCONN) {
      Bad("read/write", errno);
    }
  }

  // Takes a descriptor out of its slot and closes it (its number is reused later).
  void TakeAndClose(std::mt19937_64& rng) {
    const int64_t v = slots_[rng() % kSlots].exchange(kEmpty);
    if (v == kEmpty) return;
    Status().Begin("close", FdOf(v));
    Close(FdOf(v));
  }

  // dup() into a new slot, or dup2() over a descriptor this thread took out of its slot.
  void Dup(std::mt19937_64& rng) {
    const int64_t v = Peek(rng);
    if (v == kEmpty) return;
    if (rng() % 2 == 0) {
      Status().Begin("dup", FdOf(v));
      const int fd = uep_dup(FdOf(v));
      if (fd >= 0) {
        c_.dups.fetch_add(1);
        Put(Pack(KindOf(v), fd), rng);
      } else if (errno != EBADF) {
        Bad("dup", errno);
      }
      return;
    }
    const int64_t owned = slots_[rng() % kSlots].exchange(kEmpty);
    if (owned == kEmpty) return;
    Status().Begin("dup2", FdOf(owned));
    const int fd = uep_dup2(FdOf(v), FdOf(owned));
    if (fd == FdOf(owned)) {
      c_.dups.fetch_add(1);
      Put(Pack(KindOf(v), fd), rng);
    } else {
      if (errno != EBADF) Bad("dup2", errno);
      Put(owned, rng);  // the old file is still there
    }
  }

  void Thread(ThreadStatus& status, unsigned seed, Clock::time_point end) {
    Announce(status);
    status_ = &status;
    std::mt19937_64 rng(seed);
    while (Clock::now() < end) {
      const unsigned dice = static_cast<unsigned>(rng() % 100);
      if (dice < 8) {
        Status().Begin("create", -1);
        Create(rng);
      } else if (dice < 38) {
        Ctl(rng);
      } else if (dice < 58) {
        Wait(rng);
      } else if (dice < 88) {
        Io(rng);
      } else if (dice < 94) {
        TakeAndClose(rng);
      } else {
        Dup(rng);
      }
      c_.ops.fetch_add(1, std::memory_order_relaxed);
      status.Done();
    }
    status.Begin("finished", -1);
    status.finished.store(true);
  }

  void CloseAll() {
    for (auto& s : slots_) {
      const int64_t v = s.exchange(kEmpty);
      if (v != kEmpty) Close(FdOf(v));
    }
  }

  Counters& counters() { return c_; }

 private:
  void Bad(const char* op, int err) {
    c_.bad_errno.fetch_add(1);
    c_.last_bad_errno.store(err);
    c_.last_bad_op.store(op);
  }
  static ThreadStatus& Status() { return *status_; }

  static thread_local ThreadStatus* status_;
  std::atomic<int64_t> slots_[kSlots];
  Counters c_;
};

thread_local ThreadStatus* Chaos::status_ = nullptr;

// True if some descriptor in [uep_fd_base(), +span) is open in uepoll.
int OpenUepollDescriptors(int span) {
  int open = 0;
  for (int fd = uep_fd_base(); fd < uep_fd_base() + span; ++fd) {
    if (uep_fcntl(fd, F_GETFD) >= 0) ++open;
  }
  return open;
}

TEST(Torture, Chaos) {
  signal(SIGPIPE, SIG_IGN);
  const int open_before = OpenUepollDescriptors(4096);
  Chaos chaos;
  ProgressWatchdog watchdog;
  std::vector<ThreadStatus*> status;
  for (int t = 0; t < kThreads; ++t) status.push_back(&watchdog.Add("chaos" + std::to_string(t)));
  const auto started = Clock::now();
  const auto end = TortureEnd(0.5);
  watchdog.Start();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] { chaos.Thread(*status[t], 1000u + static_cast<unsigned>(t), end); });
  }
  for (auto& th : threads) th.join();
  watchdog.Stop();
  chaos.CloseAll();
  const double secs = std::chrono::duration<double>(Clock::now() - started).count();

  Counters& c = chaos.counters();
  std::printf("chaos: %.1f s, %llu operations (%llu ctl ok, %llu ELOOP, %llu waits, %llu events, "
              "%llu bytes, %llu creates, %llu dups, %llu closes)\n",
              secs, static_cast<unsigned long long>(c.ops.load()),
              static_cast<unsigned long long>(c.ctl_ok.load()),
              static_cast<unsigned long long>(c.eloop.load()),
              static_cast<unsigned long long>(c.waits.load()),
              static_cast<unsigned long long>(c.events.load()),
              static_cast<unsigned long long>(c.bytes.load()),
              static_cast<unsigned long long>(c.creates.load()),
              static_cast<unsigned long long>(c.dups.load()),
              static_cast<unsigned long long>(c.closes.load()));
  EXPECT_EQ(0u, c.bad_errno.load()) << "last: " << c.last_bad_op.load() << " errno "
                                    << c.last_bad_errno.load();
  EXPECT_EQ(0u, c.too_many.load());
  EXPECT_EQ(0u, c.bad_data.load());
  EXPECT_GT(c.ctl_ok.load(), 0u);
  EXPECT_GT(c.events.load(), 0u);
  EXPECT_EQ(open_before, OpenUepollDescriptors(4096)) << "descriptors leaked";
}

}  // namespace
}  // namespace uep::torture
