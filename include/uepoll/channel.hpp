// uep::Channel<T>: a bounded multi-producer multi-consumer queue that is also a uepoll
// descriptor. Readiness: EPOLLIN while it holds an element, EPOLLOUT while it has room,
// EPOLLHUP once closed. Built only on the public extension point (uepoll/file.hpp); see
// docs/extending.md for a walk-through.
//
//   auto ch = uep::Channel<Job>::create(64).value();     // capacity 64
//   ep.add(ch, uep::Events::in, 7).value();               // watch it like any descriptor
//
//   // producers, any thread:
//   if (auto r = ch.try_send(job); !r) { /* r.error() == std::errc::resource_unavailable_try_again: full */ }
//   ch.send(std::move(job)).value();                      // blocks while full
//
//   // consumers, any thread, e.g. after ep.wait() reported EPOLLIN for data 7:
//   while (auto job = ch.try_recv()) run(*job);           // EAGAIN once empty
//
// Every member is thread-safe; share one Channel by reference (it is move-only and owns
// its descriptor). Elements go out in the order they came in.
//
// Results: try_send/try_recv never block and report EAGAIN (full / empty). send/recv block
// and report EINTR if a signal handler without SA_RESTART interrupts them; send_for and
// recv_for also ETIMEDOUT. After close(), send reports EPIPE and recv drains what is left,
// then reports EPIPE. A failed send leaves the value it was given untouched.
//
// From C: the descriptor (get()) works with uep_epoll_ctl, uep_poll, uep_dup, uep_close.
// If T is trivially copyable, uep_read of at least sizeof(T) bytes receives one element
// and uep_write of sizeof(T) bytes sends one (blocking unless O_NONBLOCK), so C code can
// talk to it; otherwise read/write fail with EINVAL.
#ifndef UEPOLL_CHANNEL_HPP_
#define UEPOLL_CHANNEL_HPP_

#include <sys/epoll.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "uepoll/file.hpp"
#include "uepoll/uepoll.hpp"

