// uepoll extension point: your own pollable objects, as first-class uepoll descriptors.
//
// A file type is a class derived from uep::Pollable. It keeps one or more uep::WaitQueue,
// reports its readiness from poll(), and wakes its queues with a key (the events that just
// happened) whenever its state changes. uep::install() turns it into a descriptor that
// works with uep_epoll_ctl, uep_poll/uep_ppoll, uep_read/uep_write (if the type has them),
// uep_dup*, uep_fcntl and uep_close, exactly like a uepoll eventfd or pipe:
//
//   class Flag final : public uep::Pollable {          // readable once set
//    public:
//     void set() {
//       set_.store(true, std::memory_order_release);  // 1. change the state ...
//       wq_.wake(EPOLLIN);                            // 2. ... then wake with a key
//     }
//     std::uint32_t poll(uep::PollContext& ctx) override {
//       ctx.wait_on(wq_);                             // hang the watcher on the queue
//       return set_.load(std::memory_order_acquire) ? EPOLLIN : 0;
//     }
//    private:
//     uep::WaitQueue wq_;
//     std::atomic<bool> set_{false};
//   };
//
//   auto flag = std::make_shared<Flag>();
//   uep::Fd fd = uep::install(flag).value();           // a uepoll descriptor
//   ep.add(fd, uep::Events::in | uep::Events::et, 1).value();
//   flag->set();                                       // ep.wait() reports EPOLLIN
//
// This is the same contract the library's own files implement (src/core/file.h): a file
// type of uepoll and a user's file type differ only in which side of this header they sit.
// uep::Channel<T> (uepoll/channel.hpp) is a complete example built on it alone;
// docs/extending.md walks through it.
//
// The rules a file type must keep:
//   - State first, wake second. Change the state (under your lock, or atomically), then
//     call wake(). Waking before the change, or not at all, loses events. A wake with no
//     change is harmless (a spurious wake-up; epoll re-polls and drops it).
//   - poll() must not sleep or block, and must not take a lock that is ever held while
//     calling wake() or any uep_* function. Reading atomics is best; see lockless_poll().
//   - The key says what happened (EPOLLIN, EPOLLOUT, EPOLLHUP ...). epoll ignores keys an
//     item does not watch, so a precise key saves wake-ups; 0 means "anything, re-poll".
//   - The object must outlive its descriptors: install() takes a std::shared_ptr and the
//     descriptor keeps a reference until its last duplicate is closed, every epoll item
//     watching it has been removed and release() has run.
//
// Stability: this header is the supported, stable interface for file types (version
// kFileApiVersion below; additions only within a major version). The library's internal
// headers under src/ are not installed and may change at any time.
#ifndef UEPOLL_FILE_HPP_
#define UEPOLL_FILE_HPP_

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <type_traits>

#include "uepoll/uepoll.hpp"

