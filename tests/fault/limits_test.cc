// Limits: uepoll's descriptor limit (uep_set_nofile_limit, the kernel's RLIMIT_NOFILE) and
// its watch limit (uep_set_max_user_watches, the kernel's fs.epoll.max_user_watches).
//
// The descriptor limit is differential: the same scenario runs on the kernel under
// setrlimit(RLIMIT_NOFILE) and on uepoll under uep_set_nofile_limit(), each set to "three
// numbers above the first one the scenario got". The watch limit is a per-user sysctl on
// the kernel (changing it would disturb every other process of the user), so it is checked
// against the kernel's rules as written in fs/eventpoll.c: ep_insert() refuses with ENOSPC
// once epoll_watches >= max_user_watches, before it allocates anything; an existing item
// is EEXIST first (ep_find() runs before ep_insert()); MOD charges nothing; ep_remove()
// gives the watch back, which DEL, the last close of the file and the close of the
// instance all do.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "support/differential.h"
#include "uepoll/uepoll.h"

namespace {

using uep::test::Fd;
using uep::test::Session;

bool OnUepoll(Fd any) { return any.num >= uep_fd_base(); }

std::string Outcome(int r) { return r < 0 ? "-1 " + std::string(strerrorname_np(errno)) : "ok"; }

// The descriptor limit of the backend `probe` came from, as the first number it will not
// hand out; returns the previous one.
int SetNofileLimit(Fd probe, int first_refused) {
  if (OnUepoll(probe)) {
    const int old = uep_fd_base() + uep_get_nofile_limit();
    EXPECT_EQ(0, uep_set_nofile_limit(first_refused - uep_fd_base()));
    return old;
  }
  rlimit lim{};
  EXPECT_EQ(0, getrlimit(RLIMIT_NOFILE, &lim));
  const int old = static_cast<int>(lim.rlim_cur);
  lim.rlim_cur = static_cast<rlim_t>(first_refused);
  EXPECT_EQ(0, setrlimit(RLIMIT_NOFILE, &lim));
  return old;
}

// Calls the Session has no wrapper for; their results go into the trace as notes.
void NoteSocketpair(Session& s, Fd probe) {
  int sv[2] = {-1, -1};
  const int r = OnUepoll(probe) ? uep_socketpair(AF_UNIX, SOCK_STREAM, 0, sv)
                                : socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  s.Note("socketpair = " + Outcome(r));
  for (int fd : sv) {
    if (fd >= 0) OnUepoll(probe) ? uep_close(fd) : close(fd);
  }
}

void NoteTimerfd(Session& s, Fd probe) {
  const int r =
      OnUepoll(probe) ? uep_timerfd_create(CLOCK_MONOTONIC, 0) : timerfd_create(CLOCK_MONOTONIC, 0);
  s.Note("timerfd_create = " + Outcome(r));
  if (r >= 0) OnUepoll(probe) ? uep_close(r) : close(r);
}

DIFF_TEST(NofileLimit, EveryCreatorStopsAtTheLimit) {
  const Fd probe = s.Eventfd(0, EFD_NONBLOCK);
  const int old = SetNofileLimit(probe, probe.num + 3);
  const Fd limit = Session::Raw(probe.num + 3);
  const Fd a = s.Eventfd(1, EFD_NONBLOCK);
  const Fd ep = s.EpollCreate1(0);
  // Full: each creator fails with EMFILE and takes nothing.
  s.Eventfd(0, 0);
  s.EpollCreate1(0);
  s.Pipe2(0);
  NoteSocketpair(s, probe);
  NoteTimerfd(s, probe);
  s.Dup(probe);
  s.FcntlDupfd(probe, F_DUPFD, a);      // below the limit, nothing free: EMFILE
  s.FcntlDupfd(probe, F_DUPFD, limit);  // at the limit: EINVAL
  s.FcntlDupfd(probe, F_DUPFD_CLOEXEC, Session::Raw(probe.num + 100));
  s.Dup2(probe, limit);  // beyond: EBADF
  s.Dup3(probe, Session::Raw(probe.num + 100), O_CLOEXEC);
  s.Dup2(probe, a);  // onto an open number below: fine
  // One number free: a pipe needs two and takes neither.
  s.Close(ep);
  s.Pipe2(O_NONBLOCK);
  NoteSocketpair(s, probe);
  const Fd b = s.Eventfd(2, EFD_NONBLOCK);  // gets the free number
  s.Close(b);
  s.Close(a);
  const auto [rd, wr] = s.Pipe2(O_NONBLOCK);  // two free: both ends
  // Descriptors above a lowered limit stay usable.
  SetNofileLimit(probe, probe.num + 1);
  s.Write(wr, 5);
  s.Read(rd);
  s.Eventfd(0, 0);
  s.Dup2(probe, rd);  // but are beyond it for dup2
  SetNofileLimit(probe, old);
}

TEST(NofileLimit, SettingIt) {
  const int old = uep_get_nofile_limit();
  EXPECT_EQ(-1, uep_set_nofile_limit(-1));
  EXPECT_EQ(EINVAL, errno);
  EXPECT_EQ(-1, uep_set_nofile_limit(old + 1));  // above UEPOLL_MAX_FDS: setrlimit's EPERM
  EXPECT_EQ(EPERM, errno);
  EXPECT_EQ(old, uep_get_nofile_limit());
  EXPECT_EQ(0, uep_set_nofile_limit(0));
  EXPECT_EQ(-1, uep_eventfd(0, 0));
  EXPECT_EQ(EMFILE, errno);
  EXPECT_EQ(0, uep_set_nofile_limit(old));
  const int fd = uep_eventfd(0, 0);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(0, uep_close(fd));
}

// --- watches ----------------------------------------------------------------------------

class WatchLimit : public ::testing::Test {
 protected:
  void SetUp() override { old_ = uep_get_max_user_watches(); }
  void TearDown() override { EXPECT_EQ(0, uep_set_max_user_watches(old_)); }
  // Allows `n` more watches than the process has now.
  static void AllowMore(long n) {
    ASSERT_EQ(0, uep_set_max_user_watches(uep_get_epoll_watches() + n));
  }

