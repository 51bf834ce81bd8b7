#include "core/trace.h"

#include <time.h>

#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>

#include "core/fork.h"
#include "platform/spinlock.h"

namespace uep::trace {

std::atomic<bool> g_enabled{false};

namespace {

// The buffer is a ring: record i goes to slot i % capacity, so a trace keeps the last
// `capacity` records. Each slot is a seqlock: `version` is 2i+1 while record i is being
// written, 2i+2 once it is whole. A writer takes its slot only from an older, whole record
// (never waits: a writer that finds the slot busy or newer loses its record); a reader
// keeps a copy only if the version was the expected even one before and after. The words
// are copied with relaxed atomics, so a reader racing a writer is not a data race.
constexpr size_t kRecordWords = sizeof(Record) / sizeof(uint64_t);
static_assert(sizeof(Record) % sizeof(uint64_t) == 0 && alignof(Record) <= alignof(uint64_t));

struct Slot {
  std::atomic<uint64_t> version{0};
  uint64_t words[kRecordWords];
};

struct Buffer {
  explicit Buffer(size_t cap) : capacity(cap), slots(new Slot[cap]) {}
  const size_t capacity;
  std::unique_ptr<Slot[]> slots;
  std::atomic<uint64_t> next{0};  // records claimed so far
};

std::atomic<Buffer*> current{nullptr};
StdMutex control_lock;
// Fork (core/fork.h): Start/Stop are whole in the child.
[[maybe_unused]] const bool fork_registered =
    (RegisterForkHandlers(ForkOrder::kTrace, {[]() ACQUIRE(control_lock) { control_lock.lock(); },
                                              []() RELEASE(control_lock) { control_lock.unlock(); },
                                              []() RELEASE(control_lock) { control_lock.unlock(); }}),
     true);
// Buffers are never freed while the process runs: a writer that loaded one just before a
// Start() replaced it may still be filling a slot. (One per Start(); scenarios start a few.)
std::vector<std::unique_ptr<Buffer>>& Retired() {
  static auto* retired = new std::vector<std::unique_ptr<Buffer>>;
  return *retired;
}

std::atomic<uint32_t> next_tid{1};
thread_local uint32_t tls_tid = 0;

uint32_t ThreadId() {
  if (tls_tid == 0) tls_tid = next_tid.fetch_add(1, std::memory_order_relaxed);
  return tls_tid;
}

}  // namespace

void Emit(Kind kind, const void* a, const void* b, const void* c, const void* d, uint32_t x,
          uint32_t y, const char* tag) {
  Buffer* buf = current.load(std::memory_order_acquire);
  if (buf == nullptr) return;
  const uint64_t i = buf->next.fetch_add(1, std::memory_order_relaxed);
  Slot& s = buf->slots[i % buf->capacity];
  const uint64_t writing = 2 * i + 1;
  uint64_t v = s.version.load(std::memory_order_relaxed);
  do {
    // Busy (odd: a writer a whole ring behind, preempted or interrupted by this very
    // handler) or newer: this record is lost rather than waited for.
    if ((v & 1) != 0 || v >= writing) return;
  } while (!s.version.compare_exchange_weak(v, writing, std::memory_order_relaxed));
  std::atomic_thread_fence(std::memory_order_release);
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  Record rec{};
  rec.seq = i;
  rec.ts_ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
  rec.tid = ThreadId();
  rec.kind = kind;
  rec.pad = 0;
  rec.x = x;
  rec.y = y;
  rec.a = reinterpret_cast<uintptr_t>(a);
  rec.b = reinterpret_cast<uintptr_t>(b);
  rec.c = reinterpret_cast<uintptr_t>(c);
  rec.d = reinterpret_cast<uintptr_t>(d);
  rec.tag = tag;
  uint64_t words[kRecordWords];
  std::memcpy(words, &rec, sizeof rec);
  for (size_t k = 0; k < kRecordWords; ++k) __atomic_store_n(&s.words[k], words[k], __ATOMIC_RELAXED);
  s.version.store(writing + 1, std::memory_order_release);
}

int Start(size_t capacity) {
  if (capacity == 0) capacity = 1 << 16;
  if (capacity > (size_t{1} << 26)) return -EINVAL;
  std::lock_guard guard(control_lock);
  std::unique_ptr<Buffer> buf;
  try {
    buf = std::make_unique<Buffer>(capacity);
  } catch (const std::bad_alloc&) {
    return -ENOMEM;
  }
  current.store(buf.get(), std::memory_order_release);
  Retired().push_back(std::move(buf));
  g_enabled.store(true, std::memory_order_relaxed);
  return 0;
}

int Stop() {
  std::lock_guard guard(control_lock);
  g_enabled.store(false, std::memory_order_relaxed);
  return 0;
}

std::vector<Record> Snapshot(uint64_t* dropped) {
  std::vector<Record> out;
  Buffer* buf = current.load(std::memory_order_acquire);
  if (dropped != nullptr) *dropped = 0;
  if (buf == nullptr) return out;
  const uint64_t next = buf->next.load(std::memory_order_acquire);
  const uint64_t first = next > buf->capacity ? next - buf->capacity : 0;
  out.reserve(next - first);
  for (uint64_t i = first; i < next; ++i) {
    Slot& s = buf->slots[i % buf->capacity];
    const uint64_t whole = 2 * i + 2;
    if (s.version.load(std::memory_order_acquire) != whole) continue;  // lost or unfinished
    uint64_t words[kRecordWords];
    for (size_t k = 0; k < kRecordWords; ++k) words[k] = __atomic_load_n(&s.words[k], __ATOMIC_RELAXED);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (s.version.load(std::memory_order_relaxed) != whole) continue;  // overwritten meanwhile
    Record rec;
    std::memcpy(&rec, words, sizeof rec);
    out.push_back(rec);
  }
  if (dropped != nullptr) *dropped = next - out.size();
  return out;
}

void SetThreadName(const char* static_name) {
  UEP_TRACE(kThreadName, nullptr, nullptr, nullptr, nullptr, 0, 0, static_name);
}

const char* TypeName(const char* mangled) {
  if (mangled == nullptr) return "file";
  if (std::strstr(mangled, "EventPoll") != nullptr) return "epoll";
  if (std::strstr(mangled, "EventFd") != nullptr) return "eventfd";
  if (std::strstr(mangled, "Pipe") != nullptr) return "pipe";
  if (std::strstr(mangled, "Socket") != nullptr || std::strstr(mangled, "Unix") != nullptr) {
    return "socket";
  }
  if (std::strstr(mangled, "Timer") != nullptr) return "timerfd";
  return "file";
}

const char* KindName(Kind k) {
  switch (k) {
    case Kind::kRegister: return "register";
    case Kind::kWake: return "wake";
    case Kind::kCallback: return "callback";
    case Kind::kReadyOnCtl: return "ready_on_ctl";
    case Kind::kEpWait: return "ep_wait";
    case Kind::kSleep: return "sleep";
    case Kind::kSleepEnd: return "sleep_end";
    case Kind::kWaiterWoken: return "waiter_woken";
    case Kind::kTransferBegin: return "transfer_begin";
    case Kind::kTransferItem: return "transfer_item";
    case Kind::kTransferEnd: return "transfer_end";
    case Kind::kOvfRequeue: return "ovf_requeue";
    case Kind::kPollAtDepth: return "poll_at_depth";
    case Kind::kKernelHarvest: return "kernel_harvest";
    case Kind::kKernelSleep: return "kernel_sleep";
    case Kind::kKernelSleepEnd: return "kernel_sleep_end";
    case Kind::kRingSignal: return "ring_signal";
    case Kind::kRingRearm: return "ring_rearm";
    case Kind::kThreadName: return "thread_name";
    case Kind::kMark: return "mark";
  }
  return "?";
}

// `text` as a JSON string: quotes, backslashes and control characters escaped (a thread's
// name may hold any of them). The library's only JSON; `uepoll trace` reads it with a
// JSON parser.
static void PutJsonString(FILE* out, const char* text) {
  std::fputc('"', out);
  for (const char* p = text; *p != '\0'; ++p) {
    const auto c = static_cast<unsigned char>(*p);
    if (c == '"' || c == '\\') {
      std::fputc('\\', out);
      std::fputc(c, out);
    } else if (c < 0x20) {
      std::fprintf(out, "\\u%04x", c);
    } else {
      std::fputc(c, out);
    }
  }
  std::fputc('"', out);
}

int Dump(FILE* out) {
  uint64_t dropped = 0;
  const std::vector<Record> recs = Snapshot(&dropped);
  for (const Record& r : recs) {
    std::fprintf(out,
                 "{\"seq\":%" PRIu64 ",\"ts_ns\":%" PRIu64 ",\"tid\":%u,\"kind\":\"%s\","
                 "\"a\":\"0x%" PRIxPTR "\",\"b\":\"0x%" PRIxPTR "\",\"c\":\"0x%" PRIxPTR
                 "\",\"d\":\"0x%" PRIxPTR "\",\"x\":%u,\"y\":%u,\"tag\":",
                 r.seq, r.ts_ns, r.tid, KindName(r.kind), r.a, r.b, r.c, r.d, r.x, r.y);
    PutJsonString(out, r.tag != nullptr ? r.tag : "");
    std::fputs("}\n", out);
  }
  if (dropped != 0) std::fprintf(out, "{\"dropped\":%" PRIu64 "}\n", dropped);
  return std::ferror(out) != 0 ? -EIO : 0;
}

// Emitted whatever UEPOLL_TRACE_POINTS says: the caller asked for it (a scenario's mark).
void Mark(const char* static_text, uint32_t value) {
  if (On()) Emit(Kind::kMark, nullptr, nullptr, nullptr, nullptr, value, 0, static_text);
}

}  // namespace uep::trace
