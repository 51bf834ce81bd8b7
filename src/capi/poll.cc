// poll(2), ppoll(2), select(2), pselect(2): argument checks in the kernel's order; the work
// is the poll engine's (capi/select.h).
#include <poll.h>
#include <signal.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "capi/capi.h"
#include "capi/select.h"
#include "uepoll/uepoll.h"

using uep::capi::AccessOk;
using uep::capi::Ret;

namespace uep {
namespace {

// poll_select_set_timeout()'s check.
bool ValidTimespec(const timespec& ts) {
  return ts.tv_sec >= 0 && ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000L;
}

}  // namespace
}  // namespace uep

extern "C" {

int uep_poll(struct pollfd* fds, nfds_t nfds, int timeout) {
  // A negative timeout waits forever.
  timespec ts{timeout / 1000, (timeout % 1000) * 1000000L};
  return Ret(uep::Poll(fds, nfds, uep::platform::Timeout::AfterMs(timeout), timeout < 0 ? nullptr : &ts,
                       nullptr));
}

int uep_ppoll(struct pollfd* fds, nfds_t nfds, const struct timespec* timeout,
              const sigset_t* sigmask) {
  timespec copy{};
  uep::platform::Timeout tmo = uep::platform::Timeout::Never();
  if (timeout != nullptr) {
    if (!AccessOk(timeout, sizeof *timeout)) return Ret(-EFAULT);  // get_timespec64()
    copy = *timeout;
    if (!uep::ValidTimespec(copy)) return Ret(-EINVAL);
    tmo = copy.tv_sec == 0 && copy.tv_nsec == 0 ? uep::platform::Timeout::Nonblocking()
                                               : uep::platform::Timeout::After(copy);
  }
  // set_user_sigmask()
  if (sigmask != nullptr) {
    if (const int r = uep::capi::CheckSigmask(sigmask); r < 0) return Ret(r);
  }
  return Ret(uep::Poll(fds, nfds, tmo, timeout != nullptr ? &copy : nullptr, sigmask));
}

int uep_select(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds,
               struct timeval* timeout) {
  // The kernel updates *timeout with the time left, as glibc's select shows it.
#ifdef SYS_select
  const long r = syscall(SYS_select, nfds, readfds, writefds, exceptfds, timeout);
  return static_cast<int>(r);
#else
  timespec ts{};
  timespec* tsp = nullptr;
  if (timeout != nullptr) {
    ts.tv_sec = timeout->tv_sec + timeout->tv_usec / 1000000;
    ts.tv_nsec = (timeout->tv_usec % 1000000) * 1000;
    tsp = &ts;
  }
  const long r = syscall(SYS_pselect6, nfds, readfds, writefds, exceptfds, tsp, nullptr);
  if (timeout != nullptr && (r >= 0 || errno == EINTR)) {
    timeout->tv_sec = ts.tv_sec;
    timeout->tv_usec = ts.tv_nsec / 1000;
  }
  return static_cast<int>(r);
#endif
}

int uep_pselect(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds,
                const struct timespec* timeout, const sigset_t* sigmask) {
  // A copy of the timeout, as glibc passes one; the mask as pselect6's {pointer, size}.
  timespec copy{};
  if (timeout != nullptr) copy = *timeout;
  struct {
    const sigset_t* ss;
    size_t ss_len;
  } mask{sigmask, uep::kSigsetSize};
  const long r = syscall(SYS_pselect6, nfds, readfds, writefds, exceptfds,
                         timeout != nullptr ? &copy : nullptr, sigmask != nullptr ? &mask : nullptr);
  return static_cast<int>(r);
}

}  // extern "C"
