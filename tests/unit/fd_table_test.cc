// Descriptor numbering and table semantics.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <vector>

#include "core/fd_table.h"
#include "uepoll/uepoll.h"

namespace {

TEST(FdTable, NumbersStartAboveEveryKernelDescriptor) {
  long nr_open = 0;
  FILE* f = std::fopen("/proc/sys/fs/nr_open", "re");
  ASSERT_NE(nullptr, f);
  ASSERT_EQ(1, std::fscanf(f, "%ld", &nr_open));
  std::fclose(f);
  EXPECT_GE(uep_fd_base(), nr_open);
  EXPECT_GE(uep_fd_base(), 1 << 30);
  rlimit rl{};
  ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &rl));
  EXPECT_LE(static_cast<long>(rl.rlim_max), uep_fd_base());
}

TEST(FdTable, LowestFreeNumberIsReused) {
  const int a = uep_eventfd(0, 0);
  const int b = uep_eventfd(0, 0);
  const int c = uep_eventfd(0, 0);
  ASSERT_GE(a, uep_fd_base());
  EXPECT_EQ(a + 1, b);
  EXPECT_EQ(b + 1, c);
  ASSERT_EQ(0, uep_close(b));
  EXPECT_EQ(b, uep_eventfd(0, 0));
  ASSERT_EQ(0, uep_close(a));
  ASSERT_EQ(0, uep_close(b));
  EXPECT_EQ(a, uep_dup(c));
  EXPECT_EQ(b, uep_dup(c));
  for (int fd : {a, b, c}) EXPECT_EQ(0, uep_close(fd));
}

TEST(FdTable, UepollDescriptorsCostNoKernelDescriptor) {
  const int probe_before = dup(0);
  ASSERT_GE(probe_before, 0);
  close(probe_before);
  std::vector<int> fds;
  for (int i = 0; i < 1000; ++i) fds.push_back(uep_eventfd(0, 0));
  const int probe_after = dup(0);
  EXPECT_EQ(probe_before, probe_after);
  close(probe_after);
  for (int fd : fds) ASSERT_EQ(0, uep_close(fd));
}

TEST(FdTable, KernelDescriptorsPassThrough) {
  int p[2];
  ASSERT_EQ(0, pipe(p));
  EXPECT_EQ(0, uep_is_uepoll_fd(p[0]));
  EXPECT_EQ(3, uep_write(p[1], "abc", 3));
  char buf[4] = {};
  EXPECT_EQ(3, uep_read(p[0], buf, sizeof buf));
  EXPECT_STREQ("abc", buf);
  const int d = uep_dup(p[0]);
  EXPECT_LT(d, uep_fd_base());
  EXPECT_EQ(0, uep_close(d));
  EXPECT_EQ(0, uep_close(p[0]));
  EXPECT_EQ(0, uep_close(p[1]));
  EXPECT_EQ(-1, uep_close(p[0]));
  EXPECT_EQ(EBADF, errno);
}

TEST(FdTable, CloexecIsPerDescriptor) {
  const int a = uep_eventfd(0, EFD_CLOEXEC);
  EXPECT_EQ(FD_CLOEXEC, uep_fcntl(a, F_GETFD));
  const int b = uep_dup(a);
  EXPECT_EQ(0, uep_fcntl(b, F_GETFD));
  EXPECT_EQ(0, uep_fcntl(b, F_SETFD, FD_CLOEXEC));
  EXPECT_EQ(FD_CLOEXEC, uep_fcntl(b, F_GETFD));
  const int c = uep_fcntl(a, F_DUPFD_CLOEXEC, 0);
  EXPECT_EQ(FD_CLOEXEC, uep_fcntl(c, F_GETFD));
  const int d = uep_dup3(a, c + 100, O_CLOEXEC);
  EXPECT_EQ(c + 100, d);
  EXPECT_EQ(FD_CLOEXEC, uep_fcntl(d, F_GETFD));
  for (int fd : {a, b, c, d}) EXPECT_EQ(0, uep_close(fd));
}

TEST(FdTable, DupToNumberOutsideTheRangeIsEbadf) {
  const int a = uep_eventfd(0, 0);
  EXPECT_EQ(-1, uep_dup2(a, 5));
  EXPECT_EQ(EBADF, errno);
  EXPECT_EQ(0, uep_close(a));
}

TEST(FdTable, Dup2ReplacesAndKeepsTheFileAliveThroughTheOtherNumber) {
  const int a = uep_eventfd(7, EFD_NONBLOCK);
  const int b = uep_eventfd(0, EFD_NONBLOCK);
  EXPECT_EQ(b, uep_dup2(a, b));
  EXPECT_EQ(0, uep_close(a));
  eventfd_t v = 0;
  EXPECT_EQ(0, uep_eventfd_read(b, &v));
  EXPECT_EQ(7u, v);
  EXPECT_EQ(0, uep_close(b));
}

TEST(FdTable, FdupfdHonoursTheMinimum) {
  const int a = uep_eventfd(0, 0);
  const int b = uep_fcntl(a, F_DUPFD, a + 50);
  EXPECT_EQ(a + 50, b);
  // Below the uepoll range the minimum is the range's start.
  const int c = uep_fcntl(a, F_DUPFD, 3);
  EXPECT_GE(c, uep_fd_base());
  EXPECT_EQ(-1, uep_fcntl(a, F_DUPFD, -1));
  EXPECT_EQ(EINVAL, errno);
  for (int fd : {a, b, c}) EXPECT_EQ(0, uep_close(fd));
}

}  // namespace
