// MOD of an eventfd item runs without ep->mtx, finding the item in the index lock-free
// (EventPoll::TryModifyLockless, core/item_index.h). Here it races with DEL and re-ADD of
// the same item, with ADDs that grow the index (moving every chain) and DELs that recycle
// items, and with waiters that harvest it. Every MOD must give 0 or ENOENT, every event a
// mask and data that some MOD or ADD gave; the sanitizer builds check memory and races.
#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "uepoll/uepoll.h"

namespace {

constexpr uint64_t kAddData = 1ULL << 40;  // data of the churner's ADD

TEST(LocklessMod, RacesWithDelAddGrowthAndHarvest) {
  const int ep = uep_epoll_create1(0);
  const int efd = uep_eventfd(1, EFD_NONBLOCK);  // readable and writable throughout
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  epoll_event ev{EPOLLIN, {.u64 = kAddData}};
  ASSERT_EQ(0, uep_epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev));

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> last_mod{0};
  std::atomic<long> mods_ok{0}, mods_enoent{0}, bad{0}, harvested{0};

  std::thread modder([&] {
    for (uint64_t i = 1; !stop.load(std::memory_order_relaxed); ++i) {
      epoll_event e{(i & 1) != 0 ? uint32_t{EPOLLIN} : uint32_t{EPOLLIN | EPOLLOUT}, {.u64 = i}};
      last_mod.store(i, std::memory_order_relaxed);
      if (uep_epoll_ctl(ep, EPOLL_CTL_MOD, efd, &e) == 0) {
        mods_ok.fetch_add(1, std::memory_order_relaxed);
      } else if (errno == ENOENT) {
        mods_enoent.fetch_add(1, std::memory_order_relaxed);
      } else {
        bad.fetch_add(1, std::memory_order_relaxed);
      }
    }
  });
  std::thread churner([&] {
    std::vector<int> others;
    for (int round = 0; !stop.load(std::memory_order_relaxed); ++round) {
      epoll_event e{EPOLLIN, {.u64 = kAddData}};
      if (uep_epoll_ctl(ep, EPOLL_CTL_DEL, efd, nullptr) != 0 && errno != ENOENT) bad++;
      if (uep_epoll_ctl(ep, EPOLL_CTL_ADD, efd, &e) != 0 && errno != EEXIST) bad++;
      // Grow the index past its size (every chain moves), then give the items back.
      const int n = 16 << (round % 4);
      for (int i = 0; i < n; ++i) {
        const int fd = uep_eventfd(0, EFD_NONBLOCK);
        epoll_event o{EPOLLIN, {.u64 = 0}};
        if (fd < 0 || uep_epoll_ctl(ep, EPOLL_CTL_ADD, fd, &o) != 0) bad++;
        others.push_back(fd);
      }
      for (size_t i = 0; i < others.size(); ++i) {
        // Half removed by DEL, half by close (the file's release path).
        if (i % 2 == 0 && uep_epoll_ctl(ep, EPOLL_CTL_DEL, others[i], nullptr) != 0) bad++;
        uep_close(others[i]);
      }
      others.clear();
    }
  });
  std::thread waiter([&] {
    epoll_event out[8];
    while (!stop.load(std::memory_order_relaxed)) {
      const int n = uep_epoll_wait(ep, out, 8, 0);
      for (int i = 0; i < n; ++i) {
        const uint64_t data = out[i].data.u64;
        const uint32_t mask = out[i].events;
        const bool data_ok = data == kAddData || (data >= 1 && data <= last_mod.load());
        const bool mask_ok = (mask & EPOLLIN) != 0 && (mask & ~uint32_t{EPOLLIN | EPOLLOUT}) == 0;
        if (!data_ok || !mask_ok) bad++;
        harvested++;
      }
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  stop = true;
  modder.join();
  churner.join();
  waiter.join();

  EXPECT_EQ(0, bad.load());
  EXPECT_GT(mods_ok.load(), 0);
  EXPECT_GT(harvested.load(), 0);
  // Afterwards the item is whatever the last ADD or MOD made it; a MOD settles it.
  epoll_event e{EPOLLIN, {.u64 = 77}};
  ASSERT_EQ(0, uep_epoll_ctl(ep, EPOLL_CTL_MOD, efd, &e));
  epoll_event out[4];
  ASSERT_EQ(1, uep_epoll_wait(ep, out, 4, 0));
  EXPECT_EQ(77U, uint64_t{out[0].data.u64});
  EXPECT_EQ(uint32_t{EPOLLIN}, out[0].events);
  std::printf("MODs: %ld ok, %ld ENOENT; events harvested: %ld\n", mods_ok.load(),
              mods_enoent.load(), harvested.load());
  EXPECT_EQ(0, uep_close(efd));
  EXPECT_EQ(0, uep_close(ep));
}

}  // namespace
