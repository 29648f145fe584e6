// SPDX-License-Identifier: GPL-2.0
/*
 * Copyright (C) 2026 The cvol authors.
 *
 * The kernel lease.  The daemon renews it with "lease <ms>"; if it stops
 * (dead, hung, cut off from the cluster), the volume fences itself when
 * the lease runs out: new I/O is held (or failed) until "unfence".  The
 * cluster relies on this to change a map without a host that stopped
 * answering: once that host's lease has expired it writes nowhere.
 *
 * None of this takes ctl_lock: a renewal must not wait behind a map_set
 * that is draining, or the lease could expire while the daemon is alive.
 */
#include "cvol.h"

/* Caller holds slow_lock. */
static bool fence_locked(struct cvol_volume *vol, u32 why, u64 value)
{
	if (vol->fenced)
		return false;
	/* map() reads this without the lock; parking rechecks under it. */
	WRITE_ONCE(vol->fenced, true);
	vol->lease_ms = 0;
	cvol_event(vol, why, 0, 0, 0, 0, value);
	return true;
}

void cvol_fence(struct cvol_volume *vol, u32 why, u64 value)
{
	unsigned long flags;
	bool fenced;

	spin_lock_irqsave(&vol->slow_lock, flags);
	fenced = fence_locked(vol, why, value);
	spin_unlock_irqrestore(&vol->slow_lock, flags);
	if (fenced)
		DMWARN("%s: fenced (%s): new I/O is %s until unfence", vol->uuid,
		       why == CVOL_EV_LEASE_EXPIRED ? "lease expired" : "fence",
		       vol->fence_error ? "failed" : "held");
}

void cvol_lease_work(struct work_struct *ws)
{
	struct cvol_volume *vol = container_of(to_delayed_work(ws),
					       struct cvol_volume, lease_work);
	unsigned int ms = 0;
	bool expired;

	spin_lock_irq(&vol->slow_lock);
	/* A renewal may have raced with this run; it moved the deadline. */
	expired = vol->lease_ms && !time_before(jiffies, vol->lease_deadline);
	if (expired)
		ms = vol->lease_ms;
	spin_unlock_irq(&vol->slow_lock);
	if (expired)
		cvol_fence(vol, CVOL_EV_LEASE_EXPIRED, ms);
}

/* Arms or renews the lease for @ms; 0 disarms it. */
int cvol_lease(struct cvol_volume *vol, unsigned int ms, bool fence_error)
{
	unsigned long delay = msecs_to_jiffies(ms);

	spin_lock_irq(&vol->slow_lock);
	vol->fence_error = fence_error;
	vol->lease_ms = ms;
	vol->lease_deadline = jiffies + delay;
	spin_unlock_irq(&vol->slow_lock);
	if (ms)
		mod_delayed_work(vol->wq, &vol->lease_work, delay);
	else
		cancel_delayed_work(&vol->lease_work);
	return 0;
}

/*
 * Lifts the fence.  @epoch is the cluster epoch the daemon re-integrated
 * under; an older one than any seen before comes from a stale daemon.
 */
int cvol_unfence(struct cvol_volume *vol, u64 epoch)
{
	bool was;

	spin_lock_irq(&vol->slow_lock);
	if (epoch < vol->fence_epoch) {
		spin_unlock_irq(&vol->slow_lock);
		DMWARN_LIMIT("%s: unfence: epoch %llu is older than %llu",
			     vol->uuid, epoch, vol->fence_epoch);
		return -ESTALE;
	}
	vol->fence_epoch = epoch;
	was = vol->fenced;
	WRITE_ONCE(vol->fenced, false);
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
	return READ_ONCE(vol->lease_ms) ? CVOL_LEASE_STATE_ARMED :
					  CVOL_LEASE_STATE_NONE;
}
