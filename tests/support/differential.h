// Differential testing: Linux is the oracle.
//
// A scenario is written once against a Session and runs twice, on the kernel and on uepoll.
// Every call the scenario makes appends one line to the session's trace, in words that do
// not depend on the backend:
//
//   epoll_create1(0x0) = fd0
//   eventfd(0, 0x800) = fd1
//   epoll_ctl(fd0, ADD, fd1, {IN|ET, 7}) = 0
//   write(fd1, 8 bytes, 1) = 8
//   epoll_wait(fd0, 8, 0) = 1 [IN 7]
//   read(fd1, 4) = -1 EINVAL <eeeeeeee>
//
// Descriptors are named after the order in which calls returned them (a number that is
// handed out again gets its old name back, so "lowest free number" shows), or relative to
// the backend (spare+k, limit-1). The test then asserts that both traces are equal:
//
//   DIFF_TEST(EventfdTest, WriteThenRead) {
//     Fd efd = s.Eventfd(0, EFD_NONBLOCK);
//     s.Write(efd, 5);
//     s.Read(efd);
//   }
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/backend.h"
#include "support/kernel_profile.h"

namespace uep::test {

// A descriptor number of the backend a scenario runs on (or a deliberately bad one).
struct Fd {
  int num;
};

// Pointers a caller can get wrong: NULL (which passes access_ok(), so the kernel faults
// only when it copies) and an address in the kernel's half (which fails access_ok()).
enum class BadPointer { kNull, kKernelHalf };

// One readv/writev segment: `len` bytes that hold `value` (little endian, zero padded) for a
// write, or a bad base. Buffers hold at most 1 MiB: a larger `len` claims room that is not
// there, for calls that must fail or move only 8 bytes.
struct Seg {
  size_t len;
  uint64_t value = 0;
  std::optional<BadPointer> bad = std::nullopt;
};

class Session {
 public:
  explicit Session(const Backend& backend);
  ~Session();  // joins helper threads and closes what the scenario left open
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  [[nodiscard]] std::vector<std::string> Trace() const;

  // epoll(7). `data` is the item's epoll_data_t.u64.
  Fd EpollCreate(int size);
  Fd EpollCreate1(int flags);
  int Ctl(Fd ep, int op, Fd fd, uint32_t events, uint64_t data = 0);
  int CtlBadEvent(Fd ep, int op, Fd fd, BadPointer bad = BadPointer::kNull);
  // Waits with room for `maxevents` events and records the ones returned.
  int Wait(Fd ep, int maxevents, int timeout);
  // The same, recording the events returned as a set (sorted by data, then mask): for a
  // uepoll instance holding both kinds of descriptors, whose call orders user-space events
  // before kernel ones (docs/semantics.md).
  int WaitSet(Fd ep, int maxevents, int timeout);
  int WaitBadEvents(Fd ep, int maxevents, int timeout, BadPointer bad = BadPointer::kNull);
  int Pwait(Fd ep, int maxevents, int timeout, const sigset_t* sigmask);
  int Pwait2(Fd ep, int maxevents, const timespec* timeout);
  // A signal mask / timeout pointer in the kernel's half.
  int PwaitBadMask(Fd ep, int maxevents, int timeout);
  int Pwait2BadTimeout(Fd ep, int maxevents);
  // poll(2) of one descriptor for `events`, recording revents.
  int Poll(Fd fd, short events, int timeout);

  // eventfd(2) and I/O. Reads record what they wrote into a buffer prefilled with 0xee.
  // Buffers are sized as for a Seg of `len`.
  Fd Eventfd(unsigned initval, int flags);
  ssize_t Write(Fd fd, uint64_t value, size_t len = 8);
  ssize_t WriteBad(Fd fd, size_t len, BadPointer bad = BadPointer::kNull);
  ssize_t Read(Fd fd, size_t len = 8);
  ssize_t ReadBad(Fd fd, size_t len, BadPointer bad = BadPointer::kNull);
  // glibc's eventfd_read()/eventfd_write(): 0 or -1.
  int EventfdRead(Fd fd);
  int EventfdWrite(Fd fd, uint64_t value);
  ssize_t Readv(Fd fd, const std::vector<Seg>& segs);
  ssize_t Writev(Fd fd, const std::vector<Seg>& segs);
  // readv/writev with `iovcnt` 8-byte segments (any count, even a bad one), or with a NULL
  // vector.
  ssize_t ReadvCount(Fd fd, int iovcnt, bool null_vector = false);
  ssize_t WritevCount(Fd fd, int iovcnt, bool null_vector = false);

  // A pipe, for files that report EPOLLHUP and EPOLLERR: returns {read end, write end}.
  std::pair<Fd, Fd> Pipe2(int flags);

