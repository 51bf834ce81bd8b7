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
#include <new>
#include <optional>
#include <span>
#include <system_error>
#include <type_traits>
#include <utility>
#include <thread>

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

  // A channel holding at most `capacity` elements (EINVAL for 0 or more than
  // max_capacity()); EMFILE/ENOMEM as for any descriptor. The ring is allocated at once:
  // capacity rounded up to a power of two, times sizeof(T) plus a word.
  static Result<Channel> create(std::size_t capacity, ChannelFlags flags = ChannelFlags::none) {
    if (capacity == 0 || capacity > max_capacity()) {
      return std::error_code{EINVAL, std::system_category()};
    }
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
  [[nodiscard]] static constexpr std::size_t max_capacity() noexcept { return std::size_t{1} << 30; }

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
  // Non-blocking batch receive: moves up to out.size() elements into `out`, in order, and
  // returns how many (at least 1). EAGAIN if empty, EPIPE if empty and closed. A call that
  // returns fewer than out.size() left the channel empty.
  Result<std::size_t> recv_many(std::span<T> out) {
    const std::size_t n = state_->pop_many(out);
    if (n > 0 || out.empty()) return n;
    return std::error_code{state_->closed() ? EPIPE : EAGAIN, std::system_category()};
  }

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
  [[nodiscard]] std::size_t size() const noexcept { return state_->size(); }
  [[nodiscard]] std::size_t capacity() const noexcept { return state_->capacity_; }
  [[nodiscard]] bool closed() const noexcept { return state_->closed(); }

 private:
  // The file type: a bounded lock-free ring (D. Vyukov's multi-producer multi-consumer
  // queue: a sequence number per slot, one compare-and-swap per send and per receive).
  // One wait queue serves both directions; the key tells watchers which.
  //
  // Wake-ups are paid only at the edges. `want_in_` is set by whoever saw the channel
  // empty (a receive that found nothing, a poll, a blocked receiver) and taken by the first
  // send after it, which wakes EPOLLIN; `want_out_` likewise for full and the first receive
  // after. Each side sets its flag and then re-reads the positions, while the other side
  // moved a position (a full barrier) and then reads the flag: one of them sees the other.
  class State final : public Pollable {
   public:
    explicit State(std::size_t capacity)
        : capacity_(capacity), mask_(ring_size(capacity) - 1), cells_(new Cell[mask_ + 1]) {
      for (std::size_t i = 0; i <= mask_; ++i) cells_[i].seq.store(i, std::memory_order_relaxed);
    }
    ~State() override {
      // Destroy what was never received (no thread uses the channel any more).
      for (std::size_t pos = deq_.load(std::memory_order_relaxed);; ++pos) {
        Cell& c = cells_[pos & mask_];
        if (c.seq.load(std::memory_order_relaxed) != pos + 1) break;
        c.value()->~T();
        c.seq.store(pos + mask_ + 1, std::memory_order_relaxed);
      }
    }

    std::uint32_t poll(PollContext& ctx) override {
      ctx.wait_on(wq_);
      return mask(/*arm=*/true);
    }
    // poll() reads atomics and takes no lock.
    [[nodiscard]] bool lockless_poll() const noexcept override { return true; }

    // `arm`: a watcher that sees "empty" (or "full") is owed the wake-up of the next
    // change, as after a receive that found nothing.
    [[nodiscard]] std::uint32_t mask(bool arm = false) const noexcept {
      std::size_t n = size();
      if (arm && n == 0) {
        want_in_.store(true, std::memory_order_seq_cst);
        n = size();
      }
      if (arm && n >= capacity_) {
        want_out_.store(true, std::memory_order_seq_cst);
        n = size();
      }
      std::uint32_t events = 0;
      if (n > 0) events |= EPOLLIN | EPOLLRDNORM;
      if (closed()) {
        events |= EPOLLHUP;
      } else if (n < capacity_) {
        events |= EPOLLOUT | EPOLLWRNORM;
      }
      return events;
    }

    [[nodiscard]] bool closed() const noexcept {
      return (enq_.load(std::memory_order_seq_cst) & kClosed) != 0;
    }
    // Elements sent and not yet received (a send or receive under way counts).
    [[nodiscard]] std::size_t size() const noexcept {
      const std::size_t deq = deq_.load(std::memory_order_seq_cst);
      const std::size_t enq = enq_.load(std::memory_order_seq_cst) & ~kClosed;
      const std::size_t n = enq - deq;
      return n > capacity_ ? (static_cast<std::ptrdiff_t>(n) < 0 ? 0 : capacity_) : n;
    }

    // 0, -EAGAIN or -EPIPE; moves from `value` only on success. `arm`: a full channel
    // owes the caller an EPOLLOUT wake-up at the next receive (try_send; a blocking send
    // waits for low water instead).
    int push(T& value, bool arm = true) {
      std::size_t pos = enq_.load(std::memory_order_relaxed);
      Cell* cell = nullptr;
      bool armed = false;
      for (unsigned spins = 0;;) {
        if ((pos & kClosed) != 0) return -EPIPE;
        cell = &cells_[pos & mask_];
        const std::size_t seq = cell->seq.load(std::memory_order_acquire);
        const auto dif = static_cast<std::ptrdiff_t>(seq - pos);
        bool full = false;
        if (dif == 0) {
          if (exact_ || pos - deq_.load(std::memory_order_seq_cst) < capacity_) {
            // seq_cst: ordered before the read of want_in_ below (see the class comment).
            if (enq_.compare_exchange_weak(pos, pos + 1, std::memory_order_seq_cst,
                                           std::memory_order_relaxed)) {
              break;
            }
            continue;
          }
          full = true;
        } else if (dif < 0) {
          // Full, or a receiver has taken the slot's element and not yet freed it.
          full = pos - deq_.load(std::memory_order_seq_cst) >= capacity_;
          if (!full) backoff(spins);
        }
        if (full) {
          // The receive that makes room owes a wake-up (EPOLLOUT edge); look once more
          // after asking for it.
          if (armed || !arm) return -EAGAIN;
          want_out_.store(true, std::memory_order_seq_cst);
          armed = true;
        }
        pos = enq_.load(std::memory_order_relaxed);
      }
      ::new (cell->storage) T(std::move(value));
      cell->seq.store(pos + 1, std::memory_order_release);
      if (want_in_.load(std::memory_order_seq_cst) &&
          want_in_.exchange(false, std::memory_order_acq_rel)) {
        wq_.wake(EPOLLIN | EPOLLRDNORM);
      }
      return 0;
    }

    // One element into `*out`; false if none is left (arming want_in_ first, so that the
    // next send wakes).
    bool take(T* out, bool lower = true) {
      for (bool armed = false;;) {
        if (try_take(out, lower)) return true;
        if (armed) return false;
        want_in_.store(true, std::memory_order_seq_cst);
        armed = true;  // look once more: a send that missed the flag is seen now
      }
    }

    Result<T> pop() {
      alignas(T) unsigned char buf[sizeof(T)];
      T* slot = reinterpret_cast<T*>(buf);
      if (!take_raw(slot)) {
        return std::error_code{closed() && size() == 0 ? EPIPE : EAGAIN, std::system_category()};
      }
      Result<T> r(std::move(*slot));
      slot->~T();
      return r;
    }

    std::size_t pop_many(std::span<T> out) {
      // A batch lowers EPOLLIN once, at its end: lowering after each element would make a
      // receiver that keeps up with a sender pay, and cost that sender, an edge per element.
      std::size_t n = 0;
      while (n < out.size() && take(&out[n], /*lower=*/false)) ++n;
      if (n == out.size() && n > 0) lower_if_empty(deq_.load(std::memory_order_relaxed));
      return n;
    }

    void close() {
      if ((enq_.fetch_or(kClosed, std::memory_order_seq_cst) & kClosed) != 0) return;
      wq_.wake_all(EPOLLHUP | EPOLLIN | EPOLLOUT);
    }

    // Wait predicates: they arm the flag of what they wait for, then look. A sender that
    // found the channel full sleeps until low water (see try_take_raw).
    [[nodiscard]] bool can_send() const noexcept {
      want_room_.store(true, std::memory_order_seq_cst);
      return closed() || size() < capacity_;
    }
    [[nodiscard]] bool can_recv() const noexcept {
      want_in_.store(true, std::memory_order_seq_cst);
      return closed() || size() > 0;
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
          const int r = push(value, nonblock);
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
    WaitQueue wq_;

   private:
    static constexpr std::size_t kClosed = std::size_t{1} << (sizeof(std::size_t) * 8 - 1);

    struct Cell {
      std::atomic<std::size_t> seq;  // pos: free for the send at pos; pos + 1: holds it
      alignas(T) unsigned char storage[sizeof(T)];
      T* value() noexcept { return std::launder(reinterpret_cast<T*>(storage)); }
    };

    static std::size_t ring_size(std::size_t capacity) {
      std::size_t n = 2;  // a slot's sequence tells "free" from "full" only with two or more
      while (n < capacity) n <<= 1;
      return n;
    }

    // Waits out the few instructions between a peer's claim of a slot and its release (a
    // longer wait only if that thread was preempted there).
    static void backoff(unsigned& spins) noexcept {
      if (++spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      } else {
        std::this_thread::yield();
      }
    }

    // The element at deq_ into raw storage `out` (constructed there); false if the
    // channel is empty, arming want_in_ (and looking once more) before saying so.
    bool take_raw(T* out) {
      for (bool armed = false;;) {
        if (try_take_raw(out)) return true;
        if (armed) return false;
        want_in_.store(true, std::memory_order_seq_cst);
        armed = true;
      }
    }
    bool try_take(T* out, bool lower) {
      alignas(T) unsigned char buf[sizeof(T)];
      T* tmp = reinterpret_cast<T*>(buf);
      if (!try_take_raw(tmp, lower)) return false;
      *out = std::move(*tmp);
      tmp->~T();
      return true;
    }
    bool try_take_raw(T* out, bool lower = true) {
      std::size_t pos = deq_.load(std::memory_order_relaxed);
      Cell* cell = nullptr;
      for (unsigned spins = 0;;) {
        cell = &cells_[pos & mask_];
        const std::size_t seq = cell->seq.load(std::memory_order_acquire);
        const auto dif = static_cast<std::ptrdiff_t>(seq - (pos + 1));
        if (dif == 0) {
          if (deq_.compare_exchange_weak(pos, pos + 1, std::memory_order_seq_cst,
                                         std::memory_order_relaxed)) {
            break;
          }
          continue;
        }
        if (dif < 0) {
          // Empty, or a sender has claimed the slot and not yet filled it: wait for that
          // element, whose sender may have looked at want_in_ before we set it.
          if ((enq_.load(std::memory_order_seq_cst) & ~kClosed) == pos) return false;
          backoff(spins);
        }
        pos = deq_.load(std::memory_order_relaxed);
      }
      T* v = cell->value();
      ::new (out) T(std::move(*v));
      v->~T();
      cell->seq.store(pos + mask_ + 1, std::memory_order_release);
      if (lower) lower_if_empty(pos + 1);
      // seq_cst CAS above, then these reads: a watcher that saw "full" (want_out_) is
      // woken by the first receive; a blocked send (want_room_) once the channel is down
      // to low water, as the kernel wakes a socket's writers once half its buffer is
      // free: one wake-up per half channel, not one per element while producers outrun
      // the receiver.
      if ((want_out_.load(std::memory_order_seq_cst) &&
           want_out_.exchange(false, std::memory_order_acq_rel)) ||
          (want_room_.load(std::memory_order_seq_cst) && size() <= low_water_ &&
           want_room_.exchange(false, std::memory_order_acq_rel))) {
        wq_.wake(EPOLLOUT | EPOLLWRNORM);
      }
      return true;
    }

    // The receive that empties the channel lowers EPOLLIN: the next send is an edge.
    // "Empty" is read from the next slot (most often on the line just read), not from
    // the producers' position, whose line a chasing receiver would pull at every element.
    void lower_if_empty(std::size_t next) const noexcept {
      if (cells_[next & mask_].seq.load(std::memory_order_relaxed) != next + 1) {
        want_in_.store(true, std::memory_order_seq_cst);
      }
    }

    // Where a receive wakes senders that found the channel full: half of it free.
    const std::size_t low_water_ = capacity_ - (capacity_ + 1) / 2;
    const std::size_t mask_;
    const bool exact_ = (mask_ + 1 == capacity_);  // the ring itself bounds the count
    std::unique_ptr<Cell[]> cells_;
    // Producers' and consumers' positions on their own cache lines; kClosed in enq_.
    alignas(64) std::atomic<std::size_t> enq_{0};
    alignas(64) std::atomic<std::size_t> deq_{0};
    alignas(64) mutable std::atomic<bool> want_in_{true};
    mutable std::atomic<bool> want_out_{false};
    mutable std::atomic<bool> want_room_{false};
  };

  Channel(std::shared_ptr<State> state, Fd fd) noexcept
      : state_(std::move(state)), fd_(std::move(fd)) {}

  static Result<void> status(int r) {
    if (r < 0) return std::error_code{-r, std::system_category()};
    return {};
  }

  template <typename Duration>
  Result<void> send_until(T& value, Duration timeout) {
    if (const int r = state_->push(value, false); r != -EAGAIN) return status(r);
    const bool forever = timeout < Duration::zero();
    std::chrono::steady_clock::time_point deadline{};
    if (!forever) {
      deadline = std::chrono::steady_clock::now() +
                 std::chrono::ceil<std::chrono::steady_clock::duration>(timeout);
    }
    for (;;) {
      int w = 0;
      if (forever) {
        w = state_->wq_.wait([this] { return state_->can_send(); });
      } else {
        auto left = deadline - std::chrono::steady_clock::now();
        if (left < decltype(left)::zero()) left = decltype(left)::zero();
        w = state_->wq_.wait_for([this] { return state_->can_send(); }, left);
      }
      if (w == -ETIMEDOUT) {
        // Room may have come short of low water, which wakes no one: a last try.
        const int r = state_->push(value, false);
        return status(r == -EAGAIN ? w : r);
      }
      if (w < 0) return status(w);
      if (const int r = state_->push(value, false); r != -EAGAIN) return status(r);
    }
  }

  template <typename Duration>
  Result<T> recv_until(Duration timeout) {
    Result<T> r = state_->pop();
    if (r || r.error().value() != EAGAIN) return r;
    const bool forever = timeout < Duration::zero();
    std::chrono::steady_clock::time_point deadline{};
    if (!forever) {
      deadline = std::chrono::steady_clock::now() +
                 std::chrono::ceil<std::chrono::steady_clock::duration>(timeout);
    }
    for (;;) {
      int w = 0;
      if (forever) {
        w = state_->wq_.wait([this] { return state_->can_recv(); });
      } else {
        auto left = deadline - std::chrono::steady_clock::now();
        if (left < decltype(left)::zero()) left = decltype(left)::zero();
        w = state_->wq_.wait_for([this] { return state_->can_recv(); }, left);
      }
      if (w < 0) return std::error_code{-w, std::system_category()};
      r = state_->pop();
      if (r || r.error().value() != EAGAIN) return r;
    }
  }

  std::shared_ptr<State> state_;
  Fd fd_;
};

}  // namespace api
}  // namespace uep

#endif  // UEPOLL_CHANNEL_HPP_
