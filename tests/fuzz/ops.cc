// The calls an input decodes into, each run on both sides through Twin::Both.
//
// Nothing may sleep: epoll waits use timeout 0 (a negative timeout only when an event is
// certainly ready, or the call certainly fails first), and a read or write on a blocking
// descriptor happens only when the kernel side certainly completes at once (poll says so,
// the write fits in what poll promises, an eventfd counter has room). If uepoll blocked
// where the kernel did not, libFuzzer's -timeout reports it.
//
// Timers are deterministic: disarmed, armed 2^40 s ahead (never fire during a run), or
// expired at once (1 ns relative, or 1 ns after the clock's epoch) with no interval or an
// interval of an hour, and then both sides are polled until the expiration shows (up to
// 1 s each): from then on the expiration count is exactly 1. TFD_IOC_SET_TICKS sets
// counts directly. Remaining times are compared only as zero / non-zero.
#include "fuzz/ops.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <climits>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>

#include "fuzz/input.h"
#include "fuzz/twin.h"
#include "uepoll/uepoll.h"

namespace uep::fuzz {
namespace {

// <linux/timerfd.h>'s TFD_IOC_SET_TICKS, which clashes with the libc headers.
constexpr unsigned long kTfdIocSetTicks = _IOW('T', 0, uint64_t);
constexpr int kMaxEvents = INT_MAX / static_cast<int>(sizeof(epoll_event));  // EP_MAX_EVENTS
constexpr size_t kBufSize = size_t{2} << 20;  // more than a pipe or a socket can hold
constexpr int kEventBuf = 256;                // more than an instance can have ready here
constexpr int kMaxIov = 1100;
constexpr int kMaxCalls = 256;

struct Buffers {
  unsigned char pattern[kBufSize];  // what writes send
  unsigned char scratch[kBufSize];  // writev segments (values patched in)
  unsigned char read[2][kBufSize];  // what each side's read filled
  epoll_event events[2][kEventBuf];
  iovec iov[2][kMaxIov];
};
Buffers g_buf;

void* KernelHalf() { return reinterpret_cast<void*>(uintptr_t{1} << 63); }  // NOLINT

using test::Hex;

// A pointer argument: the real buffer, NULL, or one in the kernel's half.
enum class Ptr : uint8_t { kGood, kNull, kKernel };
Ptr DecodePtr(uint8_t b) { return b < 224 ? Ptr::kGood : (b & 1) ? Ptr::kNull : Ptr::kKernel; }
const char* PtrName(Ptr p) { return p == Ptr::kGood ? "buf" : p == Ptr::kNull ? "NULL" : "KERNEL"; }
template <class T>
T* Choose(Ptr p, T* good) {
  return p == Ptr::kGood ? good : p == Ptr::kNull ? nullptr : static_cast<T*>(KernelHalf());
}

// An outcome that created descriptors.
Outcome Fds(long ret, std::initializer_list<int> fds, std::initializer_list<Kind> kinds) {
  Outcome o = Result(ret);
  if (ret >= 0) {
    o.fds = fds;
    o.fd_kinds = kinds;
  }
  return o;
}
Outcome NewFd(long ret, Kind kind) { return Fds(ret, {static_cast<int>(ret)}, {kind}); }

// FNV-1a of what a read returned, and whether it wrote past what it reported.
std::string Bytes(const unsigned char* p, long n, size_t room) {
  uint64_t h = 1469598103934665603ULL;
  const size_t len = n > 0 ? static_cast<size_t>(n) : 0;
  for (size_t i = 0; i < len && i < room; ++i) h = (h ^ p[i]) * 1099511628211ULL;
  std::string s = "bytes " + Hex(h);
  if (len >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    s += " first8 " + Hex(v);
  }
  for (size_t i = len; i < len + 16 && i < room; ++i) {
    if (p[i] != 0xee) return s + " WROTE PAST THE RESULT";
  }
  return s;
}

size_t PickSize(Input& in) {
  static const size_t kSizes[] = {0,        1,
                                  7,        8,
                                  9,        16,
                                  64,       100,
                                  4095,     4096,
                                  4097,     65535,
                                  65536,    65537,
                                  70000,    212992,
                                  262144,   8,
                                  8,        uint64_t{1} << 32,
                                  SIZE_MAX, size_t{1} << 63};
  const uint8_t b = in.U8();
  if (b >= 240) return in.U16();
  return kSizes[b % (sizeof kSizes / sizeof kSizes[0])];
}

uint64_t PickValue(Input& in) {
  static const uint64_t kValues[] = {
      1, 1, 2, 3, 7, UINT64_MAX, UINT64_MAX - 1, UINT64_MAX - 2, uint64_t{1} << 32, 0};
  const uint8_t b = in.U8();
  if (b >= 250) return in.U64();
  return kValues[b % (sizeof kValues / sizeof kValues[0])];
}

// The counter of a kernel eventfd, from /proc/self/fdinfo; UINT64_MAX if unreadable.
uint64_t KernelEventfdCount(int fd) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
  FILE* f = std::fopen(path, "re");
  if (f == nullptr) return UINT64_MAX;
  char line[128];
  uint64_t count = UINT64_MAX;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    unsigned long long v;
    if (std::sscanf(line, "eventfd-count: %llx", &v) == 1) count = v;
  }
  std::fclose(f);
  return count;
}

// The kernel side's file status flags of a live slot, or -1.
int KernelFlags(Twin& t, const Ref& r) {
  Kind kind;
  if (!t.LiveKind(r, &kind)) return -1;
  return fcntl(r.num[kKernel], F_GETFL);
}

// Whether a read-type call could sleep on the kernel side (see the file comment).
bool ReadMayBlock(Twin& t, const Ref& r, size_t len, bool msg_call, int msg_flags) {
  Kind kind;
  if (!t.LiveKind(r, &kind)) return false;
  const int fl = KernelFlags(t, r);
  if (fl < 0 || (fl & O_NONBLOCK) != 0 || (msg_flags & MSG_DONTWAIT) != 0) return false;
  if (msg_call && kind != Kind::kSocket) return false;  // ENOTSOCK
  if ((fl & O_ACCMODE) == O_WRONLY || kind == Kind::kEpoll) return false;
  if ((kind == Kind::kEventfd || kind == Kind::kTimerfd) && len < 8) return false;
  if ((msg_flags & MSG_WAITALL) != 0) return true;
  return (t.PollBoth(r, POLLIN) & (POLLIN | POLLHUP | POLLERR)) == 0;
}

