// Issue 7: trace points along epoll's path. Each scenario of `uepoll trace` is run here
// through the library the command uses, and the recorded SEQUENCE of trace events is
// checked (not only its rendering); the HTML page is opened in headless Chromium.
#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/trace.h"
#include "platform/uring.h"
#include "trace_load.h"
#include "trace_render.h"
#include "trace_scenarios.h"
#include "uepoll/uepoll.h"

namespace {

using uep::trace::Decision;
using uep::trace::ItemFate;
using uep::trace::Kind;
using uep::trace::Record;
using uep::tracetool::ScenarioResult;

ScenarioResult RunNamed(const std::string& name) {
  ScenarioResult r;
  EXPECT_TRUE(uep::tracetool::RunScenario(name, &r)) << name << ": " << r.error;
  EXPECT_EQ(r.dropped, 0U);
  return r;
}

struct Match {
  std::string what;
  std::function<bool(const Record&)> pred;
};

// Finds the matchers in order (other records may come between); returns the index of each
// match, or fails naming the first matcher not found.
std::vector<size_t> ExpectSequence(const std::vector<Record>& recs, const std::vector<Match>& seq) {
  std::vector<size_t> at;
  size_t i = 0;
  for (const Match& m : seq) {
    while (i < recs.size() && !m.pred(recs[i])) ++i;
    if (i == recs.size()) {
      ADD_FAILURE() << "trace sequence: not found (in order): " << m.what;
      return at;
    }
    at.push_back(i++);
  }
  return at;
}

Match Is(Kind k, const std::string& what) {
  return {what, [k](const Record& r) { return r.kind == k; }};
}
Match MarkIs(const std::string& prefix) {
  return {"mark " + prefix, [prefix](const Record& r) {
            return r.kind == Kind::kMark && r.tag != nullptr && std::string(r.tag).rfind(prefix, 0) == 0;
          }};
}
Match CallbackOf(uintptr_t item, Decision d, const std::string& what) {
  return {what, [=](const Record& r) {
            return r.kind == Kind::kCallback && (item == 0 || r.c == item) && r.y == uint32_t(d);
          }};
}
Match TransferOf(uintptr_t item, ItemFate f, const std::string& what) {
  return {what, [=](const Record& r) {
            return r.kind == Kind::kTransferItem && (item == 0 || r.c == item) && r.y == uint32_t(f);
          }};
}

// The items, in registration order, and what each registration said.
std::vector<Record> Registrations(const std::vector<Record>& recs) {
  std::vector<Record> out;
  for (const Record& r : recs) {
    if (r.kind == Kind::kRegister) out.push_back(r);
  }
  return out;
}

TEST(Trace, OffByDefaultAndAfterStop) {
  ASSERT_FALSE(uep::trace::On());
  ASSERT_EQ(uep_trace_start(64), 0);
  EXPECT_TRUE(uep::trace::On());
  ASSERT_EQ(uep_trace_stop(), 0);
  const int efd = uep_eventfd(0, EFD_NONBLOCK);
  const int ep = uep_epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ASSERT_EQ(uep_epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev), 0);
  ASSERT_EQ(uep_eventfd_write(efd, 1), 0);
  ASSERT_EQ(uep_epoll_wait(ep, &ev, 1, 0), 1);
  EXPECT_TRUE(uep::trace::Snapshot().empty());
  uep_close(ep);
  uep_close(efd);
}

