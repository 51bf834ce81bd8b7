// epoll_create/ctl/wait entry points: check arguments in the kernel's order, resolve
// descriptors, then hand over to EventPoll.
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <new>

#include "capi/capi.h"
#include "core/reentry.h"
#include "core/eventpoll.h"
#include "core/waiter.h"
#include "platform/clock.h"
#include "platform/fault.h"
#include "platform/kernel_fd.h"
#include "uepoll/uepoll.h"

using uep::capi::AccessOk;
using uep::capi::FilePin;
using uep::capi::Ret;
using uep::capi::Table;

namespace uep {
namespace {

int DoEpollCreate(int flags) {
  ApiScope api;
  if (api.reentrant()) return -EINTR;  // see docs/semantics.md: signal handlers
  if ((flags & ~EPOLL_CLOEXEC) != 0) return -EINVAL;
  auto* ep = TryNew<EventPoll>();
  if (ep == nullptr) return -ENOMEM;
  const int fd = Table().Install(ep, (flags & EPOLL_CLOEXEC) != 0);
  if (fd < 0) delete ep;  // never published: no reader can hold it
  return fd;
}

int DoEpollCtl(int epfd, int op, int fd, epoll_event* event) {
  // copy_from_user() of the event comes before everything else.
  if (op != EPOLL_CTL_DEL && (event == nullptr || !AccessOk(event, sizeof *event))) return -EFAULT;
  if (!Table().Owns(epfd)) {
    // A kernel epoll instance: the kernel decides (a uepoll fd is EBADF to it).
    return static_cast<int>(syscall(SYS_epoll_ctl, epfd, op, fd, event)) < 0 ? -errno : 0;
  }
  ApiScope api;
  // The instance's mutex may be held by the call this one interrupted (a signal handler).
  if (api.reentrant()) return -EINTR;
  WakeScope wake_scope;
  RcuReadGuard guard;
  File* file = Table().Lookup(epfd);
  if (file == nullptr) return -EBADF;
  File* tfile = Table().Lookup(fd);
  if (tfile == nullptr) {
    if (Table().Owns(fd) || !kernel::FdgetFinds(fd)) return -EBADF;
    if (!file->IsEventPoll()) {
      // The kernel's order: a file it cannot poll (EPERM) before "not an epoll instance".
      epoll_event none{};
      return kernel::EmptyEpollCtl(EPOLL_CTL_MOD, fd, &none) == -EPERM ? -EPERM : -EINVAL;
    }
    // A kernel descriptor: the instance's hidden kernel epoll decides the rest.
    FilePin ep(file, &guard);
    if (!ep) return -EBADF;
    return static_cast<EventPoll*>(file)->CtlKernel(op, fd, event);
  }
  if (!file->IsEventPoll()) return -EINVAL;
  auto* ep = static_cast<EventPoll*>(file);
  if (int result = 0; ep->TryCtlLockless(op, tfile, fd, event, &result)) return result;
  // Ctl() waits for ep->mtx and epmutex: not in the read section. A file closed meanwhile
  // is EBADF, as for the kernel's fdget() after the close.
  FilePin pins(ep, tfile, &guard);
  if (!pins) return -EBADF;
  return ep->Ctl(op, tfile, fd, event);
}

int DoEpollWait(int epfd, epoll_event* events, int maxevents, platform::Timeout timeout,
                const sigset_t* sigmask) {
  // set_user_sigmask() copies the mask (8 bytes in the kernel) before anything else.
  if (sigmask != nullptr) {
    if (const int r = capi::CheckSigmask(sigmask); r < 0) return r;
  }
  if (!Table().Owns(epfd)) {
    // A kernel instance: the kernel waits.
    const timespec* ts = nullptr;
    timespec rel{};
    if (timeout.nonblocking()) {
      ts = &rel;
    } else if (const timespec& deadline = timeout.Deadline(); !platform::IsNever(deadline)) {
      rel = platform::Remaining(deadline);
      ts = &rel;
    }
    // The 6th argument travels on the stack and syscall() reads it as a long: pass a
    // size_t, or its upper half is garbage and the kernel refuses the size (EINVAL).
    const size_t sigsetsize = sigmask != nullptr ? size_t{_NSIG / 8} : 0;
    const long r = syscall(SYS_epoll_pwait2, epfd, events, maxevents, ts, sigmask, sigsetsize);
    return r < 0 ? -errno : static_cast<int>(r);
  }
  ApiScope api;
  WakeScope wake_scope;
  File* file = capi::LookupInReadSection(epfd);
  if (file == nullptr) return -EBADF;
  // The kernel's order: maxevents, then the events buffer (access_ok()), then the type.
  int error = 0;
  if (maxevents <= 0 || maxevents > kEpMaxEvents) {
    error = -EINVAL;
  } else if (!AccessOk(events, static_cast<size_t>(maxevents) * sizeof(epoll_event))) {
    error = -EFAULT;
  } else if (!file->IsEventPoll()) {
    error = -EINVAL;
  }
  if (error != 0) {
    RcuReadUnlock();
    return error;
  }
  auto* ep = static_cast<EventPoll*>(file);
  SleepPermit permit(ep);  // owns the read section from here
  if (api.reentrant()) {
    // A signal handler that interrupted a uepoll call on its own thread cannot sleep or
    // wait for the instance's locks: it harvests what it can take at once.
    const int res = ep->HarvestReentrant(events, maxevents);
    return res == 0 && !timeout.nonblocking() ? -EINTR : res;
  }
  return ep->Wait(events, maxevents, timeout, sigmask, &permit);
}

}  // namespace
}  // namespace uep

