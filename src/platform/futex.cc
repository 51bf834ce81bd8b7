#include "platform/futex.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace uep::platform {
namespace {

long Futex(std::atomic<uint32_t>* word, int op, uint32_t val, const timespec* ts, uint32_t val3) {
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), op | FUTEX_PRIVATE_FLAG, val, ts,
                 nullptr, val3);
}

}  // namespace

int FutexWaitUntil(std::atomic<uint32_t>* word, uint32_t expected, const timespec& deadline) {
  if (Futex(word, FUTEX_WAIT_BITSET, expected, &deadline, FUTEX_BITSET_MATCH_ANY) == 0) return 0;
  if (errno == ETIMEDOUT) return -ETIMEDOUT;
  if (errno == EINTR) return -EINTR;
  return 0;  // EAGAIN: the value already changed
}

int FutexWaitRestartable(std::atomic<uint32_t>* word, uint32_t expected) {
  if (Futex(word, FUTEX_WAIT, expected, nullptr, 0) == 0) return 0;
  return errno == EINTR ? -EINTR : 0;
}

void FutexWake(std::atomic<uint32_t>* word, int count) {
  Futex(word, FUTEX_WAKE, static_cast<uint32_t>(count), nullptr, 0);
}

}  // namespace uep::platform