TEST(Trace, LevelTriggeredRequeuesEdgeTriggeredDoesNot) {
  const ScenarioResult res = RunNamed("lt-vs-et");
  const std::vector<Record>& recs = res.records;
  const std::vector<Record> regs = Registrations(recs);
  ASSERT_EQ(regs.size(), 2U);
  const uintptr_t lt = regs[0].c;
  const uintptr_t et = regs[1].c;
  EXPECT_EQ(regs[0].a, regs[1].a) << "both items hook the same eventfd";
  EXPECT_STREQ(regs[0].tag, "eventfd");
  EXPECT_EQ(regs[1].x & EPOLLET, uint32_t(EPOLLET));
  ExpectSequence(recs, {
      Is(Kind::kEpWait, "the waiter queues itself on the LT instance"),
      Is(Kind::kSleep, "and sleeps"),
      MarkIs("eventfd_write"),
      {"eventfd wakes its queue with IN",
       [&](const Record& r) { return r.kind == Kind::kWake && r.b == regs[0].b && r.x == EPOLLIN; }},
      CallbackOf(et, Decision::kLinked, "ET item linked"),
      CallbackOf(lt, Decision::kLinked, "LT item linked"),
      Is(Kind::kWaiterWoken, "the sleeping waiter is woken"),
      {"its sleep ends with 0", [](const Record& r) { return r.kind == Kind::kSleepEnd && r.x == 0; }},
      Is(Kind::kTransferBegin, "transfer"),
      TransferOf(lt, ItemFate::kRequeued, "LT item reported and requeued"),
      {"1 event", [](const Record& r) { return r.kind == Kind::kTransferEnd && r.x == 1; }},
      MarkIs("epoll_wait(LT, 0) again"),
      TransferOf(lt, ItemFate::kRequeued, "LT item reported again"),
      MarkIs("epoll_wait(ET, 0)"),
      TransferOf(et, ItemFate::kReportedEt, "ET item reported once, not requeued"),
      MarkIs("eventfd_read"),
      {"read wakes with OUT", [](const Record& r) { return r.kind == Kind::kWake && r.x == EPOLLOUT; }},
      CallbackOf(0, Decision::kIgnoredKey, "callback ignores OUT"),
      MarkIs("epoll_wait(LT, 0): re-poll"),
      TransferOf(lt, ItemFate::kNotReady, "LT item re-polled, no longer ready: dropped"),
  });
  for (const Record& r : recs) {
    if (r.kind != Kind::kTransferItem) continue;
    if (r.c == et) {
      EXPECT_NE(r.y, uint32_t(ItemFate::kRequeued)) << "an ET item was requeued";
    }
    if (r.c == lt) {
      EXPECT_NE(r.y, uint32_t(ItemFate::kReportedEt));
    }
  }
  // The ET instance's second wait found nothing to transfer at all.
  size_t et_reports = 0;
  for (const Record& r : recs) et_reports += r.kind == Kind::kTransferItem && r.c == et ? 1 : 0;
  EXPECT_EQ(et_reports, 1U);
}

TEST(Trace, OneShotDisarmsThenIgnoresUntilMod) {
  const ScenarioResult res = RunNamed("oneshot");
  const std::vector<Record> regs = Registrations(res.records);
  ASSERT_EQ(regs.size(), 1U);
  const uintptr_t item = regs[0].c;
  ExpectSequence(res.records, {
      CallbackOf(item, Decision::kLinked, "first write: linked"),
      TransferOf(item, ItemFate::kDisarmed, "reported and disarmed"),
      MarkIs("eventfd_write(1) while disarmed"),
      CallbackOf(item, Decision::kDisabled, "callback ignores the disarmed item"),
      MarkIs("epoll_wait(0): disarmed"),
      {"MOD finds it ready", [&](const Record& r) {
         return r.kind == Kind::kReadyOnCtl && r.c == item && r.y == 2;
       }},
      TransferOf(item, ItemFate::kDisarmed, "reported and disarmed again"),
  });
  // Nothing was transferred while it was disarmed.
  const auto at = ExpectSequence(res.records, {MarkIs("epoll_wait(0): disarmed"), MarkIs("epoll_ctl(MOD")});
  ASSERT_EQ(at.size(), 2U);
  for (size_t i = at[0]; i < at[1]; ++i) EXPECT_NE(res.records[i].kind, Kind::kTransferItem);
}