// Whether a write-type call could sleep on the kernel side. `values` is the sum of the
// 8-byte values an eventfd would take (saturating), `total` the bytes.
bool WriteMayBlock(Twin& t, const Ref& r, size_t total, uint64_t values, bool msg_call,
                   int msg_flags) {
  Kind kind;
  if (!t.LiveKind(r, &kind)) return false;
  const int fl = KernelFlags(t, r);
  if (fl < 0 || (fl & O_NONBLOCK) != 0 || (msg_flags & MSG_DONTWAIT) != 0) return false;
  if (msg_call && kind != Kind::kSocket) return false;
  if ((fl & O_ACCMODE) == O_RDONLY || kind == Kind::kEpoll || kind == Kind::kTimerfd) return false;
  if (kind == Kind::kEventfd) {
    if (total < 8) return false;
    const uint64_t count = KernelEventfdCount(r.num[kKernel]);
    return values == UINT64_MAX || count > UINT64_MAX - 1 - values;
  }
  const short re = t.PollBoth(r, POLLOUT);
  if ((re & (POLLERR | POLLHUP)) != 0) return false;
  return (re & POLLOUT) == 0 || total > 4096;
}

uint32_t PickEvents(Input& in) {
  static const uint32_t kBase[] = {EPOLLIN,
                                   EPOLLOUT,
                                   EPOLLIN | EPOLLOUT,
                                   EPOLLIN | EPOLLET,
                                   EPOLLIN | EPOLLOUT | EPOLLET,
                                   EPOLLIN | EPOLLONESHOT,
                                   EPOLLOUT | EPOLLET | EPOLLONESHOT,
                                   EPOLLIN | EPOLLRDHUP,
                                   EPOLLIN | EPOLLEXCLUSIVE,
                                   EPOLLIN | EPOLLOUT | EPOLLEXCLUSIVE | EPOLLET,
                                   0,
                                   EPOLLPRI};
  static const uint32_t kExtra[] = {EPOLLRDHUP,  EPOLLPRI,     EPOLLERR,    EPOLLHUP,
                                    EPOLLET,     EPOLLONESHOT, EPOLLWAKEUP, EPOLLEXCLUSIVE,
                                    EPOLLRDNORM, EPOLLWRNORM,  EPOLLMSG,    EPOLLRDBAND};
  const uint8_t b = in.U8();
  if (b >= 240) return in.U32();
  uint32_t events = kBase[b % (sizeof kBase / sizeof kBase[0])];
  const uint8_t e = in.U8();
  if (e >= 128) events |= kExtra[e % (sizeof kExtra / sizeof kExtra[0])];
  return events;
}

std::string OpName(int op) {
  switch (op) {
    case EPOLL_CTL_ADD:
      return "ADD";
    case EPOLL_CTL_MOD:
      return "MOD";
    case EPOLL_CTL_DEL:
      return "DEL";
    default:
      return std::to_string(op);
  }
}

// ---- creating descriptors

void EpollCreate(Twin& t, Input& in) {
  if (t.Full()) return;
  const uint8_t v = in.U8();
  if ((v & 1) != 0) {
    static const int kSizes[] = {1, 0, -1, 100, INT_MIN};
    const int size = kSizes[(v >> 1) % 5];
    t.Both("epoll_create(" + std::to_string(size) + ")",
           [&](const Side& s, int) { return NewFd(s.b.epoll_create(size), Kind::kEpoll); });
    return;
  }
  static const int kFlags[] = {0, EPOLL_CLOEXEC, 0, 1, O_NONBLOCK, EPOLL_CLOEXEC | 1, INT_MIN};
  const int flags = kFlags[(v >> 1) % 7];
  t.Both("epoll_create1(" + Hex(static_cast<unsigned>(flags)) + ")",
         [&](const Side& s, int) { return NewFd(s.b.epoll_create1(flags), Kind::kEpoll); });
}

void Eventfd(Twin& t, Input& in) {
  if (t.Full()) return;
  static const unsigned kInit[] = {0, 1, 2, 0, 5, UINT_MAX};
  const unsigned init = in.Pick(kInit);
  const uint8_t f = in.U8();
  int flags =
      ((f & 1) ? EFD_CLOEXEC : 0) | ((f & 2) ? EFD_NONBLOCK : 0) | ((f & 4) ? EFD_SEMAPHORE : 0);
  if ((f & 0xf8) == 0xf8) flags |= (f & 1) ? O_APPEND : INT_MIN;  // a flag eventfd refuses
  t.Both("eventfd(" + std::to_string(init) + ", " + Hex(static_cast<unsigned>(flags)) + ")",
         [&](const Side& s, int) { return NewFd(s.b.eventfd(init, flags), Kind::kEventfd); });
}

void Pipe(Twin& t, Input& in) {
  if (t.Full()) return;
  const uint8_t f = in.U8();
  int flags = ((f & 1) ? O_NONBLOCK : 0) | ((f & 2) ? O_CLOEXEC : 0) | ((f & 4) ? O_DIRECT : 0);
  if ((f & 0x70) == 0x70) flags |= O_APPEND;  // refused (O_NOTIFICATION_PIPE is not tried)
  const Ptr ptr = (f & 0x80) ? DecodePtr(in.U8()) : Ptr::kGood;
  t.Both("pipe2(" + std::string(PtrName(ptr)) + ", " + Hex(static_cast<unsigned>(flags)) + ")",
         [&](const Side& s, int) {
           int fds[2] = {-1, -1};
           const int r = s.b.pipe2(Choose(ptr, fds), flags);
           return Fds(r, {fds[0], fds[1]}, {Kind::kPipeRead, Kind::kPipeWrite});
         });
}

void Socketpair(Twin& t, Input& in) {
  if (t.Full()) return;
  static const int kTypes[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET, SOCK_STREAM,
                               SOCK_DGRAM,  SOCK_RAW,   SOCK_SEQPACKET, 99};
  const uint8_t v = in.U8();
  int type = kTypes[v % 8] | ((v & 8) ? SOCK_NONBLOCK : 0) | ((v & 16) ? SOCK_CLOEXEC : 0);
  int domain = AF_UNIX;
  int protocol = 0;
  Ptr ptr = Ptr::kGood;
  if ((v & 0xe0) == 0xe0) {  // something wrong
    const uint8_t w = in.U8();
    switch (w % 5) {
      case 0:
        domain = AF_INET;
        break;
      case 1:
        domain = 12345;
        break;
      case 2:
        protocol = (w & 8) ? 1 : -1;
        break;
      case 3:
        type |= O_APPEND;
        break;
      default:
        ptr = DecodePtr(static_cast<uint8_t>(224 + (w >> 3)));
        break;
    }
  }
  t.Both("socketpair(" + std::to_string(domain) + ", " + Hex(static_cast<unsigned>(type)) + ", " +
             std::to_string(protocol) + ", " + PtrName(ptr) + ")",
         [&](const Side& s, int) {
           int sv[2] = {-1, -1};
           const int r = s.b.socketpair(domain, type, protocol, Choose(ptr, sv));
           return Fds(r, {sv[0], sv[1]}, {Kind::kSocket, Kind::kSocket});
         });
}

