// Two-thread and many-thread scenarios: a sleeping round trip (with its floors: a raw
// futex ping-pong and two threads spinning on a shared word) and producers feeding one
// event loop. These measure themselves and return samples or rates.
#pragma once

#include <sched.h>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include "apis.h"
#include "scenarios.h"

namespace uep::bench {

using Clock = std::chrono::steady_clock;

struct Percentiles {
  double median_ns = 0;
  double p99_ns = 0;
  double p999_ns = 0;
};

inline Percentiles Summarize(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  auto at = [&](double q) {
    return samples[static_cast<size_t>(q * static_cast<double>(samples.size() - 1))];
  };
  return {at(0.5), at(0.99), at(0.999)};
}

// Thread A writes a token to eventfd 1 and waits on its instance for eventfd 2; thread B
// does the reverse. Both block in wait(-1) between tokens (ET items, drained by read).
// busy_poll_rounds: uep_epoll_set_busy_poll on both instances (< 0: leave the default).
// kernel_eventfds: the tokens go through kernel eventfds (on uepoll: kernel descriptors in
// the instance, a sleep in its hidden kernel instance); one_cpu: both threads pinned to
// one CPU, so that each hand-off is a wake-up and a context switch, no idle CPU.
struct PingPong {
  int busy_poll_rounds = -1;
  bool kernel_eventfds = false;
  bool one_cpu = false;
};

template <typename Api>
std::vector<double> EpollPingPong(int rounds, PingPong how) {
  cpu_set_t saved;
  CPU_ZERO(&saved);
  if (how.one_cpu) {
    Check(sched_getaffinity(0, sizeof saved, &saved) == 0, "sched_getaffinity");
    int cpu = 0;
    while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &saved)) ++cpu;
    cpu_set_t pinned;
    CPU_ZERO(&pinned);
    CPU_SET(cpu, &pinned);
    Check(sched_setaffinity(0, sizeof pinned, &pinned) == 0, "sched_setaffinity");  // b inherits
  }
  const int ep_a = Api::EpollCreate();
  const int ep_b = Api::EpollCreate();
  Api::SetBusyPoll(ep_a, how.busy_poll_rounds);
  Api::SetBusyPoll(ep_b, how.busy_poll_rounds);
  auto make = [&] {
    return how.kernel_eventfds ? ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) : Api::EventFd(0, EFD_NONBLOCK);
  };
  const int to_b = make();
  const int to_a = make();
  auto rd = [&](int fd, uint64_t* v) {
    return how.kernel_eventfds ? ::read(fd, v, sizeof *v) : Api::Read(fd, v, sizeof *v);
  };
  auto wr = [&](int fd, const uint64_t* v) {
    return how.kernel_eventfds ? ::write(fd, v, sizeof *v) : Api::Write(fd, v, sizeof *v);
  };
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;
  Check(Api::Ctl(ep_a, EPOLL_CTL_ADD, to_a, &ev) == 0, "ctl");
  Check(Api::Ctl(ep_b, EPOLL_CTL_ADD, to_b, &ev) == 0, "ctl");
  auto await = [&](int ep, int fd) {
    epoll_event out;
    uint64_t value = 0;
    while (Api::Wait(ep, &out, 1, -1) != 1) {
    }
    Check(rd(fd, &value) == sizeof value, "read");
  };
  const uint64_t one = 1;
  std::thread b([&] {
    for (int i = 0; i < rounds; ++i) {
      await(ep_b, to_b);
      Check(wr(to_a, &one) == sizeof one, "write");
    }
  });
  std::vector<double> samples;
  samples.reserve(static_cast<size_t>(rounds));
  for (int i = 0; i < rounds; ++i) {
    const auto start = Clock::now();
    Check(wr(to_b, &one) == sizeof one, "write");
    await(ep_a, to_a);
    samples.push_back(std::chrono::duration<double, std::nano>(Clock::now() - start).count());
  }
  b.join();
  if (how.kernel_eventfds) {
    ::close(to_a);
    ::close(to_b);
  } else {
    Api::Close(to_a);
    Api::Close(to_b);
  }
  Api::Close(ep_a);
  Api::Close(ep_b);
  if (how.one_cpu) sched_setaffinity(0, sizeof saved, &saved);
  return samples;
}

