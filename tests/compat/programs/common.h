/* Shared by the test programs: CHECK prints the failing line and exits 1; FD prints a
 * descriptor number only when PRINT_FD_NUMBERS=1 (the preload tests compare numbers with
 * the kernel's; under compat.h uepoll's numbers differ by design). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) {                                                               \
      printf("CHECK failed at line %d: %s (errno %d)\n", __LINE__, #cond, errno); \
      exit(1);                                                                   \
    }                                                                            \
  } while (0)

static inline void print_fd(const char *what, int fd) {
  const char *env = getenv("PRINT_FD_NUMBERS");
  if (env != NULL && strcmp(env, "1") == 0) printf("%s = fd %d\n", what, fd);
}

/* To stderr (not compared): what the kernel holds at each descriptor number, so the test
 * driver can tell kernel objects (anon_inode:[eventfd], pipe:[...]) from uepoll's
 * placeholders. */
#include <unistd.h>
static inline void describe_kernel_fds(void) {
  for (int fd = 3; fd < 64; fd++) {
    char path[32], target[256];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0) continue;
    target[n] = 0;
    fprintf(stderr, "kernel fd %d: %s\n", fd, target);
  }
}
