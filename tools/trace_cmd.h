// `uepoll trace`: a built-in scenario or a program under the preload library, with
// uepoll's trace points on. The command line is parsed in tools/uepoll.cc.
#pragma once

#include <string>
#include <vector>

namespace uep::tool {

struct TraceOptions {
  std::string scenario;              // a built-in scenario, or empty with a program
  std::vector<std::string> program;  // what follows `--`: PROGRAM [ARGS]
  std::string html, svg, json;       // output files ("" = none)
  bool quiet = false;                // no text timeline
};

// Returns the process exit status (the program's, when one was run).
int TraceCommand(const TraceOptions& options);

// The built-in scenarios, for the command line's check and help.
std::vector<std::string> TraceScenarioNames();
std::string TraceScenarioList();

}  // namespace uep::tool
