// Pipes and socket pairs handed to a child (files/kernel_convert.h): with kernel numbering,
// fork(), uep_posix_spawn() and friends turn uepoll's pipes and socket pairs into kernel
// ones in the parent first, so that both processes share them. Each scenario runs on the
// kernel's calls and on uepoll's, and the two logs must be equal: data kept in order
// (bytes, records), flags and close-on-exec per number, shutdown state, and epoll items on
// a uepoll instance that go on reporting (level- and edge-triggered, one-shot, data kept).
// Threads blocked in read, recv and epoll_wait when the process forks do not hang.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "uepoll/uepoll.h"

extern char** environ;

namespace {

// Before main: the descriptor table does not exist yet. A write to a pipe nobody reads
// fails the check that made it instead of ending the test program.
const int numbering_rc = (signal(SIGPIPE, SIG_IGN), uep_set_numbering(UEP_NUMBERING_KERNEL));

struct KernelApi {
  static int pipe2(int* p, int flags) { return ::pipe2(p, flags); }
  static int socketpair(int type, int* sv) { return ::socketpair(AF_UNIX, type, 0, sv); }
  static ssize_t read(int fd, void* b, size_t n) { return ::read(fd, b, n); }
  static ssize_t write(int fd, const void* b, size_t n) { return ::write(fd, b, n); }
  static ssize_t recv(int fd, void* b, size_t n, int f) { return ::recv(fd, b, n, f); }
  static ssize_t send(int fd, const void* b, size_t n, int f) { return ::send(fd, b, n, f); }
  static int shutdown(int fd, int how) { return ::shutdown(fd, how); }
  static int close(int fd) { return ::close(fd); }
  static int dup(int fd) { return ::dup(fd); }
  static int dup2(int a, int b) { return ::dup2(a, b); }
  static int fcntl(int fd, int cmd, long arg = 0) { return ::fcntl(fd, cmd, arg); }
  static int epoll_create1(int f) { return ::epoll_create1(f); }
  static int epoll_ctl(int ep, int op, int fd, epoll_event* ev) { return ::epoll_ctl(ep, op, fd, ev); }
  static int epoll_wait(int ep, epoll_event* ev, int n, int t) { return ::epoll_wait(ep, ev, n, t); }
  static int spawn(pid_t* pid, const char* path, const posix_spawn_file_actions_t* fa,
                   char* const argv[]) {
    return ::posix_spawn(pid, path, fa, nullptr, argv, environ);
  }
  static int poll(pollfd* fds, nfds_t n, int t) { return ::poll(fds, n, t); }
  static bool Uepoll(int /*fd*/) { return false; }
};

struct UepApi {
  static int pipe2(int* p, int flags) { return uep_pipe2(p, flags); }
  static int socketpair(int type, int* sv) { return uep_socketpair(AF_UNIX, type, 0, sv); }
  static ssize_t read(int fd, void* b, size_t n) { return uep_read(fd, b, n); }
  static ssize_t write(int fd, const void* b, size_t n) { return uep_write(fd, b, n); }
  static ssize_t recv(int fd, void* b, size_t n, int f) { return uep_recv(fd, b, n, f); }
  static ssize_t send(int fd, const void* b, size_t n, int f) { return uep_send(fd, b, n, f); }
  static int shutdown(int fd, int how) { return uep_shutdown(fd, how); }
  static int close(int fd) { return uep_close(fd); }
  static int dup(int fd) { return uep_dup(fd); }
  static int dup2(int a, int b) { return uep_dup2(a, b); }
  static int fcntl(int fd, int cmd, long arg = 0) { return uep_fcntl(fd, cmd, arg); }
  static int epoll_create1(int f) { return uep_epoll_create1(f); }
  static int epoll_ctl(int ep, int op, int fd, epoll_event* ev) { return uep_epoll_ctl(ep, op, fd, ev); }
  static int epoll_wait(int ep, epoll_event* ev, int n, int t) { return uep_epoll_wait(ep, ev, n, t); }
  static int spawn(pid_t* pid, const char* path, const posix_spawn_file_actions_t* fa,
                   char* const argv[]) {
    return uep_posix_spawn(pid, path, fa, nullptr, argv, environ);
  }
  static int poll(pollfd* fds, nfds_t n, int t) { return uep_poll(fds, n, t); }
  static bool Uepoll(int fd) { return uep_is_uepoll_fd(fd) == 1; }
};

// The child's exit status, or -1 if it still ran after 30 s (then killed).
int WaitChild(pid_t pid) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (std::chrono::steady_clock::now() > end) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// epoll_wait's events, sorted by data (the kernel and uepoll may order a ready list apart).
template <typename A>
std::string Events(int ep, int timeout) {
  epoll_event out[8];
  const int n = A::epoll_wait(ep, out, 8, timeout);
  if (n < 0) return "error " + std::string(strerrorname_np(errno));
  std::vector<std::pair<uint64_t, uint32_t>> got;
  for (int i = 0; i < n; ++i) got.emplace_back(uint64_t{out[i].data.u64}, uint32_t{out[i].events});
  std::sort(got.begin(), got.end());
  std::ostringstream s;
  s << "[";
  for (const auto& [data, events] : got) s << " " << std::hex << data << ":" << events << std::dec;
  s << " ]";
  return s.str();
}

template <typename A>
std::string Read(int fd, size_t n = 64) {
  char buf[256];
  const ssize_t r = A::read(fd, buf, std::min(n, sizeof buf));
  if (r < 0) return "error " + std::string(strerrorname_np(errno));
  return "\"" + std::string(buf, static_cast<size_t>(r)) + "\"";
}

template <typename A>
void Add(int ep, int fd, uint32_t events, uint64_t data, std::ostringstream& log) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = data;
  log << "add " << std::hex << data << std::dec << " " << A::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) << "\n";
}