TEST(Trace, ExclusiveWakesOneThreadPerWrite) {
  const ScenarioResult res = RunNamed("exclusive");
  const std::vector<Record>& recs = res.records;
  const std::vector<Record> regs = Registrations(recs);
  ASSERT_EQ(regs.size(), 2U);
  // Between one write and the next: exactly one waiter woken, and one transfer.
  std::vector<size_t> writes;
  for (size_t i = 0; i < recs.size(); ++i) {
    if (recs[i].kind == Kind::kMark && std::string(recs[i].tag) == "eventfd_write(1)") writes.push_back(i);
  }
  ASSERT_EQ(writes.size(), 4U);
  writes.push_back(recs.size());
  std::set<uintptr_t> woken;
  std::vector<uintptr_t> instance_of_wake;
  for (size_t w = 0; w + 1 < writes.size(); ++w) {
    int wakes = 0;
    int callbacks = 0;
    for (size_t i = writes[w]; i < writes[w + 1]; ++i) {
      if (recs[i].kind == Kind::kWaiterWoken) {
        ++wakes;
        woken.insert(recs[i].a);
      }
      if (recs[i].kind == Kind::kCallback) ++callbacks;
      if (recs[i].kind == Kind::kTransferBegin) instance_of_wake.push_back(recs[i].d);
    }
    EXPECT_EQ(wakes, 1) << "write " << w + 1;
    // Writes 1 and 2: the first instance's hook accepts (it has sleepers) and ends the walk.
    // Writes 3 and 4: the first instance has none left, so the walk goes on to the second.
    EXPECT_EQ(callbacks, w < 2 ? 1 : 2) << "write " << w + 1;
  }
  EXPECT_EQ(woken.size(), 4U) << "four different sleepers";
  ASSERT_EQ(instance_of_wake.size(), 4U);
  EXPECT_EQ(instance_of_wake[0], regs[0].d);
  EXPECT_EQ(instance_of_wake[1], regs[0].d);
  EXPECT_EQ(instance_of_wake[2], regs[1].d);
  EXPECT_EQ(instance_of_wake[3], regs[1].d);
}

TEST(Trace, NestedChildCallbackWakesParentThroughPollWait) {
  const ScenarioResult res = RunNamed("nested");
  const std::vector<Record> regs = Registrations(res.records);
  ASSERT_EQ(regs.size(), 2U);
  const Record& child_item = regs[0];   // eventfd in the child
  const Record& parent_item = regs[1];  // child in the parent
  EXPECT_STREQ(child_item.tag, "eventfd");
  EXPECT_STREQ(parent_item.tag, "epoll");
  EXPECT_EQ(parent_item.a, child_item.d) << "the parent's item watches the child instance";
  ExpectSequence(res.records, {
      Is(Kind::kSleep, "waiter sleeps on the parent"),
      MarkIs("eventfd_write"),
      CallbackOf(child_item.c, Decision::kLinked, "child's callback links its item"),
      {"child wakes its poll_wait queue", [&](const Record& r) {
         return r.kind == Kind::kWake && r.b == parent_item.b && (r.x & EPOLLIN) != 0;
       }},
      CallbackOf(parent_item.c, Decision::kLinked, "parent's callback links the child's item"),
      Is(Kind::kWaiterWoken, "the parent's waiter is woken"),
      {"parent transfer", [&](const Record& r) {
         return r.kind == Kind::kTransferBegin && r.d == parent_item.d;
       }},
      {"child polled as a file: ready", [&](const Record& r) {
         return r.kind == Kind::kPollAtDepth && r.d == child_item.d && (r.x & EPOLLIN) != 0;
       }},
      TransferOf(parent_item.c, ItemFate::kRequeued, "parent reports the child"),
      MarkIs("epoll_wait(child, 0)"),
      TransferOf(child_item.c, ItemFate::kRequeued, "child reports the eventfd"),
  });
}

