// The kernel side of a differential test as raw system calls, without libc's wrappers.
//
// Bad-input tests hand the kernel pointers it must reject (NULL, addresses in the kernel's
// half). The sanitizers' interceptors of the libc wrappers (epoll_ctl, readv, poll,
// timerfd_settime, getsockopt ...) read those pointers themselves and crash first, so the
// tests that pass them (tests/fuzz, tests/differential/bad_input_test.cc) call the kernel
// through these tables. Same signatures and results as KernelBackend(),
// KernelSockTimerApi() and KernelPipeOps().
#pragma once

#include "support/backend.h"
#include "support/pipe_diff.h"
#include "support/sock_timer_api.h"

namespace uep::test {

const Backend& RawKernelBackend();
const SockTimerApi& RawKernelSockTimerApi();
const PipeOps& RawKernelPipeOps();

}  // namespace uep::test
