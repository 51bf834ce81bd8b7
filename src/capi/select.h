// The poll engine (fs/select.c, capi/select.cc): poll(2) over uepoll and kernel descriptors.
#pragma once

#include <poll.h>
#include <signal.h>
#include <time.h>

#include <cstddef>

#include "platform/clock.h"

namespace uep {

inline constexpr size_t kSigsetSize = _NSIG / 8;  // the kernel's sigset_t

// do_sys_poll(): `timeout` is the deadline uepoll waits for; `kernel_timeout` the copy handed
// to the kernel when the set holds only kernel descriptors. The count or -errno.
[[gnu::visibility("hidden")]] int Poll(pollfd* fds, nfds_t nfds, platform::Timeout timeout,
                                       const timespec* kernel_timeout, const sigset_t* sigmask);

}  // namespace uep
