// Regression (found by chaos_torture_test under ThreadSanitizer): closing an instance and
// the last descriptor of a file it watches, at the same moment. The instance's release
// removed the item and cleared the file's "watched" flag; the file's final put, seeing the
// flag clear, freed the file while the release still held the file's f_lock (a write to
// freed memory). Caught by the sanitizer builds (use-after-free, data race on delete);
// the default build checks that nothing crashes or leaks a descriptor.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <atomic>
#include <thread>

#include "torture/torture_util.h"
#include "uepoll/uepoll.h"

namespace uep::torture {
namespace {

TEST(Torture, InstanceReleaseRacesTargetRelease) {
  // Both threads spin on `round` so that their close() calls start together.
  std::atomic<int> round{0};
  std::atomic<int> target_fd{-1};
  std::atomic<bool> quit{false};
  std::thread closer([&] {
    for (int seen = 0;;) {
      while (round.load() == seen && !quit.load()) {
      }
      if (quit.load()) return;
      EXPECT_EQ(0, uep_close(target_fd.load()));
      seen = round.fetch_add(1) + 1;
    }
  });
  const auto end = TortureEnd(0.05);
  int rounds = 0;
  for (int i = 0; Clock::now() < end || rounds < 200; ++i) {
    const int ep = uep_epoll_create1(0);
    ASSERT_GE(ep, 0);
    int fds[2] = {-1, -1};
    if (i % 2 == 0) {
      fds[0] = uep_eventfd(0, EFD_NONBLOCK);
    } else {
      ASSERT_EQ(0, uep_pipe2(fds, O_NONBLOCK));
    }
    ASSERT_GE(fds[0], 0);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ASSERT_EQ(0, uep_epoll_ctl(ep, EPOLL_CTL_ADD, fds[0], &ev));
    target_fd.store(fds[0]);
    const int go = round.fetch_add(1) + 1;
    EXPECT_EQ(0, uep_close(ep));
    while (round.load() == go) {
    }
    if (fds[1] >= 0) {
      EXPECT_EQ(0, uep_close(fds[1]));
    }
    ++rounds;
  }
  quit.store(true);
  closer.join();
  EXPECT_EQ(-1, uep_fcntl(target_fd.load(), F_GETFD));
}

}  // namespace
}  // namespace uep::torture
