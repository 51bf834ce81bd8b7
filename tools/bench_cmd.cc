// `uepoll bench` / `uepoll demo`: a representative subset of the benchmarks, kernel and
// uepoll side by side in one table, and a hand-written SVG of the idle-scaling curve.
//
// Every scenario comes from bench/scenarios.h and bench/threaded.h, the code the Google
// Benchmark suite (bench/epoll_bench.cc) runs; this file only times, tabulates and plots.
#include "bench_cmd.h"

#include <malloc.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "apis.h"
#include "scenarios.h"
#include "producers.h"
#include "threaded.h"

namespace uep::tool {

namespace {

using bench::Clock;
using bench::Kernel;
using bench::Percentiles;
using bench::Uepoll;

struct Options {
  bool quick = false;  // fast rows only, short batches, no plot
  bool guard = false;  // exit 1 if uepoll is slower than the kernel on a fast-path row
  bool demo = false;   // `uepoll demo`: quick, plus the same-results check
  bool plot = true;    // write the SVG (full runs; or --svg given)
  std::string svg = "uepoll-idle-scaling.svg";
};

// ---- Timing ------------------------------------------------------------------------------

struct Timing {
  int batches;      // per side, alternating; the fastest batch is reported
  double batch_ns;  // target length of one kernel batch
};

template <class S>
double NsPerOp(S& s, long iters) {
  if constexpr (requires { s.Prepare(); }) {
    // Prepare/Drain are untimed: clock each Op.
    double total = 0;
    for (long i = 0; i < iters; ++i) {
      s.Prepare();
      const auto t0 = Clock::now();
      s.Op();
      total += std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
      s.Drain();
    }
    return total / static_cast<double>(iters);
  } else {
    const auto t0 = Clock::now();
    for (long i = 0; i < iters; ++i) s.Op();
    return std::chrono::duration<double, std::nano>(Clock::now() - t0).count() /
           static_cast<double>(iters);
  }
}

template <class S>
int64_t Harvested(const S& s) {
  if constexpr (requires { s.harvested(); }) {
    return s.harvested();
  } else {
    return 0;
  }
}

// The fastest batch: on a shared machine the slower ones measure the other tenants.
double Fastest(const std::vector<double>& v) {
  return v.empty() ? 0 : *std::min_element(v.begin(), v.end());
}

long ItersFor(double probe_ns, const Timing& t) {
  return std::clamp(static_cast<long>(t.batch_ns / std::max(probe_ns, 1.0)), 50L, 20000000L);
}

// One side only (poll(), select(), a single point of the scaling curve).
template <class S>
double MeasureOne(S& s, const Timing& t) {
  NsPerOp(s, 20);
  const long iters = ItersFor(NsPerOp(s, 200), t);
  std::vector<double> v;
  for (int b = 0; b < t.batches; ++b) v.push_back(NsPerOp(s, iters));
  return Fastest(v);
}

struct Pair {
  double kernel = 0;
  double uepoll = 0;
  bool same = true;  // both sides harvested the same number of events
};

// Both sides of one scenario, the same number of operations on each, batches alternating.
template <template <class> class S, class... Args>
Pair MeasurePair(const Timing& t, Args... args) {
  S<Kernel> k(args...);
  S<Uepoll> u(args...);
  NsPerOp(k, 100);
  NsPerOp(u, 100);
  const long iters = ItersFor(NsPerOp(k, 500), t);
  NsPerOp(u, 500);
  std::vector<double> kv, uv;
  for (int b = 0; b < t.batches; ++b) {
    kv.push_back(NsPerOp(k, iters));
    uv.push_back(NsPerOp(u, iters));
  }
  return {Fastest(kv), Fastest(uv), Harvested(k) == Harvested(u)};
}

// ---- Formatting ------------------------------------------------------------------------

std::string Fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string Ns(double ns) {
  if (ns < 10) return Fmt("%.2f ns", ns);
  if (ns < 1000) return Fmt("%.1f ns", ns);
  if (ns < 1e6) return Fmt("%.2f us", ns / 1e3);
  return Fmt("%.2f ms", ns / 1e6);
}

std::string Rate(double per_s) {
  if (per_s >= 1e6) return Fmt("%.2f M/s", per_s / 1e6);
  return Fmt("%.0f k/s", per_s / 1e3);
}

std::string Bytes(double b) { return Fmt("%.0f B", b); }

std::string Times(double x) { return x >= 100 ? Fmt("%.0fx", x) : Fmt("%.2fx", x); }

struct Row {
  std::string name;
  std::string kernel;
  std::string uepoll;
  std::string ratio;      // how many times better uepoll is (>1: uepoll wins)
  std::string reference;  // a floor, or poll()/select()
  std::string target;     // the row's goal and whether it is met
  bool guarded = false;   // a fast-path row the guard checks
  double ratio_value = 0;
  bool same = true;
};

std::vector<Row> g_rows;
bool g_producers_wrong = false;  // a producers -> loop run lost or invented a payload

const char* const kHeader[] = {"operation", "kernel", "uepoll", "ratio", "reference", "target"};

void PrintHeader() {
  std::printf("%-48s %11s %11s %8s  %-24s %s\n", kHeader[0], kHeader[1], kHeader[2], kHeader[3],
              kHeader[4], kHeader[5]);
  std::printf("%s\n", std::string(48 + 12 + 12 + 9 + 2 + 25 + 20, '-').c_str());
}

void Emit(Row r) {
  char line[512];
  std::snprintf(line, sizeof line, "%-48s %11s %11s %8s  %-24s %s", r.name.c_str(),
                r.kernel.c_str(), r.uepoll.c_str(), r.ratio.c_str(), r.reference.c_str(),
                r.target.c_str());
  std::string text = line;
  text.erase(text.find_last_not_of(' ') + 1);
  std::printf("%s\n", text.c_str());
  std::fflush(stdout);
  g_rows.push_back(std::move(r));
}

std::string Verdict(bool met, const std::string& target) {
  return target + (met ? ": met" : ": MISSED");
}

// A time row: ratio = kernel / uepoll.
Row TimeRow(const std::string& name, const Pair& p, double target_ratio = 0) {
  Row r;
  r.name = name;
  r.kernel = Ns(p.kernel);
  r.uepoll = Ns(p.uepoll);
  r.ratio_value = p.kernel / std::max(p.uepoll, 1e-3);
  r.ratio = Times(r.ratio_value);
  r.same = p.same;
  if (target_ratio > 0)
    r.target = Verdict(r.ratio_value >= target_ratio, Fmt(">=%.0fx", target_ratio));
  return r;
}

// ---- Memory ------------------------------------------------------------------------------

double HeapBytes() {
  const struct mallinfo2 mi = mallinfo2();
  return static_cast<double>(mi.uordblks + mi.hblkhd);
}

// /proc/meminfo "Slab:" in bytes (system-wide: other processes add noise).
double SlabBytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  double kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit) {
    if (key == "Slab:") return kb * 1024;
  }
  return 0;
}

