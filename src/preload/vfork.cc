// vfork and clone: the same calls, marking the process as one with children that share its
// memory (core/fork.h), so that such a child's close, dup and close-on-exec changes (CPython's
// subprocess between vfork and exec) reach only its own kernel descriptors and never the
// parent's uepoll table. posix_spawn, system and popen need nothing: their children run
// only glibc's internal calls, which never reach the library.
#include <cstdarg>

#include "core/fork.h"
#include "uepoll/uepoll.h"

#if defined(__x86_64__)
// vfork itself cannot be a C function (platform/vfork.cc): a jump to uep_vfork, which
// leaves the stack as the program's call made it.
asm(R"(
    .text
    .globl vfork
    .type vfork, @function
vfork:
    endbr64
    jmp uep_vfork
    .size vfork, .-vfork
)");
#endif

extern "C" int clone(int (*fn)(void*), void* stack, int flags, void* arg, ...) {
  va_list ap;
  va_start(ap, arg);
  const int r = uep::CloneV(fn, stack, flags, arg, ap);
  va_end(ap);
  return r;
}
