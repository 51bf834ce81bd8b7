// Differential scenarios for sockets and timerfd: Linux is the oracle.
//
// A scenario runs on the kernel, then on uepoll (the two Backends of support/backend.h),
// records what it observes into a Trace in words that do not depend on the backend (no
// descriptor numbers), and RunOnBoth() asserts the two traces are equal:
//
//   RunOnBoth([](Trace& t) {
//     const Backend& a = t.backend();
//     int sv[2];
//     t.Rec("socketpair", a.socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
//     t.Rec("send", a.send(sv[0], "x", 1, 0));
//     t.Mask("b", sv[1]);
//   });
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "support/backend.h"
#include "support/kernel_profile.h"
#include "support/trace_text.h"

namespace uep::test {

class Trace {
 public:
  explicit Trace(const Backend& backend);
  [[nodiscard]] const Backend& backend() const { return backend_; }
  [[nodiscard]] const std::vector<std::string>& lines() const { return lines_; }

  // Records "what = r" (or "what = -1 ENAME") and returns r. errno is read at once.
  long Rec(const std::string& what, long r);
  void Note(const std::string& line) { lines_.push_back(line); }
  // The readiness of `fd` now: a level-triggered epoll of every event, timeout 0.
  uint32_t Mask(const std::string& what, int fd);
  // How many SIGPIPEs the process took since the last call (or the trace began).
  void Sigpipes(const std::string& what);

 private:
  const Backend& backend_;
  std::vector<std::string> lines_;
  int sigpipes_seen_;
};

// Runs `scenario` on the kernel, then on uepoll; fails with both traces unless equal.
// UEPOLL_DIFF_VERBOSE=1 prints the traces of passing scenarios too.
void RunOnBoth(const std::function<void(Trace&)>& scenario);
// The same for a scenario that shows a behaviour of the kernel profile: the traces must
// differ on a kernel with the other side of it (support/kernel_profile.h).
void RunOnBoth(KernelBehaviour behaviour, const std::function<void(Trace&)>& scenario);

// Counts SIGPIPE (handler installed by the first call); the count is per process.
int SigpipeCount();

}  // namespace uep::test
