// Compiled, never run, by tests/thread_safety/CMakeLists.txt: each CASE breaks one lock
// rule and must fail to compile under clang's -Wthread-safety -Werror; with CASE 0 every
// access holds its lock and the unit must compile (so a failure is the analysis's).
#include <mutex>

#include "core/file.h"
#include "core/wait_queue.h"

namespace uep {

bool WatchedBy(File* file) {
#if CASE == 1  // a guarded field read without its lock
  return !file->f_ep.Empty();
#elif CASE == 2  // the wrong lock
  WaitQueueHead other;
  std::lock_guard guard(other.lock);
  return !file->f_ep.Empty();
#else
  std::lock_guard guard(file->f_lock);
  return !file->f_ep.Empty();
#endif
}

void Wake(WaitQueueHead* wq) {
#if CASE == 3  // a *Locked function called without its lock
  WakeUpLocked(wq, 1, 0);
#elif CASE == 4  // the lock released before the call
  std::unique_lock guard(wq->lock);
  guard.unlock();
  WakeUpLocked(wq, 1, 0);
#else
  std::unique_lock guard(wq->lock);
  WakeUpLocked(wq, 1, 0);
#endif
}

}  // namespace uep
