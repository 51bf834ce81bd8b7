#include "support/blocking_waiters.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <thread>

namespace uep::test::blocking {
namespace {

using Clock = std::chrono::steady_clock;

// A watchdog, never a measurement: how long a waiter may take to do what the kernel did.
constexpr auto kWatchdog = std::chrono::seconds(5);
// Quiet: no waiter runnable in this many samples in a row, this far apart.
constexpr int kQuietSamples = 3;
constexpr auto kSampleGap = std::chrono::milliseconds(5);

constexpr uint64_t kSourceData = 0x50;  // the source's item (data names the instance)
constexpr uint64_t kChildData = 0xe1;   // e0's item on e1

const char* CallName(Call call) {
  switch (call) {
    case Call::kEpollWait:
      return "ew";
    case Call::kPoll:
      return "p";
    case Call::kPollThenWait:
      return "pew";
  }
  return "?";
}

const char* SourceName(Source source) {
  switch (source) {
    case Source::kSocket:
      return "socket";
    case Source::kPipe:
      return "pipe";
    case Source::kEventfd:
      return "eventfd";
    case Source::kKernelPipe:
      return "kpipe";
    case Source::kKernelUdp:
      return "kudp";
    case Source::kSocketBesideKernel:
      return "socket+kpipe";
    case Source::kKernelPipeBesideKernel:
      return "kpipe+kpipe";
  }
  return "?";
}

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
  return buf;
}

// The scheduler's state of a thread of this process: 'R' runnable, 'S' asleep
// (interruptible: epoll_wait, poll, a futex), 'D' (a kernel mutex) ...; 0 once it exited.
char ThreadState(pid_t tid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
  FILE* f = std::fopen(path, "re");
  if (f == nullptr) return 0;
  char buf[512];
  const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  const char* paren = std::strrchr(buf, ')');
  return paren != nullptr && paren[1] == ' ' ? paren[2] : 0;
}

void NoOp(int /*sig*/) {}

struct WaiterThread {
  Waiter spec{};
  int epfd = -1;
  std::atomic<pid_t> tid{0};
  std::atomic<bool> entered{false};
  std::atomic<bool> returned{false};
  std::atomic<bool> signalled{false};  // set before the signal is sent
  bool woken = false;                  // the call returned before any signal was sent
  int harvested = 0;
  std::string outcome;
  pthread_t thread{};
};

std::string EventsText(int r, int err, const epoll_event* ev) {
  if (r < 0) return "-1 " + std::string(strerrorname_np(err));
  std::string s = std::to_string(r);
  for (int i = 0; i < r; ++i) s += " [" + Hex(ev[i].events) + " " + Hex(ev[i].data.u64) + "]";
  return s;
}

void RunWaiter(const Backend& b, WaiterThread* w) {
  w->tid.store(static_cast<pid_t>(syscall(SYS_gettid)));
  epoll_event ev[2]{};
  pollfd pfd{w->epfd, POLLIN, 0};
  w->entered.store(true);
  int r = 0;
  if (w->spec.call == Call::kEpollWait) {
    r = b.epoll_wait(w->epfd, ev, 1, -1);
  } else {
    r = b.poll(&pfd, 1, -1);
  }
  const int err = errno;
  // Read before `returned` is published: the signaller sets `signalled` before it signals.
  w->woken = !w->signalled.load();
  if (w->spec.call == Call::kEpollWait) {
    w->outcome = EventsText(r, err, ev);
    w->harvested = std::max(r, 0);
  } else {
    w->outcome = r < 0 ? "-1 " + std::string(strerrorname_np(err))
                       : std::to_string(r) + " revents " + Hex(static_cast<uint16_t>(pfd.revents));
    if (w->spec.call == Call::kPollThenWait && r > 0) {
      const int r2 = b.epoll_wait(w->epfd, ev, 1, 0);
      w->outcome += "; ew0 " + EventsText(r2, errno, ev);
      w->harvested = std::max(r2, 0);
    }
  }
  w->returned.store(true);
}

void* WaiterEntry(void* arg) {
  auto* ctx = static_cast<std::pair<const Backend*, WaiterThread*>*>(arg);
  RunWaiter(*ctx->first, ctx->second);
  return nullptr;
}

// The waiters not yet returned are all asleep (not runnable), for kQuietSamples samples
// in a row with no return in between. False if the watchdog ran out first.
bool WaitQuiet(const std::vector<WaiterThread*>& waiters) {
  const auto deadline = Clock::now() + kWatchdog;
  int quiet = 0;
  size_t returned_before = 0;
  while (Clock::now() < deadline) {
    size_t returned = 0;
    bool asleep = true;
    for (WaiterThread* w : waiters) {
      if (w->returned.load()) {
        ++returned;
        continue;
      }
      if (!w->entered.load() || ThreadState(w->tid.load()) != 'S') asleep = false;
    }
    quiet = asleep && returned == returned_before ? quiet + 1 : 0;
    returned_before = returned;
    if (quiet >= kQuietSamples) return true;
    std::this_thread::sleep_for(kSampleGap);
  }
  return false;
}

bool WaitUntil(const std::function<bool()>& done) {
  const auto deadline = Clock::now() + kWatchdog;
  while (!done()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

struct World {
  int e[2] = {-1, -1};
  int read_end = -1;       // watched
  int write_end = -1;      // written
  int idle[2] = {-1, -1};  // the idle kernel pipe of kSocketBesideKernel
  sockaddr_in udp_to{};
  bool kernel_pair = false;  // the source's pair is the kernel's in both backends
};

bool WriteOne(const Backend& b, const Arrangement& a, const World& w);

std::string Setup(const Backend& b, const Arrangement& a, World* w) {
  int pair[2] = {-1, -1};
  switch (a.source) {
    case Source::kSocket:
    case Source::kSocketBesideKernel:
      if (b.socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0) return "socketpair failed";
      break;
    case Source::kPipe:
      if (b.pipe2(pair, O_CLOEXEC) != 0) return "pipe2 failed";
      break;
    case Source::kEventfd:
      pair[0] = b.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (pair[0] < 0) return "eventfd failed";
      break;
    case Source::kKernelPipe:
    case Source::kKernelPipeBesideKernel:
      if (::pipe2(pair, O_CLOEXEC) != 0) return "pipe2 failed";
      w->kernel_pair = true;
      break;
    case Source::kKernelUdp: {
      pair[0] = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      pair[1] = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      w->kernel_pair = true;
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      socklen_t len = sizeof addr;
      if (pair[0] < 0 || pair[1] < 0 ||
          ::bind(pair[0], reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
          ::getsockname(pair[0], reinterpret_cast<sockaddr*>(&w->udp_to), &len) != 0) {
        return "udp setup failed";
      }
      break;
    }
  }
  w->read_end = pair[0];
  w->write_end = pair[1];
  const int levels = a.nested ? 2 : 1;
  for (int i = 0; i < levels; ++i) {
    w->e[i] = b.epoll_create1(EPOLL_CLOEXEC);
    if (w->e[i] < 0) return "epoll_create1 failed";
  }
  // The instance that holds the source: the innermost.
  const int holder = w->e[levels - 1];
  const bool holder_et = a.nested ? a.et1 : a.et0;
  epoll_event ev{};
  ev.events = EPOLLIN | (holder_et ? EPOLLET : 0);
  ev.data.u64 = kSourceData;
  if (a.action == Action::kAddReady) {
    if (!WriteOne(b, a, *w)) return "write failed";
  } else if (b.epoll_ctl(holder, EPOLL_CTL_ADD, w->read_end, &ev) != 0) {
    return "ctl ADD source failed";
  }
  if (a.source == Source::kSocketBesideKernel || a.source == Source::kKernelPipeBesideKernel) {
    if (::pipe2(w->idle, O_CLOEXEC) != 0) return "pipe2 failed";
    ev.events = EPOLLIN;
    ev.data.u64 = 0x1d1e;
    if (b.epoll_ctl(holder, EPOLL_CTL_ADD, w->idle[0], &ev) != 0) return "ctl ADD idle failed";
  }
  if (a.nested) {
    ev.events = EPOLLIN | (a.et0 ? EPOLLET : 0);
    ev.data.u64 = kChildData;
    if (b.epoll_ctl(w->e[0], EPOLL_CTL_ADD, w->e[1], &ev) != 0) return "ctl ADD child failed";
  }
  return "";
}

void Teardown(const Backend& b, World* w) {
  for (int fd : w->e) {
    if (fd >= 0) b.close(fd);
  }
  for (int fd : {w->read_end, w->write_end}) {
    if (fd < 0) continue;
    if (w->kernel_pair) {
      ::close(fd);
    } else {
      b.close(fd);
    }
  }
  for (int fd : w->idle) {
    if (fd >= 0) ::close(fd);
  }
}

bool WriteOne(const Backend& b, const Arrangement& a, const World& w) {
  const char byte = 'w';
  switch (a.source) {
    case Source::kSocket:
    case Source::kPipe:
    case Source::kSocketBesideKernel:
      return b.write(w.write_end, &byte, 1) == 1;
    case Source::kEventfd:
      return b.eventfd_write(w.read_end, 1) == 0;
    case Source::kKernelPipe:
    case Source::kKernelPipeBesideKernel:
      return ::write(w.write_end, &byte, 1) == 1;
    case Source::kKernelUdp:
      return ::sendto(w.write_end, &byte, 1, 0, reinterpret_cast<const sockaddr*>(&w.udp_to),
                      sizeof w.udp_to) == 1;
  }
  return false;
}

std::string RoleName(const Waiter& w) {
  return std::string(CallName(w.call)) + "@e" + std::to_string(w.instance);
}

// A waiter observes instance `x` if it waits on it or on an instance above it.
bool Observes(const Waiter& w, int x) { return w.instance <= x; }

}  // namespace

std::string Arrangement::Name() const {
  std::string s = SourceName(source);
  s += nested ? std::string(" e0(") + (et0 ? "ET" : "LT") + ")->e1(" + (et1 ? "ET" : "LT") + ")"
              : std::string(" e0(") + (et0 ? "ET" : "LT") + ")";
  s += " waiters:";
  for (const Waiter& w : waiters) s += " " + RoleName(w);
  if (action == Action::kAddReady) s += " (ADD of a ready source)";
  if (action == Action::kNothing) s += " (no write)";
  return s;
}

int Arrangement::RacyInstance() const {
  if (action == Action::kNothing) return -1;
  const int holder = nested ? 1 : 0;
  auto et_at = [&](int x) { return x == 0 ? et0 : et1; };
  int deepest = -1;
  for (size_t i = 0; i < waiters.size(); ++i) {
    const Waiter& c = waiters[i];
    if (c.call == Call::kPoll || !et_at(c.instance) || c.instance > holder) continue;
    for (size_t j = 0; j < waiters.size(); ++j) {
      if (j == i || !Observes(waiters[j], c.instance)) continue;
      const bool twin_exclusive = c.call == Call::kEpollWait && waiters[j].call == c.call &&
                                  waiters[j].instance == c.instance;
      if (!twin_exclusive) deepest = std::max(deepest, c.instance);
    }
  }
  return deepest;
}

Result Run(const Backend& b, const Arrangement& a, const std::vector<bool>& expect_woken) {
  Result result;
  struct sigaction sa {};
  struct sigaction old {};
  sa.sa_handler = NoOp;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, &old);

  World world;
  result.failure = Setup(b, a, &world);
  // On the heap: a waiter that never returns keeps using its entry, which is then leaked.
  auto owned = std::make_unique<std::vector<WaiterThread>>(a.waiters.size());
  auto owned_ctx =
      std::make_unique<std::vector<std::pair<const Backend*, WaiterThread*>>>(a.waiters.size());
  std::vector<WaiterThread>& threads = *owned;
  std::vector<std::pair<const Backend*, WaiterThread*>>& ctx = *owned_ctx;
  std::vector<WaiterThread*> all;
  size_t started = 0;
  for (size_t i = 0; i < a.waiters.size() && result.failure.empty(); ++i) {
    WaiterThread& t = threads[i];
    t.spec = a.waiters[i];
    t.epfd = world.e[t.spec.instance];
    ctx[i] = {&b, &t};
    if (pthread_create(&t.thread, nullptr, WaiterEntry, &ctx[i]) != 0) {
      result.failure = "pthread_create failed";
      break;
    }
    ++started;
    all.push_back(&t);
    // One at a time: each is asleep before the next one starts.
    if (!WaitQuiet(all)) result.failure = "waiter " + std::to_string(i) + " never slept";
    if (t.returned.load())
      result.failure = "waiter " + std::to_string(i) + " returned before the write";
  }
  if (result.failure.empty() && a.action == Action::kWrite && !WriteOne(b, a, world)) {
    result.failure = "write failed";
  }
  if (result.failure.empty() && a.action == Action::kAddReady) {
    epoll_event ev{};
    ev.events = EPOLLIN | ((a.nested ? a.et1 : a.et0) ? EPOLLET : 0);
    ev.data.u64 = kSourceData;
    if (b.epoll_ctl(world.e[a.nested ? 1 : 0], EPOLL_CTL_ADD, world.read_end, &ev) != 0) {
      result.failure = "ctl ADD source failed";
    }
  }
  if (result.failure.empty() && !expect_woken.empty()) {
    // uepoll: give the waiters the kernel woke the watchdog's time to be woken too.
    std::map<std::string, int> want;
    int want_total = 0;
    for (size_t i = 0; i < expect_woken.size() && i < started; ++i) {
      if (!expect_woken[i]) continue;
      ++want[RoleName(a.waiters[i])];
      ++want_total;
    }
    const bool racy = a.Racy();
    const bool ok = WaitUntil([&] {
      std::map<std::string, int> have;
      int total = 0;
      for (WaiterThread* t : all) {
        if (!t->returned.load()) continue;
        ++have[RoleName(t->spec)];
        ++total;
      }
      if (racy) return total >= std::min(want_total, 1);
      for (const auto& [role, n] : want) {
        if (have[role] < n) return false;
      }
      return true;
    });
    if (!ok) result.failure = "a waiter the kernel wakes was still asleep 5 s after the event";
  }
  if (result.failure.empty() && !WaitQuiet(all)) result.failure = "the waiters never went quiet";
  // The signal is the timeout: end every call still blocked.
  for (WaiterThread* t : all) {
    if (t->returned.load()) continue;
    t->signalled.store(true);
    // A waiter may sleep again after a spurious wake-up: signal until it returns.
    if (!WaitUntil([&] {
          if (t->returned.load()) return true;
          pthread_kill(t->thread, SIGUSR1);
          for (int i = 0; i < 20 && !t->returned.load(); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
          }
          return t->returned.load();
        })) {
      // Cannot join a thread that never returns: report it (the test fails) and leave it
      // its entry, its descriptors and the no-op handler.
      result.failure = "waiter still blocked 5 s after its signal (" + RoleName(t->spec) + ")";
      static_cast<void>(owned.release());
      static_cast<void>(owned_ctx.release());
      return result;
    }
  }
  for (WaiterThread* t : all) pthread_join(t->thread, nullptr);
  for (WaiterThread& t : threads) {
    if (t.thread == pthread_t{}) continue;
    result.outcomes.push_back(RoleName(t.spec) + (t.woken ? " woken " : " signalled ") + t.outcome);
    result.woken.push_back(t.woken);
    result.harvested.push_back(t.harvested);
  }
  Teardown(b, &world);
  sigaction(SIGUSR1, &old, nullptr);
  return result;
}

std::string CompareOnKernelAndUepoll(const Arrangement& a) {
  const Result kernel = Run(KernelBackend(), a, {});
  if (!kernel.failure.empty()) return a.Name() + ": kernel run: " + kernel.failure;
  const Result uepoll = Run(UepollBackend(), a, kernel.woken);
  auto lines = [](const Result& r) {
    std::string s;
    for (const std::string& o : r.outcomes) s += "    " + o + "\n";
    return s;
  };
  const std::string both =
      "\n  kernel:\n" + lines(kernel) + "  uepoll:\n" + lines(uepoll) +
      (uepoll.failure.empty() ? "" : "  uepoll failure: " + uepoll.failure + "\n");
  if (!uepoll.failure.empty()) return a.Name() + ":" + both;
  if (!a.Racy()) {
    std::vector<std::string> k = kernel.outcomes;
    std::vector<std::string> u = uepoll.outcomes;
    std::sort(k.begin(), k.end());
    std::sort(u.begin(), u.end());
    return k == u ? "" : a.Name() + ":" + both;
  }
  // Racy: at least one waiter woken, and the event of the deepest instance where the race
  // is run harvested as often by the waiters directly on it (once per edge).
  auto woken = [](const Result& r) { return std::count(r.woken.begin(), r.woken.end(), true); };
  if ((woken(kernel) > 0) != (woken(uepoll) > 0)) return a.Name() + " (racy):" + both;
  const int x = a.RacyInstance();
  int hk = 0;
  int hu = 0;
  for (size_t i = 0; i < a.waiters.size(); ++i) {
    if (a.waiters[i].instance != x) continue;
    hk += kernel.harvested[i];
    hu += uepoll.harvested[i];
  }
  if (hk != hu) return a.Name() + " (racy, events harvested on e" + std::to_string(x) + "):" + both;
  return "";
}

std::vector<Arrangement> AllArrangements(Source source, bool nested) {
  std::vector<Waiter> roles;
  for (int inst = 0; inst < (nested ? 2 : 1); ++inst) {
    for (Call c : {Call::kEpollWait, Call::kPoll, Call::kPollThenWait}) roles.push_back({c, inst});
  }
  std::vector<std::vector<Waiter>> sets;
  for (size_t i = 0; i < roles.size(); ++i) {
    sets.push_back({roles[i]});
    for (size_t j = i; j < roles.size(); ++j) sets.push_back({roles[i], roles[j]});
  }
  std::vector<Arrangement> out;
  for (int modes = 0; modes < (nested ? 4 : 2); ++modes) {
    for (const auto& set : sets) {
      Arrangement a;
      a.source = source;
      a.nested = nested;
      a.et0 = (modes & 1) != 0;
      a.et1 = (modes & 2) != 0;
      a.waiters = set;
      out.push_back(a);
    }
  }
  return out;
}

}  // namespace uep::test::blocking
