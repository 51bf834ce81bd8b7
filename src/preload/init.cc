// Start-up of the preload library: placeholder numbering before the descriptor table
// exists, the kinds of UEPOLL_PRELOAD, and tracing to UEPOLL_TRACE_OUT (`uepoll trace --`).
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>

#include "preload/preload.h"
#include "uepoll/uepoll.h"

namespace uep::preload {

bool g_ready = false;
unsigned g_kinds = kDefaultKinds;

namespace {

void Complain(const std::string& text) {
  const std::string line = "libuepoll-preload: " + text + "\n";
  [[maybe_unused]] long n = syscall(SYS_write, 2, line.data(), line.size());
}

unsigned ParseKinds(const char* spec) {
  if (spec == nullptr) return kDefaultKinds;
  static constexpr struct {
    std::string_view name;
    unsigned kinds;
  } kNames[] = {{"all", kAllKinds}, {"none", 0},          {"epoll", kEpoll},
                {"eventfd", kEventfd}, {"pipe", kPipe}, {"socketpair", kSocketpair},
                {"timerfd", kTimerfd}};
  unsigned kinds = 0;
  std::string_view rest = spec;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string_view word = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    if (word.empty()) continue;
    bool known = false;
    for (const auto& n : kNames) {
      if (n.name == word) {
        kinds |= n.kinds;
        known = true;
      }
    }
    if (!known) Complain("UEPOLL_PRELOAD: unknown kind '" + std::string(word) + "' ignored");
  }
  return kinds;
}

// UEPOLL_TRACE_OUT=PATH: trace from start-up and write the records to PATH.<pid> at exit.
// A plain pointer, never destroyed: exit handlers may run after this file's destructors.
const char* trace_path = nullptr;

void DumpTrace() {
  if (trace_path == nullptr || uep_trace_stop() != 0) return;
  const std::string path = std::string(trace_path) + "." + std::to_string(getpid());
  if (FILE* f = std::fopen(path.c_str(), "we")) {
    uep_trace_dump(f);
    std::fclose(f);
  } else {
    Complain("cannot write " + path + ": " + std::strerror(errno));
  }
}

void StartTrace() {
  const char* out = std::getenv("UEPOLL_TRACE_OUT");
  if (out == nullptr || *out == '\0') return;
  size_t capacity = 0;  // the default
  if (const char* cap = std::getenv("UEPOLL_TRACE_CAPACITY")) capacity = std::strtoul(cap, nullptr, 10);
  if (uep_trace_start(capacity) != 0) {
    Complain("UEPOLL_TRACE_OUT: cannot start tracing");
    return;
  }
  trace_path = strdup(out);
  capi::SetTraceThreadName("main");
  std::atexit(DumpTrace);
}

}  // namespace

void Init() {
  static std::once_flag once;
  std::call_once(once, [] {
    Serving serving;  // whatever start-up calls makes kernel descriptors
    const int saved_errno = errno;  // the program's, when start-up runs in an interposer
    if (uep_set_numbering(UEP_NUMBERING_KERNEL) != 0) {
      Complain("the descriptor table was in use before start-up: numbering is not the kernel's");
    }
    uep_fd_base();  // makes the table
    SetTableOwner();
    g_kinds = ParseKinds(std::getenv("UEPOLL_PRELOAD"));
    StartTrace();
    errno = saved_errno;
  });
  __atomic_store_n(&g_ready, true, __ATOMIC_RELEASE);
}

void* NextSymbol(const char* name) {
  void* sym = dlsym(RTLD_NEXT, name);
  if (sym == nullptr) {
    Complain(std::string("no next definition of ") + name);
    std::abort();
  }
  return sym;
}

// Before main(), so that the environment is read while the program is single-threaded.
[[gnu::constructor]] void InitAtLoad() { Init(); }

}  // namespace uep::preload
