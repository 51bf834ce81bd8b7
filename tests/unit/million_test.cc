// One instance watches a million uepoll files in a process whose RLIMIT_NOFILE is 20,000:
// uepoll descriptors cost no kernel descriptor, and one wait still finds the one ready.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <vector>

#include "uepoll/uepoll.h"

namespace {

TEST(Million, OneInstanceWatchesAMillionEventfdsUnderAKernelLimitOf20000) {
  rlimit rl{20000, 20000};
  rlimit old{};
  ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &old));
  if (old.rlim_max < 20000) rl = {old.rlim_max, old.rlim_max};
  ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl));

  constexpr int kCount = 1000000;
  const int ep = uep_epoll_create1(0);
  ASSERT_GE(ep, 0);
  std::vector<int> fds(kCount);
  for (int i = 0; i < kCount; ++i) {
    fds[i] = uep_eventfd(0, EFD_NONBLOCK);
    ASSERT_GE(fds[i], 0) << i << " errno " << errno;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = static_cast<uint64_t>(i);
    ASSERT_EQ(0, uep_epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev)) << i;
  }
  epoll_event out[8];
  EXPECT_EQ(0, uep_epoll_wait(ep, out, 8, 0));
  for (int i : {0, 123456, kCount - 1}) {
    ASSERT_EQ(0, uep_eventfd_write(fds[i], 1));
    ASSERT_EQ(1, uep_epoll_wait(ep, out, 8, 0));
    EXPECT_EQ(static_cast<uint64_t>(i), uint64_t{out[0].data.u64});  // packed: copy
    eventfd_t v = 0;
    ASSERT_EQ(0, uep_eventfd_read(fds[i], &v));
  }
  // Closing the instance first, then the files, leaves nothing behind.
  EXPECT_EQ(0, uep_close(ep));
  for (int fd : fds) ASSERT_EQ(0, uep_close(fd));
  ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &old));
}

}  // namespace