  static int Add(int ep, int fd, uint32_t events = EPOLLIN) {
    epoll_event e{events, {.fd = fd}};
    return uep_epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
  }

 private:
  long old_ = 0;
};

TEST_F(WatchLimit, AddBeyondIsEnospcAndChangesNothing) {
  const int ep = uep_epoll_create1(0);
  std::vector<int> efds;
  for (int i = 0; i < 4; ++i) efds.push_back(uep_eventfd(1, EFD_NONBLOCK));
  AllowMore(3);
  const long start = uep_get_epoll_watches();
  for (int i = 0; i < 3; ++i) ASSERT_EQ(0, Add(ep, efds[i]));
  EXPECT_EQ(start + 3, uep_get_epoll_watches());
  EXPECT_EQ(-1, Add(ep, efds[3]));
  EXPECT_EQ(ENOSPC, errno);
  EXPECT_EQ(start + 3, uep_get_epoll_watches());
  // Nothing of the refused item: the ready file is not reported, DEL does not find it.
  epoll_event ev[8];
  EXPECT_EQ(3, uep_epoll_wait(ep, ev, 8, 0));
  EXPECT_EQ(-1, uep_epoll_ctl(ep, EPOLL_CTL_DEL, efds[3], nullptr));
  EXPECT_EQ(ENOENT, errno);
  // ep_find() comes first: an existing item is EEXIST even at the limit; MOD is free.
  EXPECT_EQ(-1, Add(ep, efds[0]));
  EXPECT_EQ(EEXIST, errno);
  epoll_event mod{EPOLLIN | EPOLLET, {.fd = efds[0]}};
  EXPECT_EQ(0, uep_epoll_ctl(ep, EPOLL_CTL_MOD, efds[0], &mod));
  // DEL gives one back.
  ASSERT_EQ(0, uep_epoll_ctl(ep, EPOLL_CTL_DEL, efds[0], nullptr));
  EXPECT_EQ(start + 2, uep_get_epoll_watches());
  EXPECT_EQ(0, Add(ep, efds[3]));
  EXPECT_EQ(-1, Add(ep, efds[0]));
  EXPECT_EQ(ENOSPC, errno);
  // The last close of a watched file gives its watches back (not a close of a dup).
  const int dup = uep_dup(efds[1]);
  ASSERT_EQ(0, uep_close(efds[1]));
  EXPECT_EQ(start + 3, uep_get_epoll_watches());
  ASSERT_EQ(0, uep_close(dup));
  EXPECT_EQ(start + 2, uep_get_epoll_watches());
  // Closing the instance gives back all of its own.
  ASSERT_EQ(0, uep_close(ep));
  EXPECT_EQ(start, uep_get_epoll_watches());
  for (int fd : {efds[0], efds[2], efds[3]}) EXPECT_EQ(0, uep_close(fd));
}

TEST_F(WatchLimit, NestedInstancesCountAsWatches) {
  const int parent = uep_epoll_create1(0);
  const int child = uep_epoll_create1(0);
  const int efd = uep_eventfd(0, 0);
  AllowMore(1);
  ASSERT_EQ(0, Add(parent, child));
  EXPECT_EQ(-1, Add(child, efd));  // below a watched instance: ENOSPC all the same
  EXPECT_EQ(ENOSPC, errno);
  ASSERT_EQ(0, uep_close(child));  // the parent's item goes with the child's last close
  EXPECT_EQ(0, Add(parent, efd));
  for (int fd : {parent, efd}) EXPECT_EQ(0, uep_close(fd));
}

TEST_F(WatchLimit, RacingAddsNeverPassIt) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2000;
  constexpr long kAllowed = 3001;
  std::vector<int> eps;
  std::vector<std::vector<int>> fds(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    eps.push_back(uep_epoll_create1(0));
    for (int i = 0; i < kPerThread; ++i) fds[t].push_back(uep_eventfd(0, 0));
  }
  AllowMore(kAllowed);
  const long start = uep_get_epoll_watches();
  std::atomic<long> added{0};
  std::atomic<long> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int fd : fds[t]) {
        if (Add(eps[t], fd) == 0) {
          added.fetch_add(1);
        } else if (errno == ENOSPC) {
          refused.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(kAllowed, added.load());
  EXPECT_EQ(kThreads * kPerThread - kAllowed, refused.load());
  EXPECT_EQ(start + kAllowed, uep_get_epoll_watches());
  for (int ep : eps) EXPECT_EQ(0, uep_close(ep));
  EXPECT_EQ(start, uep_get_epoll_watches());
  for (const auto& v : fds) {
    for (int fd : v) EXPECT_EQ(0, uep_close(fd));
  }
}

TEST_F(WatchLimit, SettingIt) {
  EXPECT_EQ(-1, uep_set_max_user_watches(-1));
  EXPECT_EQ(EINVAL, errno);
  EXPECT_EQ(0, uep_set_max_user_watches(0));
  EXPECT_EQ(0, uep_get_max_user_watches());
  const int ep = uep_epoll_create1(0);
  const int efd = uep_eventfd(0, 0);
  EXPECT_EQ(-1, Add(ep, efd));
  EXPECT_EQ(ENOSPC, errno);
  for (int fd : {ep, efd}) EXPECT_EQ(0, uep_close(fd));
}

}  // namespace
