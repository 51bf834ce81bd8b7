// Shared by the torture tests: their time budget, and a watchdog that fails the run when
// progress stops, with what every thread was doing.
//
// UEPOLL_TORTURE_SECONDS is the active time of the whole torture suite (default 20 s);
// each test takes its share. The stress tests' Watchdog (stress_util.h) bounds a whole
// test; this one bounds each thread's silence, so a run of any length is checked.
#pragma once

#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "stress/stress_util.h"

namespace uep::torture {

using stress::Clock;

// Active time of the whole suite (UEPOLL_TORTURE_SECONDS, default 20).
inline double TortureSeconds() {
  const char* env = std::getenv("UEPOLL_TORTURE_SECONDS");
  const double v = env != nullptr ? std::strtod(env, nullptr) : 0.0;
  return v > 0.0 ? v : 20.0;
}

inline Clock::time_point TortureEnd(double share) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double>(TortureSeconds() * share));
}

// How long a thread may finish nothing (UEPOLL_TORTURE_STALL, default 10 s).
inline double StallSeconds() {
  const char* env = std::getenv("UEPOLL_TORTURE_STALL");
  const double v = env != nullptr ? std::strtod(env, nullptr) : 0.0;
  return v > 0.0 ? v : 10.0;
}

// What one thread is doing: its current operation and descriptor, and how many
// operations it has finished. Written by the thread, read by the watchdog.
struct ThreadStatus {
  std::string name;
  std::atomic<pid_t> tid{0};
  std::atomic<const char*> op{"starting"};
  std::atomic<int> fd{-1};
  std::atomic<uint64_t> ops{0};
  std::atomic<bool> finished{false};

  void Begin(const char* what, int on_fd) {
    op.store(what, std::memory_order_relaxed);
    fd.store(on_fd, std::memory_order_relaxed);
  }
  void Done() { ops.fetch_add(1, std::memory_order_relaxed); }
};

// Fails the run if some unfinished thread completes no operation for `stall` (default
// 10 s, UEPOLL_TORTURE_STALL) while the scenario is not quiescent: `quiescent()` says that
// a thread may legitimately sleep (everything produced was consumed); without it every
// operation must end within milliseconds. Prints each thread's state and aborts: a
// deadlocked or wake-up-starved thread is never waited out.
class ProgressWatchdog {
 public:
  explicit ProgressWatchdog(std::function<bool()> quiescent = {})
      : quiescent_(std::move(quiescent)), stall_(StallSeconds()) {}
  ~ProgressWatchdog() { Stop(); }
  ProgressWatchdog(const ProgressWatchdog&) = delete;
  ProgressWatchdog& operator=(const ProgressWatchdog&) = delete;

  // Registers a thread before it starts; the reference stays valid (deque).
  ThreadStatus& Add(std::string name) {
    threads_.emplace_back();
    threads_.back().name = std::move(name);
    return threads_.back();
  }

  void Start() {
    thread_ = std::thread([this] { Run(); });
  }

  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }

  uint64_t TotalOps() const {
    uint64_t total = 0;
    for (const ThreadStatus& t : threads_) total += t.ops.load(std::memory_order_relaxed);
    return total;
  }

 private:
  void Run() {
    std::vector<uint64_t> last(threads_.size(), 0);
    std::vector<Clock::time_point> since(threads_.size(), Clock::now());
    while (!stop_.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const auto now = Clock::now();
      bool stalled = false;
      for (size_t i = 0; i < threads_.size(); ++i) {
        const uint64_t ops = threads_[i].ops.load(std::memory_order_relaxed);
        if (ops != last[i] || threads_[i].finished.load() || (quiescent_ && quiescent_())) {
          last[i] = ops;
          since[i] = now;
        } else if (now - since[i] > stall_) {
          stalled = true;
        }
      }
      if (!stalled) continue;
      std::fprintf(stderr, "torture watchdog: no progress for %.0f s; threads:\n", stall_.count());
      for (size_t i = 0; i < threads_.size(); ++i) {
        const ThreadStatus& t = threads_[i];
        const double idle = std::chrono::duration<double>(now - since[i]).count();
        std::fprintf(stderr, "  %-12s tid %d (%c) ops %llu, idle %.1f s, %s fd %d%s\n",
                     t.name.c_str(), static_cast<int>(t.tid.load()),
                     t.tid.load() != 0 ? stress::ThreadState(t.tid.load()) : '?',
                     static_cast<unsigned long long>(t.ops.load()), idle, t.op.load(), t.fd.load(),
                     t.finished.load() ? " (finished)" : "");
      }
      std::fflush(stderr);
      std::abort();
    }
  }

  std::deque<ThreadStatus> threads_;
  std::function<bool()> quiescent_;
  std::chrono::duration<double> stall_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Binds the calling thread to its status record for the watchdog's dump.
inline void Announce(ThreadStatus& status) {
  status.tid.store(static_cast<pid_t>(syscall(SYS_gettid)));
}

}  // namespace uep::torture