TEST(Trace, PipeHangUpWakesTheSleeper) {
  const ScenarioResult res = RunNamed("pipe-hup");
  const std::vector<Record> regs = Registrations(res.records);
  ASSERT_GE(regs.size(), 1U);
  EXPECT_STREQ(regs[0].tag, "pipe");
  const uintptr_t item = regs[0].c;
  ExpectSequence(res.records, {
      MarkIs("write(pipe"),
      CallbackOf(item, Decision::kLinked, "data: linked"),
      TransferOf(item, ItemFate::kRequeued, "reported IN, requeued (LT)"),
      MarkIs("epoll_wait(-1)"),
      TransferOf(item, ItemFate::kNotReady, "drained: re-poll drops it"),
      Is(Kind::kSleep, "waiter sleeps"),
      MarkIs("close(write end)"),
      CallbackOf(item, Decision::kLinked, "hang-up: linked"),
      Is(Kind::kWaiterWoken, "waiter woken"),
      {"reported with HUP", [&](const Record& r) {
         return r.kind == Kind::kTransferItem && r.c == item && (r.x & EPOLLHUP) != 0;
       }},
  });
}

TEST(Trace, TextTimelineShowsThePath) {
  const ScenarioResult res = RunNamed("lt-vs-et");
  const uep::tracetool::Model model = uep::tracetool::BuildModel(res.records);
  const std::string text = uep::tracetool::RenderText(model);
  EXPECT_NE(text.find("eventfd#1 --wake(IN)--> item#1 [linked] --> epoll#1 ready list"), std::string::npos)
      << text;
  EXPECT_NE(text.find("epoll#1 --wake--> thread T2"), std::string::npos) << text;
  EXPECT_NE(text.find("requeued (level-triggered)"), std::string::npos);
  EXPECT_NE(text.find("off the list (edge-triggered)"), std::string::npos);
  EXPECT_NE(text.find("[ignored: key not watched]"), std::string::npos);
  // Lanes: one eventfd, two items, two instances, two threads.
  std::map<uep::tracetool::LaneKind, int> kinds;
  for (const auto& l : model.lanes) ++kinds[l.kind];
  EXPECT_EQ(kinds[uep::tracetool::LaneKind::kFile], 1);
  EXPECT_EQ(kinds[uep::tracetool::LaneKind::kItem], 2);
  EXPECT_EQ(kinds[uep::tracetool::LaneKind::kInstance], 2);
  EXPECT_EQ(kinds[uep::tracetool::LaneKind::kThread], 2);
}

// A busy program repeats the same few steps: the timeline folds the repeats, and the
// summary counts by kind, by callback decision and by object.
TEST(Trace, RepeatsFoldAndTheSummaryCounts) {
  std::vector<Record> recs;
  const auto add = [&](Kind kind, uintptr_t b, uintptr_t c, uint32_t x, uint32_t y) {
    Record r{};
    r.seq = recs.size();
    r.ts_ns = 1000 * (recs.size() + 1);
    r.tid = 1;
    r.kind = kind;
    r.b = b;
    r.c = c;
    r.x = x;
    r.y = y;
    recs.push_back(r);
  };
  add(Kind::kWake, 0x10, 0, 0, 1);  // a queue no item hangs on
  for (int i = 0; i < 5; ++i) {     // a block of two lines, five times
    add(Kind::kWake, 0x20, 0, EPOLLIN, 1);
    add(Kind::kWake, 0x30, 0, EPOLLOUT, 1);
  }
  add(Kind::kWake, 0x10, 0, 0, 1);
  const uep::tracetool::Model model = uep::tracetool::BuildModel(recs);
  const std::string folded = uep::tracetool::RenderTextFolded(model);
  const std::string full = uep::tracetool::RenderText(model);
  const auto lines = [](const std::string& t) { return std::count(t.begin(), t.end(), '\n'); };
  EXPECT_EQ(lines(full), 12);
  EXPECT_EQ(lines(folded), 5) << folded;  // first, the block, "... 4 more times", last
  EXPECT_NE(folded.find("... the 2 lines above 4 more times, until +10.0us"), std::string::npos)
      << folded;
  // The picture draws the block once and a note for the repeats.
  const uep::tracetool::Model drawn = uep::tracetool::FoldModel(model);
  ASSERT_EQ(drawn.steps.size(), 5U);
  EXPECT_EQ(drawn.steps[3].text, "== 4x more: 2 steps");
  EXPECT_EQ(drawn.steps[3].arrow_class, "mark");
  const std::string summary = uep::tracetool::RenderSummary(model);
  EXPECT_EQ(summary.rfind("12 records; by kind: wake 12\n", 0), 0U) << summary;
}

