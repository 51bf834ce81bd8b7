// uepoll C++ API: RAII descriptors, typed event flags, std::chrono timeouts, std::span of
// events and errors as std::error_code, over the C API in uepoll.h. Header-only; C++20.
//
//   #include <uepoll/uepoll.hpp>
//   using namespace std::chrono_literals;
//
//   uep::Epoll ep = uep::Epoll::create_or_throw();
//   uep::EventFd ev = uep::EventFd::create_or_throw(0, uep::EventFdFlags::nonblock);
//   ep.add(ev, uep::Events::in, 42).value();       // value() throws std::system_error
//
//   ev.write(1).value();                            // from any thread, no system call
//   std::array<epoll_event, 16> buf;
//   if (auto n = ep.wait(buf, 100ms)) {             // Result<std::size_t>
//     for (const epoll_event& e : std::span(buf).first(*n)) {
//       if (uep::has(uep::events_of(e), uep::Events::in)) (void)ev.read();
//     }
//   } else {
//     std::fprintf(stderr, "wait: %s\n", n.error().message().c_str());
//   }
//
// Every call maps onto exactly one C call and reports the errno the C call (and so the
// kernel) gives, as std::error_code{errno, std::system_category()}. Nothing here throws
// except Result<T>::value() on an error and the *_or_throw() constructors (both throw
// std::system_error); no call allocates memory. Results are [[nodiscard]].
//
// The classes work on kernel descriptors too (uep_close() etc. pass them to the kernel):
// uep::Fd can own a socket as well as a uepoll eventfd.
#ifndef UEPOLL_UEPOLL_HPP_
#define UEPOLL_UEPOLL_HPP_

#if !defined(__cplusplus) || __cplusplus < 202002L
// One clear message instead of a page of errors from the first concept below.
#error "uepoll/uepoll.hpp needs C++20: compile with -std=c++20 or later (CMake: uepoll::uepoll requires cxx_std_20)"
#else

#include <cerrno>
#include <chrono>
#include <climits>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <span>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

#include "uepoll/uepoll.h"

namespace uep {
// The library's internals live in namespace uep too (uep::EventFd is also the internal
// eventfd file). The public types sit in this inline namespace so that they are still
// spelt uep::EventFd for users but never share a mangled name with an internal one.
inline namespace api {

// ---------------------------------------------------------------------------------------
// Errors and results
// ---------------------------------------------------------------------------------------

// The current errno as a std::error_code (std::system_category, like std::filesystem).
inline std::error_code last_error() noexcept { return {errno, std::system_category()}; }

// Result<T>: a T or the std::error_code of the call that failed; a small C++20 stand-in
// for std::expected<T, std::error_code>.
//
//   uep::Result<uep::EventFd> r = uep::EventFd::create();
//   if (!r) return r.error();                   // std::error_code, e.g. EMFILE
//   uep::EventFd ev = std::move(r).value();
//
// value() on an error throws std::system_error carrying the code, whose what() names the
// call that failed ("uep_epoll_ctl(EPOLL_CTL_ADD): File exists"); operator* and -> on an
// error are undefined behaviour, as for std::optional.
template <typename T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<std::remove_cv_t<T>, std::error_code>,
                "Result<std::error_code> would be ambiguous");

 public:
  using value_type = T;

  Result(const T& value) : v_(std::in_place_index<0>, value) {}              // NOLINT
  Result(T&& value) : v_(std::in_place_index<0>, std::move(value)) {}        // NOLINT
  Result(std::error_code error) : v_(std::in_place_index<1>, error) {}       // NOLINT
  // `operation` (a string literal, not copied) names the failed call in what().
  Result(std::error_code error, const char* operation)
      : v_(std::in_place_index<1>, error), operation_(operation) {}

  [[nodiscard]] bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  // The value; throws std::system_error if this holds an error.
  T& value() & {
    check();
    return *std::get_if<0>(&v_);
  }
  const T& value() const& {
    check();
    return *std::get_if<0>(&v_);
  }
  T&& value() && {
    check();
    return std::move(*std::get_if<0>(&v_));
  }

