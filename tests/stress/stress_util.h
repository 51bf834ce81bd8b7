// Shared by the stress tests: the time budget, a watchdog that turns a hang into a test
// failure, and the two implementations a scenario runs on.
//
// Every stress test is bounded by time, not by iteration count, so that a slow build
// (ThreadSanitizer) does less work instead of taking longer. UEPOLL_STRESS_SECONDS sets the
// active time of each test (default 1 second); the watchdog's limit grows with it.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "support/backend.h"
#include "support/raw_kernel.h"
#include "uepoll/uepoll.h"

namespace uep::stress {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Active time of one test, in seconds (UEPOLL_STRESS_SECONDS, default 1).
inline double StressSeconds() {
  static const double seconds = [] {
    const char* env = std::getenv("UEPOLL_STRESS_SECONDS");
    const double v = env != nullptr ? std::strtod(env, nullptr) : 0.0;
    return v > 0.0 ? v : 1.0;
  }();
  return seconds;
}

// Now + `fraction` of the active time.
inline Clock::time_point BudgetEnd(double fraction = 1.0) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double>(StressSeconds() * fraction));
}

// Fails the running test if it is still armed after its limit: records a gtest failure
// with `state()`, then calls `unblock()` (which should wake every thread the test may be
// blocked on, e.g. by writing to "stop" eventfds), and if the test still has not disarmed
// it after a grace period, aborts the process: a lost wake-up is reported, never waited
// out. The limit is 20 s + 10 x the active time (far beyond any healthy run), or
// `limit_seconds` for a test whose fixed amount of work is slow on a loaded machine.
class Watchdog {
 public:
  explicit Watchdog(std::string what, std::function<void()> unblock = {},
                    std::function<std::string()> state = {}, double limit_seconds = 0)
      : what_(std::move(what)), unblock_(std::move(unblock)), state_(std::move(state)) {
    const auto limit = std::chrono::duration<double>(
        limit_seconds > 0 ? limit_seconds : 20.0 + 10.0 * StressSeconds());
    thread_ = std::thread([this, limit] { Run(std::chrono::duration_cast<Clock::duration>(limit)); });
  }
  ~Watchdog() { Disarm(); }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // True once the limit passed: waiting loops must give up.
  [[nodiscard]] bool Fired() const { return fired_.load(std::memory_order_acquire); }

