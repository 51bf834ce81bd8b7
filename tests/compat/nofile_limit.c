/*
 * Linked into the *_nofd builds of the compat program, not part of it: before main()
 * runs (and after the dynamic loader has opened every shared library it needs), lower
 * RLIMIT_NOFILE to 3. Descriptors 0-2 are open already, so from then on the kernel can
 * hand out no descriptor at all: epoll_create1() and eventfd() fail with EMFILE unless
 * uepoll serves them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

__attribute__((constructor)) static void limit_kernel_descriptors(void) {
  const struct rlimit limit = {3, 3};
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    perror("setrlimit(RLIMIT_NOFILE, 3)");
    exit(2);
  }
}