  T& operator*() & noexcept { return *std::get_if<0>(&v_); }
  const T& operator*() const& noexcept { return *std::get_if<0>(&v_); }
  T&& operator*() && noexcept { return std::move(*std::get_if<0>(&v_)); }
  T* operator->() noexcept { return std::get_if<0>(&v_); }
  const T* operator->() const noexcept { return std::get_if<0>(&v_); }

  // The error, or an empty std::error_code (value 0) if this holds a value.
  [[nodiscard]] std::error_code error() const noexcept {
    const std::error_code* e = std::get_if<1>(&v_);
    return e != nullptr ? *e : std::error_code{};
  }

  // The name of the call that failed, or nullptr.
  [[nodiscard]] const char* operation() const noexcept {
    return has_value() ? nullptr : operation_;
  }

  template <typename U>
  T value_or(U&& alternative) const& {
    return has_value() ? **this : static_cast<T>(std::forward<U>(alternative));
  }
  template <typename U>
  T value_or(U&& alternative) && {
    return has_value() ? std::move(**this) : static_cast<T>(std::forward<U>(alternative));
  }

 private:
  void check() const {
    if (const std::error_code* e = std::get_if<1>(&v_)) {
      if (operation_ != nullptr) throw std::system_error(*e, operation_);
      throw std::system_error(*e);
    }
  }

  std::variant<T, std::error_code> v_;
  const char* operation_ = nullptr;
};

// Result<void>: success, or the std::error_code of the call that failed.
template <>
class [[nodiscard]] Result<void> {
 public:
  using value_type = void;

  Result() noexcept = default;
  Result(std::error_code error) noexcept : error_(error) {}  // NOLINT
  Result(std::error_code error, const char* operation) noexcept
      : error_(error), operation_(operation) {}

  [[nodiscard]] bool has_value() const noexcept { return !error_; }
  explicit operator bool() const noexcept { return has_value(); }
  // Throws std::system_error on an error; what() names the call that failed.
  void value() const {
    if (error_ && operation_ != nullptr) throw std::system_error(error_, operation_);
    if (error_) throw std::system_error(error_);
  }
  [[nodiscard]] std::error_code error() const noexcept { return error_; }
  [[nodiscard]] const char* operation() const noexcept { return error_ ? operation_ : nullptr; }

 private:
  std::error_code error_;
  const char* operation_ = nullptr;
};

namespace detail {

// libc-style return (-1 and errno) to Result; `operation` names the call for what().
template <typename T, typename R>
Result<T> from_ret(R r, const char* operation = nullptr) {
  if (r < 0) return {last_error(), operation};
  return static_cast<T>(r);
}
inline Result<void> from_status(int r, const char* operation = nullptr) {
  if (r < 0) return {last_error(), operation};
  return {};
}

}  // namespace detail

// ---------------------------------------------------------------------------------------
// Typed flags
// ---------------------------------------------------------------------------------------

// Opt-in for the bitmask operators below (| & ^ ~ |= &= ^=): specialise for an enum class.
template <typename E>
struct is_bitmask : std::false_type {};
template <typename E>
concept Bitmask = std::is_enum_v<E> && is_bitmask<E>::value;

