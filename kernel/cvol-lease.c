// SPDX-License-Identifier: GPL-2.0
/*
 * Copyright (C) 2026 The cvol authors.
 *
 * The kernel lease and the fence.  The daemon renews the lease with
 * "lease <ms>"; if it stops (dead, hung, cut off from the cluster), the
 * volume fences itself when the lease runs out: new I/O is held (or
 * failed) and the copier stops until "unfence".  The cluster relies on
 * this to change a map without a host that stopped answering: once that
 * host's lease has run out it writes nowhere.
 *
 * The deadline is checked where I/O enters (map() compares it with the
 * boottime clock, which a suspended or paused host cannot stop) and by a
 * timer, which only makes the fence visible when no I/O comes.  After a
 * fence the epoch is flipped; once it and the copies in flight have
 * drained, FENCE_DRAINED tells the daemon that this host's writes have
 * stopped.
 *
 * None of this takes ctl_lock: a renewal must not wait behind a map_set
 * that is draining, or the lease could expire while the daemon is alive.
 */
#include "cvol.h"

#include <linux/sched/mm.h>

/* Caller holds slow_lock. */
static bool fence_locked(struct cvol_volume *vol, u32 why, u64 value)
{
	struct cvol_lease *l = &vol->lease;

	if (vol->fenced)
		return false;
	/* map() reads these without the lock; parking rechecks under it. */
	WRITE_ONCE(vol->fenced, true);
	WRITE_ONCE(vol->io_deadline_ns, 0);
	l->fenced_ns = ktime_get_boottime_ns();
	l->fence_seq++;
	l->draining = true;
	l->drain_ticket = 0;
	mod_delayed_work(vol->wq, &l->drain_work, 0);
	/* The fence's number ties its FENCE_DRAINED to it. */
	cvol_event(vol, why, l->fence_seq, 0, 0, 0, value);
	DMWARN("%s: fenced (%s): new I/O is %s until unfence", vol->uuid,
	       why == CVOL_EV_LEASE_EXPIRED ? "lease expired" :
	       value == CVOL_FENCE_BY_SUSPEND ? "a suspend broke a freeze" :
	       "fence", l->fence_error ? "failed" : "held");
	return true;
}

/*
 * Ends the lease if its deadline has passed: the volume fences (if it is
 * not already) and stays fenced until the lease is renewed or disarmed
 * and unfence comes.  Caller holds slow_lock.
 */
void cvol_lease_expire_locked(struct cvol_volume *vol, u64 now)
{
	struct cvol_lease *l = &vol->lease;
	unsigned int ms = l->ms;

	if (!ms || now < l->deadline_ns)
		return;
	l->ms = 0;
	l->expired = true;
	/* Already fenced: the event still says so, with that fence's number. */
	if (!fence_locked(vol, CVOL_EV_LEASE_EXPIRED, ms))
		cvol_event(vol, CVOL_EV_LEASE_EXPIRED, l->fence_seq, 0, 0, 0,
			   ms);
}

/* map() found the I/O deadline passed: is it the lease's?  Any context. */
void cvol_lease_check(struct cvol_volume *vol, u64 now)
{
	unsigned long flags;

	spin_lock_irqsave(&vol->slow_lock, flags);
	cvol_lease_expire_locked(vol, now);
	spin_unlock_irqrestore(&vol->slow_lock, flags);
}

void cvol_fence(struct cvol_volume *vol, u32 why, u64 value)
{
	unsigned long flags;

	spin_lock_irqsave(&vol->slow_lock, flags);
	fence_locked(vol, why, value);
	spin_unlock_irqrestore(&vol->slow_lock, flags);
}

