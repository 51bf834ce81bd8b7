// `uepoll bench` and `uepoll demo`: the kernel and uepoll side by side, from the Google
// Benchmark registration of bench/benchmarks.cc (the one the suite bench/epoll_bench runs).
// The command line is parsed in tools/uepoll.cc.
#pragma once

#include <string>

namespace uep::tool {

struct BenchOptions {
  bool quick = false;      // fast rows only, short batches, no plot
  bool guard = false;      // exit 1 if uepoll is slower than the kernel on a fast-path row
  bool no_svg = false;     // --no-svg
  bool svg_given = false;  // --svg was on the command line
  std::string svg = "uepoll-idle-scaling.svg";
  std::string filter;      // --filter REGEX: only the rows whose operation or benchmark matches
};

// `uepoll bench`. Returns the process exit status.
int BenchCommand(const BenchOptions& options);

// `uepoll demo`: a quick `bench` run (no plot) that also checks that both sides reported
// the same events. Returns the process exit status.
int DemoCommand(const BenchOptions& options);

}  // namespace uep::tool