template <Bitmask E>
constexpr std::underlying_type_t<E> to_bits(E e) noexcept {
  return static_cast<std::underlying_type_t<E>>(e);
}
template <Bitmask E>
constexpr E operator|(E a, E b) noexcept {
  return static_cast<E>(to_bits(a) | to_bits(b));
}
template <Bitmask E>
constexpr E operator&(E a, E b) noexcept {
  return static_cast<E>(to_bits(a) & to_bits(b));
}
template <Bitmask E>
constexpr E operator^(E a, E b) noexcept {
  return static_cast<E>(to_bits(a) ^ to_bits(b));
}
template <Bitmask E>
constexpr E operator~(E a) noexcept {
  return static_cast<E>(~to_bits(a));
}
template <Bitmask E>
constexpr E& operator|=(E& a, E b) noexcept {
  return a = a | b;
}
template <Bitmask E>
constexpr E& operator&=(E& a, E b) noexcept {
  return a = a & b;
}
template <Bitmask E>
constexpr E& operator^=(E& a, E b) noexcept {
  return a = a ^ b;
}
// True if any bit is set.
template <Bitmask E>
constexpr bool any(E e) noexcept {
  return to_bits(e) != 0;
}
// True if every bit of `bits` is set in `set`.
template <Bitmask E>
constexpr bool has(E set, E bits) noexcept {
  return (to_bits(set) & to_bits(bits)) == to_bits(bits);
}

// epoll event bits (epoll_ctl(2)), both what is asked for and what epoll_wait reports.
//
//   uep::Events want = uep::Events::in | uep::Events::et;
//   if (uep::has(got, uep::Events::hup)) ...
enum class Events : std::uint32_t {
  none = 0,
  in = EPOLLIN,
  pri = EPOLLPRI,
  out = EPOLLOUT,
  rdnorm = EPOLLRDNORM,
  rdband = EPOLLRDBAND,
  wrnorm = EPOLLWRNORM,
  wrband = EPOLLWRBAND,
  msg = EPOLLMSG,
  err = EPOLLERR,
  hup = EPOLLHUP,
  rdhup = EPOLLRDHUP,
  exclusive = EPOLLEXCLUSIVE,
  wakeup = EPOLLWAKEUP,
  oneshot = EPOLLONESHOT,
  et = EPOLLET,
};
template <>
struct is_bitmask<Events> : std::true_type {};

// epoll_create1(2) flags.
enum class EpollFlags : int {
  none = 0,
  cloexec = EPOLL_CLOEXEC,
};
template <>
struct is_bitmask<EpollFlags> : std::true_type {};

// eventfd(2) flags.
enum class EventFdFlags : int {
  none = 0,
  cloexec = EFD_CLOEXEC,
  nonblock = EFD_NONBLOCK,
  semaphore = EFD_SEMAPHORE,
};
template <>
struct is_bitmask<EventFdFlags> : std::true_type {};

// The reported events and the user data of an epoll_event (a packed struct on x86-64,
// so read its fields by value through these).
inline Events events_of(const epoll_event& e) noexcept { return static_cast<Events>(e.events); }
inline std::uint64_t data_of(const epoll_event& e) noexcept { return e.data.u64; }

// ---------------------------------------------------------------------------------------
// Descriptors
// ---------------------------------------------------------------------------------------

// Fd: owns one descriptor, uepoll's or the kernel's, and closes it with uep_close() when
// destroyed. Move-only; an empty Fd holds -1.
//
//   uep::Fd fd{uep_eventfd(0, 0)};     // adopt a descriptor
//   int raw = fd.get();                // borrow it
//   if (auto r = fd.close(); !r) ... r.error()  // close now and see the error
//   int mine = other.release();        // give it up without closing
//
// The destructor ignores close errors; call close() to see them. As with close(2) on
// Linux, the descriptor is gone after close() whatever it returns.
class Fd {
 public:
  Fd() noexcept = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] bool valid() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return valid(); }
  // True if this is a uepoll descriptor (not a kernel one) and open.
  [[nodiscard]] bool is_uepoll() const noexcept { return uep_is_uepoll_fd(fd_) != 0; }

  // Gives up ownership without closing; this becomes empty.
  [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }
  // Closes the descriptor held (errors ignored) and takes `fd`.
  void reset(int fd = -1) noexcept {
    const int old = std::exchange(fd_, fd);
    if (old >= 0) (void)::uep_close(old);
  }
  // Closes now; this becomes empty. EBADF if it was empty.
  Result<void> close() noexcept {
    return detail::from_status(::uep_close(std::exchange(fd_, -1)), "uep_close");
  }
  // dup(2): a new descriptor for the same file.
  [[nodiscard]] Result<Fd> dup() const noexcept {
    const int fd = ::uep_dup(fd_);
    if (fd < 0) return {last_error(), "uep_dup"};
    return Fd{fd};
  }

 private:
  int fd_ = -1;
};

