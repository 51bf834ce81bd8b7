// Signals the kernel sends the calling thread itself.
#pragma once

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace uep::platform {

// send_sig(SIGPIPE, current, 0): a write to a pipe or socket nobody reads any more.
inline void RaiseSigpipe() {
  syscall(SYS_tgkill, static_cast<pid_t>(getpid()), static_cast<pid_t>(gettid()), SIGPIPE);
}

}  // namespace uep::platform
