// O_ASYNC (FIOASYNC, F_SETFL) and the owner of a file's signals (F_SETOWN, F_SETOWN_EX,
// F_SETSIG, and a socket's FIOSETOWN / SIOCSPGRP): fs/fcntl.c's fasync and send_sigio().
//
// A file with ->fasync (File::HasFasync: pipes and sockets) calls KillFasync where the
// kernel calls kill_fasync(), possibly under its own locks: the signal is queued on the
// calling thread and sent by FlushSigio(), which the file calls once its locks are
// released (the kernel's signal is delivered on the way back to user space, so a handler
// never runs inside the file's critical section).
#pragma once

#include "core/file.h"

namespace uep {

// ->fasync(fd, file, on): sets or clears FASYNC in f_flags and remembers `fd` for si_fd.
void FasyncSet(File* file, int fd, bool on);
// kill_fasync(): queues the owner's signal if the file is in FASYNC mode. `reason` is
// POLL_IN, POLL_OUT, POLL_HUP ... (si_code).
void KillFasync(const File* file, int reason);
// Sends what KillFasync queued on this thread. Call with no lock held.
void FlushSigio();

// F_SETOWN, F_GETOWN, F_SETOWN_EX, F_GETOWN_EX, F_SETSIG, F_GETSIG (do_fcntl()): the
// result, or 1 if `cmd` is none of those.
long OwnerFcntl(File* file, int cmd, unsigned long arg);
// f_setown(file, who, 1): who > 0 a process, < 0 a process group; ESRCH if none.
int SetOwner(File* file, int who);
// f_getown(): the process, or minus the process group.
int GetOwner(const File* file);

}  // namespace uep
