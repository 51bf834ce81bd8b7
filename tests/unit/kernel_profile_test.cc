// The kernel profile (tests/support/kernel_profile.h): releases parse, every behaviour has
// one row, and a version falls on the side its row says.
#include "support/kernel_profile.h"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

namespace uep::test {
namespace {

TEST(KernelProfile, ParsesReleases) {
  EXPECT_EQ(ParseKernelRelease("6.18.44-fc-v1272"), (KernelVersion{6, 18, 44}));
  EXPECT_EQ(ParseKernelRelease("6.1.0-28-amd64"), (KernelVersion{6, 1, 0}));
  EXPECT_EQ(ParseKernelRelease("6.12"), (KernelVersion{6, 12, 0}));
  EXPECT_EQ(ParseKernelRelease("5.15.0-rc3"), (KernelVersion{5, 15, 0}));
  EXPECT_FALSE(ParseKernelRelease("").has_value());
  EXPECT_FALSE(ParseKernelRelease("linux").has_value());
  EXPECT_FALSE(ParseKernelRelease("6").has_value());
  EXPECT_FALSE(ParseKernelRelease("6.x").has_value());
}

TEST(KernelProfile, TheRunningReleaseParses) {
  EXPECT_TRUE(ParseKernelRelease(RunningKernelRelease()).has_value()) << RunningKernelRelease();
}

TEST(KernelProfile, EveryBehaviourHasOneRowWithOrderedBounds) {
  std::set<KernelBehaviour> seen;
  for (const KernelProfileRow& row : KernelProfileTable()) {
    EXPECT_TRUE(seen.insert(row.behaviour).second) << row.name;
    EXPECT_LT(row.old_until, row.new_since) << row.name;
  }
  for (KernelBehaviour b : {KernelBehaviour::kEpollWaitLooksUpDescriptorFirst,
                            KernelBehaviour::kUnixDgramSizeCheckedBeforePeer,
                            KernelBehaviour::kPipeReadWakesWritersOnlyForAFreedSlot}) {
    EXPECT_EQ(seen.count(b), 1U);
  }
}

TEST(KernelProfile, SidesOfKnownVersions) {
  // Debian 12's kernel and its stable updates: the old side of every row.
  for (const KernelProfileRow& row : KernelProfileTable()) {
    EXPECT_EQ(SideOf(row.behaviour, {6, 1, 0}), KernelSide::kOld) << row.name;
    EXPECT_EQ(SideOf(row.behaviour, {6, 1, 158}), KernelSide::kOld) << row.name;
    EXPECT_EQ(SideOf(row.behaviour, {5, 10, 0}), KernelSide::kOld) << row.name;
    EXPECT_EQ(SideOf(row.behaviour, {6, 18, 44}), KernelSide::kNew) << row.name;
    EXPECT_EQ(SideOf(row.behaviour, {7, 0, 0}), KernelSide::kNew) << row.name;
  }
  EXPECT_EQ(SideOf(KernelBehaviour::kPipeReadWakesWritersOnlyForAFreedSlot, {6, 14, 0}),
            KernelSide::kNew);
  EXPECT_EQ(SideOf(KernelBehaviour::kPipeReadWakesWritersOnlyForAFreedSlot, {6, 6, 0}),
            KernelSide::kUnknown);
  EXPECT_EQ(SideOf(KernelBehaviour::kEpollWaitLooksUpDescriptorFirst, {6, 12, 0}),
            KernelSide::kUnknown);
}

// A profiled scenario's traces must differ on a kernel with the old side, be equal elsewhere.
TEST(KernelProfile, ComparisonFollowsTheRunningKernelsSide) {
  ASSERT_EQ(setenv("UEPOLL_TEST_KERNEL_RELEASE", "6.1.0-28-amd64", 1), 0);
  ExpectAsProfiled(KernelBehaviour::kEpollWaitLooksUpDescriptorFirst, {"= -1 EINVAL"},
                   {"= -1 EBADF"});
  EXPECT_NONFATAL_FAILURE(
      ExpectAsProfiled(KernelBehaviour::kEpollWaitLooksUpDescriptorFirst, {"= 0"}, {"= 0"}),
      "the profile is wrong here");
  ASSERT_EQ(setenv("UEPOLL_TEST_KERNEL_RELEASE", "6.18.44", 1), 0);
  ExpectAsProfiled(KernelBehaviour::kEpollWaitLooksUpDescriptorFirst, {"= 0"}, {"= 0"});
  EXPECT_NONFATAL_FAILURE(ExpectAsProfiled(KernelBehaviour::kEpollWaitLooksUpDescriptorFirst,
                                           {"= -1 EINVAL"}, {"= -1 EBADF"}),
                          "uepoll differs from the kernel");
  ASSERT_EQ(unsetenv("UEPOLL_TEST_KERNEL_RELEASE"), 0);
}

}  // namespace
}  // namespace uep::test
