// timerfd: an expiration counter driven by the timer service (fs/timerfd.c).
//
// As in the kernel, an expiry only adds one tick and marks the timer expired; an interval
// timer is not re-armed by the expiry but by the next read or timerfd_gettime(), which
// forwards it past now and adds the periods it missed (hrtimer_forward_now()). So a timer
// nobody reads costs nothing after its first expiry, and epoll sees one EPOLLIN wake-up,
// not one per period.
//
// Locks: wqh_.lock (level 4 of core/eventpoll.cc) protects everything here and is taken
// before the timer service's lock (Arm/Cancel run under it). The service calls Fire()
// with no lock held.
#pragma once

#include <time.h>

#include <atomic>
#include <cstdint>

#include "core/file.h"
#include "core/timer_service.h"
#include "core/wait_queue.h"

namespace uep {

class TimerFd final : public File, public TimerNode {
 public:
  TimerFd(int clockid, int flags);

  uint32_t Poll(PollTable* pt) override;
  [[nodiscard]] bool CanRead() const override { return true; }
  ssize_t Read(const iovec* iov, int iovcnt, int io_flags, SleepPermit* permit) override;
  // TFD_IOC_SET_TICKS.
  int Ioctl(unsigned long request, void* arg) override;
  void Release() override;

  // timerfd_settime()/timerfd_gettime() after their argument checks. SetTime returns 0,
  // -EPERM (alarm clock without CAP_WAKE_ALARM) or -ECANCELED (the timer is armed).
  int SetTime(int flags, const itimerspec& new_value, itimerspec* old_value);
  void GetTime(itimerspec* curr_value);

  [[nodiscard]] bool IsAlarm() const;

  // TimerNode
  bool TryPin() override;
  void Unpin() override;
  void Fire(uint64_t gen) override;
  void ClockWasSet() override;

 private:
  // Lock held for all of these.
  [[nodiscard]] int64_t NowLocked() const REQUIRES(wqh_.lock) { return TimerService::Now(base_); }
  uint64_t ForwardLocked(int64_t now) REQUIRES(wqh_.lock);  // hrtimer_forward(timer, now, tintv)
  void RestartLocked() REQUIRES(wqh_.lock);        // hrtimer_restart(): queue at expires_ again
  [[nodiscard]] const void* WakeTagLocked() const REQUIRES(wqh_.lock);
  [[nodiscard]] int64_t RemainingLocked(int64_t now) const REQUIRES(wqh_.lock);
  bool CanceledLocked() REQUIRES(wqh_.lock);       // timerfd_canceled()
  void ExpireLocked() REQUIRES(wqh_.lock);         // timerfd_triggered()'s work
  // An expiry that is due but the timer thread has not run.
  void DeliverDueLocked(int64_t now) REQUIRES(wqh_.lock);
  void SyncClockWasSet();       // before taking the lock: a clock set the kernel made is seen

  WaitQueueHead wqh_;
  const int clockid_;
  // Under wqh_.lock.
  ClockBase base_ GUARDED_BY(wqh_.lock);        // the hrtimer's base: REALTIME relative timers run on MONOTONIC
  int64_t expires_ GUARDED_BY(wqh_.lock) = 0;    // ns on base_'s clock
  int64_t tintv_ GUARDED_BY(wqh_.lock) = 0;      // interval, ns
  bool expired_ GUARDED_BY(wqh_.lock) = false;   // fired and not yet forwarded
  bool queued_ GUARDED_BY(wqh_.lock) = false;    // armed on the timer service and not yet fired
  std::atomic<bool> might_cancel_{false};  // written under wqh_.lock; read before taking it
  bool canceled_ GUARDED_BY(wqh_.lock) = false;  // the clock was set while might_cancel_ (moffs == KTIME_MAX)
  std::atomic<uint64_t> ticks_{0};  // written under wqh_.lock; Poll() reads it without
};

}  // namespace uep
