// Reclamation: the memory of removed items, outgrown index tables and closed files is given
// back while the process runs, and closing stays correct (and never waits behind a mutex)
// when other threads use uepoll.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <malloc.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/fd_table.h"
#include "core/file.h"
#include "core/rcu.h"
#include "support/backend.h"
#include "support/raw_kernel.h"
#include "support/sanitizer.h"
#include "uepoll/uepoll.h"

#ifdef UEP_TEST_SANITIZED
#include <sanitizer/allocator_interface.h>
#endif

namespace uep {
namespace {

using test::Backend;
using test::kSanitized;
constexpr int kScale = kSanitized ? 10 : 1;

// Bytes the allocator has handed out and not taken back.
double AllocatedBytes() {
#ifdef UEP_TEST_SANITIZED
  return static_cast<double>(__sanitizer_get_current_allocated_bytes());
#else
  const struct mallinfo2 mi = mallinfo2();
  return static_cast<double>(mi.uordblks + mi.hblkhd);
#endif
}

// `count` threads that made calls on `b` (on uepoll: each owns a reader record) and then
// sleep until destroyed, as the idle threads of a real program.
class IdleThreads {
 public:
  IdleThreads(const Backend& b, int count) {
    for (int i = 0; i < count; ++i) {
      threads_.emplace_back([this, &b] {
        const int ep = b.epoll_create1(0);
        const int fd = b.eventfd(0, EFD_NONBLOCK);
        epoll_event ev{};
        ev.events = EPOLLIN;
        b.epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        b.epoll_wait(ep, &ev, 1, 0);
        b.close(fd);
        b.close(ep);
        std::unique_lock lock(mu_);
        ++started_;
        cv_.notify_all();
        cv_.wait(lock, [this] { return stop_; });
      });
    }
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return started_ == count; });
  }
  ~IdleThreads() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int started_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

// 500,000 items added to one instance and removed again: their memory and the grown index
// table go back while the instance stays open (they used to stay until it closed).
TEST(Reclaim, RemovedItemsAreFreedWhileTheInstanceLives) {
  const int count = 500000 / kScale;
  const int ep = uep_epoll_create1(0);
  ASSERT_GE(ep, 0);
  const int efd = uep_eventfd(0, EFD_NONBLOCK);
  ASSERT_GE(efd, 0);
  // One file under many numbers: an item per number, a descriptor slot (8 B) each.
  std::vector<int> fds(static_cast<size_t>(count));
  for (int& fd : fds) {
    fd = uep_dup(efd);
    ASSERT_GE(fd, 0);
  }
  IdleThreads others(test::UepollBackend(), 1);  // grace periods with another reader
  const double before = AllocatedBytes();
  for (int fd : fds) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ASSERT_EQ(0, uep_epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
  }
  const double grown = AllocatedBytes() - before;
  for (int fd : fds) ASSERT_EQ(0, uep_epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr));
  const double kept = AllocatedBytes() - before;
  std::printf("%d items: %.1f MB while watched, %.1f kB kept after removal\n", count,
              grown / (1 << 20), kept / 1024);
  EXPECT_GT(grown, 100.0 * count);  // the items were really there
  // What may stay: a batch of removed items waiting for a grace period, a batch kept for
  // reuse, a small table.
  EXPECT_LT(kept, 0.02 * grown);

  // The instance still works.
  epoll_event ev{};
  ev.events = EPOLLIN;
  ASSERT_EQ(0, uep_epoll_ctl(ep, EPOLL_CTL_ADD, fds[7], &ev));
  ASSERT_EQ(0, uep_eventfd_write(efd, 1));
  EXPECT_EQ(1, uep_epoll_wait(ep, &ev, 1, 0));
  for (int fd : fds) ASSERT_EQ(0, uep_close(fd));
  EXPECT_EQ(0, uep_close(efd));
  EXPECT_EQ(0, uep_close(ep));
}

