// uep_vfork() and uep_clone() (include/uepoll/uepoll.h): vfork and clone that mark the
// process as having children that share its memory (core/fork.h), so that such a child's
// closes leave the parent's descriptor table alone.
#include <dlfcn.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>

#include "core/fork.h"
#include "uepoll/uepoll.h"

extern "C" {
// glibc's clone under its other name: the preload library defines clone itself.
int __clone(int (*fn)(void*), void* stack, int flags, void* arg, ...);

// Before the child exists (core/fork.h: BeforeChild), called by the trampoline below.
[[gnu::visibility("hidden")]] void uep_before_child() { uep::BeforeChild(); }

// The error path of the trampoline below: errno, then -1 to its caller.
[[gnu::visibility("hidden")]] pid_t uep_vfork_error(long neg_errno) {
  errno = static_cast<int>(-neg_errno);
  return -1;
}
}

#if defined(__x86_64__)
// vfork cannot be wrapped by a C function: the child returns first, through the same stack
// frame the parent returns through later. So, as glibc's own vfork: the return address is
// popped into a register the system call preserves and pushed back after it, and nothing
// else touches the stack. First, an ordinary call (uep_before_child: the stack is aligned
// for it), then the flag is set before the child exists.
asm(R"(
    .text
    .globl uep_vfork
    .type uep_vfork, @function
uep_vfork:
    .cfi_startproc
    endbr64
    subq $8, %rsp
    .cfi_adjust_cfa_offset 8
    call uep_before_child
    addq $8, %rsp
    .cfi_adjust_cfa_offset -8
    movb $1, uep_shared_memory_children(%rip)
    popq %rdi
    .cfi_adjust_cfa_offset -8
    .cfi_register %rip, %rdi
    movl $58, %eax
    syscall
    pushq %rdi
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rip, 0
    cmpq $-4095, %rax
    jae 1f
    ret
1:  movq %rax, %rdi
    jmp uep_vfork_error
    .cfi_endproc
    .size uep_vfork, .-uep_vfork
)");
#else
// POSIX lets vfork() be fork(): elsewhere it is, and the child has its own memory.
extern "C" pid_t uep_vfork(void) { return fork(); }  // fork's prepare handler converts
#endif

// The optional arguments are read only when the flags use them (the caller may not have
// passed them), in their order: parent_tid, tls, child_tid.
int uep::CloneV(int (*fn)(void*), void* stack, int flags, void* arg, va_list ap) {
  const int wanted = (flags & (CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID)) != 0 ? 3
                     : (flags & CLONE_SETTLS) != 0                             ? 2
                     : (flags & (CLONE_PARENT_SETTID | CLONE_PIDFD)) != 0      ? 1
                                                                               : 0;
  void* extra[3] = {nullptr, nullptr, nullptr};
  for (int i = 0; i < wanted; ++i) extra[i] = va_arg(ap, void*);
  if ((flags & CLONE_THREAD) == 0) BeforeChild();  // a new process: it may use our pipes
  if ((flags & CLONE_VM) != 0 && (flags & CLONE_THREAD) == 0) NoteSharedMemoryChild();
  return __clone(fn, stack, flags, arg, extra[0], extra[1], extra[2]);
}

extern "C" int uep_clone(int (*fn)(void*), void* stack, int flags, void* arg, ...) {
  va_list ap;
  va_start(ap, arg);
  const int r = uep::CloneV(fn, stack, flags, arg, ap);
  va_end(ap);
  return r;
}

// libc's posix_spawn and posix_spawnp, looked up past this library: the preload library
// defines those names itself (with the same conversion first).
namespace {
using SpawnFn = int (*)(pid_t*, const char*, const posix_spawn_file_actions_t*,
                        const posix_spawnattr_t*, char* const[], char* const[]);
SpawnFn NextSpawn(const char* name) { return reinterpret_cast<SpawnFn>(dlsym(RTLD_NEXT, name)); }
}  // namespace

extern "C" int uep_posix_spawn(pid_t* pid, const char* path,
                               const posix_spawn_file_actions_t* file_actions,
                               const posix_spawnattr_t* attrp, char* const argv[],
                               char* const envp[]) {
  static const SpawnFn real = NextSpawn("posix_spawn");
  uep::BeforeChild();
  return real(pid, path, file_actions, attrp, argv, envp);
}

extern "C" int uep_posix_spawnp(pid_t* pid, const char* file,
                                const posix_spawn_file_actions_t* file_actions,
                                const posix_spawnattr_t* attrp, char* const argv[],
                                char* const envp[]) {
  static const SpawnFn real = NextSpawn("posix_spawnp");
  uep::BeforeChild();
  return real(pid, file, file_actions, attrp, argv, envp);
}