static void lease_work(struct work_struct *ws)
{
	struct cvol_volume *vol = container_of(to_delayed_work(ws),
					       struct cvol_volume, lease.work);
	struct cvol_lease *l = &vol->lease;
	u64 now = ktime_get_boottime_ns();
	unsigned long left = 0;

	spin_lock_irq(&vol->slow_lock);
	cvol_lease_expire_locked(vol, now);
	/* Timers run on jiffies, which a suspend stops: never early, maybe late. */
	if (l->ms)
		left = nsecs_to_jiffies(l->deadline_ns - now) + 1;
	spin_unlock_irq(&vol->slow_lock);
	if (left)
		mod_delayed_work(vol->wq, &l->work, left);
}

/* Caller holds slow_lock. */
void cvol_fence_drained_locked(struct cvol_volume *vol)
{
	struct cvol_lease *l = &vol->lease;

	if (!l->draining || !l->drain_ticket ||
	    vol->epochs.drained_seq < l->drain_ticket)
		return;
	/* The copier counts, then looks at the fence: see copy_io_begin(). */
	smp_mb();
	if (atomic_read(&vol->migrations.copies_in_flight))
		return;
	l->draining = false;
	cvol_event(vol, CVOL_EV_FENCE_DRAINED, l->fence_seq, 0, 0, 0,
		   div_u64(ktime_get_boottime_ns() - l->fenced_ns,
			   NSEC_PER_MSEC));
}

/*
 * Flips the epoch after a fence: the bios that passed map() before it
 * hold the old one, and FENCE_DRAINED waits for them.  A bio mapped after
 * the flip sees the fence (map() reads the deadline after the epoch).
 */
static void drain_work(struct work_struct *ws)
{
	struct cvol_volume *vol = container_of(to_delayed_work(ws),
					       struct cvol_volume,
					       lease.drain_work);
	struct cvol_lease *l = &vol->lease;
	struct cvol_epoch *next;
	unsigned int noio;
	u64 ticket, seq;

	/*
	 * The flip must come after the fence it drains for: a fence after
	 * this read re-queues us, and this run must not answer for it.
	 */
	spin_lock_irq(&vol->slow_lock);
	seq = l->fence_seq;
	spin_unlock_irq(&vol->slow_lock);
	noio = memalloc_noio_save();
	next = cvol_epoch_alloc(vol);
	memalloc_noio_restore(noio);
	if (!next) {
		queue_delayed_work(vol->wq, &l->drain_work, HZ / 10);
		return;
	}
	ticket = cvol_epoch_flip(vol, next);
	spin_lock_irq(&vol->slow_lock);
	if (l->draining && !l->drain_ticket && l->fence_seq == seq) {
		l->drain_ticket = ticket;
		cvol_fence_drained_locked(vol);
	}
	spin_unlock_irq(&vol->slow_lock);
}

void cvol_lease_init(struct cvol_volume *vol)
{
	INIT_DELAYED_WORK(&vol->lease.work, lease_work);
	INIT_DELAYED_WORK(&vol->lease.drain_work, drain_work);
	vol->io_deadline_ns = U64_MAX;
}

/*
 * A volume created fenced ("fenced" in its first table).  Nothing was in
 * flight, so there is nothing to drain, and no event: nobody listens to a
 * volume that is still being made.
 */
void cvol_lease_init_fenced(struct cvol_volume *vol)
{
	vol->fenced = true;
	vol->io_deadline_ns = 0;
	vol->lease.fenced_ns = ktime_get_boottime_ns();
	vol->lease.fence_seq = 1;
}

void cvol_lease_destroy(struct cvol_volume *vol)
{
	cancel_delayed_work_sync(&vol->lease.work);
	cancel_delayed_work_sync(&vol->lease.drain_work);
}

/*
 * Arms or renews the lease for @ms; 0 disarms it.  A renewal that comes
 * after the deadline fences first: the cluster may already count this
 * host out.
 */
