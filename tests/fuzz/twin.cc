#include "fuzz/twin.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>

#include "kernel/kernel_side.h"
#include "uepoll/uepoll.h"

namespace uep::fuzz {
namespace {

std::string Show(const Outcome& o) {
  std::string s = o.ret >= 0 ? std::to_string(o.ret) : "-1 " + test::ErrnoName(o.err);
  if (!o.detail.empty()) s += " " + o.detail;
  if (o.sigpipes != 0) s += " SIGPIPE x" + std::to_string(o.sigpipes);
  return s;
}

}  // namespace

// Open kernel descriptors, without the ones uepoll keeps for the process or the thread
// once made (the links of nested instances, a thread's readiness ring: semantics.md).
std::vector<int> KernelFds() {
  std::vector<int> fds;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return fds;
  const int own = dirfd(dir);
  while (const dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    const int fd = std::atoi(e->d_name);
    if (fd == own || fd == KernelLinksFd()) continue;
    char link[64] = "";
    const std::string path = "/proc/self/fd/" + std::to_string(fd);
    const ssize_t n = readlink(path.c_str(), link, sizeof link - 1);
    if (n > 0 && std::string(link, static_cast<size_t>(n)) == "anon_inode:[io_uring]") continue;
    fds.push_back(fd);
  }
  closedir(dir);
  return fds;
}

int PollNow(const Side& side, pollfd* fds, nfds_t nfds) {
  int r = 0;
  for (int tries = 0; tries < 5; ++tries) {
    r = side.b.poll(fds, nfds, 0);
    if (r >= 0 || errno != EINTR) break;
  }
  return r;
}

const Side& Twin::SideOf(int side) {
  static const Side kSides[2] = {
      {"kernel", test::RawKernelBackend()},
      {"uepoll", test::UepollBackend()},
  };
  return kSides[side];
}

Twin::Twin() : kernel_fds_before_(KernelFds()) {}

Twin::~Twin() { Teardown(); }

void Twin::Teardown() {
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (!slots_[i].live) continue;
    const std::string what = "teardown close(s" + std::to_string(i) + ")";
    Both(what, [&](const Side& s, int side) { return Result(s.b.close(slots_[i].num[side])); });
    slots_[i].live = false;
  }
  // Nothing of this input may stay open on either side.
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (fcntl(slots_[i].num[kKernel], F_GETFD) != -1) {
      Diverged("teardown", "kernel descriptor of s" + std::to_string(i) + " still open");
    }
    if (slots_[i].kfd ? fcntl(slots_[i].num[kUepoll], F_GETFD) != -1
                      : uep_is_uepoll_fd(slots_[i].num[kUepoll]) != 0) {
      Diverged("teardown", "uepoll descriptor of s" + std::to_string(i) + " still open");
    }
  }
  const std::vector<int> now = KernelFds();
  if (now != kernel_fds_before_) {
    std::string open;
    for (int fd : now) {
      char link[128] = "";
      const std::string path = "/proc/self/fd/" + std::to_string(fd);
      const ssize_t n = readlink(path.c_str(), link, sizeof link - 1);
      open += " " + std::to_string(fd) + (n > 0 ? "=" + std::string(link, n) : "");
    }
    std::string before;
    for (int fd : kernel_fds_before_) before += " " + std::to_string(fd);
    Diverged("teardown", "kernel descriptors open now:" + open + "; before the input:" + before);
  }
}

