// Interposed poll, ppoll (and fortified forms), select and pselect. A set with a uepoll
// descriptor goes to uep_ppoll; select and pselect are served over it then, with the
// kernel's do_select() rules (which revents count for which set, EBADF for a closed
// descriptor, the time left written back by select).
#include <poll.h>
#include <sys/select.h>
#include <time.h>

#include <cerrno>
#include <climits>
#include <vector>

#include "preload/preload.h"
#include "uepoll/uepoll.h"

using uep::preload::Ours;

namespace {

bool HasOurs(const pollfd* fds, nfds_t nfds) {
  if (fds == nullptr) return false;
  for (nfds_t i = 0; i < nfds; ++i) {
    if (fds[i].fd >= 0 && Ours(fds[i].fd)) return true;
  }
  return false;
}

// fd_set bits read as words, so that numbers past FD_SETSIZE (a larger set the caller
// allocated, as the kernel allows) never trip the fortified FD_ISSET.
constexpr int kWordBits = static_cast<int>(sizeof(unsigned long) * CHAR_BIT);
bool IsSet(const fd_set* set, int fd) {
  return set != nullptr &&
         (reinterpret_cast<const unsigned long*>(set)[fd / kWordBits] >> (fd % kWordBits) & 1) != 0;
}
void ClearBits(fd_set* set, int nfds) {
  if (set == nullptr) return;
  auto* words = reinterpret_cast<unsigned long*>(set);
  for (int w = 0; w < (nfds + kWordBits - 1) / kWordBits; ++w) words[w] = 0;
}
void SetBit(fd_set* set, int fd) {
  reinterpret_cast<unsigned long*>(set)[fd / kWordBits] |= 1UL << (fd % kWordBits);
}

bool SetsHaveOurs(int nfds, const fd_set* r, const fd_set* w, const fd_set* e) {
  for (int fd = 0; fd < nfds; ++fd) {
    if ((IsSet(r, fd) || IsSet(w, fd) || IsSet(e, fd)) && Ours(fd)) return true;
  }
  return false;
}

// fs/select.c's POLLIN_SET, POLLOUT_SET, POLLEX_SET.
constexpr short kInSet = POLLRDNORM | POLLRDBAND | POLLIN | POLLHUP | POLLERR;
constexpr short kOutSet = POLLWRBAND | POLLWRNORM | POLLOUT | POLLERR;
constexpr short kExSet = POLLPRI;

timespec Now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts;
}

timespec Sub(const timespec& a, const timespec& b) {
  timespec d{a.tv_sec - b.tv_sec, a.tv_nsec - b.tv_nsec};
  if (d.tv_nsec < 0) {
    d.tv_nsec += 1000000000L;
    --d.tv_sec;
  }
  if (d.tv_sec < 0) d = {0, 0};
  return d;
}

timespec Add(const timespec& a, const timespec& b) {
  timespec s{a.tv_sec + b.tv_sec, a.tv_nsec + b.tv_nsec};
  if (s.tv_nsec >= 1000000000L) {
    s.tv_nsec -= 1000000000L;
    ++s.tv_sec;
  }
  return s;
}

