#include "support/differential.h"

#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "support/trace_text.h"

namespace uep::test {
namespace {

constexpr unsigned char kFill = 0xee;  // what a read buffer holds before the call
// The name of a number that no call of the scenario returned (e.g. F_DUPFD's minimum 0).
const char* const kOtherName = "other";
constexpr size_t kShownBytes = 16;  // a read records at most this much of its buffer
// Buffers are at most this large: a longer length claims more room than there is, which
// only calls that fail or move a few bytes (eventfd moves 8) may do.
constexpr size_t kMaxBuffer = size_t{1} << 20;

void* Address(BadPointer bad) {
  // The top half of the address space belongs to the kernel on every 64-bit Linux.
  return bad == BadPointer::kNull ? nullptr
                                  : reinterpret_cast<void*>(uintptr_t{1} << 63);  // NOLINT
}

std::string PointerName(BadPointer bad) { return bad == BadPointer::kNull ? "NULL" : "KERNEL"; }

std::string OpName(int op) {
  switch (op) {
    case EPOLL_CTL_ADD:
      return "ADD";
    case EPOLL_CTL_DEL:
      return "DEL";
    case EPOLL_CTL_MOD:
      return "MOD";
    default:
      return "op " + std::to_string(op);
  }
}

std::string FcntlCmdName(int cmd) {
  switch (cmd) {
    case F_DUPFD:
      return "F_DUPFD";
    case F_DUPFD_CLOEXEC:
      return "F_DUPFD_CLOEXEC";
    case F_GETFD:
      return "F_GETFD";
    case F_SETFD:
      return "F_SETFD";
    case F_GETFL:
      return "F_GETFL";
    case F_SETFL:
      return "F_SETFL";
    default:
      return "cmd " + std::to_string(cmd);
  }
}

std::string TimespecText(const timespec* ts) {
  if (ts == nullptr) return "NULL";
  return "{" + std::to_string(ts->tv_sec) + ", " + std::to_string(ts->tv_nsec) + "}";
}

// Bytes as little-endian words where whole, else byte by byte.
std::string BytesText(const unsigned char* bytes, size_t len) {
  std::string out;
  size_t i = 0;
  for (; i + 8 <= std::min(len, kShownBytes); i += 8) {
    uint64_t word = 0;
    std::memcpy(&word, bytes + i, sizeof word);
    out += (out.empty() ? "" : " ") + Hex(word);
  }
  for (; i < std::min(len, kShownBytes); ++i) {
    char buf[4];
    std::snprintf(buf, sizeof buf, "%02x", bytes[i]);
    out += (i % 8 == 0 && !out.empty() ? " " : "") + std::string(buf);
  }
  return "<" + out + (len > kShownBytes ? " ..." : "") + ">";
}

// A segment's buffer: `len` bytes (at least 8, so a value fits; at most kMaxBuffer),
// prefilled for a read or holding the value for a write.
std::vector<unsigned char> SegmentBuffer(const Seg& seg, bool is_write) {
  std::vector<unsigned char> buf(std::clamp<size_t>(seg.len, 8, kMaxBuffer), is_write ? 0 : kFill);
  if (is_write) std::memcpy(buf.data(), &seg.value, sizeof seg.value);
  return buf;
}

std::string SegmentsText(const std::vector<Seg>& segs, bool is_write) {
  std::string out = "[";
  for (size_t i = 0; i < segs.size(); ++i) {
    if (i > 0) out += ", ";
    if (segs[i].bad) out += PointerName(*segs[i].bad) + "/";
    out += std::to_string(segs[i].len);
    if (is_write && !segs[i].bad) out += ":" + std::to_string(segs[i].value);
  }
  return out + "]";
}

}  // namespace

Session::Session(const Backend& backend)
    : backend_(backend), spare_base_(backend.spare_base()), fd_limit_(backend.fd_limit()) {
  for (int k = 0; k < kSpareCount; ++k) {
    if (backend_.fcntl(spare_base_ + k, F_GETFD, 0) >= 0) {
      ADD_FAILURE() << backend_.name << ": spare descriptor " << spare_base_ + k
                    << " is open before the scenario";
    }
  }
}

Session::~Session() {
  JoinHelpers();
  for (int fd : open_) backend_.close(fd);
}

std::vector<std::string> Session::Trace() const {
  std::lock_guard guard(mu_);
  return trace_;
}

std::string Session::Name(Fd fd) const {
  std::lock_guard guard(mu_);
  return NameLocked(fd);
}

std::string Session::NameLocked(Fd fd) const {
  if (fd.num < 0) return std::to_string(fd.num);
  if (fd.num >= spare_base_ && fd.num < spare_base_ + kSpareCount) {
    return "spare+" + std::to_string(fd.num - spare_base_);
  }
  if (fd.num >= fd_limit_ - kSpareCount && fd.num < fd_limit_ + kSpareCount) {
    const int delta = fd.num - fd_limit_;
    return "limit" + std::string(delta < 0 ? "" : "+") + std::to_string(delta);
  }
  const auto it = names_.find(fd.num);
  return it != names_.end() ? it->second : kOtherName;
}

Fd Session::Adopt(int num) {
  if (num < 0) return Fd{num};
  if (NameLocked(Fd{num}) == kOtherName) names_[num] = "fd" + std::to_string(next_name_++);
  open_.insert(num);
  return Fd{num};
}

namespace {
// The trace a helper thread records into; null on the scenario's own thread.
thread_local std::vector<std::string>* helper_trace = nullptr;
}  // namespace

void Session::Record(const std::string& call, long result, int err, const std::string& detail) {
  std::string line = call + " = " + std::to_string(result);
  if (result < 0) line += " " + ErrnoName(err);
  if (!detail.empty()) line += " " + detail;
  std::lock_guard guard(mu_);
  AppendLocked(std::move(line));
}

void Session::AppendLocked(std::string line) {
  (helper_trace != nullptr ? *helper_trace : trace_).push_back(std::move(line));
}

void Session::Note(const std::string& line) {
  std::lock_guard guard(mu_);
  AppendLocked("note: " + line);
}

void Session::StartClock() { clock_start_ = std::chrono::steady_clock::now(); }

void Session::NoteElapsedAtLeast(int ms) {
  const bool reached =
      std::chrono::steady_clock::now() - clock_start_ >= std::chrono::milliseconds(ms);
  Note("elapsed " + std::string(reached ? ">= " : "< ") + std::to_string(ms) + " ms");
}

void Session::AfterDelay(int ms, std::function<void()> action) {
  Helper& helper = helpers_.emplace_back();
  helper.thread = std::thread([ms, action = std::move(action), trace = &helper.trace] {
    helper_trace = trace;
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    action();
  });
}

void Session::JoinHelpers() {
  int index = 0;
  for (Helper& helper : helpers_) {
    helper.thread.join();
    std::lock_guard guard(mu_);
    for (const std::string& line : helper.trace) {
      trace_.push_back("helper " + std::to_string(index) + ": " + line);
    }
    ++index;
  }
  helpers_.clear();
}

Fd Session::Spare(int k) const { return Fd{spare_base_ + k}; }

Fd Session::Limit(int delta) const { return Fd{fd_limit_ + delta}; }

// --- epoll

Fd Session::EpollCreate(int size) {
  errno = 0;
  const int r = backend_.epoll_create(size);
  const int err = errno;
  std::lock_guard guard(mu_);
  const Fd fd = Adopt(r);
  AppendLocked("epoll_create(" + std::to_string(size) +
               ") = " + (r < 0 ? "-1 " + ErrnoName(err) : NameLocked(fd)));
  return fd;
}

Fd Session::EpollCreate1(int flags) {
  errno = 0;
  const int r = backend_.epoll_create1(flags);
  const int err = errno;
  std::lock_guard guard(mu_);
  const Fd fd = Adopt(r);
  AppendLocked("epoll_create1(" + Hex(static_cast<unsigned>(flags)) +
               ") = " + (r < 0 ? "-1 " + ErrnoName(err) : NameLocked(fd)));
  return fd;
}

int Session::Ctl(Fd ep, int op, Fd fd, uint32_t events, uint64_t data) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = data;
  errno = 0;
  const int r = backend_.epoll_ctl(ep.num, op, fd.num, &ev);
  const int err = errno;
  Record("epoll_ctl(" + Name(ep) + ", " + OpName(op) + ", " + Name(fd) + ", {" +
             EpollMaskName(events) + ", " + std::to_string(data) + "})",
         r, err);
  return r;
}

