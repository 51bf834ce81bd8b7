// `uepoll trace <scenario> [--html FILE] [--svg FILE] [--json FILE]`: runs a built-in
// scenario with tracing on and shows the path of its events.
// `uepoll trace [options] -- <program> [args]`: runs a dynamically linked program under
// the preload library (src/preload) with UEPOLL_TRACE_OUT set, and shows its trace.
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "trace_cmd.h"
#include "trace_load.h"
#include "trace_render.h"
#include "trace_scenarios.h"

namespace {

// The preload library: $UEPOLL_PRELOAD_LIB, else the one installed next to this command
// (bin/../lib, wherever the tree was installed or moved), else the build tree's, else the
// configured install path.
std::string PreloadLibrary() {
  if (const char* env = std::getenv("UEPOLL_PRELOAD_LIB"); env != nullptr && *env != '\0') return env;
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    std::string path(exe, static_cast<size_t>(n));
    path = path.substr(0, path.rfind('/') + 1) + UEPOLL_PRELOAD_FROM_BINDIR;
    if (access(path.c_str(), R_OK) == 0) return path;
  }
  for (const char* path : {UEPOLL_PRELOAD_BUILD_PATH, UEPOLL_PRELOAD_INSTALL_PATH}) {
    if (access(path, R_OK) == 0) return path;
  }
  return "";
}

// Each line prefixed with "# ".
std::string Commented(const std::string& text) {
  std::string out;
  size_t at = 0;
  while (at < text.size()) {
    const size_t end = text.find('\n', at);
    out += "# " + text.substr(at, end - at) + "\n";
    at = end == std::string::npos ? text.size() : end + 1;
  }
  return out;
}

// "1 record", "2 records".
std::string Count(size_t n, const char* noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

void RemoveDir(const std::string& dir) {
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
        unlink((dir + "/" + e->d_name).c_str());
      }
    }
    closedir(d);
  }
  rmdir(dir.c_str());
}

// The trace of a process the program forked (each process writes its own at exit).
struct ChildTrace {
  long pid = 0;
  uep::tracetool::LoadedTrace trace;
};

// Loads the traces in `dir` of every process but `pid`, in pid order.
std::vector<ChildTrace> LoadChildTraces(const std::string& dir, pid_t pid) {
  std::vector<ChildTrace> children;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      char* end = nullptr;
      if (std::strncmp(e->d_name, "trace.", 6) != 0) continue;
      const long child = std::strtol(e->d_name + 6, &end, 10);
      if (*end != '\0' || child == pid) continue;
      ChildTrace c;
      c.pid = child;
      std::string error;
      if (uep::tracetool::LoadTrace(dir + "/" + e->d_name, &c.trace, &error)) {
        children.push_back(std::move(c));
      }
    }
    closedir(d);
  }
  std::sort(children.begin(), children.end(),
            [](const ChildTrace& a, const ChildTrace& b) { return a.pid < b.pid; });
  return children;
}

// Runs argv under the preload library with tracing on; fills `trace` from the trace of
// the process it started. Returns the program's exit status (128 + signal), or -1.
int RunTraced(char** argv, uep::tracetool::LoadedTrace* trace, std::vector<ChildTrace>* children,
              std::string* lib_used) {
  const std::string lib = PreloadLibrary();
  *lib_used = lib;
  if (lib.empty()) {
    std::fprintf(stderr, "uepoll trace: libuepoll-preload.so not found (set UEPOLL_PRELOAD_LIB)\n");
    return -1;
  }
  char dir_template[] = "/tmp/uepoll-trace-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) {
    std::fprintf(stderr, "uepoll trace: mkdtemp: %s\n", std::strerror(errno));
    return -1;
  }
  const std::string dir = dir_template;
  // Run as root, a server's workers drop to another user (nginx: nobody) before they write
  // their traces: let any user add a file, none list or remove another's.
  if (geteuid() == 0) chmod(dir_template, 01733);
  const pid_t pid = fork();
  if (pid < 0) {
    std::fprintf(stderr, "uepoll trace: fork: %s\n", std::strerror(errno));
    RemoveDir(dir);
    return -1;
  }
  if (pid == 0) {
    std::string preload = lib;
    if (const char* old = std::getenv("LD_PRELOAD"); old != nullptr && *old != '\0') {
      preload += std::string(":") + old;
    }
    setenv("LD_PRELOAD", preload.c_str(), 1);
    setenv("UEPOLL_TRACE_OUT", (dir + "/trace").c_str(), 1);
    execvp(argv[0], argv);
    std::fprintf(stderr, "uepoll trace: cannot run %s: %s\n", argv[0], std::strerror(errno));
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  *children = LoadChildTraces(dir, pid);
  std::string error;
  const std::string path = dir + "/trace." + std::to_string(pid);
  const bool loaded = access(path.c_str(), R_OK) == 0 && uep::tracetool::LoadTrace(path, trace, &error);
  RemoveDir(dir);
  if (!loaded) {
    std::fprintf(stderr,
                 "uepoll trace: %s left no trace (%s): it must be dynamically linked and end "
                 "through exit(), not _exit() or a signal (exit status %d)\n",
                 argv[0], error.empty() ? "no file" : error.c_str(), code);
    return -1;
  }
  return code;
}

