#include "support/pipe_diff.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>

namespace uep::test {
namespace {

// Lines recorded on a helper thread go to that helper's own list, appended to the trace
// when it is joined: the order between a helper and the main thread is a race, not a
// property of the implementation.
thread_local std::vector<std::string>* tls_helper_lines = nullptr;

}  // namespace

PipeTrace::~PipeTrace() {
  JoinHelpers();
  for (int fd : open_) backend.close(fd);
}

long PipeTrace::Rec(const std::string& what, long result, const std::string& detail) {
  const int err = errno;
  std::string line = what + " = " + std::to_string(result);
  if (result < 0) line += " " + ErrnoName(err);
  if (!detail.empty()) line += " " + detail;
  Note(line);
  errno = err;
  return result;
}

void PipeTrace::Note(const std::string& line) {
  if (tls_helper_lines != nullptr) {
    tls_helper_lines->push_back(line);
    return;
  }
  std::lock_guard guard(mu_);
  lines_.push_back(line);
}

std::vector<std::string> PipeTrace::Lines() const {
  std::lock_guard guard(mu_);
  return lines_;
}

void PipeTrace::Track(int fd) {
  std::lock_guard guard(mu_);
  open_.push_back(fd);
}

PipeFds PipeTrace::Pipe2(int flags) {
  int fds[2] = {-1, -1};
  std::ostringstream what;
  what << "pipe2(0x" << std::hex << flags << ")";
  const int r = backend.pipe2(fds, flags);
  Rec(what.str(), r);
  if (r < 0) return {};
  Track(fds[0]);
  Track(fds[1]);
  return {fds[0], fds[1]};
}

ssize_t PipeTrace::Write(int fd, const char* name, size_t len) {
  std::vector<unsigned char> buf(len);
  for (size_t i = 0; i < len; ++i) buf[i] = PatternByte(written + i);
  const ssize_t r = backend.write(fd, buf.data(), len);
  if (r > 0) written += static_cast<uint64_t>(r);
  Rec("write(" + std::string(name) + ", " + std::to_string(len) + ")", r);
  return r;
}

ssize_t PipeTrace::Writev(int fd, const char* name, const std::vector<size_t>& lens,
                          int null_segment) {
  size_t total = 0;
  for (size_t l : lens) total += l;
  std::vector<unsigned char> buf(total + 1);
  for (size_t i = 0; i < total; ++i) buf[i] = PatternByte(written + i);
  std::vector<iovec> iov;
  std::string what = "writev(" + std::string(name) + ", [";
  size_t off = 0;
  for (size_t i = 0; i < lens.size(); ++i) {
    const bool null = static_cast<int>(i) == null_segment;
    iov.push_back({null ? nullptr : buf.data() + off, lens[i]});
    what += (i > 0 ? ", " : "") + std::string(null ? "NULL/" : "") + std::to_string(lens[i]);
    off += lens[i];
  }
  const ssize_t r = backend.writev(fd, iov.data(), static_cast<int>(iov.size()));
  if (r > 0) written += static_cast<uint64_t>(r);
  Rec(what + "])", r);
  return r;
}

namespace {
// "data ok" when `buf` continues the pattern at `pos`, else where it stops.
std::string CheckData(const unsigned char* buf, size_t n, uint64_t pos) {
  for (size_t i = 0; i < n; ++i) {
    if (buf[i] != PatternByte(pos + i)) return "data differs at +" + std::to_string(i);
  }
  return "data ok";
}
}  // namespace

ssize_t PipeTrace::Read(int fd, const char* name, size_t len) {
  std::vector<unsigned char> buf(len + 1, 0xee);
  const ssize_t r = backend.read(fd, buf.data(), len);
  std::string detail;
  if (r > 0) {
    detail = CheckData(buf.data(), static_cast<size_t>(r), read);
    read += static_cast<uint64_t>(r);
  }
  Rec("read(" + std::string(name) + ", " + std::to_string(len) + ")", r, detail);
  return r;
}

ssize_t PipeTrace::Readv(int fd, const char* name, const std::vector<size_t>& lens,
                         int null_segment) {
  size_t total = 0;
  for (size_t l : lens) total += l;
  std::vector<unsigned char> buf(total + 1, 0xee);
  std::vector<iovec> iov;
  std::string what = "readv(" + std::string(name) + ", [";
  size_t off = 0;
  for (size_t i = 0; i < lens.size(); ++i) {
    const bool null = static_cast<int>(i) == null_segment;
    iov.push_back({null ? nullptr : buf.data() + off, lens[i]});
    what += (i > 0 ? ", " : "") + std::string(null ? "NULL/" : "") + std::to_string(lens[i]);
    off += lens[i];
  }
  const ssize_t r = backend.readv(fd, iov.data(), static_cast<int>(iov.size()));
  std::string detail;
  if (r > 0) {
    detail = CheckData(buf.data(), static_cast<size_t>(r), read);
    read += static_cast<uint64_t>(r);
  } else if (r < 0) {
    // What a failed read left in the buffers (the kernel may copy before it faults).
    size_t touched = 0;
    for (size_t i = 0; i < total; ++i) touched += buf[i] != 0xee ? 1 : 0;
    detail = "touched " + std::to_string(touched);
  }
  Rec(what + "])", r, detail);
  return r;
}

size_t PipeTrace::Fill(int fd, const char* name, size_t chunk, size_t limit) {
  std::vector<unsigned char> buf(chunk);
  size_t total = 0;
  long calls = 0;
  ssize_t last = 0;
  int err = 0;
  while (total < limit) {
    for (size_t i = 0; i < chunk; ++i) buf[i] = PatternByte(written + i);
    const ssize_t r = backend.write(fd, buf.data(), chunk);
    ++calls;
    if (r < 0) {
      err = errno;
      break;
    }
    written += static_cast<uint64_t>(r);
    total += static_cast<size_t>(r);
    last = r;
    if (static_cast<size_t>(r) < chunk) {
      // A partial write: record it, the next call decides.
      Note("  partial write of " + std::to_string(r) + " after " + std::to_string(total - r));
    }
  }
  Note("fill(" + std::string(name) + ", " + std::to_string(chunk) + ") = " + std::to_string(total) +
       " in " + std::to_string(calls) + " calls, last ok " + std::to_string(last) + ", then " +
       (err != 0 ? ErrnoName(err) : std::string("limit")));
  return total;
}

size_t PipeTrace::Drain(int fd, const char* name) {
  std::vector<unsigned char> buf(1 << 16);
  size_t total = 0;
  std::string detail = "data ok";
  int err = 0;
  for (;;) {
    const ssize_t r = backend.read(fd, buf.data(), buf.size());
    if (r < 0) {
      err = errno;
      break;
    }
    if (r == 0) break;
    const std::string d = CheckData(buf.data(), static_cast<size_t>(r), read);
    if (d != "data ok") detail = d;
    read += static_cast<uint64_t>(r);
    total += static_cast<size_t>(r);
  }
  Note("drain(" + std::string(name) + ") = " + std::to_string(total) + " " + detail + ", then " +
       (err != 0 ? ErrnoName(err) : std::string("EOF")));
  return total;
}

int PipeTrace::Close(int fd, const char* name) {
  {
    std::lock_guard guard(mu_);
    auto it = std::find(open_.begin(), open_.end(), fd);
    if (it != open_.end()) open_.erase(it);
  }
  return static_cast<int>(Rec("close(" + std::string(name) + ")", backend.close(fd)));
}

int PipeTrace::Fcntl(int fd, const char* name, int cmd, unsigned long arg, const char* cmd_name) {
  std::ostringstream what;
  what << "fcntl(" << name << ", " << cmd_name << ", 0x" << std::hex << arg << ")";
  const int r = backend.fcntl(fd, cmd, arg);
  std::string detail;
  if (r >= 0 && cmd == F_GETFL) {
    std::ostringstream d;
    d << "(0x" << std::hex << r << ")";
    detail = d.str();
  }
  return static_cast<int>(Rec(what.str(), r, detail));
}

int PipeTrace::Fionread(int fd, const char* name) {
  int n = -12345;
  const int r = backend.ioctl(fd, FIONREAD, &n);
  Rec("ioctl(" + std::string(name) + ", FIONREAD)", r, r == 0 ? "-> " + std::to_string(n) : "");
  return n;
}

unsigned PipeTrace::PollMask(int fd, const char* name, short events) {
  pollfd pfd{fd, events, 0};
  const int r = backend.poll(&pfd, 1, 0);
  Rec("poll(" + std::string(name) + ")", r,
      "[" + PollMaskName(static_cast<uint16_t>(pfd.revents)) + "]");
  return static_cast<uint16_t>(pfd.revents);
}

int PipeTrace::EpollCreate() {
  const int ep = backend.epoll_create1(0);
  Rec("epoll_create1(0)", ep >= 0 ? 0 : -1);
  if (ep >= 0) Track(ep);
  return ep;
}

int PipeTrace::EpollAdd(int ep, int fd, const char* name, uint32_t events, uint64_t data) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = data;
  return static_cast<int>(Rec("epoll_ctl(ADD, " + std::string(name) + ", " + EpollMaskName(events) +
                                  ", " + std::to_string(data) + ")",
                              backend.epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)));
}