// FdRef: a borrowed descriptor number, for arguments. Made from an int or, implicitly,
// from anything with `int get() const` (Fd, Epoll, EventFd).
class FdRef {
 public:
  constexpr FdRef(int fd) noexcept : fd_(fd) {}  // NOLINT: implicit by design
  template <typename H>
    requires requires(const H& h) {
      { h.get() } -> std::same_as<int>;
    }
  constexpr FdRef(const H& handle) noexcept : fd_(handle.get()) {}  // NOLINT
  [[nodiscard]] constexpr int get() const noexcept { return fd_; }

 private:
  int fd_;
};

// ---------------------------------------------------------------------------------------
// epoll
// ---------------------------------------------------------------------------------------

// Any negative duration waits forever; kInfinite reads better.
inline constexpr std::chrono::nanoseconds kInfinite{-1};

namespace detail {

// A wait's duration as epoll_pwait2()'s timespec; nullptr = forever (negative, NaN, or at
// least 2^40 s, about 35,000 years). Rounds up to whole nanoseconds, so that a positive
// timeout never becomes a poll.
template <typename Rep, typename Period>
const timespec* to_timespec(std::chrono::duration<Rep, Period> d, timespec* ts) noexcept {
  using std::chrono::duration;
  using std::chrono::nanoseconds;
  using std::chrono::seconds;
  const double secs = duration<double>(d).count();
  if (!(secs >= 0.0) || secs >= 1099511627776.0) return nullptr;
  const seconds whole = std::chrono::duration_cast<seconds>(d);
  nanoseconds frac = std::chrono::ceil<nanoseconds>(d - whole);
  long long sec = whole.count();
  if (frac.count() >= 1000000000LL) {
    ++sec;
    frac -= seconds(1);
  }
  if (frac.count() < 0) frac = nanoseconds(0);
  ts->tv_sec = static_cast<time_t>(sec);
  ts->tv_nsec = static_cast<long>(frac.count());
  return ts;
}

// The kernel's EP_MAX_EVENTS: a longer buffer is used up to this many entries.
inline constexpr std::size_t kMaxEvents = INT_MAX / sizeof(epoll_event);

inline int max_events(std::span<epoll_event> events) noexcept {
  return static_cast<int>(events.size() < kMaxEvents ? events.size() : kMaxEvents);
}

}  // namespace detail

// Epoll: an owned epoll instance (uep_epoll_create1), and epoll_ctl / epoll_pwait2 on it.
//
//   auto ep = uep::Epoll::create(uep::EpollFlags::cloexec);   // Result<Epoll>
//   if (!ep) return ep.error();
//   if (auto r = ep->add(ev, uep::Events::in | uep::Events::et, 7); !r) return r.error();
//   ep->add(other, uep::Events::in).value();    // data.fd = other's number; throws on error
//   ep->add(third, uep::Events::in, &state).value();            // data.ptr = &state
//   std::array<epoll_event, 64> buf;
//   uep::Result<std::size_t> n = ep->wait(buf, 250ms);          // 0 on timeout
//   n = ep->wait(buf, uep::kInfinite);                          // or wait(buf)
//
// Every std::chrono duration works as a timeout; 0 polls, a negative one (kInfinite)
// waits forever. A buffer longer than the kernel's limit is used up to that limit; an
// empty one is EINVAL, as epoll_wait(2) with maxevents 0. Interrupted waits report EINTR.
class Epoll {
 public:
  Epoll() noexcept = default;
  // Adopts an epoll descriptor made elsewhere.
  explicit Epoll(Fd fd) noexcept : fd_(std::move(fd)) {}