bool WriteFile(const char* path, const std::string& text) {
  FILE* f = std::fopen(path, "we");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  return std::fclose(f) == 0 && ok;
}

}  // namespace

namespace uep::tool {

std::vector<std::string> TraceScenarioNames() { return uep::tracetool::ScenarioNames(); }

std::string TraceScenarioList() {
  std::string list;
  for (const std::string& name : uep::tracetool::ScenarioNames()) {
    if (!list.empty()) list += ", ";
    list += name + " (" + uep::tracetool::ScenarioTitle(name) + ")";
  }
  return list;
}

int TraceCommand(const TraceOptions& options) {
  const std::string& scenario = options.scenario;
  const char* html = options.html.empty() ? nullptr : options.html.c_str();
  const char* svg = options.svg.empty() ? nullptr : options.svg.c_str();
  const char* json = options.json.empty() ? nullptr : options.json.c_str();
  const bool quiet = options.quiet;
  std::vector<char*> argv_storage;
  for (const std::string& arg : options.program) argv_storage.push_back(const_cast<char*>(arg.c_str()));
  argv_storage.push_back(nullptr);
  char** program = options.program.empty() ? nullptr : argv_storage.data();
  if (program != nullptr && !scenario.empty()) {
    std::fprintf(stderr, "uepoll trace: give a scenario or -- PROGRAM, not both\n");
    return 2;
  }
  if (program != nullptr && scenario.empty()) {
    uep::tracetool::LoadedTrace trace;
    std::vector<ChildTrace> children;
    std::string lib;
    const int code = RunTraced(program, &trace, &children, &lib);
    if (code < 0) return 1;
    std::string title = "uepoll trace --";
    for (char** p = program; *p != nullptr; ++p) title += std::string(" ") + *p;
    const uep::tracetool::Model model = uep::tracetool::BuildModel(trace.records);
    if (!quiet) {
      std::printf("# %s\n# preload library: %s\n# %s, exit status %d\n", title.c_str(), lib.c_str(),
                  Count(trace.records.size(), "record").c_str(), code);
      if (trace.dropped != 0) {
        std::printf("# these are the last ones: %s earlier not kept (UEPOLL_TRACE_CAPACITY keeps more)\n",
                    Count(trace.dropped, "record").c_str());
      }
      std::fputs(uep::tracetool::RenderTextFolded(model).c_str(), stdout);
      std::fputs(Commented(uep::tracetool::RenderSummary(model)).c_str(), stdout);
      // The processes it forked (workers ...): their counts, not their timelines.
      for (const ChildTrace& c : children) {
        const uep::tracetool::Model child = uep::tracetool::BuildModel(c.trace.records);
        std::printf("# child process %ld:%s\n", c.pid, child.steps.empty() ? " no records" : "");
        std::fputs(Commented(uep::tracetool::RenderSummary(child)).c_str(), stdout);
      }
      bool callbacks = trace.dropped != 0;  // records were lost: events went through
      bool kernel = false;  // an instance's kernel side was asked
      const auto look = [&](const std::vector<uep::trace::Record>& recs) {
        for (const uep::trace::Record& r : recs) {
          callbacks |= r.kind == uep::trace::Kind::kCallback;
          kernel |= r.kind == uep::trace::Kind::kKernelHarvest ||
                    r.kind == uep::trace::Kind::kKernelSleep;
        }
      };
      look(trace.records);
      for (const ChildTrace& c : children) look(c.trace.records);
      if (!callbacks) {
        const char* kinds = std::getenv("UEPOLL_PRELOAD");
        const bool all = kinds != nullptr && std::strcmp(kinds, "all") == 0;
        std::printf("# no event went through a uepoll wait queue: uepoll traces only the\n"
                    "# descriptors it makes (UEPOLL_PRELOAD: %s),\n"
                    "# and of an epoll instance that watches kernel descriptors (sockets)\n"
                    "# only what its kernel side did (%s)%s\n",
                    kinds != nullptr ? kinds : "epoll,eventfd,timerfd, the default",
                    kernel ? "the kernel_* and ring_* records" : "none here",
                    all ? "" : ";\n# UEPOLL_PRELOAD=all lets uepoll make pipes and socket pairs too");
      }
    }
    int rc = code;
    if (html != nullptr) {
      uep::tracetool::HtmlExtras extras;
      extras.dropped = trace.dropped;
      for (const ChildTrace& c : children) {
        extras.children.push_back({c.pid, uep::tracetool::BuildModel(c.trace.records)});
      }
      if (!WriteFile(html, uep::tracetool::RenderHtml(model, title, extras))) rc = 1;
    }
    if (svg != nullptr && !WriteFile(svg, uep::tracetool::RenderSvg(uep::tracetool::FoldModel(model), title))) rc = 1;
    if (json != nullptr && !WriteFile(json, uep::tracetool::TraceJson(trace.records, trace.dropped))) {
      rc = 1;
    }
    if (rc != code) std::fprintf(stderr, "uepoll trace: cannot write an output file: %s\n", std::strerror(errno));
    return rc;
  }
  if (scenario.empty() || uep::tracetool::ScenarioTitle(scenario).empty()) {
    std::fprintf(stderr, "uepoll trace: give a scenario (%s) or -- PROGRAM [ARGS]\n",
                 TraceScenarioList().c_str());
    return 2;
  }
  uep::tracetool::ScenarioResult result;
  const bool ok = uep::tracetool::RunScenario(scenario, &result);
  const uep::tracetool::Model model = uep::tracetool::BuildModel(result.records);
  const std::string title = "uepoll trace " + scenario + ": " + result.title;
  if (!quiet) {
    std::printf("# %s\n# %s%s\n", title.c_str(), Count(result.records.size(), "record").c_str(),
                result.dropped != 0 ? " (the last ones: earlier records not kept)" : "");
    std::fputs(uep::tracetool::RenderTextFolded(model).c_str(), stdout);
    std::fputs(Commented(uep::tracetool::RenderSummary(model)).c_str(), stdout);
  }
  int rc = ok ? 0 : 1;
  if (!ok) std::fprintf(stderr, "uepoll trace: scenario failed: %s\n", result.error.c_str());
  if (html != nullptr && !WriteFile(html, uep::tracetool::RenderHtml(model, title))) {
    std::fprintf(stderr, "uepoll trace: cannot write %s: %s\n", html, std::strerror(errno));
    rc = 1;
  }
  if (svg != nullptr && !WriteFile(svg, uep::tracetool::RenderSvg(uep::tracetool::FoldModel(model), title))) {
    std::fprintf(stderr, "uepoll trace: cannot write %s: %s\n", svg, std::strerror(errno));
    rc = 1;
  }
  if (json != nullptr &&
      !WriteFile(json, uep::tracetool::TraceJson(result.records, result.dropped))) {
    std::fprintf(stderr, "uepoll trace: cannot write %s: %s\n", json, std::strerror(errno));
    rc = 1;
  }
  return rc;
}

}  // namespace uep::tool