// The floor for a sleeping wake-up: two threads passing a token through futex words.
// `timed`: each wait carries a far absolute deadline (FUTEX_WAIT_BITSET), as a user-space
// epoll_wait(-1) must to return EINTR after an SA_RESTART handler; the kernel then arms an
// hrtimer per sleep, which the untimed floor does not pay.
// Only the round trips in which both threads slept are kept (a wait that finds the token
// already posted returns at once: two threads in step on two CPUs can pass it back and
// forth without sleeping, a different and much cheaper hand-off); all of them if none did.
inline std::vector<double> FutexPingPong(int rounds, bool timed = false) {
  std::atomic<uint32_t> to_a{0};
  std::atomic<uint32_t> to_b{0};
  std::atomic<bool> b_slept{false};  // B's wait of this round slept (read after to_a)
  const timespec far{INT32_MAX, 0};
  auto futex = [&](std::atomic<uint32_t>* w, int op, uint32_t v) {
    const bool wait = op == FUTEX_WAIT && timed;
    return syscall(SYS_futex, reinterpret_cast<uint32_t*>(w),
                   (wait ? FUTEX_WAIT_BITSET : op) | FUTEX_PRIVATE_FLAG, v, wait ? &far : nullptr,
                   nullptr, wait ? FUTEX_BITSET_MATCH_ANY : 0);
  };
  // True if the wait slept: the kernel queued it and a wake-up ended it.
  auto await = [&](std::atomic<uint32_t>* w) {
    bool slept = false;
    while (w->load(std::memory_order_acquire) == 0) {
      if (futex(w, FUTEX_WAIT, 0) == 0) slept = true;
    }
    w->store(0, std::memory_order_relaxed);
    return slept;
  };
  auto post = [&](std::atomic<uint32_t>* w) {
    w->store(1, std::memory_order_release);
    futex(w, FUTEX_WAKE, 1);
  };
  std::thread b([&] {
    for (int i = 0; i < rounds; ++i) {
      b_slept.store(await(&to_b), std::memory_order_relaxed);
      post(&to_a);
    }
  });
  std::vector<double> all;
  std::vector<double> slept;
  all.reserve(static_cast<size_t>(rounds));
  slept.reserve(static_cast<size_t>(rounds));
  for (int i = 0; i < rounds; ++i) {
    const auto start = Clock::now();
    post(&to_b);
    const bool a_slept = await(&to_a);
    const double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
    all.push_back(ns);
    if (a_slept && b_slept.load(std::memory_order_relaxed)) slept.push_back(ns);
  }
  b.join();
  return slept.empty() ? all : slept;
}

// The floor for a spinning hand-off: two threads spinning on shared words.
inline std::vector<double> SpinPingPong(int rounds) {
  std::atomic<int> turn{0};
  std::thread b([&] {
    for (int i = 0; i < rounds; ++i) {
      while (turn.load(std::memory_order_acquire) != 2 * i + 1) {
      }
      turn.store(2 * i + 2, std::memory_order_release);
    }
  });
  std::vector<double> samples;
  samples.reserve(static_cast<size_t>(rounds));
  for (int i = 0; i < rounds; ++i) {
    const auto start = Clock::now();
    turn.store(2 * i + 1, std::memory_order_release);
    while (turn.load(std::memory_order_acquire) != 2 * i + 2) {
    }
    samples.push_back(std::chrono::duration<double, std::nano>(Clock::now() - start).count());
  }
  b.join();
  return samples;
}