// Kernel descriptors on both sides: the uepoll side gets real kernel files too (made with
// the raw kernel calls), so the calls that follow (uep_epoll_ctl into uepoll instances,
// waits, I/O, dup, close) run uepoll's handling of kernel descriptors against the kernel's.
void KernelFiles(Twin& t, Input& in) {
  if (t.Full() || !Twin::KernelFilesFit()) return;
  const uint8_t v = in.U8();
  const Side& kernel = Twin::SideOf(kKernel);
  std::string what;
  std::function<Outcome()> make;
  if (v % 3 == 0) {
    static const int kTypes[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET, SOCK_STREAM};
    const int type = kTypes[(v >> 2) % 4] | ((v & 16) ? SOCK_NONBLOCK : 0);
    what = "kernel socketpair(1, " + Hex(static_cast<unsigned>(type)) + ")";
    make = [&kernel, type] {
      int sv[2] = {-1, -1};
      const int r = kernel.b.socketpair(AF_UNIX, type, 0, sv);
      return Fds(r, {sv[0], sv[1]}, {Kind::kSocket, Kind::kSocket});
    };
  } else if (v % 3 == 1) {
    const int flags = ((v & 4) ? O_NONBLOCK : 0) | ((v & 8) ? O_DIRECT : 0);
    what = "kernel pipe2(" + Hex(static_cast<unsigned>(flags)) + ")";
    make = [&kernel, flags] {
      int fds[2] = {-1, -1};
      const int r = kernel.b.pipe2(fds, flags);
      return Fds(r, {fds[0], fds[1]}, {Kind::kPipeRead, Kind::kPipeWrite});
    };
  } else {
    const unsigned init = (v & 4) ? 1 : 0;
    const int flags = ((v & 8) ? EFD_NONBLOCK : 0) | ((v & 16) ? EFD_SEMAPHORE : 0);
    what =
        "kernel eventfd(" + std::to_string(init) + ", " + Hex(static_cast<unsigned>(flags)) + ")";
    make = [&kernel, init, flags] { return NewFd(kernel.b.eventfd(init, flags), Kind::kEventfd); };
  }
  t.Both(what, [&](const Side&, int side) {
    Outcome o = make();
    for (int& fd : o.fds) fd = Twin::Relocate(fd, side);
    if (o.fds.size() == 1) o.ret = o.fds[0];
    o.kernel_files = true;
    return o;
  });
}

void TimerfdCreate(Twin& t, Input& in) {
  if (t.Full()) return;
  // No alarm clocks: a disarmed kernel alarm timer reports the remaining time of its last
  // arming (alarm_init() keeps the old expiry), uepoll's reports none (docs/testing.md).
  static const int kClocks[] = {CLOCK_MONOTONIC,          CLOCK_REALTIME,
                                CLOCK_BOOTTIME,           CLOCK_MONOTONIC,
                                CLOCK_PROCESS_CPUTIME_ID, -1,
                                CLOCK_MONOTONIC_RAW,      CLOCK_BOOTTIME};
  const int clock = in.Pick(kClocks);
  const uint8_t f = in.U8();
  int flags = ((f & 1) ? TFD_NONBLOCK : 0) | ((f & 2) ? TFD_CLOEXEC : 0);
  if ((f & 0xfc) == 0xfc) flags |= O_APPEND;
  t.Both(
      "timerfd_create(" + std::to_string(clock) + ", " + Hex(static_cast<unsigned>(flags)) + ")",
      [&](const Side& s, int) { return NewFd(s.b.timerfd_create(clock, flags), Kind::kTimerfd); });
}

// ---- epoll

void Ctl(Twin& t, Input& in) {
  const Ref ep = t.DecodeRef(in.U8(), in.U8());
  static const int kOps[] = {EPOLL_CTL_ADD,
                             EPOLL_CTL_ADD,
                             EPOLL_CTL_MOD,
                             EPOLL_CTL_DEL,
                             EPOLL_CTL_ADD,
                             EPOLL_CTL_MOD,
                             0,
                             4};
  const int op = in.Pick(kOps);
  const Ref fd = t.DecodeRef(in.U8(), in.U8());
  const uint32_t events = PickEvents(in);
  const uint64_t data = (static_cast<uint64_t>(in.U8()) << 32) | static_cast<uint32_t>(fd.slot);
  const Ptr ptr = DecodePtr(in.U8());
  Holds item = Holds::kUserFiles;
  if (op == EPOLL_CTL_ADD && !t.MayAdd(ep, fd, &item)) return;  // would mix kinds (twin.h)
  // A kernel descriptor as epfd passes the call to the kernel, which does not know uepoll
  // numbers (EBADF; docs/semantics.md, "uepoll descriptors are not kernel descriptors").
  Kind target;
  if (t.IsKfd(ep) && t.LiveKind(fd, &target) && !t.IsKfd(fd)) return;
  const Outcome k =
      t.Both("epoll_ctl(" + ep.name + ", " + OpName(op) + ", " + fd.name + ", " + PtrName(ptr) +
                 "{" + test::EpollMaskName(events) + ", " + Hex(data) + "})",
             [&](const Side& s, int side) {
               epoll_event ev{};
               ev.events = events;
               ev.data.u64 = data;
               return Result(s.b.epoll_ctl(ep.num[side], op, fd.num[side], Choose(ptr, &ev)));
             });
  if (op == EPOLL_CTL_ADD && k.ret == 0) t.Added(ep, fd, item);
}

