/*
 * waiter.pml: the epoll_wait() sleep/wake protocol, for the spin model checker.
 *
 * Models, as the code is (line by line where it matters):
 *   core/eventpoll.cc  EventPoll::Wait (hint, harvest, re-check under ep->lock, queue at
 *                      the head, sleep, the timeout-vs-wake decision under ep->lock),
 *                      SendEvents (the lockless path under ep->lock alone and the path
 *                      with ep->mtx, StartScan / overflow list / DoneScan), the "something
 *                      is left: wake another waiter" rule, EpPollCallback (link or chain
 *                      on the overflow list, wake one exclusive waiter).
 *   core/waiter.cc     WaiterSleep (flush deferred wakes, check `woken`, announce the sleep
 *                      by swapping kArmed for kSleeping, futex wait that compares and
 *                      sleeps atomically, spurious returns, timeout, signal),
 *                      WaiterWakeFunction (unlink, then swap in kWoken, then post the wake
 *                      only if it swapped kSleeping out),
 *                      WakeScope (wakes posted by a thread inside a scope wait until the
 *                      scope ends or the thread sleeps itself).
 *   files/eventfd.cc   write = counter += 1 and wake under the file's queue lock; read =
 *                      take the counter under that lock; poll = counter > 0.
 * Abstractions (each only adds behaviours, so a proof here covers the code): the ready
 * list and the instance's queue of sleepers are sets, the transfer takes ready items and the
 * wake-up picks a sleeper in any order; a timeout or a signal may end any sleep while the
 * waiter's budget lasts; memory is sequentially consistent (the code's locks and fences
 * give that; ThreadSanitizer checks the code's side of it).
 *
 * NW waiters loop on epoll_wait() (maxevents 1 or 2, chosen per call) and read the eventfd
 * of every event they get (EPOLLET items). Waiter 0 always waits forever; the others may
 * be given a finite timeout or a signal (BUDGET times each) and may quit after a call that
 * returned 0. NP producers write once each to eventfd (p mod NI). Whether the items poll
 * without locks (the lockless transfer) is chosen at the start: both paths are checked.
 *
 * Properties:
 *   safety (spin -a; ./pan): no assertion fails and no invalid end state: when nothing
 *     can move any more (every waiter asleep for good), every write was read
 *     (`consumed == NP`). A lost wake-up is exactly a run that ends with a counter pending
 *     and a waiter asleep on it.
 *   liveness (ltl all_consumed; ./pan -a -f): under weak fairness, every run eventually
 *     reads every write: no lost wake-up and no cycle that defers the reads forever.
 *
 *   Liveness assumes no thread starves on ep->lock: -DFAIR_LOCKS makes it a FIFO ticket
 *   lock (see there).
 * The model is written for NW = NI = 2 (wake_one_waiter, flush_deferred, the transfer).
 *
 * Run (tests/model/check_model.sh does this in a temporary directory):
 *   safety:   spin -a waiter.pml && gcc -O2 -DSAFETY -DNOCLAIM -DCOLLAPSE -o pan pan.c &&
 *             ./pan -m400000
 *   liveness: spin -a -DFAIR_LOCKS -DLIVENESS_ONLY waiter.pml && gcc -O2 -DCOLLAPSE -DNFAIR=3 -o pan pan.c &&
 *             ./pan -a -f -m400000
 *   a counterexample: spin -t -p -k waiter.pml.trail waiter.pml
 * Broken variants, each of which spin must reject (tests/model/CMakeLists.txt checks):
 *   -DBROKEN_NO_RECHECK        queue without re-checking the ready list under ep->lock
 *   -DBROKEN_TIMEOUT_DROPS     a timed-out waiter ignores a wake-up that raced its timeout
 *   -DBROKEN_NO_SCOPE_FLUSH    a WakeScope drops the wakes it deferred
 *   -DBROKEN_FUTEX_NO_COMPARE  the sleep does not compare `woken` atomically with going to
 *                              sleep (a plain sleep instead of FUTEX_WAIT)
 *   -DBROKEN_NO_ANNOUNCE       the waiter sleeps without announcing kSleeping, so a waker
 *                              that skips the post for a waiter not asleep skips it always
 * -DTIMER: the last write is a timer's expiry on item 0 (core/timer_service.h, Delegates),
 *   fired exactly once by whoever takes it first: the service thread (a process of its
 *   own) or waiter 0 as the timer's delegate, whose sleep may end at the expiry; the
 *   delegate takes its announcement back (SLEEPING -> ARMED), fires, flushes, and returns
 *   if that woke it, else announces again and sleeps on. Its broken variant:
 *   -DBROKEN_DELEGATE_RESLEEPS  the delegate goes back to sleep after firing without
 *                              looking whether the fire woke it
 * Busy-poll (EventPoll::BusyLoop) is not modelled: it spins on the ready list before the
 * waiter is queued, which only delays the steps below.
 */

