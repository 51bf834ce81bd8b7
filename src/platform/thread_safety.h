// Clang's thread-safety analysis (-Wthread-safety): locks are capabilities, fields name the
// lock that guards them, functions the locks they need, and the compiler checks every access.
// The macros vanish under other compilers. Where a rule cannot be said this way (a lock
// reached through an item's back pointer, a read that is lock-free by design), the
// narrowest function says NO_THREAD_SAFETY_ANALYSIS with a comment on why.
#pragma once

#if defined(__clang__)
#define UEP_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define UEP_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) UEP_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY UEP_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) UEP_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) UEP_THREAD_ANNOTATION(pt_guarded_by(x))
#define ACQUIRED_BEFORE(...) UEP_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) UEP_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define REQUIRES(...) UEP_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define ACQUIRE(...) UEP_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) UEP_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) UEP_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define EXCLUDES(...) UEP_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ASSERT_CAPABILITY(x) UEP_THREAD_ANNOTATION(assert_capability(x))
#define RETURN_CAPABILITY(x) UEP_THREAD_ANNOTATION(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS UEP_THREAD_ANNOTATION(no_thread_safety_analysis)