void Wait(Twin& t, Input& in) {
  const Ref ep = t.DecodeRef(in.U8(), in.U8());
  static const int kMax[] = {
      1, 2, 3, 4, 8, 16, kEventBuf, 0, -1, INT_MIN, kMaxEvents, kMaxEvents + 1, INT_MAX, 1, 64};
  const int maxevents = in.Pick(kMax);
  const uint8_t variant = in.U8();
  const Ptr ptr = DecodePtr(in.U8());
  // Negative timeouts (and pwait2's NULL) wait forever: only where the call cannot sleep.
  bool forever = (variant & 0x80) != 0;
  if (forever && maxevents > 0 && maxevents <= kMaxEvents && ptr != Ptr::kKernel) {
    Kind kind;
    if (t.LiveKind(ep, &kind) && kind == Kind::kEpoll) {
      forever = (t.PollBoth(ep, POLLIN) & POLLIN) != 0;
    }
  }
  static const int kForever[] = {-1, -2, INT_MIN, -1000};
  const int timeout = forever ? kForever[(variant >> 3) % 4] : 0;
  std::string what;
  const int kind = variant % 5;
  switch (kind) {
    case 0:
      what = "epoll_wait";
      break;
    case 1:
      what = "epoll_pwait[NULL mask]";
      break;
    case 2:
      what = "epoll_pwait[empty mask]";
      break;
    case 3:
      what = forever ? "epoll_pwait2[NULL timeout]" : "epoll_pwait2[{0,0}]";
      break;
    default:
      what = (variant & 8) ? "epoll_pwait2[{0,1e9}]" : "epoll_pwait2[{-1,0}]";
      break;
  }
  what += "(" + ep.name + ", " + PtrName(ptr) + ", " + std::to_string(maxevents) + ", " +
          std::to_string(timeout) + ")";
  t.Both(what, [&](const Side& s, int side) {
    epoll_event* buf = g_buf.events[side];
    std::memset(buf, 0xab, sizeof g_buf.events[side]);
    epoll_event* events = Choose(ptr, buf);
    sigset_t empty;
    sigemptyset(&empty);
    const timespec zero{0, 0};
    const timespec bad = (variant & 8) ? timespec{0, 1000000000} : timespec{-1, 0};
    int r = 0;
    switch (kind) {
      case 0:
        r = s.b.epoll_wait(ep.num[side], events, maxevents, timeout);
        break;
      case 1:
        r = s.b.epoll_pwait(ep.num[side], events, maxevents, timeout, nullptr);
        break;
      case 2:
        r = s.b.epoll_pwait(ep.num[side], events, maxevents, timeout, &empty);
        break;
      case 3:
        r = s.b.epoll_pwait2(ep.num[side], events, maxevents, forever ? nullptr : &zero, nullptr);
        break;
      default:
        r = s.b.epoll_pwait2(ep.num[side], events, maxevents, &bad, nullptr);
        break;
    }
    Outcome o = Result(r);
    for (int i = 0; i < r && i < kEventBuf; ++i) {
      o.detail += "[" + test::EpollMaskName(buf[i].events) + " " + Hex(buf[i].data.u64) + "]";
    }
    // Nothing past the events reported may be written.
    const unsigned char* raw = reinterpret_cast<const unsigned char*>(buf);
    const size_t from = r > 0 ? static_cast<size_t>(r) * sizeof(epoll_event) : 0;
    for (size_t i = from; i < sizeof g_buf.events[side]; ++i) {
      if (raw[i] != 0xab) {
        o.detail += " WROTE PAST THE RESULT";
        break;
      }
    }
    return o;
  });
}

// ---- I/O

void Read(Twin& t, Input& in) {
  const Ref fd = t.DecodeRef(in.U8(), in.U8());
  const size_t len = PickSize(in);
  const Ptr ptr = DecodePtr(in.U8());
  if (ReadMayBlock(t, fd, len, false, 0)) return;
  t.Both("read(" + fd.name + ", " + PtrName(ptr) + ", " + std::to_string(len) + ")",
         [&](const Side& s, int side) {
           unsigned char* buf = g_buf.read[side];
           const size_t room = len < kBufSize ? len + 16 : kBufSize;
           std::memset(buf, 0xee, room < kBufSize ? room : kBufSize);
           Outcome o = Result(s.b.read(fd.num[side], Choose(ptr, buf), len));
           if (ptr == Ptr::kGood) o.detail = Bytes(buf, o.ret, room < kBufSize ? room : kBufSize);
           return o;
         });
}

void Write(Twin& t, Input& in) {
  const Ref fd = t.DecodeRef(in.U8(), in.U8());
  const size_t len = PickSize(in);
  const uint64_t value = PickValue(in);
  const size_t off = in.U8();
  const Ptr ptr = DecodePtr(in.U8());
  if (WriteMayBlock(t, fd, len, value, false, 0)) return;
  unsigned char* buf = g_buf.scratch + off;
  std::memcpy(buf, g_buf.pattern + off, len < kBufSize - off ? len : kBufSize - off);
  std::memcpy(buf, &value, sizeof value);
  t.Both("write(" + fd.name + ", " + PtrName(ptr) + "{" + Hex(value) + "...}, " +
             std::to_string(len) + ")",
         [&](const Side& s, int side) {
           return Result(s.b.write(fd.num[side], Choose(ptr, buf), len));
         });
}

// readv/writev: up to 4 segments of chosen lengths (or up to 1024 of 8 bytes), possibly
// one bad segment, a bad vector, or a bad count.
struct Vector {
  int iovcnt;
  Ptr vec;
  int bad_seg;  // -1: none
  Ptr bad_ptr;
  size_t lens[4];
  uint64_t values[4];
  size_t total;
  uint64_t value_sum;
  std::string text;
};

Vector DecodeVector(Input& in) {
  static const int kCounts[] = {1, 2, 3, 4, 1, 2, 0, -1, 1024, 1025, INT_MAX, 1};
  Vector v{};
  v.iovcnt = in.Pick(kCounts);
  v.vec = DecodePtr(in.U8());
  const uint8_t b = in.U8();
  v.bad_seg = b >= 200 ? b % 4 : -1;
  v.bad_ptr = (b & 1) ? Ptr::kNull : Ptr::kKernel;
  static const size_t kLens[] = {8, 8, 0, 1, 7, 9, 16, 100, 4096, 65536, 8, 4};
  v.text = std::string(PtrName(v.vec)) + "{";
  for (int i = 0; i < 4; ++i) {
    v.lens[i] = in.Pick(kLens);
    v.values[i] = PickValue(in);
  }
  const int n = v.iovcnt < 0 ? 0 : v.iovcnt > 1024 ? 0 : v.iovcnt;
  for (int i = 0; i < n; ++i) {
    const size_t len = i < 4 ? v.lens[i] : 8;
    const uint64_t value = i < 4 ? v.values[i] : 1;
    v.total += len;
    if (len >= 8) v.value_sum = v.value_sum > UINT64_MAX - value ? UINT64_MAX : v.value_sum + value;
    if (i < 4) {
      v.text += (i ? ", " : "") + std::string(i == v.bad_seg ? PtrName(v.bad_ptr) : "") +
                std::to_string(len) + ":" + Hex(value);
    }
  }
  if (n > 4) v.text += ", ... x8";
  v.text += "}, " + std::to_string(v.iovcnt);
  return v;
}

