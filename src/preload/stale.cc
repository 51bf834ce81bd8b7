// Numbers the kernel reuses: a placeholder closed behind uepoll's back (a raw close the
// library cannot see) frees its number in the kernel while the table still holds the dead
// uepoll file. Every call that makes a kernel descriptor goes through DropStale, so that the
// new descriptor is the kernel's for every later call. These are the libc calls that make
// descriptors and are not otherwise interposed (the creation calls of create.cc check their
// kernel results the same way; syscall.cc the raw forms).
#include <fcntl.h>
#include <pthread.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#include <cstdarg>

#include "preload/preload.h"

namespace uep::preload {
namespace {

// The process that owns the table: a vfork child (or any CLONE_VM child) shares its memory
// under another pid, and must not change it.
pid_t owner_pid = 0;
void ChildAfterFork() { owner_pid = static_cast<pid_t>(syscall(SYS_getpid)); }

}  // namespace

void SetTableOwner() {
  owner_pid = static_cast<pid_t>(syscall(SYS_getpid));
  pthread_atfork(nullptr, nullptr, ChildAfterFork);
}

int DropStale(int fd) {
  // Before start-up there is no table; while serving, the descriptor is the library's own
  // (start-up reads /proc with fopen).
  if (fd < 0 || !__atomic_load_n(&g_ready, __ATOMIC_ACQUIRE) || tls_serving != 0) return fd;
  if (!capi::OwnsFd(fd)) return fd;
  // Rare: only after a close behind the library's back, so the pid check costs nothing.
  if (static_cast<pid_t>(syscall(SYS_getpid)) != owner_pid) return fd;
  Serving serving;
  capi::ForgetStaleFd(fd);
  return fd;
}

void DropStaleRights(const msghdr* msg) {
  if (msg == nullptr || msg->msg_control == nullptr) return;
  for (const cmsghdr* c = CMSG_FIRSTHDR(msg); c != nullptr; c = CMSG_NXTHDR(const_cast<msghdr*>(msg), const_cast<cmsghdr*>(c))) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const auto* fds = reinterpret_cast<const unsigned char*>(CMSG_DATA(c));
    for (size_t i = 0; i < n; ++i) {
      int fd = -1;
      __builtin_memcpy(&fd, fds + i * sizeof(int), sizeof fd);
      DropStale(fd);
    }
  }
}

}  // namespace uep::preload

using uep::preload::DropStale;

namespace {

bool NeedsMode(int flags) { return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE; }

}  // namespace

// The mode is read only when the flags say it was passed (as glibc does); va_start has to
// run in the variadic function itself, hence a macro.
#define UEP_OPEN_MODE(flags, mode)   \
  mode_t mode = 0;                   \
  if (NeedsMode(flags)) {            \
    va_list ap;                      \
    va_start(ap, flags);             \
    (mode) = va_arg(ap, mode_t);     \
    va_end(ap);                      \
  }

