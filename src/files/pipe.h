// Pipes (fs/pipe.c): one PipeInode (the kernel's pipe_inode_info) shared by two PipeFile
// ends. The data is a ring of page-sized buffers, as in the kernel, because the ring is
// what the system calls show: a pipe is writable only while a whole slot is free, small
// writes merge into the last page, writes of up to PIPE_BUF are atomic, F_SETPIPE_SZ counts
// and refuses in slots.
//
//   int fds[2];
//   uep_pipe2(fds, O_NONBLOCK);
//   uep_write(fds[1], "x", 1);           // wakes EPOLLIN watchers of fds[0]
//
// Locking. `mutex` (the kernel's pipe->mutex) serialises readers, writers, F_SETPIPE_SZ,
// FIONREAD and release. It is taken with no other uepoll lock held and no lock is taken
// under it: wake-ups (rd_wait/wr_wait locks, level 4 of the order in core/eventpoll.cc)
// and sleeps happen after it is dropped, and it is never held across a sleep. Poll() takes
// no pipe lock: it reads head, tail, max_usage, readers and writers racily after hanging
// its entries, as pipe_poll() does.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/file.h"
#include "core/wait_queue.h"

namespace uep {

inline constexpr size_t kPipePageSize = 4096;        // PAGE_SIZE
inline constexpr unsigned kPipeDefBuffers = 16;      // PIPE_DEF_BUFFERS: 64 KiB
inline constexpr unsigned kPipeMinDefBuffers = 2;    // PIPE_MIN_DEF_BUFFERS

// pipe_buffer: one page of the ring.
struct PipeBuffer {
  char* page = nullptr;
  uint32_t offset = 0;  // first unread byte in `page`
  uint32_t len = 0;     // unread bytes from `offset`
  uint32_t flags = 0;   // kPipeBufCanMerge | kPipeBufPacket
};
inline constexpr uint32_t kPipeBufPacket = 0x08;    // PIPE_BUF_FLAG_PACKET: O_DIRECT write
inline constexpr uint32_t kPipeBufCanMerge = 0x10;  // PIPE_BUF_FLAG_CAN_MERGE

// What a pipe held when it was frozen (PipeInode::Freeze): its data in order (a packet per
// chunk for O_DIRECT writes), its capacity and its ends' flags.
struct PipeSnapshot {
  struct Chunk {
    std::string data;
    bool packet = false;
  };
  std::vector<Chunk> chunks;
  unsigned slots = 0;             // max_usage
  File* reader_end = nullptr;     // the open ends (nullptr once released)
  File* writer_end = nullptr;
};

// pipe_inode_info. Lives while either end does.
class PipeInode {
 public:
  // nullptr (ENFILE) if the per-user buffer limit refuses the pipe.
  static PipeInode* Create();
  ~PipeInode();
  PipeInode(const PipeInode&) = delete;
  PipeInode& operator=(const PipeInode&) = delete;

  // The ends' references (pipe->files). The last Put() deletes the pipe.
  void Put();

  static bool Empty(unsigned head, unsigned tail) { return head == tail; }
  static bool Full(unsigned head, unsigned tail, unsigned limit) { return head - tail >= limit; }
  // pipe_readable()/pipe_writable(): the conditions blocked readers and writers wait for
  // (a frozen pipe wakes both: they retry on the kernel pipe that replaced it).
  [[nodiscard]] bool Readable() const;
  [[nodiscard]] bool Writable() const;
  // Before the pipe becomes a kernel pipe (files/kernel_convert.h): copies its state out
  // and marks it converted, so that every read and write from now on (blocked ones woken)
  // returns -kEConverted. Returns false if it was already frozen.
  bool Freeze(PipeSnapshot* out);

  StdMutex mutex;        // see the file comment
  WaitQueueHead rd_wait;  // readers, and watchers of the read end
  WaitQueueHead wr_wait;  // writers, and watchers of the write end
  // The ring: slot i is bufs[i & (ring_size - 1)]. head/tail are written under `mutex` and
  // read without it by Poll() and the wait conditions.
  std::atomic<unsigned> head{0};
  std::atomic<unsigned> tail{0};
  std::atomic<unsigned> max_usage{0};  // slots that may be used (pipe_full's limit)
  unsigned ring_size GUARDED_BY(mutex) = 0;
  std::unique_ptr<PipeBuffer[]> bufs GUARDED_BY(mutex);
  char* tmp_page GUARDED_BY(mutex) = nullptr;  // one spare page kept for the next write
  unsigned nr_accounted GUARDED_BY(mutex) = 0;  // slots charged to the user's pipe budget
  std::atomic<unsigned> readers{1};    // open read ends (files, not descriptors)
  std::atomic<unsigned> writers{1};
  // Set by the first Poll(): from then on every write wakes the readers' queue, even when
  // the pipe was not empty, so that each write is an edge for EPOLLET (pipe->poll_usage).
  std::atomic<bool> poll_usage{false};
  // Frozen for conversion into a kernel pipe (written under `mutex`).
  std::atomic<bool> converted{false};
  // pipe->fasync_readers / fasync_writers: the ends, for SIGIO (files/fasync.h); each
  // cleared under `mutex` when its end is released.
  File* reader_end = nullptr;
  File* writer_end = nullptr;

 private:
  PipeInode() = default;
  std::atomic<int> files_{2};
};

class PipeFile final : public File {
 public:
  // `flags`: O_RDONLY or O_WRONLY, plus O_NONBLOCK / O_DIRECT as F_GETFL shows them.
  // Takes over one of the pipe's file references.
  PipeFile(PipeInode* pipe, uint32_t flags);

  uint32_t Poll(PollTable* pt) override;
  // Both ends have read_iter and write_iter (FMODE_CAN_READ/WRITE); the access mode
  // decides, with EBADF, which one may be used.
  [[nodiscard]] bool CanRead() const override { return true; }
  [[nodiscard]] bool CanWrite() const override { return true; }
  ssize_t Read(const iovec* iov, int iovcnt, int io_flags, SleepPermit* permit) override;
  ssize_t Write(const iovec* iov, int iovcnt, int io_flags, SleepPermit* permit) override;
  int Ioctl(unsigned long request, void* arg) override;
  int Fcntl(int cmd, unsigned long arg) override;
  [[nodiscard]] bool AllowsODirect() const override { return true; }
  [[nodiscard]] bool MergesWrites() const override {
    return (f_flags.load(std::memory_order_relaxed) & O_DIRECT) == 0;
  }
  [[nodiscard]] bool HasFasync() const override { return true; }  // pipe_fasync()
  void Release() override;
  [[nodiscard]] PipeInode* inode() const { return pipe_; }
  [[nodiscard]] bool IsReader() const { return is_reader_; }

 private:
  int SetSize(unsigned long arg) REQUIRES(pipe_->mutex);

  PipeInode* const pipe_;
  const bool is_reader_;
};

}  // namespace uep
