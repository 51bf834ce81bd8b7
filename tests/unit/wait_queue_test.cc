// WaitQueueHead semantics (__wake_up_common): non-exclusive entries all run, exclusive ones
// stop after nr_exclusive accepted, a negative return stops the walk, functions may unlink
// their own entry.
#include "core/wait_queue.h"

#include <gtest/gtest.h>

#include <deque>
#include <mutex>
#include <vector>

namespace uep {
namespace {

struct Recorder {
  std::vector<int> calls;
  std::vector<uint32_t> keys;
};

struct TestEntry {
  WaitQueueEntry wait;
  Recorder* rec = nullptr;
  int id = 0;
  int ret = 1;
  bool autoremove = false;
};

int RecordingFunc(WaitQueueEntry* wait, unsigned /*mode*/, int /*sync*/, uint32_t key) {
  auto* e = static_cast<TestEntry*>(wait->private_data);
  e->rec->calls.push_back(e->id);
  e->rec->keys.push_back(key);
  if (e->autoremove) wait->entry.DelInit();
  return e->ret;
}

class WaitQueueTest : public ::testing::Test {
 protected:
  TestEntry& Make(int id, int ret = 1, bool autoremove = false) {
    auto& e = entries_.emplace_back();
    e.wait.func = RecordingFunc;
    e.wait.private_data = &e;
    e.rec = &rec_;
    e.id = id;
    e.ret = ret;
    e.autoremove = autoremove;
    return e;
  }
  void Wake(int nr, uint32_t key = 0) {
    std::lock_guard guard(head_.lock);
    WakeUpLocked(&head_, nr, key);
  }
  WaitQueueHead head_;
  Recorder rec_;
  std::deque<TestEntry> entries_;
};

TEST_F(WaitQueueTest, NonExclusiveEntriesAreAddedAtHeadAndAllRun) {
  AddWaitQueue(&head_, &Make(1).wait);
  AddWaitQueue(&head_, &Make(2).wait);
  AddWaitQueue(&head_, &Make(3).wait);
  Wake(1, 0x5);
  EXPECT_EQ((std::vector<int>{3, 2, 1}), rec_.calls);
  EXPECT_EQ((std::vector<uint32_t>{5, 5, 5}), rec_.keys);
}

TEST_F(WaitQueueTest, ExclusiveEntriesQueueAtTailAndStopAfterNr) {
  AddWaitQueueExclusive(&head_, &Make(10).wait);
  AddWaitQueueExclusive(&head_, &Make(11).wait);
  AddWaitQueueExclusive(&head_, &Make(12).wait);
  AddWaitQueue(&head_, &Make(1).wait);
  Wake(1);
  EXPECT_EQ((std::vector<int>{1, 10}), rec_.calls);
  rec_.calls.clear();
  Wake(2);
  EXPECT_EQ((std::vector<int>{1, 10, 11}), rec_.calls);
  rec_.calls.clear();
  Wake(0);  // 0: no limit
  EXPECT_EQ((std::vector<int>{1, 10, 11, 12}), rec_.calls);
}

TEST_F(WaitQueueTest, ExclusiveEntryThatDeclinesDoesNotCount) {
  AddWaitQueueExclusive(&head_, &Make(10, /*ret=*/0).wait);
  AddWaitQueueExclusive(&head_, &Make(11).wait);
  AddWaitQueueExclusive(&head_, &Make(12).wait);
  Wake(1);
  EXPECT_EQ((std::vector<int>{10, 11}), rec_.calls);
}

TEST_F(WaitQueueTest, NegativeReturnStopsTheWalk) {
  AddWaitQueue(&head_, &Make(2).wait);
  AddWaitQueue(&head_, &Make(1, /*ret=*/-1).wait);
  Wake(1);
  EXPECT_EQ((std::vector<int>{1}), rec_.calls);
}

TEST_F(WaitQueueTest, FunctionMayUnlinkItsOwnEntry) {
  AddWaitQueueExclusive(&head_, &Make(10, 1, /*autoremove=*/true).wait);
  AddWaitQueueExclusive(&head_, &Make(11, 1, /*autoremove=*/true).wait);
  Wake(1);
  Wake(1);
  Wake(1);
  EXPECT_EQ((std::vector<int>{10, 11}), rec_.calls);
  EXPECT_FALSE(head_.Active());
}

TEST_F(WaitQueueTest, RemoveUnlinksAndActiveTracksEntries) {
  EXPECT_FALSE(head_.Active());
  TestEntry& e = Make(1);
  AddWaitQueue(&head_, &e.wait);
  EXPECT_TRUE(head_.Active());
  RemoveWaitQueue(&head_, &e.wait);
  EXPECT_FALSE(head_.Active());
  Wake(1);
  EXPECT_TRUE(rec_.calls.empty());
}

TEST_F(WaitQueueTest, WakeUpPollTakesTheLockAndWakesOneExclusive) {
  AddWaitQueueExclusive(&head_, &Make(10).wait);
  AddWaitQueueExclusive(&head_, &Make(11).wait);
  WakeUpPoll(&head_, 0x1);
  EXPECT_EQ((std::vector<int>{10}), rec_.calls);
}

}  // namespace
}  // namespace uep
