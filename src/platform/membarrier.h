// membarrier(2), the write side of the RCU read sections (core/rcu.h): one call makes every
// other thread of the process pass a full barrier.
#pragma once

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace uep::platform {

// Registers the process for the expedited private command; false where it is not offered.
inline bool MembarrierRegister() {
  const long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
  return cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
         syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}
// Registers again (a fork child: the registration is the parent's).
inline void MembarrierReregister() {
  syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0);
}
// A full barrier on every running thread of the process (after MembarrierRegister()).
inline void MembarrierSync() { syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0); }

}  // namespace uep::platform