TEST(Trace, JsonDumpHasOneLinePerRecord) {
  const ScenarioResult res = RunNamed("oneshot");
  char* buf = nullptr;
  size_t len = 0;
  FILE* f = open_memstream(&buf, &len);
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(uep_trace_dump(f), 0);
  std::fclose(f);
  const std::string out(buf, len);
  std::free(buf);
  size_t lines = 0;
  for (char c : out) lines += c == '\n' ? 1 : 0;
  EXPECT_EQ(lines, res.records.size());
  EXPECT_NE(out.find("\"kind\":\"callback\""), std::string::npos);
  EXPECT_NE(out.find("\"tag\":\"eventfd\""), std::string::npos);
}

// A tag JSON must escape (quotes, a backslash, control characters) comes back whole through
// uep_trace_dump() and the reader `uepoll trace --` uses, and through `--json`'s writer.
TEST(Trace, JsonEscapesTagsBothWays) {
  static const char kName[] = "say \"hi\" \\ tab\there\nnew line \x01 end";
  ASSERT_EQ(uep_trace_start(64), 0);
  uep::trace::SetThreadName(kName);
  uep_trace_stop();
  char path[] = "/tmp/uepoll-trace-json-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  FILE* f = fdopen(fd, "w");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(uep_trace_dump(f), 0);
  std::fclose(f);
  auto named = [](const uep::tracetool::LoadedTrace& t) {
    std::vector<std::string> tags;
    for (const uep::trace::Record& r : t.records) {
      if (r.kind == uep::trace::Kind::kThreadName && r.tag != nullptr) tags.emplace_back(r.tag);
    }
    return tags;
  };
  uep::tracetool::LoadedTrace dumped;
  std::string error;
  ASSERT_TRUE(uep::tracetool::LoadTrace(path, &dumped, &error)) << error;
  EXPECT_EQ(named(dumped), std::vector<std::string>{kName});

  {
    std::ofstream out(path, std::ios::trunc);
    out << uep::tracetool::TraceJson(dumped.records, 3);
  }
  uep::tracetool::LoadedTrace written;
  ASSERT_TRUE(uep::tracetool::LoadTrace(path, &written, &error)) << error;
  std::remove(path);
  EXPECT_EQ(named(written), std::vector<std::string>{kName});
  EXPECT_EQ(written.dropped, 3U);
  ASSERT_EQ(written.records.size(), dumped.records.size());
  for (size_t i = 0; i < written.records.size(); ++i) {
    EXPECT_EQ(written.records[i].seq, dumped.records[i].seq);
    EXPECT_EQ(written.records[i].kind, dumped.records[i].kind);
    EXPECT_EQ(written.records[i].a, dumped.records[i].a);
    EXPECT_EQ(written.records[i].tid, dumped.records[i].tid);
  }
}

