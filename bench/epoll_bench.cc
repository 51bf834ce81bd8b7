// Google Benchmark suite: every scenario registered for the kernel and for uepoll, plus
// poll()/select() where they apply. Compare rows within one run; the machine is noisy.
#include <benchmark/benchmark.h>
#include <poll.h>
#include <sys/resource.h>
#include <sched.h>
#include <sys/select.h>

#include <exception>
#include <string>

#include "apis.h"
#include "core/eventpoll.h"
#include "core/fd_table.h"
#include "core/rcu.h"
#include "files/eventfd.h"
#include "scenarios.h"
#include "threaded.h"

namespace uep::bench {
namespace {

template <typename Api>
void BM_EventfdWriteWaitRead(benchmark::State& state) {
  EventfdRoundTrip<Api> s(state.range(0) != 0);
  for (auto _ : state) s.Op();
  state.counters["events"] = static_cast<double>(s.harvested());
}

// The same round trip with the C API taken away: the core's write -> callback -> ready list
// -> transfer -> read, called on the objects themselves. The difference to the uepoll row is
// what the three C calls add (descriptor lookup, checks, the iovec form, dispatch).
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
  state.counters["events"] = static_cast<double>(harvested);
  uep_close(fd);
  uep_close(ep);
}

// write one byte into a pipe or an AF_UNIX stream socket pair, wait(0), read it back.
template <typename Api, PairKind kKind>
void BM_PairWriteWaitRead(benchmark::State& state) {
  PairRoundTrip<Api> s(kKind, state.range(0) != 0);
  for (auto _ : state) s.Op();
  state.counters["events"] = static_cast<double>(s.harvested());
}

template <typename Api>
void BM_WaitNothingReady(benchmark::State& state) {
  WaitNothingReady<Api> s;
  for (auto _ : state) s.Op();
}

// Mixed instances (kernel sockets with a uepoll eventfd): nothing ready with one idle
// socket (compare WaitNothingReady/uepoll, a pure instance), and the eventfd ready among 8
// idle sockets.
template <typename Api>
void BM_MixedWait(benchmark::State& state) {
  MixedWait<Api> s(state.range(0) != 0, static_cast<int>(state.range(1)));
  for (auto _ : state) s.Op();
  state.counters["events"] = static_cast<double>(s.harvested());
}

// A kernel eventfd in the API's instance: write + wait(0) + read, all three on the kernel
// eventfd (on uepoll: a kernel descriptor in the hidden instance, asked at every harvest
// since each finds it ready).
template <typename Api>
void BM_KernelEventfdCycle(benchmark::State& state) {
  const int ep = Api::EpollCreate();
  const int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  Check(Api::Ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0, "ctl add");
  int64_t harvested = 0;
  for (auto _ : state) {
    const uint64_t one = 1;
    uint64_t value = 0;
    Check(::write(fd, &one, sizeof one) == sizeof one, "write");
    epoll_event out[4];
    harvested += Api::Wait(ep, out, 4, 0);
    Check(::read(fd, &value, sizeof value) == sizeof value, "read");
  }
  state.counters["events"] = static_cast<double>(harvested);
  ::close(fd);
  Api::Close(ep);
}

// Two threads on one vCPU passing a token through two kernel eventfds, each asleep in
// wait(-1) on the API's instance between tokens (on uepoll: a sleep in the hidden kernel
// instance). Pinned, so each hand-off is a wake-up and a context switch, no idle CPU.
template <typename Api>
void BM_KernelEventfdPingPongOneCpu(benchmark::State& state) {
  cpu_set_t saved;
  CPU_ZERO(&saved);
  Check(sched_getaffinity(0, sizeof saved, &saved) == 0, "sched_getaffinity");
  int cpu = 0;
  while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &saved)) ++cpu;
  cpu_set_t pinned;
  CPU_ZERO(&pinned);
  CPU_SET(cpu, &pinned);
  Check(sched_setaffinity(0, sizeof pinned, &pinned) == 0, "sched_setaffinity");  // thread b inherits
  const int ep_a = Api::EpollCreate();
  const int ep_b = Api::EpollCreate();
  const int to_a = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  const int to_b = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;
  Check(Api::Ctl(ep_a, EPOLL_CTL_ADD, to_a, &ev) == 0, "ctl");
  Check(Api::Ctl(ep_b, EPOLL_CTL_ADD, to_b, &ev) == 0, "ctl");
  const int rounds = 2000;
  auto await = [](int ep, int fd) {
    epoll_event out;
    uint64_t value = 0;
    while (Api::Wait(ep, &out, 1, -1) != 1) {
    }
    Check(::read(fd, &value, sizeof value) == sizeof value, "read");
  };
  Percentiles p;
  for (auto _ : state) {
    std::thread b([&] {
      const uint64_t one = 1;
      for (int i = 0; i < rounds; ++i) {
        await(ep_b, to_b);
        Check(::write(to_a, &one, sizeof one) == sizeof one, "write");
      }
    });
    std::vector<double> samples;
    samples.reserve(rounds);
    const uint64_t one = 1;
    for (int i = 0; i < rounds; ++i) {
      const auto start = Clock::now();
      Check(::write(to_b, &one, sizeof one) == sizeof one, "write");
      await(ep_a, to_a);
      samples.push_back(std::chrono::duration<double, std::nano>(Clock::now() - start).count());
    }
    b.join();
    p = Summarize(std::move(samples));
  }
  state.counters["median_ns"] = p.median_ns;
  state.counters["p99_ns"] = p.p99_ns;
  for (int fd : {to_a, to_b}) ::close(fd);
  Api::Close(ep_a);
  Api::Close(ep_b);
  sched_setaffinity(0, sizeof saved, &saved);
}

