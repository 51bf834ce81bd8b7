// Allocation failures (src/platform/fault.h): each call below runs with its 1st, 2nd, ...
// allocation failing until it runs with none failing. After every failure the call must
// give the kernel's answer (ENOMEM for a descriptor, an item or a pipe's new ring; ENFILE
// for a pipe's inode; a partial count, else ENOMEM/ENOBUFS, for I/O) and the observable
// state must be what it was: open descriptors, watch count, items and readiness of every
// instance, readiness and pending bytes of every file. A hook left half-linked is caught
// by waking the target afterwards (and by ASan); a leak by LeakSanitizer.
//
// The kernel's paths (linux 6.1): ep_insert() uncharges and returns -ENOMEM when the
// epitem cannot be allocated and removes the half-made item when a hook (eppoll_entry)
// could not be (ep_ptable_queue_proc() sets epi->nwait = -1); get_pipe_inode() failing
// makes pipe() -ENFILE; pipe_write() returns the bytes written so far, else -ENOMEM;
// sock_alloc_send_pskb() fails with -ENOBUFS and unix_stream_sendmsg() returns what it
// sent so far; pipe_resize_ring() -ENOMEM keeps the old ring.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <functional>
#include <memory>
#include <new>
#include <set>
#include <string>
#include <vector>

#include "core/eventpoll.h"
#include "core/fd_table.h"
#include "core/rcu.h"
#include "platform/fault.h"
#include "support/sanitizer.h"
#include "uepoll/file.hpp"
#include "uepoll/uepoll.h"

// Counts operator new calls per thread: calls that must not allocate at all are checked
// with it, not only through the injection sites. Every plain form is replaced, so that
// sanitizers see new and delete pair up. (ThreadSanitizer's runtime defines them itself:
// there the count stays 0 and only the injection sites are checked.)
thread_local long news_on_this_thread = 0;
#ifndef UEP_TEST_THREAD_SANITIZER

