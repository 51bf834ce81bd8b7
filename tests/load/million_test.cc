// Load: a million watched descriptors in one instance, and a hundred thousand instances in
// one process, in a process whose RLIMIT_NOFILE is 20,000 (uepoll descriptors cost no
// kernel descriptor). Prints what each item and each instance costs in memory, beside the
// kernel's figures (measured on Linux 6.18 from /proc/slabinfo deltas, x86-64):
//   item:     epitem 128 B (slab "eventpoll_epi"; fs/eventpoll.c keeps it <= 128 B with a
//             BUILD_BUG_ON) + eppoll_entry 64 B (its own slab, merged into a 64 B cache)
//             + epitems_head 16 B ("ep_head", once per watched file)        = 208 B
//   instance: struct eventpoll 256 B (kmalloc-256) + struct file 192 B ("filp") + dentry
//             192 B + LSM file blob 24 B (anon inode shared)                  = 664 B
// Under a sanitizer the sizes shrink tenfold: shadow memory and the slowdown would not fit
// CI's minute, and malloc statistics are the sanitizer's, so only RSS is printed there.
#include <gtest/gtest.h>
#include <malloc.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <vector>

#include "core/eventpoll.h"
#include "support/sanitizer.h"
#include "uepoll/uepoll.h"

namespace {

using uep::test::kSanitized;
constexpr int kScale = kSanitized ? 10 : 1;

constexpr double kKernelItemBytes = 128 + 64 + 16;
constexpr double kKernelInstanceBytes = 256 + 192 + 192 + 24;

// Bytes malloc has handed out and not taken back (arena and mmap'd blocks).
double HeapInUse() {
  const struct mallinfo2 mi = mallinfo2();
  return static_cast<double>(mi.uordblks + mi.hblkhd);
}

double Rss() {
  std::ifstream statm("/proc/self/statm");
  long size = 0;
  long resident = 0;
  statm >> size >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

struct Meter {
  double heap = HeapInUse();
  double rss = Rss();
  std::chrono::steady_clock::time_point t = std::chrono::steady_clock::now();

  // Prints the cost per unit since construction, and restarts.
  double Report(const char* what, int count, double kernel_bytes = 0) {
    const double heap_each = (HeapInUse() - heap) / count;
    const double rss_each = (Rss() - rss) / count;
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
    std::printf("%-34s %8d: %7.1f B heap, %7.1f B RSS each%s", what, count,
                kSanitized ? 0.0 : heap_each, rss_each, kernel_bytes > 0 ? "" : ",");
    if (kernel_bytes > 0) std::printf(" (kernel %.0f B),", kernel_bytes);
    std::printf(" %.0f ms\n", ms);
    *this = Meter();
    return heap_each;
  }
};

class Load : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &old_));
    rlimit rl{20000, 20000};
    if (old_.rlim_max < 20000) rl = {old_.rlim_max, old_.rlim_max};
    ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl));
    if (kSanitized) std::printf("sanitizer build: sizes / %d (shadow memory, slowdown)\n", kScale);
  }
  void TearDown() override { EXPECT_EQ(0, setrlimit(RLIMIT_NOFILE, &old_)); }

 private:
  rlimit old_{};
};