// Object size of one slab cache from /proc/slabinfo (root only), or 0.
double SlabObjectSize(const std::string& cache) {
  std::ifstream in("/proc/slabinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string name;
    double active = 0, num = 0, objsize = 0;
    if (ls >> name >> active >> num >> objsize && name == cache) return objsize;
  }
  return 0;
}

int KernelFdHeadroom() {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  return static_cast<int>(std::min<rlim_t>(rl.rlim_cur, 1 << 20)) - 64;
}

struct Memory {
  double uepoll_item = 0, uepoll_instance = 0, uepoll_eventfd = 0;
  double kernel_item = 0, kernel_instance = 0;
  int kernel_items = 0, kernel_instances = 0;
  double epi_objsize = 0;
};

Memory MeasureMemory() {
  Memory m;
  constexpr int kN = 100000;
  {  // uepoll: heap (mallinfo2) deltas.
    std::vector<int> fds(kN);
    const double h0 = HeapBytes();
    for (int& fd : fds) fd = uep_eventfd(0, EFD_NONBLOCK);
    const double h1 = HeapBytes();
    const int ep = uep_epoll_create1(0);
    const double h2 = HeapBytes();
    for (int fd : fds) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      uep_epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    const double h3 = HeapBytes();
    m.uepoll_eventfd = (h1 - h0) / kN;
    m.uepoll_item = (h3 - h2) / kN;
    uep_close(ep);
    for (int fd : fds) uep_close(fd);
    std::vector<int> eps(kN);
    const double h4 = HeapBytes();
    for (int& e : eps) e = uep_epoll_create1(0);
    const double h5 = HeapBytes();
    m.uepoll_instance = (h5 - h4) / kN;
    for (int e : eps) uep_close(e);
  }
  {  // kernel: /proc/meminfo Slab deltas; items = files x instances under RLIMIT_NOFILE.
    const int headroom = KernelFdHeadroom();
    const int instances = 10;
    const int files = std::max(1, (headroom - instances) / 2);
    // Instances first, on a quiet slab: closing the items below frees their memory later
    // (RCU), which would be counted against the instances.
    std::vector<int> eps;
    const int more = std::max(1, headroom - 16);
    const double s0 = SlabBytes();
    for (int i = 0; i < more; ++i) eps.push_back(::epoll_create1(0));
    const double s1 = SlabBytes();
    m.kernel_instances = more;
    m.kernel_instance = (s1 - s0) / more;
    for (int ep : eps) ::close(ep);
    eps.clear();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let the frees (RCU) land
    std::vector<int> fds;
    for (int i = 0; i < files; ++i) fds.push_back(::eventfd(0, EFD_NONBLOCK));
    for (int i = 0; i < instances; ++i) eps.push_back(::epoll_create1(0));
    const double s2 = SlabBytes();
    for (int ep : eps) {
      for (int fd : fds) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
      }
    }
    const double s3 = SlabBytes();
    m.kernel_items = files * instances;
    m.kernel_item = (s3 - s2) / m.kernel_items;
    for (int ep : eps) ::close(ep);
    for (int fd : fds) ::close(fd);
  }
  m.epi_objsize = SlabObjectSize("eventpoll_epi");
  return m;
}

