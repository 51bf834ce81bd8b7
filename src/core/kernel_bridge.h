// The kernel side of an instance, as the core sees it: kernel descriptors in a uepoll
// instance, the instance inside other event loops (uep_epoll_kernel_fd()) and nested
// instances holding kernel descriptors. The core only asks questions through this
// interface; the kernel bridge (src/kernel/) implements it and is the part that makes the
// system calls. An instance gets one at its first kernel descriptor (EventPoll::kside_).
#pragma once

#include <signal.h>
#include <sys/epoll.h>

#include <atomic>

#include "platform/clock.h"

namespace uep {

class EventPoll;
class SleepPermit;

class KernelBridge {
 public:
  virtual ~KernelBridge() = default;

  // Waits go through the kernel side (Wait below); set once, under ep->lock.
  std::atomic<bool> active{false};

  // ep_poll() for an instance whose kernel side is active: both sides fill maxevents.
  virtual int Wait(EventPoll* ep, epoll_event* events, int maxevents, platform::Timeout* timeout,
                   const sigset_t* sigmask, SleepPermit* permit) = 0;
  // Polling the instance (poll(2), a parent's re-poll): drains the links first (descendants'
  // kernel events become ep's items); true if the own kernel descriptors must be asked after
  // the ready list was looked at (OwnReady).
  virtual bool BeginPoll() = 0;
  // The hidden kernel instance has an event to report (after BeginPoll() said so).
  virtual bool OwnReady(EventPoll* ep) = 0;
  // What poll(2) over the instance sleeps on too, or -1 when nothing kernel-side is watched.
  virtual int SleepFd(EventPoll* ep) = 0;
  // The instance goes: leave the links (a drain may be about to use it), free everything.
  virtual void Destroy(EventPoll* ep) = 0;
};

// Implemented by the kernel bridge (src/kernel/), called by the core (resolved at link time,
// declared here so that the core never includes the bridge).
//
// epoll_ctl() of a kernel descriptor on `ep` (creates its kernel side): 0 or -errno.
int KernelBridgeCtl(EventPoll* ep, int op, int fd, epoll_event* event);
// uep_epoll_kernel_fd(): a kernel descriptor readable while events are ready, or -errno.
int KernelBridgeNotifyFd(EventPoll* ep);
// `child` (whose kernel side is active) was added to `parent` (parent's ep->mtx held): its
// kernel events reach the parent. 1 if the parent's kernel side was created, activated or
// newly drains the links (its own parents must hear of it), 0, or -errno.
int KernelBridgeLinkChild(EventPoll* parent, EventPoll* child);

}  // namespace uep
