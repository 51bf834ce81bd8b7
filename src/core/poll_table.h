// The poll table: the bridge between a file's Poll() and whoever watches the file. A file
// calls PollWait() for each wait queue it would wake; the table's queue procedure decides
// what to hang there (epoll: an entry whose function is the instance's callback). A null
// table, or one without a procedure, asks for the current mask only.
#pragma once

#include <cstdint>

namespace uep {

class File;
struct WaitQueueHead;
struct PollTable;

using PollQueueProc = void (*)(File* file, WaitQueueHead* wq_head, PollTable* pt);

struct PollTable {
  PollQueueProc qproc = nullptr;
  uint32_t key = ~0U;  // the events the watcher wants (files may use it to skip work)
};

inline void PollWait(File* file, WaitQueueHead* wq_head, PollTable* pt) {
  if (pt != nullptr && pt->qproc != nullptr && wq_head != nullptr) pt->qproc(file, wq_head, pt);
}

}  // namespace uep
