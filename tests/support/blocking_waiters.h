// Threads blocked in epoll_wait / poll on an instance while another thread writes: the same
// arrangement run on the kernel and on uepoll, compared by who returns and with what.
//
// An arrangement is a chain of instances over one source (e0 watches the source, or e0
// watches e1 which watches it), each item level- or edge-triggered, and one or two waiter
// threads, each blocked on e0 or e1 in one of three calls:
//
//   ew   epoll_wait(e, 1 event, -1)
//   p    poll({e, POLLIN}, -1)
//   pew  poll({e, POLLIN}, -1), then epoll_wait(e, 1 event, 0) if the poll returned
//
// A run starts the waiters one after the other, each only once the previous one sleeps (so
// their order on the queues is fixed), then writes one byte into the source (or adds the
// readable source to its instance). It waits until
// every waiter has either returned or sleeps again (no waiter runnable for a while), then
// sends SIGUSR1 (a no-op handler, no SA_RESTART) to each one still asleep: the signal is the
// timeout. Each waiter's outcome says whether the write woke it or the signal ended the call,
// and what it returned. A waiter still blocked 5 s after its signal is a hang.
//
// The kernel runs first and is the oracle. On uepoll the run waits (up to a 5 s watchdog)
// for as many waiters of each role as the kernel woke before looking for quiet, so a slow
// machine cannot turn a late wake-up into a difference; a wake-up that never comes fails.
#pragma once

#include <string>
#include <vector>

#include "support/backend.h"

namespace uep::test::blocking {

enum class Call { kEpollWait, kPoll, kPollThenWait };

enum class Source {
  kSocket,                  // the backend's AF_UNIX stream socket pair
  kPipe,                    // the backend's pipe
  kEventfd,                 // the backend's eventfd (uepoll: polled without locks)
  kKernelPipe,              // a kernel pipe in both backends (a kernel descriptor in the instance)
  kKernelUdp,               // a kernel UDP socket on the loopback
  kSocketBesideKernel,      // the backend's socket pair, its instance also watching an idle
                            // kernel pipe (uepoll: an instance with a kernel side)
  kKernelPipeBesideKernel,  // a kernel pipe, its instance also watching an idle one
};

// What happens once the waiters sleep.
enum class Action {
  kWrite,     // one byte is written into the source
  kAddReady,  // the source, readable already, is added to its instance (epoll_ctl ADD)
  kNothing,   // nothing: every waiter ends by the signal
};

struct Waiter {
  Call call;
  int instance;  // 0 = e0 (the top), 1 = e1 (nested arrangements only)
};

struct Arrangement {
  Source source = Source::kSocket;
  bool nested = false;  // e0 -> e1 -> source, else e0 -> source
  bool et0 = false;     // e0's item is edge-triggered
  bool et1 = false;     // e1's item is edge-triggered (nested)
  Action action = Action::kWrite;
  std::vector<Waiter> waiters;

  [[nodiscard]] std::string Name() const;
  // Where the kernel's result depends on timing: an edge-triggered item harvested
  // (consumed) on one instance while a waiter of another role also watches that instance,
  // which then sees the event or not depending on who runs first. The deepest such
  // instance (0 or 1), or -1.
  [[nodiscard]] int RacyInstance() const;
  [[nodiscard]] bool Racy() const { return RacyInstance() >= 0; }
};

struct Result {
  std::vector<std::string> outcomes;  // one line per waiter, in waiter order
  std::vector<bool> woken;            // the write (not the signal) ended the call
  std::vector<int> harvested;         // epoll events each waiter's epoll_wait calls returned
  std::string failure;                // a hang or a setup error; empty if none
};

// Runs `arrangement` on `backend`. `expect_woken` (the kernel's result) names, per waiter,
// whether to wait for it to be woken before looking for quiet; empty for the oracle's run.
// With `racy`, only the number of woken waiters is awaited.
Result Run(const Backend& backend, const Arrangement& arrangement,
           const std::vector<bool>& expect_woken);

// Runs on the kernel, then on uepoll, and compares what is determined: every waiter's
// outcome (as a multiset: waiters of one role are interchangeable), or for a racy
// arrangement that some waiter is woken on both and the events harvested on the deepest
// instance where the race is run. Returns "" or a description of the difference.
std::string CompareOnKernelAndUepoll(const Arrangement& arrangement);

// Every arrangement of 1-2 waiters over the instances of a flat or nested chain, with every
// mix of LT / ET items, for one source.
std::vector<Arrangement> AllArrangements(Source source, bool nested);

}  // namespace uep::test::blocking