// Reads everything until end of file (a blocking descriptor).
template <typename A>
std::string ReadToEof(int fd) {
  std::string all;
  char buf[256];
  for (;;) {
    const ssize_t r = A::read(fd, buf, sizeof buf);
    if (r <= 0) return r == 0 ? all : all + "<" + strerrorname_np(errno) + ">";
    all.append(buf, static_cast<size_t>(r));
  }
}

// A pipe with data in it, watched by an instance (level-triggered on the read end, edge-
// triggered through a dup of it, one-shot on the write end); the child reads the data and
// writes back; the parent's instance reports the child's write.
template <typename A>
std::string PipeAcrossFork(bool* was_uepoll, bool* is_kernel_after) {
  std::ostringstream log;
  int p[2];
  log << "pipe2 " << A::pipe2(p, O_NONBLOCK | O_CLOEXEC) << "\n";
  log << "F_SETFD " << A::fcntl(p[1], F_SETFD, 0) << "\n";
  const int r2 = A::dup(p[0]);
  *was_uepoll = A::Uepoll(p[0]) && A::Uepoll(p[1]) && A::Uepoll(r2);
  log << "write " << A::write(p[1], "abc", 3) << "\n";
  const int ep = A::epoll_create1(EPOLL_CLOEXEC);
  Add<A>(ep, p[0], EPOLLIN, 0x11, log);
  Add<A>(ep, r2, EPOLLIN | EPOLLET, 0x22, log);
  Add<A>(ep, p[1], EPOLLOUT | EPOLLONESHOT, 0x33, log);
  log << "wait " << Events<A>(ep, 0) << "\n";
  log << "wait " << Events<A>(ep, 0) << "\n";  // the edge and the one-shot are spent
  const pid_t pid = fork();
  if (pid == 0) {
    char buf[8] = {0};
    int code = 0;
    if (A::read(p[0], buf, sizeof buf) != 3 || std::memcmp(buf, "abc", 3) != 0) code |= 1;
    if ((A::fcntl(p[0], F_GETFL) & O_NONBLOCK) == 0) code |= 2;
    if (A::write(p[1], "xyz", 3) != 3) code |= 4;
    _exit(code);
  }
  log << "child " << WaitChild(pid) << "\n";
  *is_kernel_after = !A::Uepoll(p[0]) && !A::Uepoll(p[1]) && !A::Uepoll(r2);
  log << "wait " << Events<A>(ep, 1000) << "\n";
  for (const int fd : {p[0], p[1], r2}) {
    log << "fd flags " << (A::fcntl(fd, F_GETFL) & (O_ACCMODE | O_NONBLOCK)) << " cloexec "
        << A::fcntl(fd, F_GETFD) << "\n";
  }
  log << "read " << Read<A>(p[0]) << "\n";
  log << "wait " << Events<A>(ep, 0) << "\n";
  epoll_event ev{};
  ev.events = EPOLLOUT | EPOLLONESHOT;
  ev.data.u64 = 0x44;
  log << "rearm " << A::epoll_ctl(ep, EPOLL_CTL_MOD, p[1], &ev) << "\n";
  log << "wait " << Events<A>(ep, 0) << "\n";
  log << "del " << A::epoll_ctl(ep, EPOLL_CTL_DEL, p[0], nullptr) << "\n";
  log << "close " << A::close(p[1]) << "\n";
  log << "wait " << Events<A>(ep, 0) << "\n";  // the write end's last close: EPOLLHUP
  log << "read " << Read<A>(r2) << "\n";
  for (const int fd : {p[0], r2, ep}) A::close(fd);
  return log.str();
}

