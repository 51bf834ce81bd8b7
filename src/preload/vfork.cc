// vfork and clone: the same calls, marking the process as one with children that share its
// memory (core/fork.h), so that such a child's close, dup and close-on-exec changes (CPython's
// subprocess between vfork and exec) reach only its own kernel descriptors and never the
// parent's uepoll table. Each first turns the uepoll pipes and socket pairs into kernel
// objects (files/kernel_convert.h), which the child can use; so does posix_spawn, whose
// file actions dup2 them onto the child's stdio. system and popen need nothing: their
// children get only the pipes glibc makes for them (the kernel's).
#include <spawn.h>

#include <cstdarg>

#include "preload/preload.h"
#include "uepoll/uepoll.h"

#if defined(__x86_64__)
// vfork itself cannot be a C function (capi/vfork.cc): a jump to uep_vfork, which
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
  const int r = uep::capi::CloneV(fn, stack, flags, arg, ap);
  va_end(ap);
  return r;
}

extern "C" int posix_spawn(pid_t* pid, const char* path, const posix_spawn_file_actions_t* actions,
                           const posix_spawnattr_t* attr, char* const argv[], char* const envp[]) {
  return uep_posix_spawn(pid, path, actions, attr, argv, envp);
}

extern "C" int posix_spawnp(pid_t* pid, const char* file, const posix_spawn_file_actions_t* actions,
                            const posix_spawnattr_t* attr, char* const argv[], char* const envp[]) {
  return uep_posix_spawnp(pid, file, actions, attr, argv, envp);
}