template <typename Api>
void BM_Ctl(benchmark::State& state) {
  CtlOps<Api> s(static_cast<CtlKind>(state.range(0)));
  for (auto _ : state) s.Op();
}

template <typename Api>
void BM_CreateWatchClose(benchmark::State& state) {
  CreateWatchClose<Api> s;
  for (auto _ : state) s.Op();
}

// The same with `others` threads that used the API asleep in the process.
template <typename Api>
void BM_CreateWatchCloseAmong(benchmark::State& state) {
  CreateWatchCloseAmong<Api> s(static_cast<int>(state.range(0)));
  for (auto _ : state) s.Op();
}

// 10,000 eventfds x 10 instances added then removed; memory is the process's (the
// kernel's own memory is not in it), the instances still open at the end.
template <typename Api>
void BM_Churn(benchmark::State& state) {
  ChurnResult r;
  for (auto _ : state) r = Churn<Api>(10000, 10, 1);
  state.counters["ns_per_item"] = r.ns_per_item;
  state.counters["rss_start_mb"] = r.start.rss / (1 << 20);
  state.counters["rss_peak_mb"] = r.peak.rss / (1 << 20);
  state.counters["rss_end_mb"] = r.end.rss / (1 << 20);
  state.counters["heap_end_minus_start_kb"] = (r.end.heap - r.start.heap) / 1024;
}