#ifndef NW
#define NW 2
#endif
#ifndef NI
#define NI 2
#endif
#ifndef NP
#define NP 2
#endif
#ifndef BUDGET
#define BUDGET 1
#endif

#define R_OK 0
#define R_TIMEDOUT 1
#define R_EINTR 2
#define R_TIMER 3

/* The timer's expiry has not been fired yet (taken off the heap under the service lock). */
#ifdef TIMER
bit timer_pending = 1;
#else
bit timer_pending = 0;
#endif

/* ep->lock (= ep->wq_.lock) and ep->mtx. */
bit eplock;
bit epmtx;
/* Each eventfd's wait-queue lock. */
bit wqlock[NI];

/* Instance state, under ep->lock. */
bit linked[NI];     /* on rdllist_ */
bit ovf[NI];        /* chained on ovflist_ */
bit scanning;       /* ovflist_ != kEpUnactive: a transfer with ep->mtx is running */
bit queued[NW];     /* the waiter's entry is on ep->wq_ */
bit lockless;       /* locked_poll_items_ == 0: SendEvents may transfer under ep->lock */

/* Waiter objects. */
byte woken[NW];     /* Waiter::woken, the futex word: ARMED, WOKEN or SLEEPING */
bit asleep[NW];     /* blocked in FUTEX_WAIT on woken[w] */

/* Eventfd counters (under wqlock) and the accounting. */
byte cnt[NI];
byte produced;
byte consumed;

#define ARMED 0
#define WOKEN 1
#define SLEEPING 2

inline lock(l)   { atomic { l == 0 -> l = 1 } }
inline unlock(l) { l = 0 }

#ifdef FAIR_LOCKS
/*
 * For the liveness run: ep->lock grants in FIFO order (a ticket lock), i.e. no thread
 * starves on it. SpinLock is not FIFO, but it yields and naps, so no thread is refused the
 * lock forever; weak fairness alone would allow that (a run in which two waiters take turns
 * scanning an empty list while a producer never gets the lock).
 */
byte ep_next, ep_serving;
inline lock_ep()   { atomic { tk = ep_next; ep_next = (ep_next + 1) % 4 }; atomic { ep_serving == tk -> tk = 0 } }
inline unlock_ep() { ep_serving = (ep_serving + 1) % 4 }
#else
inline lock_ep()   { lock(eplock) }
inline unlock_ep() { unlock(eplock) }
#endif

#define events_available (linked[0] || linked[1] || scanning)
#define any_linked (linked[0] || linked[1])

/* A thread's WakeScope: the futex words it has yet to post (its local array d). */
#define DEFER(w) d[w] = 1

/* platform::FutexWake: wakes the thread if it sleeps on the word; lost otherwise. */
inline futex_wake(w) { asleep[w] = 0 }

inline flush_deferred() {
#ifdef BROKEN_NO_SCOPE_FLUSH
  d[0] = 0; d[1] = 0
#else
  if :: d[0] -> d[0] = 0; futex_wake(0) :: else fi;
  if :: d[1] -> d[1] = 0; futex_wake(1) :: else fi
#endif
}

/*
 * WakeUpLocked(&ep->wq_, 1, 0) with ep->lock held: WaiterWakeFunction of one queued
 * waiter (any one: the set abstraction). Unlinks it, swaps in WOKEN (one atomic exchange)
 * and defers the futex wake if it swapped SLEEPING out.
 */
inline wake_one_waiter() {
  if
  :: queued[0] -> queued[0] = 0; atomic { if :: woken[0] == SLEEPING -> DEFER(0) :: else fi; woken[0] = WOKEN }
  :: queued[1] -> queued[1] = 0; atomic { if :: woken[1] == SLEEPING -> DEFER(1) :: else fi; woken[1] = WOKEN }
  :: else -> skip
  fi
}

/* EpPollCallback for item x, under wqlock[x]. */
inline ep_poll_callback(x) {
  atomic {
    lock_ep();
    if
    :: scanning -> ovf[x] = 1
    :: else -> linked[x] = 1
    fi;
    wake_one_waiter();
    unlock_ep()
  }
}

/*
 * TransferItems over the list `tx`: takes items off it (any order) until maxev are
 * reported; each is polled (EventFd::Poll: counter > 0) and reported if ready.
 */
