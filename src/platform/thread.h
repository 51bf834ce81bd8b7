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

// A timed sleep that must end on time (a timer's expiry): 1 ns of slack for the scope, the
// thread's own afterwards.
class PreciseTimerSlack {
 public:
  PreciseTimerSlack() : old_(prctl(PR_GET_TIMERSLACK, 0UL, 0UL, 0UL, 0UL)) {
    if (old_ > 1) SetTimerSlackNs(1);
  }
  ~PreciseTimerSlack() {
    if (old_ > 1) SetTimerSlackNs(static_cast<unsigned long>(old_));
  }
  PreciseTimerSlack(const PreciseTimerSlack&) = delete;
  PreciseTimerSlack& operator=(const PreciseTimerSlack&) = delete;

 private:
  const int old_;
};

}  // namespace uep::platform