// ---- The idle-scaling curve and its plot ------------------------------------------------

struct Series {
  std::string name;
  std::string color;
  std::vector<std::pair<double, double>> points;  // (N, ns)
};

std::string Pow10Label(double v, bool ns) {
  if (ns) {
    if (v >= 1e6) return Fmt("%.0f ms", v / 1e6);
    if (v >= 1e3) return Fmt("%.0f \u00b5s", v / 1e3);
    return Fmt("%.0f ns", v);
  }
  if (v >= 1e6) return Fmt("%.0fM", v / 1e6);
  if (v >= 1e3) return Fmt("%.0fk", v / 1e3);
  return Fmt("%.0f", v);
}

bool WriteSvg(const std::string& path, const std::vector<Series>& series, int fd_limit,
              const std::string& subtitle) {
  constexpr double kW = 860, kH = 540, kL = 90, kR = 32, kT = 70, kB = 70;
  double ymin = 1e300, ymax = 0;
  for (const auto& s : series) {
    for (const auto& [n, ns] : s.points) {
      ymin = std::min(ymin, ns);
      ymax = std::max(ymax, ns);
    }
  }
  if (ymax <= 0) return false;
  const double ly0 = std::floor(std::log10(ymin));
  const double ly1 = std::ceil(std::log10(ymax));
  const double lx0 = 1, lx1 = 6;
  auto X = [&](double n) { return kL + (std::log10(n) - lx0) / (lx1 - lx0) * (kW - kL - kR); };
  auto Y = [&](double ns) { return kT + (ly1 - std::log10(ns)) / (ly1 - ly0) * (kH - kT - kB); };
  std::ofstream out(path);
  if (!out) return false;
  out << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kW << "\" height=\"" << kH
      << "\" viewBox=\"0 0 " << kW << ' ' << kH
      << "\" font-family=\"sans-serif\" font-size=\"13\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << kW / 2
      << "\" y=\"24\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">"
      << "Time of one wait with exactly one ready among N watched</text>\n"
      << "<text x=\"" << kW / 2 << "\" y=\"44\" text-anchor=\"middle\" fill=\"#555\">" << subtitle
      << "</text>\n";
  // Grid and ticks.
  for (double e = lx0; e <= lx1; e += 1) {
    const double x = X(std::pow(10, e));
    out << "<line x1=\"" << x << "\" y1=\"" << kT << "\" x2=\"" << x << "\" y2=\"" << kH - kB
        << "\" stroke=\"#ddd\"/>\n"
        << "<text x=\"" << x << "\" y=\"" << kH - kB + 18 << "\" text-anchor=\"middle\">"
        << Pow10Label(std::pow(10, e), false) << "</text>\n";
  }
  for (double e = ly0; e <= ly1; e += 1) {
    const double y = Y(std::pow(10, e));
    out << "<line x1=\"" << kL << "\" y1=\"" << y << "\" x2=\"" << kW - kR << "\" y2=\"" << y
        << "\" stroke=\"#ddd\"/>\n"
        << "<text x=\"" << kL - 8 << "\" y=\"" << y + 4 << "\" text-anchor=\"end\">"
        << Pow10Label(std::pow(10, e), true) << "</text>\n";
  }
  out << "<rect x=\"" << kL << "\" y=\"" << kT << "\" width=\"" << kW - kL - kR << "\" height=\""
      << kH - kT - kB << "\" fill=\"none\" stroke=\"#333\"/>\n"
      << "<text x=\"" << (kL + kW - kR) / 2 << "\" y=\"" << kH - 22
      << "\" text-anchor=\"middle\">N, watched descriptors (log scale)</text>\n"
      << "<text transform=\"translate(22," << (kT + kH - kB) / 2
      << ") rotate(-90)\" text-anchor=\"middle\">time per call (log scale)</text>\n";
  // Where the kernel's series must stop.
  auto vline = [&](double n, const std::string& label) {
    const double x = X(n);
    out << "<line x1=\"" << x << "\" y1=\"" << kT << "\" x2=\"" << x << "\" y2=\"" << kH - kB
        << "\" stroke=\"#999\" stroke-dasharray=\"4 4\"/>\n"
        << "<text x=\"" << x + 4 << "\" y=\"" << kH - kB - 8 << "\" fill=\"#777\" font-size=\"11\">"
        << label << "</text>\n";
  };
  vline(FD_SETSIZE, "FD_SETSIZE");
  vline(fd_limit, "RLIMIT_NOFILE");
  // Series.
  for (const auto& s : series) {
    if (s.points.empty()) continue;
    out << "<polyline fill=\"none\" stroke=\"" << s.color << "\" stroke-width=\"2.5\" points=\"";
    for (const auto& [n, ns] : s.points) out << X(n) << ',' << Y(ns) << ' ';
    out << "\"/>\n";
    for (const auto& [n, ns] : s.points) {
      out << "<circle cx=\"" << X(n) << "\" cy=\"" << Y(ns) << "\" r=\"4\" fill=\"" << s.color
          << "\"><title>" << s.name << ", N=" << Fmt("%.0f", n) << ": " << Ns(ns)
          << "</title></circle>\n";
    }
  }
  // Legend.
  double ly = kT + 18;
  out << "<rect x=\"" << kL + 12 << "\" y=\"" << kT + 6 << "\" width=\"240\" height=\""
      << 22 * series.size() + 8 << "\" fill=\"white\" stroke=\"#bbb\"/>\n";
  for (const auto& s : series) {
    out << "<line x1=\"" << kL + 22 << "\" y1=\"" << ly << "\" x2=\"" << kL + 52 << "\" y2=\"" << ly
        << "\" stroke=\"" << s.color << "\" stroke-width=\"3\"/>\n"
        << "<text x=\"" << kL + 60 << "\" y=\"" << ly + 4 << "\">" << s.name << "</text>\n";
    ly += 22;
  }
  out << "</svg>\n";
  return static_cast<bool>(out);
}

