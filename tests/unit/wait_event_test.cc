// WaitEvent (core/wait_event.h), the one blocking loop of every file: the condition is
// read after the entry is queued, exclusive entries are woken one per wake-up, a signal or
// the deadline ends the wait only while the condition still does not hold.
#include "core/wait_event.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "platform/clock.h"

namespace uep {
namespace {

// Entries on the queue, counted under its lock.
int Queued(WaitQueueHead* wq) {
  std::lock_guard guard(wq->lock);
  int n = 0;
  for (ListHead* pos = wq->head.next(); pos != &wq->head; pos = pos->next()) ++n;
  return n;
}

void WaitUntilQueued(WaitQueueHead* wq, int n) {
  // A watchdog, not a timing assertion: the threads queue within microseconds.
  const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (Queued(wq) != n) {
    ASSERT_LT(std::chrono::steady_clock::now(), limit) << "waiters never queued";
    std::this_thread::yield();
  }
}

void WakeOne(WaitQueueHead* wq) {
  std::lock_guard guard(wq->lock);
  WakeUpLocked(wq, 1, 0);
}

TEST(WaitEvent, ReadyConditionReturnsAtOnceWithoutQueueing) {
  WaitQueueHead wq;
  EXPECT_EQ(WaitEvent(&wq, [] { return true; }, {}), 0);
  EXPECT_EQ(Queued(&wq), 0);
}

TEST(WaitEvent, WakeAfterTheChangeEndsTheWait) {
  WaitQueueHead wq;
  std::atomic<bool> ready{false};
  std::atomic<int> result{1};
  std::thread waiter([&] { result = WaitEvent(&wq, [&] { return ready.load(); }, {}); });
  WaitUntilQueued(&wq, 1);
  ready = true;
  WakeOne(&wq);
  waiter.join();
  EXPECT_EQ(result.load(), 0);
  EXPECT_EQ(Queued(&wq), 0);
}

TEST(WaitEvent, SpuriousWakeSleepsAgain) {
  WaitQueueHead wq;
  std::atomic<bool> ready{false};
  std::atomic<bool> done{false};
  std::thread waiter([&] {
    EXPECT_EQ(WaitEvent(&wq, [&] { return ready.load(); }, {}), 0);
    done = true;
  });
  WaitUntilQueued(&wq, 1);
  WakeOne(&wq);  // the condition is false: queued again
  WaitUntilQueued(&wq, 1);
  EXPECT_FALSE(done.load());
  ready = true;
  WakeOne(&wq);
  waiter.join();
  EXPECT_TRUE(done.load());
}

TEST(WaitEvent, ExclusiveEntriesAreWokenOneAtATime) {
  WaitQueueHead wq;
  std::atomic<bool> ready{false};
  std::atomic<int> returned{0};
  auto body = [&] {
    EXPECT_EQ(WaitEvent(&wq, [&] { return ready.load(); }, {.exclusive = true}), 0);
    returned.fetch_add(1);
  };
  std::thread a(body);
  std::thread b(body);
  WaitUntilQueued(&wq, 2);
  ready = true;
  WakeOne(&wq);
  // The other stays asleep: nothing wakes it until the second wake-up.
  const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (returned.load() == 0) {
    ASSERT_LT(std::chrono::steady_clock::now(), limit);
    std::this_thread::yield();
  }
  EXPECT_EQ(Queued(&wq), 1);
  WakeOne(&wq);
  a.join();
  b.join();
  EXPECT_EQ(returned.load(), 2);
}

TEST(WaitEvent, DeadlinePassesWithConditionFalse) {
  WaitQueueHead wq;
  const timespec deadline = platform::DeadlineAfter(timespec{0, 1000000});
  EXPECT_EQ(WaitEvent(&wq, [] { return false; }, {.deadline = deadline}), -ETIMEDOUT);
  EXPECT_EQ(Queued(&wq), 0);
}

TEST(WaitEvent, LockedVariantDropsTheQueueLockAroundTheSleep) {
  WaitQueueHead wq;
  int value = 0;  // under wq.lock
  std::atomic<int> result{1};
  std::thread waiter([&] {
    std::unique_lock guard(wq.lock);
    result = WaitEventLocked(&wq, guard, [&] { return value != 0; }, {});
    EXPECT_TRUE(guard.owns_lock());
  });
  WaitUntilQueued(&wq, 1);
  {
    std::lock_guard guard(wq.lock);
    value = 1;
    WakeUpLocked(&wq, 1, 0);
  }
  waiter.join();
  EXPECT_EQ(result.load(), 0);
}

std::atomic<int> handled{0};
void CountSignal(int /*sig*/) { handled.fetch_add(1); }

// A handler without SA_RESTART ends a restartable sleep; then the condition decides.
class WaitEventSignal : public ::testing::Test {
 protected:
  void SetUp() override {
    struct sigaction sa {};
    sa.sa_handler = CountSignal;
    sigemptyset(&sa.sa_mask);
    ASSERT_EQ(sigaction(SIGUSR1, &sa, &old_), 0);
  }
  void TearDown() override { sigaction(SIGUSR1, &old_, nullptr); }
  // Signals the waiter until its wait returns (a signal that lands before the futex wait
  // only runs the handler), then joins it.
  static void SignalUntilDone(std::thread* waiter, const std::atomic<int>& result) {
    while (result.load() == 1) {
      pthread_kill(waiter->native_handle(), SIGUSR1);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    waiter->join();
  }
  struct sigaction old_ {};
};

TEST_F(WaitEventSignal, InterruptedWithConditionFalseIsEintr) {
  WaitQueueHead wq;
  std::atomic<int> result{1};
  std::thread waiter([&] { result = WaitEvent(&wq, [] { return false; }, {}); });
  WaitUntilQueued(&wq, 1);
  const int before = handled.load();
  SignalUntilDone(&waiter, result);
  EXPECT_EQ(result.load(), -EINTR);
  EXPECT_GT(handled.load(), before);
  EXPECT_EQ(Queued(&wq), 0);
}

TEST_F(WaitEventSignal, ConditionWinsOverTheSignal) {
  WaitQueueHead wq;
  std::atomic<bool> ready{false};
  std::atomic<int> result{1};
  std::thread waiter([&] { result = WaitEvent(&wq, [&] { return ready.load(); }, {}); });
  WaitUntilQueued(&wq, 1);
  ready = true;  // no wake-up: only the signal ends the sleep
  SignalUntilDone(&waiter, result);
  EXPECT_EQ(result.load(), 0);
}

}  // namespace
}  // namespace uep