namespace uep {
inline namespace api {

enum class ChannelFlags : int {
  none = 0,
  cloexec = O_CLOEXEC,    // FD_CLOEXEC on the descriptor
  nonblock = O_NONBLOCK,  // uep_read/uep_write on the descriptor do not block
};
template <>
struct is_bitmask<ChannelFlags> : std::true_type {};

template <typename T>
class Channel {
  static_assert(std::is_move_constructible_v<T>, "Channel<T> needs a movable T");

 public:
  using value_type = T;

  // A channel holding at most `capacity` elements (EINVAL for 0); EMFILE/ENOMEM as for
  // any descriptor.
  static Result<Channel> create(std::size_t capacity, ChannelFlags flags = ChannelFlags::none) {
    if (capacity == 0) return std::error_code{EINVAL, std::system_category()};
    std::shared_ptr<State> state;
    try {
      state = std::make_shared<State>(capacity);
    } catch (const std::bad_alloc&) {
      return std::error_code{ENOMEM, std::system_category()};
    }
    Result<Fd> fd = install(state, static_cast<FileFlags>(to_bits(flags)));
    if (!fd) return fd.error();
    return Channel(std::move(state), std::move(fd).value());
  }

  Channel() = default;
  Channel(Channel&&) noexcept = default;
  Channel& operator=(Channel&&) noexcept = default;

  // The descriptor, for uep_epoll_ctl / uep_poll (and uep::FdRef).
  [[nodiscard]] int get() const noexcept { return fd_.get(); }
  [[nodiscard]] bool valid() const noexcept { return state_ != nullptr; }

  // Non-blocking. EAGAIN if full, EPIPE if closed; the value is only moved from on success.
  Result<void> try_send(T&& value) { return status(state_->push(value)); }
  Result<void> try_send(const T& value) {
    T copy(value);
    return try_send(std::move(copy));
  }
  // Non-blocking. EAGAIN if empty, EPIPE if empty and closed.
  Result<T> try_recv() { return state_->pop(); }

  // Blocking: waits for room (send) or an element (recv).
  Result<void> send(T value) { return send_until(value, kInfinite); }
  Result<T> recv() { return recv_until(kInfinite); }
  template <typename Rep, typename Period>
  Result<void> send_for(T value, std::chrono::duration<Rep, Period> timeout) {
    return send_until(value, timeout);
  }
  template <typename Rep, typename Period>
  Result<T> recv_for(std::chrono::duration<Rep, Period> timeout) {
    return recv_until(timeout);
  }

  // Ends the channel: later sends fail with EPIPE, receivers drain what is left, watchers
  // see EPOLLHUP and blocked threads wake. Idempotent. The descriptor stays open until the
  // Channel is destroyed.
  void close() { state_->close(); }

  // Current readiness, as epoll would report it.
  [[nodiscard]] Events events() const noexcept { return static_cast<Events>(state_->mask()); }
  [[nodiscard]] std::size_t size() const noexcept {
    return state_->size_.load(std::memory_order_acquire);
  }
  [[nodiscard]] std::size_t capacity() const noexcept { return state_->capacity_; }
  [[nodiscard]] bool closed() const noexcept {
    return state_->closed_.load(std::memory_order_acquire);
  }

 private:
  // The file type. One wait queue serves both directions; the key tells watchers which.
  class State final : public Pollable {
   public:
    explicit State(std::size_t capacity) : capacity_(capacity), ring_(capacity) {}

    std::uint32_t poll(PollContext& ctx) override {
      ctx.wait_on(wq_);
      return mask();
    }
    // poll() reads two atomics and takes no lock.
    [[nodiscard]] bool lockless_poll() const noexcept override { return true; }

    [[nodiscard]] std::uint32_t mask() const noexcept {
      const std::size_t n = size_.load(std::memory_order_acquire);
      const bool closed = closed_.load(std::memory_order_acquire);
      std::uint32_t events = 0;
      if (n > 0) events |= EPOLLIN | EPOLLRDNORM;
      if (closed) {
        events |= EPOLLHUP;
      } else if (n < capacity_) {
        events |= EPOLLOUT | EPOLLWRNORM;
      }
      return events;
    }

    // 0, -EAGAIN or -EPIPE; moves from `value` only on success.
    int push(T& value) {
      {
        std::lock_guard guard(mu_);
        if (closed_.load(std::memory_order_relaxed)) return -EPIPE;
        const std::size_t n = size_.load(std::memory_order_relaxed);
        if (n == capacity_) return -EAGAIN;
        ring_[(head_ + n) % capacity_].emplace(std::move(value));
        size_.store(n + 1, std::memory_order_release);
      }
      wq_.wake(EPOLLIN | EPOLLRDNORM);  // state first, wake second
      return 0;
    }

    Result<T> pop() {
      std::optional<T> out;
      {
        std::lock_guard guard(mu_);
        const std::size_t n = size_.load(std::memory_order_relaxed);
        if (n == 0) {
          const int err = closed_.load(std::memory_order_relaxed) ? EPIPE : EAGAIN;
          return std::error_code{err, std::system_category()};
        }
        out.emplace(std::move(*ring_[head_]));
        ring_[head_].reset();
        head_ = (head_ + 1) % capacity_;
        size_.store(n - 1, std::memory_order_release);
      }
      wq_.wake(EPOLLOUT | EPOLLWRNORM);
      return std::move(*out);
    }

    void close() {
      {
        std::lock_guard guard(mu_);
        if (closed_.load(std::memory_order_relaxed)) return;
        closed_.store(true, std::memory_order_release);
      }
      wq_.wake_all(EPOLLHUP | EPOLLIN | EPOLLOUT);
    }

    [[nodiscard]] bool can_send() const noexcept {
      return closed_.load(std::memory_order_acquire) ||
             size_.load(std::memory_order_acquire) < capacity_;
    }
    [[nodiscard]] bool can_recv() const noexcept {
      return closed_.load(std::memory_order_acquire) ||
             size_.load(std::memory_order_acquire) > 0;
    }

    // uep_read / uep_write for trivially copyable elements: one element per call.
    [[nodiscard]] bool can_read() const noexcept override {
      return std::is_trivially_copyable_v<T>;
    }
    [[nodiscard]] bool can_write() const noexcept override {
      return std::is_trivially_copyable_v<T>;
    }
    ssize_t read(std::span<const iovec> iov, bool nonblock) override {
      if constexpr (std::is_trivially_copyable_v<T>) {
        if (iov_length(iov) < sizeof(T)) return -EINVAL;
        for (;;) {
          Result<T> r = pop();
          if (r) {
            copy_to_iov(iov, &*r, sizeof(T));
            return static_cast<ssize_t>(sizeof(T));
          }
          if (r.error().value() != EAGAIN || nonblock) return -r.error().value();
          if (const int w = wq_.wait([this] { return can_recv(); }); w < 0) return w;
        }
      } else {
        (void)iov;
        (void)nonblock;
        return -EINVAL;
      }
    }
    ssize_t write(std::span<const iovec> iov, bool nonblock) override {
      if constexpr (std::is_trivially_copyable_v<T> && std::is_default_constructible_v<T>) {
        if (iov_length(iov) < sizeof(T)) return -EINVAL;
        T value;
        copy_from_iov(iov, &value, sizeof(T));
        for (;;) {
          const int r = push(value);
          if (r == 0) return static_cast<ssize_t>(sizeof(T));
          if (r != -EAGAIN || nonblock) return r;
          if (const int w = wq_.wait([this] { return can_send(); }); w < 0) return w;
        }
      } else {
        (void)iov;
        (void)nonblock;
        return -EINVAL;
      }
    }

    // Wakes uep_poll callers still queued when the last descriptor goes.
    void release() override { wq_.wake_all(EPOLLHUP); }

    const std::size_t capacity_;
    std::atomic<std::size_t> size_{0};  // written under mu_; poll() reads it without
    std::atomic<bool> closed_{false};   // written under mu_
    WaitQueue wq_;

   private:
    std::mutex mu_;                        // protects ring_ and head_
    std::vector<std::optional<T>> ring_;   // capacity_ slots, size_ used from head_
    std::size_t head_ = 0;
  };

  Channel(std::shared_ptr<State> state, Fd fd) noexcept
      : state_(std::move(state)), fd_(std::move(fd)) {}

  static Result<void> status(int r) {
    if (r < 0) return std::error_code{-r, std::system_category()};
    return {};
  }

  template <typename Duration>
  Result<void> send_until(T& value, Duration timeout) {
    const bool forever = timeout < Duration::zero();
    const auto deadline = std::chrono::steady_clock::now() +
                          (forever ? std::chrono::steady_clock::duration::zero()
                                   : std::chrono::ceil<std::chrono::steady_clock::duration>(timeout));
    for (;;) {
      const int r = state_->push(value);
      if (r != -EAGAIN) return status(r);
      int w = 0;
      if (forever) {
        w = state_->wq_.wait([this] { return state_->can_send(); });
      } else {
        auto left = deadline - std::chrono::steady_clock::now();
        if (left < decltype(left)::zero()) left = decltype(left)::zero();
        w = state_->wq_.wait_for([this] { return state_->can_send(); }, left);
      }
      if (w < 0) return status(w);
    }
  }

  template <typename Duration>
  Result<T> recv_until(Duration timeout) {
    const bool forever = timeout < Duration::zero();
    const auto deadline = std::chrono::steady_clock::now() +
                          (forever ? std::chrono::steady_clock::duration::zero()
                                   : std::chrono::ceil<std::chrono::steady_clock::duration>(timeout));
    for (;;) {
      Result<T> r = state_->pop();
      if (r || r.error().value() != EAGAIN) return r;
      int w = 0;
      if (forever) {
        w = state_->wq_.wait([this] { return state_->can_recv(); });
      } else {
        auto left = deadline - std::chrono::steady_clock::now();
        if (left < decltype(left)::zero()) left = decltype(left)::zero();
        w = state_->wq_.wait_for([this] { return state_->can_recv(); }, left);
      }
      if (w < 0) return std::error_code{-w, std::system_category()};
    }
  }

  std::shared_ptr<State> state_;
  Fd fd_;
};

}  // namespace api
}  // namespace uep

#endif  // UEPOLL_CHANNEL_HPP_