Ref Twin::DecodeRef(uint8_t byte, uint8_t extra) {
  if (byte < 224 && !slots_.empty()) {
    const int i = byte % static_cast<int>(slots_.size());
    const Slot& slot = slots_[i];
    Ref r{{slot.num[0], slot.num[1]}, i, "s" + std::to_string(i)};
    if (!slot.live) {
      r.name += "(closed)";
      // A closed slot's kernel number is closed unless something outside the fuzzer took
      // it, which would make the two sides incomparable (and unsafe to close).
      if (fcntl(slot.num[kKernel], F_GETFD) != -1) {
        Diverged(r.name, "kernel descriptor " + std::to_string(slot.num[kKernel]) +
                             " was opened behind the fuzzer's back");
      }
    }
    return r;
  }
  const test::Backend& k = SideOf(kKernel).b;
  const test::Backend& u = SideOf(kUepoll).b;
  Ref r{{-1, -1}, -1, ""};
  switch (byte % 8) {
    case 0:
      r = Ref{{-1, -1}, -1, "-1"};
      break;
    case 1:
      r = Ref{{INT_MIN, INT_MIN}, -1, "INT_MIN"};
      break;
    case 2:
      r = Ref{{INT_MAX, INT_MAX}, -1, "INT_MAX"};
      break;
    case 3:
    case 4: {
      const int j = extra % 4;
      r = Ref{{k.spare_base() + j, u.spare_base() + j}, -1, "spare+" + std::to_string(j)};
      break;
    }
    case 5:
      r = Ref{{k.fd_limit(), u.fd_limit()}, -1, "limit"};
      break;
    case 6:
      r = Ref{{k.fd_limit() - 1, u.fd_limit() - 1}, -1, "limit-1"};
      break;
    default:
      r = Ref{{-2, -2}, -1, "-2"};
      break;
  }
  // A spare number may hold a slot already (dup2 put it there).
  const int i = FindSlot(kKernel, r.num[kKernel]);
  if (i >= 0) {
    r.slot = i;
    r.name = "s" + std::to_string(i) + (slots_[i].live ? "" : "(closed)");
  }
  return r;
}

bool Twin::LiveKind(const Ref& r, Kind* kind) const {
  if (r.slot < 0 || !slots_[r.slot].live) return false;
  *kind = slots_[r.slot].kind;
  return true;
}

short Twin::PollBoth(const Ref& r, short events, int timeout_ms) {
  const std::string what = "poll(" + r.name + ", " + test::PollMaskName(events) + ", " +
                           std::to_string(timeout_ms) + ")";
  short revents[2] = {0, 0};
  Both(what, [&](const Side& s, int side) {
    pollfd p{r.num[side], events, 0};
    Outcome o = Result(timeout_ms == 0 ? PollNow(s, &p, 1) : s.b.poll(&p, 1, timeout_ms));
    revents[side] = p.revents;
    o.detail = test::PollMaskName(static_cast<unsigned short>(p.revents));
    return o;
  });
  return revents[kKernel];
}

void Twin::AwaitInput(const Ref& r) {
  for (int side = 0; side < 2; ++side) {
    pollfd p{r.num[side], POLLIN, 0};
    for (int tries = 0; tries < 5; ++tries) {
      const int n = SideOf(side).b.poll(&p, 1, 1000);
      if (n > 0 || (n < 0 && errno != EINTR)) break;
    }
  }
  log_.push_back("(waited for " + r.name + " to become readable)");
}

int Twin::FindSlot(int side, int num) const {
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].num[side] == num) return static_cast<int>(i);
  }
  return -1;
}

namespace {
// Above the numbers either side uses otherwise, below the spare numbers (1000).
constexpr int kKernelFileBase[2] = {200, 500};
}  // namespace

bool Twin::KernelFilesFit() {
  return SideOf(kKernel).b.spare_base() >=
         kKernelFileBase[kUepoll] + 2 * static_cast<int>(kMaxSlots);
}

int Twin::Relocate(int fd, int side) {
  const int cloexec = fcntl(fd, F_GETFD) & FD_CLOEXEC;
  const int moved = fcntl(fd, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, kKernelFileBase[side]);
  if (moved < 0) {
    std::fprintf(stderr, "fuzzer: F_DUPFD(%d, %d) failed: %s\n", fd, kKernelFileBase[side],
                 test::ErrnoName(errno).c_str());
    std::abort();
  }
  syscall(SYS_close, fd);
  return moved;
}