TEST(ForkConvert, KernelNumbering) { ASSERT_EQ(0, numbering_rc); }

TEST(ForkConvert, PipeWithDataAndItemsCrossesFork) {
  bool before = false;
  bool after = false;
  const std::string kernel = PipeAcrossFork<KernelApi>(&before, &after);
  const std::string uepoll = PipeAcrossFork<UepApi>(&before, &after);
  EXPECT_TRUE(before) << "the pipe was uepoll's before the fork";
  EXPECT_TRUE(after) << "and the kernel's after it";
  EXPECT_EQ(kernel, uepoll);
  EXPECT_NE(std::string::npos, kernel.find("child 0\n")) << kernel;
}

// A stream pair with data queued both ways and one direction shut down; the child reads
// to end of file and answers.
template <typename A>
std::string StreamPairAcrossFork(bool* was_uepoll) {
  std::ostringstream log;
  int s[2];
  log << "socketpair " << A::socketpair(SOCK_STREAM | SOCK_NONBLOCK, s) << "\n";
  *was_uepoll = A::Uepoll(s[0]);
  log << "write " << A::write(s[0], "ping", 4) << " " << A::write(s[1], "pong!", 5) << "\n";
  log << "shutdown " << A::shutdown(s[0], SHUT_WR) << "\n";
  const int ep = A::epoll_create1(0);
  Add<A>(ep, s[1], EPOLLIN | EPOLLRDHUP, 1, log);
  Add<A>(ep, s[0], EPOLLIN | EPOLLOUT, 2, log);
  log << "wait " << Events<A>(ep, 0) << "\n";
  const pid_t pid = fork();
  if (pid == 0) {
    char buf[16] = {0};
    int code = 0;
    if (A::recv(s[1], buf, sizeof buf, 0) != 4 || std::memcmp(buf, "ping", 4) != 0) code |= 1;
    if (A::recv(s[1], buf, sizeof buf, 0) != 0) code |= 2;  // end of file
    if (A::send(s[1], "back", 4, 0) != 4) code |= 4;
    _exit(code);
  }
  log << "child " << WaitChild(pid) << "\n";
  log << "wait " << Events<A>(ep, 1000) << "\n";
  log << "read " << Read<A>(s[0]) << "\n";
  errno = 0;
  log << "send " << A::send(s[0], "x", 1, MSG_NOSIGNAL) << " " << strerrorname_np(errno) << "\n";
  log << "close " << A::close(s[1]) << "\n";
  log << "wait " << Events<A>(ep, 0) << "\n";
  log << "read " << Read<A>(s[0]) << "\n";
  A::close(s[0]);
  A::close(ep);
  return log.str();
}