  static Result<Epoll> create(EpollFlags flags = EpollFlags::none) noexcept {
    const int fd = ::uep_epoll_create1(to_bits(flags));
    if (fd < 0) return {last_error(), "uep_epoll_create1"};
    return Epoll{Fd{fd}};
  }
  // Throws std::system_error.
  static Epoll create_or_throw(EpollFlags flags = EpollFlags::none) {
    return create(flags).value();
  }

  // EPOLL_CTL_ADD with `data` as the event's user data (u64).
  Result<void> add(FdRef fd, Events events, std::uint64_t data) noexcept {
    return ctl_u64(EPOLL_CTL_ADD, fd, events, data);
  }
  // EPOLL_CTL_ADD with `ptr` as the event's user data (data.ptr).
  template <typename T>
  Result<void> add(FdRef fd, Events events, T* ptr) noexcept {
    return ctl_ptr(EPOLL_CTL_ADD, fd, events, ptr);
  }
  // EPOLL_CTL_ADD with the descriptor number as user data (data.fd, upper bits 0).
  Result<void> add(FdRef fd, Events events) noexcept {
    return ctl_u64(EPOLL_CTL_ADD, fd, events, static_cast<std::uint32_t>(fd.get()));
  }

  // EPOLL_CTL_MOD, with the same three forms of user data.
  Result<void> modify(FdRef fd, Events events, std::uint64_t data) noexcept {
    return ctl_u64(EPOLL_CTL_MOD, fd, events, data);
  }
  template <typename T>
  Result<void> modify(FdRef fd, Events events, T* ptr) noexcept {
    return ctl_ptr(EPOLL_CTL_MOD, fd, events, ptr);
  }
  Result<void> modify(FdRef fd, Events events) noexcept {
    return ctl_u64(EPOLL_CTL_MOD, fd, events, static_cast<std::uint32_t>(fd.get()));
  }

  // EPOLL_CTL_DEL.
  Result<void> remove(FdRef fd) noexcept {
    return detail::from_status(::uep_epoll_ctl(fd_.get(), EPOLL_CTL_DEL, fd.get(), nullptr),
                               "uep_epoll_ctl(EPOLL_CTL_DEL)");
  }

  // epoll_pwait2(): waits up to `timeout` for events; returns how many were stored at the
  // front of `events` (0 when the time ran out).
  template <typename Rep, typename Period>
  Result<std::size_t> wait(std::span<epoll_event> events,
                           std::chrono::duration<Rep, Period> timeout) noexcept {
    timespec ts{};
    return detail::from_ret<std::size_t>(::uep_epoll_pwait2(
        fd_.get(), events.data(), detail::max_events(events), detail::to_timespec(timeout, &ts),
        nullptr),
        "uep_epoll_pwait2");
  }
  // Waits forever.
  Result<std::size_t> wait(std::span<epoll_event> events) noexcept {
    return detail::from_ret<std::size_t>(
        ::uep_epoll_pwait2(fd_.get(), events.data(), detail::max_events(events), nullptr, nullptr),
        "uep_epoll_pwait2");
  }
  // The same with `mask` as the signal mask during the wait (epoll_pwait2 with a sigmask):
  // a signal it unblocks always ends the wait with EINTR.
  template <typename Rep, typename Period>
  Result<std::size_t> pwait(std::span<epoll_event> events, std::chrono::duration<Rep, Period> timeout,
                            const sigset_t& mask) noexcept {
    timespec ts{};
    return detail::from_ret<std::size_t>(::uep_epoll_pwait2(
        fd_.get(), events.data(), detail::max_events(events), detail::to_timespec(timeout, &ts),
        &mask),
        "uep_epoll_pwait2");
  }

  // Rounds a waiter spins before it sleeps (uep_epoll_set_busy_poll; 0 sleeps at once).
  Result<void> set_busy_poll(int rounds) noexcept {
    return detail::from_status(::uep_epoll_set_busy_poll(fd_.get(), rounds),
                               "uep_epoll_set_busy_poll");
  }