// Many threads record at once (TSan checks the ring), a reader copies meanwhile; the ring
// keeps the last records, in order, and counts the rest as dropped.
TEST(Trace, ConcurrentWritersAndFullRing) {
  ASSERT_EQ(uep_trace_start(1000), 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([] {
      const int efd = uep_eventfd(0, EFD_NONBLOCK);
      const int ep = uep_epoll_create1(0);
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLET;
      uep_epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
      for (int i = 0; i < 200; ++i) {
        uep_eventfd_write(efd, 1);
        uep_epoll_wait(ep, &ev, 1, 0);
      }
      uep_close(ep);
      uep_close(efd);
    });
  }
  // A reader while they write.
  size_t seen = 0;
  for (int i = 0; i < 20; ++i) seen = std::max(seen, uep::trace::Snapshot().size());
  for (std::thread& t : threads) t.join();
  uep_trace_stop();
  uint64_t dropped = 0;
  const std::vector<Record> recs = uep::trace::Snapshot(&dropped);
  // A record is lost only when its writer was a whole ring (1000 records) behind another,
  // one record per such stall: nearly all the last 1000 are there.
  ASSERT_LE(recs.size(), 1000U);
  EXPECT_GE(recs.size(), 900U);
  EXPECT_LE(seen, 1000U);
  const uint64_t emitted = recs.size() + dropped;
  EXPECT_GT(emitted, 4U * 200U);  // each round trip leaves several records
  for (size_t k = 0; k < recs.size(); ++k) {
    EXPECT_GE(recs[k].seq + 1000, emitted) << "an early record was kept";
    if (k > 0) {
      EXPECT_LT(recs[k - 1].seq, recs[k].seq) << "out of order";
    }
  }
}

// The last records are the ones kept: the first ones are overwritten.
TEST(Trace, RingKeepsTheLastRecords) {
  ASSERT_EQ(uep_trace_start(16), 0);
  for (uint32_t v = 0; v < 100; ++v) {
    uep::trace::Emit(uep::trace::Kind::kMark, nullptr, nullptr, nullptr, nullptr, v, 0, "m");
  }
  uep_trace_stop();
  uint64_t dropped = 0;
  const std::vector<Record> recs = uep::trace::Snapshot(&dropped);
  ASSERT_EQ(recs.size(), 16U);
  EXPECT_EQ(dropped, 84U);
  for (uint32_t k = 0; k < 16; ++k) {
    EXPECT_EQ(recs[k].x, 84 + k);
    EXPECT_EQ(recs[k].seq, 84U + k);
  }
}

std::string FindChromium() {
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
    const std::string cmd = std::string("command -v ") + name + " 2>/dev/null";
    if (FILE* p = popen(cmd.c_str(), "r")) {
      char buf[512] = {};
      const bool found = std::fgets(buf, sizeof buf, p) != nullptr;
      pclose(p);
      if (found) {
        std::string path(buf);
        while (!path.empty() && (path.back() == '\n' || path.back() == '\r')) path.pop_back();
        return path;
      }
    }
  }
  return {};
}

