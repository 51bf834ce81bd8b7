// Google Benchmark suite: every benchmark of benchmarks.cc (the registration `uepoll bench`
// runs too), plus the core's own round trip. Compare rows within one run; the machine is
// noisy.
#include <benchmark/benchmark.h>

#include "apis.h"
#include "benchmarks.h"
#include "core/eventpoll.h"
#include "core/fd_table.h"
#include "core/rcu.h"
#include "files/eventfd.h"
#include "scenarios.h"

namespace uep::bench {
namespace {

// The eventfd round trip with the C API taken away: the core's write -> callback -> ready
// list -> transfer -> read, called on the objects themselves. The difference to the uepoll
// row is what the three C calls add (descriptor lookup, checks, the iovec form, dispatch).
void BM_EventfdCorePath(benchmark::State& state) {
  const int ep = uep_epoll_create1(0);
  const int fd = uep_eventfd(0, EFD_NONBLOCK);
  epoll_event ev{};
  ev.events = EPOLLIN | (state.range(0) != 0 ? EPOLLET : 0U);
  Check(uep_epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0, "ctl add");
  EventFd* efd = nullptr;
  EventPoll* epoll = nullptr;
  {
    RcuReadGuard guard;
    efd = static_cast<EventFd*>(FdTable::Get().Lookup(fd));
    epoll = static_cast<EventPoll*>(FdTable::Get().Lookup(ep));
  }
  int64_t harvested = 0;
  for (auto _ : state) {
    epoll_event out[4];
    uint64_t value = 0;
    {
      RcuReadLock();  // the permit ends the section
      SleepPermit permit(efd);
      efd->WriteValue(1, kIoNonblock, &permit);
    }
    harvested += epoll->SendEvents(out, 4);
    {
      RcuReadLock();
      SleepPermit permit(efd);
      efd->ReadValue(&value, kIoNonblock, &permit);
    }
  }
  state.counters["events"] =
      benchmark::Counter(static_cast<double>(harvested), benchmark::Counter::kAvgIterations);
  uep_close(fd);
  uep_close(ep);
}

}  // namespace
}  // namespace uep::bench

int main(int argc, char** argv) {
  uep::bench::RegisterBenchmarks();
  benchmark::RegisterBenchmark("EventfdWriteWaitRead/uepoll_core", uep::bench::BM_EventfdCorePath)
      ->ArgName("et")
      ->Arg(0)
      ->Arg(1);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
