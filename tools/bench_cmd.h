// `uepoll bench` and `uepoll demo`: the kernel and uepoll side by side, on the scenarios of
// bench/scenarios.h and bench/threaded.h (the same code the Google Benchmark suite runs).
#pragma once

namespace uep::tool {

// `uepoll bench [options]`; argv[0] is "bench". Returns the process exit status.
int BenchCommand(int argc, char** argv);

// `uepoll demo`: a quick `bench` run (no plot) that also checks that both sides reported
// the same events. Returns the process exit status.
int DemoCommand(int argc, char** argv);

// Appended to `uepoll --help`.
extern const char* const kBenchUsageSummary;

}  // namespace uep::tool