struct Scaling {
  std::vector<Series> series;
  int kernel_max = 0;
};

Scaling MeasureScaling(const Timing& t) {
  const int headroom = KernelFdHeadroom();
  Scaling sc;
  sc.kernel_max = headroom;
  Series kernel{"kernel epoll_wait", "#d62728", {}};
  Series uepoll{"uepoll uep_epoll_wait", "#1f77b4", {}};
  Series poll{"kernel poll()", "#ff7f0e", {}};
  Series select{"kernel select()", "#2ca02c", {}};
  std::vector<int> ns = {10, 100, 1000, 10000};
  if (headroom > 10000) ns.push_back(headroom);
  for (int n : {100000, 1000000}) ns.push_back(n);
  std::sort(ns.begin(), ns.end());
  for (int n : ns) {
    if (n <= headroom) {
      {
        bench::OneReadyAmongN<Kernel> k(n);
        kernel.points.emplace_back(n, MeasureOne(k, t));
      }
      {
        bench::PollOneReadyAmongN p(n);
        poll.points.emplace_back(n, MeasureOne(p, t));
      }
      if (n < FD_SETSIZE) {
        try {
          bench::SelectOneReadyAmongN s(n);
          select.points.emplace_back(n, MeasureOne(s, t));
        } catch (const std::exception&) {
          // descriptors reached FD_SETSIZE: no point
        }
      }
    }
    bench::OneReadyAmongN<Uepoll> u(n);
    uepoll.points.emplace_back(n, MeasureOne(u, t));
  }
  sc.series = {kernel, uepoll, poll, select};
  return sc;
}

double At(const Series& s, double n) {
  for (const auto& [x, y] : s.points) {
    if (x == n) return y;
  }
  return 0;
}

// ---- The run -----------------------------------------------------------------------------

