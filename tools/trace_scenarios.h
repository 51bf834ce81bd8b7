// Built-in scenarios of `uepoll trace`: each runs a short program on uepoll with tracing on
// and returns the records. Shared by the command (tools/trace_cmd.cc) and the tests.
#pragma once

#include <string>
#include <vector>

#include "trace/record.h"

namespace uep::tracetool {

struct ScenarioResult {
  std::string name;
  std::string title;     // one line: what the scenario shows
  std::vector<trace::Record> records;
  uint64_t dropped = 0;
  std::string error;     // non-empty if a call failed
};

// lt-vs-et, oneshot, exclusive, nested, pipe-hup.
const std::vector<std::string>& ScenarioNames();
std::string ScenarioTitle(const std::string& name);

// Runs the scenario with tracing on (capacity records). False if the name is unknown or a
// call failed (result->error says which).
bool RunScenario(const std::string& name, ScenarioResult* result, size_t capacity = 1 << 14);

}  // namespace uep::tracetool