bool Twin::MayAdd(const Ref& ep, const Ref& fd, Holds* what) const {
  *what = Holds::kUserFiles;
  if (fd.slot >= 0 && slots_[fd.slot].live) {
    const Slot& f = slots_[fd.slot];
    const Holds inner = files_[f.file].holds;
    if (f.kfd) {
      *what = Holds::kKernelFds;
    } else if (f.kind == Kind::kEpoll &&
               (inner == Holds::kKernelFds || inner == Holds::kNestedKernel)) {
      *what = Holds::kNestedKernel;
    }
  }
  if (ep.slot < 0 || !slots_[ep.slot].live || slots_[ep.slot].kind != Kind::kEpoll) return true;
  const FileState& e = files_[slots_[ep.slot].file];
  if (e.holds != Holds::kNothing) return e.holds == *what;
  // An instance already watched as a user item must not turn into a kernel-backed one.
  return *what == Holds::kUserFiles || !e.watched;
}

void Twin::Added(const Ref& ep, const Ref& fd, Holds what) {
  if (ep.slot >= 0) files_[slots_[ep.slot].file].holds = what;
  if (fd.slot >= 0) files_[slots_[fd.slot].file].watched = true;
}

void Twin::Adopt(const std::string& what, int knum, int unum, Kind kind, bool kfd, int dup_of) {
  const int ks = FindSlot(kKernel, knum);
  const int us = FindSlot(kUepoll, unum);
  if (ks != us) {
    Diverged(what, "new descriptor lands in slot " + std::to_string(ks) + " on the kernel, " +
                       std::to_string(us) + " on uepoll (-1: a number never seen)");
  }
  int file = dup_of >= 0 ? slots_[dup_of].file : static_cast<int>(files_.size());
  if (dup_of < 0) files_.emplace_back();
  if (ks >= 0) {
    slots_[ks].kind = kind;
    slots_[ks].live = true;
    slots_[ks].kfd = kfd;
    slots_[ks].file = file;
    return;
  }
  slots_.push_back(Slot{{knum, unum}, kind, true, kfd, file});
}

void Twin::Compare(const std::string& what, Outcome out[2]) {
  const Outcome& k = out[kKernel];
  const Outcome& u = out[kUepoll];
  // A call that returns a descriptor is compared by slot below, not by number.
  const bool returns_fd = !k.fds.empty() || !u.fds.empty();
  const bool same = (returns_fd ? (k.ret >= 0) == (u.ret >= 0) : k.ret == u.ret) &&
                    k.err == u.err && k.detail == u.detail && k.sigpipes == u.sigpipes &&
                    k.fds.size() == u.fds.size();
  log_.push_back(what + " = " + Show(k) + (same ? "" : "   <-- uepoll: " + Show(u)));
  if (!same) Diverged(what, "kernel: " + Show(k) + "\nuepoll: " + Show(u));
  for (size_t i = 0; i < k.fds.size(); ++i) {
    Adopt(what, k.fds[i], u.fds[i], k.fd_kinds[i], k.kernel_files, k.dup_of);
  }
  if (!k.fds.empty()) {
    std::string slots;
    for (int fd : k.fds) slots += " s" + std::to_string(FindSlot(kKernel, fd));
    log_.back() += "  ->" + slots;
  }
}

void Twin::Diverged(const std::string& what, const std::string& why) {
  std::fprintf(stderr, "\n==== uepoll differential fuzzer: divergence from the kernel\n");
  std::fprintf(stderr, "calls of this input (kernel's result; uepoll's where it differs):\n");
  for (const std::string& line : log_) std::fprintf(stderr, "  %s\n", line.c_str());
  std::fprintf(stderr, "at: %s\n%s\n", what.c_str(), why.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace uep::fuzz