// Closed files are freed after a grace period although other threads use uepoll, and a
// barrier frees what is still queued.
TEST(Reclaim, ClosedFilesAreFreedWithOtherThreadsAround) {
  IdleThreads others(test::UepollBackend(), 3);
  const int ep = uep_epoll_create1(0);
  ASSERT_GE(ep, 0);
  RcuBarrier();
  const double before = AllocatedBytes();
  const int rounds = 100000 / kScale;
  for (int i = 0; i < rounds; ++i) {
    const int fd = uep_eventfd(0, EFD_NONBLOCK);
    ASSERT_GE(fd, 0);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ASSERT_EQ(0, uep_epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
    ASSERT_EQ(0, uep_close(fd));
  }
  // At most a batch of closed files waits for its grace period.
  EXPECT_LT(AllocatedBytes() - before, 2.0 * kRcuBatch * 1024);
  RcuBarrier();
  EXPECT_LT(AllocatedBytes() - before, 64.0 * 1024);
  EXPECT_EQ(0, uep_close(ep));
}

// What a close does at once, with three other threads that used the library asleep: the
// closed file's items are gone from the next wait, the other end of a pipe sees the hang-up,
// and closing one of two descriptors of a file changes nothing. Same results as the kernel.
std::vector<std::string> CloseWithIdleThreads(const Backend& b) {
  IdleThreads others(b, 3);
  std::vector<std::string> out;
  auto wait = [&](int ep) {
    epoll_event ev[4];
    const int n = b.epoll_wait(ep, ev, 4, 0);
    std::string s = "n=" + std::to_string(n);
    for (int i = 0; i < n; ++i) {
      const uint32_t events = ev[i].events;
      const uint64_t data = ev[i].data.u64;
      s += " " + std::to_string(data) + ":" + std::to_string(events);
    }
    out.push_back(s);
  };
  const int ep = b.epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  const int efd = b.eventfd(1, EFD_NONBLOCK);
  ev.data.u64 = 1;
  b.epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
  wait(ep);
  b.close(efd);
  wait(ep);  // the item went with the file

  int p[2];
  b.pipe2(p, O_NONBLOCK);
  ev.data.u64 = 2;
  b.epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
  wait(ep);
  b.close(p[1]);
  wait(ep);  // the hang-up, at once
  b.close(p[0]);
  wait(ep);

  const int e2 = b.eventfd(0, EFD_NONBLOCK);
  const int d = b.dup(e2);
  ev.data.u64 = 3;
  b.epoll_ctl(ep, EPOLL_CTL_ADD, d, &ev);
  b.close(e2);  // not the last reference
  b.eventfd_write(d, 1);
  wait(ep);
  b.close(d);
  wait(ep);
  b.close(ep);
  return out;
}

TEST(Reclaim, CloseWithIdleThreadsAsTheKernel) {
  // The kernel's side by raw system calls: ThreadSanitizer takes descriptor numbers that
  // threads reuse through its libc interceptors for races.
  const std::vector<std::string> kernel = CloseWithIdleThreads(test::RawKernelBackend());
  const std::vector<std::string> uepoll = CloseWithIdleThreads(test::UepollBackend());
  EXPECT_EQ(kernel, uepoll);
  ASSERT_EQ(7U, kernel.size());
  EXPECT_EQ("n=0", kernel[1]);
}

// A file whose Poll() sleeps until released: an ADD of it holds ep->mtx meanwhile.
class GateFile final : public File {
 public:
  GateFile() : File(O_RDWR) {}
  uint32_t Poll(PollTable* pt) override {
    if (pt != nullptr && pt->qproc != nullptr && armed_.load()) {
      entered_.store(true);
      while (armed_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return 0;
  }
  std::atomic<bool> armed_{false};
  std::atomic<bool> entered_{false};
};

// Calls that wait for ep->mtx do so outside their RCU read section: a close that waits for
// a grace period (a pipe's) completes while another thread holds ep->mtx for as long as it
// likes and others queue for it (a ctl ADD, a wait on a level-triggered pipe item). Before,
// they waited inside their sections and the close waited for all of them.
TEST(Reclaim, NoReadSectionWaitsForEpMutex) {
  const int ep = uep_epoll_create1(0);
  ASSERT_GE(ep, 0);
  int p[2];
  ASSERT_EQ(0, uep_pipe2(p, O_NONBLOCK));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ASSERT_EQ(0, uep_epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
  ASSERT_EQ(1, uep_write(p[1], "x", 1));  // ready: a wait must scan under ep->mtx
  auto* gate = new GateFile;
  gate->armed_.store(true);
  const int gfd = FdTable::Get().Install(gate, false);
  ASSERT_GE(gfd, 0);
  const int efd = uep_eventfd(0, EFD_NONBLOCK);
  int q[2];
  ASSERT_EQ(0, uep_pipe2(q, O_NONBLOCK));

  std::atomic<int> add_gate{-2}, add_efd{-2}, waited{-2};
  std::thread holder([&] {  // holds ep->mtx in the gate's Poll()
    epoll_event e{};
    e.events = EPOLLIN;
    add_gate.store(uep_epoll_ctl(ep, EPOLL_CTL_ADD, gfd, &e));
  });
  while (!gate->entered_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::thread adder([&] {
    epoll_event e{};
    e.events = EPOLLIN;
    add_efd.store(uep_epoll_ctl(ep, EPOLL_CTL_ADD, efd, &e));
  });
  std::thread waiter([&] {
    epoll_event out[4];
    waited.store(uep_epoll_wait(ep, out, 4, 0));
  });
  // Let both queue on ep->mtx (if they do not get there in time the test proves less, it
  // cannot fail for that).
  std::this_thread::sleep_for(std::chrono::milliseconds(200));

  std::mutex mu;
  std::condition_variable cv;
  bool closed = false;
  std::thread closer([&] {
    EXPECT_EQ(0, uep_close(q[1]));  // a pipe's last close waits for a grace period
    std::lock_guard lock(mu);
    closed = true;
    cv.notify_all();
  });
  {
    std::unique_lock lock(mu);
    // A watchdog, not a timing: the close needs no other thread to move.
    EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return closed; }))
        << "a close waited for threads queued on ep->mtx";
  }
  gate->armed_.store(false);
  closer.join();
  holder.join();
  adder.join();
  waiter.join();
  EXPECT_EQ(0, add_gate.load());
  EXPECT_EQ(0, add_efd.load());
  EXPECT_GE(waited.load(), 1);
  for (int fd : {q[0], p[0], p[1], gfd, efd, ep}) EXPECT_EQ(0, uep_close(fd));
}

}  // namespace
}  // namespace uep