int Session::CtlBadEvent(Fd ep, int op, Fd fd, BadPointer bad) {
  errno = 0;
  const int r = backend_.epoll_ctl(ep.num, op, fd.num, static_cast<epoll_event*>(Address(bad)));
  const int err = errno;
  Record(
      "epoll_ctl(" + Name(ep) + ", " + OpName(op) + ", " + Name(fd) + ", " + PointerName(bad) + ")",
      r, err);
  return r;
}

int Session::WaitInto(const std::string& call, int r, int err, const epoll_event* events) {
  std::string detail;
  for (int i = 0; i < r; ++i) {
    detail += (i > 0 ? " [" : "[") + EpollMaskName(events[i].events) + " " +
              std::to_string(events[i].data.u64) + "]";
  }
  Record(call, r, err, detail);
  return r;
}

// Room for what any scenario expects back; a larger maxevents is passed through as is (the
// argument checks are what such scenarios test).
constexpr int kEventRoom = 1024;

int Session::Wait(Fd ep, int maxevents, int timeout) {
  std::vector<epoll_event> events(kEventRoom);
  errno = 0;
  const int r = backend_.epoll_wait(ep.num, events.data(), maxevents, timeout);
  const int err = errno;
  return WaitInto("epoll_wait(" + Name(ep) + ", " + std::to_string(maxevents) + ", " +
                      std::to_string(timeout) + ")",
                  r, err, events.data());
}