// The HTML page in a real browser: its script marks how many lane groups got a layout box.
// An instance holding an eventfd and a kernel socket: what its kernel side did appears as
// records of its own, with the counts the program saw.
TEST(Trace, KernelSideHarvestsSleepsAndRingAreRecorded) {
  const int ep = uep_epoll_create1(0);
  const int efd = uep_eventfd(0, EFD_NONBLOCK);
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 1;
  ASSERT_EQ(uep_epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev), 0);
  ev.data.u64 = 2;
  ASSERT_EQ(uep_epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev), 0);
  ASSERT_EQ(uep_trace_start(4096), 0);
  // 1. Nothing ready: one sleep in the kernel, timed out.
  epoll_event out[4];
  ASSERT_EQ(uep_epoll_wait(ep, out, 4, 20), 0);
  // 2. The socket readable: the kernel side returns it (the ring signals first).
  char byte = 'x';
  ASSERT_EQ(write(sv[1], &byte, 1), 1);
  ASSERT_EQ(uep_epoll_wait(ep, out, 4, 5000), 1);
  const uint64_t data = out[0].data.u64;  // epoll_event is packed: no reference into it
  EXPECT_EQ(data, 2U);
  ASSERT_EQ(read(sv[0], &byte, 1), 1);
  // 3. Both sides ready: one call reports both.
  ASSERT_EQ(write(sv[1], &byte, 1), 1);
  ASSERT_EQ(uep_eventfd_write(efd, 1), 0);
  ASSERT_EQ(uep_epoll_wait(ep, out, 4, 5000), 2);
  ASSERT_EQ(uep_trace_stop(), 0);
  const std::vector<Record> recs = uep::trace::Snapshot();

  std::map<Kind, int> count;
  uint32_t kernel_events = 0;  // reported to the caller by the kernel side
  std::set<uintptr_t> instances;
  for (const Record& r : recs) {
    ++count[r.kind];
    if (r.kind == Kind::kKernelHarvest) {
      EXPECT_GE(r.x, r.y) << "the caller cannot get more events than the kernel returned";
      kernel_events += r.y;
      instances.insert(r.d);
    }
    if (r.kind == Kind::kKernelSleepEnd && static_cast<int>(r.x) > 0) kernel_events += r.x;
    if (r.kind == Kind::kKernelSleep || r.kind == Kind::kKernelSleepEnd) instances.insert(r.d);
  }
  EXPECT_EQ(kernel_events, 2U) << "the socket was reported twice, by the kernel side";
  EXPECT_EQ(instances.size(), 1U);
  EXPECT_GE(count[Kind::kKernelHarvest], 2);
  // The first call slept once in the kernel and timed out (20 ms asked, as ms).
  EXPECT_GE(count[Kind::kKernelSleep], 1);
  EXPECT_EQ(count[Kind::kKernelSleep], count[Kind::kKernelSleepEnd]);
  ExpectSequence(recs, {{"a sleep in the kernel of at most 20 ms",
                         [](const Record& r) { return r.kind == Kind::kKernelSleep && r.x <= 20; }},
                        {"it times out",
                         [](const Record& r) {
                           return r.kind == Kind::kKernelSleepEnd && r.x == 0 && r.y == 0;
                         }},
                        {"the kernel side returns the socket",
                         [](const Record& r) {
                           return (r.kind == Kind::kKernelHarvest && r.y == 1) ||
                                  (r.kind == Kind::kKernelSleepEnd && r.x == 1);
                         }},
                        {"the eventfd's transfer",
                         [](const Record& r) {
                           return r.kind == Kind::kTransferItem &&
                                  r.y == uint32_t(ItemFate::kRequeued);
                         }},
                        {"and the kernel side's harvest in the same call",
                         [](const Record& r) { return r.kind == Kind::kKernelHarvest && r.y == 1; }}});
  if (uep::platform::KernelReadinessMode() == uep::platform::KernelReadiness::kUring) {
    // The thread's ring took the watch; it saw the socket become readable after the idle
    // sleep, and that signal was consumed and the poll re-armed. (The second byte is found
    // without a signal: an ask that returned events is followed by another.)
    EXPECT_GE(count[Kind::kRingSignal], 1);
    ExpectSequence(recs, {{"the ring takes the watch",
                           [](const Record& r) { return r.kind == Kind::kRingRearm && r.x == 1 && r.y == 1; }},
                          Is(Kind::kRingSignal, "the ring signals"),
                          {"its signal consumed, the poll re-armed",
                           [](const Record& r) { return r.kind == Kind::kRingRearm && r.x == 1 && r.y == 0; }},
                          {"the ask that follows returns the socket",
                           [](const Record& r) { return r.kind == Kind::kKernelHarvest && r.y == 1; }}});
  } else {
    EXPECT_EQ(count[Kind::kRingSignal], 0);
  }
  // The renderers say it: a line per record, and the summary counts them.
  const uep::tracetool::Model model = uep::tracetool::BuildModel(recs);
  const std::string text = uep::tracetool::RenderText(model);
  EXPECT_NE(text.find("asks the kernel side (epoll_wait, timeout 0): 1 event(s), 1 for"),
            std::string::npos) << text;
  EXPECT_NE(text.find("sleeps in the kernel on epoll#1's hidden instance"), std::string::npos)
      << text;
  EXPECT_NE(text.find("wakes up in the kernel: timed out"), std::string::npos) << text;
  const std::string summary = uep::tracetool::RenderSummary(model);
  const int sleeps = count[Kind::kKernelSleep];
  const std::string want =
      "kernel side: " + std::to_string(count[Kind::kKernelHarvest]) + " harvests";
  EXPECT_NE(summary.find(want), std::string::npos) << summary;
  EXPECT_NE(summary.find(std::to_string(sleeps) + (sleeps == 1 ? " sleep (" : " sleeps (")),
            std::string::npos) << summary;
  EXPECT_NE(summary.find("kernel_harvest " + std::to_string(count[Kind::kKernelHarvest])),
            std::string::npos) << summary;
  close(sv[0]);
  close(sv[1]);
  uep_close(efd);
  uep_close(ep);
}

