// poll, ppoll, select and pselect on the kernel and on uepoll (differential), and uep_poll
// over sets that mix uepoll and kernel descriptors (uepoll only: the kernel cannot see a
// uepoll descriptor).
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "support/pipe_diff.h"
#include "support/scoped_handler.h"
#include "uepoll/uepoll.h"

namespace uep::test {
namespace {

using Clock = std::chrono::steady_clock;

std::atomic<int> usr1_count{0};
void OnUsr1(int /*sig*/) { usr1_count.fetch_add(1); }

long MsSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

// poll() of a set, recording the count and every revents.
int PollSet(PipeTrace& t, std::vector<pollfd>& set, const std::vector<std::string>& names,
            int timeout, const char* label = "poll") {
  const int r = t.backend.poll(set.data(), set.size(), timeout);
  std::string detail;
  for (size_t i = 0; i < set.size(); ++i) {
    detail += " " + names[i] + "=" + PollMaskName(static_cast<uint16_t>(set[i].revents));
  }
  t.Rec(std::string(label) + "(" + std::to_string(set.size()) + " fds, " + std::to_string(timeout) +
            ")",
        r, detail);
  return r;
}

// ---- revents ----------------------------------------------------------------------------

PIPE_DIFF_TEST(PollRevents, EveryKindOfEntry) {
  PipeFds a = t.Pipe2(O_NONBLOCK);  // empty
  PipeFds b = t.Pipe2(O_NONBLOCK);  // data, writer gone
  PipeFds c = t.Pipe2(O_NONBLOCK);  // reader gone
  t.Write(b.w, "b.w", 10);
  t.Close(b.w, "b.w");
  t.Close(c.r, "c.r");
  const int closed = t.backend.spare_base();
  std::vector<pollfd> set = {
      {a.r, POLLIN, 0x7f},
      {a.w, POLLOUT, 0},
      {-1, POLLIN, 0x55},
      {-5, 0, 0},
      {closed, POLLIN, 0},
      {b.r, 0, 0},
      {b.r, POLLIN, 0},
      {b.r, POLLOUT | POLLPRI, 0},
      {c.w, 0, 0},
      {c.w, POLLOUT, 0},
      {a.r, POLLRDNORM, 0},
      {a.w, POLLWRNORM | POLLWRBAND, 0},
      {a.w, static_cast<short>(0xffff), 0},
  };
  PollSet(t, set,
          {"a.r", "a.w", "-1", "-5", "closed", "b.r/0", "b.r/IN", "b.r/OUT|PRI", "c.w/0", "c.w/OUT",
           "a.r/RDNORM", "a.w/WRNORM|WRBAND", "a.w/all"},
          0);
  t.Write(a.w, "a.w", 1);
  std::vector<pollfd> one = {{a.r, POLLIN | POLLRDNORM | POLLRDHUP, 0}};
  PollSet(t, one, {"a.r"}, 0);
  std::vector<pollfd> none;
  PollSet(t, none, {}, 0);
}

PIPE_DIFF_TEST(PollRevents, NestedEpollInstance) {
  PipeFds p = t.Pipe2(O_NONBLOCK);
  const int ep = t.EpollCreate();
  t.EpollAdd(ep, p.r, "r", EPOLLIN, 7);
  std::vector<pollfd> set = {{ep, POLLIN | POLLOUT, 0}};
  PollSet(t, set, {"ep"}, 0);
  t.Write(p.w, "w", 1);
  PollSet(t, set, {"ep"}, 0);
  t.Drain(p.r, "r");
  PollSet(t, set, {"ep"}, 0);
  t.After(50, [&t, w = p.w] { t.Write(w, "w", 1); });
  PollSet(t, set, {"ep"}, 2000);
}

PIPE_DIFF_TEST(PollRevents, SameDescriptorTwice) {
  PipeFds p = t.Pipe2(O_NONBLOCK);
  std::vector<pollfd> set = {{p.r, POLLIN, 0}, {p.r, POLLIN, 0}, {p.w, POLLOUT, 0}};
  PollSet(t, set, {"r", "r", "w"}, 0);
  t.After(50, [&t, w = p.w] { t.Write(w, "w", 1); });
  set[2].events = 0;
  PollSet(t, set, {"r", "r", "w/0"}, 5000);
}

// ---- blocking, timeouts, signals -----------------------------------------------------------

PIPE_DIFF_TEST(PollBlocking, TimeoutIsNeverEarly) {
  PipeFds p = t.Pipe2(O_NONBLOCK);
  for (int ms : {1, 20, 100}) {
    std::vector<pollfd> set = {{p.r, POLLIN, 0}};
    const auto start = Clock::now();
    PollSet(t, set, {"r"}, ms);
    t.Note("elapsed >= " + std::to_string(ms) + " ms: " + (MsSince(start) >= ms ? "yes" : "no"));
  }
  const timespec ts{0, 30L * 1000 * 1000};
  pollfd pfd{p.r, POLLIN, 0};
  const auto start = Clock::now();
  t.Rec("ppoll(r, 30ms)", t.backend.ppoll(&pfd, 1, &ts, nullptr));
  t.Note(std::string("elapsed >= 30 ms: ") + (MsSince(start) >= 30 ? "yes" : "no"));
  t.Note("timespec untouched: " + std::string(ts.tv_nsec == 30L * 1000 * 1000 ? "yes" : "no"));
}

PIPE_DIFF_TEST(PollBlocking, WokenByWriteCloseAndFreedSlot) {
  PipeFds p = t.Pipe2(O_NONBLOCK);
  std::vector<pollfd> set = {{p.r, POLLIN, 0}};
  t.After(50, [&t, w = p.w] { t.Write(w, "w", 3); });
  PollSet(t, set, {"r"}, -1);
  t.JoinHelpers();
  t.Drain(p.r, "r");
  t.Fill(p.w, "w", 4096);
  std::vector<pollfd> wset = {{p.w, POLLOUT, 0}};
  // Helpers read without recording: the poller's line would race with theirs.
  t.After(30, [&t, r = p.r] {  // no slot frees
    char sink[100];
    t.backend.read(r, sink, sizeof sink);
  });
  t.After(80, [&t, r = p.r] {  // the first slot frees
    std::vector<char> sink(4000);
    t.backend.read(r, sink.data(), sink.size());
  });
  PollSet(t, wset, {"w"}, 5000);
  t.JoinHelpers();
  t.read += 4100;
  t.Drain(p.r, "r");
  t.After(50, [&t, w = p.w] { t.Close(w, "w"); });
  PollSet(t, set, {"r"}, 5000);
}

PIPE_DIFF_TEST(PollBlocking, PolledDescriptorClosedMeanwhile) {
  PipeFds p = t.Pipe2(O_NONBLOCK);
  std::vector<pollfd> set = {{p.r, POLLIN, 0}};
  // Closing the polled descriptor wakes nobody; the pass after the timeout finds it gone.
  t.After(20, [&t, r = p.r] { t.Close(r, "r"); });
  PollSet(t, set, {"r"}, 150);
}

// Signals `target` every 50 ms until *returned: a signal that lands before the call sleeps
// is handled and gone (on the kernel too), so on a loaded machine one may not be enough.
void SignalUntilReturned(PipeTrace& t, pthread_t target, std::atomic<bool>* returned) {
  t.After(50, [target, returned] {
    while (!returned->load()) {
      pthread_kill(target, SIGUSR1);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
}

PIPE_DIFF_TEST(PollSignals, InterruptedEvenWithRestart) {
  ScopedHandler handler(SIGUSR1, OnUsr1, SA_RESTART);
  usr1_count = 0;
  PipeFds p = t.Pipe2(O_NONBLOCK);
  const pthread_t self = pthread_self();
  std::vector<pollfd> set = {{p.r, POLLIN, 0}};
  for (int timeout : {-1, 5000}) {
    std::atomic<bool> returned{false};
    SignalUntilReturned(t, self, &returned);
    PollSet(t, set, {"r"}, timeout);
    returned = true;
    t.JoinHelpers();
  }
  t.Note(usr1_count.load() >= 2 ? "handled" : "not handled");
}

PIPE_DIFF_TEST(PollSignals, PpollMaskIsAtomic) {
  ScopedHandler handler(SIGUSR1, OnUsr1, 0);
  usr1_count = 0;
  PipeFds p = t.Pipe2(O_NONBLOCK);
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &usr1, &old);
  // Pending before the call, unblocked only by ppoll's mask: EINTR at once.
  pthread_kill(pthread_self(), SIGUSR1);
  sigset_t unblocked;
  pthread_sigmask(SIG_BLOCK, nullptr, &unblocked);
  sigdelset(&unblocked, SIGUSR1);
  pollfd pfd{p.r, POLLIN, 0};
  const timespec long_wait{5, 0};
  t.Rec("ppoll(r, 5s, mask without USR1)", t.backend.ppoll(&pfd, 1, &long_wait, &unblocked));
  t.Note("handled " + std::to_string(usr1_count.load()));
  // The same with a zero timeout: the signal still wins over "nothing ready".
  pthread_kill(pthread_self(), SIGUSR1);
  const timespec zero{0, 0};
  t.Rec("ppoll(r, 0, mask without USR1)", t.backend.ppoll(&pfd, 1, &zero, &unblocked));
  t.Note("handled " + std::to_string(usr1_count.load()));
  // Arriving during the call.
  const pthread_t self = pthread_self();
  t.After(50, [self] { pthread_kill(self, SIGUSR1); });
  t.Rec("ppoll(r, 5s, mask without USR1)", t.backend.ppoll(&pfd, 1, &long_wait, &unblocked));
  t.JoinHelpers();
  t.Note("handled " + std::to_string(usr1_count.load()));
  // Ready descriptors win over a pending signal.
  t.Write(p.w, "w", 1);
  pthread_kill(pthread_self(), SIGUSR1);
  t.Rec("ppoll(r, 5s, mask without USR1) ready", t.backend.ppoll(&pfd, 1, &long_wait, &unblocked));
  t.Note("handled " + std::to_string(usr1_count.load()));
  // A mask that blocks it: the signal waits for the end of the call.
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  t.Note("handled " + std::to_string(usr1_count.load()));
  t.Drain(p.r, "r");
  sigset_t blocked;
  pthread_sigmask(SIG_BLOCK, nullptr, &blocked);
  sigaddset(&blocked, SIGUSR1);
  t.After(20, [self] { pthread_kill(self, SIGUSR1); });
  const timespec short_wait{0, 100L * 1000 * 1000};
  t.Rec("ppoll(r, 100ms, mask with USR1)", t.backend.ppoll(&pfd, 1, &short_wait, &blocked));
  t.JoinHelpers();
  t.Note("handled " + std::to_string(usr1_count.load()));
}

// ---- errors ------------------------------------------------------------------------------

PIPE_DIFF_TEST(PollErrors, ArgumentChecks) {
  PipeFds p = t.Pipe2(O_NONBLOCK);
  pollfd pfd{p.r, POLLIN, 0};
  const timespec bad_ns{0, 1000000000};
  const timespec neg_ns{0, -1};
  const timespec neg_s{-1, 0};
  t.Rec("ppoll(r, {0, 1e9})", t.backend.ppoll(&pfd, 1, &bad_ns, nullptr));
  t.Rec("ppoll(r, {0, -1})", t.backend.ppoll(&pfd, 1, &neg_ns, nullptr));
  t.Rec("ppoll(r, {-1, 0})", t.backend.ppoll(&pfd, 1, &neg_s, nullptr));
  t.Rec("ppoll(NULL, 0, {-1, 0})", t.backend.ppoll(nullptr, 0, &neg_s, nullptr));
  t.Rec("poll(NULL, 1, 0)", t.backend.poll(nullptr, 1, 0));
  t.Rec("poll(NULL, 0, 0)", t.backend.poll(nullptr, 0, 0));
  t.Rec("poll(NULL, 0, 10)", t.backend.poll(nullptr, 0, 10));
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  std::vector<pollfd> big(lim.rlim_cur + 1, pollfd{-1, 0, 0});
  big[0] = pfd;
  t.Rec("poll(RLIMIT_NOFILE + 1 fds)", t.backend.poll(big.data(), big.size(), 0));
  t.Rec("poll(RLIMIT_NOFILE fds)", t.backend.poll(big.data(), big.size() - 1, 0));
  // A raised limit applies at once.
  rlimit high = lim;
  high.rlim_cur = lim.rlim_cur + 10;
  if (setrlimit(RLIMIT_NOFILE, &high) == 0) {
    big.resize(high.rlim_cur + 1, pollfd{-1, 0, 0});
    t.Rec("poll(raised limit fds)", t.backend.poll(big.data(), high.rlim_cur, 0));
    t.Rec("poll(raised limit + 1 fds)", t.backend.poll(big.data(), high.rlim_cur + 1, 0));
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

// Deliberate difference (docs/semantics.md): uep_poll reads RLIMIT_NOFILE only when a call
// asks for more entries than the last reading allowed, so a limit lowered afterwards is
// only noticed by a call beyond the old one. Raising it, or any call beyond the old
// limit, behaves as the kernel.
TEST(PollLimits, LoweredLimitNoticedBeyondTheOldOne) {
  int u[2];
  ASSERT_EQ(0, uep_pipe2(u, O_NONBLOCK));
  rlimit lim{};
  ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &lim));
  std::vector<pollfd> big(lim.rlim_cur + 1, pollfd{-1, 0, 0});
  big[0] = {u[0], POLLIN, 0};
  ASSERT_EQ(0, uep_poll(big.data(), lim.rlim_cur, 0));  // reads the limit
  rlimit low = lim;
  low.rlim_cur = 64;
  ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &low));
  EXPECT_EQ(0, uep_poll(big.data(), 65, 0));                 // the kernel: EINVAL
  EXPECT_EQ(-1, uep_poll(big.data(), lim.rlim_cur + 1, 0));  // beyond the old: read again
  EXPECT_EQ(EINVAL, errno);
  EXPECT_EQ(-1, uep_poll(big.data(), 65, 0));  // and from then on exact
  EXPECT_EQ(EINVAL, errno);
  EXPECT_EQ(0, uep_poll(big.data(), 64, 0));
  ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &lim));
  uep_close(u[0]);
  uep_close(u[1]);
}