// Fills side's iovec array; writev segments carry their values in g_buf.scratch.
iovec* BuildIov(const Vector& v, int side, bool for_write) {
  iovec* iov = g_buf.iov[side];
  const int n = v.iovcnt < 0 ? 0 : v.iovcnt > 1024 ? 1024 : v.iovcnt;
  size_t pos = 0;
  unsigned char* base = for_write ? g_buf.scratch : g_buf.read[side];
  for (int i = 0; i < n; ++i) {
    const size_t len = i < 4 ? v.lens[i] : 8;
    iov[i].iov_base = base + pos;
    iov[i].iov_len = len;
    if (for_write) {
      std::memcpy(base + pos, g_buf.pattern + pos, len);
      const uint64_t value = i < 4 ? v.values[i] : 1;
      std::memcpy(base + pos, &value, len < 8 ? len : 8);
    }
    if (i == v.bad_seg) iov[i].iov_base = Choose(v.bad_ptr, static_cast<void*>(base));
    pos += len + 16;
  }
  return Choose(v.vec, iov);
}

void Readv(Twin& t, Input& in) {
  const Ref fd = t.DecodeRef(in.U8(), in.U8());
  const Vector v = DecodeVector(in);
  if (ReadMayBlock(t, fd, v.total, false, 0)) return;
  t.Both("readv(" + fd.name + ", " + v.text + ")", [&](const Side& s, int side) {
    std::memset(g_buf.read[side], 0xee, 1 << 20);
    const iovec* iov = BuildIov(v, side, false);
    Outcome o = Result(s.b.readv(fd.num[side], iov, v.iovcnt));
    // Each segment's bytes, where the call may have put them.
    const int n = v.iovcnt < 0 ? 0 : v.iovcnt > 4 ? 4 : v.iovcnt;
    size_t pos = 0;
    for (int i = 0; i < n; ++i) {
      o.detail += "|" + Bytes(g_buf.read[side] + pos, static_cast<long>(v.lens[i]), v.lens[i] + 16);
      pos += v.lens[i] + 16;
    }
    return o;
  });
}

void Writev(Twin& t, Input& in) {
  const Ref fd = t.DecodeRef(in.U8(), in.U8());
  const Vector v = DecodeVector(in);
  if (WriteMayBlock(t, fd, v.total, v.value_sum, false, 0)) return;
  t.Both("writev(" + fd.name + ", " + v.text + ")", [&](const Side& s, int side) {
    const iovec* iov = BuildIov(v, side, true);
    return Result(s.b.writev(fd.num[side], iov, v.iovcnt));
  });
}

void EventfdCalls(Twin& t, Input& in) {
  const Ref fd = t.DecodeRef(in.U8(), in.U8());
  const uint8_t v = in.U8();
  if ((v & 1) != 0) {
    const uint64_t value = PickValue(in);
    if (WriteMayBlock(t, fd, 8, value, false, 0)) return;
    t.Both("eventfd_write(" + fd.name + ", " + Hex(value) + ")",
           [&](const Side& s, int side) { return Result(s.b.eventfd_write(fd.num[side], value)); });
    return;
  }
  const Ptr ptr = DecodePtr(in.U8());
  if (ReadMayBlock(t, fd, 8, false, 0)) return;
  t.Both("eventfd_read(" + fd.name + ", " + PtrName(ptr) + ")", [&](const Side& s, int side) {
    eventfd_t value = 0xeeeeeeeeeeeeeeeeULL;
    Outcome o = Result(s.b.eventfd_read(fd.num[side], Choose(ptr, &value)));
    o.detail = Hex(value);
    return o;
  });
}

// sendmsg(): the data in one or two segments, a destination that cannot exist (a path, an
// abstract name, one too short) or none, and control data (own credentials, an unknown
// type, a length too short to hold a header) or none. Descriptor passing is left out
// (uepoll does not support it: docs/semantics.md).
void SendMsg(Twin& t, Input& in, const Ref& fd, size_t len, int flags, Ptr ptr) {
  const uint8_t m = in.U8();
  const int name_kind = m & 3;
  const int ctl_kind = (m >> 2) & 3;
  const bool two = (m & 16) != 0;
  if (WriteMayBlock(t, fd, len, 0, true, flags)) return;
  t.Both("sendmsg(" + fd.name + ", " + PtrName(ptr) + ", " + std::to_string(len) +
             (two ? " in 2" : "") + ", name " + std::to_string(name_kind) + ", control " +
             std::to_string(ctl_kind) + ", " + Hex(static_cast<unsigned>(flags)) + ")",
         [&](const Side& s, int side) {
           sockaddr_un addr{};
           addr.sun_family = AF_UNIX;
           socklen_t namelen = 0;
           if (name_kind == 1) {
             std::strcpy(addr.sun_path, "/nonexistent/uepoll-fuzz");
             namelen = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 25);
           } else if (name_kind == 2) {
             std::memcpy(addr.sun_path, "\0uepoll-fuzz-none", 17);
             namelen = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 17);
           } else if (name_kind == 3) {
             namelen = 1;
           }
           alignas(cmsghdr) unsigned char ctl[CMSG_SPACE(sizeof(ucred))] = {};
           size_t ctllen = 0;
           if (ctl_kind == 1 || ctl_kind == 2) {
             auto* c = reinterpret_cast<cmsghdr*>(ctl);
             c->cmsg_level = SOL_SOCKET;
             c->cmsg_type = ctl_kind == 1 ? SCM_CREDENTIALS : 99;
             c->cmsg_len = CMSG_LEN(sizeof(ucred));
             const ucred cred{getpid(), getuid(), getgid()};
             std::memcpy(CMSG_DATA(c), &cred, sizeof cred);
             ctllen = sizeof ctl;
           } else if (ctl_kind == 3) {
             ctllen = 4;
           }
           const size_t first = two ? len / 2 : len;
           iovec iov[2] = {
               {Choose(ptr, static_cast<void*>(g_buf.pattern)), first},
               {reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(g_buf.pattern) + first),
                len - first}};
           msghdr msg{};
           msg.msg_name = namelen != 0 ? &addr : nullptr;
           msg.msg_namelen = namelen;
           msg.msg_iov = iov;
           msg.msg_iovlen = two ? 2 : 1;
           msg.msg_control = ctllen != 0 ? ctl : nullptr;
           msg.msg_controllen = ctllen;
           return Result(s.b.sendmsg(fd.num[side], &msg, flags));
         });
}

