#include "files/timerfd.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "core/epitem.h"
#include "core/eventpoll.h"
#include "core/waiter.h"
#include "core/wait_event.h"
#include "platform/capability.h"
#include "platform/clock.h"

namespace uep {
namespace {

constexpr int64_t kNsecPerSec = 1000000000;
// TFD_IOC_SET_TICKS of <linux/timerfd.h>, which clashes with the libc headers.
constexpr unsigned long kTfdIocSetTicks = _IOW('T', 0, uint64_t);
constexpr int64_t kKtimeSecMax = kKtimeMax / kNsecPerSec;

// timespec64_to_ktime(): saturates at KTIME_MAX.
int64_t ToKtime(const timespec& ts) {
  if (static_cast<uint64_t>(ts.tv_sec) >= static_cast<uint64_t>(kKtimeSecMax)) return kKtimeMax;
  return static_cast<int64_t>(ts.tv_sec) * kNsecPerSec + ts.tv_nsec;
}

timespec ToTimespec(int64_t ns) {
  return timespec{static_cast<time_t>(ns / kNsecPerSec), static_cast<long>(ns % kNsecPerSec)};
}

// ktime_add_safe()
int64_t AddSafe(int64_t a, int64_t b) {
  if (b > 0 && a > kKtimeMax - b) return kKtimeMax;
  return a + b;
}

ClockBase BaseOfClock(int clockid) {
  switch (clockid) {
    case CLOCK_REALTIME:
    case CLOCK_REALTIME_ALARM:
      return ClockBase::kRealtime;
    case CLOCK_BOOTTIME:
    case CLOCK_BOOTTIME_ALARM:
      return ClockBase::kBoottime;
    default:
      return ClockBase::kMonotonic;
  }
}

}  // namespace

TimerFd::TimerFd(int clockid, int flags)
    : File(O_RDWR | (static_cast<uint32_t>(flags) & O_NONBLOCK)),
      clockid_(clockid),
      base_(BaseOfClock(clockid)) {
  SetPollLockless();
}

bool TimerFd::IsAlarm() const {
  return clockid_ == CLOCK_REALTIME_ALARM || clockid_ == CLOCK_BOOTTIME_ALARM;
}

bool TimerFd::TryPin() { return FileTryGet(this); }
void TimerFd::Unpin() { FilePut(this); }

// timerfd_triggered()
void TimerFd::Fire(uint64_t gen) {
  std::lock_guard guard(wqh_.lock);
  if (gen != generation()) return;  // re-armed or disarmed since it was taken off the queue
  queued_ = false;
  ExpireLocked();
}

void TimerFd::ExpireLocked() {
  expired_ = true;
  ticks_.store(ticks_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  WakeUpLocked(&wqh_, 1, EPOLLIN);
}

// An hrtimer fires from an interrupt, on time; the timer thread can run late (a loaded
// machine, a sanitizer). So an expiry that is due is delivered by whichever looks first,
// the thread or a read/gettime/settime, and they see what they would see on the kernel.
// Cancel() makes the thread's late fire stale.
void TimerFd::DeliverDueLocked(int64_t now) {
  if (!queued_ || now < expires_) return;
  TimerService::Get().Cancel(this);
  queued_ = false;
  ExpireLocked();
}

// timerfd_clock_was_set()
void TimerFd::ClockWasSet() {
  std::lock_guard guard(wqh_.lock);
  if (!might_cancel_.load(std::memory_order_relaxed)) return;
  canceled_ = true;
  ticks_.store(ticks_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  WakeUpLocked(&wqh_, 1, EPOLLIN);
}

// The kernel marks a cancel-on-set timer canceled inside clock_settime(); uepoll learns it
// from its clock watcher, asked here so that a call made after the clock set sees it.
void TimerFd::SyncClockWasSet() {
  if (might_cancel_.load(std::memory_order_relaxed)) TimerService::Get().SyncClockWasSet();
}

bool TimerFd::CanceledLocked() {
  if (!might_cancel_.load(std::memory_order_relaxed) || !canceled_) return false;
  canceled_ = false;
  return true;
}

uint64_t TimerFd::ForwardLocked(int64_t now) {
  const int64_t delta = now - expires_;
  if (delta < 0) return 0;
  const int64_t interval = std::max<int64_t>(tintv_, 1);  // hrtimer_resolution: 1 ns
  uint64_t orun = 1;
  if (delta >= interval) {
    orun = static_cast<uint64_t>(delta / interval);
    expires_ += interval * static_cast<int64_t>(orun);
    if (expires_ > now) return orun;
    ++orun;
  }
  expires_ = AddSafe(expires_, interval);
  return orun;
}

void TimerFd::RestartLocked() {
  TimerService::Get().Arm(this, base_, expires_, WakeTagLocked());
  queued_ = true;
}

// The one epoll instance an expiry wakes (its waiters can fire the timer themselves: core/
// timer_service.h, Delegates); nullptr if several things or something else listens.
const void* TimerFd::WakeTagLocked() const {
  const void* tag = nullptr;
  for (ListHead* pos = wqh_.head.next(); pos != &wqh_.head; pos = pos->next()) {
    const auto* wait = UEP_CONTAINER_OF(pos, WaitQueueEntry, entry);
    if (wait->func != EpPollCallback) return nullptr;
    const void* ep = static_cast<const EpItem*>(wait->private_data)->ep;
    if (tag != nullptr && tag != ep) return nullptr;
    tag = ep;
  }
  return tag;
}

int64_t TimerFd::RemainingLocked(int64_t now) const {
  const int64_t remaining = expires_ - now;
  return remaining < 0 ? 0 : remaining;
}

uint32_t TimerFd::Poll(PollTable* pt) {
  PollWait(this, &wqh_, pt);
  return ticks_.load(std::memory_order_relaxed) != 0 ? static_cast<uint32_t>(EPOLLIN) : 0U;
}

// timerfd_read_iter(): the segments together must hold the 8-byte count.
ssize_t TimerFd::Read(const iovec* iov, int iovcnt, int io_flags, SleepPermit* permit) {
  size_t total = 0;
  for (int i = 0; i < iovcnt; ++i) total += iov[i].iov_len;
  if (total < sizeof(uint64_t)) return -EINVAL;
  ssize_t res = 0;
  uint64_t ticks = 0;
  SyncClockWasSet();
  {
    std::unique_lock guard(wqh_.lock);
    DeliverDueLocked(NowLocked());
    if ((io_flags & kIoNonblock) != 0) {
      res = -EAGAIN;
    } else {
      res = WaitEventLocked(&wqh_, guard,
                            [this] { return ticks_.load(std::memory_order_relaxed) != 0; },
                            {.permit = permit});
      if (res == -EBADF) return res;
    }
    // The clock was set: the count means nothing and the timer is not re-armed.
    if (CanceledLocked()) {
      ticks_.store(0, std::memory_order_relaxed);
      expired_ = false;
      res = -ECANCELED;
    }
    ticks = ticks_.load(std::memory_order_relaxed);
    if (ticks != 0) {
      if (expired_ && tintv_ != 0) {
        // A periodic timer is re-armed here rather than when it fires, so a very short
        // period costs nothing while nobody reads (the kernel's rule too).
        ticks += ForwardLocked(NowLocked()) - 1;
        RestartLocked();
      }
      expired_ = false;
      ticks_.store(0, std::memory_order_relaxed);
    }
  }
  if (ticks == 0) return res;
  // copy_to_iter(): as much of the value as fits before a bad segment.
  const auto* src = reinterpret_cast<const char*>(&ticks);
  size_t copied = 0;
  for (int i = 0; i < iovcnt && copied < sizeof ticks; ++i) {
    const size_t n = std::min(sizeof ticks - copied, iov[i].iov_len);
    if (n == 0) continue;
    if (iov[i].iov_base == nullptr) break;
    std::memcpy(iov[i].iov_base, src + copied, n);
    copied += n;
  }
  return copied != 0 ? static_cast<ssize_t>(copied) : -EFAULT;
}

int TimerFd::Ioctl(unsigned long request, void* arg) {
  if (request != kTfdIocSetTicks) return -ENOTTY;
  if (arg == nullptr) return -EFAULT;
  uint64_t ticks = 0;
  std::memcpy(&ticks, arg, sizeof ticks);
  if (ticks == 0) return -EINVAL;
  SyncClockWasSet();
  std::lock_guard guard(wqh_.lock);
  if (CanceledLocked()) return -ECANCELED;
  ticks_.store(ticks, std::memory_order_relaxed);
  WakeUpLocked(&wqh_, 1, EPOLLIN);
  return 0;
}

int TimerFd::SetTime(int flags, const itimerspec& new_value, itimerspec* old_value) {
  if (IsAlarm() && !platform::HasEffectiveCapability(CAP_WAKE_ALARM)) return -EPERM;
  TimerService& service = TimerService::Get();
  SyncClockWasSet();
  std::lock_guard guard(wqh_.lock);
  // timerfd_setup_cancel()
  if ((clockid_ == CLOCK_REALTIME || clockid_ == CLOCK_REALTIME_ALARM) &&
      (flags & TFD_TIMER_ABSTIME) != 0 && (flags & TFD_TIMER_CANCEL_ON_SET) != 0) {
    if (!might_cancel_.load(std::memory_order_relaxed)) {
      might_cancel_.store(true, std::memory_order_relaxed);
      service.RegisterClockSet(this);
    }
  } else if (might_cancel_.load(std::memory_order_relaxed)) {
    might_cancel_.store(false, std::memory_order_relaxed);
    service.UnregisterClockSet(this);
  }
  // Stop the timer before reprogramming it; a periodic timer that expired is advanced
  // first, so the old value tells when it would have fired next.
  // One reading of the clock throughout: the kernel's irq-safe lock makes its steps one
  // instant; a thread preempted between two readings would report a passed expiry as 0.
  const int64_t now = NowLocked();
  DeliverDueLocked(now);
  service.Cancel(this);
  queued_ = false;
  if (expired_ && tintv_ != 0) ForwardLocked(now);
  old_value->it_value = ToTimespec(RemainingLocked(now));
  old_value->it_interval = ToTimespec(tintv_);

  // timerfd_setup()
  const bool abs = (flags & TFD_TIMER_ABSTIME) != 0;
  const int64_t texp = ToKtime(new_value.it_value);
  expired_ = false;
  ticks_.store(0, std::memory_order_relaxed);
  tintv_ = ToKtime(new_value.it_interval);
  // hrtimer_init() puts a relative CLOCK_REALTIME timer on the monotonic base; an alarm
  // stays on its clock.
  base_ = BaseOfClock(clockid_);
  if (!abs && clockid_ == CLOCK_REALTIME) base_ = ClockBase::kMonotonic;
  expires_ = texp;
  if (texp != 0) {
    if (!abs) expires_ = AddSafe(NowLocked(), texp);
    service.Arm(this, base_, expires_, WakeTagLocked());
    queued_ = true;
    if (CanceledLocked()) return -ECANCELED;
  }
  return 0;
}

void TimerFd::GetTime(itimerspec* curr_value) {
  std::lock_guard guard(wqh_.lock);
  const int64_t now = NowLocked();  // one reading throughout, as in SetTime
  DeliverDueLocked(now);
  if (expired_ && tintv_ != 0) {
    expired_ = false;
    ticks_.store(ticks_.load(std::memory_order_relaxed) + ForwardLocked(now) - 1,
                 std::memory_order_relaxed);
    RestartLocked();
  }
  curr_value->it_value = ToTimespec(RemainingLocked(now));
  curr_value->it_interval = ToTimespec(tintv_);
}

void TimerFd::Release() {
  TimerService& service = TimerService::Get();
  service.Cancel(this);
  service.UnregisterClockSet(this);
  service.Unreserve();
}

}  // namespace uep
