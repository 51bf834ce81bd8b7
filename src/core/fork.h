// fork(), vfork() and every owner of global state, in one place.
//
// fork() copies the memory of the process with only the calling thread in it: a lock that
// another thread held stays held for ever in the child's copy, and a thread uepoll started
// (the timer service's) does not exist there. So every owner of global state registers its
// handlers here, and one pthread_atfork() runs them all:
//
//   prepare  in ascending ForkOrder, which is the lock order (core/eventpoll.cc): each owner
//            takes its global locks, so that the child's copy of what they guard is whole;
//   parent   in descending order: releases them;
//   child    in descending order: releases (or re-initialises) them and rebuilds what the
//            child needs: threads are restarted on demand, kernel descriptors shared with
//            the parent (the clock watcher, doorbells) are closed, never used from both.
//
// A vfork() child (or any CLONE_VM child) shares the parent's memory and runs no handler.
// InForeignProcess() tells it apart: the process id differs from the owner's, recorded when
// the library is loaded and in each fork child. Such a process must never change the
// parent's state: uepoll's descriptor calls there touch only the kernel's descriptors
// (core/fd_table.h). It is asked only where the descriptor table would change (close, dup,
// close-on-exec), never on a read, write or wait, and costs one load until the process
// made a child that shares its memory through uep_vfork()/uep_clone() (the preload
// library's vfork and clone); from then on one getpid system call (~1 us on a 2-vCPU VM,
// 20x a close, which is why it is not asked always).
#pragma once

#include <cstdarg>

namespace uep {

// Lower runs first in prepare, last in parent and child.
enum class ForkOrder : int {
  kEpmutex = 0,   // epmutex (level 1 of core/eventpoll.cc)
  kRcu,           // the RCU registry lock: taken under epmutex by a grace period (an item
                  // index that grows or shrinks), and before every lock below, which a
                  // read section that a grace period waits for may spin on (the timer
                  // service's)
  kKernelLinks,   // the links' and the ring registry's mutexes (2a); the child makes its
                  // own readiness rings
  kFdTable,       // the descriptor table's lock
  kTimerService,  // the timer service's mutexes, then its lock (a leaf)
  kDoorbells,     // the pool of masked sleepers' doorbells (a leaf)
  kTrace,         // the trace control lock (a leaf)
  kCount,
};

struct ForkHandlers {
  void (*prepare)() = nullptr;
  void (*parent)() = nullptr;
  void (*child)() = nullptr;
};

// Registers the handlers of one owner (once per order; a later call replaces them). Safe
// from static initialisers; the first call registers the pthread_atfork().
void RegisterForkHandlers(ForkOrder order, const ForkHandlers& handlers);

// Before a child that may use this process's descriptors is made: fork (first thing in
// the prepare handler, before any lock is taken), vfork and clone (uep_vfork, uep_clone)
// and the preload library's posix_spawn. One function, set once (the conversion of pipes
// and socket pairs into kernel objects, files/kernel_convert.h); ignored in a process
// that does not own this memory.
void SetBeforeChild(int (*fn)());
void BeforeChild();

// True in a process that shares this memory without owning it: a vfork() or CLONE_VM child
// before it execs.
bool InForeignProcess();
// About to make a child that shares this memory (uep_vfork, uep_clone): from now on
// InForeignProcess() asks the kernel.
void NoteSharedMemoryChild();
// clone(2) with its optional arguments in `ap`, calling NoteSharedMemoryChild() first for
// a CLONE_VM child (uep_clone, the preload library's clone: capi/vfork.cc).
int CloneV(int (*fn)(void*), void* stack, int flags, void* arg, va_list ap);

}  // namespace uep