void* CountedNew(size_t size) noexcept {
  ++news_on_this_thread;
  return std::malloc(size == 0 ? 1 : size);
}
void* operator new(size_t size) {
  if (void* p = CountedNew(size)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t size) {
  if (void* p = CountedNew(size)) return p;
  throw std::bad_alloc();
}
void* operator new(size_t size, const std::nothrow_t&) noexcept { return CountedNew(size); }
void* operator new[](size_t size, const std::nothrow_t&) noexcept { return CountedNew(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
#endif

namespace {

constexpr int kChunk = 4096;  // FdTable's chunk of descriptors
int fresh_chunk = 1;          // chunks from here on were never used by this process

// What a caller can observe of the process's uepoll state, as text (diffs read well).
class Observed {
 public:
  Observed& Watch(int fd) {
    fds_.push_back(fd);
    return *this;
  }
  Observed& Instance(int ep) {
    eps_.push_back(ep);
    return *this;
  }

  [[nodiscard]] std::string Describe() const {
    std::string s = "open " + std::to_string(uep::FdTable::Get().OpenCount()) + " {";
    const int base = uep_fd_base();
    for (int i = 0; i < (fresh_chunk + 1) * kChunk; ++i) {
      if (uep_is_uepoll_fd(base + i) != 0) s += " " + std::to_string(i);
    }
    s += " } watches " + std::to_string(uep_get_epoll_watches());
    for (int fd : fds_) {
      pollfd p{fd, POLLIN | POLLOUT | POLLPRI | POLLRDHUP, 0};
      const int r = uep_poll(&p, 1, 0);
      int pending = -1;
      const int ir = uep_ioctl(fd, FIONREAD, &pending);
      s += "\n  fd+" + std::to_string(fd - base) + " poll " + std::to_string(r) + "/" +
           std::to_string(p.revents) + " fionread " + (ir == 0 ? std::to_string(pending) : "-");
    }
    for (int ep : eps_) {
      // Level-triggered items only: a wait does not change them (beyond their order).
      epoll_event ev[64];
      const int n = uep_epoll_wait(ep, ev, 64, 0);
      std::multiset<std::pair<uint64_t, uint32_t>> ready;
      for (int i = 0; i < n; ++i) ready.insert({uint64_t{ev[i].data.u64}, uint32_t{ev[i].events}});
      s += "\n  ep+" + std::to_string(ep - base) + " items " + std::to_string(ItemCount(ep)) +
           " wait " + std::to_string(n) + " [";
      for (const auto& [data, events] : ready) {
        s += " " + std::to_string(data) + ":" + std::to_string(events);
      }
      s += " ]";
    }
    return s;
  }

 private:
  static int ItemCount(int ep) {
    uep::RcuReadGuard guard;
    uep::File* file = uep::FdTable::Get().Lookup(ep);
    return file != nullptr && file->IsEventPoll() ? static_cast<uep::EventPoll*>(file)->ItemCount()
                                                  : -1;
  }

  std::vector<int> fds_;
  std::vector<int> eps_;
};

struct Failure {
  long result;
  int err;
};

// Runs `op` with allocation #1, #2, ... failing until it completes with none failing.
// After each failure `check` judges the outcome and, unless `check` returns false (the
// call legitimately did part of its work), the state must be unchanged; `undo` then
// restores whatever a legitimate partial success changed. Returns how many allocation sites
// the complete run passed.
long FailEachAllocation(const Observed& state, const std::function<long()>& op,
                        const std::function<bool(const Failure&)>& check,
                        const std::function<void(long)>& undo = nullptr) {
  for (long n = 1; n <= 64; ++n) {
    const std::string before = state.Describe();
    uep::FailNthAllocation(n);
    errno = 0;
    const long r = op();
    const Failure f{r, errno};
    const bool fired = uep::AllocationsUntilFailure() == 0;
    uep::FailNthAllocation(0);
    if (!fired) {
      EXPECT_GE(r, 0) << "with no allocation failing: errno " << f.err;
      return n - 1;
    }
    SCOPED_TRACE("allocation #" + std::to_string(n) + " failed");
    if (check(f)) {
      EXPECT_EQ(before, state.Describe());
    } else if (undo) {
      undo(r);
    }
  }
  ADD_FAILURE() << "more than 64 allocation sites";
  return -1;
}

bool IsError(const Failure& f, std::initializer_list<int> errs) {
  EXPECT_EQ(-1, f.result);
  EXPECT_TRUE(std::find(errs.begin(), errs.end(), f.err) != errs.end()) << "errno " << f.err;
  return true;
}

// Makes the next descriptor the first of a chunk of the table (4096 numbers, allocated
// on first use) that this process never used, so that creating it must allocate the chunk
// too: every free number below is filled. Returns the fillers to close.
std::vector<int> FillToFreshChunk() {
  const int chunk = fresh_chunk++;
  const int keep = uep_eventfd(0, 0);
  std::vector<int> filler{keep};
  const int base = uep_fd_base();
  for (int fd = base; fd < base + chunk * kChunk; ++fd) {
    if (uep_is_uepoll_fd(fd) == 0) {
      EXPECT_EQ(fd, uep_dup2(keep, fd));
      filler.push_back(fd);
    }
  }
  return filler;
}

void CloseAll(const std::vector<int>& fds) {
  for (int fd : fds) EXPECT_EQ(0, uep_close(fd));
}

// --- creating descriptors -----------------------------------------------------------------

// A call that makes one descriptor: ENOMEM at each of its sites, nothing left behind.
void ExpectCreatorFailsCleanly(const std::function<int()>& create, long min_sites) {
  const auto filler = FillToFreshChunk();
  int fd = -1;
  const long sites = FailEachAllocation(
      Observed(), [&] { return fd = create(); },
      [](const Failure& f) { return IsError(f, {ENOMEM}); });
  EXPECT_GE(sites, min_sites);
  EXPECT_EQ(0, uep_close(fd));
  CloseAll(filler);
}

TEST(CreateFaults, EpollCreate) {
  ExpectCreatorFailsCleanly([] { return uep_epoll_create1(0); }, 2);  // instance, chunk
}

TEST(CreateFaults, Eventfd) {
  ExpectCreatorFailsCleanly([] { return uep_eventfd(3, EFD_NONBLOCK); }, 2);  // file, chunk
}

TEST(CreateFaults, Timerfd) {
  // The file, room in the timer heaps, the chunk.
  ExpectCreatorFailsCleanly([] { return uep_timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK); }, 3);
}

TEST(CreateFaults, PipeMakesBothEndsOrNone) {
  const auto filler = FillToFreshChunk();
  int p[2] = {-7, -7};
  const long sites = FailEachAllocation(
      Observed(), [&] { return uep_pipe2(p, O_NONBLOCK); },
      [&](const Failure& f) {
        EXPECT_EQ(-7, p[0]);  // nothing copied out
        EXPECT_EQ(-7, p[1]);
        return IsError(f, {ENOMEM, ENFILE});
      });
  EXPECT_GE(sites, 5);  // inode, ring, two files, chunk
  EXPECT_EQ(0, uep_close(p[0]));
  EXPECT_EQ(0, uep_close(p[1]));
  CloseAll(filler);
}

TEST(CreateFaults, SocketpairOfEachType) {
  for (int type : {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET}) {
    SCOPED_TRACE("type " + std::to_string(type));
    const auto filler = FillToFreshChunk();
    int sv[2] = {-7, -7};
    const long sites = FailEachAllocation(
        Observed(), [&] { return uep_socketpair(AF_UNIX, type, 0, sv); },
        [&](const Failure& f) {
          EXPECT_EQ(-7, sv[0]);
          return IsError(f, {ENOMEM});
        });
    EXPECT_GE(sites, 4);  // the pair's core, two sockets, chunk
    EXPECT_EQ(0, uep_close(sv[0]));
    EXPECT_EQ(0, uep_close(sv[1]));
    CloseAll(filler);
  }
}

TEST(CreateFaults, DupIntoANewChunk) {
  const auto filler = FillToFreshChunk();
  const int src = filler.front();
  int fd = -1;
  EXPECT_EQ(1, FailEachAllocation(
                   Observed(), [&] { return fd = uep_dup(src); },
                   [](const Failure& f) { return IsError(f, {ENOMEM}); }));
  EXPECT_EQ(0, uep_close(fd));
  // dup3 and F_DUPFD onto numbers in chunks nobody used yet.
  const int far = uep_fd_base() + fresh_chunk * kChunk + 5;
  fresh_chunk += 2;
  EXPECT_EQ(1, FailEachAllocation(
                   Observed(), [&] { return fd = uep_dup3(src, far, O_CLOEXEC); },
                   [](const Failure& f) { return IsError(f, {ENOMEM}); }));
  EXPECT_EQ(0, uep_close(fd));
  EXPECT_EQ(1, FailEachAllocation(
                   Observed(), [&] { return fd = uep_fcntl(src, F_DUPFD, far + kChunk); },
                   [](const Failure& f) { return IsError(f, {ENOMEM}); }));
  EXPECT_EQ(0, uep_close(fd));
  CloseAll(filler);
}

// A user file type with three wait queues: an item needs two hooks beyond its first.
class ThreeQueues final : public uep::Pollable {
 public:
  uint32_t poll(uep::PollContext& ctx) override {
    for (auto& wq : wq_) ctx.wait_on(wq);
    return ready_.load() ? uint32_t{EPOLLIN} : 0;
  }
  void Set(bool ready) {
    ready_.store(ready);
    for (auto& wq : wq_) wq.wake(ready ? uint32_t{EPOLLIN} : 0);
  }

 private:
  uep::WaitQueue wq_[3];
  std::atomic<bool> ready_{false};
};

TEST(CreateFaults, InstallAUserFile) {
  ExpectCreatorFailsCleanly(
      [] {
        const int r = uep::detail::install_pollable(std::make_shared<ThreeQueues>(), 0);
        errno = r < 0 ? -r : 0;  // this one returns -errno
        return r < 0 ? -1 : r;
      },
      2);  // the file, the chunk
}

// --- epoll_ctl(ADD) ---------------------------------------------------------------------

// After a failed ADD of `fd` into `ep`, waking the target must reach no hook of it.
void ExpectTargetReachesNothing(int ep, const std::function<void(bool)>& set_ready) {
  set_ready(true);
  epoll_event ev[4];
  EXPECT_EQ(0, uep_epoll_wait(ep, ev, 4, 0));
  set_ready(false);
}

long AddWithFaults(int ep, int fd, const Observed& state,
                   const std::function<void(bool)>& set_ready) {
  return FailEachAllocation(
      state,
      [&] {
        epoll_event e{EPOLLIN, {.u64 = 42}};
        return uep_epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
      },
      [&](const Failure& f) {
        IsError(f, {ENOMEM});
        ExpectTargetReachesNothing(ep, set_ready);
        return true;
      });
}

TEST(CtlFaults, AddEventfdToAnEmptyInstance) {
  const int ep = uep_epoll_create1(0);
  const int efd = uep_eventfd(1, EFD_NONBLOCK);  // ready when added
  const int other = uep_eventfd(1, EFD_NONBLOCK);
  epoll_event e{EPOLLIN, {.u64 = 7}};
  const int ep_watched = uep_epoll_create1(0);
  ASSERT_EQ(0, uep_epoll_ctl(ep_watched, EPOLL_CTL_ADD, other, &e));
  Observed state;
  state.Watch(efd).Watch(ep).Instance(ep).Instance(ep_watched);
  const long sites = AddWithFaults(ep, efd, state, [&](bool ready) {
    eventfd_t v = 0;
    if (ready) {
      EXPECT_EQ(0, uep_eventfd_write(efd, 1));
    } else {
      EXPECT_EQ(0, uep_eventfd_read(efd, &v));
      EXPECT_EQ(0, uep_eventfd_write(efd, 1));  // back to its count of 1
    }
  });
  EXPECT_GE(sites, 2);  // the item, the index
  epoll_event ev[4];
  ASSERT_EQ(1, uep_epoll_wait(ep, ev, 4, 0));
  EXPECT_EQ(42U, uint64_t{ev[0].data.u64});  // packed: copy
  for (int fd : {ep, efd, other, ep_watched}) EXPECT_EQ(0, uep_close(fd));
}

TEST(CtlFaults, AddAFileWithThreeQueuesNeedsTwoMoreHooks) {
  const int ep = uep_epoll_create1(0);
  auto file = std::make_shared<ThreeQueues>();
  const int fd = uep::detail::install_pollable(file, 0);
  ASSERT_GE(fd, 0);
  // A second item so the index does not grow: the remaining sites are the item and hooks.
  const int efd = uep_eventfd(0, 0);
  epoll_event e{EPOLLIN, {.u64 = 1}};
  ASSERT_EQ(0, uep_epoll_ctl(ep, EPOLL_CTL_ADD, efd, &e));
  Observed state;
  state.Watch(fd).Instance(ep);
  const long sites = AddWithFaults(ep, fd, state, [&](bool ready) { file->Set(ready); });
  EXPECT_EQ(3, sites);  // the item, hooks 2 and 3
  file->Set(true);
  epoll_event ev[4];
  ASSERT_EQ(1, uep_epoll_wait(ep, ev, 4, 0));
  EXPECT_EQ(42U, uint64_t{ev[0].data.u64});  // packed: copy
  EXPECT_EQ(0, uep_close(fd));
  EXPECT_EQ(0, uep_close(efd));
  EXPECT_EQ(0, uep_close(ep));
}

TEST(CtlFaults, AddBelowAWatchedInstanceChecksPaths) {
  // ep is watched by parent, so ADD into ep runs the wake-up path check, which lists
  // the target (and, for an instance, walks it).
  const int parent = uep_epoll_create1(0);
  const int ep = uep_epoll_create1(0);
  epoll_event e{EPOLLIN, {.u64 = 9}};
  ASSERT_EQ(0, uep_epoll_ctl(parent, EPOLL_CTL_ADD, ep, &e));
  const int efd = uep_eventfd(0, EFD_NONBLOCK);
  const int child = uep_epoll_create1(0);
  const int child_efd = uep_eventfd(0, EFD_NONBLOCK);
  ASSERT_EQ(0, uep_epoll_ctl(child, EPOLL_CTL_ADD, child_efd, &e));
  Observed state;
  state.Watch(efd).Watch(ep).Watch(parent).Watch(child).Instance(parent).Instance(ep);
  auto write_efd = [&](int fd) {
    return [fd](bool ready) {
      eventfd_t v = 0;
      if (ready) {
        EXPECT_EQ(0, uep_eventfd_write(fd, 1));
      } else {
        EXPECT_EQ(0, uep_eventfd_read(fd, &v));
      }
    };
  };
  EXPECT_GE(AddWithFaults(ep, efd, state, write_efd(efd)), 3);  // item, index, listing
  EXPECT_GE(AddWithFaults(ep, child, state, write_efd(child_efd)), 2);
  for (int fd : {parent, ep, efd, child, child_efd}) EXPECT_EQ(0, uep_close(fd));
}

TEST(CtlFaults, AddPipeAndSocketEnds) {
  const int ep = uep_epoll_create1(0);
  int p[2];
  ASSERT_EQ(0, uep_pipe2(p, O_NONBLOCK));
  int sv[2];
  ASSERT_EQ(0, uep_socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
  Observed state;
  state.Watch(p[0]).Watch(sv[0]).Instance(ep);
  auto fill = [](int wfd, int rfd) {
    return [wfd, rfd](bool ready) {
      char c = 'x';
      if (ready) {
        EXPECT_EQ(1, uep_write(wfd, &c, 1));
      } else {
        EXPECT_EQ(1, uep_read(rfd, &c, 1));
      }
    };
  };
  EXPECT_GE(AddWithFaults(ep, p[0], state, fill(p[1], p[0])), 2);
  EXPECT_GE(AddWithFaults(ep, sv[0], state, fill(sv[1], sv[0])), 1);
  for (int fd : {ep, p[0], p[1], sv[0], sv[1]}) EXPECT_EQ(0, uep_close(fd));
}

// --- poll ---------------------------------------------------------------------------

TEST(PollFaults, ASleepingPollFailsWithEnomemAndLeavesNoHook) {
  // 40 uepoll files (more hooks than the on-stack chunk holds) and a kernel one; none
  // ready, so the first pass hangs a hook on each: do_poll() answers the failure of any
  // with -ENOMEM when nothing is ready.
  std::vector<int> efds;
  for (int i = 0; i < 40; ++i) efds.push_back(uep_eventfd(0, EFD_NONBLOCK));
  const int kfd = eventfd(0, EFD_NONBLOCK);
  ASSERT_GE(kfd, 0);
  std::vector<pollfd> set;
  for (int fd : efds) set.push_back({fd, POLLIN, 0});
  set.push_back({kfd, POLLIN, 0});
  Observed state;
  state.Watch(efds.front()).Watch(efds.back());
  const long sites = FailEachAllocation(
      state, [&] { return uep_poll(set.data(), set.size(), 1); },
      [](const Failure& f) { return IsError(f, {ENOMEM}); });
  EXPECT_GE(sites, 3);  // the kernel set, the pinned files, the second chunk of hooks
  // Waking every file now would run any hook left behind (ASan: use after free).
  for (int fd : efds) EXPECT_EQ(0, uep_eventfd_write(fd, 1));
  CloseAll(efds);
  EXPECT_EQ(0, close(kfd));
}

// --- file operations ----------------------------------------------------------------------

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i * 7 % 26);
  return s;
}

std::string Drain(int fd) {
  std::string out;
  char buf[8192];
  for (ssize_t r; (r = uep_read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(r));
  return out;
}

TEST(IoFaults, PipeWriteStopsAtTheFirstPageItCannotGet) {
  // Into an empty pipe, and into one whose last page has room.
  for (const std::string head : {"", "0123456789"}) {
    SCOPED_TRACE("pipe holding " + std::to_string(head.size()) + " bytes");
    int p[2];
    ASSERT_EQ(0, uep_pipe2(p, O_NONBLOCK));
    const std::string data = Pattern(3 * 4096 + 100);
    // pipe_write() merges the write's last partial page (size % PAGE_SIZE) into the pipe's
    // last buffer when it fits there, before it allocates any page.
    const long merged = head.empty() ? 0 : static_cast<long>(data.size() % 4096);
    ASSERT_EQ(static_cast<ssize_t>(head.size()), uep_write(p[1], head.data(), head.size()));
    Observed state;
    state.Watch(p[0]).Watch(p[1]);
    const long sites = FailEachAllocation(
        state, [&] { return uep_write(p[1], data.data(), data.size()); },
        [&](const Failure& f) {
          if (f.result < 0) return IsError(f, {ENOMEM});
          // pipe_write(): the bytes written so far, ending at a page it could not get.
          EXPECT_GE(f.result, merged);
          EXPECT_EQ(0, (f.result - merged) % 4096) << f.result;
          return false;
        },
        [&](long written) {
          const std::string got = Drain(p[0]);
          EXPECT_EQ(head + data.substr(0, static_cast<size_t>(written)), got);
          ASSERT_EQ(static_cast<ssize_t>(head.size()), uep_write(p[1], head.data(), head.size()));
        });
    EXPECT_GE(sites, 2);
    EXPECT_EQ(head + data, Drain(p[0]));
    EXPECT_EQ(0, uep_close(p[0]));
    EXPECT_EQ(0, uep_close(p[1]));
  }
}

TEST(IoFaults, PipeResizeKeepsTheOldRing) {
  int p[2];
  ASSERT_EQ(0, uep_pipe2(p, O_NONBLOCK));
  const std::string data = Pattern(5000);
  ASSERT_EQ(5000, uep_write(p[1], data.data(), data.size()));
  Observed state;
  state.Watch(p[0]).Watch(p[1]);
  const int old_size = uep_fcntl(p[0], F_GETPIPE_SZ);
  EXPECT_EQ(1, FailEachAllocation(
                   state, [&] { return uep_fcntl(p[0], F_SETPIPE_SZ, 1 << 20); },
                   [&](const Failure& f) {
                     EXPECT_EQ(old_size, uep_fcntl(p[0], F_GETPIPE_SZ));
                     return IsError(f, {ENOMEM});
                   }));
  EXPECT_EQ(1 << 20, uep_fcntl(p[0], F_GETPIPE_SZ));
  EXPECT_EQ(data, Drain(p[0]));
  EXPECT_EQ(0, uep_close(p[0]));
  EXPECT_EQ(0, uep_close(p[1]));
}

TEST(IoFaults, StreamSendReturnsWhatItSent) {
  int sv[2];
  ASSERT_EQ(0, uep_socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
  const std::string data = Pattern(100000);  // several skbs
  Observed state;
  state.Watch(sv[0]).Watch(sv[1]);
  const long sites = FailEachAllocation(
      state, [&] { return uep_send(sv[0], data.data(), data.size(), 0); },
      [&](const Failure& f) {
        if (f.result < 0) return IsError(f, {ENOBUFS});
        return false;
      },
      [&](long sent) { EXPECT_EQ(data.substr(0, static_cast<size_t>(sent)), Drain(sv[1])); });
  EXPECT_GE(sites, 2);
  Drain(sv[1]);
  EXPECT_EQ(0, uep_close(sv[0]));
  EXPECT_EQ(0, uep_close(sv[1]));
}

TEST(IoFaults, TimerfdSettimeNeverAllocates) {
  // Room in the timer heaps is made by timerfd_create (CreateFaults.Timerfd), as hrtimers
  // never allocate: arming, re-arming on another clock base, disarming and cancel-on-set
  // registration then allocate nothing, so nothing can fail.
  std::vector<int> fds;
  for (int i = 0; i < 100; ++i) {
    fds.push_back(uep_timerfd_create(i % 2 == 0 ? CLOCK_REALTIME : CLOCK_MONOTONIC, 0));
    ASSERT_GE(fds.back(), 0);
  }
  itimerspec rel{{0, 0}, {100, 0}};
  itimerspec abs{};
  ASSERT_EQ(0, clock_gettime(CLOCK_REALTIME, &abs.it_value));
  abs.it_value.tv_sec += 100;
  const itimerspec off{};
  // The service thread and the clock watcher start with the first timers that need them
  // (not measured: a thread, not a timer).
  ASSERT_EQ(0, uep_timerfd_settime(fds[0], 0, &rel, nullptr));
  ASSERT_EQ(
      0, uep_timerfd_settime(fds[0], TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &abs, nullptr));
  const long news_before = news_on_this_thread;
  uep::FailNthAllocation(1);
  for (int fd : fds) {
    EXPECT_EQ(0, uep_timerfd_settime(fd, 0, &rel, nullptr));
    EXPECT_EQ(0,
              uep_timerfd_settime(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &abs, nullptr));
  }
  for (int fd : fds) EXPECT_EQ(0, uep_timerfd_settime(fd, 0, &rel, nullptr));
  for (int fd : fds) EXPECT_EQ(0, uep_timerfd_settime(fd, 0, &off, nullptr));
  EXPECT_EQ(1, uep::AllocationsUntilFailure());
  uep::FailNthAllocation(0);
  EXPECT_EQ(news_before, news_on_this_thread);
  CloseAll(fds);
}

TEST(IoFaults, DatagramSendQueuesNothing) {
  for (int type : {SOCK_DGRAM, SOCK_SEQPACKET}) {
    int sv[2];
    ASSERT_EQ(0, uep_socketpair(AF_UNIX, type | SOCK_NONBLOCK, 0, sv));
    const std::string queued = Pattern(300);
    ASSERT_EQ(300, uep_send(sv[0], queued.data(), queued.size(), 0));
    const std::string data = Pattern(2000);
    Observed state;
    state.Watch(sv[0]).Watch(sv[1]);
    EXPECT_EQ(1, FailEachAllocation(
                     state, [&] { return uep_send(sv[0], data.data(), data.size(), 0); },
                     [](const Failure& f) { return IsError(f, {ENOBUFS}); }));
    char buf[4096];
    EXPECT_EQ(300, uep_recv(sv[1], buf, sizeof buf, 0));
    EXPECT_EQ(2000, uep_recv(sv[1], buf, sizeof buf, 0));
    EXPECT_EQ(0, uep_close(sv[0]));
    EXPECT_EQ(0, uep_close(sv[1]));
  }
}

}  // namespace
