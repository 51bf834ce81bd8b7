// A fixed pool of equal blocks that signal handlers may use: Take() and Return() are each
// a compare-and-swap loop, with no lock and no allocation, safe from any thread and from a
// handler that interrupted either of them. A handler cannot call malloc (the code it
// interrupted may hold malloc's lock), so what it must allocate comes from here.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace uep {

template <unsigned kCount, size_t kSize>
class BlockPool {
 public:
  static constexpr size_t kBlockSize = kSize;

  // A free block, or nullptr when all are taken.
  void* Take() {
    uint64_t head = free_head_.load(std::memory_order_acquire);
    for (;;) {
      const auto idx = static_cast<uint32_t>(head);
      if (idx == 0) break;
      const uint64_t next = NextHead(head, free_next_[idx].load(std::memory_order_relaxed));
      if (free_head_.compare_exchange_weak(head, next, std::memory_order_acq_rel,
                                           std::memory_order_acquire)) {
        return blocks_[idx - 1].bytes;
      }
    }
    // Blocks never used yet are handed out in order: the pool needs no initialisation.
    const uint32_t fresh = never_used_.fetch_add(1, std::memory_order_relaxed);
    if (fresh < kCount) return blocks_[fresh].bytes;
    never_used_.store(kCount, std::memory_order_relaxed);
    return nullptr;
  }

  [[nodiscard]] bool Owns(const void* p) const {
    const auto* b = static_cast<const char*>(p);
    return b >= blocks_[0].bytes && b < blocks_[kCount - 1].bytes + kSize;
  }

  void Return(void* p) {
    const auto idx = static_cast<uint32_t>(reinterpret_cast<Block*>(p) - blocks_) + 1;
    uint64_t head = free_head_.load(std::memory_order_relaxed);
    for (;;) {
      free_next_[idx].store(static_cast<uint32_t>(head), std::memory_order_relaxed);
      if (free_head_.compare_exchange_weak(head, NextHead(head, idx), std::memory_order_release,
                                           std::memory_order_relaxed)) {
        return;
      }
    }
  }

 private:
  struct Block {
    alignas(std::max_align_t) char bytes[kSize];
  };

  // The free stack's head: index + 1 of the top block (0: empty) in the lower half, a tag
  // that every change bumps in the upper half, so a stale compare-and-swap fails (ABA).
  static uint64_t NextHead(uint64_t head, uint32_t idx) {
    return (head & ~uint64_t{0xffffffff}) + (uint64_t{1} << 32) + idx;
  }

  Block blocks_[kCount];
  std::atomic<uint64_t> free_head_{0};
  std::atomic<uint32_t> free_next_[kCount + 1]{};
  std::atomic<uint32_t> never_used_{0};
};

}  // namespace uep