template <typename Api>
void BM_Batch(benchmark::State& state) {
  Batch<Api> s(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  for (auto _ : state) {
    state.PauseTiming();
    s.Prepare();
    state.ResumeTiming();
    s.Op();
    state.PauseTiming();
    s.Drain();
    state.ResumeTiming();
  }
  state.counters["per_event_ns"] =
      benchmark::Counter(static_cast<double>(state.iterations() * state.range(1)),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

template <typename Api>
void BM_OneReadyAmongN(benchmark::State& state) {
  OneReadyAmongN<Api> s(static_cast<int>(state.range(0)));
  for (auto _ : state) s.Op();
}

// poll() and select() over N kernel eventfds, one ready.
void BM_PollOneReadyAmongN(benchmark::State& state) {
  PollOneReadyAmongN s(static_cast<int>(state.range(0)));
  for (auto _ : state) s.Op();
}

void BM_SelectOneReadyAmongN(benchmark::State& state) {
  try {
    SelectOneReadyAmongN s(static_cast<int>(state.range(0)));
    for (auto _ : state) s.Op();
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

template <typename Api>
void BM_SleepingRoundTrip(benchmark::State& state) {
  const int busy = static_cast<int>(state.range(0));
  Percentiles p;
  for (auto _ : state) p = Summarize(EpollPingPong<Api>(2000, busy));
  state.counters["median_ns"] = p.median_ns;
  state.counters["p99_ns"] = p.p99_ns;
  state.counters["p999_ns"] = p.p999_ns;
}

void BM_FutexRoundTrip(benchmark::State& state) {
  Percentiles p;
  for (auto _ : state) p = Summarize(FutexPingPong(2000, state.range(0) != 0));
  state.counters["median_ns"] = p.median_ns;
  state.counters["p99_ns"] = p.p99_ns;
  state.counters["p999_ns"] = p.p999_ns;
}

void BM_SpinRoundTrip(benchmark::State& state) {
  Percentiles p;
  for (auto _ : state) p = Summarize(SpinPingPong(20000));
  state.counters["median_ns"] = p.median_ns;
  state.counters["p99_ns"] = p.p99_ns;
}

template <typename Api>
void BM_ProducersToLoop(benchmark::State& state) {
  double rate = 0;
  for (auto _ : state) rate = ProducersToLoop<Api>(static_cast<int>(state.range(0)), 100000);
  state.counters["events_per_s"] = rate;
}

int KernelFdHeadroom() {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  return static_cast<int>(rl.rlim_cur) - 64;
}

void Register() {
  auto both = [](const std::string& name, auto kernel_fn, auto uepoll_fn, auto&& configure) {
    configure(benchmark::RegisterBenchmark((name + "/kernel").c_str(), kernel_fn));
    configure(benchmark::RegisterBenchmark((name + "/uepoll").c_str(), uepoll_fn));
  };
  auto none = [](benchmark::internal::Benchmark*) {};
  both("EventfdWriteWaitRead", BM_EventfdWriteWaitRead<Kernel>, BM_EventfdWriteWaitRead<Uepoll>,
       [](auto* b) { b->ArgName("et")->Arg(0)->Arg(1); });
  benchmark::RegisterBenchmark("EventfdWriteWaitRead/uepoll_core", BM_EventfdCorePath)
      ->ArgName("et")
      ->Arg(0)
      ->Arg(1);
  both("PipeWriteWaitRead", BM_PairWriteWaitRead<Kernel, PairKind::kPipe>,
       BM_PairWriteWaitRead<Uepoll, PairKind::kPipe>,
       [](auto* b) { b->ArgName("et")->Arg(0)->Arg(1); });
  both("SocketpairWriteWaitRead", BM_PairWriteWaitRead<Kernel, PairKind::kSocketPair>,
       BM_PairWriteWaitRead<Uepoll, PairKind::kSocketPair>,
       [](auto* b) { b->ArgName("et")->Arg(0)->Arg(1); });
  both("WaitNothingReady", BM_WaitNothingReady<Kernel>, BM_WaitNothingReady<Uepoll>, none);
  both("MixedWait", BM_MixedWait<Kernel>, BM_MixedWait<Uepoll>,
       [](auto* b) { b->ArgNames({"eventfd_ready", "idle_sockets"})->Args({0, 1})->Args({1, 8}); });
  both("KernelEventfdCycle", BM_KernelEventfdCycle<Kernel>, BM_KernelEventfdCycle<Uepoll>, none);
  both("KernelEventfdPingPongOneCpu", BM_KernelEventfdPingPongOneCpu<Kernel>,
       BM_KernelEventfdPingPongOneCpu<Uepoll>,
       [](auto* b) { b->Iterations(5)->UseRealTime(); });
  both("Ctl", BM_Ctl<Kernel>, BM_Ctl<Uepoll>,
       [](auto* b) { b->ArgName("add_del=0,mod=1,oneshot_rearm=2")->DenseRange(0, 2); });
  both("CreateWatchClose", BM_CreateWatchClose<Kernel>, BM_CreateWatchClose<Uepoll>, none);
  both("CreateWatchCloseAmong", BM_CreateWatchCloseAmong<Kernel>,
       BM_CreateWatchCloseAmong<Uepoll>, [](auto* b) { b->ArgName("idle_threads")->Arg(1)->Arg(3); });
  both("Churn", BM_Churn<Kernel>, BM_Churn<Uepoll>,
       [](auto* b) { b->Iterations(1)->Unit(benchmark::kMillisecond); });
  const int headroom = KernelFdHeadroom();
  for (int n : {1000, 100000}) {
    for (int k : {1, 16, 256}) {
      if (n <= headroom) {
        benchmark::RegisterBenchmark("Batch/kernel", BM_Batch<Kernel>)->Args({n, k});
      }
      benchmark::RegisterBenchmark("Batch/uepoll", BM_Batch<Uepoll>)->Args({n, k});
    }
  }
  for (int n : {10, 100, 1000, 10000, 100000, 1000000}) {
    if (n <= headroom) {
      benchmark::RegisterBenchmark("OneReadyAmongN/kernel", BM_OneReadyAmongN<Kernel>)->Arg(n);
      benchmark::RegisterBenchmark("OneReadyAmongN/poll", BM_PollOneReadyAmongN)->Arg(n);
      if (n < FD_SETSIZE - 64) {
        benchmark::RegisterBenchmark("OneReadyAmongN/select", BM_SelectOneReadyAmongN)->Arg(n);
      }
    }
    benchmark::RegisterBenchmark("OneReadyAmongN/uepoll", BM_OneReadyAmongN<Uepoll>)->Arg(n);
  }
  both(
      "SleepingRoundTrip", BM_SleepingRoundTrip<Kernel>, BM_SleepingRoundTrip<Uepoll>,
      [](auto* b) { b->ArgName("busy_poll")->Arg(0)->Arg(1000000)->Iterations(3)->UseRealTime(); });
  benchmark::RegisterBenchmark("SleepingRoundTrip/futex", BM_FutexRoundTrip)
      ->ArgName("timed")
      ->Arg(0)
      ->Arg(1)
      ->Iterations(3)
      ->UseRealTime();
  benchmark::RegisterBenchmark("SleepingRoundTrip/spin", BM_SpinRoundTrip)
      ->Iterations(3)
      ->UseRealTime();
  both("ProducersToLoop", BM_ProducersToLoop<Kernel>, BM_ProducersToLoop<Uepoll>,
       [](auto* b) { b->Arg(1)->Arg(4)->Iterations(1)->UseRealTime(); });
}

}  // namespace
}  // namespace uep::bench

int main(int argc, char** argv) {
  uep::bench::Register();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
