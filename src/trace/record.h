// The trace's records, as the core writes them and the trace reader (`uepoll trace`, the
// preload library's UEPOLL_TRACE) reads them: their format and the calls that start, stop
// and collect a trace. The writing side (the trace points) is core/trace.h.
#pragma once

#include <cstdint>
#include <cstdio>
#include <vector>

namespace uep::trace {

enum class Kind : uint16_t {
  kRegister,      // queue procedure hung a hook: a=file b=queue c=item d=instance x=item events, tag=file type
  kWake,          // a wait queue is woken: b=queue x=key y=nr_exclusive
  kCallback,      // EpPollCallback: b=queue c=item d=instance x=key y=Decision
  kReadyOnCtl,    // ADD/MOD found the file ready: c=item d=instance x=revents y=1 ADD, 2 MOD
  kEpWait,        // epoll_wait queues a waiter: a=waiter b=instance's queue d=instance
  kSleep,         // WaiterSleep: a=waiter, about to spin/sleep
  kSleepEnd,      // WaiterSleep returns: a=waiter x=result (0, -ETIMEDOUT, -EINTR) y=1 if spun
  kWaiterWoken,   // a waiter's wake function ran (on the waker's thread): a=waiter x=key
  kTransferBegin, // SendEvents / PollAtDepth scan: d=instance y=TransferPath
  kTransferItem,  // an item re-polled: c=item d=instance x=revents y=ItemFate
  kTransferEnd,   // d=instance x=result (events or -errno)
  kOvfRequeue,    // DoneScan put an item readied during the transfer back: c=item d=instance
  kPollAtDepth,   // an instance polled as a file: d=instance x=result y=depth
  // The kernel side of an instance holding kernel descriptors (a hidden kernel epoll):
  kKernelHarvest, // the kernel asked without sleeping: a=kernel side d=instance x=events it
                  // returned (the doorbell's included) y=events left for the caller
  kKernelSleep,   // a sleep in the kernel (epoll_pwait2): a=kernel side d=instance
                  // x=timeout in ms (0xffffffff: none) y=1 on {hidden instance, links}
  kKernelSleepEnd,// that sleep returns: a=kernel side d=instance x=events for the caller or
                  // -errno y=events the kernel returned (0: timed out)
  kRingSignal,    // the readiness ring reports a kernel side readable: a=kernel side
                  // (0: the links) x=1 if the ring's poll ended
  kRingRearm,     // the readiness ring's signal is consumed and its poll re-armed, or a
                  // thread's ring takes the watch: a=kernel side x=1 ok, 0 failed y=1 attach
  kThreadName,    // tag = name of the recording thread
  kMark,          // a scenario's own annotation: tag = text, x = value
};

enum class Decision : uint32_t {
  kLinked,           // appended to the ready list
  kAlreadyLinked,    // already on the ready list
  kOverflow,         // a transfer runs: chained on the overflow list
  kOverflowAlready,  // a transfer runs and the item is chained already
  kIgnoredKey,       // the key holds none of the item's events
  kDisabled,         // one-shot item disarmed until EPOLL_CTL_MOD
};

enum class TransferPath : uint32_t { kLockless, kScan, kPoll };

enum class ItemFate : uint32_t {
  kRequeued,    // reported, back on the ready list (level-triggered)
  kReportedEt,  // reported, left off the list (edge-triggered)
  kDisarmed,    // reported, disarmed (one-shot)
  kNotReady,    // re-poll found nothing: dropped
  kFault,       // could not be copied out: stays ready
  kPolledReady, // nested poll: the child has something ready
};

struct Record {
  uint64_t seq;     // order of claiming the slot
  uint64_t ts_ns;   // CLOCK_MONOTONIC
  uint32_t tid;     // small per-thread id, from 1
  Kind kind;
  uint16_t pad;
  uint32_t x;
  uint32_t y;
  uintptr_t a, b, c, d;  // object addresses (see Kind)
  const char* tag;       // static string or nullptr
};

// Control (the C API wraps these). Start discards earlier records.
int Start(size_t capacity);
int Stop();
// The records the ring holds, in order, and how many of those emitted it does not hold.
std::vector<Record> Snapshot(uint64_t* dropped = nullptr);
// Names the calling thread in the trace (a kThreadName record).
void SetThreadName(const char* static_name);
// A caller's own annotation (a kMark record: tag = text, x = value) while a trace runs.
// Hidden: no new symbol in libuepoll.so (its users link the archive).
[[gnu::visibility("hidden")]] void Mark(const char* static_text, uint32_t value);
// One JSON object per line; "kind" is KindName(kind).
int Dump(FILE* out);
const char* KindName(Kind kind);

}  // namespace uep::trace
