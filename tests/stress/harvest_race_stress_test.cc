// A level-triggered item that stays ready is never missed by a wait(0), however the
// harvests of other threads interleave with it. A harvest takes the item off the ready
// list while it re-polls it and then puts it back; the kernel's epoll_wait with timeout 0
// sees "a transfer is running" in that window and waits for it (ep->mtx) instead of
// returning 0. One thread harvests with maxevents 1 in a loop while another asks with
// timeout 0; every answer must be the item. Eventfds take uepoll's transfer under
// ep->lock alone, pipes the one under ep->mtx, and a nested instance the parent's.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>

#include "stress/stress_util.h"

namespace uep::stress {
namespace {

enum class Target { kEventfd, kPipe, kNested };

struct Case {
  const Api* api;
  Target target;
};

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  static const char* const kTargets[] = {"Eventfd", "Pipe", "Nested"};
  return std::string(info.param.api->name) + "_" + kTargets[static_cast<int>(info.param.target)];
}

class HarvestRace : public ::testing::TestWithParam<Case> {};

// Makes `ep` watch a target that is readable for the whole test; returns the descriptors
// to close after.
std::vector<int> ArmTarget(const Api& a, int ep, Target target) {
  std::vector<int> fds;
  int watched = -1;
  switch (target) {
    case Target::kEventfd:
      watched = a.eventfd(1, EFD_NONBLOCK);
      fds.push_back(watched);
      break;
    case Target::kPipe: {
      int p[2];
      if (a.pipe2(p, O_NONBLOCK) != 0) return fds;
      fds = {p[0], p[1]};
      if (a.write(p[1], "x", 1) != 1) return fds;
      watched = p[0];
      break;
    }
    case Target::kNested: {
      const int inner = a.epoll_create1(0);
      const int efd = a.eventfd(1, EFD_NONBLOCK);
      fds = {inner, efd};
      if (a.Add(inner, efd, EPOLLIN, 7) != 0) return fds;
      watched = inner;
      break;
    }
  }
  EXPECT_EQ(0, a.Add(ep, watched, EPOLLIN, 42));
  fds.push_back(ep);
  return fds;
}

TEST_P(HarvestRace, WaitZeroNeverMissesALevelTriggeredItem) {
  const Api& a = *GetParam().api;
  const int ep = a.epoll_create1(0);
  ASSERT_GE(ep, 0);
  const std::vector<int> fds = ArmTarget(a, ep, GetParam().target);
  ASSERT_FALSE(HasFailure());

  std::atomic<bool> stop{false};
  std::atomic<long> harvester_bad{0};
  std::thread harvester([&] {
    epoll_event ev{};
    while (!stop.load(std::memory_order_relaxed)) {
      if (a.epoll_wait(ep, &ev, 1, 1000) != 1 || DataOf(ev) != 42) harvester_bad++;
    }
  });
  Watchdog wd("harvest race", [&] { stop = true; });
  long asked = 0;
  long missed = 0;
  const auto end = BudgetEnd();
  while (Clock::now() < end && !wd.Fired()) {
    for (int i = 0; i < 256; ++i, ++asked) {
      epoll_event evs[4]{};
      const int n = a.epoll_wait(ep, evs, 4, 0);
      if (n != 1 || DataOf(evs[0]) != 42) ++missed;
    }
  }
  stop = true;
  harvester.join();
  wd.Disarm();
  EXPECT_EQ(0, missed) << "of " << asked << " wait(0) calls";
  EXPECT_EQ(0, harvester_bad.load());
  for (int fd : fds) a.close(fd);
}

INSTANTIATE_TEST_SUITE_P(
    Stress, HarvestRace,
    ::testing::Values(Case{&KernelApi(), Target::kEventfd}, Case{&KernelApi(), Target::kPipe},
                      Case{&KernelApi(), Target::kNested}, Case{&UepollApi(), Target::kEventfd},
                      Case{&UepollApi(), Target::kPipe}, Case{&UepollApi(), Target::kNested}),
    CaseName);

}  // namespace
}  // namespace uep::stress
