// Every scenario of scenarios.h and threaded.h registered for the kernel and for uepoll,
// plus poll()/select() and the futex/spin floors where they apply.
#include "benchmarks.h"

#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <sys/select.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "apis.h"
#include "scenarios.h"
#include "threaded.h"

namespace uep::bench {
namespace {

std::map<std::string, std::vector<double>>& SamplePool() {
  static std::map<std::string, std::vector<double>> pool;
  return pool;
}

// One scenario object per run; Op() timed. Scenarios with untimed Prepare()/Drain() time
// each Op() themselves (the benchmark is registered with UseManualTime()).
template <class S, class... Args>
void RunScenario(benchmark::State& state, Args... args) {
  try {
    S s(args...);
    if constexpr (requires { s.Prepare(); }) {
      for (auto _ : state) {
        s.Prepare();
        const auto t0 = Clock::now();
        s.Op();
        state.SetIterationTime(std::chrono::duration<double>(Clock::now() - t0).count());
        s.Drain();
      }
    } else {
      for (auto _ : state) s.Op();
    }
    if constexpr (requires { s.harvested(); }) {
      state.counters["events"] = benchmark::Counter(static_cast<double>(s.harvested()),
                                                    benchmark::Counter::kAvgIterations);
    }
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

// A benchmark that measures itself: one iteration, its samples kept under `name`, their
// median / p99 / p99.9 as counters.
template <class Measure>
void RunSampled(benchmark::State& state, const std::string& name, Measure measure) {
  std::vector<double> samples;
  try {
    for (auto _ : state) samples = measure();
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  std::vector<double>& pool = SamplePool()[name];
  pool.insert(pool.end(), samples.begin(), samples.end());
  const Percentiles p = Summarize(samples);
  state.counters["median_ns"] = p.median_ns;
  state.counters["p99_ns"] = p.p99_ns;
  state.counters["p999_ns"] = p.p999_ns;
}

template <typename Api>
void BM_Churn(benchmark::State& state) {
  ChurnResult r;
  for (auto _ : state) r = Churn<Api>(10000, 10, 1);
  constexpr double kMb = 1 << 20;
  state.counters["ns_per_item"] = r.ns_per_item;
  state.counters["rss_start_mb"] = r.start.rss / kMb;
  state.counters["rss_peak_mb"] = r.peak.rss / kMb;
  state.counters["rss_end_mb"] = r.end.rss / kMb;
  state.counters["heap_start_mb"] = r.start.heap / kMb;
  state.counters["heap_peak_mb"] = r.peak.heap / kMb;
  state.counters["heap_end_mb"] = r.end.heap / kMb;
}

template <typename Api>
void BM_ProducersToLoop(benchmark::State& state, int producers, long posts) {
  double rate = 0;
  for (auto _ : state) rate = ProducersToLoop<Api>(producers, posts);
  state.counters["events_per_s"] = rate;
}

// /proc/meminfo "Slab:" in bytes (system-wide: other processes add noise).
double SlabBytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  std::string unit;
  double kb = 0;
  while (in >> key >> kb >> unit) {
    if (key == "Slab:") return kb * 1024;
  }
  return 0;
}

// Object size of one slab cache from /proc/slabinfo (root only), or 0.
double SlabObjectSize(const std::string& cache) {
  std::ifstream in("/proc/slabinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string name;
    double active = 0, num = 0, objsize = 0;
    if (ls >> name >> active >> num >> objsize && name == cache) return objsize;
  }
  return 0;
}

// uepoll's memory: heap (mallinfo2) deltas over 100,000 eventfds, items and instances.
void BM_MemoryUepoll(benchmark::State& state) {
  constexpr int kN = 100000;
  for (auto _ : state) {
    std::vector<int> fds(kN);
    const double h0 = MemoryNow().heap;
    for (int& fd : fds) fd = Uepoll::EventFd(0, EFD_NONBLOCK);
    const double h1 = MemoryNow().heap;
    const int ep = Uepoll::EpollCreate();
    const double h2 = MemoryNow().heap;
    for (int fd : fds) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      Uepoll::Ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    const double h3 = MemoryNow().heap;
    Uepoll::Close(ep);
    for (int fd : fds) Uepoll::Close(fd);
    std::vector<int> eps(kN);
    const double h4 = MemoryNow().heap;
    for (int& e : eps) e = Uepoll::EpollCreate();
    const double h5 = MemoryNow().heap;
    for (int e : eps) Uepoll::Close(e);
    state.counters["eventfd_bytes"] = (h1 - h0) / kN;
    state.counters["item_bytes"] = (h3 - h2) / kN;
    state.counters["instance_bytes"] = (h5 - h4) / kN;
  }
}

// The kernel's: /proc/meminfo Slab deltas; items = eventfds x 10 instances within
// RLIMIT_NOFILE.
void BM_MemoryKernel(benchmark::State& state) {
  for (auto _ : state) {
    const int headroom = KernelFdHeadroom();
    const int instances = 10;
    const int files = std::max(1, (headroom - instances) / 2);
    // Instances first, on a quiet slab: closing the items below frees their memory later
    // (RCU), which would be counted against the instances.
    std::vector<int> eps;
    const int more = std::max(1, headroom - 16);
    const double s0 = SlabBytes();
    for (int i = 0; i < more; ++i) eps.push_back(::epoll_create1(0));
    const double s1 = SlabBytes();
    for (int ep : eps) ::close(ep);
    eps.clear();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let the frees (RCU) land
    std::vector<int> fds;
    for (int i = 0; i < files; ++i) fds.push_back(::eventfd(0, EFD_NONBLOCK));
    for (int i = 0; i < instances; ++i) eps.push_back(::epoll_create1(0));
    const double s2 = SlabBytes();
    for (int ep : eps) {
      for (int fd : fds) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
      }
    }
    const double s3 = SlabBytes();
    for (int ep : eps) ::close(ep);
    for (int fd : fds) ::close(fd);
    state.counters["instance_bytes"] = (s1 - s0) / more;
    state.counters["instances"] = more;
    state.counters["item_bytes"] = (s3 - s2) / (files * instances);
    state.counters["items"] = files * instances;
    state.counters["slab_epitem_bytes"] = SlabObjectSize("eventpoll_epi");
  }
}

using Bench = benchmark::internal::Benchmark;

// The fastest repetition: on a shared machine the slower ones measure the other tenants.
Bench* WithMin(Bench* b) {
  return b->ComputeStatistics("min", [](const std::vector<double>& v) {
    return *std::min_element(v.begin(), v.end());
  });
}

// Scenario S on one side, as "<scenario>/<side><args>".
template <class S, class... Args>
Bench* One(const std::string& scenario, const char* side, const std::string& args,
           Args... a) {
  return WithMin(benchmark::RegisterBenchmark((scenario + "/" + side + args).c_str(),
                                              [=](benchmark::State& st) {
                                                RunScenario<S>(st, a...);
                                              }));
}

// Scenario S<Kernel> and S<Uepoll>.
template <template <class> class S, class... Args>
void Both(const std::string& scenario, const std::string& args, Args... a) {
  One<S<Kernel>>(scenario, Kernel::kName, args, a...);
  One<S<Uepoll>>(scenario, Uepoll::kName, args, a...);
}

// A kernel eventfd in the API's instance: write + wait(0) + read, all three on the kernel
// eventfd (on uepoll: a kernel descriptor in the hidden instance, asked at every harvest
// since each finds it ready).
template <typename Api>
class KernelEventfdCycle {
 public:
  KernelEventfdCycle() : ep_(Api::EpollCreate()), fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    Check(Api::Ctl(ep_, EPOLL_CTL_ADD, fd_, &ev) == 0, "ctl add");
  }
  ~KernelEventfdCycle() {
    ::close(fd_);
    Api::Close(ep_);
  }
  void Op() {
    const uint64_t one = 1;
    uint64_t value = 0;
    Check(::write(fd_, &one, sizeof one) == sizeof one, "write");
    epoll_event out[4];
    harvested_ += Api::Wait(ep_, out, 4, 0);
    Check(::read(fd_, &value, sizeof value) == sizeof value, "read");
  }
  [[nodiscard]] int64_t harvested() const { return harvested_; }

 private:
  int ep_;
  int fd_;
  int64_t harvested_ = 0;
};

template <class Measure>
void Sampled(const std::string& name, int repetitions, Measure measure) {
  benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& st) {
    RunSampled(st, name, measure);
  })
      ->Iterations(1)
      ->Repetitions(repetitions)
      ->UseRealTime();
}

}  // namespace

