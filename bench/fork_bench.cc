// The cost of fork() when uepoll pipes and socket pairs must become kernel objects first
// (files/kernel_convert.h): until fork() returns in the parent, with N pipes, each with a
// byte buffered and its read end watched by an epoll instance, made by the kernel and by
// uepoll (kernel numbering, as the preload library runs). Setup, the child's exit and the
// parent's waitpid are not timed.
//
//   build/default/bench/fork_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

#include "uepoll/uepoll.h"

namespace {

const int numbering_rc = uep_set_numbering(UEP_NUMBERING_KERNEL);

template <bool kUepoll>
void BM_ForkWithPipes(benchmark::State& state) {
  if (numbering_rc != 0) state.SkipWithError("kernel numbering not set");
  const int n = static_cast<int>(state.range(0));
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<int> fds;
    const int ep = kUepoll ? uep_epoll_create1(0) : epoll_create1(0);
    for (int i = 0; i < n; ++i) {
      int p[2];
      if ((kUepoll ? uep_pipe2(p, O_NONBLOCK) : pipe2(p, O_NONBLOCK)) != 0) {
        state.SkipWithError("pipe2");
        break;
      }
      (kUepoll ? uep_write(p[1], "x", 1) : write(p[1], "x", 1));
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = static_cast<uint64_t>(i);
      (kUepoll ? uep_epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) : epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
      fds.push_back(p[0]);
      fds.push_back(p[1]);
    }
    state.ResumeTiming();
    const pid_t pid = fork();
    if (pid == 0) _exit(0);
    state.PauseTiming();
    int status = 0;
    waitpid(pid, &status, 0);
    for (const int fd : fds) (kUepoll ? uep_close(fd) : close(fd));
    (kUepoll ? uep_close(ep) : close(ep));
    state.ResumeTiming();
  }
}

BENCHMARK(BM_ForkWithPipes<false>)->Name("ForkWithPipes/kernel")->Arg(0)->Arg(1)->Arg(16)->Arg(256)->UseRealTime();
BENCHMARK(BM_ForkWithPipes<true>)->Name("ForkWithPipes/uepoll")->Arg(0)->Arg(1)->Arg(16)->Arg(256)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
