// Kernel numbering chosen by a program that uses the library (uep_set_numbering or
// UEPOLL_NUMBERING): numbers are the kernel's, RLIMIT_NOFILE applies, dup2 onto kernel
// numbers, close frees both, and the fork rule is the default numbering's.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

#include "support/sanitizer.h"
#include "uepoll/uepoll.h"

extern char** environ;

namespace {

constexpr const char* kByEnvironment = "NUMBERING_TEST_BY_ENVIRONMENT";

// Before main, so before the descriptor table exists. The environment says high and the
// call must win; a child run (EnvironmentAloneChooses) leaves the choice to the variable.
const int set_numbering_rc = [] {
  if (std::getenv(kByEnvironment) != nullptr) return 0;
  setenv("UEPOLL_NUMBERING", "high", 1);
  return uep_set_numbering(UEP_NUMBERING_KERNEL);
}();

int LowestFreeKernelNumber() {
  const int fd = dup(0);
  close(fd);
  return fd;
}

TEST(Numbering, ChosenBeforeTheFirstDescriptor) {
  EXPECT_EQ(0, set_numbering_rc);
  EXPECT_EQ(0, uep_fd_base());
}

TEST(Numbering, NumbersAreTheKernelsLowestFree) {
  const int lowest = LowestFreeKernelNumber();
  const int fd = uep_eventfd(0, 0);
  ASSERT_EQ(lowest, fd);
  EXPECT_EQ(1, uep_is_uepoll_fd(fd));
  // Its placeholder holds the number: the kernel hands out the next one.
  EXPECT_EQ(fd + 1, LowestFreeKernelNumber());
  EXPECT_EQ(0, uep_close(fd));
}

TEST(Numbering, TooLateIsEbusy) {
  const int fd = uep_eventfd(0, 0);
  ASSERT_GE(fd, 0);
  errno = 0;
  EXPECT_EQ(-1, uep_set_numbering(UEP_NUMBERING_HIGH));
  EXPECT_EQ(EBUSY, errno);
  errno = 0;
  EXPECT_EQ(-1, uep_set_numbering(7));
  EXPECT_EQ(EINVAL, errno);
  EXPECT_EQ(0, uep_fd_base());
  EXPECT_EQ(0, uep_close(fd));
}

// Differential: as many uepoll eventfds fit under a lowered soft limit as kernel ones.
TEST(Numbering, RlimitNofileApplies) {
  // With every descriptor in use, UBSan's vptr check cannot make the pipe it probes memory
  // with and reports the failed eventfd's `delete` as a bad object (asan preset); the
  // sanitizer runtimes also open descriptors of their own. Checked in the default preset.
  if (uep::test::kSanitized) GTEST_SKIP() << "sanitizer runtimes need descriptors of their own";
  rlimit saved{};
  ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &saved));
  rlimit low = saved;
  low.rlim_cur = static_cast<rlim_t>(LowestFreeKernelNumber()) + 3;
  ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &low));
  auto fill = [](auto make, auto release) {
    std::vector<int> fds;
    int fd;
    while ((fd = make()) >= 0) fds.push_back(fd);
    const int err = errno;
    for (int f : fds) release(f);
    return std::make_pair(fds.size(), err);
  };
  const auto kernel = fill([] { return eventfd(0, 0); }, [](int f) { close(f); });
  const auto uepoll = fill([] { return uep_eventfd(0, 0); }, [](int f) { uep_close(f); });
  ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &saved));
  EXPECT_EQ(3U, kernel.first);
  EXPECT_EQ(EMFILE, kernel.second);
  EXPECT_EQ(kernel, uepoll);
}