// do_select() over uep_ppoll. `timeout` (may be null) is updated with the time left.
int SelectOverPoll(int nfds, fd_set* r, fd_set* w, fd_set* e, timespec* timeout,
                   const sigset_t* sigmask) {
  if (timeout != nullptr && (timeout->tv_sec < 0 || timeout->tv_nsec < 0 ||
                             timeout->tv_nsec >= 1000000000L)) {
    errno = EINVAL;
    return -1;
  }
  std::vector<pollfd> fds;
  for (int fd = 0; fd < nfds; ++fd) {
    short events = 0;
    if (IsSet(r, fd)) events |= POLLIN | POLLRDNORM | POLLRDBAND;
    if (IsSet(w, fd)) events |= POLLOUT | POLLWRNORM | POLLWRBAND;
    if (IsSet(e, fd)) events |= POLLPRI;
    if (events != 0) fds.push_back({fd, events, 0});
  }
  const timespec deadline = timeout != nullptr ? Add(Now(), *timeout) : timespec{};
  for (;;) {
    timespec left{};
    if (timeout != nullptr) left = Sub(deadline, Now());
    const int n = UEP_SERVE(uep_ppoll(fds.data(), fds.size(), timeout != nullptr ? &left : nullptr, sigmask));
    if (timeout != nullptr) *timeout = Sub(deadline, Now());
    if (n < 0) return -1;
    int count = 0;
    for (const pollfd& p : fds) {
      if ((p.revents & POLLNVAL) != 0) {
        errno = EBADF;
        return -1;
      }
    }
    ClearBits(r, nfds);
    ClearBits(w, nfds);
    ClearBits(e, nfds);
    for (const pollfd& p : fds) {
      if ((p.events & POLLIN) != 0 && (p.revents & kInSet) != 0) SetBit(r, p.fd), ++count;
      if ((p.events & POLLOUT) != 0 && (p.revents & kOutSet) != 0) SetBit(w, p.fd), ++count;
      if ((p.events & POLLPRI) != 0 && (p.revents & kExSet) != 0) SetBit(e, p.fd), ++count;
    }
    // A wake-up for events no set asked for (POLLHUP of a descriptor only in exceptfds):
    // wait on for the time left, with the caller's sets put back.
    if (count != 0 || n == 0 || (timeout != nullptr && timeout->tv_sec == 0 && timeout->tv_nsec == 0)) {
      return count;
    }
    for (const pollfd& p : fds) {
      if ((p.events & POLLIN) != 0) SetBit(r, p.fd);
      if ((p.events & POLLOUT) != 0) SetBit(w, p.fd);
      if ((p.events & POLLPRI) != 0) SetBit(e, p.fd);
    }
  }
}

}  // namespace

// glibc 2.36 declares poll's and ppoll's set write-only (access attribute), though the
// kernel reads it: GCC then takes reading it here for a use of uninitialised memory.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

extern "C" {

[[noreturn]] void __chk_fail(void);

int poll(struct pollfd* fds, nfds_t nfds, int timeout) {
  if (HasOurs(fds, nfds)) return UEP_SERVE(uep_poll(fds, nfds, timeout));
  UEP_NEXT(poll);
  return real(fds, nfds, timeout);
}

int __poll_chk(struct pollfd* fds, nfds_t nfds, int timeout, size_t fdslen) {
  if (fdslen / sizeof(pollfd) < nfds) __chk_fail();
  return poll(fds, nfds, timeout);
}

int ppoll(struct pollfd* fds, nfds_t nfds, const struct timespec* timeout, const sigset_t* sigmask) {
  if (HasOurs(fds, nfds)) return UEP_SERVE(uep_ppoll(fds, nfds, timeout, sigmask));
  UEP_NEXT(ppoll);
  return real(fds, nfds, timeout, sigmask);
}

int __ppoll_chk(struct pollfd* fds, nfds_t nfds, const struct timespec* timeout,
                const sigset_t* sigmask, size_t fdslen) {
  if (fdslen / sizeof(pollfd) < nfds) __chk_fail();
  return ppoll(fds, nfds, timeout, sigmask);
}

int select(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds, struct timeval* timeout) {
  if (nfds > 0 && SetsHaveOurs(nfds, readfds, writefds, exceptfds)) {
    if (timeout != nullptr && (timeout->tv_sec < 0 || timeout->tv_usec < 0)) {
      errno = EINVAL;
      return -1;
    }
    timespec ts{};
    if (timeout != nullptr) {
      ts = {timeout->tv_sec + timeout->tv_usec / 1000000, (timeout->tv_usec % 1000000) * 1000};
    }
    const int r = SelectOverPoll(nfds, readfds, writefds, exceptfds,
                                 timeout != nullptr ? &ts : nullptr, nullptr);
    if (timeout != nullptr) *timeout = {ts.tv_sec, ts.tv_nsec / 1000};
    return r;
  }
  UEP_NEXT(select);
  return real(nfds, readfds, writefds, exceptfds, timeout);
}

// pselect leaves the caller's timeout alone (glibc passes the kernel a copy).
int pselect(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds,
            const struct timespec* timeout, const sigset_t* sigmask) {
  if (nfds > 0 && SetsHaveOurs(nfds, readfds, writefds, exceptfds)) {
    timespec copy{};
    if (timeout != nullptr) copy = *timeout;
    return SelectOverPoll(nfds, readfds, writefds, exceptfds, timeout != nullptr ? &copy : nullptr,
                          sigmask);
  }
  UEP_NEXT(pselect);
  return real(nfds, readfds, writefds, exceptfds, timeout, sigmask);
}

}  // extern "C"
