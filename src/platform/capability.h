// capable(): whether the calling thread has a capability in its effective set.
#pragma once

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace uep::platform {

inline bool HasEffectiveCapability(int cap) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  const unsigned word = static_cast<unsigned>(cap) / 32;
  if (word >= _LINUX_CAPABILITY_U32S_3) return false;
  return (data[word].effective & (1U << (static_cast<unsigned>(cap) % 32))) != 0;
}

}  // namespace uep::platform
