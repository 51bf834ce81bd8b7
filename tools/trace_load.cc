#include "trace_load.h"

#include <cinttypes>
#include <cstdlib>
#include <fstream>

namespace uep::tracetool {
namespace {

// The text after "key": up to the next ',' or '}' (quotes removed); false if absent.
bool Field(const std::string& line, const char* key, std::string* value) {
  const std::string pat = std::string("\"") + key + "\":";
  const size_t at = line.find(pat);
  if (at == std::string::npos) return false;
  size_t begin = at + pat.size();
  size_t end = 0;
  if (begin < line.size() && line[begin] == '"') {
    ++begin;
    end = line.find('"', begin);
  } else {
    end = line.find_first_of(",}", begin);
  }
  if (end == std::string::npos) return false;
  *value = line.substr(begin, end - begin);
  return true;
}

bool Number(const std::string& line, const char* key, uint64_t* value) {
  std::string text;
  if (!Field(line, key, &text) || text.empty()) return false;
  char* end = nullptr;
  *value = std::strtoull(text.c_str(), &end, 0);  // "0x..." for addresses
  return end != nullptr && *end == '\0';
}

bool KindOf(const std::string& name, trace::Kind* kind) {
  for (uint16_t k = 0; k <= static_cast<uint16_t>(trace::Kind::kMark); ++k) {
    if (name == trace::KindName(static_cast<trace::Kind>(k))) {
      *kind = static_cast<trace::Kind>(k);
      return true;
    }
  }
  return false;
}

}  // namespace

bool LoadTrace(const std::string& path, LoadedTrace* out, std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = "cannot read " + path;
    return false;
  }
  std::string line;
  for (int lineno = 1; std::getline(in, line); ++lineno) {
    if (line.empty()) continue;
    if (uint64_t dropped = 0; line.find("\"dropped\"") != std::string::npos &&
                              Number(line, "dropped", &dropped)) {
      out->dropped = dropped;
      continue;
    }
    trace::Record r{};
    std::string kind;
    std::string tag;
    uint64_t seq = 0, ts = 0, tid = 0, a = 0, b = 0, c = 0, d = 0, x = 0, y = 0;
    if (!Number(line, "seq", &seq) || !Number(line, "ts_ns", &ts) || !Number(line, "tid", &tid) ||
        !Field(line, "kind", &kind) || !KindOf(kind, &r.kind) || !Number(line, "a", &a) ||
        !Number(line, "b", &b) || !Number(line, "c", &c) || !Number(line, "d", &d) ||
        !Number(line, "x", &x) || !Number(line, "y", &y) || !Field(line, "tag", &tag)) {
      *error = path + ":" + std::to_string(lineno) + ": not a trace record";
      return false;
    }
    r.seq = seq;
    r.ts_ns = ts;
    r.tid = static_cast<uint32_t>(tid);
    r.a = static_cast<uintptr_t>(a);
    r.b = static_cast<uintptr_t>(b);
    r.c = static_cast<uintptr_t>(c);
    r.d = static_cast<uintptr_t>(d);
    r.x = static_cast<uint32_t>(x);
    r.y = static_cast<uint32_t>(y);
    if (!tag.empty()) r.tag = out->tags.emplace_back(std::move(tag)).c_str();
    out->records.push_back(r);
  }
  return true;
}

}  // namespace uep::tracetool
