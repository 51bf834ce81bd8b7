// The kernel side of a differential test as raw system calls, without libc's wrappers.
//
// Bad-input tests hand the kernel pointers it must reject (NULL, addresses in the kernel's
// half). The sanitizers' interceptors of the libc wrappers (epoll_ctl, readv, poll,
// timerfd_settime, getsockopt ...) read those pointers themselves and crash first, so the
// tests that pass them (tests/fuzz, tests/differential/bad_input_test.cc) call the kernel
// through this table. Same signatures and results as KernelBackend().
#pragma once

#include "support/backend.h"

namespace uep::test {

const Backend& RawKernelBackend();

}  // namespace uep::test
