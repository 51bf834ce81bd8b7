// Trace records as JSON lines, both ways: read back the lines uep_trace_dump() writes (the
// preload library's UEPOLL_TRACE_OUT files, for `uepoll trace -- <program>`), and write
// them (`uepoll trace --json`). One object per record, then {"dropped":N} if records were
// lost; addresses as "0x..." strings.
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

// The JSON lines of `records` (and of `dropped`, if not 0).
std::string TraceJson(const std::vector<trace::Record>& records, uint64_t dropped);

}  // namespace uep::tracetool
