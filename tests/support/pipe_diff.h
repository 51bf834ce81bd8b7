// Differential scenarios for pipes, poll(2) and select(2): Linux is the oracle.
//
// A scenario is written once against a PipeTrace and runs on the kernel, then on uepoll
// (the two Backends of support/backend.h); every call appends one line to the trace in
// words that do not depend on the backend (descriptors by the names the scenario gives
// them, never by number), and the two traces must be equal:
//
//   PIPE_DIFF_TEST(PipeMasks, WriteThenClose) {
//     PipeFds p = t.Pipe2(0);
//     t.Write(p.w, "w", 10);
//     t.PollMask(p.r, "r");     // poll(r) = 1 [IN|RDNORM]
//   }
#pragma once

#include <gtest/gtest.h>
#include <poll.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/backend.h"
#include "support/trace_text.h"

namespace uep::test {

struct PipeFds {
  int r = -1;
  int w = -1;
};

class PipeTrace {
 public:
  explicit PipeTrace(const Backend& calls) : backend(calls) {}
  ~PipeTrace();  // joins helpers, closes what the scenario opened
  PipeTrace(const PipeTrace&) = delete;
  PipeTrace& operator=(const PipeTrace&) = delete;

  const Backend& backend;

  // Appends "what = result" (or "what = -1 EAGAIN" with errno). Thread-safe.
  long Rec(const std::string& what, long result, const std::string& detail = "");
  void Note(const std::string& line);
  [[nodiscard]] std::vector<std::string> Lines() const;

  // Calls that record themselves. Writes send a running byte pattern; reads check that
  // what they get continues it (so loss, duplication and reordering show in the trace).
  PipeFds Pipe2(int flags);
  ssize_t Write(int fd, const char* name, size_t len);
  ssize_t Writev(int fd, const char* name, const std::vector<size_t>& lens, int null_segment = -1);
  ssize_t Read(int fd, const char* name, size_t len);
  ssize_t Readv(int fd, const char* name, const std::vector<size_t>& lens, int null_segment = -1);
  // Writes `chunk`-byte pieces until the call fails or `limit` bytes went in; records the
  // total, the number of calls, the last partial count and the final errno.
  size_t Fill(int fd, const char* name, size_t chunk, size_t limit = 1 << 24);
  // Reads until EAGAIN/EOF; records the total.
  size_t Drain(int fd, const char* name);
  int Close(int fd, const char* name);
  int Fcntl(int fd, const char* name, int cmd, unsigned long arg, const char* cmd_name);
  int Fionread(int fd, const char* name);
  // poll() of one descriptor with timeout 0, asking for everything; records revents.
  unsigned PollMask(int fd, const char* name,
                    short events = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM | POLLPRI |
                                   POLLRDHUP);
  // epoll_wait(ep, 8, timeout) recording "[MASK data] ...".
  int EpollWait(int ep, const char* name, int timeout = 0);
  int EpollAdd(int ep, int fd, const char* name, uint32_t events, uint64_t data);
  int EpollCreate();

  // Runs `fn` on a helper thread after `ms`. What a helper records is appended to the trace
  // when JoinHelpers() joins it, marked "[helper]", in the order the helpers were started.
  void After(int ms, std::function<void()> fn);
  void JoinHelpers();
  // Bytes the next Write sends / the next Read expects (the running pattern).
  uint64_t written = 0;
  uint64_t read = 0;

 private:
  void Track(int fd);
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
  std::vector<int> open_;
  std::vector<std::thread> helpers_;
  std::vector<std::unique_ptr<std::vector<std::string>>> helper_lines_;
};

using PipeScenario = void (*)(PipeTrace&);

// Runs `scenario` on the kernel, then on uepoll, and fails with both traces side by side
// unless they are equal. UEPOLL_DIFF_VERBOSE=1 prints passing traces too.
void ExpectSamePipeTrace(PipeScenario scenario);

// The pattern byte at stream offset `pos`.
inline unsigned char PatternByte(uint64_t pos) {
  return static_cast<unsigned char>((pos * 131 + (pos >> 8) * 7 + 13) & 0xff);
}

}  // namespace uep::test

#define PIPE_DIFF_TEST(suite, name)                                                      \
  static void suite##_##name##_PipeScenario(::uep::test::PipeTrace& t);                  \
  TEST(suite, name) { ::uep::test::ExpectSamePipeTrace(suite##_##name##_PipeScenario); } \
  static void suite##_##name##_PipeScenario([[maybe_unused]] ::uep::test::PipeTrace& t)