extern "C" {

int open(const char* path, int flags, ...) {
  UEP_OPEN_MODE(flags, mode);
  UEP_NEXT(open);
  return DropStale(real(path, flags, mode));
}

int open64(const char* path, int flags, ...) {
  UEP_OPEN_MODE(flags, mode);
  UEP_NEXT(open64);
  return DropStale(real(path, flags, mode));
}

int openat(int dirfd, const char* path, int flags, ...) {
  UEP_OPEN_MODE(flags, mode);
  UEP_NEXT(openat);
  return DropStale(real(dirfd, path, flags, mode));
}

int openat64(int dirfd, const char* path, int flags, ...) {
  UEP_OPEN_MODE(flags, mode);
  UEP_NEXT(openat64);
  return DropStale(real(dirfd, path, flags, mode));
}

// _FORTIFY_SOURCE's open without a mode.
int __open_2(const char* path, int flags) {
  UEP_NEXT(__open_2);
  return DropStale(real(path, flags));
}

int __open64_2(const char* path, int flags) {
  UEP_NEXT(__open64_2);
  return DropStale(real(path, flags));
}

int __openat_2(int dirfd, const char* path, int flags) {
  UEP_NEXT(__openat_2);
  return DropStale(real(dirfd, path, flags));
}

int __openat64_2(int dirfd, const char* path, int flags) {
  UEP_NEXT(__openat64_2);
  return DropStale(real(dirfd, path, flags));
}

int creat(const char* path, mode_t mode) {
  UEP_NEXT(creat);
  return DropStale(real(path, mode));
}

int creat64(const char* path, mode_t mode) {
  UEP_NEXT(creat64);
  return DropStale(real(path, mode));
}

int socket(int domain, int type, int protocol) {
  UEP_NEXT(socket);
  return DropStale(real(domain, type, protocol));
}

int accept(int fd, struct sockaddr* addr, socklen_t* addrlen) {
  UEP_NEXT(accept);
  return DropStale(real(fd, addr, addrlen));
}

int accept4(int fd, struct sockaddr* addr, socklen_t* addrlen, int flags) {
  UEP_NEXT(accept4);
  return DropStale(real(fd, addr, addrlen, flags));
}

int memfd_create(const char* name, unsigned int flags) {
  UEP_NEXT(memfd_create);
  return DropStale(real(name, flags));
}

// A new signalfd only: on an existing descriptor it changes that one's mask.
int signalfd(int fd, const sigset_t* mask, int flags) {
  UEP_NEXT(signalfd);
  const int r = real(fd, mask, flags);
  return fd == -1 ? DropStale(r) : r;
}

int inotify_init() {
  UEP_NEXT(inotify_init);
  return DropStale(real());
}

int inotify_init1(int flags) {
  UEP_NEXT(inotify_init1);
  return DropStale(real(flags));
}

// libc's own opens (internal calls, out of reach of the interposers above): the
// descriptor under the stream or directory.
FILE* fopen(const char* path, const char* mode) {
  UEP_NEXT(fopen);
  FILE* f = real(path, mode);
  if (f != nullptr) DropStale(fileno(f));
  return f;
}

FILE* fopen64(const char* path, const char* mode) {
  UEP_NEXT(fopen64);
  FILE* f = real(path, mode);
  if (f != nullptr) DropStale(fileno(f));
  return f;
}

FILE* freopen(const char* path, const char* mode, FILE* stream) {
  UEP_NEXT(freopen);
  FILE* f = real(path, mode, stream);
  if (f != nullptr) DropStale(fileno(f));
  return f;
}

FILE* freopen64(const char* path, const char* mode, FILE* stream) {
  UEP_NEXT(freopen64);
  FILE* f = real(path, mode, stream);
  if (f != nullptr) DropStale(fileno(f));
  return f;
}

FILE* tmpfile() {
  UEP_NEXT(tmpfile);
  FILE* f = real();
  if (f != nullptr) DropStale(fileno(f));
  return f;
}

FILE* popen(const char* command, const char* type) {
  UEP_NEXT(popen);
  FILE* f = real(command, type);
  if (f != nullptr) DropStale(fileno(f));
  return f;
}

DIR* opendir(const char* name) {
  UEP_NEXT(opendir);
  DIR* d = real(name);
  if (d != nullptr) DropStale(dirfd(d));
  return d;
}

int mkstemp(char* tmpl) {
  UEP_NEXT(mkstemp);
  return DropStale(real(tmpl));
}

int mkostemp(char* tmpl, int flags) {
  UEP_NEXT(mkostemp);
  return DropStale(real(tmpl, flags));
}

int mkstemps(char* tmpl, int suffixlen) {
  UEP_NEXT(mkstemps);
  return DropStale(real(tmpl, suffixlen));
}

int mkostemps(char* tmpl, int suffixlen, int flags) {
  UEP_NEXT(mkostemps);
  return DropStale(real(tmpl, suffixlen, flags));
}

int posix_openpt(int flags) {
  UEP_NEXT(posix_openpt);
  return DropStale(real(flags));
}

}  // extern "C"
