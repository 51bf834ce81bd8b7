#include "trace_load.h"

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

namespace uep::tracetool {
namespace {

using nlohmann::json;

std::string Hex(uintptr_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// An unsigned number, or an address written as a "0x..." string.
bool Number(const json& j, const char* key, uint64_t* value) {
  const auto it = j.find(key);
  if (it == j.end()) return false;
  if (it->is_number_unsigned()) {
    *value = it->get<uint64_t>();
    return true;
  }
  if (!it->is_string()) return false;
  const std::string& text = it->get_ref<const std::string&>();
  char* end = nullptr;
  *value = std::strtoull(text.c_str(), &end, 0);
  return !text.empty() && end != nullptr && *end == '\0';
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
    const json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (uint64_t dropped = 0; j.is_object() && j.size() == 1 && Number(j, "dropped", &dropped)) {
      out->dropped = dropped;
      continue;
    }
    trace::Record r{};
    uint64_t seq = 0, ts = 0, tid = 0, a = 0, b = 0, c = 0, d = 0, x = 0, y = 0;
    const auto kind = j.is_object() ? j.find("kind") : j.end();
    const auto tag = j.is_object() ? j.find("tag") : j.end();
    if (!j.is_object() || !Number(j, "seq", &seq) || !Number(j, "ts_ns", &ts) ||
        !Number(j, "tid", &tid) || kind == j.end() || !kind->is_string() ||
        !KindOf(kind->get<std::string>(), &r.kind) || !Number(j, "a", &a) ||
        !Number(j, "b", &b) || !Number(j, "c", &c) || !Number(j, "d", &d) ||
        !Number(j, "x", &x) || !Number(j, "y", &y) || tag == j.end() || !tag->is_string()) {
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
    if (std::string text = tag->get<std::string>(); !text.empty()) {
      r.tag = out->tags.emplace_back(std::move(text)).c_str();
    }
    out->records.push_back(r);
  }
  return true;
}

std::string TraceJson(const std::vector<trace::Record>& records, uint64_t dropped) {
  std::string out;
  for (const trace::Record& r : records) {
    // ordered_json: the keys in the order uep_trace_dump() writes them.
    const nlohmann::ordered_json j = {
        {"seq", r.seq}, {"ts_ns", r.ts_ns}, {"tid", r.tid}, {"kind", trace::KindName(r.kind)},
        {"a", Hex(r.a)}, {"b", Hex(r.b)},   {"c", Hex(r.c)}, {"d", Hex(r.d)},
        {"x", r.x},     {"y", r.y},         {"tag", r.tag != nullptr ? r.tag : ""}};
    // A tag that is not UTF-8 (a thread's name cut mid-character) is written with U+FFFD.
    out += j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
  }
  if (dropped != 0) out += json{{"dropped", dropped}}.dump() + "\n";
  return out;
}

}  // namespace uep::tracetool
