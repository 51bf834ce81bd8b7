// A user-defined file type: a countdown latch that becomes readable when it reaches zero.
//
// Derive from uep::Pollable, keep a uep::WaitQueue, report readiness from poll(), wake the
// queue with a key after each state change, and uep::install() it: the result is a uepoll
// descriptor that epoll, uep_poll and uep_read treat like any other.
#include <sys/epoll.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "uepoll/file.hpp"
#include "uepoll/uepoll.h"
#include "uepoll/uepoll.hpp"

namespace {

class Latch final : public uep::Pollable {
 public:
  explicit Latch(std::uint64_t count) : count_(count) {}

  // Any thread: one step closer to zero. The last step wakes the watchers with EPOLLIN.
  void count_down() {
    if (count_.fetch_sub(1, std::memory_order_acq_rel) == 1) wq_.wake(EPOLLIN | EPOLLRDNORM);
  }

  // Readable (EPOLLIN) once the count is zero.
  std::uint32_t poll(uep::PollContext& ctx) override {
    ctx.wait_on(wq_);
    return count_.load(std::memory_order_acquire) == 0 ? EPOLLIN | EPOLLRDNORM : 0;
  }
  [[nodiscard]] bool lockless_poll() const noexcept override { return true; }

  // uep_read(): blocks (unless O_NONBLOCK) until zero, then returns 8 bytes of 0.
  [[nodiscard]] bool can_read() const noexcept override { return true; }
  ssize_t read(std::span<const iovec> iov, bool nonblock) override {
    if (uep::iov_length(iov) < sizeof(std::uint64_t)) return -EINVAL;
    auto open = [this] { return count_.load(std::memory_order_acquire) == 0; };
    if (!open()) {
      if (nonblock) return -EAGAIN;
      if (const int r = wq_.wait(open); r < 0) return r;
    }
    const std::uint64_t zero = 0;
    uep::copy_to_iov(iov, &zero, sizeof zero);
    return sizeof zero;
  }

 private:
  uep::WaitQueue wq_;
  std::atomic<std::uint64_t> count_;
};

}  // namespace

int main() {
  constexpr int kThreads = 4;
  auto latch = std::make_shared<Latch>(kThreads);
  uep::Fd fd = uep::install(latch, uep::FileFlags::cloexec).value();
  auto ep = uep::Epoll::create_or_throw();
  ep.add(fd, uep::Events::in, 7).value();

  std::array<epoll_event, 4> events{};
  if (ep.wait(events, std::chrono::milliseconds(0)).value() != 0) return 1;  // not yet

  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) threads.emplace_back([&] { latch->count_down(); });

  // One thread blocks in uep_read, the loop waits in epoll: both see the latch open.
  std::uint64_t value = 1;
  std::thread reader([&] { (void)uep_read(fd.get(), &value, sizeof value); });
  auto n = ep.wait(events, std::chrono::seconds(10)).value();
  reader.join();
  for (auto& t : threads) t.join();
  if (n != 1 || uep::data_of(events[0]) != 7 || value != 0) {
    std::fprintf(stderr, "user_file: unexpected result\n");
    return 1;
  }
  std::printf("user_file: latch of %d opened; epoll reported EPOLLIN, uep_read returned\n",
              kThreads);
  return 0;
}
