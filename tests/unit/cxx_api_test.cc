// The C++ layer (uepoll.hpp): RAII, typed flags, std::chrono timeouts, std::error_code
// results with the C API's errno.
#include "uepoll/uepoll.hpp"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <thread>

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using uep::Events;

std::error_code Errno(int e) { return {e, std::system_category()}; }

// ---- Result -------------------------------------------------------------------------

TEST(CxxResult, HoldsValueOrError) {
  uep::Result<int> ok = 5;
  ASSERT_TRUE(ok);
  EXPECT_TRUE(ok.has_value());
  EXPECT_EQ(5, *ok);
  EXPECT_EQ(5, ok.value());
  EXPECT_FALSE(ok.error());
  EXPECT_EQ(5, ok.value_or(7));

  uep::Result<int> bad = Errno(EBADF);
  ASSERT_FALSE(bad);
  EXPECT_EQ(Errno(EBADF), bad.error());
  EXPECT_EQ(bad.error(), std::errc::bad_file_descriptor);
  EXPECT_EQ(7, bad.value_or(7));
}

TEST(CxxResult, ValueThrowsSystemErrorWithTheCode) {
  uep::Result<int> bad = Errno(EMFILE);
  try {
    (void)bad.value();
    FAIL() << "value() did not throw";
  } catch (const std::system_error& e) {
    EXPECT_EQ(Errno(EMFILE), e.code());
  }
  uep::Result<void> vbad = Errno(EINVAL);
  EXPECT_FALSE(vbad);
  EXPECT_THROW(vbad.value(), std::system_error);
  uep::Result<void> vok;
  EXPECT_TRUE(vok);
  EXPECT_NO_THROW(vok.value());
}

TEST(CxxResult, MoveOnlyValues) {
  uep::Result<uep::Fd> r = uep::Fd{uep_eventfd(0, 0)};
  ASSERT_TRUE(r);
  uep::Fd fd = std::move(r).value();
  EXPECT_TRUE(fd.is_uepoll());
}

// ---- Flags --------------------------------------------------------------------------

TEST(CxxFlags, TypedBitmask) {
  constexpr Events e = Events::in | Events::et;
  static_assert(uep::to_bits(e) == (EPOLLIN | EPOLLET));
  static_assert(uep::has(e, Events::in));
  static_assert(uep::has(e, Events::in | Events::et));
  static_assert(!uep::has(e, Events::out));
  static_assert(uep::any(e & Events::et));
  static_assert(!uep::any(e & Events::out));
  static_assert((e & ~Events::et) == Events::in);
  static_assert((e ^ Events::in) == Events::et);
  static_assert(uep::to_bits(Events::oneshot) == EPOLLONESHOT);
  static_assert(uep::to_bits(uep::EventFdFlags::nonblock | uep::EventFdFlags::semaphore) ==
                (EFD_NONBLOCK | EFD_SEMAPHORE));
  static_assert(uep::to_bits(uep::EpollFlags::cloexec) == EPOLL_CLOEXEC);
  Events m = Events::in;
  m |= Events::out;
  EXPECT_EQ(Events::in | Events::out, m);
  m &= Events::out;
  EXPECT_EQ(Events::out, m);
  m ^= Events::out;
  EXPECT_EQ(Events::none, m);
}

// ---- Timeouts -----------------------------------------------------------------------

testing::AssertionResult Converts(const timespec* got, time_t sec, long nsec) {
  if (got == nullptr) return testing::AssertionFailure() << "forever";
  if (got->tv_sec != sec || got->tv_nsec != nsec) {
    return testing::AssertionFailure() << got->tv_sec << "s " << got->tv_nsec << "ns";
  }
  return testing::AssertionSuccess();
}

