#include "trace_render.h"

#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>

namespace uep::tracetool {
namespace {

using trace::Kind;
using trace::Record;

std::string Fmt(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string Fmt(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

enum class QueueRole { kFile, kWaiters, kPollWait };

struct QueueOwner {
  uintptr_t obj;
  QueueRole role;
};

struct ItemInfo {
  uintptr_t file = 0;
  uintptr_t ep = 0;
  uint32_t events = 0;
};

class Builder {
 public:
  explicit Builder(const std::vector<Record>& recs) : recs_(recs) {}

  Model Build() {
    for (const Record& r : recs_) Discover(r);
    Assemble();
    uint64_t t0 = 0;
    for (const Record& r : recs_) {
      if (r.kind == Kind::kThreadName) continue;
      t0 = r.ts_ns;
      break;
    }
    for (const Record& r : recs_) {
      if (r.kind == Kind::kThreadName) continue;
      Step s;
      s.rec = r;
      s.t_us = static_cast<double>(r.ts_ns - std::min(t0, r.ts_ns)) / 1000.0;
      s.thread = ThreadLabel(r.tid);
      Describe(r, &s);
      model_.steps.push_back(std::move(s));
    }
    return std::move(model_);
  }

 private:
  // ---- pass 1: which objects exist, their names and relations ------------------------
  void Discover(const Record& r) {
    Thread(r.tid);
    switch (r.kind) {
      case Kind::kThreadName:
        if (r.tag != nullptr && thread_names_.count(r.tid) == 0) thread_names_[r.tid] = r.tag;
        break;
      case Kind::kRegister: {
        const std::string type = r.tag != nullptr ? r.tag : "file";
        if (type == "epoll") {
          Instance(r.a);
        } else {
          File(r.a, type);
        }
        Instance(r.d);
        Item(r.c);
        items_[r.c] = {r.a, r.d, r.x};
        queues_[r.b] = {r.a, type == "epoll" ? QueueRole::kPollWait : QueueRole::kFile};
        break;
      }
      case Kind::kEpWait:
        Instance(r.d);
        queues_[r.b] = {r.d, QueueRole::kWaiters};
        waiter_seen_.push_back({r.a, r.seq, r.tid, r.d});
        break;
      case Kind::kSleep:
        waiter_seen_.push_back({r.a, r.seq, r.tid, 0});
        break;
      case Kind::kPollAtDepth:
        Instance(r.d);
        queues_[r.b] = {r.d, QueueRole::kPollWait};
        break;
      case Kind::kCallback:
      case Kind::kTransferItem:
      case Kind::kReadyOnCtl:
      case Kind::kOvfRequeue:
        Instance(r.d);
        Item(r.c);
        break;
      case Kind::kTransferBegin:
      case Kind::kTransferEnd:
        Instance(r.d);
        break;
      case Kind::kKernelHarvest:
      case Kind::kKernelSleep:
      case Kind::kKernelSleepEnd:
        Instance(r.d);
        kernel_side_of_[r.a] = r.d;
        break;
      default:
        break;
    }
  }

  void File(uintptr_t p, const std::string& type) {
    if (obj_name_.count(p) != 0) return;
    obj_name_[p] = Fmt("%s#%d", type.c_str(), ++type_count_[type]);
    files_.push_back(p);
  }
  void Instance(uintptr_t p) {
    if (p == 0 || obj_name_.count(p) != 0) return;
    obj_name_[p] = Fmt("epoll#%d", ++type_count_["epoll"]);
    instances_.push_back(p);
  }
  void Item(uintptr_t p) {
    if (p == 0 || obj_name_.count(p) != 0) return;
    obj_name_[p] = Fmt("item#%d", ++type_count_["item"]);
    item_list_.push_back(p);
  }
  void Thread(uint32_t tid) {
    if (std::find(threads_.begin(), threads_.end(), tid) == threads_.end()) threads_.push_back(tid);
  }

  void Assemble() {
    for (uintptr_t p : files_) {
      AddLane(p, LaneKind::kFile, obj_name_[p] + " (file)", obj_name_[p] + " (file)");
    }
    for (uintptr_t p : item_list_) {
      std::string label = obj_name_[p];
      std::string short_label = obj_name_[p];
      auto it = items_.find(p);
      if (it != items_.end()) {
        label += " watches " + Name(it->second.file) + " for " + Name(it->second.ep) + " (" +
                 MaskString(it->second.events) + ")";
        short_label += ": " + Name(it->second.file) + " in " + Name(it->second.ep);
      }
      AddLane(p, LaneKind::kItem, label, short_label);
    }
    for (uintptr_t p : instances_) {
      AddLane(p, LaneKind::kInstance, obj_name_[p] + " (instance)", obj_name_[p] + " (instance)");
    }
    for (uint32_t tid : threads_) {
      thread_lane_[tid] = static_cast<int>(model_.lanes.size());
      model_.lanes.push_back(
          {ThreadShort(tid), ThreadLabel(tid), ThreadLabel(tid) + " (thread)", LaneKind::kThread});
    }
  }

  void AddLane(uintptr_t p, LaneKind kind, const std::string& label,
               const std::string& short_label) {
    obj_lane_[p] = static_cast<int>(model_.lanes.size());
    model_.lanes.push_back({obj_name_[p], label, short_label, kind});
  }

  std::string Name(uintptr_t p) const {
    auto it = obj_name_.find(p);
    return it != obj_name_.end() ? it->second : Fmt("obj@%#lx", static_cast<unsigned long>(p));
  }
  int LaneOf(uintptr_t p) const {
    auto it = obj_lane_.find(p);
    return it != obj_lane_.end() ? it->second : -1;
  }
  std::string ThreadShort(uint32_t tid) const {
    const auto pos = std::find(threads_.begin(), threads_.end(), tid) - threads_.begin();
    return Fmt("T%d", static_cast<int>(pos) + 1);
  }
  std::string ThreadLabel(uint32_t tid) const {
    auto it = thread_names_.find(tid);
    return ThreadShort(tid) + (it != thread_names_.end() ? " " + it->second : std::string());
  }

  // The sleeper a waiter pointer belonged to: the nearest record naming it (waiters live on
  // their thread's stack, so one address may be reused by later waits).
  struct WaiterSeen {
    uintptr_t waiter;
    uint64_t seq;
    uint32_t tid;
    uintptr_t ep;
  };
  std::optional<WaiterSeen> FindWaiter(uintptr_t waiter, uint64_t seq, bool want_ep) const {
    std::optional<WaiterSeen> best;
    uint64_t best_dist = UINT64_MAX;
    for (const WaiterSeen& w : waiter_seen_) {
      if (w.waiter != waiter || (want_ep && w.ep == 0)) continue;
      const uint64_t dist = w.seq > seq ? w.seq - seq : seq - w.seq;
      if (dist < best_dist) {
        best_dist = dist;
        best = w;
      }
    }
    return best;
  }

  // ---- pass 2: one step per record ----------------------------------------------------
  void Describe(const Record& r, Step* s) {
    const int tl = thread_lane_[r.tid];
    const std::string who = ThreadShort(r.tid);
    s->lane = tl;
    switch (r.kind) {
      case Kind::kRegister: {
        s->lane = LaneOf(r.c);
        s->from = LaneOf(r.c);
        s->to = LaneOf(r.a);
        s->arrow_class = "hook";
        s->text = Fmt("%s ADD: queue procedure hangs %s's hook on %s's %s queue (wants %s)",
                      Name(r.d).c_str(), Name(r.c).c_str(), Name(r.a).c_str(),
                      r.tag != nullptr && std::strcmp(r.tag, "epoll") == 0 ? "poll_wait" : "wait",
                      MaskString(r.x).c_str());
        break;
      }
      case Kind::kWake: {
        auto it = queues_.find(r.b);
        if (it == queues_.end()) {
          s->text = Fmt("wakes a queue with no epoll hook (key %s)", MaskString(r.x).c_str());
          break;
        }
        s->lane = LaneOf(it->second.obj);
        const std::string owner = Name(it->second.obj);
        switch (it->second.role) {
          case QueueRole::kFile:
            s->text = Fmt("%s wakes its wait queue, key %s",
                          owner.c_str(), r.x != 0 ? MaskString(r.x).c_str() : "none (any event)");
            break;
          case QueueRole::kWaiters:
            s->text = Fmt("%s wakes its own wait queue: one sleeping epoll_wait", owner.c_str());
            break;
          case QueueRole::kPollWait:
            s->text = Fmt("%s --wake(%s)--> its poll_wait queue (whoever watches %s)",
                          owner.c_str(), MaskString(r.x).c_str(), owner.c_str());
            break;
        }
        break;
      }
      case Kind::kCallback: {
        auto it = queues_.find(r.b);
        const uintptr_t src = it != queues_.end() ? it->second.obj : 0;
        s->lane = LaneOf(r.c);
        s->from = src != 0 ? LaneOf(src) : -1;
        s->to = LaneOf(r.c);
        s->arrow_class = "callback";
        const std::string head = Fmt("%s --wake(%s)--> %s", Name(src).c_str(),
                                     r.x != 0 ? MaskString(r.x).c_str() : "no key",
                                     Name(r.c).c_str());
        std::string ep = Name(r.d);
        switch (static_cast<trace::Decision>(r.y)) {
          case trace::Decision::kLinked:
            s->text = head + " [linked] --> " + ep + " ready list";
            s->from2 = LaneOf(r.c);
            s->to2 = LaneOf(r.d);
            break;
          case trace::Decision::kAlreadyLinked:
            s->text = head + " [already linked] (" + ep + " ready list unchanged)";
            break;
          case trace::Decision::kOverflow:
            s->text = head + " [chained on overflow list] (" + ep + " is transferring)";
            s->from2 = LaneOf(r.c);
            s->to2 = LaneOf(r.d);
            break;
          case trace::Decision::kOverflowAlready:
            s->text = head + " [already on overflow list]";
            break;
          case trace::Decision::kIgnoredKey:
            s->text = head + " [ignored: key not watched]";
            s->arrow_class = "ignored";
            break;
          case trace::Decision::kDisabled:
            s->text = head + " [ignored: one-shot disarmed]";
            s->arrow_class = "ignored";
            break;
        }
        break;
      }
      case Kind::kReadyOnCtl:
        s->lane = LaneOf(r.c);
        s->from = LaneOf(r.c);
        s->to = LaneOf(r.d);
        s->arrow_class = "ready";
        s->text = Fmt("%s: %s is ready already (%s): %s --> %s ready list",
                      r.y == 2 ? "MOD" : "ADD", Name(items_[r.c].file).c_str(),
                      MaskString(r.x).c_str(), Name(r.c).c_str(), Name(r.d).c_str());
        break;
      case Kind::kEpWait:
        s->text = Fmt("%s: %s has nothing ready, %s queues itself on its wait queue",
                      who.c_str(), Name(r.d).c_str(), who.c_str());
        break;
      case Kind::kSleep:
        s->text = r.x > 0 ? Fmt("%s sleeps (after %u spins)", who.c_str(), r.x)
                          : Fmt("%s sleeps", who.c_str());
        break;
      case Kind::kSleepEnd: {
        const int res = static_cast<int>(r.x);
        s->text = who + (res == 0            ? " wakes up: woken"
                         : res == -ETIMEDOUT ? " wakes up: timed out"
                         : res == -EINTR     ? " wakes up: interrupted (EINTR)"
                                             : Fmt(" wakes up: %d", res));
        break;
      }
      case Kind::kWaiterWoken: {
        auto sleeper = FindWaiter(r.a, r.seq, false);
        auto epw = FindWaiter(r.a, r.seq, true);
        const int target = sleeper ? thread_lane_[sleeper->tid] : -1;
        const std::string tname = sleeper ? ThreadShort(sleeper->tid) : std::string("a thread");
        s->lane = target >= 0 ? target : tl;
        s->from = epw ? LaneOf(epw->ep) : tl;
        s->to = target;
        s->arrow_class = "wake";
        s->text = Fmt("%s --wake--> thread %s (woken by %s)",
                      epw ? Name(epw->ep).c_str() : who.c_str(), tname.c_str(), who.c_str());
        break;
      }
      case Kind::kTransferBegin:
        s->lane = LaneOf(r.d);
        s->text = Fmt("%s: %s takes the ready list (%s)", Name(r.d).c_str(), who.c_str(),
                      r.y == 0 ? "lockless: under ep->lock" : "scan: ep->mtx, overflow list on");
        break;
      case Kind::kTransferItem: {
        s->lane = LaneOf(r.c);
        const auto fate = static_cast<trace::ItemFate>(r.y);
        if (fate == trace::ItemFate::kNotReady) {
          s->text = Fmt("%s re-polled: nothing --> dropped from the ready list", Name(r.c).c_str());
          break;
        }
        s->from = LaneOf(r.c);
        s->to = tl;
        s->arrow_class = "report";
        const char* what = fate == trace::ItemFate::kRequeued     ? "requeued (level-triggered)"
                           : fate == trace::ItemFate::kReportedEt ? "off the list (edge-triggered)"
                           : fate == trace::ItemFate::kDisarmed   ? "disarmed (one-shot)"
                                                                  : "";
        s->text = Fmt("%s re-polled: %s --> reported to %s, %s", Name(r.c).c_str(),
                      MaskString(r.x).c_str(), who.c_str(), what);
        break;
      }
      case Kind::kTransferEnd:
        s->lane = LaneOf(r.d);
        s->text = Fmt("%s: transfer done, %d event(s) to %s", Name(r.d).c_str(),
                      static_cast<int>(r.x), who.c_str());
        break;
      case Kind::kOvfRequeue:
        s->lane = LaneOf(r.c);
        s->from = LaneOf(r.c);
        s->to = LaneOf(r.d);
        s->arrow_class = "ready";
        s->text = Fmt("%s: readied during the transfer, overflow list --> %s ready list",
                      Name(r.c).c_str(), Name(r.d).c_str());
        break;
      case Kind::kPollAtDepth:
        s->lane = LaneOf(r.d);
        s->text = Fmt("%s polled as a file (depth %u): %s", Name(r.d).c_str(), r.y,
                      r.x != 0 ? MaskString(r.x).c_str() : "nothing ready");
        break;
      case Kind::kKernelHarvest: {
        s->lane = LaneOf(r.d);
        const int left = static_cast<int>(r.y);
        s->text = left < 0 ? Fmt("%s: %s asks the kernel side: error %d", Name(r.d).c_str(),
                                 who.c_str(), left)
                           : Fmt("%s: %s asks the kernel side (epoll_wait, timeout 0): %u "
                                 "event(s), %d for %s%s",
                                 Name(r.d).c_str(), who.c_str(), r.x, left, who.c_str(),
                                 r.x > r.y ? " (the doorbell's dropped)" : "");
        break;
      }
      case Kind::kKernelSleep:
        s->text = Fmt("%s sleeps in the kernel on %s's hidden instance%s (%s)", who.c_str(),
                      Name(r.d).c_str(), r.y != 0 ? " and the links" : "",
                      r.x == ~0U ? "no timeout" : Fmt("timeout %u ms", r.x).c_str());
        break;
      case Kind::kKernelSleepEnd: {
        const int res = static_cast<int>(r.x);
        s->text = res > 0     ? Fmt("%s wakes up in the kernel: %d event(s) for it", who.c_str(), res)
                  : res == -EINTR ? who + " wakes up in the kernel: interrupted (EINTR)"
                  : res < 0   ? Fmt("%s wakes up in the kernel: error %d", who.c_str(), res)
                  : r.y == 0  ? who + " wakes up in the kernel: timed out"
                              : Fmt("%s wakes up in the kernel: %u event(s), none for it "
                                    "(the doorbell, or a child's)", who.c_str(), r.y);
        break;
      }
      case Kind::kRingSignal: {
        const uintptr_t ep = KernelSideOwner(r.a);
        s->lane = LaneOf(ep);
        s->text = r.a == 0 ? std::string("readiness ring: the links (descendants' kernel sides) "
                                         "became readable")
                           : Fmt("readiness ring: %s's kernel side became readable%s",
                                 ep != 0 ? Name(ep).c_str() : "an instance",
                                 r.x != 0 ? " (its poll ended)" : "");
        break;
      }
      case Kind::kRingRearm: {
        const uintptr_t ep = KernelSideOwner(r.a);
        s->lane = LaneOf(ep);
        const std::string name = ep != 0 ? Name(ep) : std::string("an instance");
        s->text = r.y != 0 ? Fmt("%s: %s's readiness ring takes the watch of its kernel side%s",
                                 name.c_str(), who.c_str(), r.x != 0 ? "" : ": failed")
                           : Fmt("%s: %s consumes the ring's signal and re-arms its poll%s",
                                 name.c_str(), who.c_str(), r.x != 0 ? "" : ": failed");
        if (r.x == 0) s->text += " (asks by system call from now on)";
        break;
      }
      case Kind::kMark:
        s->arrow_class = "mark";
        s->text = std::string("== ") + (r.tag != nullptr ? r.tag : "");
        break;
      case Kind::kThreadName:
        break;
    }
    if (s->lane < 0) s->lane = tl;
  }

  const std::vector<Record>& recs_;
  Model model_;
  std::map<uint32_t, std::string> thread_names_;
  std::vector<uint32_t> threads_;
  std::map<uint32_t, int> thread_lane_;
  std::map<uintptr_t, std::string> obj_name_;
  std::map<uintptr_t, int> obj_lane_;
  std::map<std::string, int> type_count_;
  std::vector<uintptr_t> files_, item_list_, instances_;
  std::map<uintptr_t, ItemInfo> items_;
  std::map<uintptr_t, QueueOwner> queues_;
  std::vector<WaiterSeen> waiter_seen_;
  std::map<uintptr_t, uintptr_t> kernel_side_of_;  // kernel side -> its instance

  uintptr_t KernelSideOwner(uintptr_t ks) const {
    auto it = kernel_side_of_.find(ks);
    return it != kernel_side_of_.end() ? it->second : 0;
  }
};

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string LaneId(const std::string& name) {
  std::string id = "lane-";
  for (char c : name) id += (c == '#' ? '-' : c);
  return id;
}

const char* LaneClass(LaneKind k) {
  switch (k) {
    case LaneKind::kFile: return "file";
    case LaneKind::kItem: return "item";
    case LaneKind::kInstance: return "instance";
    case LaneKind::kThread: return "thread";
  }
  return "";
}

constexpr int kLabelW = 250;
constexpr int kTop = 250;
constexpr int kColW = 20;
// Notes above the lanes are vertical (one column wide, so neighbours never overlap) and
// at most this long, to fit between the legend (y 50) and kTop.
constexpr size_t kMarkChars = 25;

std::string Shorten(const std::string& text, size_t chars) {
  return text.size() <= chars ? text : text.substr(0, chars - 3) + "...";
}
constexpr int kLaneH = 30;

}  // namespace

std::string MaskString(uint32_t mask) {
  static const struct {
    uint32_t bit;
    const char* name;
  } kBits[] = {{EPOLLIN, "IN"},         {EPOLLPRI, "PRI"},       {EPOLLOUT, "OUT"},
               {EPOLLERR, "ERR"},       {EPOLLHUP, "HUP"},       {EPOLLRDNORM, "RDNORM"},
               {EPOLLRDBAND, "RDBAND"}, {EPOLLWRNORM, "WRNORM"}, {EPOLLWRBAND, "WRBAND"},
               {EPOLLMSG, "MSG"},       {EPOLLRDHUP, "RDHUP"},   {EPOLLEXCLUSIVE, "EXCLUSIVE"},
               {EPOLLWAKEUP, "WAKEUP"}, {EPOLLONESHOT, "ONESHOT"}, {EPOLLET, "ET"}};
  if (mask == 0) return "0";
  std::string out;
  for (const auto& b : kBits) {
    if ((mask & b.bit) == 0) continue;
    if (!out.empty()) out += '|';
    out += b.name;
    mask &= ~b.bit;
  }
  if (mask != 0) out += (out.empty() ? "" : "|") + Fmt("%#x", mask);
  return out;
}

Model BuildModel(const std::vector<trace::Record>& records) {
  std::vector<trace::Record> sorted = records;
  std::sort(sorted.begin(), sorted.end(),
            [](const Record& a, const Record& b) { return a.seq < b.seq; });
  return Builder(sorted).Build();
}

std::string RenderText(const Model& model) {
  std::string out;
  for (const Step& s : model.steps) {
    const std::string lane = s.lane >= 0 ? model.lanes[static_cast<size_t>(s.lane)].name : "";
    out += Fmt("%+10.1fus  %-12s %-10s %s\n", s.t_us, s.thread.c_str(), lane.c_str(),
               s.text.c_str());
  }
  return out;
}

namespace {

const char* DecisionName(uint32_t y) {
  switch (static_cast<trace::Decision>(y)) {
    case trace::Decision::kLinked: return "linked";
    case trace::Decision::kAlreadyLinked: return "already linked";
    case trace::Decision::kOverflow: return "chained on overflow list";
    case trace::Decision::kOverflowAlready: return "already chained";
    case trace::Decision::kIgnoredKey: return "ignored: key not watched";
    case trace::Decision::kDisabled: return "ignored: one-shot disarmed";
  }
  return "?";
}

// "a 3, b 2, c 1": most frequent first, at most `most` entries and "N more".
std::string Counts(const std::map<std::string, size_t>& counts, size_t most) {
  std::vector<std::pair<std::string, size_t>> v(counts.begin(), counts.end());
  std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string out;
  for (size_t k = 0; k < v.size() && k < most; ++k) {
    out += Fmt("%s%s %zu", k == 0 ? "" : ", ", v[k].first.c_str(), v[k].second);
  }
  if (v.size() > most) out += Fmt(", %zu more", v.size() - most);
  return out;
}

// The line of a step without its time: what folding compares.
std::string StepKey(const Model& model, const Step& s) {
  const std::string lane = s.lane >= 0 ? model.lanes[static_cast<size_t>(s.lane)].name : "";
  return Fmt("%-12s %-10s ", s.thread.c_str(), lane.c_str()) + s.text;
}

}  // namespace

std::string RenderSummary(const Model& model) {
  std::map<std::string, size_t> kinds;
  std::map<std::string, size_t> decisions;
  std::map<std::string, size_t> objects;
  size_t harvests = 0, harvested = 0, sleeps = 0, woke_with = 0, signals = 0, rearms = 0;
  for (const Step& s : model.steps) {
    ++kinds[trace::KindName(s.rec.kind)];
    switch (s.rec.kind) {
      case Kind::kKernelHarvest:
        ++harvests;
        if (static_cast<int>(s.rec.y) > 0) harvested += s.rec.y;
        break;
      case Kind::kKernelSleep: ++sleeps; break;
      case Kind::kKernelSleepEnd:
        if (static_cast<int>(s.rec.x) > 0) woke_with += s.rec.x;
        break;
      case Kind::kRingSignal: ++signals; break;
      case Kind::kRingRearm: ++rearms; break;
      default: break;
    }
    if (s.rec.kind == Kind::kCallback) ++decisions[DecisionName(s.rec.y)];
    if (s.lane >= 0) ++objects[model.lanes[static_cast<size_t>(s.lane)].name];
  }
  if (model.steps.empty()) return "";
  std::string out = Fmt("%zu record%s; by kind: ", model.steps.size(), model.steps.size() == 1 ? "" : "s");
  out += Counts(kinds, kinds.size()) + "\n";
  if (!decisions.empty()) out += "callback decisions: " + Counts(decisions, decisions.size()) + "\n";
  if (harvests + sleeps + signals + rearms != 0) {
    out += Fmt("kernel side: %zu harvest%s (%zu event%s), %zu sleep%s (%zu event%s on waking), "
               "readiness ring: %zu signal%s, %zu re-arm%s\n",
               harvests, harvests == 1 ? "" : "s", harvested, harvested == 1 ? "" : "s", sleeps,
               sleeps == 1 ? "" : "s", woke_with, woke_with == 1 ? "" : "s", signals,
               signals == 1 ? "" : "s", rearms, rearms == 1 ? "" : "s");
  }
  if (!objects.empty()) out += "by object: " + Counts(objects, 12) + "\n";
  return out;
}

namespace {

// A block of `len` steps from `start`, followed by `repeats` more copies of itself.
struct Run {
  size_t start = 0;
  size_t len = 1;
  size_t repeats = 0;
};

// The steps cut into runs, greedily: at each step, the block of 1 to 16 steps that then
// repeats over the most steps.
std::vector<Run> FindRuns(const Model& model) {
  std::vector<std::string> keys;
  keys.reserve(model.steps.size());
  for (const Step& s : model.steps) keys.push_back(StepKey(model, s));
  constexpr size_t kMaxBlock = 16;
  std::vector<Run> runs;
  size_t i = 0;
  while (i < keys.size()) {
    Run best{i, 1, 0};
    for (size_t len = 1; len <= kMaxBlock && i + 2 * len <= keys.size(); ++len) {
      size_t repeats = 0;
      while (i + (repeats + 2) * len <= keys.size() &&
             std::equal(keys.begin() + static_cast<long>(i),
                        keys.begin() + static_cast<long>(i + len),
                        keys.begin() + static_cast<long>(i + (repeats + 1) * len))) {
        ++repeats;
      }
      if (repeats * len > best.repeats * best.len) best = {i, len, repeats};
    }
    runs.push_back(best);
    i += (best.repeats + 1) * best.len;
  }
  return runs;
}

}  // namespace

std::string RenderTextFolded(const Model& model) {
  std::string out;
  for (const Run& run : FindRuns(model)) {
    for (size_t k = run.start; k < run.start + run.len; ++k) {
      out += Fmt("%+10.1fus  ", model.steps[k].t_us) + StepKey(model, model.steps[k]) + "\n";
    }
    if (run.repeats == 0) continue;
    const Step& last = model.steps[run.start + (run.repeats + 1) * run.len - 1];
    const char* times = run.repeats == 1 ? "time" : "times";
    if (run.len == 1) {
      out += Fmt("%13s... the line above %zu more %s, until %+.1fus\n", "", run.repeats, times,
                 last.t_us);
    } else {
      out += Fmt("%13s... the %zu lines above %zu more %s, until %+.1fus\n", "", run.len,
                 run.repeats, times, last.t_us);
    }
  }
  return out;
}

Model FoldModel(const Model& model) {
  Model out;
  out.lanes = model.lanes;
  for (const Run& run : FindRuns(model)) {
    out.steps.insert(out.steps.end(), model.steps.begin() + static_cast<long>(run.start),
                     model.steps.begin() + static_cast<long>(run.start + run.len));
    if (run.repeats == 0) continue;
    // A note in the picture where the repeats were: "== 99x more: 10 steps".
    Step note = model.steps[run.start + (run.repeats + 1) * run.len - 1];
    note.arrow_class = "mark";
    note.from = note.to = note.from2 = note.to2 = -1;
    note.text = Fmt("== %zux more: %zu step%s", run.repeats, run.len, run.len == 1 ? "" : "s");
    out.steps.push_back(note);
  }
  return out;
}

std::string RenderSvg(const Model& model, const std::string& title) {
  const int n = static_cast<int>(model.steps.size());
  // At least as wide as the legend (about 1000 px).
  const int width = std::max(kLabelW + (n + 1) * kColW + 20, 1020);
  const int height = kTop + static_cast<int>(model.lanes.size()) * kLaneH + 20;
  std::string o;
  o += Fmt("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"uep-trace\" width=\"%d\" "
           "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"monospace\" font-size=\"12\">\n",
           width, height, width, height);
  o += "<title>" + Escape(title) + "</title>\n";
  o += "<style>\n"
       ".lane-bg{fill:#fff}.lane-file .lane-bg{fill:#eef5ff}.lane-item .lane-bg{fill:#fff7e6}"
       ".lane-instance .lane-bg{fill:#eefaf0}.lane-thread .lane-bg{fill:#f5f0fa}"
       ".lane text{fill:#222}.lane line{stroke:#ccc}"
       ".arrow{stroke-width:1.6;fill:none}.a-hook{stroke:#888;stroke-dasharray:3 2}"
       ".a-callback{stroke:#d9480f}.a-ready{stroke:#2b8a3e}.a-wake{stroke:#1971c2}"
       ".a-report{stroke:#7048e8}.a-ignored{stroke:#aaa;stroke-dasharray:2 2}"
       ".dot{fill:#333}.mark line{stroke:#bbb;stroke-dasharray:4 3}.mark text{fill:#555}"
       "</style>\n<defs>\n";
  for (const char* c : {"hook", "callback", "ready", "wake", "report", "ignored"}) {
    o += Fmt("<marker id=\"ah-%s\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" "
             "markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0L10,5L0,10z\" "
             "class=\"ah-%s\"/></marker>\n",
             c, c);
  }
  o += "</defs>\n<style>.ah-hook{fill:#888}.ah-callback{fill:#d9480f}.ah-ready{fill:#2b8a3e}"
       ".ah-wake{fill:#1971c2}.ah-report{fill:#7048e8}.ah-ignored{fill:#aaa}</style>\n";
  // The title, cut to the picture's width (bold 14 px monospace: about 9 px a character).
  o += Fmt("<text x=\"8\" y=\"18\" font-size=\"14\" font-weight=\"bold\">%s</text>\n",
           Escape(Shorten(title, static_cast<size_t>((width - 16) / 9))).c_str());
  auto lane_y = [](int lane) { return kTop + lane * kLaneH + kLaneH / 2; };
  o += "<g class=\"lanes\">\n";
  for (size_t i = 0; i < model.lanes.size(); ++i) {
    const Lane& l = model.lanes[i];
    const int y = kTop + static_cast<int>(i) * kLaneH;
    o += Fmt("<g class=\"lane lane-%s\" id=\"%s\" data-lane=\"%s\"><title>%s</title>"
             "<rect class=\"lane-bg\" x=\"0\" y=\"%d\" width=\"%d\" height=\"%d\"/>"
             "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
             "<text x=\"6\" y=\"%d\">%s</text></g>\n",
             LaneClass(l.kind), LaneId(l.name).c_str(), Escape(l.name).c_str(),
             Escape(l.label).c_str(), y, width, kLaneH, kLabelW, y + kLaneH / 2, width,
             y + kLaneH / 2, y + kLaneH / 2 + 4, Escape(l.short_label.substr(0, 34)).c_str());
  }
  o += "</g>\n<g class=\"steps\">\n";
  for (int i = 0; i < n; ++i) {
    const Step& s = model.steps[static_cast<size_t>(i)];
    const int x = kLabelW + (i + 1) * kColW;
    const std::string tip = Fmt("%+.1fus %s: ", s.t_us, s.thread.c_str()) + s.text;
    if (s.arrow_class == "mark") {
      o += Fmt("<g class=\"mark\"><title>%s</title><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
               "<text transform=\"translate(%d,%d) rotate(-90)\">%s</text></g>\n",
               Escape(tip).c_str(), x, kTop - 4, x, kTop + static_cast<int>(model.lanes.size()) * kLaneH,
               x + 4, kTop - 8, Escape(Shorten(s.text.substr(3), kMarkChars)).c_str());
      o += Fmt("<circle class=\"dot\" cx=\"%d\" cy=\"%d\" r=\"3\"/>\n", x, lane_y(s.lane));
      continue;
    }
    o += Fmt("<g class=\"step k-%d\"><title>%s</title>", static_cast<int>(s.rec.kind),
             Escape(tip).c_str());
    if (s.from >= 0 && s.to >= 0 && s.from != s.to) {
      const int y1 = lane_y(s.from);
      const int y2 = lane_y(s.to);
      const int d = y2 > y1 ? 6 : -6;
      o += Fmt("<line class=\"arrow a-%s\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
               "marker-end=\"url(#ah-%s)\"/>",
               s.arrow_class.c_str(), x, y1, x, y2 - d, s.arrow_class.c_str());
    }
    if (s.from2 >= 0 && s.to2 >= 0 && s.from2 != s.to2) {
      const int y1 = lane_y(s.from2);
      const int y2 = lane_y(s.to2);
      const int d = y2 > y1 ? 6 : -6;
      o += Fmt("<line class=\"arrow a-ready\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
               "marker-end=\"url(#ah-ready)\"/>",
               x + 3, y1, x + 3, y2 - d);
    }
    o += Fmt("<circle class=\"dot\" cx=\"%d\" cy=\"%d\" r=\"4\"/></g>\n", x, lane_y(s.lane));
  }
  o += "</g>\n";
  // Legend.
  const int ly = 36;
  int lx = 8;
  for (const auto& [cls, text] : std::vector<std::pair<const char*, const char*>>{
           {"hook", "registration hook"},
           {"callback", "wake-up -> callback"},
           {"ready", "onto the ready list"},
           {"wake", "wakes a thread"},
           {"report", "reported to the caller"},
           {"ignored", "callback ignored"}}) {
    o += Fmt("<line class=\"arrow a-%s\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
             "marker-end=\"url(#ah-%s)\"/><text class=\"legend\" x=\"%d\" y=\"%d\">%s</text>\n",
             cls, lx, ly, lx + 24, ly, cls, lx + 30, ly + 4, text);
    lx += 40 + static_cast<int>(std::strlen(text)) * 7;
  }
  o += "</svg>\n";
  return o;
}

std::string RenderHtml(const Model& model, const std::string& title, const HtmlExtras& extras) {
  std::string o;
  o += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>" +
       Escape(title) + "</title>\n";
  o += "<style>body{font-family:sans-serif;margin:16px;color:#222}"
       ".diagram{overflow-x:auto;border:1px solid #ddd}"
       "pre{font-size:12px;background:#f8f8f8;padding:8px;overflow-x:auto}"
       "svg g.step:hover circle{r:6;fill:#d9480f}</style>\n</head>\n";
  o += "<body data-rendered-lanes=\"0\">\n<h1>" + Escape(title) + "</h1>\n";
  o += "<p>One lane per file, epoll item, epoll instance and thread. Time runs to the right, "
       "one column per trace record (a repeated run of records is drawn once, with a note); "
       "hover a dot for the record.</p>\n";
  o += "<p><b>Level-triggered</b> (the default): every <code>epoll_wait</code> reports a file "
       "for as long as it is ready; after reporting it the item goes back on the ready list "
       "(\"requeued\"), and the next wait re-polls it. <b>Edge-triggered</b> "
       "(<code>EPOLLET</code>): a file is reported once per wake-up (a change: new data, a "
       "hang-up); the item leaves the ready list until its file wakes its queue again. "
       "<b>One-shot</b> (<code>EPOLLONESHOT</code>): reported once, then disarmed until "
       "<code>EPOLL_CTL_MOD</code>. A callback that finds the item already on the ready list "
       "has nothing to do (\"already linked\").</p>\n";
  const std::string summary = RenderSummary(model);
  o += "<h2>Summary</h2>\n<pre id=\"summary\">" +
       Escape(summary.empty() ? std::string("no records in this process\n") : summary) +
       "</pre>\n";
  // The ring keeps the last records: say how many came before them.
  o += Fmt("<p id=\"kept\" data-kept=\"%zu\" data-dropped=\"%llu\">", model.steps.size(),
           static_cast<unsigned long long>(extras.dropped));
  o += extras.dropped == 0
           ? std::string("Every record is shown.")
           : Fmt("These are the last records: %llu earlier ones were not kept "
                 "(UEPOLL_TRACE_CAPACITY keeps more).",
                 static_cast<unsigned long long>(extras.dropped));
  o += "</p>\n";
  o += "<div class=\"diagram\">\n" + RenderSvg(FoldModel(model), title) + "</div>\n";
  o += "<h2>Timeline</h2>\n<p>Repeated lines are folded.</p>\n<pre id=\"timeline\">" +
       Escape(RenderTextFolded(model)) + "</pre>\n";
  if (!extras.children.empty()) {
    o += "<h2>Child processes</h2>\n<div id=\"children\">\n";
    for (const HtmlExtras::Child& c : extras.children) {
      o += Fmt("<h3 class=\"child\" data-pid=\"%ld\">process %ld</h3>\n", c.pid, c.pid);
      const std::string counts = RenderSummary(c.model);
      o += "<pre class=\"child-summary\">" +
           Escape(counts.empty() ? std::string("no records\n") : counts) + "</pre>\n";
      if (!c.model.steps.empty()) {
        o += "<div class=\"diagram\">\n" +
             RenderSvg(FoldModel(c.model), title + Fmt(": process %ld", c.pid)) + "</div>\n";
      }
    }
    o += "</div>\n";
  }
  // Written by the page itself once laid out: lanes that have a box (a test reads it).
  // And how many of the notes above the lanes overlap the next one or stick out of the
  // picture (vertical labels: their boxes are exact).
  o += "<script>\n(function(){var n=0;document.querySelectorAll('g.lane').forEach(function(g){"
       "var b=g.getBBox();if(b.width>0&&b.height>0)n++;});"
       "document.body.setAttribute('data-rendered-lanes',String(n));var over=0,out=0;"
       "function hit(a,c){return a.left<c.right&&c.left<a.right&&a.top<c.bottom&&c.top<a.bottom;}"
       "document.querySelectorAll('svg.uep-trace').forEach(function(pic){"
       "var svg=pic.getBoundingClientRect();"
       "var r=[],l=[];pic.querySelectorAll('g.mark text').forEach(function(t){"
       "r.push(t.getBoundingClientRect());});pic.querySelectorAll('text.legend')"
       ".forEach(function(t){l.push(t.getBoundingClientRect());});"
       "pic.querySelectorAll(':scope > text').forEach(function(t){"
       "var b=t.getBoundingClientRect();if(b.right>svg.right)out++;});"
       "for(var i=0;i<r.length;i++){if(r[i].top<svg.top||r[i].left<svg.left||"
       "r[i].right>svg.right)out++;for(var j=i+1;j<r.length;j++)if(hit(r[i],r[j]))over++;"
       "for(var k=0;k<l.length;k++)if(hit(r[i],l[k]))over++;}});"
       "document.body.setAttribute('data-label-overlaps',String(over));"
       "document.body.setAttribute('data-label-clipped',String(out));})();\n</script>\n";
  o += "</body></html>\n";
  return o;
}

}  // namespace uep::tracetool