  [[nodiscard]] int get() const noexcept { return fd_.get(); }
  [[nodiscard]] const Fd& fd() const noexcept { return fd_; }
  [[nodiscard]] bool valid() const noexcept { return fd_.valid(); }
  explicit operator bool() const noexcept { return valid(); }
  [[nodiscard]] int release() noexcept { return fd_.release(); }
  Result<void> close() noexcept { return fd_.close(); }

 private:
  Result<void> ctl_u64(int op, FdRef fd, Events events, std::uint64_t data) noexcept {
    epoll_event e{};
    e.events = to_bits(events);
    e.data.u64 = data;
    return detail::from_status(::uep_epoll_ctl(fd_.get(), op, fd.get(), &e), ctl_name(op));
  }
  template <typename T>
  Result<void> ctl_ptr(int op, FdRef fd, Events events, T* ptr) noexcept {
    epoll_event e{};
    e.events = to_bits(events);
    e.data.ptr = const_cast<void*>(static_cast<const volatile void*>(ptr));
    return detail::from_status(::uep_epoll_ctl(fd_.get(), op, fd.get(), &e), ctl_name(op));
  }

  static const char* ctl_name(int op) noexcept {
    return op == EPOLL_CTL_ADD ? "uep_epoll_ctl(EPOLL_CTL_ADD)" : "uep_epoll_ctl(EPOLL_CTL_MOD)";
  }

  Fd fd_;
};

// ---------------------------------------------------------------------------------------
// eventfd
// ---------------------------------------------------------------------------------------

// EventFd: an owned eventfd (uep_eventfd): a 64-bit counter that any thread adds to and
// a reader takes (all of it, or 1 with EventFdFlags::semaphore).
//
//   auto ev = uep::EventFd::create_or_throw(0, uep::EventFdFlags::nonblock |
//                                                uep::EventFdFlags::cloexec);
//   ev.write(3).value();                     // counter += 3
//   uep::Result<std::uint64_t> v = ev.read();  // 3, counter = 0
//   v = ev.read();                           // v.error() == std::errc::resource_unavailable_try_again
//
// read() and write() block as read(2)/write(2) on an eventfd do, unless the descriptor is
// non-blocking; writing 2^64-1 is EINVAL.
class EventFd {
 public:
  EventFd() noexcept = default;
  // Adopts an eventfd descriptor made elsewhere.
  explicit EventFd(Fd fd) noexcept : fd_(std::move(fd)) {}

  static Result<EventFd> create(unsigned int initval = 0,
                                EventFdFlags flags = EventFdFlags::none) noexcept {
    const int fd = ::uep_eventfd(initval, to_bits(flags));
    if (fd < 0) return {last_error(), "uep_eventfd"};
    return EventFd{Fd{fd}};
  }
  // Throws std::system_error.
  static EventFd create_or_throw(unsigned int initval = 0,
                                 EventFdFlags flags = EventFdFlags::none) {
    return create(initval, flags).value();
  }

  // Takes the counter (or 1 of it in semaphore mode).
  Result<std::uint64_t> read() noexcept {
    std::uint64_t value = 0;
    if (::uep_read(fd_.get(), &value, sizeof value) < 0) return {last_error(), "uep_read"};
    return value;
  }
  // Adds `value` to the counter.
  Result<void> write(std::uint64_t value) noexcept {
    if (::uep_write(fd_.get(), &value, sizeof value) < 0) return {last_error(), "uep_write"};
    return {};
  }

  [[nodiscard]] int get() const noexcept { return fd_.get(); }
  [[nodiscard]] const Fd& fd() const noexcept { return fd_; }
  [[nodiscard]] bool valid() const noexcept { return fd_.valid(); }
  explicit operator bool() const noexcept { return valid(); }
  [[nodiscard]] int release() noexcept { return fd_.release(); }
  Result<void> close() noexcept { return fd_.close(); }

 private:
  Fd fd_;
};

}  // namespace api
}  // namespace uep

#endif  // C++20
#endif  // UEPOLL_UEPOLL_HPP_