TEST(Numbering, Dup2OntoAKernelNumber) {
  const int kfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(kfd, 0);
  const int efd = uep_eventfd(0, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(kfd, uep_dup2(efd, kfd));  // closes the kernel's /dev/null, as dup2 does
  EXPECT_EQ(1, uep_is_uepoll_fd(kfd));
  EXPECT_EQ(0, uep_fcntl(kfd, F_GETFD));  // dup2 clears FD_CLOEXEC
  ASSERT_EQ(0, uep_eventfd_write(kfd, 5));
  eventfd_t value = 0;
  ASSERT_EQ(0, uep_eventfd_read(efd, &value));
  EXPECT_EQ(5U, value);
  // The kernel sees the placeholder there, not /dev/null.
  char c;
  EXPECT_EQ(-1, read(kfd, &c, 1));
  EXPECT_EQ(EBADF, errno);
  // A kernel descriptor dup2()ed onto the number releases the uepoll descriptor.
  const int null2 = open("/dev/null", O_RDONLY);
  ASSERT_GE(null2, 0);
  ASSERT_EQ(kfd, uep_dup2(null2, kfd));
  EXPECT_EQ(0, uep_is_uepoll_fd(kfd));
  EXPECT_EQ(0, uep_read(kfd, &c, 1));  // /dev/null: end of file
  for (int fd : {kfd, null2, efd}) EXPECT_EQ(0, uep_close(fd));
}

TEST(Numbering, CloseFreesTheNumber) {
  const int fd = uep_eventfd(0, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(0, uep_close(fd));
  EXPECT_EQ(0, uep_is_uepoll_fd(fd));
  EXPECT_EQ(-1, fcntl(fd, F_GETFD));  // the placeholder went with it
  EXPECT_EQ(EBADF, errno);
  EXPECT_EQ(fd, LowestFreeKernelNumber());
  EXPECT_EQ(-1, uep_close(fd));
  EXPECT_EQ(EBADF, errno);
}

// As with high numbers: the child has none of the parent's uepoll descriptors; its
// placeholder keeps the number and fails loudly.
TEST(Numbering, ForkRuleUnchanged) {
  const int fd = uep_eventfd(0, 0);
  ASSERT_GE(fd, 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int bad = 0;
    if (uep_is_uepoll_fd(fd) != 0) bad |= 1;
    if (uep_eventfd_write(fd, 1) != -1 || errno != EBADF) bad |= 2;
    if (fcntl(fd, F_GETFD) < 0) bad |= 4;  // the placeholder is still open here
    _exit(bad);
  }
  int status = 0;
  ASSERT_EQ(pid, waitpid(pid, &status, 0));
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(0, WEXITSTATUS(status));
  EXPECT_EQ(0, uep_eventfd_write(fd, 1));
  EXPECT_EQ(0, uep_close(fd));
}

int RunSelf(const char* filter, const char* numbering) {
  const std::string filter_arg = std::string("--gtest_filter=") + filter;
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::string(*e).rfind("UEPOLL_NUMBERING=", 0) != 0) env_strings.emplace_back(*e);
  }
  env_strings.push_back(std::string(kByEnvironment) + "=1");
  if (numbering != nullptr) env_strings.push_back(std::string("UEPOLL_NUMBERING=") + numbering);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  char self[] = "/proc/self/exe";
  std::vector<char*> argv = {self, const_cast<char*>(filter_arg.c_str()), nullptr};
  pid_t pid = 0;
  if (posix_spawn(&pid, self, nullptr, nullptr, argv.data(), envp.data()) != 0) return -1;
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

TEST(Numbering, EnvironmentAloneChooses) {
  const char* kernel_tests = "Numbering.*-Numbering.EnvironmentAloneChooses";
  EXPECT_EQ(0, RunSelf(kernel_tests, "kernel"));
  // The default, and anything but "kernel", is high numbering: those checks fail.
  EXPECT_EQ(1, RunSelf("Numbering.ChosenBeforeTheFirstDescriptor", nullptr));
  EXPECT_EQ(1, RunSelf("Numbering.NumbersAreTheKernelsLowestFree", "high"));
}

}  // namespace