// `producers` threads each signal their own eventfd `per_producer` times; one loop thread
// waits on all of them and drains. Returns events (writes) per second seen by the loop.
template <typename Api>
double ProducersToLoop(int producers, int per_producer) {
  const int ep = Api::EpollCreate();
  std::vector<int> fds;
  for (int i = 0; i < producers; ++i) {
    fds.push_back(Api::EventFd(0, EFD_NONBLOCK));
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.fd = fds.back();
    Check(Api::Ctl(ep, EPOLL_CTL_ADD, fds.back(), &ev) == 0, "ctl");
  }
  const uint64_t total = static_cast<uint64_t>(producers) * static_cast<uint64_t>(per_producer);
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < producers; ++i) {
    threads.emplace_back([&, fd = fds[static_cast<size_t>(i)]] {
      const uint64_t one = 1;
      for (int n = 0; n < per_producer; ++n) Api::Write(fd, &one, sizeof one);
    });
  }
  uint64_t seen = 0;
  std::vector<epoll_event> out(static_cast<size_t>(producers));
  while (seen < total) {
    const int n = Api::Wait(ep, out.data(), static_cast<int>(out.size()), 1000);
    for (int i = 0; i < n; ++i) {
      uint64_t value = 0;
      if (Api::Read(out[static_cast<size_t>(i)].data.fd, &value, sizeof value) == sizeof value)
        seen += value;
    }
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  for (auto& t : threads) t.join();
  for (int fd : fds) Api::Close(fd);
  Api::Close(ep);
  return static_cast<double>(total) / secs;
}

// Lateness of short one-shot timers: arm a CLOCK_MONOTONIC timerfd `delay_ns` ahead, sleep
// in wait(-1) on an instance watching it, and record how long after the deadline the
// waiter had the expiration in hand. One sample per timer.
template <typename Api>
std::vector<double> TimerLateness(int samples, long delay_ns) {
  const int ep = Api::EpollCreate();
  const int tfd = Api::TimerfdCreate(CLOCK_MONOTONIC, TFD_NONBLOCK);
  Check(ep >= 0 && tfd >= 0, "timerfd_create");
  epoll_event ev{};
  ev.events = EPOLLIN;
  Check(Api::Ctl(ep, EPOLL_CTL_ADD, tfd, &ev) == 0, "ctl");
  std::vector<double> late;
  late.reserve(static_cast<size_t>(samples));
  for (int i = 0; i < samples; ++i) {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    long nsec = now.tv_nsec + delay_ns;
    itimerspec its{};
    its.it_value.tv_sec = now.tv_sec + nsec / 1000000000L;
    its.it_value.tv_nsec = nsec % 1000000000L;
    Check(Api::TimerfdSettime(tfd, TFD_TIMER_ABSTIME, &its) == 0, "timerfd_settime");
    epoll_event out;
    while (Api::Wait(ep, &out, 1, -1) != 1) {
    }
    timespec fired{};
    clock_gettime(CLOCK_MONOTONIC, &fired);
    uint64_t expirations = 0;
    Api::Read(tfd, &expirations, sizeof expirations);
    late.push_back(static_cast<double>(fired.tv_sec - its.it_value.tv_sec) * 1e9 +
                   static_cast<double>(fired.tv_nsec - its.it_value.tv_nsec));
  }
  Api::Close(tfd);
  Api::Close(ep);
  return late;
}

// Load for the lateness rows: `threads` threads spinning until destroyed (on a 2-CPU
// machine one of them keeps the other CPU busy, as a loaded server's would be).
class CpuHog {
 public:
  explicit CpuHog(int threads) {
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this] {
        while (!stop_.load(std::memory_order_relaxed)) {
        }
      });
    }
  }
  ~CpuHog() {
    stop_.store(true, std::memory_order_relaxed);
    for (auto& t : threads_) t.join();
  }
  CpuHog(const CpuHog&) = delete;
  CpuHog& operator=(const CpuHog&) = delete;

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

