// libFuzzer entry points of the differential fuzzer (tests/fuzz/README.md in docs/testing.md).
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "fuzz/ops.h"
#include "fuzz/twin.h"
#include "platform/kernel_fd.h"
#include "support/sock_timer_diff.h"
#include "uepoll/uepoll.h"

namespace {

// Opens what uepoll opens lazily and keeps (the timer service's clock-change watcher, a
// thread that opens its kernel timerfd soon after it starts), so that every input finds
// the same kernel descriptors open and numbers its own the same way.
void WarmUp() {
  const size_t before = uep::fuzz::KernelFds().size();
  const int tfd = uep_timerfd_create(CLOCK_REALTIME, 0);
  const itimerspec far{{0, 0}, {time_t{1} << 40, 0}};
  uep_timerfd_settime(tfd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &far, nullptr);
  uep_close(tfd);
  for (int i = 0; i < 1000 && uep::fuzz::KernelFds().size() == before; ++i) usleep(1000);
  // MOD/DEL of a kernel descriptor in an instance without kernel descriptors asks a kernel
  // epoll instance that uepoll keeps for that (kernel::EmptyEpollCtl).
  const int ep = uep_epoll_create1(0);
  const int efd = eventfd(0, 0);
  epoll_event ev{};
  uep_epoll_ctl(ep, EPOLL_CTL_MOD, efd, &ev);
  close(efd);
  uep_close(ep);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  uep::test::SigpipeCount();  // counts SIGPIPE (compared per call) instead of dying of it
  uep::fuzz::FillPattern();
  // The kernel descriptors uepoll makes for itself (hidden instances of instances holding
  // kernel descriptors, doorbells) share the process's table with the kernel side; moved
  // high, as under placeholder numbering, they leave the kernel side's numbering alone.
  uep::kernel::internal_fds_high.store(true, std::memory_order_relaxed);
  WarmUp();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  uep::fuzz::RunInput(data, size);
  return 0;
}
