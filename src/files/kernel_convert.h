// uepoll pipes and socket pairs become kernel objects before a child process is made.
//
// A uepoll file lives in this process's memory: a child made by fork() gets a copy that
// diverges at once, and one that execs gets nothing (the number is an O_PATH placeholder,
// core/fd_table.h). Programs hand pipes and socket pairs to their children all the time
// (a subprocess's stdio, nginx's master-worker channels, tmux's client and server). So,
// in the PARENT, before the child exists, each uepoll pipe and socket pair that a
// descriptor names is replaced by a kernel pipe or socket pair that both processes share:
//
//   1. a kernel object of the same kind is made (socket type; pipe capacity);
//   2. the uepoll object is frozen (PipeInode::Freeze, UnixSocket::FreezePair): its data is
//      copied out and every operation on it from then on, blocked ones woken, returns
//      -kEConverted; the calls that get it wait for the conversion to end
//      (WaitForConversions) and are made again on the descriptor, now the kernel's;
//   3. the data goes into the kernel object in order (pipe bytes and O_DIRECT packets,
//      stream bytes, datagram and seqpacket records), then each end's flags (O_NONBLOCK,
//      O_DIRECT), socket buffer sizes and shutdown state; a released end is closed;
//   4. each kernel end is dup3()ed onto every descriptor number of its uepoll end, with that
//      number's close-on-exec flag (FdTable::KernelDupOnto);
//   5. every epoll item watching a uepoll end is deleted and added again, with the same
//      events (EPOLLET, EPOLLONESHOT, EPOLLEXCLUSIVE) and data, as an item on the kernel
//      descriptor in the same instance (its hidden kernel instance, kernel/kernel_side.h).
//
// Only with placeholder numbering (the preload library, UEPOLL_NUMBERING=kernel): high
// uepoll numbers cannot be kernel descriptors. Eventfds, timerfds and instances are left
// as they are (docs/semantics.md, "fork").
#pragma once

#include <cstdint>

namespace uep {

// Converts every uepoll pipe and socket pair that a descriptor names; returns how many
// objects were converted. Called before fork (the pthread_atfork prepare handler), vfork,
// clone and posix_spawn (core/fork.h: BeforeChild); a no-op in a vfork child and without
// placeholder numbering.
int ConvertForChild();

// Waits until no conversion runs (for a call that got -kEConverted).
void WaitForConversions();

// Counts conversions, twice each (odd while one runs): a call that split its descriptors
// into uepoll's and the kernel's (poll), or found a number gone (EBADF), starts again when
// it was odd or changed meanwhile.
uint64_t ConversionGeneration();

}  // namespace uep
