#include <gtest/gtest.h>

#include <thread>

#include "uepoll/uepoll.h"

TEST(Smoke, EventfdThroughEpoll) {
  int ep = uep_epoll_create1(0);
  ASSERT_GE(ep, uep_fd_base());
  int ev = uep_eventfd(0, EFD_NONBLOCK);
  ASSERT_GE(ev, uep_fd_base());
  epoll_event e{};
  e.events = EPOLLIN;
  e.data.u64 = 42;
  ASSERT_EQ(0, uep_epoll_ctl(ep, EPOLL_CTL_ADD, ev, &e));
  epoll_event out[4];
  EXPECT_EQ(0, uep_epoll_wait(ep, out, 4, 0));
  ASSERT_EQ(0, uep_eventfd_write(ev, 3));
  ASSERT_EQ(1, uep_epoll_wait(ep, out, 4, 0));
  EXPECT_EQ(42u, uint64_t{out[0].data.u64});  // epoll_event is packed: copy
  EXPECT_EQ(static_cast<uint32_t>(EPOLLIN), uint32_t{out[0].events});
  eventfd_t v = 0;
  ASSERT_EQ(0, uep_eventfd_read(ev, &v));
  EXPECT_EQ(3u, v);
  EXPECT_EQ(0, uep_epoll_wait(ep, out, 4, 0));
  std::thread t([&] { uep_eventfd_write(ev, 1); });
  ASSERT_EQ(1, uep_epoll_wait(ep, out, 4, 5000));
  t.join();
  EXPECT_EQ(0, uep_close(ev));
  EXPECT_EQ(0, uep_close(ep));
}
