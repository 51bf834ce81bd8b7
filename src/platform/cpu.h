#pragma once

namespace uep::platform {

// The spin-wait hint of the processor (PAUSE, YIELD).
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace uep::platform