TEST(TraceHtml, RendersTheLanesInHeadlessChromium) {
  const std::string chromium = FindChromium();
  if (chromium.empty()) {
    GTEST_SKIP() << "chromium is not installed (apt-get install -y chromium); the HTML page "
                    "was not checked in a browser";
  }
  // The page of a scenario as Chromium laid it out (the DOM after its script ran).
  const auto laid_out = [&](const uep::tracetool::Model& model, const std::string& name) {
    char dir_tmpl[] = "/tmp/uep_trace_html_XXXXXX";
    if (mkdtemp(dir_tmpl) == nullptr) return std::string();
    const std::string dir = dir_tmpl;
    const std::string page = dir + "/" + name + ".html";
    {
      std::ofstream out(page);
      out << uep::tracetool::RenderHtml(model, name);
    }
    const std::string cmd = chromium +
                            " --headless --no-sandbox --disable-gpu --disable-background-networking"
                            " --disable-component-update --disable-sync --no-first-run"
                            " --user-data-dir=" + dir + "/profile --dump-dom file://" + page +
                            " 2>/dev/null";
    std::string dom;
    if (FILE* p = popen(cmd.c_str(), "r")) {
      char buf[4096];
      size_t n = 0;
      while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) dom.append(buf, n);
      pclose(p);
    }
    std::system(("rm -rf " + dir).c_str());
    return dom;
  };
  // lt-vs-et has the longest notes above the lanes, several in adjacent columns.
  const std::string lt_dom = laid_out(uep::tracetool::BuildModel(RunNamed("lt-vs-et").records), "lt-vs-et");
  ASSERT_FALSE(lt_dom.empty()) << "chromium printed no DOM";
  EXPECT_NE(lt_dom.find("data-label-overlaps=\"0\""), std::string::npos) << lt_dom.substr(0, 400);
  EXPECT_NE(lt_dom.find("data-label-clipped=\"0\""), std::string::npos) << lt_dom.substr(0, 400);

  const ScenarioResult res = RunNamed("nested");
  const uep::tracetool::Model model = uep::tracetool::BuildModel(res.records);
  const std::string dom = laid_out(model, "nested");
  ASSERT_FALSE(dom.empty()) << "chromium printed no DOM";
  for (const char* id : {"lane-eventfd-1", "lane-item-1", "lane-item-2", "lane-epoll-1",
                         "lane-epoll-2", "lane-T1", "lane-T2"}) {
    EXPECT_NE(dom.find(std::string("id=\"") + id + "\""), std::string::npos) << id;
  }
  const std::string want = "data-rendered-lanes=\"" + std::to_string(model.lanes.size()) + "\"";
  EXPECT_NE(dom.find(want), std::string::npos)
      << "the page's script did not lay out every lane (" << want << ")";
  // The notes above the lanes, as laid out: none over another, none cut off.
  EXPECT_NE(dom.find("data-label-overlaps=\"0\""), std::string::npos) << dom.substr(0, 400);
  EXPECT_NE(dom.find("data-label-clipped=\"0\""), std::string::npos) << dom.substr(0, 400);
}

}  // namespace