template <template <class> class S, class... Args>
void SimpleRow(const Timing& t, const std::string& name, double target, bool guarded,
               Args... args) {
  Row r = TimeRow(name, MeasurePair<S>(t, args...), target);
  r.guarded = guarded;
  Emit(std::move(r));
}

// One row per attempt; a row that fails in one scenario (a file kind not supported) prints
// the reason instead of aborting the whole run.
void Try(const std::string& name, const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    Row r;
    r.name = name;
    r.kernel = r.uepoll = "-";
    r.reference = std::string("failed: ") + e.what();
    Emit(std::move(r));
  }
}

void RoundTripRows(const Options& o) {
  const int rounds = o.quick ? 2000 : 20000;
  const int busy = 1000000;
  bench::EpollPingPong<Kernel>(200, 0);  // warm up threads and wake paths
  bench::EpollPingPong<Uepoll>(200, 0);
  // The sides take turns in chunks, so that each samples the same moods of the machine (a
  // VM's wake-up latency drifts between a few and tens of microseconds).
  constexpr int kChunks = 10;
  std::vector<double> k_rtt, u_rtt, f_rtt, ft_rtt, ud_rtt;
  auto append = [](std::vector<double>& to, const std::vector<double>& from) {
    to.insert(to.end(), from.begin(), from.end());
  };
  for (int c = 0; c < kChunks; ++c) {
    append(k_rtt, bench::EpollPingPong<Kernel>(rounds / kChunks, 0));
    append(u_rtt, bench::EpollPingPong<Uepoll>(rounds / kChunks, 0));
    append(f_rtt, bench::FutexPingPong(rounds / kChunks));
    append(ft_rtt, bench::FutexPingPong(rounds / kChunks, true));
    append(ud_rtt, bench::EpollPingPong<Uepoll>(rounds / kChunks, 64));
  }
  const Percentiles k = bench::Summarize(k_rtt);
  const Percentiles u = bench::Summarize(u_rtt);
  const Percentiles f = bench::Summarize(f_rtt);
  const Percentiles ft = bench::Summarize(ft_rtt);
  // Spinning hand-offs sleep in neither case: one run each.
  const int spins = o.quick ? rounds : rounds * 4;
  const Percentiles ub = bench::Summarize(bench::EpollPingPong<Uepoll>(spins, busy));
  const Percentiles s = bench::Summarize(bench::SpinPingPong(spins));
  const Percentiles ud = bench::Summarize(ud_rtt);
  auto sleeping = [&](const char* what, double kv, double uv, double fv, double ftv,
                      bool targeted) {
    Row r = TimeRow(std::string("sleeping round trip (busy-poll 0), ") + what, {kv, uv, true});
    r.reference = "futex floor " + Ns(fv) + " (timed " + Ns(ftv) + ")";
    if (targeted) {
      r.target = Verdict(uv <= fv * 1.15 && uv < kv,
                         "<=1.15x futex (" + Fmt("%.2f", uv / fv) + "x), < kernel");
    }
    Emit(std::move(r));
  };
  sleeping("median", k.median_ns, u.median_ns, f.median_ns, ft.median_ns, true);
  if (!o.quick) {
    sleeping("p99", k.p99_ns, u.p99_ns, f.p99_ns, ft.p99_ns, false);
    sleeping("p99.9", k.p999_ns, u.p999_ns, f.p999_ns, ft.p999_ns, false);
  }
  auto busy_row = [&](const char* what, double kv, double uv, double sv, bool targeted) {
    Row r = TimeRow(std::string("round trip, uepoll busy-poll 1e6, ") + what, {kv, uv, true});
    r.kernel += "*";
    r.reference = "spin floor " + Ns(sv);
    if (targeted) r.target = Verdict(uv <= 2 * sv, "<=2x spin (" + Fmt("%.2f", uv / sv) + "x)");
    Emit(std::move(r));
  };
  busy_row("median", k.median_ns, ub.median_ns, s.median_ns, true);
  if (!o.quick) busy_row("p99", k.p99_ns, ub.p99_ns, s.p99_ns, false);
  Row d = TimeRow("round trip, uepoll busy-poll 64 (old default), median",
                  {k.median_ns, ud.median_ns, true});
  d.kernel += "*";
  Emit(std::move(d));
}

