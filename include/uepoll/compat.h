/*
 * uepoll/compat.h: serve the libc epoll, eventfd and descriptor calls with uepoll.
 *
 * Compile an unmodified program with this header forced in first, and link uepoll:
 *
 *   cc -include uepoll/compat.h -I<uepoll>/include prog.c -L<build> -luepoll -lstdc++ -lpthread
 *   (with CMake: target_compile_options(prog PRIVATE -include uepoll/compat.h)
 *                target_link_libraries(prog PRIVATE uepoll::uepoll))
 *
 * The names below become macros for their uep_* counterparts (uepoll.h), which take the
 * same arguments, return the same values and set the same errno:
 *
 *   epoll_create epoll_create1 epoll_ctl epoll_wait epoll_pwait epoll_pwait2
 *   eventfd eventfd_read eventfd_write
 *   pipe pipe2 socketpair send sendto sendmsg recv recvfrom recvmsg shutdown
 *   getsockopt setsockopt timerfd_create timerfd_settime timerfd_gettime
 *   poll ppoll select pselect
 *   read write readv writev ioctl close close_range closefrom dup dup2 dup3 fcntl
 *   syscall (the numbers of these calls, raw: uep_syscall)
 *
 * so the program's epoll instances, eventfds, pipes, socket pairs and timers are uepoll's
 * (numbered from uep_fd_base(), costing no kernel descriptor), while every kernel
 * descriptor it has (files, network sockets, stdin/stdout) still works: each of these calls
 * on a descriptor below uep_fd_base() goes straight to the kernel. Nothing else is renamed
 * (open, socket, accept, printf ... are libc's). select/pselect can only carry kernel
 * descriptors (an fd_set cannot hold uepoll's numbers): use poll for uepoll descriptors.
 *
 * Programs that index arrays by descriptor run with UEPOLL_NUMBERING=kernel: numbers are
 * then the kernel's lowest free ones (uep_set_numbering in uepoll.h).
 *
 * What does not carry over (docs/compatibility.md and docs/semantics.md have the lists):
 *   - select/pselect and FD_SET cannot hold uepoll's numbers (>= 2^30): use poll or epoll;
 *   - a uepoll descriptor means nothing to the kernel: calls not listed above (fstat,
 *     fdopen + stdio, sendfile ...) give EBADF; after fork the child's calls on the
 *     parent's uepoll descriptors give EBADF, and exec drops them;
 *   - the macros are object-like: every identifier spelt like a mapped name is renamed,
 *     including function pointers (good: `&close` becomes `&uep_close`) and struct
 *     members or methods (harmless when the whole program sees the header, since the
 *     renaming is consistent).
 * Kernel descriptors (sockets, kernel pipes ...) can join a uepoll epoll instance.
 * Unmodified binaries: the preload library, libuepoll-preload.so (docs/compatibility.md).
 *
 * Feature-test macros (_GNU_SOURCE, _FILE_OFFSET_BITS ...) must be on the command line
 * (-D_GNU_SOURCE): this header includes the system headers first, so a #define in the
 * program's source comes too late for them.
 *
 * C++: the system headers and the standard stream headers (whose classes have read,
 * write and close members compiled into libstdc++) are included here first, before the
 * macros exist. Code after this header that calls stream members of those names
 * (`file.close()`, `std::cin.read(...)`) is renamed too and does not compile: in C++,
 * force this header only on the sources that make the libc calls, or use uepoll.hpp.
 */
#ifndef UEPOLL_COMPAT_H_
#define UEPOLL_COMPAT_H_

/* Everything that declares the names below, before they become macros. */
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

#ifdef __cplusplus
#include <fstream>
#include <istream>
#include <ostream>
#endif

#include "uepoll/uepoll.h"

/* epoll(7). #undef first: some libcs make a few of these macros of their own (time64). */
#undef epoll_create
#define epoll_create uep_epoll_create
#undef epoll_create1
#define epoll_create1 uep_epoll_create1
#undef epoll_ctl
#define epoll_ctl uep_epoll_ctl
#undef epoll_wait
#define epoll_wait uep_epoll_wait
#undef epoll_pwait
#define epoll_pwait uep_epoll_pwait
#undef epoll_pwait2
#define epoll_pwait2 uep_epoll_pwait2

/* eventfd(2) */
#undef eventfd
#define eventfd uep_eventfd
#undef eventfd_read
#define eventfd_read uep_eventfd_read
#undef eventfd_write
#define eventfd_write uep_eventfd_write

/* pipe(2), socketpair(2) and the socket calls, timerfd(2) */
#undef pipe
#define pipe uep_pipe
#undef pipe2
#define pipe2 uep_pipe2
#undef socketpair
#define socketpair uep_socketpair
#undef send
#define send uep_send
#undef sendto
#define sendto uep_sendto
#undef sendmsg
#define sendmsg uep_sendmsg
#undef recv
#define recv uep_recv
#undef recvfrom
#define recvfrom uep_recvfrom
#undef recvmsg
#define recvmsg uep_recvmsg
#undef shutdown
#define shutdown uep_shutdown
#undef getsockopt
#define getsockopt uep_getsockopt
#undef setsockopt
#define setsockopt uep_setsockopt
#undef timerfd_create
#define timerfd_create uep_timerfd_create
#undef timerfd_settime
#define timerfd_settime uep_timerfd_settime
#undef timerfd_gettime
#define timerfd_gettime uep_timerfd_gettime

/* poll(2), select(2) */
#undef poll
#define poll uep_poll
#undef ppoll
#define ppoll uep_ppoll
#undef select
#define select uep_select
#undef pselect
#define pselect uep_pselect

/* Descriptors and I/O (kernel descriptors pass through to the kernel) */
#undef ioctl
#define ioctl uep_ioctl
#undef read
#define read uep_read
#undef write
#define write uep_write
#undef readv
#define readv uep_readv
#undef writev
#define writev uep_writev
#undef close
#define close uep_close
#undef close_range
#define close_range uep_close_range
#undef closefrom
#define closefrom uep_closefrom
#undef dup
#define dup uep_dup
#undef dup2
#define dup2 uep_dup2
#undef dup3
#define dup3 uep_dup3
#undef fcntl
#define fcntl uep_fcntl

/* syscall(2): raw close, epoll_pwait2 ... (uep_syscall) */
#undef syscall
#define syscall uep_syscall

#endif /* UEPOLL_COMPAT_H_ */
