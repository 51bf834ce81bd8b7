// Threads of the library's own (the timer service) and the timer slack of a sleep.
#pragma once

#include <signal.h>
#include <sys/prctl.h>

#include <thread>

namespace uep::platform {

// Runs `body` on a new detached thread that has every signal blocked: no handler of the
// program ever runs on a library thread.
template <typename Body>
void StartDetachedThread(Body body) {
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  std::thread(std::move(body)).detach();
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

// The calling thread's timer slack (PR_SET_TIMERSLACK): how late the kernel may end a timed
// sleep to batch wake-ups, 50 us by default.
inline void SetTimerSlackNs(unsigned long ns) { prctl(PR_SET_TIMERSLACK, ns, 0UL, 0UL, 0UL); }

// The calling thread's timer slack in ns, read once per thread (a system call costs
// microseconds in a VM): a timed sleep to D may end anywhere in [D, D + slack], so one that
// must end at D sleeps to D - slack and spins the rest if it woke early.
inline long ThreadTimerSlackNs() {
  static thread_local long slack = -1;
  if (slack < 0) {
    const int r = prctl(PR_GET_TIMERSLACK, 0UL, 0UL, 0UL, 0UL);
    slack = r < 0 ? 50000 : r;
  }
  return slack;
}

}  // namespace uep::platform