// ---- select and pselect: kernel descriptors on both sides ------------------------------------

// uep_select serves kernel descriptors only (uepoll numbers do not fit an fd_set), so both
// backends select over kernel pipes here: what differs is the select implementation.
PIPE_DIFF_TEST(Select, SetsAndErrors) {
  int a[2];
  int b[2];
  if (::pipe2(a, O_NONBLOCK) != 0 || ::pipe2(b, O_NONBLOCK) != 0) return;
  ::write(b[1], "x", 1);
  ::close(b[1]);  // b[0]: data + HUP
  fd_set r;
  fd_set w;
  fd_set x;
  FD_ZERO(&r);
  FD_ZERO(&w);
  FD_ZERO(&x);
  FD_SET(a[0], &r);
  FD_SET(a[1], &r);  // a write end in the read set
  FD_SET(a[0], &w);  // a read end in the write set
  FD_SET(a[1], &w);
  FD_SET(b[0], &r);
  FD_SET(b[0], &x);
  const int nfds = std::max({a[0], a[1], b[0]}) + 1;
  timeval tv{0, 0};
  const int n = t.backend.select(nfds, &r, &w, &x, &tv);
  t.Rec("select(a.r a.w b.r | a.r a.w | b.r)", n,
        std::string("r:") + (FD_ISSET(a[0], &r) ? " a.r" : "") +
            (FD_ISSET(a[1], &r) ? " a.w" : "") + (FD_ISSET(b[0], &r) ? " b.r" : "") +
            " w:" + (FD_ISSET(a[0], &w) ? " a.r" : "") + (FD_ISSET(a[1], &w) ? " a.w" : "") +
            " x:" + (FD_ISSET(b[0], &x) ? " b.r" : ""));
  // A closed descriptor in any set.
  const int closed = b[1];
  FD_ZERO(&r);
  FD_SET(closed, &w);
  tv = {0, 0};
  t.Rec("select(closed in write set)", t.backend.select(closed + 1, &r, &w, nullptr, &tv));
  t.Rec("select(-1)", t.backend.select(-1, nullptr, nullptr, nullptr, &tv));
  timeval bad{0, -1};
  t.Rec("select(tv {0, -1})", t.backend.select(0, nullptr, nullptr, nullptr, &bad));
  timeval neg{-1, 0};
  t.Rec("select(tv {-1, 0})", t.backend.select(0, nullptr, nullptr, nullptr, &neg));
  timeval left{0, 20000};
  FD_ZERO(&r);
  FD_SET(a[0], &r);
  t.Rec("select(a.r, 20ms)", t.backend.select(a[0] + 1, &r, nullptr, nullptr, &left));
  t.Note("time left written back: " + std::to_string(left.tv_sec) + "." +
         std::to_string(left.tv_usec));
  timeval over{0, 1500000};  // 1.5 s in microseconds is accepted
  FD_ZERO(&r);
  FD_SET(b[0], &r);
  t.Rec("select(b.r, {0, 1500000})", t.backend.select(b[0] + 1, &r, nullptr, nullptr, &over));
  const timespec ts{0, 1000};
  const timespec bad_ts{0, 1000000000};
  t.Rec("pselect(b.r)", t.backend.pselect(b[0] + 1, &r, nullptr, nullptr, &ts, nullptr));
  t.Rec("pselect(bad ts)", t.backend.pselect(0, nullptr, nullptr, nullptr, &bad_ts, nullptr));
  ::close(a[0]);
  ::close(a[1]);
  ::close(b[0]);
}

