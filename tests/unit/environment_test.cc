// The environment variables uepoll reads, and the defaults the documentation gives. Each
// case runs in a fresh process (a death test re-executes this binary) because the
// descriptor table reads UEPOLL_MAX_FDS once, when it is made.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
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
