// The environment variables uepoll reads, and the defaults the documentation gives. Each
// case runs in a fresh process (a death test re-executes this binary) because the
// descriptor table, the watch limit and the readiness mode are read once, when first needed.
#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "uepoll/uepoll.h"

namespace {

class Environment : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

// Exits 0 if the descriptor table's limit is `expected`.
[[noreturn]] void ExitWithLimitCheck(const char* max_fds, int expected) {
  setenv("UEPOLL_MAX_FDS", max_fds, 1);
  std::_Exit(uep_get_nofile_limit() == expected ? 0 : 1);
}

TEST_F(Environment, MaxFdsThatIsNotANumberIsReportedAndIgnored) {
  EXPECT_EXIT(ExitWithLimitCheck("abc", 1 << 24), ::testing::ExitedWithCode(0),
              "uepoll: UEPOLL_MAX_FDS=abc is not a positive number: ignored");
  EXPECT_EXIT(ExitWithLimitCheck("12abc", 1 << 24), ::testing::ExitedWithCode(0),
              "UEPOLL_MAX_FDS=12abc is not a positive number");
  EXPECT_EXIT(ExitWithLimitCheck("0", 1 << 24), ::testing::ExitedWithCode(0),
              "UEPOLL_MAX_FDS=0 is not a positive number");
}

TEST_F(Environment, MaxFdsAboveTheCeilingIsReportedAndCapped) {
  EXPECT_EXIT(ExitWithLimitCheck("999999999", 1 << 26), ::testing::ExitedWithCode(0),
              "UEPOLL_MAX_FDS=999999999 is above the ceiling");
}

TEST_F(Environment, ValidMaxFdsIsUsedSilently) {
  EXPECT_EXIT(ExitWithLimitCheck("1000", 1000), ::testing::ExitedWithCode(0), "^$");
}

// Exits 0 if the watch limit is `expected` (-1: the system's, from /proc).
[[noreturn]] void ExitWithWatchLimitCheck(const char* value, long expected) {
  long system_limit = -1;
  if (FILE* f = std::fopen("/proc/sys/fs/epoll/max_user_watches", "re")) {
    if (std::fscanf(f, "%ld", &system_limit) != 1) system_limit = -1;
    std::fclose(f);
  }
  if (system_limit <= 0) system_limit = 1L << 22;
  setenv("UEPOLL_MAX_USER_WATCHES", value, 1);
  std::_Exit(uep_get_max_user_watches() == (expected < 0 ? system_limit : expected) ? 0 : 1);
}

TEST_F(Environment, MaxUserWatchesThatIsNotANumberIsReportedAndIgnored) {
  EXPECT_EXIT(ExitWithWatchLimitCheck("lots", -1), ::testing::ExitedWithCode(0),
              "uepoll: UEPOLL_MAX_USER_WATCHES=lots is not a number >= 0: ignored");
  EXPECT_EXIT(ExitWithWatchLimitCheck("-5", -1), ::testing::ExitedWithCode(0),
              "UEPOLL_MAX_USER_WATCHES=-5 is not a number >= 0");
  EXPECT_EXIT(ExitWithWatchLimitCheck("100", 100), ::testing::ExitedWithCode(0), "^$");
}

// Exits 0 if descriptors are numbered from uep_fd_base() (the default, high numbering).
[[noreturn]] void ExitWithHighNumberingCheck(const char* value) {
  setenv("UEPOLL_NUMBERING", value, 1);
  const int fd = uep_eventfd(0, 0);
  std::_Exit(fd >= uep_fd_base() ? 0 : 1);
}

TEST_F(Environment, NumberingThatIsNeitherWordIsReported) {
  EXPECT_EXIT(ExitWithHighNumberingCheck("kernal"), ::testing::ExitedWithCode(0),
              "uepoll: UEPOLL_NUMBERING=kernal is neither kernel nor high: high used");
  EXPECT_EXIT(ExitWithHighNumberingCheck("high"), ::testing::ExitedWithCode(0), "^$");
}

// Exits 0 once an instance with a kernel descriptor has been waited on.
[[noreturn]] void ExitAfterAMixedWait(const char* readiness) {
  setenv("UEPOLL_KERNEL_READINESS", readiness, 1);
  const int ep = uep_epoll_create1(0);
  int p[2];
  if (ep < 0 || pipe(p) != 0) std::_Exit(2);
  epoll_event ev{};
  ev.events = EPOLLIN;
  if (uep_epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) != 0) std::_Exit(3);
  std::_Exit(uep_epoll_wait(ep, &ev, 1, 0) == 0 ? 0 : 4);
}

TEST_F(Environment, KernelReadinessThatIsNeitherWordIsReported) {
  EXPECT_EXIT(ExitAfterAMixedWait("ring"), ::testing::ExitedWithCode(0),
              "uepoll: UEPOLL_KERNEL_READINESS=ring is neither uring nor syscall: ignored");
  EXPECT_EXIT(ExitAfterAMixedWait("syscall"), ::testing::ExitedWithCode(0), "^$");
}

// The defaults uepoll.h, the man pages and docs/semantics.md give.
TEST(Defaults, MatchTheDocumentation) {
  if (std::getenv("UEPOLL_MAX_FDS") == nullptr) {
    EXPECT_EQ(1 << 24, uep_get_nofile_limit());
  }
  EXPECT_GE(uep_fd_base(), 1 << 30);
  const int ep = uep_epoll_create1(0);
  ASSERT_GE(ep, 0);
  EXPECT_EQ(0, uep_epoll_get_busy_poll(ep));  // sleeps at once
  EXPECT_EQ(0, uep_epoll_set_busy_poll(ep, 1000));
  EXPECT_EQ(1000, uep_epoll_get_busy_poll(ep));
  const int ev = uep_eventfd(0, 0);
  ASSERT_GE(ev, 0);
  EXPECT_EQ(-1, uep_epoll_get_busy_poll(ev));
  EXPECT_EQ(EINVAL, errno);
  EXPECT_EQ(0, uep_close(ev));
  EXPECT_EQ(0, uep_close(ep));
  EXPECT_EQ(-1, uep_epoll_get_busy_poll(ep));
  EXPECT_EQ(EBADF, errno);
}

}  // namespace