// ---- uepoll only: sets that mix uepoll and kernel descriptors ---------------------------------

struct Mixed {
  int kr = -1, kw = -1;  // a kernel pipe
  int ur = -1, uw = -1;  // a uepoll pipe
  Mixed() {
    int k[2];
    int u[2];
    EXPECT_EQ(0, ::pipe2(k, O_NONBLOCK));
    EXPECT_EQ(0, uep_pipe2(u, O_NONBLOCK));
    kr = k[0];
    kw = k[1];
    ur = u[0];
    uw = u[1];
  }
  ~Mixed() {
    for (int fd : {kr, kw}) {
      if (fd >= 0) ::close(fd);
    }
    for (int fd : {ur, uw}) {
      if (fd >= 0) uep_close(fd);
    }
  }
  Mixed(const Mixed&) = delete;
  Mixed& operator=(const Mixed&) = delete;
};

TEST(PollMixed, ReventsOfBothKinds) {
  Mixed m;
  ASSERT_EQ(1, ::write(m.kw, "k", 1));
  std::vector<pollfd> set = {{m.kr, POLLIN, 0},  {m.ur, POLLIN, 0},
                             {m.kw, POLLOUT, 0}, {m.uw, POLLOUT, 0},
                             {-1, POLLIN, 9},    {uep_fd_base() + 999999, POLLIN, 0},
                             {999999, POLLIN, 0}};
  EXPECT_EQ(5, uep_poll(set.data(), set.size(), 0));
  EXPECT_EQ(POLLIN, set[0].revents);
  EXPECT_EQ(0, set[1].revents);
  EXPECT_EQ(POLLOUT, set[2].revents);
  EXPECT_EQ(POLLOUT, set[3].revents);
  EXPECT_EQ(0, set[4].revents);
  EXPECT_EQ(POLLNVAL, set[5].revents);
  EXPECT_EQ(POLLNVAL, set[6].revents);
  ASSERT_EQ(1, uep_write(m.uw, "u", 1));
  ASSERT_EQ(0, uep_close(m.uw));
  m.uw = -1;
  std::vector<pollfd> two = {{m.kr, POLLIN, 0}, {m.ur, POLLIN, 0}};
  EXPECT_EQ(2, uep_poll(two.data(), two.size(), 0));
  EXPECT_EQ(POLLIN, two[0].revents);
  EXPECT_EQ(POLLIN | POLLHUP, two[1].revents);
}

