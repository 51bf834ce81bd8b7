// The differential fuzzer's world: one scenario run on the kernel and on uepoll side by side,
// call by call, every result compared as soon as both sides returned it.
//
// The fuzzer names descriptors by *slot*: a slot holds the number each side handed out
// for the same call (the numbers differ: the kernel's are small, uepoll's start at
// uep_fd_base()). A closed slot keeps its numbers, so a stale descriptor can be used on
// purpose, and a number handed out again must come back in the same slot on both sides —
// "lowest free number" is compared that way. Event data is derived from slots, never from
// raw numbers.
//
// Any difference (result, errno, event mask, event data, order, bytes, SIGPIPE count,
// which slot a new descriptor landed in) prints every call of the input so far with both
// outcomes, then aborts: a crash for libFuzzer.
#pragma once

#include <poll.h>

#include <cstdint>
#include <string>
#include <vector>

#include "support/backend.h"
#include "support/pipe_diff.h"
#include "support/raw_kernel.h"
#include "support/sock_timer_api.h"

namespace uep::fuzz {

// One implementation: the kernel (kSide = 0) or uepoll (1).
struct Side {
  const char* name;
  const test::Backend& b;       // epoll, eventfd, I/O, descriptors, pipe2
  const test::SockTimerApi& s;  // sockets, timerfd, ioctl
  const test::PipeOps& p;       // poll
};
inline constexpr int kKernel = 0;
inline constexpr int kUepoll = 1;

enum class Kind : uint8_t { kEpoll, kEventfd, kPipeRead, kPipeWrite, kSocket, kTimerfd };

struct Slot {
  int num[2];
  Kind kind;
  bool live;
};

// A descriptor argument: a slot (open or closed) or a number that is bad on both sides.
struct Ref {
  int num[2];
  int slot;  // -1: not a slot
  std::string name;
};

// What one side's call returned. `detail` holds whatever else must match (events, bytes).
struct Outcome {
  long ret = 0;
  int err = 0;
  int sigpipes = 0;
  std::string detail;
  std::vector<int> fds;  // descriptors the call created (compared by slot, not by number)
  std::vector<Kind> fd_kinds;
};

// poll(2) with timeout 0, again after EINTR: the kernel's do_poll() answers EINTR when a
// signal (libFuzzer's watchdog SIGALRM) arrives during a call that finds nothing ready,
// even with timeout 0; uepoll's, making no system call, lets the signal be handled after
// it returns. Which one happens is timing, not semantics; a repeated poll changes nothing.
int PollNow(const Side& side, pollfd* fds, nfds_t nfds);

// Captures errno with the result.
inline Outcome Result(long ret) {
  Outcome o;
  o.ret = ret;
  o.err = ret < 0 ? errno : 0;
  return o;
}

class Twin {
 public:
  Twin();   // notes which kernel descriptors are open
  ~Twin();  // closes every slot left open on both sides and checks nothing leaked
  Twin(const Twin&) = delete;
  Twin& operator=(const Twin&) = delete;

  static const Side& SideOf(int side);

  // Runs `call` on the kernel, then on uepoll, and compares; new descriptors are adopted
  // into slots. Returns the kernel's outcome.
  template <class Call>
  Outcome Both(const std::string& what, Call&& call) {
    Outcome out[2];
    for (int side = 0; side < 2; ++side) {
      const int sigpipes = test::SigpipeCount();
      errno = 0;
      out[side] = call(SideOf(side), side);
      out[side].sigpipes = test::SigpipeCount() - sigpipes;
    }
    Compare(what, out);
    return out[kKernel];
  }

  // A slot (open or closed) or a number bad on both sides, chosen by one input byte.
  Ref DecodeRef(uint8_t byte, uint8_t extra);
  [[nodiscard]] const std::vector<Slot>& slots() const { return slots_; }
  [[nodiscard]] bool Full() const { return slots_.size() >= kMaxSlots; }
  // The kind of a live slot's file, or false.
  bool LiveKind(const Ref& r, Kind* kind) const;
  // After a successful close of a live slot.
  void MarkClosed(int slot) { slots_[slot].live = false; }

  // poll() of one descriptor on both sides with timeout `timeout_ms`, compared; returns
  // the kernel's revents. Polling is part of the scenario (a polled pipe changes how it
  // wakes edge-triggered watchers), so it always happens on both sides.
  short PollBoth(const Ref& r, short events, int timeout_ms = 0);

  // Waits (up to 5 s) on each side for `r` to become readable (an expiring timer), not
  // compared: libFuzzer's SIGALRM (its -timeout watchdog) may interrupt either wait, and
  // a loaded machine may delay uepoll's timer thread.
  void AwaitInput(const Ref& r);

  // Records a line in the log that is printed with a divergence.
  void Note(const std::string& line) { log_.push_back(line); }
  // Prints the log, the two outcomes, and aborts.
  [[noreturn]] void Diverged(const std::string& what, const std::string& why);

  static constexpr size_t kMaxSlots = 96;

 private:
  void Compare(const std::string& what, Outcome out[2]);
  void Adopt(const std::string& what, int knum, int unum, Kind kind);
  int FindSlot(int side, int num) const;
  void Teardown();

  std::vector<Slot> slots_;
  std::vector<std::string> log_;
  // Every input must leave exactly these open (uepoll's lazily opened kernel descriptors
  // are opened by a warm-up before the first input).
  const std::vector<int> kernel_fds_before_;
};

// The kernel descriptors open now.
std::vector<int> KernelFds();

}  // namespace uep::fuzz
