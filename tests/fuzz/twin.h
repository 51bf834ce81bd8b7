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
#include "support/sock_timer_diff.h"

namespace uep::fuzz {

// One implementation: the kernel (kSide = 0) or uepoll (1).
struct Side {
  const char* name;
  const test::Backend& b;
};
inline constexpr int kKernel = 0;
inline constexpr int kUepoll = 1;

enum class Kind : uint8_t { kEpoll, kEventfd, kPipeRead, kPipeWrite, kSocket, kTimerfd };

struct Slot {
  int num[2];
  Kind kind;
  bool live;
  bool kfd;  // a kernel descriptor on the uepoll side too (KernelFiles in ops.cc)
  int file;  // which open file: dups share it
};

// What an instance's items are (the first successful ADD decides): uepoll files and
// instances holding none of the other kinds (kUserFiles), kernel descriptors (kKernelFds), or
// instances holding such items (kNestedKernel). An instance never mixes them: a
// mixed ready list is reported in a different order (user-space events first in a call:
// docs/semantics.md, "Kernel descriptors inside a uepoll instance"; tests/differential/
// mixed_test.cc compares mixed instances as sets per call).
enum class Holds : uint8_t { kNothing, kUserFiles, kKernelFds, kNestedKernel };

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
  bool kernel_files = false;  // the new descriptors are kernel ones on both sides
  int dup_of = -1;            // the slot whose file the new descriptor shares
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
  [[nodiscard]] bool IsKfd(const Ref& r) const { return r.slot >= 0 && slots_[r.slot].kfd; }

  // Kernel descriptors made for the uepoll side live at 500 and up, the kernel side's
  // twins at 200 and up (kKernelFileBase, twin.cc): away from the small numbers both sides
  // hand out otherwise, and in the same order on both sides, so slots still match. Moves
  // `fd` there; returns the new number.
  static int Relocate(int fd, int side);
  static bool KernelFilesFit();  // the descriptor limit leaves room for both ranges

  // Whether EPOLL_CTL_ADD of `fd` into `ep` keeps every instance unmixed (see Holds);
  // `*what` gets what the item would be. Added() records a successful ADD.
  bool MayAdd(const Ref& ep, const Ref& fd, Holds* what) const;
  void Added(const Ref& ep, const Ref& fd, Holds what);
  // A live instance whose items are kernel descriptors or such instances.
  [[nodiscard]] bool HoldsKernel(const Ref& r) const {
    if (r.slot < 0 || !slots_[r.slot].live || slots_[r.slot].kind != Kind::kEpoll) return false;
    const Holds h = files_[slots_[r.slot].file].holds;
    return h == Holds::kKernelFds || h == Holds::kNestedKernel;
  }

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
  void Adopt(const std::string& what, int knum, int unum, Kind kind, bool kfd, int dup_of);
  struct FileState {
    Holds holds = Holds::kNothing;
    bool watched = false;  // has been ADDed into an instance
  };
  int FindSlot(int side, int num) const;
  void Teardown();

  std::vector<Slot> slots_;
  std::vector<std::string> log_;
  std::vector<FileState> files_;  // by Slot::file
  // Every input must leave exactly these open (uepoll's lazily opened kernel descriptors
  // are opened by a warm-up before the first input).
  const std::vector<int> kernel_fds_before_;
};

// The kernel descriptors open now.
std::vector<int> KernelFds();

}  // namespace uep::fuzz