namespace uep {
class File;           // the library's internal file (src/core/file.h)
struct PollTable;     // ... and its poll table (src/core/poll_table.h)
class UserFileAdapter;  // src/api/file.cc: the File that runs a Pollable
inline namespace api {

// The version of this interface; bumped on incompatible changes.
inline constexpr int kFileApiVersion = 1;

// ---------------------------------------------------------------------------------------
// WaitQueue
// ---------------------------------------------------------------------------------------

// A wait queue (the kernel's wait_queue_head_t): whoever watches a file (an epoll
// instance, uep_poll, a thread blocked in a read) hangs an entry on it; whoever changes the
// file's state wakes it with a key. Thread-safe; not copyable or movable (entries point
// at it). Destroying a queue that still has entries is undefined; a queue kept inside a
// Pollable is only destroyed after every watcher has gone (see install()).
class WaitQueue {
 public:
  WaitQueue();
  ~WaitQueue();
  WaitQueue(const WaitQueue&) = delete;
  WaitQueue& operator=(const WaitQueue&) = delete;

  // wake_up_poll(): calls every watcher whose interest overlaps `key` (epoll instances,
  // pollers, blocked threads) and at most one exclusive one (EPOLLEXCLUSIVE items).
  void wake(std::uint32_t key) noexcept;
  // wake_up_all(): the same, with no limit on exclusive watchers (closing, hang-up).
  void wake_all(std::uint32_t key) noexcept;

  // Blocks the calling thread until `ready()` returns true, re-checking it after every
  // wake-up of this queue (prepare_to_wait / finish_wait). `ready` runs with no lock of the
  // queue held; it must be cheap and must not call wait() on this queue. A wake() issued
  // after the state change that makes `ready()` true can never be missed.
  // Returns 0, or -EINTR if a signal handler without SA_RESTART interrupted the sleep (and
  // `ready()` was still false).
  template <typename Pred>
  int wait(Pred&& ready) {
    return wait_impl(&call<std::remove_reference_t<Pred>>, &ready, nullptr);
  }
  // The same with a timeout (CLOCK_MONOTONIC): -ETIMEDOUT when it expires first. A
  // negative timeout waits forever, zero only checks.
  template <typename Pred, typename Rep, typename Period>
  int wait_for(Pred&& ready, std::chrono::duration<Rep, Period> timeout) {
    timespec ts{};
    const timespec* rel = detail::to_timespec(timeout, &ts);
    return wait_impl(&call<std::remove_reference_t<Pred>>, &ready, rel);
  }

 private:
  friend class PollContext;
  template <typename Pred>
  static bool call(void* pred) {
    return static_cast<bool>((*static_cast<Pred*>(pred))());
  }
  int wait_impl(bool (*ready)(void*), void* ctx, const timespec* rel);

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------------------
// PollContext
// ---------------------------------------------------------------------------------------

// What Pollable::poll() receives: the watcher asking (the kernel's poll_table). Call
// wait_on() for every queue you will wake when readiness changes, then return the mask.
class PollContext {
 public:
  // poll_wait(): registers the watcher on `wq` if it wants to be registered (the first
  // poll of an epoll_ctl ADD, of a uep_poll call); does nothing on a plain re-poll.
  void wait_on(WaitQueue& wq) noexcept;
  // The events the watcher is interested in (plus EPOLLERR | EPOLLHUP); a file may use it
  // to skip work, never to hide events.
  [[nodiscard]] std::uint32_t key() const noexcept;

  PollContext(const PollContext&) = delete;
  PollContext& operator=(const PollContext&) = delete;

 private:
  friend class ::uep::UserFileAdapter;
  PollContext(::uep::File* file, ::uep::PollTable* pt) noexcept : file_(file), pt_(pt) {}
  ::uep::File* file_;
  ::uep::PollTable* pt_;
};

// ---------------------------------------------------------------------------------------
// Pollable
// ---------------------------------------------------------------------------------------

// The base class of a user file type. Only poll() is required.
class Pollable {
 public:
  Pollable() = default;
  virtual ~Pollable() = default;
  Pollable(const Pollable&) = delete;
  Pollable& operator=(const Pollable&) = delete;

  // Current readiness (EPOLLIN, EPOLLOUT, EPOLLHUP, EPOLLERR, EPOLLRDNORM ...). Call
  // ctx.wait_on() for each queue you wake. Must not sleep or block (see the rules above).
  virtual std::uint32_t poll(PollContext& ctx) = 0;

  // True if poll() only reads state (atomics) and takes no lock. Lets an epoll instance
  // re-poll this file under its own spin lock, a faster path (eventfd uses it). Asked once,
  // by install().
  [[nodiscard]] virtual bool lockless_poll() const noexcept { return false; }

  // Whether uep_read / uep_write are supported at all (EINVAL otherwise, as for a
  // file without read or write in the kernel).
  [[nodiscard]] virtual bool can_read() const noexcept { return false; }
  [[nodiscard]] virtual bool can_write() const noexcept { return false; }

  // uep_read/uep_readv and uep_write/uep_writev: return the byte count or a negative
  // errno (-EAGAIN when `nonblock` and nothing can be done). `iov` holds at least one
  // segment. `nonblock` is the descriptor's O_NONBLOCK. A blocking call may sleep, e.g.
  // with WaitQueue::wait(); the descriptor stays valid meanwhile even if it is closed by
  // another thread.
  virtual ssize_t read(std::span<const iovec> iov, bool nonblock) {
    (void)iov;
    (void)nonblock;
    return -EINVAL;
  }
  virtual ssize_t write(std::span<const iovec> iov, bool nonblock) {
    (void)iov;
    (void)nonblock;
    return -EINVAL;
  }

  // The last descriptor is closed and no epoll item watches the object any more. Wake
  // remaining pollers with EPOLLHUP here if that suits the type. The object itself lives
  // on as long as other std::shared_ptr owners do.
  virtual void release() {}
};

// ---------------------------------------------------------------------------------------
// Installing
// ---------------------------------------------------------------------------------------

// Descriptor flags for install().
enum class FileFlags : int {
  none = 0,
  cloexec = O_CLOEXEC,    // FD_CLOEXEC on the descriptor
  nonblock = O_NONBLOCK,  // O_NONBLOCK on the open file (F_SETFL changes it later)
};
template <>
struct is_bitmask<FileFlags> : std::true_type {};

namespace detail {
// Returns a descriptor or a negative errno (EINVAL, EMFILE, ENOMEM).
int install_pollable(std::shared_ptr<Pollable> file, int flags) noexcept;
}  // namespace detail

// Installs `file` as a new uepoll descriptor (the lowest free uepoll number, >=
// uep_fd_base()) open for reading and writing. The descriptor holds a reference to `file`.
// Errors: EINVAL (null file or unknown flags), EMFILE, ENOMEM.
inline Result<Fd> install(std::shared_ptr<Pollable> file,
                          FileFlags flags = FileFlags::none) noexcept {
  const int fd = detail::install_pollable(std::move(file), to_bits(flags));
  if (fd < 0) return std::error_code{-fd, std::system_category()};
  return Fd{fd};
}

// ---------------------------------------------------------------------------------------
// Helpers for read/write
// ---------------------------------------------------------------------------------------

// Total length of an I/O vector.
inline std::size_t iov_length(std::span<const iovec> iov) noexcept {
  std::size_t total = 0;
  for (const iovec& v : iov) total += v.iov_len;
  return total;
}
// Copies up to `n` bytes from `src` into the vector's buffers; returns the bytes copied.
inline std::size_t copy_to_iov(std::span<const iovec> iov, const void* src,
                               std::size_t n) noexcept {
  const auto* p = static_cast<const unsigned char*>(src);
  std::size_t done = 0;
  for (const iovec& v : iov) {
    if (done == n) break;
    const std::size_t k = v.iov_len < n - done ? v.iov_len : n - done;
    if (k != 0) std::memcpy(v.iov_base, p + done, k);
    done += k;
  }
  return done;
}
// Copies up to `n` bytes out of the vector's buffers into `dst`; returns the bytes copied.
inline std::size_t copy_from_iov(std::span<const iovec> iov, void* dst,
                                 std::size_t n) noexcept {
  auto* p = static_cast<unsigned char*>(dst);
  std::size_t done = 0;
  for (const iovec& v : iov) {
    if (done == n) break;
    const std::size_t k = v.iov_len < n - done ? v.iov_len : n - done;
    if (k != 0) std::memcpy(p + done, v.iov_base, k);
    done += k;
  }
  return done;
}

}  // namespace api
}  // namespace uep

#endif  // UEPOLL_FILE_HPP_