inline transfer_items(maxev) {
  do
  :: res < maxev && tx[0] -> tx[0] = 0; if :: cnt[0] > 0 -> got[0] = 1; res++ :: else fi
  :: res < maxev && tx[1] -> tx[1] = 0; if :: cnt[1] > 0 -> got[1] = 1; res++ :: else fi
  :: else -> break
  od
}

/* EventPoll::SendEvents; EPOLLET items, so nothing is requeued. */
inline send_events(maxev) {
  res = 0;
  lock_ep();
  if
  :: lockless && !scanning ->
     /* On rdllist_ itself, under ep->lock throughout. */
     tx[0] = linked[0]; tx[1] = linked[1];
     transfer_items(maxev);
     linked[0] = tx[0]; linked[1] = tx[1]; tx[0] = 0; tx[1] = 0;
     if :: any_linked -> wake_one_waiter() :: else fi;
     unlock_ep()
  :: else ->
     unlock_ep();
     lock(epmtx);
     atomic {                                /* StartScan */
       lock_ep();
       tx[0] = linked[0]; tx[1] = linked[1]; linked[0] = 0; linked[1] = 0;
       scanning = 1;
       unlock_ep()
     };
     transfer_items(maxev);
     /* DoneScan: the untransferred rest, then what arrived on the overflow list. */
     atomic {
       lock_ep();
       if :: tx[0] -> linked[0] = 1; tx[0] = 0 :: else fi;
       if :: tx[1] -> linked[1] = 1; tx[1] = 0 :: else fi;
       if :: ovf[0] -> linked[0] = 1; ovf[0] = 0 :: else fi;
       if :: ovf[1] -> linked[1] = 1; ovf[1] = 0 :: else fi;
       scanning = 0;
       if :: any_linked -> wake_one_waiter() :: else fi;
       unlock_ep()
     };
     unlock(epmtx)
  fi
}

/* TimerService::FireDue / the service thread: the expiry fires once, like a write. */
inline fire_timer() {
  atomic { took = timer_pending; timer_pending = 0 };
  if
  :: took -> lock(wqlock[0]); cnt[0]++; produced++; ep_poll_callback(0); unlock(wqlock[0])
  :: else -> skip
  fi
}

/* WaiterSleep: returns R_OK (woken), R_TIMEDOUT or R_EINTR in r. */
inline waiter_sleep(w, finite) {
  flush_deferred();
  /* WaiterPrepareSleep: compare-and-swap ARMED -> SLEEPING (fails on WOKEN). */
#ifndef BROKEN_NO_ANNOUNCE
  atomic { if :: woken[w] == ARMED -> woken[w] = SLEEPING :: else fi };
#endif
  do
  :: woken[w] == WOKEN -> r = R_OK; break
  :: else ->
     /* FUTEX_WAIT: compares the word and goes to sleep atomically. */
#ifdef BROKEN_FUTEX_NO_COMPARE
     asleep[w] = 1;
#elif defined(BROKEN_NO_ANNOUNCE)
     atomic { if :: woken[w] == ARMED -> asleep[w] = 1 :: else -> skip fi };
#else
     atomic { if :: woken[w] == SLEEPING -> asleep[w] = 1 :: else -> skip fi };
#endif
     if
     :: asleep[w] ->
end_asleep:
        if
        :: atomic { asleep[w] == 0 -> r = R_OK }              /* FUTEX_WAKE (or stale) */
        :: atomic { finite && budget > 0 -> asleep[w] = 0; budget--; r = R_TIMEDOUT }
        :: atomic { w > 0 && budget > 0 -> asleep[w] = 0; budget--; r = R_EINTR }
        :: atomic { w == 0 && timer_pending -> asleep[w] = 0; r = R_TIMER }  /* delegate */
        fi
     :: else -> r = R_OK                                       /* EAGAIN */
     fi;
     /* SleepAsTimerDelegate after its sleep ended at the expiry. */
     if
     :: r == R_TIMER ->
        atomic { if :: woken[w] == SLEEPING -> woken[w] = ARMED; rearmed = 1 :: else -> rearmed = 0 fi };
        fire_timer();
        flush_deferred();
        r = R_OK;
        if
        :: !rearmed || woken[w] == WOKEN -> break
        :: else ->
#ifdef BROKEN_DELEGATE_RESLEEPS
           woken[w] = SLEEPING
#else
           atomic { if :: woken[w] == ARMED -> woken[w] = SLEEPING :: else fi }
#endif
        fi
     :: else -> skip
     fi;
     if
     :: r == R_OK -> skip                                      /* loop: re-check woken */
     :: else -> if :: woken[w] == WOKEN -> r = R_OK :: else fi; break
     fi
  od
}

