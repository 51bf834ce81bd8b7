// The kernel profile: the behaviours the differential tests meet that differ between kernel
// versions, and which side of each the running kernel has (from uname -r).
//
// uepoll implements the newer side of every row. A scenario that shows such a behaviour
// names it (DIFF_TEST_PROFILED, RunOnBoth(behaviour, ...), ExpectAsProfiled); on a kernel
// known to have the older side the two traces must then differ (the difference is printed),
// anywhere else they must be equal. Between the last version known to have the old side and
// the first known to have the new one the side is unknown and the traces must be equal: a
// failure there says where the row's bounds lie.
//
// UEPOLL_TEST_KERNEL_RELEASE=6.1.0 pretends another release, to see what a test expects
// there (on a kernel that is not that release, the profiled tests then fail).
#pragma once

#include <compare>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace uep::test {

struct KernelVersion {
  int major = 0;
  int minor = 0;
  int patch = 0;
  auto operator<=>(const KernelVersion&) const = default;
};

// "6.18.44-fc-v1272" -> 6.18.44; nullopt if it does not start with two numbers.
std::optional<KernelVersion> ParseKernelRelease(std::string_view release);
std::string VersionName(const KernelVersion& v);

enum class KernelBehaviour {
  kEpollWaitLooksUpDescriptorFirst,
  kUnixDgramSizeCheckedBeforePeer,
  kPipeReadWakesWritersOnlyForAFreedSlot,
};

struct KernelProfileRow {
  KernelBehaviour behaviour;
  const char* name;
  const char* old_side;      // what kernels up to old_until do
  const char* new_side;      // what kernels from new_since do, and uepoll
  KernelVersion old_until;   // the newest version known to have the old side
  KernelVersion new_since;   // the oldest version known to have the new side
  const char* evidence;      // how each side is known
  const char* uepoll_where;  // where uepoll fixes its side
};

const std::vector<KernelProfileRow>& KernelProfileTable();
const KernelProfileRow& KernelProfileRowOf(KernelBehaviour behaviour);

enum class KernelSide { kOld, kNew, kUnknown };

// The running kernel's release (UEPOLL_TEST_KERNEL_RELEASE if set), its parsed version.
std::string RunningKernelRelease();
KernelVersion RunningKernelVersion();
KernelSide SideOf(KernelBehaviour behaviour, const KernelVersion& version);
KernelSide RunningKernelSide(KernelBehaviour behaviour);

// The comparison of a profiled scenario's two traces (see the file comment).
void ExpectAsProfiled(KernelBehaviour behaviour, const std::vector<std::string>& kernel,
                      const std::vector<std::string>& uepoll);

}  // namespace uep::test