TEST(CxxTimeout, DurationsBecomeTimespecs) {
  timespec ts{};
  using uep::detail::to_timespec;
  EXPECT_TRUE(Converts(to_timespec(0ns, &ts), 0, 0));
  EXPECT_TRUE(Converts(to_timespec(1ns, &ts), 0, 1));
  EXPECT_TRUE(Converts(to_timespec(1500ms, &ts), 1, 500000000));
  EXPECT_TRUE(Converts(to_timespec(2h, &ts), 7200, 0));
  EXPECT_TRUE(Converts(to_timespec(std::chrono::microseconds(999999), &ts), 0, 999999000));
  // Rounded up: a positive timeout never becomes a poll.
  EXPECT_TRUE(Converts(to_timespec(std::chrono::duration<long long, std::pico>(1), &ts), 0, 1));
  EXPECT_TRUE(Converts(to_timespec(std::chrono::duration<double>(0.25e-9), &ts), 0, 1));
  EXPECT_TRUE(Converts(to_timespec(std::chrono::duration<double, std::milli>(2.5), &ts), 0,
                       2500000));
  // Negative, NaN and absurdly long durations wait forever.
  EXPECT_EQ(nullptr, to_timespec(uep::kInfinite, &ts));
  EXPECT_EQ(nullptr, to_timespec(-1ns, &ts));
  EXPECT_EQ(nullptr, to_timespec(-5s, &ts));
  EXPECT_EQ(nullptr, to_timespec(std::chrono::hours::max(), &ts));
  EXPECT_EQ(nullptr, to_timespec(std::chrono::nanoseconds::min(), &ts));
  EXPECT_EQ(nullptr, to_timespec(std::chrono::duration<double>(std::nan("")), &ts));
  EXPECT_EQ(nullptr, to_timespec(std::chrono::duration<double>(1e300), &ts));
  EXPECT_TRUE(Converts(to_timespec(std::chrono::nanoseconds::max(), &ts), 9223372036,
                       854775807));
}

// ---- Fd -----------------------------------------------------------------------------

TEST(CxxFd, ClosesWhenDestroyed) {
  int raw = -1;
  {
    uep::Fd fd{uep_eventfd(0, 0)};
    raw = fd.get();
    ASSERT_GE(raw, uep_fd_base());
    EXPECT_TRUE(fd.valid());
    EXPECT_TRUE(fd.is_uepoll());
  }
  EXPECT_EQ(0, uep_is_uepoll_fd(raw));
}

TEST(CxxFd, MoveReleaseReset) {
  uep::Fd a{uep_eventfd(0, 0)};
  const int raw = a.get();
  uep::Fd b = std::move(a);
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_EQ(-1, a.get());
  EXPECT_EQ(raw, b.get());
  uep::Fd c;
  c = std::move(b);
  EXPECT_EQ(raw, c.get());
  const int released = c.release();
  EXPECT_EQ(raw, released);
  EXPECT_FALSE(c);
  EXPECT_EQ(1, uep_is_uepoll_fd(raw));  // release() does not close
  c.reset(released);
  EXPECT_EQ(raw, c.get());
  c.reset();
  EXPECT_EQ(0, uep_is_uepoll_fd(raw));
}

TEST(CxxFd, CloseReportsErrors) {
  uep::Fd fd{uep_eventfd(0, 0)};
  EXPECT_TRUE(fd.close());  // a Result<void>, as every other call's
  EXPECT_FALSE(fd.valid());
  EXPECT_EQ(Errno(EBADF), fd.close().error());  // already empty
  uep::Fd stale{uep_fd_base() + 123456};
  EXPECT_EQ(Errno(EBADF), stale.close().error());
}

// A thrown error says which call failed, not only the errno's text.
TEST(CxxErrors, WhatNamesTheCall) {
  uep::Epoll ep = uep::Epoll::create_or_throw();
  uep::EventFd ev = uep::EventFd::create_or_throw();
  ep.add(ev, uep::Events::in).value();
  const uep::Result<void> again = ep.add(ev, uep::Events::in);
  EXPECT_EQ(Errno(EEXIST), again.error());
  EXPECT_STREQ("uep_epoll_ctl(EPOLL_CTL_ADD)", again.operation());
  try {
    again.value();
    ADD_FAILURE() << "value() did not throw";
  } catch (const std::system_error& e) {
    EXPECT_EQ(Errno(EEXIST), e.code());
    EXPECT_EQ("uep_epoll_ctl(EPOLL_CTL_ADD): " + Errno(EEXIST).message(), e.what());
  }
  uep::Fd empty;
  try {
    empty.close().value();
    ADD_FAILURE() << "value() did not throw";
  } catch (const std::system_error& e) {
    EXPECT_EQ("uep_close: " + Errno(EBADF).message(), e.what());
  }
  EXPECT_EQ(nullptr, ep.remove(ev).operation());  // success names nothing
  const uep::Result<std::size_t> n = ep.wait(std::span<epoll_event>{}, std::chrono::seconds(0));
  EXPECT_EQ(Errno(EINVAL), n.error());
  EXPECT_STREQ("uep_epoll_pwait2", n.operation());
}

