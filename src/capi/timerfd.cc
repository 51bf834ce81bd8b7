// timerfd_create/settime/gettime: argument checks in the kernel's order (fs/timerfd.c).
// Descriptors below uep_fd_base() are the kernel's and go to the kernel.
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <new>

#include "capi/capi.h"
#include "core/reentry.h"
#include "files/timerfd.h"
#include "platform/capability.h"
#include "platform/fault.h"
#include "uepoll/uepoll.h"

using uep::capi::AccessOk;
using uep::capi::Ret;
using uep::capi::Table;

namespace uep {
namespace {

constexpr int kCreateFlags = TFD_CLOEXEC | TFD_NONBLOCK;
constexpr int kSettimeFlags = TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET;

bool TimespecValid(const timespec& ts) {
  return ts.tv_sec >= 0 && static_cast<unsigned long>(ts.tv_nsec) < 1000000000UL;
}

int DoCreate(int clockid, int flags) {
  ApiScope api;
  if (api.reentrant()) return -EINTR;  // see docs/semantics.md: signal handlers
  if ((flags & ~kCreateFlags) != 0 ||
      (clockid != CLOCK_MONOTONIC && clockid != CLOCK_REALTIME &&
       clockid != CLOCK_REALTIME_ALARM && clockid != CLOCK_BOOTTIME &&
       clockid != CLOCK_BOOTTIME_ALARM)) {
    return -EINVAL;
  }
  if ((clockid == CLOCK_REALTIME_ALARM || clockid == CLOCK_BOOTTIME_ALARM) &&
      !platform::HasEffectiveCapability(CAP_WAKE_ALARM)) {
    return -EPERM;
  }
  auto* file = TryNew<TimerFd>(clockid, flags);
  if (file == nullptr) return -ENOMEM;
  if (!TimerService::Get().Reserve()) {
    delete file;  // never published, never reserved: no Release()
    return -ENOMEM;
  }
  const int fd = Table().Install(file, (flags & TFD_CLOEXEC) != 0);
  if (fd < 0) FilePut(file);  // never published
  return fd;
}

// timerfd_fget(): EBADF for no descriptor, EINVAL for one that is not a timerfd. Runs `op`
// inside the lookup's read section (neither operation sleeps).
template <typename Op>
int WithTimerFd(int fd, Op&& op) {
  RcuReadGuard guard;
  File* file = Table().Lookup(fd);
  if (file == nullptr) return -EBADF;
  auto* tfd = dynamic_cast<TimerFd*>(file);
  if (tfd == nullptr) return -EINVAL;
  return op(tfd);
}

int DoSettime(int fd, int flags, const itimerspec* new_value, itimerspec* old_value) {
  ApiScope api;
  if (api.reentrant()) return -EINTR;  // see docs/semantics.md: signal handlers
  // get_itimerspec64() comes first.
  if (new_value == nullptr || !AccessOk(new_value, sizeof *new_value)) return -EFAULT;
  const itimerspec nv = *new_value;
  if ((flags & ~kSettimeFlags) != 0 || !TimespecValid(nv.it_value) ||
      !TimespecValid(nv.it_interval)) {
    return -EINVAL;
  }
  itimerspec old{};
  const int r = WithTimerFd(fd, [&](TimerFd* tfd) { return tfd->SetTime(flags, nv, &old); });
  if (r < 0) return r;
  if (old_value != nullptr) {
    if (!AccessOk(old_value, sizeof *old_value)) return -EFAULT;  // the timer is set already
    *old_value = old;
  }
  return 0;
}

int DoGettime(int fd, itimerspec* curr_value) {
  ApiScope api;
  if (api.reentrant()) return -EINTR;  // see docs/semantics.md: signal handlers
  itimerspec cur{};
  const int r = WithTimerFd(fd, [&](TimerFd* tfd) {
    tfd->GetTime(&cur);
    return 0;
  });
  if (r < 0) return r;
  if (curr_value == nullptr || !AccessOk(curr_value, sizeof *curr_value)) return -EFAULT;
  *curr_value = cur;
  return 0;
}

}  // namespace
}  // namespace uep

extern "C" {

int uep_timerfd_create(int clockid, int flags) { return Ret(uep::DoCreate(clockid, flags)); }

int uep_timerfd_settime(int fd, int flags, const struct itimerspec* new_value,
                        struct itimerspec* old_value) {
  if (!Table().Owns(fd)) {
    return static_cast<int>(syscall(SYS_timerfd_settime, fd, flags, new_value, old_value));
  }
  return Ret(uep::DoSettime(fd, flags, new_value, old_value));
}

int uep_timerfd_gettime(int fd, struct itimerspec* curr_value) {
  if (!Table().Owns(fd)) return static_cast<int>(syscall(SYS_timerfd_gettime, fd, curr_value));
  return Ret(uep::DoGettime(fd, curr_value));
}

}  // extern "C"
