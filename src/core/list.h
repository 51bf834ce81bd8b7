// Intrusive doubly linked list, the kernel's list_head: an object is linked by a field
// named after the list it sits on, and "linked" is a property of that field alone.
//
// `next` is an atomic accessed with relaxed order so that Empty() may be asked without the
// list's lock (the kernel's list_empty_careful / waitqueue_active): the answer is a hint
// unless the lock is held. All other use happens under the list owner's lock.
#pragma once

#include <atomic>
#include <cstddef>

namespace uep {

struct ListHead {
  ListHead() = default;
  ListHead(const ListHead&) = delete;
  ListHead& operator=(const ListHead&) = delete;

  [[nodiscard]] ListHead* next() const { return next_.load(std::memory_order_relaxed); }
  [[nodiscard]] ListHead* prev() const { return prev_; }

  void Init() {
    next_.store(this, std::memory_order_relaxed);
    prev_ = this;
  }
  [[nodiscard]] bool Empty() const { return next() == this; }
  // True when this node is on some list (a node that is not points at itself).
  [[nodiscard]] bool Linked() const { return next() != this; }

  void AddHead(ListHead* node) { Insert(node, this, next()); }
  void AddTail(ListHead* node) { Insert(node, prev_, this); }

  // Unlinks this node and leaves it self-linked, so Linked() is false afterwards.
  void DelInit() {
    ListHead* n = next();
    n->prev_ = prev_;
    prev_->next_.store(n, std::memory_order_relaxed);
    Init();
  }

  // Moves every node of `from` to the front / the back of this list; `from` ends empty.
  void SpliceHeadInit(ListHead* from) {
    if (from->Empty()) return;
    ListHead* first = from->next();
    ListHead* last = from->prev_;
    ListHead* at = next();
    first->prev_ = this;
    last->next_.store(at, std::memory_order_relaxed);
    at->prev_ = last;
    next_.store(first, std::memory_order_relaxed);
    from->Init();
  }
  void SpliceTailInit(ListHead* from) {
    if (from->Empty()) return;
    ListHead* first = from->next();
    ListHead* last = from->prev_;
    first->prev_ = prev_;
    prev_->next_.store(first, std::memory_order_relaxed);
    last->next_.store(this, std::memory_order_relaxed);
    prev_ = last;
    from->Init();
  }

 private:
  static void Insert(ListHead* node, ListHead* before, ListHead* after) {
    after->prev_ = node;
    node->next_.store(after, std::memory_order_relaxed);
    node->prev_ = before;
    before->next_.store(node, std::memory_order_relaxed);
  }

  std::atomic<ListHead*> next_{this};
  ListHead* prev_ = this;
};

}  // namespace uep

// The kernel's container_of, for standard-layout owners only.
#define UEP_CONTAINER_OF(ptr, type, member) \
  (reinterpret_cast<type*>(reinterpret_cast<char*>(ptr) - offsetof(type, member)))
