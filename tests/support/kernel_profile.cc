#include "support/kernel_profile.h"

#include <gtest/gtest.h>
#include <sys/utsname.h>

#include <cstdio>
#include <cstdlib>

#include "support/trace_text.h"

namespace uep::test {

namespace {

// Takes the decimal number at the start of `text`.
bool TakeNumber(std::string_view* text, int* out) {
  size_t n = 0;
  int v = 0;
  while (n < text->size() && (*text)[n] >= '0' && (*text)[n] <= '9' && v < 100000) {
    v = v * 10 + ((*text)[n] - '0');
    ++n;
  }
  if (n == 0) return false;
  *out = v;
  text->remove_prefix(n);
  return true;
}

}  // namespace

std::optional<KernelVersion> ParseKernelRelease(std::string_view release) {
  KernelVersion v;
  if (!TakeNumber(&release, &v.major) || release.empty() || release.front() != '.') {
    return std::nullopt;
  }
  release.remove_prefix(1);
  if (!TakeNumber(&release, &v.minor)) return std::nullopt;
  if (!release.empty() && release.front() == '.') {
    release.remove_prefix(1);
    if (!TakeNumber(&release, &v.patch)) v.patch = 0;
  }
  return v;
}

std::string VersionName(const KernelVersion& v) {
  return std::to_string(v.major) + "." + std::to_string(v.minor) + "." + std::to_string(v.patch);
}

// Each row: the old side as read in the 6.1 sources (Debian 12's linux-source-6.1), the new
// side as the running kernel showed it to the differential tests or as its change is dated.
const std::vector<KernelProfileRow>& KernelProfileTable() {
  static const std::vector<KernelProfileRow> table = {
      {KernelBehaviour::kEpollWaitLooksUpDescriptorFirst,
       "epoll_wait argument check order",
       "maxevents (EINVAL), then access_ok() on the events buffer (EFAULT), then the "
       "descriptor (EBADF), then its type (EINVAL)",
       "the descriptor (EBADF) first, then maxevents, access_ok(), the type",
       {6, 1, 0},
       {6, 18, 0},
       "6.1: do_epoll_wait() in fs/eventpoll.c; 6.18: WaitErrors tests on 6.18.44",
       "src/capi/epoll.cc DoEpollWait (Lookup before the maxevents check)"},
      {KernelBehaviour::kUnixDgramSizeCheckedBeforePeer,
       "unix datagram send: size before peer",
       "unix_peer_get() (ENOTCONN) before the size check (EMSGSIZE), the allocation and the "
       "copy (EFAULT)",
       "EMSGSIZE, the allocation and the copy before the peer lookup (ENOTCONN)",
       {6, 1, 0},
       {6, 18, 0},
       "6.1: unix_dgram_sendmsg() in net/unix/af_unix.c; 6.18: DgramSendSizeBeforePeer on "
       "6.18.44",
       "src/files/unix_socket.cc UnixSocket::DgramSend (no_peer answered after the copy)"},
      {KernelBehaviour::kPipeReadWakesWritersOnlyForAFreedSlot,
       "pipe read wakes writers (EPOLLOUT key)",
       "every read of a pipe that was full when the read began (was_full), even one that "
       "frees no slot",
       "only a read that frees a slot of a full pipe",
       {6, 1, 0},
       {6, 14, 0},
       "6.1: pipe_read() in fs/pipe.c; 6.14: anon_pipe_read()'s wake_writer. epoll_wait "
       "re-polls a woken item, so the extra wake-up of the old side reports nothing: no "
       "differential scenario shows it",
       "src/files/pipe.cc PipeFile::Read (wake_writer)"},
  };
  return table;
}

const KernelProfileRow& KernelProfileRowOf(KernelBehaviour behaviour) {
  for (const KernelProfileRow& row : KernelProfileTable()) {
    if (row.behaviour == behaviour) return row;
  }
  std::abort();  // every behaviour has its row
}

std::string RunningKernelRelease() {
  if (const char* env = std::getenv("UEPOLL_TEST_KERNEL_RELEASE"); env != nullptr && *env != 0) {
    return env;
  }
  utsname u{};
  if (uname(&u) != 0) return "";
  return u.release;
}

KernelVersion RunningKernelVersion() {
  const std::string release = RunningKernelRelease();
  const std::optional<KernelVersion> v = ParseKernelRelease(release);
  if (!v) {
    ADD_FAILURE() << "cannot read a kernel version off the release \"" << release << "\"";
    return {};
  }
  return *v;
}

KernelSide SideOf(KernelBehaviour behaviour, const KernelVersion& version) {
  const KernelProfileRow& row = KernelProfileRowOf(behaviour);
  // A release is known by its major.minor: the stable updates of a line keep its side.
  const KernelVersion line{version.major, version.minor, 0};
  if (line <= row.old_until) return KernelSide::kOld;
  if (line >= row.new_since) return KernelSide::kNew;
  return KernelSide::kUnknown;
}

KernelSide RunningKernelSide(KernelBehaviour behaviour) {
  return SideOf(behaviour, RunningKernelVersion());
}

void ExpectAsProfiled(KernelBehaviour behaviour, const std::vector<std::string>& kernel,
                      const std::vector<std::string>& uepoll) {
  const KernelProfileRow& row = KernelProfileRowOf(behaviour);
  ::testing::Test::RecordProperty("kernel_profile", row.name);
  if (RunningKernelSide(behaviour) != KernelSide::kOld) {
    ExpectSameTraces(kernel, uepoll);
    return;
  }
  // uepoll has the new side, this kernel the old one: the scenario must show it.
  if (kernel == uepoll) {
    ADD_FAILURE() << "kernel " << RunningKernelRelease() << " is profiled with the old side of \""
                  << row.name << "\" (" << row.old_side
                  << "), but this scenario showed no difference: the profile is wrong here\n"
                  << SideBySide(kernel, uepoll);
    return;
  }
  std::printf("kernel %s differs from uepoll by \"%s\" (kernel: %s; uepoll: %s):\n%s",
              RunningKernelRelease().c_str(), row.name, row.old_side, row.new_side,
              SideBySide(kernel, uepoll).c_str());
}

}  // namespace uep::test