// The last close with other threads that used the API asleep, against the same close in
// a single-threaded process; then add/remove churn and the memory it leaves behind.
void CloseRows(const Timing& t, const Pair& alone) {
  for (int others : {1, 3}) {
    const Pair p = MeasurePair<bench::CreateWatchCloseAmong>(t, others);
    Row r = TimeRow(Fmt("eventfd create + ADD + close, %.0f idle thread(s)", others), p);
    r.reference = "alone: uepoll " + Ns(alone.uepoll);
    r.target = Verdict(p.uepoll <= 2 * alone.uepoll,
                       "<=2x alone (" + Fmt("%.2f", p.uepoll / alone.uepoll) + "x)");
    Emit(std::move(r));
  }
  constexpr int kFiles = 10000;
  constexpr int kInstances = 10;
  const bench::ChurnResult k = bench::Churn<Kernel>(kFiles, kInstances, 1);
  const bench::ChurnResult u = bench::Churn<Uepoll>(kFiles, kInstances, 1);
  Row r = TimeRow("churn: ADD + DEL of 100,000 items, CPU per item",
                  {k.ns_per_item, u.ns_per_item, true});
  const double mb = 1 << 20;
  const double grown = (u.end.rss - u.start.rss) / u.start.rss;
  r.reference = "RSS " + Fmt("%.1f", u.start.rss / mb) + ">" + Fmt("%.1f", u.peak.rss / mb) +
                ">" + Fmt("%.1f MB", u.end.rss / mb);
  r.target = Verdict(grown <= 0.10, "RSS back within 10% (" + Fmt("%+.1f%%", grown * 100) + ")");
  Emit(std::move(r));
  std::printf(
      "  (churn: %d eventfds watched by %d instances, all added then all removed, the\n"
      "   instances still open; uepoll heap in use %.1f MB before, %.1f MB with the items,\n"
      "   %.1f MB after)\n",
      kFiles, kInstances, u.start.heap / mb, u.peak.heap / mb, u.end.heap / mb);
}

void MemoryRows() {
  const Memory m = MeasureMemory();
  Row item;
  item.name = "memory per watched item";
  item.kernel = Bytes(m.kernel_item);
  item.uepoll = Bytes(m.uepoll_item);
  item.ratio_value = m.kernel_item / std::max(m.uepoll_item, 1.0);
  item.ratio = Times(item.ratio_value);
  item.reference = m.epi_objsize > 0 ? "slab epitem " + Bytes(m.epi_objsize) : "";
  item.target = Verdict(m.uepoll_item <= m.kernel_item, "<= kernel");
  Emit(std::move(item));
  Row inst;
  inst.name = "memory per instance";
  inst.kernel = Bytes(m.kernel_instance);
  inst.uepoll = Bytes(m.uepoll_instance);
  inst.ratio_value = m.kernel_instance / std::max(m.uepoll_instance, 1.0);
  inst.ratio = Times(inst.ratio_value);
  inst.reference = "uepoll eventfd " + Bytes(m.uepoll_eventfd);
  Emit(std::move(inst));
  std::printf(
      "  (memory: uepoll = mallinfo2() heap delta over 100,000 items / instances; kernel =\n"
      "   /proc/meminfo Slab delta over %d items (%d eventfds x 10 instances) / %d\n"
      "   instances, system-wide, so other activity adds noise)\n",
      m.kernel_items, m.kernel_items / 10, m.kernel_instances);
}