TEST(CxxFd, Dup) {
  uep::EventFd ev = uep::EventFd::create_or_throw(0, uep::EventFdFlags::nonblock);
  uep::Result<uep::Fd> copy = ev.fd().dup();
  ASSERT_TRUE(copy);
  EXPECT_NE(ev.get(), copy->get());
  ASSERT_TRUE(ev.write(9));
  uep::EventFd other{std::move(copy).value()};
  EXPECT_EQ(9u, other.read().value());
  EXPECT_EQ(Errno(EBADF), uep::Fd{}.dup().error());
}

TEST(CxxFd, OwnsKernelDescriptorsToo) {
  int p[2];
  ASSERT_EQ(0, pipe(p));
  {
    uep::Fd r{p[0]};
    uep::Fd w{p[1]};
    EXPECT_LT(r.get(), uep_fd_base());
    EXPECT_FALSE(r.is_uepoll());
  }
  errno = 0;
  EXPECT_EQ(-1, fcntl(p[0], F_GETFD));
  EXPECT_EQ(EBADF, errno);
}

// ---- EventFd ------------------------------------------------------------------------

TEST(CxxEventFd, ReadWrite) {
  auto ev = uep::EventFd::create(5, uep::EventFdFlags::nonblock | uep::EventFdFlags::cloexec);
  ASSERT_TRUE(ev) << ev.error().message();
  EXPECT_EQ(FD_CLOEXEC, uep_fcntl(ev->get(), F_GETFD));
  ASSERT_TRUE(ev->write(2));
  EXPECT_EQ(7u, ev->read().value());
  uep::Result<std::uint64_t> again = ev->read();
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), std::errc::resource_unavailable_try_again);
  EXPECT_EQ(Errno(EINVAL), ev->write(std::numeric_limits<std::uint64_t>::max()).error());
}

TEST(CxxEventFd, Semaphore) {
  auto ev = uep::EventFd::create_or_throw(
      3, uep::EventFdFlags::semaphore | uep::EventFdFlags::nonblock);
  EXPECT_EQ(1u, ev.read().value());
  EXPECT_EQ(1u, ev.read().value());
  EXPECT_EQ(1u, ev.read().value());
  EXPECT_EQ(Errno(EAGAIN), ev.read().error());
}

TEST(CxxEventFd, ErrorsAreTheCApis) {
  auto bad = uep::EventFd::create(0, static_cast<uep::EventFdFlags>(0x7));
  ASSERT_FALSE(bad);
  errno = 0;
  EXPECT_EQ(-1, uep_eventfd(0, 0x7));
  EXPECT_EQ(Errno(errno), bad.error());
  try {
    (void)uep::EventFd::create_or_throw(0, static_cast<uep::EventFdFlags>(0x7));
    FAIL() << "create_or_throw did not throw";
  } catch (const std::system_error& e) {
    EXPECT_EQ(Errno(EINVAL), e.code());
  }
  uep::EventFd empty;
  EXPECT_EQ(Errno(EBADF), empty.read().error());
  EXPECT_EQ(Errno(EBADF), empty.write(1).error());
}

TEST(CxxEventFd, BlockingReadWokenByAnotherThread) {
  auto ev = uep::EventFd::create_or_throw();
  std::thread writer([&] {
    std::this_thread::sleep_for(10ms);
    (void)ev.write(4);
  });
  EXPECT_EQ(4u, ev.read().value());
  writer.join();
}

// ---- Epoll --------------------------------------------------------------------------

struct CxxEpoll : testing::Test {
  uep::Epoll ep = uep::Epoll::create_or_throw(uep::EpollFlags::cloexec);
  uep::EventFd ev = uep::EventFd::create_or_throw(0, uep::EventFdFlags::nonblock);
  std::array<epoll_event, 8> buf{};
};

TEST_F(CxxEpoll, Create) {
  EXPECT_TRUE(ep.valid());
  EXPECT_TRUE(ep.fd().is_uepoll());
  EXPECT_EQ(FD_CLOEXEC, uep_fcntl(ep.get(), F_GETFD));
  auto plain = uep::Epoll::create();
  ASSERT_TRUE(plain);
  EXPECT_EQ(0, uep_fcntl(plain->get(), F_GETFD));
  auto bad = uep::Epoll::create(static_cast<uep::EpollFlags>(1));
  EXPECT_EQ(Errno(EINVAL), bad.error());
  EXPECT_THROW((void)uep::Epoll::create_or_throw(static_cast<uep::EpollFlags>(1)),
               std::system_error);
}

TEST_F(CxxEpoll, LevelTriggered) {
  ASSERT_TRUE(ep.add(ev, Events::in, 42));
  EXPECT_EQ(0u, ep.wait(buf, 0ms).value());
  ASSERT_TRUE(ev.write(1));
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(1u, ep.wait(buf, 0ms).value());
    EXPECT_EQ(Events::in, uep::events_of(buf[0]));
    EXPECT_EQ(42u, uep::data_of(buf[0]));
  }
  EXPECT_EQ(1u, ev.read().value());
  EXPECT_EQ(0u, ep.wait(buf, 0ms).value());
}