proctype Waiter(byte w) {
  bit d[NW];          /* this thread's deferred wakes (DoEpollWait's WakeScope) */
  bit tx[NI];
  bit got[NI];
  byte res, r, maxev;
  byte tk;            /* ticket for ep->lock (FAIR_LOCKS) */
  byte budget = BUDGET;
  bit finite, timed_out, interrupted, eavail;
  bit took, rearmed;  /* the delegate's fire (TIMER) */

call:
  /* One epoll_wait(ep, events, maxev, timeout). */
  if :: maxev = 1 :: maxev = 2 fi;
  if
  :: w > 0 && budget > 0 -> finite = 1
  :: else -> finite = 0
  fi;
  timed_out = 0; interrupted = 0;
  /* The lock-free hint EventsAvailable(): two racy loads, so any value (it is re-checked). */
  if :: eavail = 0 :: eavail = 1 fi;
again:
  if
  :: eavail ->
     send_events(maxev);
     if :: res > 0 -> goto harvested :: else fi
  :: else -> skip
  fi;
  if :: timed_out || interrupted -> goto returned_zero :: else fi;
  woken[w] = ARMED;                          /* a fresh Waiter on this stack */
  atomic {
    lock_ep();
#ifdef BROKEN_NO_RECHECK
    eavail = 0;
#else
    eavail = events_available;
#endif
    if :: !eavail -> queued[w] = 1 :: else fi; /* AddWaitQueueExclusiveHeadLocked */
    unlock_ep()
  };
  if :: eavail -> goto again :: else fi;
  waiter_sleep(w, finite);
  timed_out = (r == R_TIMEDOUT);
  interrupted = (r == R_EINTR);
  r = 0;
  eavail = 1;
  if
  :: woken[w] != WOKEN ->
     atomic {
       lock_ep();
       /* Woken between the timeout and here: the wake-up is ours, harvest it. */
#ifdef BROKEN_TIMEOUT_DROPS
       if :: timed_out -> eavail = 0 :: else fi;
#else
       if :: timed_out -> eavail = !queued[w] :: else fi;
#endif
       queued[w] = 0;
       unlock_ep()
     }
  :: else -> skip
  fi;
  goto again;

harvested:
  flush_deferred();                          /* the WakeScope ends with the call */
  d_step { res = 0; maxev = 0; finite = 0; eavail = 0; timed_out = 0; interrupted = 0 };
  /* read(efd) of each reported item */
  if :: got[0] -> got[0] = 0; atomic { lock(wqlock[0]); consumed = consumed + cnt[0]; cnt[0] = 0; unlock(wqlock[0]) } :: else fi;
  if :: got[1] -> got[1] = 0; atomic { lock(wqlock[1]); consumed = consumed + cnt[1]; cnt[1] = 0; unlock(wqlock[1]) } :: else fi;
  goto call;

returned_zero:
  flush_deferred();
  d_step { res = 0; maxev = 0; finite = 0; eavail = 0; timed_out = 0; interrupted = 0 };
  if
  :: w > 0 -> goto done                      /* this thread stops waiting */
  :: goto call
  fi;
done:
  skip
}

/* uep_write(efd, 1) inside DoIo's WakeScope. */
proctype Producer(byte x) {
  bit d[NW];
  byte tk;
  lock(wqlock[x]);
  cnt[x]++;
  produced++;
  ep_poll_callback(x);                    /* WakeUpLocked(&wqh_, 1, EPOLLIN) */
  unlock(wqlock[x]);
  flush_deferred()
}

/* The timer service thread: fires the expiry unless a delegate did (TIMER). */
proctype Service() {
  bit d[NW];
  byte tk;
  bit took;
  fire_timer();
  flush_deferred()
}

/* When nothing can move any more, every write has been read. The liveness run leaves it
 * out (-DLIVENESS_ONLY), so that only the ltl claim can fail there. */
#ifndef LIVENESS_ONLY
active proctype Quiescence() {
end_idle:
  timeout ->
  assert(produced == NP && consumed == NP)
}
#endif

ltl all_consumed { <> (consumed == NP) }

init {
  byte p;
  atomic {
    if :: lockless = 1 :: lockless = 0 fi;
    p = 0;
    do
    :: p < NW -> run Waiter(p); p++
    :: else -> break
    od;
    p = 0;
    do
    :: p < NP - timer_pending -> run Producer(p % NI); p++
    :: else -> break
    od;
    if :: timer_pending -> run Service() :: else fi
  }
}
