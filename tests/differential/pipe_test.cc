// Pipes on the kernel and on uepoll: masks after every step, capacity and merging, partial
// writes, F_SETPIPE_SZ, errno of bad calls, packet mode, edge-triggered wake-up counts,
// SIGPIPE, blocking I/O and signals. Every scenario runs on both and the traces must match.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "support/pipe_diff.h"
#include "support/scoped_handler.h"
#include "uepoll/uepoll.h"

namespace uep::test {
namespace {

constexpr int kNotificationPipe = O_EXCL;  // O_NOTIFICATION_PIPE

// ---- signals --------------------------------------------------------------------------

std::atomic<int> usr1_count{0};
std::atomic<pid_t> usr1_tid{0};
void OnUsr1(int /*sig*/) {
  usr1_count.fetch_add(1);
  usr1_tid.store(static_cast<pid_t>(syscall(SYS_gettid)));
}

std::atomic<int> sigpipe_count{0};
std::atomic<pid_t> sigpipe_tid{0};
void OnSigpipe(int /*sig*/) {
  sigpipe_count.fetch_add(1);
  sigpipe_tid.store(static_cast<pid_t>(syscall(SYS_gettid)));
}

// Blocks `sig` in the calling thread for the scope; takes any pending instance on exit.
class ScopedBlock {
 public:
  explicit ScopedBlock(int sig) : sig_(sig) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    pthread_sigmask(SIG_BLOCK, &set, &old_);
  }
  ~ScopedBlock() {
    Take();
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  ScopedBlock(const ScopedBlock&) = delete;
  ScopedBlock& operator=(const ScopedBlock&) = delete;

  // Whether the signal was pending (and consumes it).
  bool Take() const {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig_);
    const timespec zero{0, 0};
    return sigtimedwait(&set, nullptr, &zero) == sig_;
  }
  // Pending for this thread specifically (not the process)? /proc's ShdPnd/SigPnd split.
  bool PendingForThread() const {
    sigset_t set;
    sigpending(&set);
    return sigismember(&set, sig_) == 1;
  }