TEST_F(CxxEpoll, EdgeTriggeredAndOneShot) {
  ASSERT_TRUE(ep.add(ev, Events::in | Events::out | Events::et, 1));
  ASSERT_EQ(1u, ep.wait(buf, 0s).value());
  EXPECT_EQ(Events::out, uep::events_of(buf[0]));
  EXPECT_EQ(0u, ep.wait(buf, 0s).value());
  ASSERT_TRUE(ev.write(1));
  ASSERT_EQ(1u, ep.wait(buf, 0s).value());
  EXPECT_EQ(Events::in | Events::out, uep::events_of(buf[0]));

  ASSERT_TRUE(ep.modify(ev, Events::in | Events::oneshot, 2));
  ASSERT_EQ(1u, ep.wait(buf, 0s).value());
  EXPECT_EQ(2u, uep::data_of(buf[0]));
  EXPECT_EQ(0u, ep.wait(buf, 0s).value());  // disarmed
  ASSERT_TRUE(ep.modify(ev, Events::in | Events::oneshot, 3));
  ASSERT_EQ(1u, ep.wait(buf, 0s).value());
  EXPECT_EQ(3u, uep::data_of(buf[0]));
}

TEST_F(CxxEpoll, UserDataForms) {
  auto ev2 = uep::EventFd::create_or_throw(1);
  auto ev3 = uep::EventFd::create_or_throw(1);
  int target = 0;
  const int ctarget = 0;
  ASSERT_TRUE(ep.add(ev, Events::in));  // data.fd
  ASSERT_TRUE(ep.add(ev2, Events::in, &target));
  ASSERT_TRUE(ep.add(ev3, Events::in, &ctarget));
  ASSERT_TRUE(ev.write(1));
  ASSERT_EQ(3u, ep.wait(buf, 0s).value());
  bool saw_fd = false, saw_ptr = false, saw_cptr = false;
  for (const epoll_event& e : std::span(buf).first(3)) {
    const epoll_data_t d = e.data;
    saw_fd |= uep::data_of(e) == static_cast<std::uint64_t>(ev.get());
    saw_ptr |= d.ptr == &target;
    saw_cptr |= d.ptr == &ctarget;
  }
  EXPECT_TRUE(saw_fd && saw_ptr && saw_cptr);
  ASSERT_TRUE(ep.modify(ev2, Events::in));
  ASSERT_TRUE(ep.modify(ev3, Events::in, 99));
  ASSERT_TRUE(ep.modify(ev, Events::in, &target));
}

TEST_F(CxxEpoll, ErrorsAreTheCApis) {
  ASSERT_TRUE(ep.add(ev, Events::in));
  EXPECT_EQ(Errno(EEXIST), ep.add(ev, Events::in).error());
  auto other = uep::EventFd::create_or_throw();
  EXPECT_EQ(Errno(ENOENT), ep.modify(other, Events::in).error());
  EXPECT_EQ(Errno(ENOENT), ep.remove(other).error());
  EXPECT_EQ(Errno(EINVAL), ep.add(ep, Events::in).error());
  EXPECT_EQ(Errno(EINVAL), ep.add(other, Events::in | Events::exclusive | Events::oneshot).error());
  EXPECT_EQ(Errno(EBADF), ep.add(uep_fd_base() + 1234567, Events::in).error());
  EXPECT_EQ(Errno(EINVAL), ep.wait(std::span<epoll_event>{}, 0s).error());
  uep::Epoll empty;
  EXPECT_EQ(Errno(EBADF), empty.wait(buf, 0s).error());
  // Every error is exactly what the C call reports.
  epoll_event e{};
  e.events = EPOLLIN;
  errno = 0;
  EXPECT_EQ(-1, uep_epoll_ctl(ep.get(), EPOLL_CTL_ADD, ev.get(), &e));
  EXPECT_EQ(Errno(errno), ep.add(ev, Events::in).error());
  ASSERT_TRUE(ep.remove(ev));
  EXPECT_EQ(Errno(ENOENT), ep.remove(ev).error());
}

