#include "files/kernel_convert.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/epitem.h"
#include "core/eventpoll.h"
#include "core/fd_table.h"
#include "core/file.h"
#include "core/fork.h"
#include "core/rcu.h"
#include "core/reentry.h"
#include "core/waiter.h"
#include "files/pipe.h"
#include "files/unix_socket.h"
#include "platform/kernel_fd.h"
#include "platform/spinlock.h"

namespace uep {
namespace {

StdMutex convert_mutex;             // one conversion at a time
std::atomic<int> converting{0};     // conversions running (WaitForConversions)
std::atomic<uint64_t> generation{0};  // odd while one runs (ConversionGeneration)

// A descriptor naming a uepoll end, pinned for the conversion.
struct Number {
  int fd;
  File* file;
  bool cloexec;
};

// An epoll item that watched a uepoll end.
struct Watch {
  EventPoll* ep;  // pinned
  int fd;
  epoll_event event;
};

// The items watching `file`, their instances pinned.
std::vector<Watch> WatchesOf(File* file) {
  std::vector<Watch> watches;
  std::lock_guard guard(file->f_lock);
  for (ListHead* pos = file->f_ep.next(); pos != &file->f_ep; pos = pos->next()) {
    EpItem* epi = UEP_CONTAINER_OF(pos, EpItem, fllink);
    if (!FileTryGet(epi->ep)) continue;  // the instance is being closed
    epoll_event ev{};
    ev.events = epi->events.load(std::memory_order_relaxed);
    ev.data.u64 = epi->data.load(std::memory_order_relaxed);
    watches.push_back({epi->ep, epi->fd, ev});
  }
  return watches;
}

// Step 5: the items watching `end` go to the kernel descriptor `kfd` in their instances;
// `moved` are the numbers that are `kfd`'s object now.
void MoveWatches(File* end, int kfd, const std::vector<int>& moved, std::vector<File*>* puts) {
  for (Watch& w : WatchesOf(end)) {
    w.ep->Ctl(EPOLL_CTL_DEL, end, w.fd, nullptr);
    // The item's own number if it is the kernel end now; else (it was closed or reused
    // since the ADD, and the item lives on as the kernel's would) a number of its own.
    bool own = false;
    for (const int fd : moved) own |= fd == w.fd;
    const int fd = own ? w.fd : kernel::Fcntl(kfd, F_DUPFD_CLOEXEC, 0);
    if (fd >= 0) {
      w.ep->CtlKernel(EPOLL_CTL_ADD, fd, &w.event);
      if (!own) kernel::Close(fd);
    }
    puts->push_back(w.ep);
  }
}

// Step 4 and 5 for one end: its numbers become `kfd`, its items move to the kernel.
void MoveEnd(File* end, int kfd, const std::vector<Number>& numbers, std::vector<File*>* puts) {
  if (end == nullptr) return;
  std::vector<int> moved;
  for (const Number& n : numbers) {
    if (n.file != end) continue;
    File* displaced = nullptr;
    const int r = FdTable::Get().KernelDupOnto(kfd, n.fd, n.cloexec ? O_CLOEXEC : 0, &displaced,
                                               end);
    if (displaced != nullptr) puts->push_back(displaced);
    if (r >= 0) moved.push_back(n.fd);
  }
  // Again while items are left: an epoll_ctl(ADD) on another thread may have raced with
  // the first look (one that comes after the last look is lost with the uepoll file).
  for (int round = 0; round < 3 && end->f_ep_nonempty.load(std::memory_order_acquire); ++round) {
    MoveWatches(end, kfd, moved, puts);
  }
}

// Writes all of `data` to the nonblocking kernel descriptor `fd` (a fresh object of the
// same capacity: it fits); returns false if it did not.
bool WriteAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = kernel::Write(fd, data.data() + off, data.size() - off);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

void ConvertPipe(PipeInode* pipe, const std::vector<Number>& numbers, std::vector<File*>* puts) {
  int k[2];
  if (syscall(SYS_pipe2, k, O_CLOEXEC | O_NONBLOCK) != 0) return;  // it stays uepoll's
  PipeSnapshot snap;
  if (!pipe->Freeze(&snap)) {
    kernel::Close(k[0]);
    kernel::Close(k[1]);
    return;
  }
  const long size = static_cast<long>(snap.slots) * static_cast<long>(kPipePageSize);
  if (size != static_cast<long>(kPipeDefBuffers * kPipePageSize)) {
    kernel::Fcntl(k[1], F_SETPIPE_SZ, static_cast<unsigned long>(size));
  }
  bool direct = false;
  for (const PipeSnapshot::Chunk& chunk : snap.chunks) {
    if (chunk.packet != direct) {
      direct = chunk.packet;
      kernel::Fcntl(k[1], F_SETFL, O_NONBLOCK | (direct ? O_DIRECT : 0));
    }
    WriteAll(k[1], chunk.data);
  }
  constexpr uint32_t kEndFlags = O_NONBLOCK | O_DIRECT;
  const std::pair<File*, int> ends[] = {{snap.reader_end, k[0]}, {snap.writer_end, k[1]}};
  for (const auto& [end, kfd] : ends) {
    if (end != nullptr) {
      kernel::Fcntl(kfd, F_SETFL, end->f_flags.load(std::memory_order_relaxed) & kEndFlags);
    }
  }
  MoveEnd(snap.reader_end, k[0], numbers, puts);
  MoveEnd(snap.writer_end, k[1], numbers, puts);
  kernel::Close(k[0]);
  kernel::Close(k[1]);
}

void ConvertPair(UnixSocket* a, UnixSocket* b, const std::vector<Number>& numbers,
                 std::vector<File*>* puts) {
  const int type = a->type();
  int k[2];
  if (syscall(SYS_socketpair, AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, k) != 0) return;
  UnixEndSnapshot sa;
  UnixEndSnapshot sb;
  if (!UnixSocket::FreezePair(a, b, &sa, &sb)) {
    kernel::Close(k[0]);
    kernel::Close(k[1]);
    return;
  }
  const UnixEndSnapshot* snaps[2] = {&sa, &sb};
  UnixSocket* ends[2] = {a, b};
  // Buffer sizes first (the kernel doubles what it is given), then each end's unread data,
  // sent by the other end's kernel socket: record by record.
  for (int i = 0; i < 2; ++i) {
    if (ends[i] == nullptr) continue;
    const int snd = snaps[i]->sndbuf / 2;
    const int rcv = snaps[i]->rcvbuf / 2;
    syscall(SYS_setsockopt, k[i], SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd);
    syscall(SYS_setsockopt, k[i], SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  }
  for (int i = 0; i < 2; ++i) {
    for (const std::string& record : snaps[i]->queue) {
      if (type == SOCK_STREAM) {
        WriteAll(k[1 - i], record);
      } else {
        syscall(SYS_sendto, k[1 - i], record.data(), record.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
                nullptr, 0);
      }
    }
  }
  for (int i = 0; i < 2; ++i) {
    if (ends[i] == nullptr) continue;
    const uint32_t flags = ends[i]->f_flags.load(std::memory_order_relaxed) & O_NONBLOCK;
    kernel::Fcntl(k[i], F_SETFL, flags);
    // The shutdown state, after the data (a peer's death shuts both ways: that comes from
    // the close below). A stream or seqpacket shutdown marks both ends, mirrored (one
    // end's RCV_SHUTDOWN is the other's SEND_SHUTDOWN), so SHUT_WR on each end with
    // SEND_SHUTDOWN makes all of it; a datagram socket's bits are its own.
    if (!snaps[i]->peer_dead) {
      const uint8_t own = snaps[i]->shutdown;
      const bool rd = type == SOCK_DGRAM && (own & 1) != 0;
      const bool wr = (own & 2) != 0;
      if (rd || wr) syscall(SYS_shutdown, k[i], rd && wr ? SHUT_RDWR : (rd ? SHUT_RD : SHUT_WR));
    }
  }
  // A released peer: the survivor's pending ECONNRESET (the peer left unread data) is made
  // the kernel's way, by closing a peer with a byte unread.
  if (b == nullptr && type != SOCK_DGRAM && sa.err == ECONNRESET) {
    syscall(SYS_sendto, k[0], "", 1, MSG_DONTWAIT | MSG_NOSIGNAL, nullptr, 0);
  }
  MoveEnd(a, k[0], numbers, puts);
  MoveEnd(b, k[1], numbers, puts);
  kernel::Close(k[0]);
  kernel::Close(k[1]);
}

struct ConvertingScope {
  ConvertingScope() {
    converting.fetch_add(1, std::memory_order_acq_rel);
    generation.fetch_add(1, std::memory_order_acq_rel);  // odd: running
  }
  ~ConvertingScope() {
    generation.fetch_add(1, std::memory_order_acq_rel);
    converting.fetch_sub(1, std::memory_order_acq_rel);
  }
  ConvertingScope(const ConvertingScope&) = delete;
  ConvertingScope& operator=(const ConvertingScope&) = delete;
};

}  // namespace

int ConvertForChild() {
  if (!FdTable::Made()) return 0;
  FdTable& table = FdTable::Get();
  if (!table.Placeholders() || InForeignProcess() || table.OpenCount() == 0) return 0;
  ApiScope api;
  // fork() in a signal handler that interrupted a uepoll call: the locks the conversion
  // takes may be that call's (docs/semantics.md: fork is not async-signal-safe there).
  if (api.reentrant()) return 0;
  std::lock_guard serial(convert_mutex);
  WakeScope wake_scope;
  ConvertingScope scope;
  // The numbers of every pipe end and socket, grouped by object.
  std::vector<Number> numbers;
  std::unordered_map<const void*, std::vector<UnixSocket*>> pairs;
  std::unordered_map<PipeInode*, bool> pipes;
  for (int fd = table.NextOpen(0); fd >= 0; fd = table.NextOpen(fd + 1)) {
    const int cloexec = table.GetCloexec(fd);
    RcuReadGuard guard;
    File* file = table.Lookup(fd);
    if (file == nullptr) continue;
    auto* pipe_end = dynamic_cast<PipeFile*>(file);
    auto* sock = pipe_end == nullptr ? dynamic_cast<UnixSocket*>(file) : nullptr;
    if ((pipe_end == nullptr && sock == nullptr) || !FileTryGet(file)) continue;
    numbers.push_back({fd, file, cloexec > 0});
    if (pipe_end != nullptr) {
      pipes[pipe_end->inode()] = true;
    } else {
      std::vector<UnixSocket*>& ends = pairs[sock->PairKey()];
      if (ends.empty() || (ends[0] != sock && ends.size() == 1)) ends.push_back(sock);
    }
  }
  std::vector<File*> puts;
  for (const auto& [pipe, unused] : pipes) ConvertPipe(pipe, numbers, &puts);
  for (const auto& [key, ends] : pairs) {
    ConvertPair(ends[0], ends.size() > 1 ? ends[1] : nullptr, numbers, &puts);
  }
  for (const Number& n : numbers) puts.push_back(n.file);
  for (File* file : puts) FilePut(file);
  return static_cast<int>(pipes.size() + pairs.size());
}

uint64_t ConversionGeneration() { return generation.load(std::memory_order_acquire); }

void WaitForConversions() {
  while (converting.load(std::memory_order_acquire) != 0) sched_yield();
}

[[maybe_unused]] const bool before_child_registered = (SetBeforeChild(ConvertForChild), true);

}  // namespace uep