 private:
  int sig_;
  sigset_t old_{};
};

pid_t Gettid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

// ---- masks after each step ----------------------------------------------------------

PIPE_DIFF_TEST(PipeMasks, FreshPipe) {
  PipeFds p = t.Pipe2(0);
  t.PollMask(p.r, "r");
  t.PollMask(p.w, "w");
  t.Fcntl(p.r, "r", F_GETFL, 0, "F_GETFL");
  t.Fcntl(p.w, "w", F_GETFL, 0, "F_GETFL");
  t.Fcntl(p.r, "r", F_GETFD, 0, "F_GETFD");
  t.Fionread(p.r, "r");
  t.Fionread(p.w, "w");
}

PIPE_DIFF_TEST(PipeMasks, WriteReadThenWriterCloses) {
  PipeFds p = t.Pipe2(O_NONBLOCK);
  t.Write(p.w, "w", 1);
  t.PollMask(p.r, "r");
  t.PollMask(p.w, "w");
  t.Read(p.r, "r", 1);
  t.PollMask(p.r, "r");
  t.Read(p.r, "r", 1);
  t.Write(p.w, "w", 10);
  t.Close(p.w, "w");
  t.PollMask(p.r, "r");
  t.Read(p.r, "r", 4);
  t.PollMask(p.r, "r");
  t.Read(p.r, "r", 100);
  t.PollMask(p.r, "r");
  t.Read(p.r, "r", 100);
  t.Read(p.r, "r", 0);
}

PIPE_DIFF_TEST(PipeMasks, ReaderCloses) {
  ScopedBlock block(SIGPIPE);
  PipeFds p = t.Pipe2(O_NONBLOCK);
  t.Write(p.w, "w", 100);
  t.Close(p.r, "r");
  t.PollMask(p.w, "w");
  t.PollMask(p.w, "w", 0);  // ERR is reported even when not asked for
  t.Write(p.w, "w", 1);
  t.Note(std::string("SIGPIPE pending: ") + (block.Take() ? "yes" : "no"));
  t.Write(p.w, "w", 0);  // a null write succeeds and raises nothing
  t.Note(std::string("SIGPIPE pending: ") + (block.Take() ? "yes" : "no"));
}

PIPE_DIFF_TEST(PipeMasks, FullPipeThenReaderCloses) {
  ScopedBlock block(SIGPIPE);
  PipeFds p = t.Pipe2(O_NONBLOCK);
  t.Fill(p.w, "w", 4096);
  t.PollMask(p.w, "w");
  t.Close(p.r, "r");
  t.PollMask(p.w, "w");
  t.Write(p.w, "w", 1);
  t.Note(std::string("SIGPIPE pending: ") + (block.Take() ? "yes" : "no"));
}

PIPE_DIFF_TEST(PipeMasks, HupOnlyAskedForNothing) {
  PipeFds p = t.Pipe2(O_NONBLOCK);
  t.Close(p.w, "w");
  t.PollMask(p.r, "r", 0);
  t.PollMask(p.r, "r", POLLOUT);
}

PIPE_DIFF_TEST(PipeMasks, DupKeepsEndOpen) {
  PipeFds p = t.Pipe2(O_NONBLOCK);
  const int w2 = t.backend.dup(p.w);
  t.Rec("dup(w) >= 0", w2 >= 0 ? 0 : -1);
  t.Close(p.w, "w");
  t.PollMask(p.r, "r");  // a writer is still open: no HUP
  t.Write(w2, "w2", 3);
  t.Close(w2, "w2");
  t.PollMask(p.r, "r");
  t.Read(p.r, "r", 10);
  t.Read(p.r, "r", 10);
}

// ---- capacity, merging, partial writes ------------------------------------------------

PIPE_DIFF_TEST(PipeCapacity, FillWithPages) {
  PipeFds p = t.Pipe2(O_NONBLOCK);
  t.Fill(p.w, "w", 4096);
  t.Fionread(p.r, "r");
  t.PollMask(p.w, "w");
  t.Read(p.r, "r", 1);  // a byte out of a full pipe frees no slot
  t.PollMask(p.w, "w");
  t.Write(p.w, "w", 1);
  t.Read(p.r, "r", 4095);  // now the first slot is free
  t.PollMask(p.w, "w");
  t.Write(p.w, "w", 4097);
  t.Write(p.w, "w", 4096);
  t.Drain(p.r, "r");
}

PIPE_DIFF_TEST(PipeCapacity, FillWithBytes) {
  PipeFds p = t.Pipe2(O_NONBLOCK);
  t.Fill(p.w, "w", 1);
  t.Fionread(p.r, "r");
  t.PollMask(p.w, "w");
  t.Drain(p.r, "r");
  t.PollMask(p.w, "w");
}

PIPE_DIFF_TEST(PipeCapacity, OddSizesMergeOnlyWhenTheyFit) {
  PipeFds p = t.Pipe2(O_NONBLOCK);
  t.Fill(p.w, "w", 3000);  // one page each: 3000 + 3000 does not fit
  t.Fionread(p.r, "r");
  t.Write(p.w, "w", 1096);  // fills the last page exactly
  t.Write(p.w, "w", 1);
  t.Drain(p.r, "r");
  t.Fill(p.w, "w", 5000);
  t.Fionread(p.r, "r");
  t.Drain(p.r, "r");
  t.Fill(p.w, "w", 100);
  t.Drain(p.r, "r");
}

PIPE_DIFF_TEST(PipeCapacity, LargeWritesArePartial) {
  PipeFds p = t.Pipe2(O_NONBLOCK);
  t.Write(p.w, "w", 70000);
  t.Write(p.w, "w", 1);
  t.Drain(p.r, "r");
  t.Write(p.w, "w", 100);
  t.Write(p.w, "w", 70000);  // 368 merged, then 15 whole pages
  t.Fionread(p.r, "r");
  t.Drain(p.r, "r");
  t.Write(p.w, "w", 4000);
  t.Write(p.w, "w", 5000);  // 5000 % 4096 = 904 does not fit behind 4000: 4096 + 904
  t.Fionread(p.r, "r");
  t.Fill(p.w, "w", 1);
  t.Drain(p.r, "r");
}

PIPE_DIFF_TEST(PipeCapacity, AtomicUpToPipeBuf) {
  PipeFds p = t.Pipe2(O_NONBLOCK);
  t.Fill(p.w, "w", 4096, 15UL * 4096);
  t.Write(p.w, "w", 4095);
  t.Write(p.w, "w", 2);  // would need a new slot: all or nothing
  t.Write(p.w, "w", 1);  // merges into the last page
  t.Write(p.w, "w", 1);
  t.PollMask(p.w, "w");
  t.Read(p.r, "r", 4096);
  t.Write(p.w, "w", 4096);
  t.Write(p.w, "w", 4096);
  t.Read(p.r, "r", 8192);
  t.Write(p.w, "w", 8192);  // more than PIPE_BUF: may be split
  t.Drain(p.r, "r");
}

PIPE_DIFF_TEST(PipeCapacity, ReadSpansBuffers) {
  PipeFds p = t.Pipe2(O_NONBLOCK);
  t.Write(p.w, "w", 3000);
  t.Write(p.w, "w", 3000);
  t.Write(p.w, "w", 3000);
  t.Read(p.r, "r", 7000);
  t.Fionread(p.r, "r");
  t.Readv(p.r, "r", {1, 500, 0, 10000});
  t.Readv(p.r, "r", {1, 2});
}

PIPE_DIFF_TEST(PipeCapacity, Vectors) {
  PipeFds p = t.Pipe2(O_NONBLOCK);
  t.Writev(p.w, "w", {1, 2, 3});
  t.Writev(p.w, "w", {4096, 4096, 100});
  t.Writev(p.w, "w", {0, 0});
  t.Fionread(p.r, "r");
  t.Readv(p.r, "r", {3, 3});
  t.Readv(p.r, "r", {5000, 5000});
  t.Drain(p.r, "r");
  t.Writev(p.w, "w", {30000, 30000, 30000});
  t.Drain(p.r, "r");
}

// ---- F_SETPIPE_SZ ----------------------------------------------------------------------

PIPE_DIFF_TEST(PipeSize, RoundingAndLimits) {
  PipeFds p = t.Pipe2(O_NONBLOCK);
  t.Fcntl(p.r, "r", F_GETPIPE_SZ, 0, "F_GETPIPE_SZ");
  const unsigned long sizes[] = {0,
                                 1,
                                 4096,
                                 4097,
                                 12288,
                                 1 << 20,
                                 (1 << 20) + 1,
                                 1UL << 31,
                                 (1UL << 31) + 1,
                                 (1UL << 32) | 4096,
                                 1UL << 32,
                                 ~0UL,
                                 65536};
  for (unsigned long size : sizes) {
    t.Fcntl(p.w, "w", F_SETPIPE_SZ, size, "F_SETPIPE_SZ");
    t.Fcntl(p.r, "r", F_GETPIPE_SZ, 0, "F_GETPIPE_SZ");
  }
}

PIPE_DIFF_TEST(PipeSize, ShrinkBelowContentIsBusy) {
  PipeFds p = t.Pipe2(O_NONBLOCK);
  t.Write(p.w, "w", 5000);  // two slots
  t.Fcntl(p.w, "w", F_SETPIPE_SZ, 4096, "F_SETPIPE_SZ");
  t.Fcntl(p.w, "w", F_SETPIPE_SZ, 8192, "F_SETPIPE_SZ");
  t.PollMask(p.w, "w");  // both slots used: full
  t.Write(p.w, "w", 1);
  t.Read(p.r, "r", 4096);
  t.PollMask(p.w, "w");
  t.Fcntl(p.w, "w", F_SETPIPE_SZ, 4096, "F_SETPIPE_SZ");
  t.Fionread(p.r, "r");
  t.Fill(p.w, "w", 1);
  t.Drain(p.r, "r");
  t.Fill(p.w, "w", 1);
  t.Drain(p.r, "r");
  t.Fcntl(p.w, "w", F_SETPIPE_SZ, 1 << 20, "F_SETPIPE_SZ");
  t.Fill(p.w, "w", 65536);
  t.Drain(p.r, "r");
}

PIPE_DIFF_TEST(PipeSize, WrapAroundThenResize) {
  PipeFds p = t.Pipe2(O_NONBLOCK);
  // Move head and tail around the ring, then resize with data across the wrap.
  for (int i = 0; i < 20; ++i) {
    t.Write(p.w, "w", 4096);
    t.Read(p.r, "r", 4096);
  }
  t.Fill(p.w, "w", 4096, 10UL * 4096);
  t.Read(p.r, "r", 4096UL * 3);
  t.Fcntl(p.w, "w", F_SETPIPE_SZ, 8UL * 4096, "F_SETPIPE_SZ");
  t.Fill(p.w, "w", 1000);
  t.Fcntl(p.w, "w", F_SETPIPE_SZ, 32UL * 4096, "F_SETPIPE_SZ");
  t.Fill(p.w, "w", 1000);
  t.Drain(p.r, "r");
}

PIPE_DIFF_TEST(PipeSize, NotAPipe) {
  const int efd = t.backend.eventfd(0, EFD_NONBLOCK);
  t.Rec("eventfd >= 0", efd >= 0 ? 0 : -1);
  t.Fcntl(efd, "efd", F_GETPIPE_SZ, 0, "F_GETPIPE_SZ");
  t.Fcntl(efd, "efd", F_SETPIPE_SZ, 4096, "F_SETPIPE_SZ");
  t.backend.close(efd);
  PipeFds p = t.Pipe2(0);
  t.Fcntl(p.r, "r", 12345, 0, "cmd 12345");
  t.Fcntl(p.r, "r", F_GETPIPE_SZ + 100, 0, "F_GETPIPE_SZ+100");
}

// ---- errno of bad calls -----------------------------------------------------------------

PIPE_DIFF_TEST(PipeErrors, CreationFlags) {
  const int flags[] = {O_CREAT,
                       O_RDWR,
                       O_WRONLY,
                       static_cast<int>(0x80000000),
                       O_APPEND,
                       O_NOCTTY,
                       O_TRUNC,
                       O_SYNC,
                       O_NOATIME,
                       O_PATH,
                       O_TMPFILE,
                       kNotificationPipe,
                       kNotificationPipe | O_CREAT};
  for (int f : flags) t.Pipe2(f);
  PipeFds p = t.Pipe2(O_CLOEXEC | O_NONBLOCK | O_DIRECT);
  t.Fcntl(p.r, "r", F_GETFL, 0, "F_GETFL");
  t.Fcntl(p.w, "w", F_GETFL, 0, "F_GETFL");
  t.Fcntl(p.r, "r", F_GETFD, 0, "F_GETFD");
  t.Fcntl(p.w, "w", F_GETFD, 0, "F_GETFD");
  t.Rec("pipe2(NULL, 0)", t.backend.pipe2(nullptr, 0));
  t.Rec("pipe2(NULL, O_CREAT)", t.backend.pipe2(nullptr, O_CREAT));
  t.Rec("pipe2(NULL, O_NOTIFICATION_PIPE)", t.backend.pipe2(nullptr, kNotificationPipe));
  int fds[2];
  const int r = t.backend.pipe(fds);
  t.Rec("pipe()", r);
  if (r == 0) {
    t.Fcntl(fds[0], "r2", F_GETFL, 0, "F_GETFL");
    t.Fcntl(fds[1], "w2", F_GETFL, 0, "F_GETFL");
    t.Close(fds[0], "r2");
    t.Close(fds[1], "w2");
  }
}

PIPE_DIFF_TEST(PipeErrors, WrongEnds) {
  PipeFds p = t.Pipe2(O_NONBLOCK);
  char buf[8] = {};
  t.Rec("read(w, 1)", t.backend.read(p.w, buf, 1));
  t.Rec("read(w, 0)", t.backend.read(p.w, buf, 0));
  t.Rec("write(r, 1)", t.backend.write(p.r, buf, 1));
  t.Rec("readv(w, NULL, -1)", t.backend.readv(p.w, nullptr, -1));
  t.Rec("readv(w, NULL, 0)", t.backend.readv(p.w, nullptr, 0));
  t.Rec("writev(r, NULL, 0)", t.backend.writev(p.r, nullptr, 0));
  t.Rec("readv(r, NULL, -1)", t.backend.readv(p.r, nullptr, -1));
  t.Rec("readv(r, NULL, 1)", t.backend.readv(p.r, nullptr, 1));
  t.Rec("readv(r, NULL, 0)", t.backend.readv(p.r, nullptr, 0));
  t.Rec("read(r, 1) empty", t.backend.read(p.r, buf, 1));
  t.Rec("read(r, NULL, 1) empty", t.backend.read(p.r, nullptr, 1));
  t.Rec("write(w, NULL, 0)", t.backend.write(p.w, nullptr, 0));
  t.Rec("read(r, NULL, 0)", t.backend.read(p.r, nullptr, 0));
  t.Rec("ioctl(r, FIONREAD, NULL)", t.backend.ioctl(p.r, FIONREAD, nullptr));
  t.Rec("ioctl(r, 0x1234)", t.backend.ioctl(p.r, 0x1234, nullptr));
  t.Rec("ioctl(r, TCGETS)", t.backend.ioctl(p.r, TCGETS, buf));
  int on = 0;
  t.Rec("ioctl(r, FIONBIO, 0)", t.backend.ioctl(p.r, FIONBIO, &on));
  t.Fcntl(p.r, "r", F_GETFL, 0, "F_GETFL");
  on = 1;
  t.Rec("ioctl(r, FIONBIO, 1)", t.backend.ioctl(p.r, FIONBIO, &on));
  t.Fcntl(p.r, "r", F_GETFL, 0, "F_GETFL");
  t.Rec("ioctl(r, FIOCLEX)", t.backend.ioctl(p.r, FIOCLEX, nullptr));
  t.Fcntl(p.r, "r", F_GETFD, 0, "F_GETFD");
  t.Rec("ioctl(r, FIONCLEX)", t.backend.ioctl(p.r, FIONCLEX, nullptr));
  t.Fcntl(p.r, "r", F_GETFD, 0, "F_GETFD");
  t.Close(p.w, "w");
  t.Rec("read(r, NULL, 1) at EOF", t.backend.read(p.r, nullptr, 1));
  t.Close(p.r, "r");
  t.Rec("read(closed r)", t.backend.read(p.r, buf, 1));
  t.Rec("ioctl(closed r, FIONREAD)", t.backend.ioctl(p.r, FIONREAD, &on));
  t.Rec("fcntl(closed r, F_GETPIPE_SZ)", t.backend.fcntl(p.r, F_GETPIPE_SZ, 0));
}

PIPE_DIFF_TEST(PipeErrors, FaultingBuffers) {
  PipeFds p = t.Pipe2(O_NONBLOCK);
  t.Writev(p.w, "w", {10, 10}, 1);  // empty pipe: no empty buffer is left behind
  t.Fionread(p.r, "r");
  t.PollMask(p.r, "r");
  t.Write(p.w, "w", 5);
  t.Writev(p.w, "w", {10, 10}, 1);  // merge attempt faults: nothing added
  t.Fionread(p.r, "r");
  t.Writev(p.w, "w", {5000, 10}, 1);  // 904 merged, then the page faults: partial
  t.Fionread(p.r, "r");
  t.Readv(p.r, "r", {3, 10}, 1);  // copies 3, faults, consumes nothing
  t.Fionread(p.r, "r");
  t.Rec("read(r, NULL, 10)", t.backend.read(p.r, nullptr, 10));
  t.Fionread(p.r, "r");
  t.Readv(p.r, "r", {0, 10}, 0);  // a NULL segment of length 0 is no fault
  t.Writev(p.w, "w", {10, 0}, 1);
  t.Fionread(p.r, "r");
  t.Drain(p.r, "r");
}

// ---- flags and packet mode --------------------------------------------------------------

PIPE_DIFF_TEST(PipeFlags, SetflNonblockAndDirect) {
  PipeFds p = t.Pipe2(0);
  t.Fcntl(p.r, "r", F_SETFL, O_NONBLOCK, "F_SETFL");
  t.Fcntl(p.r, "r", F_GETFL, 0, "F_GETFL");
  t.Read(p.r, "r", 1);
  t.Fcntl(p.r, "r", F_SETFL, O_DIRECT | O_NONBLOCK, "F_SETFL");
  t.Fcntl(p.r, "r", F_GETFL, 0, "F_GETFL");
  t.Fcntl(p.w, "w", F_SETFL, O_DIRECT | O_NONBLOCK | O_APPEND | O_NOATIME, "F_SETFL");
  t.Fcntl(p.w, "w", F_GETFL, 0, "F_GETFL");
  t.Fcntl(p.w, "w", F_SETFL, O_RDWR | O_CREAT, "F_SETFL");  // access mode is not settable
  t.Fcntl(p.w, "w", F_GETFL, 0, "F_GETFL");
}

PIPE_DIFF_TEST(PipeFlags, PacketMode) {
  PipeFds p = t.Pipe2(O_DIRECT | O_NONBLOCK);
  t.Write(p.w, "w", 10);
  t.Write(p.w, "w", 20);
  t.Write(p.w, "w", 5000);  // two packets: 4096 and 904
  t.Fionread(p.r, "r");
  t.Read(p.r, "r", 5);  // the rest of the packet is dropped
  t.read += 5;
  t.Read(p.r, "r", 100);
  t.Read(p.r, "r", 10000);
  t.Read(p.r, "r", 10000);
  t.Read(p.r, "r", 10000);
  t.Fill(p.w, "w", 1);  // one slot per packet
  t.Fionread(p.r, "r");
  t.Readv(p.r, "r", {1, 1});
}

PIPE_DIFF_TEST(PipeFlags, PacketModeSwitchedOnAndOff) {
  PipeFds p = t.Pipe2(O_NONBLOCK | O_DIRECT);
  t.Write(p.w, "w", 10);  // a packet buffer
  t.Fcntl(p.w, "w", F_SETFL, O_NONBLOCK, "F_SETFL");
  t.Write(p.w, "w", 10);  // cannot merge into a packet: a stream buffer of its own
  t.Fcntl(p.w, "w", F_SETFL, O_DIRECT | O_NONBLOCK, "F_SETFL");
  t.Write(p.w, "w", 10);  // a packet write still merges into a stream buffer
  t.Write(p.w, "w", 5000);
  t.Fionread(p.r, "r");
  t.Read(p.r, "r", 3);
  t.read += 7;
  t.Read(p.r, "r", 100);
  t.Read(p.r, "r", 100);
  t.Read(p.r, "r", 10000);  // the rest of the stream buffer, then one whole packet
  t.Read(p.r, "r", 100);
}

// ---- epoll: wake-up counts and masks ------------------------------------------------------

PIPE_DIFF_TEST(PipeEpoll, EdgeTriggeredReaderSeesEveryWrite) {
  PipeFds p = t.Pipe2(O_NONBLOCK);
  const int ep = t.EpollCreate();
  t.EpollAdd(ep, p.r, "r", EPOLLIN | EPOLLET, 1);
  t.EpollWait(ep, "ep");
  for (int i = 0; i < 3; ++i) {
    t.Write(p.w, "w", 1);
    t.EpollWait(ep, "ep");
  }
  t.Write(p.w, "w", 1);
  t.Write(p.w, "w", 1);
  t.EpollWait(ep, "ep");  // two writes, one report
  t.Write(p.w, "w", 4096);
  t.EpollWait(ep, "ep");
  t.Read(p.r, "r", 1);
  t.EpollWait(ep, "ep");  // reading is no edge for EPOLLIN
  t.Drain(p.r, "r");
  t.EpollWait(ep, "ep");
  t.Fill(p.w, "w", 4096);
  t.EpollWait(ep, "ep");
  t.Write(p.w, "w", 1);  // full: EAGAIN, but the wake-up still happens (poll_usage)
  t.EpollWait(ep, "ep");
  t.Close(p.w, "w");
  t.EpollWait(ep, "ep");
  t.EpollWait(ep, "ep");
}

PIPE_DIFF_TEST(PipeEpoll, EdgeTriggeredWriterWokenOnlyWhenASlotFrees) {
  PipeFds p = t.Pipe2(O_NONBLOCK);
  const int ep = t.EpollCreate();
  t.EpollAdd(ep, p.w, "w", EPOLLOUT | EPOLLET, 2);
  t.EpollWait(ep, "ep");
  t.EpollWait(ep, "ep");
  t.Write(p.w, "w", 10);
  t.EpollWait(ep, "ep");  // writes do not wake the write side
  t.Read(p.r, "r", 10);
  t.EpollWait(ep, "ep");  // the pipe was not full
  t.Fill(p.w, "w", 1);
  t.EpollWait(ep, "ep");
  t.Read(p.r, "r", 1);
  t.EpollWait(ep, "ep");  // full, and no slot freed
  t.Read(p.r, "r", 4095);
  t.EpollWait(ep, "ep");
  t.Read(p.r, "r", 4096);
  t.EpollWait(ep, "ep");  // was not full any more
  t.Fill(p.w, "w", 4096);
  t.Read(p.r, "r", 8192);  // two slots in one read
  t.EpollWait(ep, "ep");
  t.Close(p.r, "r");
  t.EpollWait(ep, "ep");
  t.EpollWait(ep, "ep");
}

PIPE_DIFF_TEST(PipeEpoll, LevelTriggeredBothEnds) {
  PipeFds p = t.Pipe2(O_NONBLOCK);
  const int ep = t.EpollCreate();
  t.EpollAdd(ep, p.r, "r", EPOLLIN | EPOLLRDHUP, 1);
  t.EpollAdd(ep, p.w, "w", EPOLLOUT, 2);
  t.EpollWait(ep, "ep");
  t.Write(p.w, "w", 1);
  t.EpollWait(ep, "ep");
  t.Fill(p.w, "w", 4096);
  t.EpollWait(ep, "ep");
  t.Drain(p.r, "r");
  t.EpollWait(ep, "ep");
  t.Close(p.w, "w");
  t.EpollWait(ep, "ep");
}

PIPE_DIFF_TEST(PipeEpoll, CloseCombinationsEdgeTriggered) {
  for (int order = 0; order < 2; ++order) {
    t.Note(order == 0 ? "-- writer closes first" : "-- reader closes first");
    PipeFds p = t.Pipe2(O_NONBLOCK);
    const int ep = t.EpollCreate();
    const int r2 = t.backend.dup(p.r);
    const int w2 = t.backend.dup(p.w);
    t.EpollAdd(ep, p.r, "r", EPOLLIN | EPOLLET, 1);
    t.EpollAdd(ep, p.w, "w", EPOLLOUT | EPOLLET, 2);
    t.EpollWait(ep, "ep");
    if (order == 0) {
      t.Close(w2, "w2");
      t.EpollWait(ep, "ep");  // another writer is open: nothing
      t.Close(p.w, "w");
      t.EpollWait(ep, "ep");
      t.PollMask(p.r, "r");
      t.Close(r2, "r2");
      t.EpollWait(ep, "ep");
      t.Close(p.r, "r");
      t.EpollWait(ep, "ep");
    } else {
      t.Close(r2, "r2");
      t.EpollWait(ep, "ep");
      t.Close(p.r, "r");
      t.EpollWait(ep, "ep");
      t.PollMask(p.w, "w");
      t.Close(w2, "w2");
      t.EpollWait(ep, "ep");
      t.Close(p.w, "w");
      t.EpollWait(ep, "ep");
    }
  }
}

// Pipes wake their readers' queue one exclusive entry at a time: with EPOLLEXCLUSIVE on two
// instances, a write wakes one sleeping waiter; the writer's close wakes everyone.
PIPE_DIFF_TEST(PipeEpoll, ExclusiveWakesOneWaiter) {
  PipeFds p = t.Pipe2(O_NONBLOCK);
  const int ep1 = t.EpollCreate();
  const int ep2 = t.EpollCreate();
  t.EpollAdd(ep1, p.r, "r", EPOLLIN | EPOLLEXCLUSIVE, 1);
  t.EpollAdd(ep2, p.r, "r", EPOLLIN | EPOLLEXCLUSIVE, 2);
  std::atomic<int> woken{0};
  std::vector<std::thread> waiters;
  for (int ep : {ep1, ep2}) {
    waiters.emplace_back([&t, &woken, ep] {
      epoll_event ev{};
      if (t.backend.epoll_wait(ep, &ev, 1, 3000) == 1) woken.fetch_add(1);
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  t.backend.write(p.w, "x", 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  t.Note("woken by one write: " + std::to_string(woken.load()));
  t.backend.close(p.w);
  for (std::thread& w : waiters) w.join();
  t.Note("woken after the writer's close: " + std::to_string(woken.load()));
}

// ---- SIGPIPE ---------------------------------------------------------------------------------

PIPE_DIFF_TEST(PipeSigpipe, RaisedToTheWritingThread) {
  ScopedHandler handler(SIGPIPE, OnSigpipe, 0);
  PipeFds p = t.Pipe2(0);
  t.Close(p.r, "r");
  sigpipe_count = 0;
  sigpipe_tid = 0;
  pid_t writer_tid = 0;
  std::thread writer([&] {
    writer_tid = Gettid();
    t.Write(p.w, "w", 10);
  });
  writer.join();
  t.Note("SIGPIPE handled " + std::to_string(sigpipe_count.load()) + " time(s), " +
         (sigpipe_tid.load() == writer_tid ? "on the writer" : "elsewhere"));
  t.Writev(p.w, "w", {1, 2});
  t.Note("SIGPIPE handled " + std::to_string(sigpipe_count.load()) + " time(s)");
  t.Write(p.w, "w", 0);
  t.Note("SIGPIPE handled " + std::to_string(sigpipe_count.load()) + " time(s)");
}

PIPE_DIFF_TEST(PipeSigpipe, IgnoredGivesOnlyEpipe) {
  ScopedHandler handler(SIGPIPE, SIG_IGN, 0);
  PipeFds p = t.Pipe2(O_NONBLOCK);
  t.Close(p.r, "r");
  t.Write(p.w, "w", 10);
  t.Write(p.w, "w", 100000);
}

PIPE_DIFF_TEST(PipeSigpipe, BlockedWriterPartialThenReaderGone) {
  ScopedBlock block(SIGPIPE);
  PipeFds p = t.Pipe2(0);
  t.After(100, [&t, r = p.r] {
    t.Read(r, "r", 10);
    t.Close(r, "r");
  });
  t.Write(p.w, "w", 100000);  // 65536 in, blocks, reader reads 10 (no slot), goes
  t.Note(std::string("SIGPIPE pending: ") + (block.Take() ? "yes" : "no"));
}

// ---- blocking I/O and signals --------------------------------------------------------------

PIPE_DIFF_TEST(PipeBlocking, ReadWaitsForWrite) {
  PipeFds p = t.Pipe2(0);
  t.After(50, [&t, w = p.w] { t.Write(w, "w", 10); });
  t.Read(p.r, "r", 100);
  t.JoinHelpers();
  t.After(50, [&t, w = p.w] { t.Close(w, "w"); });
  t.Read(p.r, "r", 100);
}

PIPE_DIFF_TEST(PipeBlocking, LargeWriteCompletesWhileReaderDrains) {
  PipeFds p = t.Pipe2(0);
  t.After(30, [&t, r = p.r] {
    std::vector<unsigned char> buf(10000);
    size_t total = 0;
    while (total < 300000) {
      const ssize_t n = t.backend.read(r, buf.data(), buf.size());
      if (n <= 0) break;
      for (ssize_t i = 0; i < n; ++i) {
        if (buf[static_cast<size_t>(i)] != PatternByte(total + static_cast<size_t>(i))) {
          t.Note("reader: data differs");
          return;
        }
      }
      total += static_cast<size_t>(n);
    }
    t.Note("reader got " + std::to_string(total));
  });
  t.Write(p.w, "w", 300000);
}

PIPE_DIFF_TEST(PipeBlocking, WriterBlockedUntilResize) {
  PipeFds p = t.Pipe2(0);
  t.Fill(p.w, "w", 4096, 65536);
  t.After(50, [&t, w = p.w] { t.Fcntl(w, "w", F_SETPIPE_SZ, 1 << 18, "F_SETPIPE_SZ"); });
  t.Write(p.w, "w", 4096);
  t.JoinHelpers();
  t.Fionread(p.r, "r");
}

PIPE_DIFF_TEST(PipeBlocking, WriterBlockedThenReaderCloses) {
  ScopedBlock block(SIGPIPE);
  PipeFds p = t.Pipe2(0);
  t.Fill(p.w, "w", 4096, 65536);
  t.After(50, [&t, r = p.r] { t.Close(r, "r"); });
  t.Write(p.w, "w", 10);
  t.Note(std::string("SIGPIPE pending: ") + (block.Take() ? "yes" : "no"));
}

// A signal with an SA_RESTART handler: a read that got nothing restarts; a write that put
// some bytes in returns their count.
PIPE_DIFF_TEST(PipeBlocking, SignalsWithRestart) {
  ScopedHandler handler(SIGUSR1, OnUsr1, SA_RESTART);
  PipeFds p = t.Pipe2(0);
  usr1_count = 0;
  const pthread_t self = pthread_self();
  t.After(50, [self] { pthread_kill(self, SIGUSR1); });
  t.After(150, [&t, w = p.w] { t.Write(w, "w", 3); });
  t.Read(p.r, "r", 10);
  t.JoinHelpers();
  t.Note("handled " + std::to_string(usr1_count.load()));
  t.After(50, [self] { pthread_kill(self, SIGUSR1); });
  t.Write(p.w, "w", 100000);
  t.JoinHelpers();
  t.Note("handled " + std::to_string(usr1_count.load()));
  t.Fionread(p.r, "r");
}

PIPE_DIFF_TEST(PipeBlocking, SignalsWithoutRestart) {
  ScopedHandler handler(SIGUSR1, OnUsr1, 0);
  PipeFds p = t.Pipe2(0);
  usr1_count = 0;
  const pthread_t self = pthread_self();
  t.After(50, [self] { pthread_kill(self, SIGUSR1); });
  t.Read(p.r, "r", 10);
  t.JoinHelpers();
  t.Fill(p.w, "w", 4096, 65536);
  t.After(50, [self] { pthread_kill(self, SIGUSR1); });
  t.Write(p.w, "w", 10);  // nothing written yet: EINTR
  t.JoinHelpers();
  t.Note("handled " + std::to_string(usr1_count.load()));
}

PIPE_DIFF_TEST(PipeBlocking, ManyBlockedReadersEachGetData) {
  PipeFds p = t.Pipe2(0);
  std::atomic<int> got{0};
  std::vector<std::thread> readers;
  readers.reserve(4);
  for (int i = 0; i < 4; ++i) {
    readers.emplace_back([&got, &t, r = p.r] {
      char buf[1];
      if (t.backend.read(r, buf, 1) == 1) got.fetch_add(1);
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  for (int i = 0; i < 4; ++i) {
    t.backend.write(p.w, "x", 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (std::thread& th : readers) th.join();
  t.Note("readers that got a byte: " + std::to_string(got.load()));
}

}  // namespace
}  // namespace uep::test
