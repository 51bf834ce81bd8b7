// The only kernel sleep/wake primitives the core uses.
#pragma once

#include <atomic>
#include <cstdint>
#include <ctime>

namespace uep::platform {

// Sleeps while *word == expected, until woken, until the absolute CLOCK_MONOTONIC
// `deadline`, or until a signal handler runs. Always passing a deadline (far in the future
// for "forever") is deliberate: the kernel restarts an untimed FUTEX_WAIT after an
// SA_RESTART handler, but a timed one returns EINTR, as epoll_wait must.
// Returns 0 (woken or value changed), -ETIMEDOUT or -EINTR.
int FutexWaitUntil(std::atomic<uint32_t>* word, uint32_t expected, const timespec& deadline);

// Sleeps while *word == expected with no timeout: restarted by SA_RESTART handlers, as a
// blocking read(2) is. Returns 0 or -EINTR.
int FutexWaitRestartable(std::atomic<uint32_t>* word, uint32_t expected);

// Wakes up to `count` threads sleeping on `word`.
void FutexWake(std::atomic<uint32_t>* word, int count);

}  // namespace uep::platform