int Session::WaitSet(Fd ep, int maxevents, int timeout) {
  std::vector<epoll_event> events(kEventRoom);
  errno = 0;
  const int r = backend_.epoll_wait(ep.num, events.data(), maxevents, timeout);
  const int err = errno;
  std::vector<std::pair<uint64_t, uint32_t>> got;
  for (int i = 0; i < r; ++i) {
    const epoll_event e = events[static_cast<size_t>(i)];
    got.emplace_back(uint64_t{e.data.u64}, uint32_t{e.events});
  }
  std::sort(got.begin(), got.end());
  std::string detail;
  for (const auto& [data, mask] : got) {
    detail += (detail.empty() ? "{" : ", ") + EpollMaskName(mask) + " " + std::to_string(data);
  }
  if (!detail.empty()) detail += "}";
  Record("epoll_wait(" + Name(ep) + ", " + std::to_string(maxevents) + ", " +
             std::to_string(timeout) + ") as a set",
         r, err, detail);
  return r;
}

int Session::Poll(Fd fd, short events, int timeout) {
  pollfd pfd{fd.num, events, 0};
  errno = 0;
  const int r = backend_.poll(&pfd, 1, timeout);
  const int err = errno;
  Record("poll(" + Name(fd) + ", " + PollMaskName(static_cast<uint16_t>(events)) + ", " +
             std::to_string(timeout) + ")",
         r, err, r > 0 ? "[" + PollMaskName(static_cast<uint16_t>(pfd.revents)) + "]" : "");
  return r;
}

int Session::WaitBadEvents(Fd ep, int maxevents, int timeout, BadPointer bad) {
  errno = 0;
  const int r =
      backend_.epoll_wait(ep.num, static_cast<epoll_event*>(Address(bad)), maxevents, timeout);
  const int err = errno;
  Record("epoll_wait(" + Name(ep) + ", " + PointerName(bad) + ", " + std::to_string(maxevents) +
             ", " + std::to_string(timeout) + ")",
         r, err);
  return r;
}

int Session::PwaitBadMask(Fd ep, int maxevents, int timeout) {
  std::vector<epoll_event> events(kEventRoom);
  errno = 0;
  const int r = backend_.epoll_pwait(ep.num, events.data(), maxevents, timeout,
                                     static_cast<sigset_t*>(Address(BadPointer::kKernelHalf)));
  const int err = errno;
  return WaitInto("epoll_pwait(" + Name(ep) + ", " + std::to_string(maxevents) + ", " +
                      std::to_string(timeout) + ", " + PointerName(BadPointer::kKernelHalf) + ")",
                  r, err, events.data());
}

int Session::Pwait2BadTimeout(Fd ep, int maxevents) {
  std::vector<epoll_event> events(kEventRoom);
  errno = 0;
  const int r =
      backend_.epoll_pwait2(ep.num, events.data(), maxevents,
                            static_cast<timespec*>(Address(BadPointer::kKernelHalf)), nullptr);
  const int err = errno;
  return WaitInto("epoll_pwait2(" + Name(ep) + ", " + std::to_string(maxevents) + ", " +
                      PointerName(BadPointer::kKernelHalf) + ")",
                  r, err, events.data());
}

