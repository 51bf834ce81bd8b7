// Whether this test binary runs under a sanitizer (GCC defines __SANITIZE_*, clang has
// __has_feature): their runtimes make system calls and allocations of their own and slow
// everything down, which some tests must allow for.
#pragma once

#if defined(__SANITIZE_THREAD__)
#define UEP_TEST_THREAD_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UEP_TEST_THREAD_SANITIZER 1
#endif
#endif

#if defined(__SANITIZE_ADDRESS__) || defined(UEP_TEST_THREAD_SANITIZER)
#define UEP_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UEP_TEST_SANITIZED 1
#endif
#endif

namespace uep::test {
#ifdef UEP_TEST_SANITIZED
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
}  // namespace uep::test
