// The hot path makes no system call, and waking a sleeper costs exactly one.
//
// A thread installs a seccomp filter on itself that traps every system call except a
// futex call carrying a marker in its sixth argument; the SIGSYS handler counts the trap
// and, for futex, replays the call with the marker so it still takes effect. The thread
// runs the operations under test, records the counts and exits; the main thread checks.
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <thread>

#include "platform/uring.h"
#include "core/wait_queue.h"
#include "core/waiter.h"
#include "platform/clock.h"
#include "support/sanitizer.h"
#include "uepoll/uepoll.h"

namespace {

// Sanitizer runtimes make system calls of their own (shadow memory, allocator, TSan's
// signal interception, which also swallows SIGSYS): nothing to count in those builds.
using uep::test::kSanitized;

constexpr uint32_t kReplayMarker = 0x5eedf00d;

std::atomic<int> trapped_futex{0};
std::atomic<int> trapped_write{0};
std::atomic<bool> replay_writes{false};  // count write() apart and let it through
std::atomic<int> trapped_pwait2{0};
std::atomic<bool> replay_pwait2{false};  // the same for epoll_pwait2() without a mask
std::atomic<int> trapped_other{0};
std::atomic<long> first_other_nr{-1};

// The trapped call made again with the marker; the result as the kernel gives it (-errno,
// not libc's -1: a futex wait that finds the word changed must see EAGAIN, or glibc's lock
// code aborts), and the interrupted code's errno untouched.
greg_t Replay(long nr, const greg_t* regs) {
  const int saved_errno = errno;
  const long r = nr == SYS_futex
                     ? syscall(nr, regs[REG_RDI], regs[REG_RSI], regs[REG_RDX], regs[REG_R10],
                               regs[REG_R8], kReplayMarker)
                     : syscall(nr, regs[REG_RDI], regs[REG_RSI], regs[REG_RDX], regs[REG_R10], 0,
                               kReplayMarker);
  const greg_t result = r == -1 ? -errno : r;
  errno = saved_errno;
  return result;
}

void OnSigsys(int /*sig*/, siginfo_t* info, void* ctx_void) {
  auto* ctx = static_cast<ucontext_t*>(ctx_void);
  greg_t* regs = ctx->uc_mcontext.gregs;
  if (info->si_syscall == SYS_futex) {
    trapped_futex.fetch_add(1);
    regs[REG_RAX] = Replay(SYS_futex, regs);
    return;
  }
  if (info->si_syscall == SYS_write && replay_writes.load()) {
    trapped_write.fetch_add(1);
    regs[REG_RAX] = Replay(SYS_write, regs);
    return;
  }
  if (info->si_syscall == SYS_epoll_pwait2 && replay_pwait2.load() && regs[REG_R8] == 0) {
    trapped_pwait2.fetch_add(1);
    regs[REG_RAX] = Replay(SYS_epoll_pwait2, regs);
    return;
  }
  long expected = -1;
  first_other_nr.compare_exchange_strong(expected, info->si_syscall);
  trapped_other.fetch_add(1);
  regs[REG_RAX] = -ENOSYS;
}

void InstallTrapFilterOnThisThread() {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      // Let the thread leave and signal handlers return.
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_rt_sigreturn, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      // futex, write and epoll_pwait2 carrying the marker are the handler's replays.
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_futex, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_write, 1, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_epoll_pwait2, 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[5])),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kReplayMarker, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
  };
  sock_fprog prog{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  ASSERT_EQ(0, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
  ASSERT_EQ(0, syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog));
}

struct Counts {
  int futex = 0;
  int write = 0;
  int other = 0;
  long first_other = -1;
};

// Runs `warmup` (thread arena, RCU reader registration: one-time costs) and then `body`
// under the trap filter on a fresh thread, and returns what `body` trapped.
Counts CountSyscalls(const std::function<void()>& warmup, const std::function<void()>& body) {
  struct sigaction sa {};
  sa.sa_sigaction = OnSigsys;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGSYS, &sa, nullptr);
  Counts counts;
  std::thread t([&] {
    // The thread's malloc arena (a pair the compiler may not elide).
    void* volatile block = std::malloc(640);
    std::free(block);
    warmup();
    InstallTrapFilterOnThisThread();
    trapped_futex = 0;
    trapped_write = 0;
    trapped_other = 0;
    first_other_nr = -1;
    body();
    counts = {trapped_futex.load(), trapped_write.load(), trapped_other.load(),
              first_other_nr.load()};
  });
  t.join();
  return counts;
}