const std::vector<double>& Samples(const std::string& name) { return SamplePool()[name]; }

void ClearSamples() { SamplePool().clear(); }

std::vector<int> IdleScalingPoints() {
  std::vector<int> ns = {10, 100, 1000, 10000, 100000, 1000000};
  const int headroom = KernelFdHeadroom();
  if (headroom > 10000 && std::find(ns.begin(), ns.end(), headroom) == ns.end()) {
    ns.push_back(headroom);
  }
  std::sort(ns.begin(), ns.end());
  return ns;
}

int KernelFdHeadroom() {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  return static_cast<int>(std::min<rlim_t>(rl.rlim_cur, 1 << 20)) - 64;
}

void RegisterBenchmarks(const RegistryConfig& c) {
  for (int et : {0, 1}) {
    const std::string arg = "/et:" + std::to_string(et);
    Both<EventfdRoundTrip>("EventfdWriteWaitRead", arg, et != 0);
    Both<PairRoundTrip>("PipeWriteWaitRead", arg, PairKind::kPipe, et != 0);
    Both<PairRoundTrip>("SocketpairWriteWaitRead", arg, PairKind::kSocketPair, et != 0);
  }
  Both<WaitNothingReady>("WaitNothingReady", "");
  // Mixed instances (kernel sockets with a uepoll eventfd): nothing ready with one idle
  // socket (compare WaitNothingReady/uepoll, a pure instance), and the eventfd ready among
  // 8 idle sockets.
  Both<MixedWait>("MixedWait", "/eventfd_ready:0/idle_sockets:1", false, 1);
  Both<MixedWait>("MixedWait", "/eventfd_ready:1/idle_sockets:8", true, 8);
  Both<KernelEventfdCycle>("KernelEventfdCycle", "");
  const char* const ctl[] = {"add_del", "mod", "oneshot_rearm"};
  for (int k = 0; k < 3; ++k) Both<CtlOps>("Ctl", std::string("/") + ctl[k], static_cast<CtlKind>(k));
  Both<CreateWatchClose>("CreateWatchClose", "");
  for (int others : {1, 3}) {
    Both<CreateWatchCloseAmong>("CreateWatchCloseAmong", "/idle_threads:" + std::to_string(others),
                                others);
  }
  // N watched, K ready, one wait: the wait alone is timed.
  const int headroom = KernelFdHeadroom();
  for (int n : {1000, 10000, 100000}) {
    for (int k : {1, 16, 256}) {
      const std::string arg = "/" + std::to_string(n) + "/" + std::to_string(k);
      if (n <= headroom) One<Batch<Kernel>>("Batch", Kernel::kName, arg, n, k)->UseManualTime();
      One<Batch<Uepoll>>("Batch", Uepoll::kName, arg, n, k)->UseManualTime();
    }
  }
  // The idle-scaling curve: one ready among N; the kernel's up to the descriptor limit
  // (a point of its own), select() below FD_SETSIZE.
  for (int n : IdleScalingPoints()) {
    const std::string arg = "/" + std::to_string(n);
    if (n <= headroom) {
      One<OneReadyAmongN<Kernel>>("OneReadyAmongN", Kernel::kName, arg, n);
      One<PollOneReadyAmongN>("OneReadyAmongN", "poll", arg, n);
      if (n < FD_SETSIZE - 64) One<SelectOneReadyAmongN>("OneReadyAmongN", "select", arg, n);
    }
    Bench* u = One<OneReadyAmongN<Uepoll>>("OneReadyAmongN", Uepoll::kName, arg, n);
    // Setting up a million descriptors takes a second: a fixed count, no search for it.
    if (n >= 100000) u->Iterations(200000)->Repetitions(3);
  }
  // Sleeping round trips (wait(-1) on both threads) and their floors, the sides taking
  // turns in repetitions; busy-poll 64 was the old default. Spinning hand-offs (busy-poll
  // 1e6, the spin floor) sleep in neither case: one run each, as long as all the others.
  const int reps = c.round_trip_repetitions;
  const int rounds = c.round_trip_rounds;
  const int spins = rounds * reps;
  Sampled("SleepingRoundTrip/kernel/busy_poll:0", reps,
          [=] { return EpollPingPong<Kernel>(rounds, {}); });
  for (int busy : {0, 64}) {
    Sampled("SleepingRoundTrip/uepoll/busy_poll:" + std::to_string(busy), reps,
            [=] { return EpollPingPong<Uepoll>(rounds, {.busy_poll_rounds = busy}); });
  }
  Sampled("SleepingRoundTrip/uepoll/busy_poll:1000000", 1,
          [=] { return EpollPingPong<Uepoll>(spins, {.busy_poll_rounds = 1000000}); });
  // Kernel eventfds in the instance, both threads on one CPU.
  Sampled("KernelEventfdPingPongOneCpu/kernel", reps, [=] {
    return EpollPingPong<Kernel>(rounds, {.kernel_eventfds = true, .one_cpu = true});
  });
  Sampled("KernelEventfdPingPongOneCpu/uepoll", reps, [=] {
    return EpollPingPong<Uepoll>(rounds, {.kernel_eventfds = true, .one_cpu = true});
  });
  for (int timed : {0, 1}) {
    Sampled("SleepingRoundTrip/futex/timed:" + std::to_string(timed), reps,
            [=] { return FutexPingPong(rounds, timed != 0); });
  }
  Sampled("SleepingRoundTrip/spin", 1, [=] { return SpinPingPong(spins); });
  // Timer lateness idle, then with a thread spinning (the other CPU busy, as a loaded
  // server's would be).
  for (int hogs : {0, 1}) {
    const std::string arg = "/delay_us:100/hogs:" + std::to_string(hogs);
    Sampled("TimerLateness/kernel" + arg, reps, [=] {
      CpuHog hog(hogs);
      return TimerLateness<Kernel>(c.timer_samples, 100000);
    });
    Sampled("TimerLateness/uepoll" + arg, reps, [=] {
      CpuHog hog(hogs);
      return TimerLateness<Uepoll>(c.timer_samples, 100000);
    });
  }
  for (int p : {1, 4}) {
    const std::string arg = "/producers:" + std::to_string(p);
    benchmark::RegisterBenchmark(("ProducersToLoop/kernel" + arg).c_str(),
                                 BM_ProducersToLoop<Kernel>, p, c.producer_posts)
        ->Iterations(1)
        ->Repetitions(1)
        ->UseRealTime();
    benchmark::RegisterBenchmark(("ProducersToLoop/uepoll" + arg).c_str(),
                                 BM_ProducersToLoop<Uepoll>, p, c.producer_posts)
        ->Iterations(1)
        ->Repetitions(1)
        ->UseRealTime();
  }
  benchmark::RegisterBenchmark("Churn/kernel", BM_Churn<Kernel>)
      ->Iterations(1)
      ->Repetitions(1)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("Churn/uepoll", BM_Churn<Uepoll>)
      ->Iterations(1)
      ->Repetitions(1)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("Memory/kernel", BM_MemoryKernel)->Iterations(1)->Repetitions(1);
  benchmark::RegisterBenchmark("Memory/uepoll", BM_MemoryUepoll)->Iterations(1)->Repetitions(1);
}

}  // namespace uep::bench
