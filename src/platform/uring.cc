#include "platform/uring.h"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>

#include "platform/env.h"
#include "platform/kernel_fd.h"

#if UEPOLL_HAVE_LIBURING
#include <liburing.h>
#endif

namespace uep::platform {
namespace {

// Marks a thread for as long as it runs: a ring's issuer that exited can no longer reset it.
struct ThreadToken {
  std::shared_ptr<std::atomic<bool>> alive = std::make_shared<std::atomic<bool>>(true);
  ~ThreadToken() { alive->store(false, std::memory_order_release); }
};
thread_local ThreadToken tls_token;

}  // namespace

// The thread's ring: its reference is dropped when the thread exits.
struct RingOwner {
  ReadinessRing* ring = nullptr;
  bool failed = false;
  ~RingOwner() {
    if (ring != nullptr) ring->Release();
  }
};

namespace {
thread_local RingOwner tls_ring;

KernelReadiness ChooseMode() {
  const char* env = std::getenv("UEPOLL_KERNEL_READINESS");
  if (env != nullptr && std::strcmp(env, "syscall") == 0) return KernelReadiness::kSyscall;
  if (env != nullptr && std::strcmp(env, "uring") != 0) {
    ReportIgnoredEnv("UEPOLL_KERNEL_READINESS", env, "is neither uring nor syscall: ignored");
  }
  // The calling thread's ring is the probe (a ring is never closed under a live thread).
  if (ReadinessRing::ForThisThread() != nullptr) return KernelReadiness::kUring;
  if (env != nullptr && std::strcmp(env, "uring") == 0) {
    ReportIgnoredEnv("UEPOLL_KERNEL_READINESS", env, "but no io_uring ring: syscall used");
  }
  return KernelReadiness::kSyscall;
}

}  // namespace

void ReadinessRingsAfterFork() { process_generation.fetch_add(1, std::memory_order_relaxed); }

KernelReadiness KernelReadinessMode() {
  static const KernelReadiness mode = ChooseMode();
  return mode;
}

const char* KernelReadinessName(KernelReadiness mode) {
  return mode == KernelReadiness::kUring ? "uring" : "syscall";
}

bool ReadinessRing::IssuerAlive() const {
  return generation_ == ProcessGeneration() && issuer_alive_->load(std::memory_order_acquire);
}

bool ReadinessRing::CalledByIssuer() const {
  return generation_ == ProcessGeneration() && tls_token.alive == issuer_alive_;
}

void ReadinessRing::Release() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

void ReadinessRing::Unwatch(uint64_t token) {
  std::lock_guard guard(cancel_mu_);
  try {
    cancels_.push_back(token);
  } catch (const std::bad_alloc&) {
    return;  // the poll stays armed: its events go to a token nobody has
  }
  cancels_pending_.store(true, std::memory_order_release);
}

#if UEPOLL_HAVE_LIBURING

namespace {
// Completion entries: one poll per watch posts one per wake-up of the watched instance;
// more than fit between two resets overflow, which ends the poll (re-armed by Reset()).
constexpr unsigned kEntries = 16;
constexpr unsigned kSetupFlags =
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
constexpr uint64_t kCancelData = ~uint64_t{0};
}  // namespace

struct ReadinessRing::Impl {
  io_uring ring{};
};

ReadinessRing* ReadinessRing::ForThisThread() {
  RingOwner& owner = tls_ring;
  if (owner.ring != nullptr && owner.ring->generation_ == ProcessGeneration()) return owner.ring;
  if (owner.ring != nullptr) {
    // A fork child's copy of the parent's ring: dropped, never used.
    owner.ring->Release();
    owner.ring = nullptr;
    owner.failed = false;
  }
  if (owner.failed) return nullptr;
  owner.failed = true;
  auto* r = new (std::nothrow) ReadinessRing;
  if (r == nullptr) return nullptr;
  r->impl_ = new (std::nothrow) Impl;
  io_uring_params params{};
  params.flags = kSetupFlags;
  if (r->impl_ == nullptr || io_uring_queue_init_params(kEntries, &r->impl_->ring, &params) != 0) {
    delete r->impl_;
    r->impl_ = nullptr;
    delete r;
    return nullptr;
  }
  io_uring& ring = r->impl_->ring;
  // Out of the program's low numbers, as uepoll's other descriptors (kernel_fd.h).
  const int moved = kernel::OutOfTheWay(ring.ring_fd);
  ring.ring_fd = moved;
  ring.enter_ring_fd = moved;
  r->kflags_ = ring.sq.kflags;
  r->cq_tail_ = ring.cq.ktail;
  r->cq_head_ = ring.cq.khead;
  r->issuer_alive_ = tls_token.alive;
  r->generation_ = ProcessGeneration();
  owner.ring = r;
  owner.failed = false;
  return r;
}

ReadinessRing::~ReadinessRing() {
  if (impl_ == nullptr) return;
  // Last reference: the issuer has exited (or this is a fork child's copy, whose close
  // leaves the parent's ring alone). Closing the ring cancels its polls.
  io_uring_queue_exit(&impl_->ring);
  delete impl_;
}

bool ReadinessRing::Arm(uint64_t token, int fd) {
  io_uring& ring = impl_->ring;
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  if (sqe == nullptr) {
    io_uring_submit(&ring);
    sqe = io_uring_get_sqe(&ring);
    if (sqe == nullptr) return false;
  }
  io_uring_prep_poll_multishot(sqe, fd, POLLIN);
  io_uring_sqe_set_data64(sqe, token);
  return io_uring_submit(&ring) >= 1;
}

bool ReadinessRing::Watch(uint64_t token, int fd) {
  {
    // Watched again before the issuer cancelled the old watch: that cancel must not
    // remove the new poll (same token).
    std::lock_guard guard(cancel_mu_);
    cancels_.erase(std::remove(cancels_.begin(), cancels_.end(), token), cancels_.end());
  }
  try {
    watches_[token] = fd;
  } catch (const std::bad_alloc&) {
    return false;
  }
  if (Arm(token, fd)) return true;
  watches_.erase(token);
  return false;
}

bool ReadinessRing::Reset(Sink sink) {
  io_uring& ring = impl_->ring;
  if (cancels_pending_.load(std::memory_order_acquire)) {
    std::vector<uint64_t> cancels;
    {
      std::lock_guard guard(cancel_mu_);
      cancels.swap(cancels_);
      cancels_pending_.store(false, std::memory_order_relaxed);
    }
    for (const uint64_t token : cancels) {
      if (watches_.erase(token) == 0) continue;
      io_uring_sqe* sqe = io_uring_get_sqe(&ring);
      if (sqe == nullptr) {
        io_uring_submit(&ring);
        sqe = io_uring_get_sqe(&ring);
      }
      if (sqe == nullptr) continue;
      io_uring_prep_poll_remove(sqe, token);
      io_uring_sqe_set_data64(sqe, kCancelData);
    }
    io_uring_submit(&ring);
  }
  std::vector<uint64_t> ended;
  for (int round = 0; round < 8; ++round) {
    // Runs the deferred work (posting the completions) and flushes an overflow.
    io_uring_get_events(&ring);
    unsigned head = 0;
    unsigned seen = 0;
    io_uring_cqe* cqe = nullptr;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++seen;
      const uint64_t token = io_uring_cqe_get_data64(cqe);
      if (token == kCancelData || watches_.count(token) == 0) continue;
      // No IORING_CQE_F_MORE: the poll ended (an overflow, an error): arm it again.
      const bool over = (cqe->flags & IORING_CQE_F_MORE) == 0;
      if (over) {
        try {
          ended.push_back(token);
        } catch (const std::bad_alloc&) {
        }
      }
      sink(token, over);
    }
    io_uring_cq_advance(&ring, seen);
    if ((__atomic_load_n(kflags_, __ATOMIC_ACQUIRE) & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) == 0 &&
        io_uring_cq_ready(&ring) == 0) {
      break;
    }
  }
  for (const uint64_t token : unarmed_) {
    try {
      ended.push_back(token);
    } catch (const std::bad_alloc&) {
    }
  }
  unarmed_.clear();
  std::sort(ended.begin(), ended.end());
  ended.erase(std::unique(ended.begin(), ended.end()), ended.end());
  for (const uint64_t token : ended) {
    auto it = watches_.find(token);
    if (it == watches_.end() || Arm(token, it->second)) continue;
    try {
      unarmed_.push_back(token);
    } catch (const std::bad_alloc&) {
      return false;  // cannot even remember it: the caller stops trusting the ring
    }
  }
  broken_.store(!unarmed_.empty(), std::memory_order_release);
  return true;
}

#else  // no liburing: only the syscall mode exists

struct ReadinessRing::Impl {};
ReadinessRing* ReadinessRing::ForThisThread() { return nullptr; }
ReadinessRing::~ReadinessRing() = default;
bool ReadinessRing::Arm(uint64_t /*token*/, int /*fd*/) { return false; }
bool ReadinessRing::Watch(uint64_t /*token*/, int /*fd*/) { return false; }
bool ReadinessRing::Reset(Sink /*sink*/) { return false; }

#endif

}  // namespace uep::platform
