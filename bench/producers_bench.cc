// The producers -> loop table: producers_bench [posts per producer] [repetitions]
// (defaults 2000000 and 7; the kernel's eventfd gets a tenth of the posts).
#include <cstdio>
#include <cstdlib>

#include "producers.h"

int main(int argc, char** argv) {
  const long per = argc > 1 ? std::atol(argv[1]) : 2000000;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 7;
  if (argc > 3 || per < 10 || reps < 1) {
    std::fprintf(stderr, "usage: %s [posts per producer (>= 10)] [repetitions (>= 1)]\n", argv[0]);
    return 2;
  }
  return uep::bench::producers::PrintTable({1, 2, 4}, per, reps) ? 0 : 1;
}