TEST_F(CxxEpoll, TimeoutElapses) {
  ASSERT_TRUE(ep.add(ev, Events::in));
  const auto start = Clock::now();
  EXPECT_EQ(0u, ep.wait(buf, 20ms).value());
  EXPECT_GE(Clock::now() - start, 20ms);
  const auto start2 = Clock::now();
  EXPECT_EQ(0u, ep.wait(buf, std::chrono::duration<double, std::milli>(5.5)).value());
  EXPECT_GE(Clock::now() - start2, 5500us);
}

TEST_F(CxxEpoll, InfiniteWaitsAreWokenByAnotherThread) {
  ASSERT_TRUE(ep.add(ev, Events::in, 5));
  for (auto timeout : {uep::kInfinite, std::chrono::nanoseconds(-1s)}) {
    std::thread writer([&] {
      std::this_thread::sleep_for(10ms);
      (void)ev.write(1);
    });
    ASSERT_EQ(1u, ep.wait(buf, timeout).value());
    EXPECT_EQ(5u, uep::data_of(buf[0]));
    writer.join();
    EXPECT_EQ(1u, ev.read().value());
  }
  std::thread writer([&] {
    std::this_thread::sleep_for(10ms);
    (void)ev.write(1);
  });
  ASSERT_EQ(1u, ep.wait(buf).value());
  writer.join();
}

TEST_F(CxxEpoll, WaitWithSignalMask) {
  ASSERT_TRUE(ep.add(ev, Events::in));
  sigset_t mask;
  sigemptyset(&mask);
  EXPECT_EQ(0u, ep.pwait(buf, 1ms, mask).value());
  ASSERT_TRUE(ev.write(1));
  EXPECT_EQ(1u, ep.pwait(buf, uep::kInfinite, mask).value());
}

TEST_F(CxxEpoll, BufferSmallerThanReady) {
  std::array<uep::EventFd, 4> evs;
  for (std::size_t i = 0; i < evs.size(); ++i) {
    evs[i] = uep::EventFd::create_or_throw(1);
    ASSERT_TRUE(ep.add(evs[i], Events::in, i));
  }
  std::array<epoll_event, 3> small{};
  EXPECT_EQ(3u, ep.wait(small, 0s).value());
  EXPECT_EQ(1u, ep.wait(std::span(small).first(1), 0s).value());
}

TEST_F(CxxEpoll, Nested) {
  auto inner = uep::Epoll::create_or_throw();
  ASSERT_TRUE(inner.add(ev, Events::in));
  ASSERT_TRUE(ep.add(inner, Events::in, 77));
  EXPECT_EQ(0u, ep.wait(buf, 0s).value());
  ASSERT_TRUE(ev.write(1));
  ASSERT_EQ(1u, ep.wait(buf, 0s).value());
  EXPECT_EQ(77u, uep::data_of(buf[0]));
  EXPECT_EQ(Errno(ELOOP), inner.add(ep, Events::in).error());
}

TEST_F(CxxEpoll, BusyPoll) {
  EXPECT_TRUE(ep.set_busy_poll(0));
  EXPECT_TRUE(ep.set_busy_poll(1000));
  EXPECT_EQ(Errno(EINVAL), ep.set_busy_poll(-1).error());
  EXPECT_EQ(Errno(EINVAL), uep::Epoll(uep::Fd{ev.release()}).set_busy_poll(1).error());
}

TEST_F(CxxEpoll, ClosingTheFileRemovesTheItem) {
  ASSERT_TRUE(ep.add(ev, Events::in));
  ASSERT_TRUE(ev.write(1));
  EXPECT_TRUE(ev.close());
  EXPECT_EQ(0u, ep.wait(buf, 0s).value());
  EXPECT_TRUE(ep.close());
  EXPECT_EQ(Errno(EBADF), ep.close().error());
}

TEST_F(CxxEpoll, PingPongAcrossThreads) {
  auto back = uep::EventFd::create_or_throw(0, uep::EventFdFlags::nonblock);
  auto ep2 = uep::Epoll::create_or_throw();
  ASSERT_TRUE(ep.add(back, Events::in));
  ASSERT_TRUE(ep2.add(ev, Events::in));
  constexpr int kRounds = 2000;
  std::thread peer([&] {
    std::array<epoll_event, 1> one{};
    for (int i = 0; i < kRounds; ++i) {
      if (ep2.wait(one).value_or(0) != 1) return;
      (void)ev.read();
      (void)back.write(1);
    }
  });
  int done = 0;
  for (; done < kRounds; ++done) {
    ASSERT_TRUE(ev.write(1));
    ASSERT_EQ(1u, ep.wait(buf, 10s).value());
    ASSERT_EQ(1u, back.read().value());
  }
  peer.join();
  EXPECT_EQ(kRounds, done);
}

}  // namespace