// recvmsg(): one or two segments, with or without room for the address and for control
// data; the address and control lengths and the flags it returns are compared too.
void RecvMsg(Twin& t, Input& in, const Ref& fd, size_t len, int flags, Ptr ptr) {
  const uint8_t m = in.U8();
  const bool want_name = (m & 1) != 0;
  const size_t ctl_room = (m & 2) != 0 ? 64 : 0;
  const bool two = (m & 4) != 0;
  if (ReadMayBlock(t, fd, len, true, flags)) return;
  t.Both("recvmsg(" + fd.name + ", " + PtrName(ptr) + ", " + std::to_string(len) +
             (two ? " in 2" : "") + (want_name ? ", name" : "") +
             (ctl_room != 0 ? ", control" : "") + ", " + Hex(static_cast<unsigned>(flags)) + ")",
         [&](const Side& s, int side) {
           unsigned char* buf = g_buf.read[side];
           const size_t room = len < kBufSize - 16 ? len + 16 : kBufSize;
           std::memset(buf, 0xee, room);
           sockaddr_un addr;
           std::memset(&addr, 0xee, sizeof addr);
           alignas(cmsghdr) unsigned char ctl[64];
           std::memset(ctl, 0xee, sizeof ctl);
           const size_t first = two ? len / 2 : len;
           iovec iov[2] = {
               {Choose(ptr, static_cast<void*>(buf)), first},
               {reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(buf) + first), len - first}};
           msghdr msg{};
           msg.msg_name = want_name ? &addr : nullptr;
           msg.msg_namelen = want_name ? sizeof addr : 0;
           msg.msg_iov = iov;
           msg.msg_iovlen = two ? 2 : 1;
           msg.msg_control = ctl_room != 0 ? ctl : nullptr;
           msg.msg_controllen = ctl_room;
           msg.msg_flags = 0x5a5a;
           Outcome o = Result(s.b.recvmsg(fd.num[side], &msg, flags));
           if (ptr == Ptr::kGood) {
             o.detail =
                 Bytes(buf, o.ret < static_cast<long>(len) ? o.ret : static_cast<long>(len), room);
           }
           o.detail += " namelen " + std::to_string(msg.msg_namelen) + " controllen " +
                       std::to_string(msg.msg_controllen) + " flags " +
                       Hex(static_cast<unsigned>(msg.msg_flags));
           return o;
         });
}

void SendRecv(Twin& t, Input& in) {
  const Ref fd = t.DecodeRef(in.U8(), in.U8());
  const size_t len = PickSize(in);
  const uint8_t v = in.U8();
  const Ptr ptr = DecodePtr(in.U8());
  if ((v & 1) != 0) {
    static const int kFlags[] = {0,
                                 MSG_DONTWAIT,
                                 MSG_NOSIGNAL,
                                 MSG_DONTWAIT | MSG_NOSIGNAL,
                                 MSG_EOR,
                                 MSG_MORE | MSG_DONTWAIT,
                                 MSG_CONFIRM,
                                 0};
    const int flags = kFlags[(v >> 1) % 8];
    if ((v & 0x70) == 0x70) return SendMsg(t, in, fd, len, flags, ptr);
    if (WriteMayBlock(t, fd, len, 0, true, flags)) return;
    t.Both("send(" + fd.name + ", " + PtrName(ptr) + ", " + std::to_string(len) + ", " +
               Hex(static_cast<unsigned>(flags)) + ")",
           [&](const Side& s, int side) {
             return Result(s.b.send(fd.num[side], Choose(ptr, g_buf.pattern), len, flags));
           });
    return;
  }
  static const int kFlags[] = {0,
                               MSG_DONTWAIT,
                               MSG_PEEK,
                               MSG_PEEK | MSG_DONTWAIT,
                               MSG_TRUNC | MSG_DONTWAIT,
                               MSG_WAITALL | MSG_DONTWAIT,
                               MSG_CMSG_CLOEXEC,
                               MSG_TRUNC | MSG_PEEK | MSG_DONTWAIT};
  const int flags = kFlags[(v >> 1) % 8];
  if ((v & 0x70) == 0x70) return RecvMsg(t, in, fd, len, flags, ptr);
  if (ReadMayBlock(t, fd, len, true, flags)) return;
  t.Both("recv(" + fd.name + ", " + PtrName(ptr) + ", " + std::to_string(len) + ", " +
             Hex(static_cast<unsigned>(flags)) + ")",
         [&](const Side& s, int side) {
           unsigned char* buf = g_buf.read[side];
           const size_t room = len < kBufSize - 16 ? len + 16 : kBufSize;
           std::memset(buf, 0xee, room);
           Outcome o = Result(s.b.recv(fd.num[side], Choose(ptr, buf), len, flags));
           if (ptr == Ptr::kGood)
             o.detail =
                 Bytes(buf, o.ret < static_cast<long>(len) ? o.ret : static_cast<long>(len), room);
           return o;
         });
}

void Shutdown(Twin& t, Input& in) {
  const Ref fd = t.DecodeRef(in.U8(), in.U8());
  static const int kHow[] = {SHUT_RD, SHUT_WR, SHUT_RDWR, 3, -1, SHUT_WR};
  const int how = in.Pick(kHow);
  t.Both("shutdown(" + fd.name + ", " + std::to_string(how) + ")",
         [&](const Side& s, int side) { return Result(s.b.shutdown(fd.num[side], how)); });
}

// ---- descriptors

Kind KindOr(Twin& t, const Ref& r) {
  Kind kind = Kind::kEventfd;
  t.LiveKind(r, &kind);
  return kind;
}

void Dup(Twin& t, Input& in) {
  if (t.Full()) return;
  const Ref fd = t.DecodeRef(in.U8(), in.U8());
  const uint8_t v = in.U8();
  const Kind kind = KindOr(t, fd);
  if (v % 3 == 0 || t.IsKfd(fd)) {
    // A kernel descriptor's dup is moved next to its kind (Twin::Relocate).
    const bool kfd = t.IsKfd(fd);
    t.Both("dup(" + fd.name + ")", [&](const Side& s, int side) {
      Outcome o = NewFd(s.b.dup(fd.num[side]), kind);
      if (kfd) {
        for (int& n : o.fds) o.ret = n = Twin::Relocate(n, side);
        o.kernel_files = true;
      }
      o.dup_of = fd.slot;
      return o;
    });
    return;
  }
  const Ref to = t.DecodeRef(in.U8(), in.U8());
  // Onto a kernel descriptor's number: the two sides' numbers are different files.
  if (t.IsKfd(to)) return;
  if (v % 3 == 1) {
    t.Both("dup2(" + fd.name + ", " + to.name + ")", [&](const Side& s, int side) {
      Outcome o = NewFd(s.b.dup2(fd.num[side], to.num[side]), kind);
      o.dup_of = fd.slot;
      return o;
    });
    return;
  }
  static const int kFlags[] = {0, O_CLOEXEC, O_NONBLOCK, -1};
  const int flags = kFlags[(v >> 2) % 4];
  t.Both("dup3(" + fd.name + ", " + to.name + ", " + Hex(static_cast<unsigned>(flags)) + ")",
         [&](const Side& s, int side) {
           Outcome o = NewFd(s.b.dup3(fd.num[side], to.num[side], flags), kind);
           o.dup_of = fd.slot;
           return o;
         });
}

