// A signal handler installed for one scope: tests that count signals or need EINTR.
#pragma once

#include <signal.h>

namespace uep::test {

// Installs `handler` (with sigaction flags `flags`, nothing else blocked while it runs) for
// the scope, restoring the old disposition after.
class ScopedHandler {
 public:
  ScopedHandler(int sig, void (*handler)(int), int flags) : sig_(sig) {
    struct sigaction sa {};
    sa.sa_handler = handler;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, &old_);
  }
  ~ScopedHandler() { sigaction(sig_, &old_, nullptr); }
  ScopedHandler(const ScopedHandler&) = delete;
  ScopedHandler& operator=(const ScopedHandler&) = delete;

 private:
  int sig_;
  struct sigaction old_ {};
};

}  // namespace uep::test
