// A thread pool hands its completions to an event loop through a uep::Channel.
//
// Workers take jobs from one channel (blocking recv), compute, and send the result on a
// second channel; the event loop watches the results channel with epoll (edge-triggered)
// next to a uepoll eventfd that asks it to stop. Delivering a completion to a loop that is
// awake costs no system call.
#include <sys/epoll.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

#include "uepoll/channel.hpp"
#include "uepoll/uepoll.hpp"

namespace {

struct Job {
  int id;
  std::uint64_t n;  // compute the sum 1..n
};
struct Done {
  int id;
  std::uint64_t result;
};

enum : std::uint64_t { kResults = 1, kStop = 2 };

}  // namespace

int main() {
  constexpr int kWorkers = 3;
  constexpr int kJobs = 200;
  auto jobs = uep::Channel<Job>::create(16).value();
  auto done = uep::Channel<Done>::create(16).value();
  auto stop = uep::EventFd::create_or_throw(0, uep::EventFdFlags::nonblock);
  auto ep = uep::Epoll::create_or_throw();
  ep.add(done, uep::Events::in | uep::Events::et, kResults).value();
  ep.add(stop, uep::Events::in, kStop).value();

  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&] {
      while (auto job = jobs.recv()) {  // EPIPE once `jobs` is closed and drained
        std::uint64_t sum = 0;
        for (std::uint64_t i = 1; i <= job->n; ++i) sum += i;
        if (!done.send(Done{job->id, sum})) return;
      }
    });
  }
  std::thread feeder([&] {
    for (int i = 0; i < kJobs; ++i) jobs.send(Job{i, static_cast<std::uint64_t>(i) * 100}).value();
    jobs.close();
  });

  // The event loop.
  int completed = 0;
  std::uint64_t checksum = 0;
  bool running = true;
  std::array<epoll_event, 8> events{};
  while (running) {
    auto n = ep.wait(events, std::chrono::seconds(10));
    if (!n || *n == 0) {
      std::fprintf(stderr, "thread_pool: wait failed or timed out\n");
      return 1;
    }
    for (const epoll_event& e : std::span(events).first(*n)) {
      if (uep::data_of(e) == kStop) {
        running = false;
      } else {
        while (auto d = done.try_recv()) {  // edge-triggered: drain
          const std::uint64_t n100 = static_cast<std::uint64_t>(d->id) * 100;
          if (d->result != n100 * (n100 + 1) / 2) {
            std::fprintf(stderr, "thread_pool: job %d gave a wrong result\n", d->id);
            return 1;
          }
          checksum += d->result;
          if (++completed == kJobs) (void)stop.write(1);
        }
      }
    }
  }
  feeder.join();
  done.close();
  for (auto& t : workers) t.join();
  std::printf("thread_pool: %d jobs completed by %d workers, checksum %llu\n", completed,
              kWorkers, static_cast<unsigned long long>(checksum));
  return completed == kJobs ? 0 : 1;
}