TEST(ForkConvert, StreamPairWithDataAndShutdownCrossesFork) {
  bool before = false;
  const std::string kernel = StreamPairAcrossFork<KernelApi>(&before);
  const std::string uepoll = StreamPairAcrossFork<UepApi>(&before);
  EXPECT_TRUE(before);
  EXPECT_EQ(kernel, uepoll);
  EXPECT_NE(std::string::npos, kernel.find("child 0\n")) << kernel;
}

// Records keep their boundaries: three queued each way, read one by one in the child.
template <typename A>
std::string RecordsAcrossFork(int type) {
  std::ostringstream log;
  int s[2];
  log << "socketpair " << A::socketpair(type | SOCK_NONBLOCK, s) << "\n";
  for (const char* r : {"a", "bb", "ccc"}) log << "send " << A::send(s[0], r, strlen(r), 0) << "\n";
  log << "send " << A::send(s[1], "dddd", 4, 0) << "\n";
  const pid_t pid = fork();
  if (pid == 0) {
    char buf[16];
    int code = 0;
    for (int len = 1; len <= 3; ++len) {
      if (A::recv(s[1], buf, sizeof buf, 0) != len) code |= 1 << len;
    }
    if (A::send(s[1], "eeeee", 5, 0) != 5) code |= 16;
    _exit(code);
  }
  log << "child " << WaitChild(pid) << "\n";
  char buf[16];
  log << "recv " << A::recv(s[0], buf, sizeof buf, 0) << " " << A::recv(s[0], buf, sizeof buf, 0) << "\n";
  A::close(s[0]);
  A::close(s[1]);
  return log.str();
}

TEST(ForkConvert, SeqpacketAndDatagramRecordsCrossFork) {
  for (const int type : {SOCK_SEQPACKET, SOCK_DGRAM}) {
    const std::string kernel = RecordsAcrossFork<KernelApi>(type);
    EXPECT_EQ(kernel, RecordsAcrossFork<UepApi>(type)) << "type " << type;
    EXPECT_NE(std::string::npos, kernel.find("child 0\n")) << kernel;
  }
}

// The child execs cat with the pipes (close-on-exec ones) as its stdin and stdout; the
// parent writes after the fork too.
template <typename A>
std::string ExecCat() {
  std::ostringstream log;
  int in[2];
  int out[2];
  log << "pipes " << A::pipe2(in, O_CLOEXEC) << " " << A::pipe2(out, O_CLOEXEC) << "\n";
  log << "write " << A::write(in[1], "before|", 7) << "\n";
  const pid_t pid = fork();
  if (pid == 0) {
    if (A::dup2(in[0], 0) != 0 || A::dup2(out[1], 1) != 1) _exit(100);
    execl("/bin/cat", "cat", static_cast<char*>(nullptr));
    _exit(127);
  }
  A::close(in[0]);
  A::close(out[1]);
  log << "write " << A::write(in[1], "after", 5) << "\n";
  A::close(in[1]);
  log << "cat wrote \"" << ReadToEof<A>(out[0]) << "\"\n";
  log << "child " << WaitChild(pid) << "\n";
  A::close(out[0]);
  return log.str();
}

TEST(ForkConvert, ExecdChildReadsAndWritesThePipes) {
  const std::string kernel = ExecCat<KernelApi>();
  EXPECT_EQ(kernel, ExecCat<UepApi>());
  EXPECT_NE(std::string::npos, kernel.find("\"before|after\"")) << kernel;
}

// posix_spawn with file actions that put the pipes on the child's stdin and stdout.
template <typename A>
std::string SpawnCat() {
  std::ostringstream log;
  int in[2];
  int out[2];
  log << "pipes " << A::pipe2(in, O_CLOEXEC) << " " << A::pipe2(out, O_CLOEXEC) << "\n";
  log << "write " << A::write(in[1], "spawned input", 13) << "\n";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  char cat[] = "cat";
  char* argv[] = {cat, nullptr};
  pid_t pid = -1;
  log << "spawn " << A::spawn(&pid, "/bin/cat", &fa, argv) << "\n";
  posix_spawn_file_actions_destroy(&fa);
  A::close(in[0]);
  A::close(out[1]);
  A::close(in[1]);
  log << "cat wrote \"" << ReadToEof<A>(out[0]) << "\"\n";
  log << "child " << (pid > 0 ? WaitChild(pid) : -2) << "\n";
  A::close(out[0]);
  return log.str();
}