int Session::Pwait(Fd ep, int maxevents, int timeout, const sigset_t* sigmask) {
  std::vector<epoll_event> events(kEventRoom);
  errno = 0;
  const int r = backend_.epoll_pwait(ep.num, events.data(), maxevents, timeout, sigmask);
  const int err = errno;
  return WaitInto("epoll_pwait(" + Name(ep) + ", " + std::to_string(maxevents) + ", " +
                      std::to_string(timeout) + ", " + (sigmask ? "mask" : "NULL") + ")",
                  r, err, events.data());
}

int Session::Pwait2(Fd ep, int maxevents, const timespec* timeout) {
  std::vector<epoll_event> events(kEventRoom);
  errno = 0;
  const int r = backend_.epoll_pwait2(ep.num, events.data(), maxevents, timeout, nullptr);
  const int err = errno;
  return WaitInto("epoll_pwait2(" + Name(ep) + ", " + std::to_string(maxevents) + ", " +
                      TimespecText(timeout) + ")",
                  r, err, events.data());
}

// --- eventfd and I/O

Fd Session::Eventfd(unsigned initval, int flags) {
  errno = 0;
  const int r = backend_.eventfd(initval, flags);
  const int err = errno;
  std::lock_guard guard(mu_);
  const Fd fd = Adopt(r);
  AppendLocked("eventfd(" + std::to_string(initval) + ", " + Hex(static_cast<unsigned>(flags)) +
               ") = " + (r < 0 ? "-1 " + ErrnoName(err) : NameLocked(fd)));
  return fd;
}

ssize_t Session::Write(Fd fd, uint64_t value, size_t len) {
  const std::vector<unsigned char> buf = SegmentBuffer(Seg{len, value}, true);
  errno = 0;
  const ssize_t r = backend_.write(fd.num, buf.data(), len);
  const int err = errno;
  Record(
      "write(" + Name(fd) + ", " + std::to_string(len) + " bytes, " + std::to_string(value) + ")",
      r, err);
  return r;
}

ssize_t Session::WriteBad(Fd fd, size_t len, BadPointer bad) {
  errno = 0;
  const ssize_t r = backend_.write(fd.num, Address(bad), len);
  const int err = errno;
  Record("write(" + Name(fd) + ", " + PointerName(bad) + ", " + std::to_string(len) + ")", r, err);
  return r;
}

ssize_t Session::Read(Fd fd, size_t len) {
  std::vector<unsigned char> buf = SegmentBuffer(Seg{len}, false);
  errno = 0;
  const ssize_t r = backend_.read(fd.num, buf.data(), len);
  const int err = errno;
  Record("read(" + Name(fd) + ", " + std::to_string(len) + ")", r, err, BytesText(buf.data(), len));
  return r;
}

ssize_t Session::ReadBad(Fd fd, size_t len, BadPointer bad) {
  errno = 0;
  const ssize_t r = backend_.read(fd.num, Address(bad), len);
  const int err = errno;
  Record("read(" + Name(fd) + ", " + PointerName(bad) + ", " + std::to_string(len) + ")", r, err);
  return r;
}

int Session::EventfdRead(Fd fd) {
  eventfd_t value = 0xeeeeeeeeeeeeeeee;
  errno = 0;
  const int r = backend_.eventfd_read(fd.num, &value);
  const int err = errno;
  Record("eventfd_read(" + Name(fd) + ")", r, err, "value=" + Hex(value));
  return r;
}

int Session::EventfdWrite(Fd fd, uint64_t value) {
  errno = 0;
  const int r = backend_.eventfd_write(fd.num, value);
  const int err = errno;
  Record("eventfd_write(" + Name(fd) + ", " + std::to_string(value) + ")", r, err);
  return r;
}

ssize_t Session::VectorIo(bool is_write, Fd fd, const std::vector<Seg>& segs) {
  std::vector<std::vector<unsigned char>> bufs;
  std::vector<iovec> iov;
  for (const Seg& seg : segs) {
    bufs.push_back(SegmentBuffer(seg, is_write));
    iov.push_back(iovec{seg.bad ? Address(*seg.bad) : bufs.back().data(), seg.len});
  }
  errno = 0;
  const int cnt = static_cast<int>(iov.size());
  const ssize_t r =
      is_write ? backend_.writev(fd.num, iov.data(), cnt) : backend_.readv(fd.num, iov.data(), cnt);
  const int err = errno;
  std::string detail;
  for (size_t i = 0; !is_write && i < segs.size(); ++i) {
    if (!segs[i].bad) detail += BytesText(bufs[i].data(), segs[i].len);
  }
  Record(std::string(is_write ? "writev(" : "readv(") + Name(fd) + ", " +
             SegmentsText(segs, is_write) + ")",
         r, err, detail);
  return r;
}