  void Disarm() {
    {
      std::lock_guard guard(mu_);
      disarmed_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  // Polls `pred` until it holds or the watchdog fires; returns pred's last value.
  template <typename Pred>
  bool WaitFor(Pred pred) const {
    while (!pred()) {
      if (Fired()) return pred();
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return true;
  }

 private:
  void Run(Clock::duration limit) {
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, limit, [this] { return disarmed_; })) return;
    fired_.store(true, std::memory_order_release);
    const std::string state = state_ ? state_() : std::string();
    ADD_FAILURE() << "watchdog: " << what_ << " did not finish (lost wake-up or hang)"
                  << (state.empty() ? "" : "; state: ") << state;
    lock.unlock();
    if (unblock_) unblock_();
    lock.lock();
    if (cv_.wait_for(lock, std::chrono::seconds(10), [this] { return disarmed_; })) return;
    std::fprintf(stderr, "watchdog: %s still blocked after unblock(); aborting. %s\n",
                 what_.c_str(), state.c_str());
    std::fflush(stderr);
    std::abort();
  }

  std::string what_;
  std::function<void()> unblock_;
  std::function<std::string()> state_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool disarmed_ = false;
  std::atomic<bool> fired_{false};
  std::thread thread_;
};

// A reusable barrier for `count` threads (each round: every thread calls Arrive()).
class Barrier {
 public:
  explicit Barrier(int count) : count_(count) {}
  void Arrive() {
    std::unique_lock lock(mu_);
    const uint64_t gen = gen_;
    if (++arrived_ == count_) {
      arrived_ = 0;
      ++gen_;
      cv_.notify_all();
      return;
    }
    cv_.wait(lock, [&] { return gen_ != gen; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  const int count_;
  int arrived_ = 0;
  uint64_t gen_ = 0;
};

// Producers write in rounds between two barriers; after each round the main thread waits
// until the consumers have read exactly what was written so far. The last write of a round
// has nothing after it to mask a lost wake-up: a lost one leaves the count short and the
// watchdog fails the test.
class CountedRounds {
 public:
  CountedRounds(int producers, uint64_t writes_per_round)
      : start_(producers + 1),
        finish_(producers + 1),
        per_round_(static_cast<uint64_t>(producers) * writes_per_round) {}

  // A producer thread's loop: `write_round(round)` once a round, until Finish().
  template <typename WriteRound>
  void Produce(WriteRound write_round) {
    for (int round = 0;; ++round) {
      start_.Arrive();
      if (quit_.load()) return;
      write_round(round);
      finish_.Arrive();
    }
  }

  // The main thread's loop until the budget ends, the watchdog fires or a count is off.
  // `before_round` runs before the producers are released, `after_writes` once they are
  // done, before the count is checked.
  void Run(const Watchdog& wd, const std::atomic<uint64_t>& consumed,
           const std::function<void()>& before_round = {},
           const std::function<void()>& after_writes = {}) {
    const auto end = BudgetEnd();
    while (Clock::now() < end && !wd.Fired()) {
      if (before_round) before_round();
      start_.Arrive();
      finish_.Arrive();
      if (after_writes) after_writes();
      expected_ += per_round_;
      ++rounds_;
      if (!wd.WaitFor([&] { return consumed.load() >= expected_; })) break;
      EXPECT_EQ(expected_, consumed.load()) << "round " << rounds_;
      if (consumed.load() != expected_) break;
    }
  }

  // Releases the producers from Produce(); join them after.
  void Finish() {
    quit_.store(true);
    start_.Arrive();
  }

  [[nodiscard]] uint64_t expected() const { return expected_; }
  [[nodiscard]] int rounds() const { return rounds_; }

 private:
  Barrier start_, finish_;
  const uint64_t per_round_;
  std::atomic<bool> quit_{false};
  uint64_t expected_ = 0;
  int rounds_ = 0;
};

// The scheduler state of one of this process's threads ('S' = asleep), from /proc.
inline char ThreadState(pid_t tid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/stat", static_cast<int>(tid));
  FILE* f = std::fopen(path, "re");
  if (f == nullptr) return '?';
  char buf[512];
  const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');
  return p != nullptr && p[1] == ' ' ? p[2] : '?';
}

// Waits (up to `limit`) until every thread in `tids` that announced itself (tid != 0) is
// asleep, then a little longer so that each sleep is the one the test means. False when
// some thread never got there (the caller treats the round as inconclusive).
template <typename Tids>
bool AllAsleep(const Tids& tids, milliseconds limit = milliseconds(3000)) {
  const auto end = Clock::now() + limit;
  for (;;) {
    bool all = true;
    for (const auto& tid : tids) {
      const pid_t t = tid.load();
      if (t == 0 || ThreadState(t) != 'S') all = false;
    }
    if (all) break;
    if (Clock::now() > end) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  std::this_thread::sleep_for(milliseconds(5));
  for (const auto& tid : tids) {
    if (ThreadState(tid.load()) != 'S') return false;
  }
  return true;
}

// One implementation of the calls a scenario makes, libc-style (-1 and errno): the kernel
// through raw system calls (the sanitizers' libc interceptors would otherwise track kernel
// descriptors, and these tests race close() against use on purpose, which TSan reports as
// a race on the descriptor; the kernel's answer is what is tested), or uepoll.
struct Api : test::Backend {
  bool uepoll;

  // Waiters spin this many rounds before they sleep (uepoll only; the kernel sleeps).
  void SetBusyPoll(int epfd, int rounds) const {
    if (uepoll) uep_epoll_set_busy_poll(epfd, rounds);
  }
  int Add(int epfd, int fd, uint32_t events, uint64_t data) const {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
  }
  int Mod(int epfd, int fd, uint32_t events, uint64_t data) const {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
  }
  // eventfd_write / eventfd_read: 0 or -1 with errno.
  int Post(int fd, uint64_t value = 1) const {
    return write(fd, &value, sizeof value) == static_cast<ssize_t>(sizeof value) ? 0 : -1;
  }
  int Take(int fd, uint64_t* value) const {
    return read(fd, value, sizeof *value) == static_cast<ssize_t>(sizeof *value) ? 0 : -1;
  }
};

inline const Api& KernelApi() {
  static const Api api{test::RawKernelBackend(), false};
  return api;
}

inline const Api& UepollApi() {
  static const Api api{test::UepollBackend(), true};
  return api;
}

// For INSTANTIATE_TEST_SUITE_P over both implementations.
inline std::string ApiName(const ::testing::TestParamInfo<const Api*>& info) {
  return info.param->name;
}

// epoll_event is packed on x86-64: copy fields out before handing them to gtest macros,
// which bind references (a misaligned reference is undefined behaviour).
inline uint64_t DataOf(const epoll_event& ev) {
  const uint64_t v = ev.data.u64;
  return v;
}
inline uint32_t EventsOf(const epoll_event& ev) {
  const uint32_t v = ev.events;
  return v;
}

}  // namespace uep::stress