TEST(NoSyscall, WriteWaitReadAndCtlOnTheHotPath) {
  if (kSanitized) GTEST_SKIP() << "sanitizer runtimes make system calls";
  const int ep = uep_epoll_create1(0);
  const int lt = uep_eventfd(0, EFD_NONBLOCK);
  const int et = uep_eventfd(0, 0);
  const int spare = uep_eventfd(0, 0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 1;
  ASSERT_EQ(0, uep_epoll_ctl(ep, EPOLL_CTL_ADD, lt, &ev));
  ev.events = EPOLLIN | EPOLLET;
  ev.data.u64 = 2;
  ASSERT_EQ(0, uep_epoll_ctl(ep, EPOLL_CTL_ADD, et, &ev));
  int harvested = 0;
  int rounds = 0;
  const auto round_trip = [&] {
    epoll_event out[4];
    for (int i = 0; i < rounds; ++i) {
      uep_eventfd_write(lt, 1);
      uep_eventfd_write(et, 1);
      harvested += uep_epoll_wait(ep, out, 4, 0);
      eventfd_t v = 0;
      uep_eventfd_read(lt, &v);
      uep_eventfd_read(et, &v);
      harvested += uep_epoll_wait(ep, out, 4, 0);  // nothing ready
      epoll_event mod{};
      mod.events = EPOLLIN | EPOLLONESHOT;
      uep_epoll_ctl(ep, EPOLL_CTL_ADD, spare, &mod);
      uep_epoll_ctl(ep, EPOLL_CTL_MOD, spare, &mod);
      uep_epoll_ctl(ep, EPOLL_CTL_DEL, spare, nullptr);
    }
  };
  const Counts counts = CountSyscalls(
      [&] {
        rounds = 10;
        round_trip();
        harvested = 0;
        rounds = 1000;
      },
      round_trip);
  EXPECT_EQ(0, counts.futex);
  EXPECT_EQ(0, counts.other) << "first trapped system call: " << counts.first_other;
  EXPECT_EQ(2000, harvested);
  for (int fd : {ep, lt, et, spare}) EXPECT_EQ(0, uep_close(fd));
}

TEST(NoSyscall, WakingASleeperCostsOneSystemCall) {
  if (kSanitized) GTEST_SKIP() << "sanitizer runtimes make system calls";
  const int ep = uep_epoll_create1(0);
  const int ev_fd = uep_eventfd(0, EFD_NONBLOCK);
  ASSERT_EQ(0, uep_epoll_set_busy_poll(ep, 0));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ASSERT_EQ(0, uep_epoll_ctl(ep, EPOLL_CTL_ADD, ev_fd, &ev));
  std::atomic<int> got{-2};
  std::thread sleeper([&] {
    epoll_event out;
    got = uep_epoll_wait(ep, &out, 1, 10000);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let it reach the futex
  const Counts counts = CountSyscalls([&] { (void)uep_is_uepoll_fd(ev_fd); },
                                      [&] { uep_eventfd_write(ev_fd, 1); });
  sleeper.join();
  EXPECT_EQ(1, got.load());
  EXPECT_EQ(1, counts.futex);
  EXPECT_EQ(0, counts.other) << "first trapped system call: " << counts.first_other;
  EXPECT_EQ(0, uep_close(ev_fd));
  EXPECT_EQ(0, uep_close(ep));
}

// A waiter that has not announced its sleep (still spinning) is woken by the swap of its
// word alone: the waker makes no FUTEX_WAKE (core/waiter.h, the kSleeping protocol).
TEST(NoSyscall, WakingASpinningWaiterCostsNoSystemCall) {
  if (kSanitized) GTEST_SKIP() << "sanitizer runtimes make system calls";
  uep::WaitQueueHead wq;
  uep::Waiter waiter;
  {
    std::lock_guard guard(wq.lock);
    uep::AddWaitQueueTailLocked(&wq, &waiter.wait);
  }
  std::atomic<bool> spinning{false};
  std::atomic<int> got{-2};
  std::thread spinner([&] {
    spinning = true;
    got = uep::WaiterSleep(&waiter, uep::platform::kNever, uep::SleepKind::kRestartable, nullptr,
                           INT32_MAX);
  });
  while (!spinning) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const Counts counts = CountSyscalls([] {}, [&] {
    std::lock_guard guard(wq.lock);
    uep::WakeUpLocked(&wq, 1, 0);
  });
  spinner.join();
  EXPECT_EQ(0, got.load());
  EXPECT_NE(uep::kWaiterSleeping, waiter.woken.load()) << "the spinner never announced a sleep";
  EXPECT_EQ(0, counts.futex);
  EXPECT_EQ(0, counts.other) << "first trapped system call: " << counts.first_other;
}

// An instance that also holds a kernel socket, in the ring mode: a harvest whose kernel side
// is idle makes no system call (the readiness ring is read with plain loads), whether user
// space has events or not; waking a thread asleep in the kernel costs one eventfd write.
TEST(NoSyscall, MixedInstanceHarvestWithAnIdleKernelSide) {
  if (kSanitized) GTEST_SKIP() << "sanitizer runtimes make system calls";
  if (uep::platform::KernelReadinessMode() != uep::platform::KernelReadiness::kUring) {
    GTEST_SKIP() << "no readiness ring here (UEPOLL_KERNEL_READINESS=syscall or no io_uring)";
  }
  const int ep = uep_epoll_create1(0);
  const int efd = uep_eventfd(0, EFD_NONBLOCK);
  int sock[2];
  ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sock));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 1;
  ASSERT_EQ(0, uep_epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev));
  ev.data.u64 = 2;
  ASSERT_EQ(0, uep_epoll_ctl(ep, EPOLL_CTL_ADD, sock[0], &ev));
  int harvested = 0;
  int empty = 0;
  constexpr int kRounds = 1000;
  const auto round_trip = [&] {
    epoll_event out[4];
    for (int i = 0; i < kRounds; ++i) {
      empty += uep_epoll_wait(ep, out, 4, 0) == 0 ? 1 : 0;  // nothing ready
      uep_eventfd_write(efd, 1);
      harvested += uep_epoll_wait(ep, out, 4, 0);
      eventfd_t v = 0;
      uep_eventfd_read(efd, &v);
    }
  };
  const Counts counts = CountSyscalls(
      [&] {
        epoll_event out[4];
        // This thread's first harvests: its ring is set up and watches the instance.
        for (int i = 0; i < 3; ++i) (void)uep_epoll_wait(ep, out, 4, 0);
      },
      round_trip);
  EXPECT_EQ(kRounds, harvested);
  EXPECT_EQ(kRounds, empty);
  EXPECT_EQ(0, counts.futex);
  EXPECT_EQ(0, counts.other) << "first trapped system call: " << counts.first_other;

  // The kernel side becomes ready: it is asked, and both come in one call.
  ASSERT_EQ(1, write(sock[1], "x", 1));
  uep_eventfd_write(efd, 1);
  epoll_event both[4];
  EXPECT_EQ(2, uep_epoll_wait(ep, both, 4, 0));
  char c;
  ASSERT_EQ(1, read(sock[0], &c, 1));
  eventfd_t drained = 0;
  uep_eventfd_read(efd, &drained);

  std::atomic<int> got{-2};
  std::thread sleeper([&] {
    epoll_event out;
    got = uep_epoll_wait(ep, &out, 1, 10000);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let it reach the kernel
  replay_writes = true;
  const Counts wake = CountSyscalls([&] { (void)uep_is_uepoll_fd(efd); },
                                    [&] { uep_eventfd_write(efd, 1); });
  replay_writes = false;
  sleeper.join();
  EXPECT_EQ(1, got.load());
  EXPECT_EQ(1, wake.write);
  EXPECT_EQ(0, wake.futex);
  EXPECT_EQ(0, wake.other) << "first trapped system call: " << wake.first_other;
  close(sock[0]);
  close(sock[1]);
  EXPECT_EQ(0, uep_close(efd));
  EXPECT_EQ(0, uep_close(ep));
}

// A call that may sleep, with a kernel descriptor ready and nothing in user space, asks the
// kernel once, as the kernel's own epoll_wait does: the sleep on the hidden instance
// returns what is ready (no epoll_wait with timeout 0 first, even though the last answer
// had events). Both readiness modes.
TEST(NoSyscall, BlockingWaitWithAKernelEventReadyIsOneSystemCall) {
  if (kSanitized) GTEST_SKIP() << "sanitizer runtimes make system calls";
  const int ep = uep_epoll_create1(0);
  const int efd = uep_eventfd(0, EFD_NONBLOCK);
  const int kfd = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC);  // ready, level-triggered
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 1;
  ASSERT_EQ(0, uep_epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev));
  ev.data.u64 = 2;
  ASSERT_EQ(0, uep_epoll_ctl(ep, EPOLL_CTL_ADD, kfd, &ev));
  int got = -2;
  uint64_t data = 0;
  replay_pwait2 = true;
  const Counts counts = CountSyscalls(
      [&] {
        epoll_event out[4];
        // The thread's ring set up; the kernel side answered with an event.
        for (int i = 0; i < 3; ++i) (void)uep_epoll_wait(ep, out, 4, 0);
        trapped_pwait2 = 0;
      },
      [&] {
        epoll_event out[4]{};
        got = uep_epoll_wait(ep, out, 4, 10000);
        data = out[0].data.u64;
      });
  replay_pwait2 = false;
  EXPECT_EQ(1, got);
  EXPECT_EQ(2U, data);
  EXPECT_EQ(1, trapped_pwait2.load());
  EXPECT_EQ(0, counts.futex);
  EXPECT_EQ(0, counts.other) << "first trapped system call: " << counts.first_other;
  close(kfd);
  EXPECT_EQ(0, uep_close(efd));
  EXPECT_EQ(0, uep_close(ep));
}