void Fcntl(Twin& t, Input& in) {
  const Ref fd = t.DecodeRef(in.U8(), in.U8());
  const uint8_t v = in.U8();
  const uint8_t a = in.U8();
  switch (v % 9) {
    case 0:
    case 1: {  // O_ASYNC is left out: uepoll ignores it (docs/semantics.md, pipes 3)
      static const int kBits[] = {O_NONBLOCK, O_APPEND, O_DIRECT, O_NOATIME, O_RDWR, O_CLOEXEC};
      int flags = 0;
      for (int i = 0; i < 6; ++i) flags |= (a >> i & 1) ? kBits[i] : 0;
      if (v % 9 == 1) flags = a & 1 ? O_NONBLOCK : 0;
      t.Both("fcntl(" + fd.name + ", F_SETFL, " + Hex(static_cast<unsigned>(flags)) + ")",
             [&](const Side& s, int side) {
               return Result(s.b.fcntl(fd.num[side], F_SETFL, static_cast<unsigned long>(flags)));
             });
      return;
    }
    case 2:
      t.Both("fcntl(" + fd.name + ", F_GETFL)",
             [&](const Side& s, int side) { return Result(s.b.fcntl(fd.num[side], F_GETFL, 0)); });
      return;
    case 3:
      t.Both(
          "fcntl(" + fd.name + ", F_SETFD, " + std::to_string(a % 3) + ")",
          [&](const Side& s, int side) { return Result(s.b.fcntl(fd.num[side], F_SETFD, a % 3)); });
      return;
    case 4:
      t.Both("fcntl(" + fd.name + ", F_GETFD)",
             [&](const Side& s, int side) { return Result(s.b.fcntl(fd.num[side], F_GETFD, 0)); });
      return;
    case 5: {
      if (t.Full()) return;
      // A minimum below both backends' first number means "the lowest free".
      const Ref min = a >= 240 ? Ref{{0, 0}, -1, "0"} : t.DecodeRef(a, in.U8());
      if (t.IsKfd(fd) || t.IsKfd(min)) return;  // dup() covers them (see Dup)
      const int cmd = (v & 0x10) ? F_DUPFD_CLOEXEC : F_DUPFD;
      const Kind kind = KindOr(t, fd);
      t.Both("fcntl(" + fd.name + ", " + (cmd == F_DUPFD ? "F_DUPFD" : "F_DUPFD_CLOEXEC") + ", " +
                 min.name + ")",
             [&](const Side& s, int side) {
               Outcome o = NewFd(
                   s.b.fcntl(fd.num[side], cmd, static_cast<unsigned long>(min.num[side])), kind);
               o.dup_of = fd.slot;
               return o;
             });
      return;
    }
    case 6:
      t.Both("fcntl(" + fd.name + ", F_GETPIPE_SZ)", [&](const Side& s, int side) {
        return Result(s.b.fcntl(fd.num[side], F_GETPIPE_SZ, 0));
      });
      return;
    case 7: {
      static const long kSizes[] = {4096, 8192, 65536, 1 << 20, (1 << 20) + 1,
                                    0,    1,    -1,    12288,   100000};
      const long size = kSizes[a % 10];
      t.Both(
          "fcntl(" + fd.name + ", F_SETPIPE_SZ, " + std::to_string(size) + ")",
          [&](const Side& s, int side) {
            return Result(s.b.fcntl(fd.num[side], F_SETPIPE_SZ, static_cast<unsigned long>(size)));
          });
      return;
    }
    default:
      t.Both("fcntl(" + fd.name + ", 12345)",
             [&](const Side& s, int side) { return Result(s.b.fcntl(fd.num[side], 12345, 0)); });
      return;
  }
}

void Close(Twin& t, Input& in) {
  const Ref fd = t.DecodeRef(in.U8(), in.U8());
  const Outcome k = t.Both("close(" + fd.name + ")", [&](const Side& s, int side) {
    return Result(s.b.close(fd.num[side]));
  });
  if (k.ret == 0 && fd.slot >= 0) t.MarkClosed(fd.slot);
}

// ---- timerfd

std::string Itimer(const itimerspec& v) {
  // Remaining time is wall-clock dependent: compared as zero / non-zero only.
  const bool armed = v.it_value.tv_sec != 0 || v.it_value.tv_nsec != 0;
  return std::string(armed ? "armed" : "disarmed") + " interval " +
         std::to_string(v.it_interval.tv_sec) + "." + std::to_string(v.it_interval.tv_nsec);
}

void TimerfdSettime(Twin& t, Input& in) {
  const Ref fd = t.DecodeRef(in.U8(), in.U8());
  static const int kFlags[] = {
      0, TFD_TIMER_ABSTIME, 0, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, TFD_TIMER_CANCEL_ON_SET,
      4, TFD_TIMER_ABSTIME, 0};
  const int flags = in.Pick(kFlags);
  const uint8_t v = in.U8();
  // it_value: 0 disarm, 1 far ahead, 2 expired at once, 3 bad nsec, 4 negative
  static const timespec kValues[] = {
      {0, 0}, {time_t{1} << 40, 0}, {0, 1}, {0, 1000000000}, {-1, 0}};
  static const timespec kIntervals[] = {{0, 0}, {3600, 0}, {0, 0}, {0, -1}};
  const int vi = v % 5;
  const timespec value = kValues[vi];
  const timespec interval = kIntervals[(v >> 3) % 4];
  const Ptr new_ptr = DecodePtr(in.U8());
  const uint8_t o = in.U8();
  const bool want_old = (o & 1) != 0;
  const Ptr old_ptr = DecodePtr(o);
  const Outcome k = t.Both(
      "timerfd_settime(" + fd.name + ", " + std::to_string(flags) + ", " + PtrName(new_ptr) + "{" +
          std::to_string(value.tv_sec) + "." + std::to_string(value.tv_nsec) + " every " +
          std::to_string(interval.tv_sec) + "." + std::to_string(interval.tv_nsec) + "}, " +
          (want_old ? PtrName(old_ptr) : "NULL") + ")",
      [&](const Side& s, int side) {
        const itimerspec nv{interval, value};
        itimerspec old{{7, 7}, {7, 7}};
        Outcome out = Result(s.b.timerfd_settime(fd.num[side], flags, Choose(new_ptr, &nv),
                                                 want_old ? Choose(old_ptr, &old) : nullptr));
        if (want_old && old_ptr == Ptr::kGood) out.detail = "old " + Itimer(old);
        return out;
      });
  // Settle: let an immediate expiration show on both sides before going on.
  if (k.ret == 0 && vi == 2 && new_ptr == Ptr::kGood) {
    t.AwaitInput(fd);
    t.PollBoth(fd, POLLIN);
  }
}

