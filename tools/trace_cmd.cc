// `uepoll trace <scenario> [--html FILE] [--svg FILE] [--json FILE]`: runs a built-in
// scenario with tracing on and shows the path of its events (issue 7).
#include <cstdio>
#include <cstring>
#include <string>

#include "trace_render.h"
#include "trace_scenarios.h"

namespace {

void TraceUsage(FILE* out) {
  std::fprintf(out,
               "usage: uepoll trace <scenario> [--html FILE] [--svg FILE] [--json FILE] [--quiet]\n"
               "\n"
               "Runs a built-in scenario with uepoll's trace points on, prints a timeline (one\n"
               "line per trace record: time, thread, lane, what happened) and optionally writes\n"
               "a self-contained HTML page or SVG picture with one lane per file, item,\n"
               "instance and thread, or the raw records as JSON lines.\n"
               "\nscenarios:\n");
  for (const std::string& name : uep::tracetool::ScenarioNames()) {
    std::fprintf(out, "  %-10s %s\n", name.c_str(), uep::tracetool::ScenarioTitle(name).c_str());
  }
  std::fprintf(out,
               "\n(Tracing an arbitrary program needs the preload library of issue 4, which does\n"
               "not exist yet.)\n");
}

bool WriteFile(const char* path, const std::string& text) {
  FILE* f = std::fopen(path, "we");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  return std::fclose(f) == 0 && ok;
}

}  // namespace

int TraceMain(int argc, char** argv) {
  std::string scenario;
  const char* html = nullptr;
  const char* svg = nullptr;
  const char* json = nullptr;
  bool quiet = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      TraceUsage(stdout);
      return 0;
    }
    if ((a == "--html" || a == "--svg" || a == "--json") && i + 1 < argc) {
      (a == "--html" ? html : a == "--svg" ? svg : json) = argv[++i];
    } else if (a == "--quiet") {
      quiet = true;
    } else if (scenario.empty() && a[0] != '-') {
      scenario = a;
    } else {
      std::fprintf(stderr, "uepoll trace: unexpected argument '%s'\n\n", a.c_str());
      TraceUsage(stderr);
      return 2;
    }
  }
  if (scenario.empty() || uep::tracetool::ScenarioTitle(scenario).empty()) {
    if (!scenario.empty()) std::fprintf(stderr, "uepoll trace: unknown scenario '%s'\n\n", scenario.c_str());
    TraceUsage(stderr);
    return 2;
  }
  uep::tracetool::ScenarioResult result;
  const bool ok = uep::tracetool::RunScenario(scenario, &result);
  const uep::tracetool::Model model = uep::tracetool::BuildModel(result.records);
  const std::string title = "uepoll trace " + scenario + ": " + result.title;
  if (!quiet) {
    std::printf("# %s\n# %zu records%s\n", title.c_str(), result.records.size(),
                result.dropped != 0 ? " (buffer full: some dropped)" : "");
    std::fputs(uep::tracetool::RenderText(model).c_str(), stdout);
  }
  int rc = ok ? 0 : 1;
  if (!ok) std::fprintf(stderr, "uepoll trace: scenario failed: %s\n", result.error.c_str());
  if (html != nullptr && !WriteFile(html, uep::tracetool::RenderHtml(model, title))) {
    std::fprintf(stderr, "uepoll trace: cannot write %s: %s\n", html, std::strerror(errno));
    rc = 1;
  }
  if (svg != nullptr && !WriteFile(svg, uep::tracetool::RenderSvg(model, title))) {
    std::fprintf(stderr, "uepoll trace: cannot write %s: %s\n", svg, std::strerror(errno));
    rc = 1;
  }
  if (json != nullptr) {
    FILE* f = std::fopen(json, "we");
    if (f == nullptr || uep::trace::Dump(f) != 0) rc = 1;
    if (f != nullptr) std::fclose(f);
  }
  return rc;
}