TEST(PollMixed, EitherKindEndsTheSleep) {
  for (int kind = 0; kind < 2; ++kind) {
    Mixed m;
    std::vector<pollfd> set = {{m.kr, POLLIN, 0}, {m.ur, POLLIN, 0}};
    std::thread writer([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (kind == 0) {
        ASSERT_EQ(1, ::write(m.kw, "k", 1));
      } else {
        ASSERT_EQ(1, uep_write(m.uw, "u", 1));
      }
    });
    const auto start = Clock::now();
    EXPECT_EQ(1, uep_poll(set.data(), set.size(), 5000)) << "kind " << kind;
    writer.join();
    EXPECT_LT(MsSince(start), 4000);
    EXPECT_EQ(kind == 0 ? POLLIN : 0, set[0].revents);
    EXPECT_EQ(kind == 1 ? POLLIN : 0, set[1].revents);
  }
}

TEST(PollMixed, TimeoutAndSignals) {
  Mixed m;
  std::vector<pollfd> set = {{m.kr, POLLIN, 0}, {m.ur, POLLIN, 0}};
  auto start = Clock::now();
  EXPECT_EQ(0, uep_poll(set.data(), set.size(), 60));
  EXPECT_GE(MsSince(start), 60);
  const timespec ts{0, 40L * 1000 * 1000};
  start = Clock::now();
  EXPECT_EQ(0, uep_ppoll(set.data(), set.size(), &ts, nullptr));
  EXPECT_GE(MsSince(start), 40);

  ScopedHandler handler(SIGUSR1, OnUsr1, SA_RESTART);
  usr1_count = 0;
  const pthread_t self = pthread_self();
  std::thread killer([self] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    pthread_kill(self, SIGUSR1);
  });
  EXPECT_EQ(-1, uep_poll(set.data(), set.size(), -1));
  EXPECT_EQ(EINTR, errno);
  killer.join();
  EXPECT_EQ(1, usr1_count.load());

  // ppoll's mask over a mixed set: blocked outside, delivered inside.
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &usr1, &old);
  sigset_t during;
  pthread_sigmask(SIG_BLOCK, nullptr, &during);
  sigdelset(&during, SIGUSR1);
  std::thread killer2([self] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    pthread_kill(self, SIGUSR1);
  });
  const timespec long_wait{5, 0};
  EXPECT_EQ(-1, uep_ppoll(set.data(), set.size(), &long_wait, &during));
  EXPECT_EQ(EINTR, errno);
  killer2.join();
  EXPECT_EQ(2, usr1_count.load());
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