void TimerfdGettime(Twin& t, Input& in) {
  const Ref fd = t.DecodeRef(in.U8(), in.U8());
  const Ptr ptr = DecodePtr(in.U8());
  t.Both("timerfd_gettime(" + fd.name + ", " + PtrName(ptr) + ")", [&](const Side& s, int side) {
    itimerspec cur{{7, 7}, {7, 7}};
    Outcome o = Result(s.b.timerfd_gettime(fd.num[side], Choose(ptr, &cur)));
    if (ptr == Ptr::kGood) o.detail = Itimer(cur);
    return o;
  });
}

void Ioctl(Twin& t, Input& in) {
  const Ref fd = t.DecodeRef(in.U8(), in.U8());
  const uint8_t v = in.U8();
  const Ptr ptr = DecodePtr(in.U8());
  static const unsigned long kReq[] = {FIONREAD, kTfdIocSetTicks, FIONBIO,         FIOCLEX,
                                       FIONCLEX, FIONREAD,        kTfdIocSetTicks, 0x1234};
  const unsigned long req = kReq[v % 8];
  static const uint64_t kTicks[] = {1, 0, 5, UINT64_MAX};
  const uint64_t ticks = kTicks[(v >> 3) % 4];
  const int nbio = (v >> 5) & 1;
  t.Both("ioctl(" + fd.name + ", " + Hex(req) + ", " + PtrName(ptr) + " ticks " + Hex(ticks) +
             " nbio " + std::to_string(nbio) + ")",
         [&](const Side& s, int side) {
           int64_t arg = req == kTfdIocSetTicks ? static_cast<int64_t>(ticks) : nbio;
           if (req == FIONREAD) arg = -7;
           Outcome o = Result(s.b.ioctl(fd.num[side], req, Choose(ptr, &arg)));
           if (req == FIONREAD) o.detail = std::to_string(static_cast<int>(arg));
           return o;
         });
}

// ---- sockets

void Sockopt(Twin& t, Input& in) {
  const Ref fd = t.DecodeRef(in.U8(), in.U8());
  const uint8_t v = in.U8();
  static const int kNames[] = {SO_TYPE,   SO_ERROR,  SO_DOMAIN,   SO_PROTOCOL, SO_ACCEPTCONN,
                               SO_SNDBUF, SO_RCVBUF, SO_RCVLOWAT, SO_SNDLOWAT, 9999};
  const int name = kNames[v % 10];
  const int level = (v & 0x80) ? SOL_IP : SOL_SOCKET;
  static const socklen_t kLens[] = {4, 4, 0, 2, 8, 4};
  const socklen_t len = kLens[(v >> 4) % 6];
  const Ptr ptr = DecodePtr(in.U8());
  if ((v & 0x40) != 0) {
    // Only calls that leave buffers and watermarks alone (the no-sleep rules rely on them).
    const int value = 1;
    const int setname = name == SO_SNDBUF || name == SO_RCVBUF || name == SO_RCVLOWAT ? 9999 : name;
    t.Both("setsockopt(" + fd.name + ", " + std::to_string(level) + ", " + std::to_string(setname) +
               ", " + PtrName(ptr) + ", " + std::to_string(len) + ")",
           [&](const Side& s, int side) {
             return Result(s.b.setsockopt(fd.num[side], level, setname, Choose(ptr, &value), len));
           });
    return;
  }
  t.Both("getsockopt(" + fd.name + ", " + std::to_string(level) + ", " + std::to_string(name) +
             ", " + PtrName(ptr) + ", " + std::to_string(len) + ")",
         [&](const Side& s, int side) {
           int64_t value = -7;
           socklen_t l = len;
           Outcome o = Result(s.b.getsockopt(fd.num[side], level, name, Choose(ptr, &value), &l));
           o.detail = Hex(static_cast<uint64_t>(value)) + " len " + std::to_string(l);
           return o;
         });
}

// ---- poll and the observable state

void PollSet(Twin& t, Input& in) {
  const int n = in.U8() % 5;
  pollfd set[2][4];
  std::string what = "poll({";
  for (int i = 0; i < n; ++i) {
    const Ref r = t.DecodeRef(in.U8(), in.U8());
    const short events = static_cast<short>(in.U16());
    for (int side = 0; side < 2; ++side) set[side][i] = pollfd{r.num[side], events, 0};
    what += (i ? ", " : "") + r.name + ":" + Hex(static_cast<uint16_t>(events));
  }
  const Ptr ptr = n > 0 ? DecodePtr(in.U8()) : Ptr::kGood;
  what += "}, " + std::string(PtrName(ptr)) + ", 0)";
  t.Both(what, [&](const Side& s, int side) {
    Outcome o = Result(PollNow(s, Choose(ptr, set[side]), static_cast<nfds_t>(n)));
    for (int i = 0; i < n; ++i)
      o.detail += "[" + Hex(static_cast<uint16_t>(set[side][i].revents)) + "]";
    return o;
  });
}

// Every live slot's readiness and queued bytes, compared.
void Snapshot(Twin& t, Input& /*in*/) {
  for (size_t i = 0; i < t.slots().size(); ++i) {
    if (!t.slots()[i].live) continue;
    const Slot& slot = t.slots()[i];
    const Ref r{{slot.num[0], slot.num[1]}, static_cast<int>(i), "s" + std::to_string(i)};
    t.PollBoth(r, POLLIN | POLLOUT | POLLPRI | POLLRDHUP);
    if (slot.kind == Kind::kPipeRead || slot.kind == Kind::kSocket) {
      t.Both("ioctl(" + r.name + ", FIONREAD)", [&](const Side& s, int side) {
        int n = -7;
        Outcome o = Result(s.b.ioctl(r.num[side], FIONREAD, &n));
        o.detail = std::to_string(n);
        return o;
      });
    }
  }
}

using Op = void (*)(Twin&, Input&);
const Op kOps[] = {
    EpollCreate, Eventfd, Pipe,    Socketpair, TimerfdCreate,  Ctl,
    Ctl,         Ctl,     Wait,    Wait,       Wait,           Read,
    Write,       Write,   Readv,   Writev,     EventfdCalls,   SendRecv,
    Shutdown,    Dup,     Fcntl,   Close,      TimerfdSettime, TimerfdGettime,
    Ioctl,       Sockopt, PollSet, Snapshot,   KernelFiles,    KernelFiles,
};

}  // namespace

void FillPattern() {
  for (size_t i = 0; i < kBufSize; ++i) g_buf.pattern[i] = test::PatternByte(i);
}

void RunInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  Twin t;
  for (int calls = 0; calls < kMaxCalls && !in.Empty(); ++calls) {
    kOps[in.U8() % (sizeof kOps / sizeof kOps[0])](t, in);
  }
  Snapshot(t, in);
}

}  // namespace uep::fuzz