// The instance's ring belongs to the first thread that harvested it. Another thread that
// harvests it while it has kernel events cannot reset that ring; it takes the instance
// over to its own ring, after which its idle harvests are free again. (Before the move
// every idle harvest would ask the kernel: the old ring's signal stays set.)
TEST(NoSyscall, MixedInstanceMovesToTheRingOfTheThreadThatHarvestsIt) {
  if (kSanitized) GTEST_SKIP() << "sanitizer runtimes make system calls";
  if (uep::platform::KernelReadinessMode() != uep::platform::KernelReadiness::kUring) {
    GTEST_SKIP() << "no readiness ring here (UEPOLL_KERNEL_READINESS=syscall or no io_uring)";
  }
  const int ep = uep_epoll_create1(0);
  int sock[2];
  ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sock));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ASSERT_EQ(0, uep_epoll_ctl(ep, EPOLL_CTL_ADD, sock[0], &ev));
  epoll_event out[4];
  EXPECT_EQ(0, uep_epoll_wait(ep, out, 4, 0));  // this (main) thread's ring watches it
  int seen = 0;
  int empty = 0;
  const Counts counts = CountSyscalls(
      [&] {
        for (int i = 0; i < 100; ++i) {
          char c = 'x';
          if (write(sock[1], &c, 1) != 1) return;
          seen += uep_epoll_wait(ep, out, 4, 0);
          if (read(sock[0], &c, 1) != 1) return;
          (void)uep_epoll_wait(ep, out, 4, 0);
        }
      },
      [&] {
        for (int i = 0; i < 1000; ++i) empty += uep_epoll_wait(ep, out, 4, 0) == 0 ? 1 : 0;
      });
  EXPECT_EQ(100, seen);
  EXPECT_EQ(1000, empty);
  EXPECT_EQ(0, counts.futex);
  EXPECT_EQ(0, counts.other) << "first trapped system call: " << counts.first_other;
  close(sock[0]);
  close(sock[1]);
  EXPECT_EQ(0, uep_close(ep));
}

}  // namespace