TEST(PollMixed, UepollOnlyWithMask) {
  Mixed m;
  std::vector<pollfd> set = {{m.ur, POLLIN, 0}};
  sigset_t none;
  sigemptyset(&none);
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    ASSERT_EQ(1, uep_write(m.uw, "u", 1));
  });
  const timespec long_wait{5, 0};
  EXPECT_EQ(1, uep_ppoll(set.data(), set.size(), &long_wait, &none));
  writer.join();
  EXPECT_EQ(POLLIN, set[0].revents);
}

TEST(PollMixed, ManyWakeupsFromManyQueues) {
  // Several uepoll pipes and a kernel pipe, one poller, writers hitting all of them: every
  // byte written is eventually seen and nothing sleeps forever.
  constexpr int kPipes = 6;
  constexpr int kRounds = 300;
  int u[kPipes][2];
  for (auto& p : u) ASSERT_EQ(0, uep_pipe2(p, O_NONBLOCK));
  int k[2];
  ASSERT_EQ(0, ::pipe2(k, O_NONBLOCK));
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; i < kRounds; ++i) {
      const int which = i % (kPipes + 1);
      if (which == kPipes) {
        ASSERT_EQ(1, ::write(k[1], "k", 1));
      } else {
        ASSERT_EQ(1, uep_write(u[which][1], "u", 1));
      }
      if (i % 7 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    stop = true;
  });
  int seen = 0;
  while (seen < kRounds) {
    std::vector<pollfd> set;
    for (auto& p : u) set.push_back({p[0], POLLIN, 0});
    set.push_back({k[0], POLLIN, 0});
    const int n = uep_poll(set.data(), set.size(), 5000);
    ASSERT_GT(n, 0) << "a wake-up was lost (seen " << seen << ")";
    char buf[64];
    for (const pollfd& pfd : set) {
      if ((pfd.revents & POLLIN) == 0) continue;
      const ssize_t r =
          pfd.fd == k[0] ? ::read(pfd.fd, buf, sizeof buf) : uep_read(pfd.fd, buf, sizeof buf);
      if (r > 0) seen += static_cast<int>(r);
    }
  }
  writer.join();
  EXPECT_EQ(kRounds, seen);
  for (auto& p : u) {
    uep_close(p[0]);
    uep_close(p[1]);
  }
  ::close(k[0]);
  ::close(k[1]);
}

TEST(PollMixed, SelectPassesKernelDescriptorsThrough) {
  int k[2];
  ASSERT_EQ(0, ::pipe2(k, O_NONBLOCK));
  ASSERT_EQ(1, ::write(k[1], "k", 1));
  fd_set r;
  FD_ZERO(&r);
  FD_SET(k[0], &r);
  timeval tv{1, 0};
  EXPECT_EQ(1, uep_select(k[0] + 1, &r, nullptr, nullptr, &tv));
  EXPECT_TRUE(FD_ISSET(k[0], &r));
  ::close(k[0]);
  ::close(k[1]);
}

}  // namespace
}  // namespace uep::test
