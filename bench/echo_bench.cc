// The TCP echo server of echo.h as Google Benchmark rows, EchoServer/kernel and
// EchoServer/uepoll, one bounded run per repetition. Unless told otherwise, 5 repetitions
// with the rows interleaved at random (--benchmark_enable_random_interleaving), and a
// summary at the end: the medians of each side and their uepoll/kernel ratios.
//   echo_bench [--connections=N] [--seconds=S] [--wake_period_us=U] [--payload=BYTES]
//              [--no_pin] [Google Benchmark flags]
// By default the loop runs on one CPU, the load generator and the waker on another.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <string>
#include <vector>

#include "apis.h"
#include "echo.h"

namespace uep::bench {
namespace {

EchoConfig g_config;

template <typename Api>
void BM_EchoServer(benchmark::State& state) {
  EchoResult r;
  try {
    for (auto _ : state) r = EchoRun<Api>(g_config);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  if (r.mismatches != 0 || r.requests == 0) {
    state.SkipWithError("echoed bytes differ from the request's (or no reply)");
    return;
  }
  state.counters["req_per_s"] = r.RequestsPerSecond();
  state.counters["server_cpu_ns_per_req"] = r.ServerCpuPerRequestNs();
  state.counters["process_cpu_ns_per_req"] = r.ProcessCpuPerRequestNs();
  state.counters["p50_us"] = r.p50_us;
  state.counters["p99_us"] = r.p99_us;
  state.counters["wakeups_per_s"] = static_cast<double>(r.wakeups_posted) / r.seconds;
  state.counters["wakeups_seen"] = static_cast<double>(r.wakeups_seen);
}

// The console output, plus every repetition's counters kept for the summary.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.run_type != Run::RT_Iteration || run.error_occurred) continue;
      for (const auto& [name, counter] : run.counters) {
        samples_[run.run_name.function_name][name].push_back(counter.value);
      }
    }
  }

  void PrintSummary() const {
    const auto k = samples_.find("EchoServer/kernel");
    const auto u = samples_.find("EchoServer/uepoll");
    if (k == samples_.end() || u == samples_.end()) return;
    std::printf("\nmedians of %zu kernel and %zu uepoll runs (%d connections, %g s each, a wake-up "
                "asked every %d us, %s)\n",
                k->second.at("req_per_s").size(), u->second.at("req_per_s").size(),
                g_config.connections, g_config.seconds, g_config.wake_period_us,
                g_config.pin ? "pinned" : "not pinned");
    std::printf("%-26s %14s %14s %10s  %s\n", "", "kernel", "uepoll", "uep/kern", "target");
    const struct {
      const char* counter;
      const char* label;
      const char* target;
    } rows[] = {
        {"req_per_s", "requests/s", ">= 1.0"},
        {"server_cpu_ns_per_req", "loop CPU ns/request", "< 1.0"},
        {"process_cpu_ns_per_req", "process CPU ns/request", ""},
        {"p50_us", "p50 latency us", ""},
        {"p99_us", "p99 latency us", "<= 1.0"},
        {"wakeups_per_s", "eventfd posts/s", ""},
    };
    for (const auto& row : rows) {
      const double kv = Median(k->second.at(row.counter));
      const double uv = Median(u->second.at(row.counter));
      std::printf("%-26s %14.1f %14.1f %10.3f  %s\n", row.label, kv, uv, uv / kv, row.target);
    }
  }

 private:
  static double Median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
  }
  std::map<std::string, std::map<std::string, std::vector<double>>> samples_;
};

// Takes this program's own flags out of argv.
void ParseOwnFlags(int* argc, char** argv) {
  int out = 1;
  for (int i = 1; i < *argc; ++i) {
    const char* a = argv[i];
    auto value = [&](const char* name) -> const char* {
      const size_t len = std::strlen(name);
      return std::strncmp(a, name, len) == 0 ? a + len : nullptr;
    };
    if (const char* v = value("--connections=")) {
      g_config.connections = std::atoi(v);
    } else if (const char* v2 = value("--seconds=")) {
      g_config.seconds = std::atof(v2);
    } else if (const char* v3 = value("--wake_period_us=")) {
      g_config.wake_period_us = std::atoi(v3);
    } else if (const char* v4 = value("--payload=")) {
      g_config.payload = std::atoi(v4);
    } else if (std::strcmp(a, "--no_pin") == 0) {
      g_config.pin = false;
    } else {
      argv[out++] = argv[i];
    }
  }
  *argc = out;
}

}  // namespace
}  // namespace uep::bench

int main(int argc, char** argv) {
  using namespace uep::bench;
  ParseOwnFlags(&argc, argv);
  // Defaults: 5 repetitions, interleaved; flags given on the command line come later and win.
  std::vector<char*> args(argv, argv + argc);
  static char reps[] = "--benchmark_repetitions=5";
  static char interleave[] = "--benchmark_enable_random_interleaving=true";
  args.insert(args.begin() + 1, {reps, interleave});
  int n = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::RegisterBenchmark("EchoServer/kernel", BM_EchoServer<Kernel>)
      ->Iterations(1)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("EchoServer/uepoll", BM_EchoServer<Uepoll>)
      ->Iterations(1)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintSummary();
  benchmark::Shutdown();
  return 0;
}