TEST_F(Load, OneInstanceWatchesAMillionEventfds) {
  const int count = 1000000 / kScale;
  std::printf("sizeof EpItem %zu, EpPollEntry %zu, EventPoll %zu\n", sizeof(uep::EpItem),
              sizeof(uep::EpPollEntry), sizeof(uep::EventPoll));
  const int ep = uep_epoll_create1(0);
  ASSERT_GE(ep, 0);
  std::vector<int> fds(count);
  const double heap_before = HeapInUse();
  Meter meter;
  for (int i = 0; i < count; ++i) {
    fds[i] = uep_eventfd(0, EFD_NONBLOCK);
    ASSERT_GE(fds[i], 0) << i << " errno " << errno;
  }
  meter.Report("eventfd (file + descriptor slot)", count);
  for (int i = 0; i < count; ++i) {
    epoll_event ev{EPOLLIN, {.u64 = static_cast<uint64_t>(i)}};
    ASSERT_EQ(0, uep_epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev)) << i;
  }
  const double item = meter.Report("watched (item + index)", count, kKernelItemBytes);
  // An item, its index slot and malloc's header: within 1.5 times the kernel's.
  if (!kSanitized) {
    EXPECT_LT(item, 1.5 * kKernelItemBytes);
  }
  EXPECT_EQ(count, uep_get_epoll_watches());

  epoll_event out[64];
  EXPECT_EQ(0, uep_epoll_wait(ep, out, 64, 0));
  for (int i : {0, count / 7, count - 1}) {
    ASSERT_EQ(0, uep_eventfd_write(fds[i], 1));
    ASSERT_EQ(1, uep_epoll_wait(ep, out, 64, 0));
    EXPECT_EQ(static_cast<uint64_t>(i), uint64_t{out[0].data.u64});  // packed: copy
    eventfd_t v = 0;
    ASSERT_EQ(0, uep_eventfd_read(fds[i], &v));
  }
  // The kernel's own descriptors are untouched: it still hands out its lowest numbers.
  const int kfd = eventfd(0, 0);
  EXPECT_GE(kfd, 0);
  EXPECT_LT(kfd, 20000);
  EXPECT_EQ(0, close(kfd));
  // Closing the instance first, then the files, leaves no watch behind.
  EXPECT_EQ(0, uep_close(ep));
  EXPECT_EQ(0, uep_get_epoll_watches());
  for (int fd : fds) ASSERT_EQ(0, uep_close(fd));
  meter.Report("after closing everything", count);
  // Everything went back but the descriptor table's chunks (8 B a slot, kept for reuse).
  if (!kSanitized) {
    EXPECT_LT(HeapInUse() - heap_before, 8.5 * count);
  }
}

TEST_F(Load, AHundredThousandInstancesWatchOneEventfd) {
  const int count = 100000 / kScale;
  const int efd = uep_eventfd(0, EFD_NONBLOCK);
  ASSERT_GE(efd, 0);
  std::vector<int> eps(count);
  Meter meter;
  for (int i = 0; i < count; ++i) {
    eps[i] = uep_epoll_create1(0);
    ASSERT_GE(eps[i], 0) << i << " errno " << errno;
  }
  const double instance = meter.Report("instance (+ descriptor slot)", count, kKernelInstanceBytes);
  if (!kSanitized) {
    EXPECT_LT(instance, kKernelInstanceBytes);
  }
  for (int i = 0; i < count; ++i) {
    epoll_event ev{EPOLLIN | EPOLLET, {.u64 = static_cast<uint64_t>(i)}};
    ASSERT_EQ(0, uep_epoll_ctl(eps[i], EPOLL_CTL_ADD, efd, &ev)) << i;
  }
  meter.Report("watch of one file (item + index)", count, kKernelItemBytes);
  // One write runs every instance's callback; each instance then reports it once.
  ASSERT_EQ(0, uep_eventfd_write(efd, 1));
  meter.Report("wake-up (callback per instance)", count);
  epoll_event out[4];
  for (int i = 0; i < count; ++i) {
    ASSERT_EQ(1, uep_epoll_wait(eps[i], out, 4, 0)) << i;
    ASSERT_EQ(static_cast<uint64_t>(i), uint64_t{out[0].data.u64});
    ASSERT_EQ(0, uep_epoll_wait(eps[i], out, 4, 0)) << i;  // edge-triggered: once
  }
  meter.Report("harvest (wait per instance)", count);
  // The file's last close removes all its items from every instance.
  EXPECT_EQ(count, uep_get_epoll_watches());
  EXPECT_EQ(0, uep_close(efd));
  EXPECT_EQ(0, uep_get_epoll_watches());
  meter.Report("close of the watched file", count);
  for (int ep : eps) ASSERT_EQ(0, uep_close(ep));
}

}  // namespace