TEST(ForkConvert, PosixSpawnFileActionsUseThePipes) {
  const std::string kernel = SpawnCat<KernelApi>();
  EXPECT_EQ(kernel, SpawnCat<UepApi>());
  EXPECT_NE(std::string::npos, kernel.find("\"spawned input\"")) << kernel;
}

// A thread blocked on the object when the process forks: its call ends with what the
// child sends (the kernel object's), never hangs. `block` runs in the thread.
template <typename A, typename Block>
std::string BlockedAcrossFork(int wake_fd, Block block) {
  std::promise<std::string> result;
  std::future<std::string> done = result.get_future();
  std::thread waiter([&] { result.set_value(block()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // most likely asleep by now
  const pid_t pid = fork();
  if (pid == 0) _exit(A::write(wake_fd, "z", 1) == 1 ? 0 : 1);
  std::string log = "child " + std::to_string(WaitChild(pid)) + "\n";
  if (done.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    A::write(wake_fd, "w", 1);  // the watchdog: let the thread go, and fail
    log += "still blocked\n";
  }
  waiter.join();
  return log + done.get();
}

template <typename A>
std::string BlockedPipeReader() {
  int p[2];
  A::pipe2(p, 0);
  const std::string log =
      BlockedAcrossFork<A>(p[1], [&] { return "read " + Read<A>(p[0]) + "\n"; });
  A::close(p[0]);
  A::close(p[1]);
  return log;
}

template <typename A>
std::string BlockedSocketReceiver() {
  int s[2];
  A::socketpair(SOCK_STREAM, s);
  const std::string log = BlockedAcrossFork<A>(s[1], [&] {
    char buf[8];
    const ssize_t n = A::recv(s[0], buf, sizeof buf, 0);
    return "recv " + (n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::to_string(n)) + "\n";
  });
  A::close(s[0]);
  A::close(s[1]);
  return log;
}

template <typename A>
std::string BlockedEpollWaiter() {
  int p[2];
  A::pipe2(p, 0);
  const int ep = A::epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 0x77;
  A::epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
  const std::string log =
      BlockedAcrossFork<A>(p[1], [&] { return "wait " + Events<A>(ep, -1) + "\n"; });
  for (const int fd : {p[0], p[1], ep}) A::close(fd);
  return log;
}

template <typename A>
std::string BlockedPoller() {
  int p[2];
  int s[2];
  A::pipe2(p, 0);
  A::socketpair(SOCK_STREAM, s);
  const std::string log = BlockedAcrossFork<A>(p[1], [&] {
    pollfd fds[2] = {{s[0], POLLIN, 0}, {p[0], POLLIN, 0}};
    const int n = A::poll(fds, 2, -1);
    return "poll " + std::to_string(n) + " " + std::to_string(fds[0].revents) + " " +
           std::to_string(fds[1].revents) + "\n";
  });
  for (const int fd : {p[0], p[1], s[0], s[1]}) A::close(fd);
  return log;
}

TEST(ForkConvert, BlockedPollerSeesTheChildsWrite) {
  const std::string kernel = BlockedPoller<KernelApi>();
  EXPECT_EQ(kernel, BlockedPoller<UepApi>());
  EXPECT_EQ("child 0\npoll 1 0 1\n", kernel);
}

TEST(ForkConvert, BlockedPipeReaderGetsTheChildsWrite) {
  const std::string kernel = BlockedPipeReader<KernelApi>();
  EXPECT_EQ(kernel, BlockedPipeReader<UepApi>());
  EXPECT_EQ("child 0\nread \"z\"\n", kernel);
}

TEST(ForkConvert, BlockedSocketReceiverGetsTheChildsWrite) {
  const std::string kernel = BlockedSocketReceiver<KernelApi>();
  EXPECT_EQ(kernel, BlockedSocketReceiver<UepApi>());
  EXPECT_EQ("child 0\nrecv z\n", kernel);
}

TEST(ForkConvert, BlockedEpollWaiterSeesTheChildsWrite) {
  const std::string kernel = BlockedEpollWaiter<KernelApi>();
  EXPECT_EQ(kernel, BlockedEpollWaiter<UepApi>());
  EXPECT_EQ("child 0\nwait [ 77:1 ]\n", kernel);
}

// Traffic on the pipe and socket pair while the process forks: every byte arrives once, in
// order, whichever side of the conversion it was written on.
TEST(ForkConvert, TrafficDuringTheConversionKeepsEveryByteInOrder) {
  constexpr uint32_t kWords = 1 << 15;
  for (int round = 0; round < 100; ++round) {
    int fds[2];
    if (round % 2 == 0) {
      ASSERT_EQ(0, uep_pipe2(fds, 0));
    } else {
      ASSERT_EQ(0, uep_socketpair(AF_UNIX, SOCK_STREAM, 0, fds));
    }
    int write_error = 0;
    std::thread writer([&] {
      for (uint32_t i = 0; i < kWords; ++i) {
        if (uep_write(fds[1], &i, sizeof i) != sizeof i) {
          write_error = errno;
          uep_close(fds[1]);  // the reader ends at end of file, not waiting for ever
          fds[1] = -1;
          return;
        }
      }
    });
    uint32_t next = 0;
    bool in_order = true;
    std::thread reader([&] {
      char buf[4096];
      size_t have = 0;
      while (next < kWords) {
        const ssize_t n = uep_read(fds[0], buf + have, sizeof buf - have);
        if (n <= 0) return;
        have += static_cast<size_t>(n);
        size_t used = 0;
        for (; used + 4 <= have; used += 4) {
          uint32_t v = 0;
          std::memcpy(&v, buf + used, 4);
          in_order &= v == next++;
        }
        std::memmove(buf, buf + used, have - used);
        have -= used;
      }
    });
    std::this_thread::sleep_for(std::chrono::microseconds(round % 20 * 100));
    const pid_t pid = fork();
    if (pid == 0) _exit(0);
    EXPECT_EQ(0, WaitChild(pid));
    writer.join();
    reader.join();
    EXPECT_EQ(0, write_error) << "round " << round;
    EXPECT_EQ(kWords, next) << "round " << round;
    EXPECT_TRUE(in_order) << "round " << round;
    uep_close(fds[0]);
    if (fds[1] >= 0) uep_close(fds[1]);
  }
}

// A documented difference: an edge-triggered item whose edge was already reported reports
// it once more after the conversion (the kernel's ADD polls the object); the kernel itself
// reports nothing new.
TEST(ForkConvert, SpentEdgeReportedOnceMoreAfterConversion) {
  int p[2];
  ASSERT_EQ(0, uep_pipe2(p, O_NONBLOCK));
  ASSERT_EQ(1, uep_write(p[1], "a", 1));
  const int ep = uep_epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;
  ev.data.u64 = 5;
  ASSERT_EQ(0, uep_epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
  EXPECT_EQ("[ 5:1 ]", Events<UepApi>(ep, 0));
  EXPECT_EQ("[ ]", Events<UepApi>(ep, 0));
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  EXPECT_EQ(0, WaitChild(pid));
  EXPECT_EQ(0, uep_is_uepoll_fd(p[0]));
  EXPECT_EQ("[ 5:1 ]", Events<UepApi>(ep, 0));
  EXPECT_EQ("[ ]", Events<UepApi>(ep, 0));
  for (const int fd : {p[0], p[1], ep}) uep_close(fd);
}

// Eventfds keep their documented fork behaviour: not converted, EBADF in the child.
TEST(ForkConvert, EventfdIsNotConverted) {
  const int efd = uep_eventfd(0, 0);
  ASSERT_GE(efd, 0);
  const pid_t pid = fork();
  if (pid == 0) _exit(uep_eventfd_write(efd, 1) == -1 && errno == EBADF ? 0 : 1);
  EXPECT_EQ(0, WaitChild(pid));
  EXPECT_EQ(1, uep_is_uepoll_fd(efd));
  uep_close(efd);
}

}  // namespace