int PipeTrace::EpollWait(int ep, const char* name, int timeout) {
  epoll_event evs[8];
  const int r = backend.epoll_wait(ep, evs, 8, timeout);
  std::string detail;
  for (int i = 0; i < r; ++i) {
    const uint32_t events = evs[i].events;
    const uint64_t data = evs[i].data.u64;
    detail += "[" + EpollMaskName(events) + " " + std::to_string(data) + "]";
  }
  return static_cast<int>(
      Rec("epoll_wait(" + std::string(name) + ", " + std::to_string(timeout) + ")", r, detail));
}

void PipeTrace::After(int ms, std::function<void()> fn) {
  std::lock_guard guard(mu_);
  auto lines = std::make_unique<std::vector<std::string>>();
  helpers_.emplace_back([ms, fn = std::move(fn), out = lines.get()] {
    tls_helper_lines = out;
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    fn();
    tls_helper_lines = nullptr;
  });
  helper_lines_.push_back(std::move(lines));
}

void PipeTrace::JoinHelpers() {
  std::vector<std::thread> helpers;
  std::vector<std::unique_ptr<std::vector<std::string>>> helper_lines;
  {
    std::lock_guard guard(mu_);
    helpers.swap(helpers_);
    helper_lines.swap(helper_lines_);
  }
  for (std::thread& h : helpers) h.join();
  std::lock_guard guard(mu_);
  for (const auto& lines : helper_lines) {
    for (const std::string& line : *lines) lines_.push_back("  [helper] " + line);
  }
}

void ExpectSamePipeTrace(PipeScenario scenario) {
  std::vector<std::string> traces[2];
  const Backend* backends[2] = {&KernelBackend(), &UepollBackend()};
  for (int i = 0; i < 2; ++i) {
    PipeTrace t(*backends[i]);
    scenario(t);
    t.JoinHelpers();
    traces[i] = t.Lines();
  }
  ExpectSameTraces(traces[0], traces[1]);
}

}  // namespace uep::test