extern "C" {

int uep_epoll_create(int size) {
  if (size <= 0) return Ret(-EINVAL);
  return Ret(uep::DoEpollCreate(0));
}

int uep_epoll_create1(int flags) { return Ret(uep::DoEpollCreate(flags)); }

int uep_epoll_ctl(int epfd, int op, int fd, struct epoll_event* event) {
  return Ret(uep::DoEpollCtl(epfd, op, fd, event));
}

int uep_epoll_wait(int epfd, struct epoll_event* events, int maxevents, int timeout) {
  return uep_epoll_pwait(epfd, events, maxevents, timeout, nullptr);
}

int uep_epoll_pwait(int epfd, struct epoll_event* events, int maxevents, int timeout,
                    const sigset_t* sigmask) {
  // Any negative timeout waits forever, as in the kernel.
  return Ret(uep::DoEpollWait(epfd, events, maxevents, uep::platform::Timeout::AfterMs(timeout),
                              sigmask));
}

int uep_epoll_pwait2(int epfd, struct epoll_event* events, int maxevents,
                     const struct timespec* timeout, const sigset_t* sigmask) {
  auto to = uep::platform::Timeout::Never();
  if (timeout != nullptr) {
    if (!AccessOk(timeout, sizeof *timeout)) return Ret(-EFAULT);  // get_timespec64()
    if (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000L) {
      return Ret(-EINVAL);
    }
    to = timeout->tv_sec == 0 && timeout->tv_nsec == 0 ? uep::platform::Timeout::Nonblocking()
                                                      : uep::platform::Timeout::After(*timeout);
  }
  return Ret(uep::DoEpollWait(epfd, events, maxevents, to, sigmask));
}

int uep_epoll_kernel_fd(int epfd) {
  uep::RcuReadGuard guard;
  uep::File* file = Table().Lookup(epfd);
  if (file == nullptr) return Ret(-EBADF);
  if (!file->IsEventPoll()) return Ret(-EINVAL);
  uep::capi::FilePin pin(file, &guard);  // KernelFd() takes ep->mtx
  if (!pin) return Ret(-EBADF);
  return Ret(static_cast<uep::EventPoll*>(file)->KernelFd());
}

int uep_epoll_set_busy_poll(int epfd, int rounds) {
  if (rounds < 0) return Ret(-EINVAL);
  uep::RcuReadGuard guard;
  uep::File* file = Table().Lookup(epfd);
  if (file == nullptr) return Ret(-EBADF);
  if (!file->IsEventPoll()) return Ret(-EINVAL);
  static_cast<uep::EventPoll*>(file)->SetBusyPollRounds(rounds);
  return 0;
}

int uep_epoll_get_busy_poll(int epfd) {
  uep::RcuReadGuard guard;
  uep::File* file = Table().Lookup(epfd);
  if (file == nullptr) return Ret(-EBADF);
  if (!file->IsEventPoll()) return Ret(-EINVAL);
  return static_cast<uep::EventPoll*>(file)->BusyPollRounds();
}

int uep_set_max_user_watches(long limit) {
  if (limit < 0) return Ret(-EINVAL);
  uep::EpollSetMaxUserWatches(limit);
  return 0;
}

long uep_get_max_user_watches(void) { return uep::EpollMaxUserWatches(); }

long uep_get_epoll_watches(void) { return uep::EpollWatches(); }

}  // extern "C"