int cvol_lease(struct cvol_volume *vol, unsigned int ms, bool fence_error)
{
	struct cvol_lease *l = &vol->lease;
	u64 now = ktime_get_boottime_ns();

	spin_lock_irq(&vol->slow_lock);
	cvol_lease_expire_locked(vol, now);
	l->fence_error = fence_error;
	l->ms = ms;
	l->expired = false;
	l->deadline_ns = now + (u64)ms * NSEC_PER_MSEC;
	if (!vol->fenced)
		WRITE_ONCE(vol->io_deadline_ns, ms ? l->deadline_ns : U64_MAX);
	spin_unlock_irq(&vol->slow_lock);
	/*
	 * Never cancelled here: two lease messages may race, and the timer
	 * of the one that took the lock last must not be lost.  The work
	 * looks at the lease as it is when it runs and re-arms itself.
	 */
	mod_delayed_work(vol->wq, &l->work, ms ? msecs_to_jiffies(ms) + 1 : 0);
	return 0;
}

/* Caller holds slow_lock. */
static int epoch_check_locked(struct cvol_volume *vol, u64 epoch,
			      const char *what)
{
	if (epoch > CVOL_MAX_EPOCH) {
		DMWARN_LIMIT("%s: %s: epoch %llu is beyond %llu", vol->uuid, what,
			     epoch, CVOL_MAX_EPOCH);
		return -ERANGE;
	}
	if (epoch < vol->lease.epoch) {
		DMWARN_LIMIT("%s: %s: epoch %llu is older than %llu", vol->uuid,
			     what, epoch, vol->lease.epoch);
		return -ESTALE;
	}
	return 0;
}

/*
 * Checks the cluster epoch a message was sent under: an older one than any
 * seen before comes from a stale daemon (-ESTALE).  The message raises it
 * only once it has succeeded (cvol_epoch_raise): a refused one changes
 * nothing.
 */
int cvol_epoch_check(struct cvol_volume *vol, u64 epoch, const char *what)
{
	int r;

	spin_lock_irq(&vol->slow_lock);
	r = epoch_check_locked(vol, epoch, what);
	spin_unlock_irq(&vol->slow_lock);
	return r;
}

void cvol_epoch_raise(struct cvol_volume *vol, u64 epoch)
{
	spin_lock_irq(&vol->slow_lock);
	vol->lease.epoch = max(vol->lease.epoch, epoch);
	spin_unlock_irq(&vol->slow_lock);
}

/*
 * Lifts the fence.  @epoch is the cluster epoch the daemon re-integrated
 * under.  A lease that ran out must be renewed (or disarmed) first, so
 * that a volume never runs with a lease that no timer watches.
 */
int cvol_unfence(struct cvol_volume *vol, u64 epoch)
{
	struct cvol_lease *l = &vol->lease;
	bool was;
	int r;

	spin_lock_irq(&vol->slow_lock);
	r = epoch_check_locked(vol, epoch, "unfence");
	if (r) {
		spin_unlock_irq(&vol->slow_lock);
		return r;
	}
	cvol_lease_expire_locked(vol, ktime_get_boottime_ns());
	if (l->expired) {
		spin_unlock_irq(&vol->slow_lock);
		DMWARN_LIMIT("%s: unfence: the lease ran out; renew it (lease <ms>) or disarm it (lease 0) first",
			     vol->uuid);
		return -ETIMEDOUT;
	}
	l->epoch = epoch;
	was = vol->fenced;
	WRITE_ONCE(vol->fenced, false);
	/* A drain not reported yet would be reported for a fence that ended. */
	l->draining = false;
	WRITE_ONCE(vol->io_deadline_ns, l->ms ? l->deadline_ns : U64_MAX);
	if (was) {
		cvol_event(vol, CVOL_EV_UNFENCED, 0, 0, 0, 0, epoch);
		cvol_release_unblocked_locked(vol);
	}
	spin_unlock_irq(&vol->slow_lock);
	return 0;
}

const char *cvol_lease_state(struct cvol_volume *vol)
{
	if (READ_ONCE(vol->fenced))
		return CVOL_LEASE_STATE_FENCED;
	return READ_ONCE(vol->lease.ms) ? CVOL_LEASE_STATE_ARMED :
					  CVOL_LEASE_STATE_NONE;
}