ssize_t Session::Readv(Fd fd, const std::vector<Seg>& segs) { return VectorIo(false, fd, segs); }

ssize_t Session::Writev(Fd fd, const std::vector<Seg>& segs) { return VectorIo(true, fd, segs); }

ssize_t Session::VectorCount(bool is_write, Fd fd, int iovcnt, bool null_vector) {
  constexpr int kMaxSegments = 2048;  // twice UIO_MAXIOV
  static uint64_t values[kMaxSegments];
  std::vector<iovec> iov(kMaxSegments);
  for (int i = 0; i < kMaxSegments; ++i) iov[i] = iovec{&values[i], sizeof values[i]};
  std::fill(std::begin(values), std::end(values), 1);
  errno = 0;
  const iovec* vec = null_vector ? nullptr : iov.data();
  const ssize_t r =
      is_write ? backend_.writev(fd.num, vec, iovcnt) : backend_.readv(fd.num, vec, iovcnt);
  const int err = errno;
  Record(std::string(is_write ? "writev(" : "readv(") + Name(fd) + ", " +
             (null_vector ? "NULL" : "8-byte segments") + ", " + std::to_string(iovcnt) + ")",
         r, err);
  return r;
}

ssize_t Session::ReadvCount(Fd fd, int iovcnt, bool null_vector) {
  return VectorCount(false, fd, iovcnt, null_vector);
}

ssize_t Session::WritevCount(Fd fd, int iovcnt, bool null_vector) {
  return VectorCount(true, fd, iovcnt, null_vector);
}

std::pair<Fd, Fd> Session::Pipe2(int flags) {
  int fds[2] = {-1, -1};
  errno = 0;
  const int r = backend_.pipe2(fds, flags);
  const int err = errno;
  std::lock_guard guard(mu_);
  const Fd read_end = Adopt(fds[0]);
  const Fd write_end = Adopt(fds[1]);
  AppendLocked("pipe2(" + Hex(static_cast<unsigned>(flags)) + ") = " +
               (r < 0 ? "-1 " + ErrnoName(err)
                      : "0 [" + NameLocked(read_end) + ", " + NameLocked(write_end) + "]"));
  return {read_end, write_end};
}

// --- descriptors

int Session::Close(Fd fd) {
  errno = 0;
  const int r = backend_.close(fd.num);
  const int err = errno;
  std::lock_guard guard(mu_);
  if (r == 0) open_.erase(fd.num);
  AppendLocked("close(" + NameLocked(fd) + ") = " + std::to_string(r) +
               (r < 0 ? " " + ErrnoName(err) : ""));
  return r;
}

Fd Session::Dup(Fd fd) {
  errno = 0;
  const int r = backend_.dup(fd.num);
  const int err = errno;
  std::lock_guard guard(mu_);
  const Fd out = Adopt(r);
  AppendLocked("dup(" + NameLocked(fd) +
               ") = " + (r < 0 ? "-1 " + ErrnoName(err) : NameLocked(out)));
  return out;
}

Fd Session::Dup2(Fd oldfd, Fd newfd) {
  errno = 0;
  const int r = backend_.dup2(oldfd.num, newfd.num);
  const int err = errno;
  std::lock_guard guard(mu_);
  const Fd out = Adopt(r);
  AppendLocked("dup2(" + NameLocked(oldfd) + ", " + NameLocked(newfd) +
               ") = " + (r < 0 ? "-1 " + ErrnoName(err) : NameLocked(out)));
  return out;
}

Fd Session::Dup3(Fd oldfd, Fd newfd, int flags) {
  errno = 0;
  const int r = backend_.dup3(oldfd.num, newfd.num, flags);
  const int err = errno;
  std::lock_guard guard(mu_);
  const Fd out = Adopt(r);
  AppendLocked("dup3(" + NameLocked(oldfd) + ", " + NameLocked(newfd) + ", " +
               Hex(static_cast<unsigned>(flags)) +
               ") = " + (r < 0 ? "-1 " + ErrnoName(err) : NameLocked(out)));
  return out;
}

