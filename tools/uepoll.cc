// uepoll: the project's command.
//
//   uepoll [demo]          the side-by-side demonstration: a quick `uepoll bench` run that
//                          also checks that both sides harvested the same events
//   uepoll bench [...]     a representative subset of the benchmarks (Google Benchmark, the
//                          registration bench/epoll_bench runs), one table, and an SVG plot
//                          of the idle-scaling curve (tools/bench_cmd.cc)
//   uepoll trace [...]     the path of events through uepoll (tools/trace_cmd.cc)
//
// The command line is declared here, in one place, with CLI11; the commands take the
// parsed options. The benchmarks are bench/benchmarks.cc's, registered once with Google
// Benchmark over the scenarios of bench/ (templates over the kernel and uepoll APIs).
#include <CLI/CLI.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "bench_cmd.h"
#include "trace_cmd.h"

namespace {

void AddBenchOptions(CLI::App* cmd, uep::tool::BenchOptions* o, bool demo) {
  cmd->add_flag("--guard", o->guard,
                "exit 1 if uepoll is slower than the kernel (ratio < 1) on a fast-path row "
                "(eventfd round trip, wait(0), ctl MOD), after two re-measurements; never "
                "checks absolute times (the ctest 'bench' test); skips the two-thread rows");
  if (demo) return;
  cmd->add_flag("--quick", o->quick, "only the fast-path rows and the round trips, fewer repetitions, no plot");
  CLI::Option* svg = cmd->add_option("--svg", o->svg,
                                     "where to write the idle-scaling plot (full runs only "
                                     "unless given)")
                         ->capture_default_str();
  cmd->add_flag("--no-svg", o->no_svg, "do not write the plot")->excludes(svg);
  cmd->add_option("--filter", o->filter,
                  "only the rows whose operation or benchmark name matches this regular "
                  "expression (benchmark names as bench/epoll_bench lists them)");
  cmd->callback([o, svg] { o->svg_given = svg->count() != 0; });
}

}  // namespace

int main(int argc, char** argv) {
  // `uepoll trace [options] -- PROGRAM [ARGS]`: the program's own arguments are not ours.
  std::vector<std::string> program;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--") == 0) {
      program.assign(argv + i + 1, argv + argc);
      argc = i;
      break;
    }
  }

  CLI::App app{
      "uepoll is Linux epoll, eventfd, pipes, unix socket pairs and timerfd rebuilt in user\n"
      "space with the kernel's semantics. This command shows it next to the kernel.",
      "uepoll"};
  app.set_version_flag("--version", std::string("uepoll ") + UEPOLL_VERSION);
  app.require_subcommand(0, 1);
  app.footer("Without a command: `uepoll demo`. `uepoll COMMAND --help` describes a command.");

  uep::tool::BenchOptions demo_options;
  CLI::App* demo = app.add_subcommand("demo", "(the default) a quick side-by-side run");
  demo->footer(
      "The same scenarios on the kernel's epoll, eventfd, pipes and sockets and on uepoll's:\n"
      "ns/op and ratio, and a check that both harvested the same events (a few seconds;\n"
      "exit 1 if they disagreed).");
  AddBenchOptions(demo, &demo_options, true);

  uep::tool::BenchOptions bench_options;
  CLI::App* bench = app.add_subcommand("bench", "the benchmarks, kernel and uepoll in one table");
  bench->footer(
      "Runs a representative subset of the benchmarks (half a minute or more; --quick:\n"
      "seconds) on the kernel and on uepoll and prints one table. Times are the fastest of\n"
      "repetitions (Google Benchmark, interleaved in random order); ratio = how many times\n"
      "better uepoll is; target = the goal set for that row (met or MISSED). Compare ratios\n"
      "within one run. A full run writes an SVG plot of the idle-scaling curve (kernel\n"
      "epoll, uepoll, poll, select against the number of watched descriptors).");
  AddBenchOptions(bench, &bench_options, false);

  uep::tool::TraceOptions trace_options;
  CLI::App* trace = app.add_subcommand("trace", "show the path of events through uepoll");
  trace->add_option("scenario", trace_options.scenario, "one of: " + uep::tool::TraceScenarioList())
      ->check(CLI::IsMember(uep::tool::TraceScenarioNames()));
  trace->add_option("--html", trace_options.html, "write a self-contained HTML page");
  trace->add_option("--svg", trace_options.svg, "write an SVG picture");
  trace->add_option("--json", trace_options.json, "write the records as JSON lines");
  trace->add_flag("--quiet", trace_options.quiet, "no timeline on the terminal");
  trace->footer(
      "       uepoll trace [OPTIONS] -- PROGRAM [ARGS]\n\n"
      "Runs a built-in scenario, or a dynamically linked program under libuepoll-preload.so,\n"
      "with uepoll's trace points on; prints a timeline (time, thread, lane, what happened)\n"
      "and optionally writes an HTML page or SVG picture with one lane per file, item,\n"
      "instance and thread, or the raw records as JSON lines. With a program, the exit\n"
      "status is the program's. The library is $UEPOLL_PRELOAD_LIB, else the one built or\n"
      "installed with this tool; UEPOLL_PRELOAD chooses the kinds of descriptor it serves.");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help exits 0; a usage error 2, as most commands do (CLI11's own codes are >100).
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (!program.empty() && !trace->parsed()) {
    std::fputs("uepoll: `-- PROGRAM` belongs to `uepoll trace`\n", stderr);
    return 2;
  }
  if (*bench) return uep::tool::BenchCommand(bench_options);
  if (*trace) {
    trace_options.program = std::move(program);
    return uep::tool::TraceCommand(trace_options);
  }
  return uep::tool::DemoCommand(demo_options);
}