int Run(const Options& o) {
  utsname un{};
  uname(&un);
  const Timing t = o.quick ? Timing{15, 4e6} : Timing{25, 8e6};
  std::printf(
      "uepoll %s: kernel vs uepoll, Linux %s, %ld CPUs, RLIMIT_NOFILE headroom %d%s\n"
      "single-thread rows: fastest of %d alternating batches, same operations on both sides\n"
      "(the machine may be shared: slower batches measure the other tenants);\n"
      "round trips: percentiles of every round trip; rates: one run each\n"
      "ratio: how many times better uepoll is (kernel/uepoll for times, uepoll/kernel for "
      "rates)\n\n",
      o.demo ? "demo" : "bench", un.release, sysconf(_SC_NPROCESSORS_ONLN), KernelFdHeadroom(),
      o.quick ? ", quick" : "", t.batches);
#ifndef __OPTIMIZE__
  std::printf(
      "WARNING: this build is not optimised (no -O2): uepoll's numbers mean little.\n"
      "Configure with -DCMAKE_BUILD_TYPE=Release (scripts/demo.sh does).\n\n");
#endif
  g_rows.clear();
  PrintHeader();
  SimpleRow<bench::EventfdRoundTrip>(t, "eventfd write + wait(0) + read, LT", 20, true, false);
  SimpleRow<bench::EventfdRoundTrip>(t, "eventfd write + wait(0) + read, ET", 20, true, true);
  Try("pipe write + wait(0) + read, LT", [&] {
    SimpleRow<bench::PairRoundTrip>(t, "pipe write + wait(0) + read, LT", 0, false,
                                    bench::PairKind::kPipe, false);
  });
  if (!o.quick) {
    Try("pipe write + wait(0) + read, ET", [&] {
      SimpleRow<bench::PairRoundTrip>(t, "pipe write + wait(0) + read, ET", 0, false,
                                      bench::PairKind::kPipe, true);
    });
  }
  Try("socketpair write + wait(0) + read, LT", [&] {
    SimpleRow<bench::PairRoundTrip>(t, "socketpair write + wait(0) + read, LT", 0, false,
                                    bench::PairKind::kSocketPair, false);
  });
  if (!o.quick) {
    Try("socketpair write + wait(0) + read, ET", [&] {
      SimpleRow<bench::PairRoundTrip>(t, "socketpair write + wait(0) + read, ET", 0, false,
                                      bench::PairKind::kSocketPair, true);
    });
  }
  SimpleRow<bench::WaitNothingReady>(t, "wait(0), nothing ready", 10, true);
  SimpleRow<bench::CtlOps>(t, "ctl ADD + DEL", 10, false, bench::CtlKind::kAddDel);
  SimpleRow<bench::CtlOps>(t, "ctl MOD", 10, true, bench::CtlKind::kMod);
  SimpleRow<bench::CtlOps>(t, "one-shot: wait(0) + MOD re-arm", 0, false,
                           bench::CtlKind::kOneshotRearm);
  const Pair close_alone = MeasurePair<bench::CreateWatchClose>(t);
  Emit(TimeRow("eventfd create + ADD + close", close_alone));
  if (!o.guard) CloseRows(t, close_alone);
  Scaling sc;
  if (o.quick && o.plot) sc = MeasureScaling(Timing{15, 4e6});  // --quick --svg FILE: the plot only
  if (!o.quick) {
    SimpleRow<bench::Batch>(t, "batch: 16 ready of 1,000, one wait", 0, false, 1000, 16);
    SimpleRow<bench::Batch>(t, "batch: 256 ready of 10,000, one wait", 0, false, 10000, 256);
    sc = MeasureScaling(Timing{15, 4e6});
    const Series& k = sc.series[0];
    const Series& u = sc.series[1];
    const Series& p = sc.series[2];
    const Series& s = sc.series[3];
    for (double n : {10.0, static_cast<double>(sc.kernel_max)}) {
      Row r = TimeRow("one ready among " + Fmt("%.0f", n) + ", epoll_wait(0)",
                      {At(k, n), At(u, n), true});
      Emit(std::move(r));
      Row pr = TimeRow("one ready among " + Fmt("%.0f", n) + ", kernel poll() vs uepoll",
                       {At(p, n), At(u, n), true});
      Emit(std::move(pr));
      if (At(s, n) > 0) {
        Emit(TimeRow("one ready among " + Fmt("%.0f", n) + ", kernel select() vs uepoll",
                     {At(s, n), At(u, n), true}));
      }
    }
    const double u10 = At(u, 10), u1m = At(u, 1e6);
    Row r;
    r.name = "one ready among 1,000,000, epoll_wait(0)";
    r.kernel = "-";
    r.uepoll = Ns(u1m);
    r.reference = "uepoll N=10: " + Ns(u10);
    r.target = Verdict(u1m <= 1.2 * u10, "<=1.2x N=10 (" + Fmt("%.2f", u1m / u10) + "x)");
    Emit(std::move(r));
  }
  // The guard skips the two-thread rows: it checks none of them, and spinning threads on a
  // loaded 2-CPU machine can take seconds.
  if (!o.guard) RoundTripRows(o);
  if (!o.quick) {
    for (double producers : {1.0, 4.0}) {
      const int per = 200000;
      const double kr = bench::ProducersToLoop<Kernel>(static_cast<int>(producers), per);
      const double ur = bench::ProducersToLoop<Uepoll>(static_cast<int>(producers), per);
      Row r;
      r.name = Fmt("%.0f producer(s) -> one loop, events/s", producers);
      r.kernel = Rate(kr);
      r.uepoll = Rate(ur);
      r.ratio_value = ur / kr;
      r.ratio = Times(r.ratio_value);
      r.target = Verdict(r.ratio_value >= 10, ">=10x");
      Emit(std::move(r));
    }
    MemoryRows();
    // Every way into a loop side by side (bench/producers.h; producers_bench for longer runs).
    if (!bench::producers::PrintTable({1, 2, 4}, 500000, 3)) {
      std::printf("producers -> loop: a payload sum was wrong\n");
      g_producers_wrong = true;
    }
    try {
      for (int hogs : {0, 1}) {  // idle, then with a thread spinning (the other CPU busy)
        const bench::LatenessPair l = bench::TimerLatenessPair<Kernel, Uepoll>(1000, 100000, hogs);
        const std::string load = hogs == 0 ? "" : ", loaded";
        for (const bool p99 : {false, true}) {
          const double kv = p99 ? l.kernel.p99_ns : l.kernel.median_ns;
          const double uv = p99 ? l.uepoll.p99_ns : l.uepoll.median_ns;
          Row r = TimeRow("timerfd 100 us one-shot lateness" + load + (p99 ? ", p99" : ", median"),
                          {kv, uv, true});
          r.target = Verdict(uv <= kv, "<= kernel");
          Emit(std::move(r));
        }
      }
    } catch (const std::exception& e) {
      std::printf("timerfd lateness: failed: %s\n", e.what());
    }
  }
  if (!o.guard) {
    std::printf(
        "  (* the kernel's epoll has no busy-poll setting here: its column is the sleeping "
        "round trip)\n");
  }

  int status = g_producers_wrong ? 1 : 0;
  bool all_same = true;
  for (const Row& r : g_rows) all_same &= r.same;
  if (!all_same) {
    std::printf(
        "\nMISMATCH: uepoll and the kernel harvested different event counts in some row.\n");
    status = 1;
  } else if (o.demo) {
    std::printf("\nBoth sides harvested the same number of events in every row.\n");
  }
  if (o.guard) {
    // Re-measure a failing fast-path row twice before calling it a collapse: one noisy
    // batch on a shared machine must not fail the build.
    for (const Row& r : g_rows) {
      if (!r.guarded || r.ratio_value >= 1.0) continue;
      double best = r.ratio_value;
      for (int attempt = 0; attempt < 2 && best < 1.0; ++attempt) {
        Pair p;
        if (r.name.find("eventfd") != std::string::npos) {
          p = MeasurePair<bench::EventfdRoundTrip>(t, r.name.find("ET") != std::string::npos);
        } else if (r.name.find("wait(0)") != std::string::npos) {
          p = MeasurePair<bench::WaitNothingReady>(t);
        } else {
          p = MeasurePair<bench::CtlOps>(t, bench::CtlKind::kMod);
        }
        best = std::max(best, p.kernel / std::max(p.uepoll, 1e-3));
      }
      if (best < 1.0) {
        std::printf("GUARD FAILED: %s: uepoll is slower than the kernel (ratio %.2fx)\n",
                    r.name.c_str(), best);
        status = 1;
      }
    }
    if (status == 0)
      std::printf("\nguard: every fast-path row has uepoll faster than the kernel.\n");
  }
  if (o.plot && !sc.series.empty()) {
    const std::string subtitle =
        std::string("Linux ") + un.release + ", " + std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) +
        " CPUs; kernel series stop at RLIMIT_NOFILE, select() below FD_SETSIZE";
    if (WriteSvg(o.svg, sc.series, sc.kernel_max, subtitle)) {
      std::printf("\nidle-scaling plot written to %s\n", o.svg.c_str());
    } else {
      std::printf("\ncould not write %s\n", o.svg.c_str());
      status = status == 0 ? 2 : status;
    }
  }
  return status;
}

// The run's settings from the command line: a full run plots unless --no-svg; --quick
// plots only when --svg was given.
Options FromCommandLine(const BenchOptions& given) {
  Options o;
  o.quick = given.quick;
  o.guard = given.guard;
  o.svg = given.svg;
  o.plot = given.svg_given || (!given.quick && !given.no_svg);
  return o;
}

int RunCommand(const Options& o, const char* name) {
  try {
    return Run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "uepoll %s: %s failed: %s\n", name, e.what(), std::strerror(errno));
    return 2;
  }
}

}  // namespace

int BenchCommand(const BenchOptions& options) { return RunCommand(FromCommandLine(options), "bench"); }

int DemoCommand(const BenchOptions& options) {
  Options o = FromCommandLine(options);
  o.demo = true;
  o.quick = true;
  o.plot = false;
  return RunCommand(o, "demo");
}

}  // namespace uep::tool