// `count` threads that each made a few calls on Api (so that on uepoll each owns a reader
// record, as any thread of a real program does) and then sleep until destroyed.
template <typename Api>
class IdleThreads {
 public:
  explicit IdleThreads(int count) {
    for (int i = 0; i < count; ++i) {
      threads_.emplace_back([this] {
        const int ep = Api::EpollCreate();
        const int fd = Api::EventFd(0, EFD_NONBLOCK);
        epoll_event ev{};
        ev.events = EPOLLIN;
        Api::Ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        epoll_event out;
        Api::Wait(ep, &out, 1, 0);
        Api::Close(fd);
        Api::Close(ep);
        std::unique_lock lock(mu_);
        ++started_;
        cv_.notify_all();
        cv_.wait(lock, [this] { return stop_; });
      });
    }
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return started_ == count; });
  }
  ~IdleThreads() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  IdleThreads(const IdleThreads&) = delete;
  IdleThreads& operator=(const IdleThreads&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int started_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

// CreateWatchClose in a process where `others` other threads have used the API and sleep.
template <typename Api>
class CreateWatchCloseAmong {
 public:
  explicit CreateWatchCloseAmong(int others) : idle_(others) {}
  void Op() { inner_.Op(); }

 private:
  IdleThreads<Api> idle_;
  CreateWatchClose<Api> inner_;
};

// Resident and heap (malloc's in-use bytes) memory of the process.
struct MemoryUse {
  double rss = 0;
  double heap = 0;
};

inline MemoryUse MemoryNow() {
  MemoryUse m;
  if (FILE* f = std::fopen("/proc/self/statm", "re")) {
    long size = 0;
    long resident = 0;
    if (std::fscanf(f, "%ld %ld", &size, &resident) == 2) {
      m.rss = static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
    }
    std::fclose(f);
  }
  const struct mallinfo2 mi = mallinfo2();
  m.heap = static_cast<double>(mi.uordblks + mi.hblkhd);
  return m;
}

// CPU time of the calling thread (user and system): one long run on a shared machine
// measures itself, not the other tenants.
inline double ThreadCpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

struct ChurnResult {
  double ns_per_item = 0;  // one ADD and one DEL, CPU time
  MemoryUse start;         // before the first ADD (descriptors and instances exist)
  MemoryUse peak;          // every item added
  MemoryUse end;           // every item removed, the instances still open
};

// Churn: `files` eventfds watched by each of `instances` instances (files x instances
// items), all added then all removed, `rounds` times; the instances stay open throughout.
template <typename Api>
ChurnResult Churn(int files, int instances, int rounds) {
  std::vector<int> eps;
  std::vector<int> fds;
  for (int i = 0; i < instances; ++i) eps.push_back(Api::EpollCreate());
  for (int i = 0; i < files; ++i) {
    const int fd = Api::EventFd(0, EFD_NONBLOCK);
    Check(fd >= 0, "eventfd (descriptor limit?)");
    fds.push_back(fd);
  }
  ChurnResult r;
  r.start = MemoryNow();
  double ns = 0;
  for (int round = 0; round < rounds; ++round) {
    const double t0 = ThreadCpuNs();
    for (int ep : eps) {
      for (int fd : fds) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        Check(Api::Ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0, "ctl add");
      }
    }
    if (round == 0) {
      const double t1 = ThreadCpuNs();
      r.peak = MemoryNow();
      ns -= ThreadCpuNs() - t1;
    }
    for (int ep : eps) {
      for (int fd : fds) Check(Api::Ctl(ep, EPOLL_CTL_DEL, fd, nullptr) == 0, "ctl del");
    }
    ns += ThreadCpuNs() - t0;
  }
  r.end = MemoryNow();
  for (int fd : fds) Api::Close(fd);
  for (int ep : eps) Api::Close(ep);
  r.ns_per_item = ns / (static_cast<double>(files) * instances * rounds);
  return r;
}

}  // namespace uep::bench