  // Descriptors.
  int Close(Fd fd);
  Fd Dup(Fd fd);
  Fd Dup2(Fd oldfd, Fd newfd);
  Fd Dup3(Fd oldfd, Fd newfd, int flags);
  int Fcntl(Fd fd, int cmd, unsigned long arg = 0);
  Fd FcntlDupfd(Fd fd, int cmd, Fd min);
  // A kernel file (e.g. "/dev/null", which cannot be polled), the same in both backends.
  // Its number comes from the kernel in both: open it before closing any of the scenario's
  // descriptors, or the names will differ (the kernel reuses the closed number).
  Fd OpenKernelFile(const char* path, int flags = O_RDWR);
  // A kernel eventfd, the same in both backends (uepoll passes its I/O to the kernel).
  Fd KernelEventfd(unsigned initval, int flags);
  // A kernel epoll instance and kernel pipe / AF_UNIX stream pair, the same in both backends
  // (for kernel descriptors inside an instance: uepoll passes their calls to the kernel).
  Fd KernelEpollCreate1(int flags);
  std::pair<Fd, Fd> KernelPipe2(int flags);
  std::pair<Fd, Fd> KernelSocketpair(int type);

  // Numbers relative to the backend: spare ones (never open unless a scenario puts
  // something there), the table's limit, or any raw number (negative ones).
  [[nodiscard]] Fd Spare(int k) const;
  [[nodiscard]] Fd Limit(int delta) const;
  static Fd Raw(int num) { return Fd{num}; }

  // A scenario's own observation, recorded as is.
  void Note(const std::string& line);
  // Records whether at least `ms` passed since StartClock().
  void StartClock();
  void NoteElapsedAtLeast(int ms);
  // Runs `action` on a helper thread after `ms`. What a helper records is held back until
  // JoinHelpers(), then appended helper by helper ("helper 0: ..."): when a helper wakes
  // the scenario, which of the two records first is a race.
  void AfterDelay(int ms, std::function<void()> action);
  void JoinHelpers();

 private:
  [[nodiscard]] std::string Name(Fd fd) const;
  [[nodiscard]] std::string NameLocked(Fd fd) const;  // mu_ held
  // Names a descriptor a call just returned and tracks it as open (mu_ held).
  Fd Adopt(int num);
  // Names the two descriptors a call returned in `fds` (unless r < 0) and records it.
  std::pair<Fd, Fd> AdoptPair(const std::string& call, int r, int err, const int fds[2]);
  void Record(const std::string& call, long result, int err, const std::string& detail = "");
  // Appends to the trace of the calling thread (mu_ held).
  void AppendLocked(std::string line);
  int WaitInto(const std::string& call, int r, int err, const epoll_event* events);
  ssize_t VectorIo(bool is_write, Fd fd, const std::vector<Seg>& segs);
  ssize_t VectorCount(bool is_write, Fd fd, int iovcnt, bool null_vector);

  const Backend& backend_;
  const int spare_base_;
  const int fd_limit_;
  mutable std::mutex mu_;  // trace_ and the names: helper threads record too
  std::vector<std::string> trace_;
  std::map<int, std::string> names_;
  std::set<int> open_;
  int next_name_ = 0;
  std::chrono::steady_clock::time_point clock_start_;
  struct Helper {
    std::thread thread;
    std::vector<std::string> trace;  // mu_
  };
  std::list<Helper> helpers_;  // a list: helpers keep a pointer to their entry
};

using Scenario = void (*)(Session&);

// Runs `scenario` on the kernel, then on uepoll, and fails with both traces side by side
// unless they are equal. UEPOLL_DIFF_VERBOSE=1 prints the traces of passing scenarios too.
void ExpectSameOnKernelAndUepoll(Scenario scenario);
// The same for a scenario that shows a behaviour of the kernel profile: the traces must
// differ on a kernel with the other side of it (support/kernel_profile.h).
void ExpectAsProfiledOnKernelAndUepoll(KernelBehaviour behaviour, Scenario scenario);

}  // namespace uep::test

// Defines a test whose body is a scenario on `Session& s`, run on both backends.
#define DIFF_TEST(suite, name)                                                               \
  static void suite##_##name##_Scenario(::uep::test::Session& s);                            \
  TEST(suite, name) { ::uep::test::ExpectSameOnKernelAndUepoll(suite##_##name##_Scenario); } \
  static void suite##_##name##_Scenario([[maybe_unused]] ::uep::test::Session& s)

// A DIFF_TEST whose scenario shows `behaviour`, a ::uep::test::KernelBehaviour.
#define DIFF_TEST_PROFILED(suite, name, behaviour)                                          \
  static void suite##_##name##_Scenario(::uep::test::Session& s);                           \
  TEST(suite, name) {                                                                       \
    ::uep::test::ExpectAsProfiledOnKernelAndUepoll(::uep::test::KernelBehaviour::behaviour, \
                                                   suite##_##name##_Scenario);              \
  }                                                                                         \
  static void suite##_##name##_Scenario([[maybe_unused]] ::uep::test::Session& s)
