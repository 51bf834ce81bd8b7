// uepoll: the project's command.
//
//   uepoll [demo]          the side-by-side demonstration: a quick `uepoll bench` run that
//                          also checks that both sides harvested the same events
//   uepoll bench [...]     a representative subset of the benchmarks, one table, and an SVG
//                          plot of the idle-scaling curve (tools/bench_cmd.cc)
//   uepoll trace <...>     the path of events through uepoll (tools/trace_cmd.cc)
//   uepoll --help
//
// The scenarios are bench/scenarios.h and bench/threaded.h, written once as templates over
// the kernel and uepoll APIs (bench/apis.h) and shared with the Google Benchmark suite.
#include <cstdio>
#include <string>

#include "bench_cmd.h"

namespace {

void Usage(std::FILE* out) {
  std::fprintf(out,
               "usage: uepoll [demo]\n"
               "       uepoll bench [--quick] [--guard] [--svg FILE | --no-svg]\n"
               "       uepoll trace <scenario> [--html FILE]\n"
               "       uepoll trace [--html FILE] -- PROGRAM [ARGS]\n"
               "       uepoll --help\n"
               "\n"
               "uepoll is Linux epoll + eventfd rebuilt in user space with the kernel's\n"
               "semantics. This command shows it next to the kernel.\n"
               "\n"
               "commands:\n"
               "  demo     (the default) a quick side-by-side run: the same scenarios on the\n"
               "           kernel's epoll, eventfd, pipes and sockets and on uepoll's, ns/op and\n"
               "           ratio, and a check that both harvested the same events (a few seconds;\n"
               "           exit 1 if they disagreed)\n"
               "%s"
               "  trace    trace <scenario> [--html FILE]: show the path of events\n"
               "           through uepoll (uepoll trace --help lists the scenarios); with\n"
               "           -- PROGRAM: of a program run under libuepoll-preload.so\n"
               "\n"
               "options:\n"
               "  -h, --help   this text (uepoll <command> --help: that command's)\n",
               uep::tool::kBenchUsageSummary);
}

}  // namespace

int TraceMain(int argc, char** argv);  // tools/trace_cmd.cc

int main(int argc, char** argv) {
  if (argc == 1) return uep::tool::DemoCommand(argc, argv);
  const std::string cmd = argv[1];
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    Usage(stdout);
    return 0;
  }
  if (cmd == "demo") return uep::tool::DemoCommand(argc - 1, argv + 1);
  if (cmd == "bench") return uep::tool::BenchCommand(argc - 1, argv + 1);
  if (cmd == "trace") return TraceMain(argc - 1, argv + 1);  // tools/trace_cmd.cc
  std::fprintf(stderr, "uepoll: unknown command '%s'\n\n", argv[1]);
  Usage(stderr);
  return 2;
}
