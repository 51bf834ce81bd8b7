#include "trace_scenarios.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <thread>

#include "uepoll/uepoll.h"

namespace uep::tracetool {
namespace {

using trace::Kind;

// A scenario step that failed: remembered, the scenario goes on (threads must be joined).
struct Ctx {
  std::string error;
  void Check(bool ok, const char* what) {
    if (!ok && error.empty()) error = std::string(what) + ": " + std::strerror(errno);
  }
};

void Mark(const char* text, uint32_t value = 0) {
  trace::Mark(text, value);
}

size_t CountKind(Kind k) {
  size_t n = 0;
  for (const trace::Record& r : trace::Snapshot()) n += r.kind == k ? 1 : 0;
  return n;
}

// Waits until `n` records of kind `k` exist (threads reached a point), then lets them
// settle into their sleep.
void WaitForRecords(Ctx* ctx, Kind k, size_t n) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (CountKind(k) < n) {
    if (std::chrono::steady_clock::now() > deadline) {
      if (ctx->error.empty()) ctx->error = "timed out waiting for the scenario's threads";
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

int AddWatch(Ctx* ctx, int ep, int fd, uint32_t events, const char* what) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  const int r = uep_epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  ctx->Check(r == 0, what);
  return r;
}

int WaitOnce(int ep, int timeout_ms) {
  epoll_event ev[4];
  return uep_epoll_wait(ep, ev, 4, timeout_ms);
}

// One eventfd watched by two instances: level-triggered in epoll#1, edge-triggered in
// epoll#2. One write wakes both callbacks; LT keeps reporting, ET reports once.
void LtVsEt(Ctx* ctx) {
  const int efd = uep_eventfd(0, EFD_NONBLOCK);
  const int lt = uep_epoll_create1(0);
  const int et = uep_epoll_create1(0);
  ctx->Check(efd >= 0 && lt >= 0 && et >= 0, "create");
  uep_epoll_set_busy_poll(lt, 0);
  Mark("epoll_ctl(ADD, LT: EPOLLIN)");
  AddWatch(ctx, lt, efd, EPOLLIN, "ADD LT");
  Mark("epoll_ctl(ADD, ET: EPOLLIN|EPOLLET)");
  AddWatch(ctx, et, efd, EPOLLIN | EPOLLET, "ADD ET");

  std::thread waiter([&] {
    trace::SetThreadName("waiter");
    Mark("epoll_wait(LT, -1)");
    ctx->Check(WaitOnce(lt, -1) == 1, "waiter's epoll_wait(LT)");
  });
  WaitForRecords(ctx, Kind::kSleep, 1);
  Mark("eventfd_write(1)", 1);
  ctx->Check(uep_eventfd_write(efd, 1) == 0, "eventfd_write");
  waiter.join();
  Mark("epoll_wait(LT, 0) again: still ready");
  ctx->Check(WaitOnce(lt, 0) == 1, "second LT wait");
  Mark("epoll_wait(ET, 0)");
  ctx->Check(WaitOnce(et, 0) == 1, "first ET wait");
  Mark("epoll_wait(ET, 0) again: nothing new");
  ctx->Check(WaitOnce(et, 0) == 0, "second ET wait");
  Mark("eventfd_read: count back to 0");
  eventfd_t v = 0;
  ctx->Check(uep_eventfd_read(efd, &v) == 0, "eventfd_read");
  Mark("epoll_wait(LT, 0): re-poll finds nothing");
  ctx->Check(WaitOnce(lt, 0) == 0, "third LT wait");
  uep_close(lt);
  uep_close(et);
  uep_close(efd);
}

// EPOLLONESHOT: reported once, then disarmed; the callback ignores the next write until
// EPOLL_CTL_MOD re-arms the item.
void OneShot(Ctx* ctx) {
  const int efd = uep_eventfd(0, EFD_NONBLOCK);
  const int ep = uep_epoll_create1(0);
  ctx->Check(efd >= 0 && ep >= 0, "create");
  Mark("epoll_ctl(ADD, EPOLLIN|EPOLLONESHOT)");
  AddWatch(ctx, ep, efd, EPOLLIN | EPOLLONESHOT, "ADD");
  Mark("eventfd_write(1)", 1);
  ctx->Check(uep_eventfd_write(efd, 1) == 0, "eventfd_write");
  Mark("epoll_wait(0)");
  ctx->Check(WaitOnce(ep, 0) == 1, "first wait");
  Mark("eventfd_write(1) while disarmed", 1);
  ctx->Check(uep_eventfd_write(efd, 1) == 0, "eventfd_write");
  Mark("epoll_wait(0): disarmed, nothing");
  ctx->Check(WaitOnce(ep, 0) == 0, "second wait");
  Mark("epoll_ctl(MOD, EPOLLIN|EPOLLONESHOT): re-arm");
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLONESHOT;
  ev.data.fd = efd;
  ctx->Check(uep_epoll_ctl(ep, EPOLL_CTL_MOD, efd, &ev) == 0, "MOD");
  Mark("epoll_wait(0)");
  ctx->Check(WaitOnce(ep, 0) == 1, "third wait");
  uep_close(ep);
  uep_close(efd);
}

// EPOLLEXCLUSIVE: one eventfd, two instances, two sleeping threads on each. Each write
// wakes exactly one thread: the first instance whose hook accepts the wake-up (it has a
// sleeper) stops the walk of the eventfd's queue.
void Exclusive(Ctx* ctx) {
  const int efd = uep_eventfd(0, EFD_NONBLOCK);
  const int ep1 = uep_epoll_create1(0);
  const int ep2 = uep_epoll_create1(0);
  ctx->Check(efd >= 0 && ep1 >= 0 && ep2 >= 0, "create");
  uep_epoll_set_busy_poll(ep1, 0);
  uep_epoll_set_busy_poll(ep2, 0);
  Mark("epoll_ctl(ADD, epoll#1: EPOLLIN|EPOLLET|EPOLLEXCLUSIVE)");
  AddWatch(ctx, ep1, efd, EPOLLIN | EPOLLET | EPOLLEXCLUSIVE, "ADD 1");
  Mark("epoll_ctl(ADD, epoll#2: EPOLLIN|EPOLLET|EPOLLEXCLUSIVE)");
  AddWatch(ctx, ep2, efd, EPOLLIN | EPOLLET | EPOLLEXCLUSIVE, "ADD 2");

  std::atomic<int> returned{0};
  static const char* const kNames[4] = {"waiter-1a", "waiter-1b", "waiter-2a", "waiter-2b"};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    const int ep = i < 2 ? ep1 : ep2;
    threads.emplace_back([&, ep, i] {
      trace::SetThreadName(kNames[i]);
      const int n = WaitOnce(ep, 5000);
      ctx->Check(n == 1, "a waiter's epoll_wait");
      returned.fetch_add(1);
    });
    // One at a time, so that the queue order (and the trace) is the same on every run.
    WaitForRecords(ctx, Kind::kSleep, static_cast<size_t>(i) + 1);
  }
  for (int k = 1; k <= 4; ++k) {
    Mark("eventfd_write(1)", static_cast<uint32_t>(k));
    ctx->Check(uep_eventfd_write(efd, 1) == 0, "eventfd_write");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (returned.load() < k && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ctx->Check(returned.load() == k, "exactly one waiter per write");
  }
  for (std::thread& t : threads) t.join();
  uep_close(ep1);
  uep_close(ep2);
  uep_close(efd);
}

// epoll#1 watches epoll#2, which watches an eventfd. The write reaches the child's
// callback, which wakes the child's poll_wait queue, whose hook is the parent's callback.
void Nested(Ctx* ctx) {
  const int efd = uep_eventfd(0, EFD_NONBLOCK);
  const int parent = uep_epoll_create1(0);
  const int child = uep_epoll_create1(0);
  ctx->Check(efd >= 0 && parent >= 0 && child >= 0, "create");
  uep_epoll_set_busy_poll(parent, 0);
  Mark("epoll_ctl(child, ADD eventfd, EPOLLIN)");
  AddWatch(ctx, child, efd, EPOLLIN, "ADD eventfd to child");
  Mark("epoll_ctl(parent, ADD child, EPOLLIN)");
  AddWatch(ctx, parent, child, EPOLLIN, "ADD child to parent");
  std::thread waiter([&] {
    trace::SetThreadName("waiter");
    Mark("epoll_wait(parent, -1)");
    ctx->Check(WaitOnce(parent, -1) == 1, "parent wait");
  });
  WaitForRecords(ctx, Kind::kSleep, 1);
  Mark("eventfd_write(1)", 1);
  ctx->Check(uep_eventfd_write(efd, 1) == 0, "eventfd_write");
  waiter.join();
  Mark("epoll_wait(child, 0)");
  ctx->Check(WaitOnce(child, 0) == 1, "child wait");
  uep_close(parent);
  uep_close(child);
  uep_close(efd);
}

// A pipe's read end: data makes it readable; the writer's close hangs it up (EPOLLHUP
// wakes a sleeping waiter even with no data).
void PipeHup(Ctx* ctx) {
  int p[2] = {-1, -1};
  ctx->Check(uep_pipe2(p, O_NONBLOCK) == 0, "pipe2");
  const int ep = uep_epoll_create1(0);
  ctx->Check(ep >= 0, "epoll_create1");
  uep_epoll_set_busy_poll(ep, 0);
  Mark("epoll_ctl(ADD read end, EPOLLIN)");
  AddWatch(ctx, ep, p[0], EPOLLIN, "ADD");
  Mark("write(pipe, \"hi\")");
  ctx->Check(uep_write(p[1], "hi", 2) == 2, "write");
  Mark("epoll_wait(0)");
  ctx->Check(WaitOnce(ep, 0) == 1, "first wait");
  Mark("read(pipe): empty again");
  char buf[8];
  ctx->Check(uep_read(p[0], buf, sizeof buf) == 2, "read");
  std::thread waiter([&] {
    trace::SetThreadName("waiter");
    Mark("epoll_wait(-1)");
    epoll_event ev{};
    const int n = uep_epoll_wait(ep, &ev, 1, -1);
    ctx->Check(n == 1 && (ev.events & EPOLLHUP) != 0, "wait for the hang-up");
  });
  WaitForRecords(ctx, Kind::kSleep, 1);
  Mark("close(write end)");
  ctx->Check(uep_close(p[1]) == 0, "close");
  waiter.join();
  uep_close(ep);
  uep_close(p[0]);
}

struct Entry {
  const char* name;
  const char* title;
  void (*run)(Ctx*);
};

const Entry kScenarios[] = {
    {"lt-vs-et", "one eventfd, level-triggered in epoll#1 and edge-triggered in epoll#2", LtVsEt},
    {"oneshot", "EPOLLONESHOT: reported once, disarmed, re-armed by EPOLL_CTL_MOD", OneShot},
    {"exclusive", "EPOLLEXCLUSIVE: two instances, two sleepers each; one wake-up per write",
     Exclusive},
    {"nested", "parent epoll#2 watches child epoll#1, which watches an eventfd", Nested},
    {"pipe-hup", "a pipe's read end: data, then the writer closes (EPOLLHUP)", PipeHup},
};

}  // namespace

const std::vector<std::string>& ScenarioNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const Entry& e : kScenarios) v.emplace_back(e.name);
    return v;
  }();
  return names;
}

std::string ScenarioTitle(const std::string& name) {
  for (const Entry& e : kScenarios) {
    if (name == e.name) return e.title;
  }
  return {};
}

bool RunScenario(const std::string& name, ScenarioResult* result, size_t capacity) {
  const Entry* entry = nullptr;
  for (const Entry& e : kScenarios) {
    if (name == e.name) entry = &e;
  }
  result->name = name;
  if (entry == nullptr) {
    result->error = "unknown scenario";
    return false;
  }
  result->title = entry->title;
  Ctx ctx;
  if (uep_trace_start(capacity) != 0) {
    result->error = "uep_trace_start failed";
    return false;
  }
  trace::SetThreadName("main");
  entry->run(&ctx);
  uep_trace_stop();
  result->records = trace::Snapshot(&result->dropped);
  result->error = ctx.error;
  return ctx.error.empty();
}

}  // namespace uep::tracetool
