// The benchmarks, registered once with Google Benchmark for the kernel and for uepoll; run
// by the suite (epoll_bench) and by `uepoll bench`, which prints them as one table.
//
// Names: "<Scenario>/<side>[/<arg>...]", side = kernel, uepoll, or a reference (poll,
// select, futex, spin): "EventfdWriteWaitRead/uepoll/et:1", "OneReadyAmongN/poll/1000".
// Counters: "events" = events harvested per iteration (the same on both sides when they
// agree); the latency benchmarks keep every sample (Samples()) for their percentiles.
#pragma once

#include <string>
#include <vector>

namespace uep::bench {

struct RegistryConfig {
  int round_trip_rounds = 2000;     // round trips timed per repetition
  int round_trip_repetitions = 3;   // repetitions of each round-trip benchmark
  int timer_samples = 300;          // one-shot timers per lateness repetition
  long producer_posts = 100000;     // posts per producer, ProducersToLoop
};

// Registers every benchmark. Call once, before benchmark::RunSpecifiedBenchmarks.
void RegisterBenchmarks(const RegistryConfig& config = {});

// The latency samples (ns) a benchmark took in all its repetitions so far, by name without
// the repetition suffixes ("SleepingRoundTrip/uepoll/busy_poll:0").
const std::vector<double>& Samples(const std::string& name);
void ClearSamples();

// Descriptors this process may still open (RLIMIT_NOFILE less a margin): the kernel's
// benchmarks over N descriptors are registered up to it.
int KernelFdHeadroom();

// The N of OneReadyAmongN (the idle-scaling curve): powers of ten to a million, and the
// descriptor limit when it falls between them.
std::vector<int> IdleScalingPoints();

}  // namespace uep::bench
