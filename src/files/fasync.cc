#include "files/fasync.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

namespace uep {
namespace {

constexpr int kOwnerTid = 0;   // F_OWNER_TID
constexpr int kOwnerPid = 1;   // F_OWNER_PID
constexpr int kOwnerPgrp = 2;  // F_OWNER_PGRP
constexpr int kNsig = 64;      // _NSIG: valid_signal()

struct PendingSigio {
  int pid;
  int type;
  int signum;
  int fd;
  int reason;
};

// Signals queued on this thread by KillFasync, sent by FlushSigio. A handful at most per
// call (a read or write signals one end or both); beyond the array, the plain signals
// coalesce anyway, and realtime ones are dropped as the kernel drops them when its queue
// is full (it falls back to SIGIO: so do we).
constexpr int kMaxPending = 8;
thread_local PendingSigio pending[kMaxPending];
thread_local int pending_count = 0;
thread_local bool pending_overflow = false;

// fs/fcntl.c's band_table, indexed by reason - POLL_IN.
constexpr long kBandTable[] = {
    EPOLLIN | EPOLLRDNORM,                // POLL_IN
    EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND,  // POLL_OUT
    EPOLLIN | EPOLLRDNORM | EPOLLMSG,     // POLL_MSG
    EPOLLERR,                             // POLL_ERR
    EPOLLPRI | EPOLLRDBAND,               // POLL_PRI
    EPOLLHUP | EPOLLERR,                  // POLL_HUP
};

// sig_specific_sicodes(): signals whose si_code values mean something else.
bool SigSpecificSicodes(int sig) {
  return sig == SIGILL || sig == SIGFPE || sig == SIGSEGV || sig == SIGBUS || sig == SIGTRAP ||
         sig == SIGCHLD || sig == SIGPOLL || sig == SIGSYS;
}

long Sys(long n, long a, long b, long c = 0, long d = 0) { return syscall(n, a, b, c, d); }

// send_sigio_to_task(): a realtime or chosen signal carries si_fd and si_band (the kernel
// can queue that to anyone; from user space, rt_sigqueueinfo() may send such a siginfo
// only to its own process, so another owner gets the bare signal); 0 is a plain SIGIO.
void Send(const PendingSigio& p) {
  const int self = static_cast<int>(Sys(SYS_getpid, 0, 0));
  if (p.signum != 0) {
    siginfo_t si;
    std::memset(&si, 0, sizeof si);
    si.si_signo = p.signum;
    si.si_code = p.signum != SIGPOLL && SigSpecificSicodes(p.signum) ? SI_SIGIO : p.reason;
    si.si_band = kBandTable[p.reason - POLL_IN];
    si.si_fd = p.fd;
    long r = -1;
    if (p.type == kOwnerTid) {
      r = Sys(SYS_rt_tgsigqueueinfo, self, p.pid, p.signum, reinterpret_cast<long>(&si));
    } else if (p.type == kOwnerPid && p.pid == self) {
      r = Sys(SYS_rt_sigqueueinfo, self, p.signum, reinterpret_cast<long>(&si));
    } else {
      r = Sys(SYS_kill, p.type == kOwnerPgrp ? -p.pid : p.pid, p.signum);
    }
    if (r == 0) return;
  }
  if (p.type == kOwnerTid) {
    if (Sys(SYS_tgkill, self, p.pid, SIGIO) == 0) return;
  }
  Sys(SYS_kill, p.type == kOwnerPgrp ? -p.pid : p.pid, SIGIO);
}

}  // namespace

void FasyncSet(File* file, int fd, bool on) {
  if (on) file->f_fasync_fd.store(fd, std::memory_order_relaxed);
  uint32_t old = file->f_flags.load(std::memory_order_relaxed);
  uint32_t want = 0;
  do {
    want = on ? (old | O_ASYNC) : (old & ~static_cast<uint32_t>(O_ASYNC));
  } while (!file->f_flags.compare_exchange_weak(old, want, std::memory_order_relaxed));
}

void KillFasync(const File* file, int reason) {
  if (file == nullptr || (file->f_flags.load(std::memory_order_relaxed) & O_ASYNC) == 0) return;
  const int pid = file->f_owner_pid.load(std::memory_order_relaxed);
  if (pid == 0) return;
  if (pending_count == kMaxPending) {
    pending_overflow = true;
    return;
  }
  pending[pending_count++] = {pid, file->f_owner_type.load(std::memory_order_relaxed),
                              file->f_owner_signum.load(std::memory_order_relaxed),
                              file->f_fasync_fd.load(std::memory_order_relaxed), reason};
}

void FlushSigio() {
  if (pending_count == 0) return;
  const int saved = errno;
  // Sent oldest first; a handler that runs meanwhile and queues more appends after.
  for (int i = 0; i < pending_count; ++i) Send(pending[i]);
  pending_count = 0;
  pending_overflow = false;
  errno = saved;
}

int SetOwner(File* file, int who) {
  int type = kOwnerPid;
  if (who < 0) {
    if (who == INT_MIN) return -EINVAL;
    type = kOwnerPgrp;
    who = -who;
  }
  // find_vpid(): the process (group) must exist; kill(…, 0) answers ESRCH if not.
  if (who != 0 && Sys(SYS_kill, type == kOwnerPgrp ? -who : who, 0) != 0 && errno == ESRCH) {
    return -ESRCH;
  }
  file->f_owner_type.store(type, std::memory_order_relaxed);
  file->f_owner_pid.store(who, std::memory_order_relaxed);
  return 0;
}

int GetOwner(const File* file) {
  const int pid = file->f_owner_pid.load(std::memory_order_relaxed);
  return file->f_owner_type.load(std::memory_order_relaxed) == kOwnerPgrp ? -pid : pid;
}

long OwnerFcntl(File* file, int cmd, unsigned long arg) {
  switch (cmd) {
    case F_GETOWN:
      return GetOwner(file);
    case F_SETOWN:
      return SetOwner(file, static_cast<int>(arg));
    case F_GETSIG:
      return file->f_owner_signum.load(std::memory_order_relaxed);
    case F_SETSIG:
      // valid_signal(): 0 .. _NSIG.
      if (arg > static_cast<unsigned long>(kNsig)) return -EINVAL;
      file->f_owner_signum.store(static_cast<int>(arg), std::memory_order_relaxed);
      return 0;
    case F_SETOWN_EX: {
      // f_setown_ex(): the copy first, then the type, then the pid's existence. Read as
      // two ints: the type may be any value, not only one of the enum's.
      if (arg == 0) return -EFAULT;
      static_assert(sizeof(f_owner_ex) == 2 * sizeof(int));
      int owner[2];
      std::memcpy(owner, reinterpret_cast<const void*>(arg), sizeof owner);
      const int type = owner[0] == F_OWNER_TID    ? kOwnerTid
                       : owner[0] == F_OWNER_PID  ? kOwnerPid
                       : owner[0] == F_OWNER_PGRP ? kOwnerPgrp
                                                  : -1;
      if (type < 0) return -EINVAL;
      const int pid = owner[1];
      if (pid != 0) {
        const long r = type == kOwnerPgrp ? Sys(SYS_kill, -pid, 0) : Sys(SYS_kill, pid, 0);
        if (r != 0 && errno == ESRCH) return -ESRCH;
      }
      file->f_owner_type.store(type, std::memory_order_relaxed);
      file->f_owner_pid.store(pid, std::memory_order_relaxed);
      return 0;
    }
    case F_GETOWN_EX: {
      auto* ex = reinterpret_cast<f_owner_ex*>(arg);
      if (ex == nullptr) return -EFAULT;
      f_owner_ex owner{};
      const int type = file->f_owner_type.load(std::memory_order_relaxed);
      owner.type = type == kOwnerTid ? F_OWNER_TID : type == kOwnerPgrp ? F_OWNER_PGRP : F_OWNER_PID;
      owner.pid = file->f_owner_pid.load(std::memory_order_relaxed);
      std::memcpy(ex, &owner, sizeof owner);
      return 0;
    }
    default:
      return 1;
  }
}

}  // namespace uep
