// Reads trace records back from the JSON lines uep_trace_dump() writes (the preload
// library's UEPOLL_TRACE_OUT files), for `uepoll trace -- <program>`.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "trace/record.h"

namespace uep::tracetool {

struct LoadedTrace {
  std::vector<trace::Record> records;
  uint64_t dropped = 0;
  std::deque<std::string> tags;  // the records' tag pointers point here
};

// Returns false with *error set on a file that cannot be read or a malformed line.
bool LoadTrace(const std::string& path, LoadedTrace* out, std::string* error);

}  // namespace uep::tracetool