int Session::Fcntl(Fd fd, int cmd, unsigned long arg) {
  errno = 0;
  const int r = backend_.fcntl(fd.num, cmd, arg);
  const int err = errno;
  // Flag words read best in hex.
  const std::string result =
      r < 0 ? "-1 " + ErrnoName(err)
            : (cmd == F_GETFL ? Hex(static_cast<unsigned>(r)) : std::to_string(r));
  std::lock_guard guard(mu_);
  AppendLocked("fcntl(" + NameLocked(fd) + ", " + FcntlCmdName(cmd) + ", " + Hex(arg) +
               ") = " + result);
  return r;
}

Fd Session::FcntlDupfd(Fd fd, int cmd, Fd min) {
  errno = 0;
  const int r = backend_.fcntl(fd.num, cmd, static_cast<unsigned long>(min.num));
  const int err = errno;
  std::lock_guard guard(mu_);
  const Fd out = Adopt(r);
  AppendLocked("fcntl(" + NameLocked(fd) + ", " + FcntlCmdName(cmd) + ", " + NameLocked(min) +
               ") = " + (r < 0 ? "-1 " + ErrnoName(err) : NameLocked(out)));
  return out;
}

Fd Session::OpenKernelFile(const char* path, int flags) {
  errno = 0;
  const int r = ::open(path, flags | O_CLOEXEC);
  const int err = errno;
  std::lock_guard guard(mu_);
  const Fd fd = Adopt(r);
  AppendLocked("open(" + std::string(path) + ", " + Hex(static_cast<unsigned>(flags)) +
               ") = " + (r < 0 ? "-1 " + ErrnoName(err) : NameLocked(fd)));
  return fd;
}

Fd Session::KernelEventfd(unsigned initval, int flags) {
  errno = 0;
  const int r = ::eventfd(initval, flags);
  const int err = errno;
  std::lock_guard guard(mu_);
  const Fd fd = Adopt(r);
  AppendLocked("kernel eventfd(" + std::to_string(initval) + ", " +
               Hex(static_cast<unsigned>(flags)) +
               ") = " + (r < 0 ? "-1 " + ErrnoName(err) : NameLocked(fd)));
  return fd;
}

Fd Session::KernelEpollCreate1(int flags) {
  errno = 0;
  const int r = ::epoll_create1(flags);
  const int err = errno;
  std::lock_guard guard(mu_);
  const Fd fd = Adopt(r);
  AppendLocked("kernel epoll_create1(" + Hex(static_cast<unsigned>(flags)) +
               ") = " + (r < 0 ? "-1 " + ErrnoName(err) : NameLocked(fd)));
  return fd;
}

std::pair<Fd, Fd> Session::AdoptPair(const std::string& call, int r, int err, const int fds[2]) {
  std::lock_guard guard(mu_);
  const Fd a = Adopt(r < 0 ? -1 : fds[0]);
  const Fd b = Adopt(r < 0 ? -1 : fds[1]);
  AppendLocked(call + " = " +
               (r < 0 ? "-1 " + ErrnoName(err) : "0 [" + NameLocked(a) + ", " + NameLocked(b) + "]"));
  return {a, b};
}

std::pair<Fd, Fd> Session::KernelPipe2(int flags) {
  int fds[2] = {-1, -1};
  errno = 0;
  const int r = ::pipe2(fds, flags);
  return AdoptPair("kernel pipe2(" + Hex(static_cast<unsigned>(flags)) + ")", r, errno, fds);
}

std::pair<Fd, Fd> Session::KernelSocketpair(int type) {
  int fds[2] = {-1, -1};
  errno = 0;
  const int r = ::socketpair(AF_UNIX, type, 0, fds);
  return AdoptPair("kernel socketpair(AF_UNIX, " + Hex(static_cast<unsigned>(type)) + ")", r,
                   errno, fds);
}

// --- running a scenario

namespace {

std::vector<std::string> RunOn(const Backend& backend, Scenario scenario) {
  Session session(backend);
  scenario(session);
  session.JoinHelpers();
  return session.Trace();
}

}  // namespace

void ExpectSameOnKernelAndUepoll(Scenario scenario) {
  const std::vector<std::string> kernel = RunOn(KernelBackend(), scenario);
  const std::vector<std::string> uepoll = RunOn(UepollBackend(), scenario);
  ExpectSameTraces(kernel, uepoll);
}

void ExpectAsProfiledOnKernelAndUepoll(KernelBehaviour behaviour, Scenario scenario) {
  const std::vector<std::string> kernel = RunOn(KernelBackend(), scenario);
  const std::vector<std::string> uepoll = RunOn(UepollBackend(), scenario);
  ExpectAsProfiled(behaviour, kernel, uepoll);
}

}  // namespace uep::test
