// SPDX-License-Identifier: GPL-2.0
/*
 * Copyright (C) 2026 The cvol authors.
 *
 * Freezes: the user-visible range hold.
 *
 * freeze marks the range (new bios park), publishes a new epoch and
 * returns at once; the epoch machinery reports the drain (the killed epoch
 * and every older one have no bios left) with a FREEZE_DRAINED event.
 * Between drained and thaw nothing is in flight on the range, so map_set
 * may rewrite it without a drain of its own.  thaw releases the parked
 * bios, which are mapped with the map as it is then.
 *
 * Every freeze ends: by thaw, by its timeout (a dead daemon), or by a
 * normal dm suspend, which must not wait for held bios.
 */
#include "cvol.h"

#include <linux/slab.h>

static struct cvol_freeze *find_freeze(struct cvol_volume *vol, u64 id)
{
	struct cvol_freeze *f;

	list_for_each_entry(f, &vol->freezes.list, node)
		if (f->id == id)
			return f;
	return NULL;
}

/* Caller holds ctl_lock; @f is then the caller's to free. */
static void end_freeze(struct cvol_volume *vol, struct cvol_freeze *f,
		       u32 why)
{
	spin_lock_irq(&vol->slow_lock);
	list_del_init(&f->node);
	vol->freezes.nr--;
	spin_unlock_irq(&vol->slow_lock);
	cvol_hold_release(vol, &f->hold, 1);
	wake_up_all(&vol->drain_wq);	/* freeze_wait: it is gone */
	if (why)
		cvol_event(vol, why, f->id, f->hold.vext, f->hold.count, 0, 0);
}

static void freeze_timeout_work(struct work_struct *ws)
{
	struct cvol_freeze *f = container_of(to_delayed_work(ws),
					     struct cvol_freeze, timeout_work);
	struct cvol_volume *vol = f->vol;
	bool mine = false;

	mutex_lock(&vol->ctl_lock);
	/* An unlisted freeze belongs to whoever unlisted it. */
	if (!list_empty(&f->node)) {
		DMWARN_LIMIT("%s: freeze %llu of extents %llu+%llu timed out; thawed",
			     vol->uuid, f->id, f->hold.vext, f->hold.count);
		end_freeze(vol, f, CVOL_EV_FREEZE_TIMEOUT);
		mine = true;
	}
	mutex_unlock(&vol->ctl_lock);
	if (mine)
		kfree(f);
}

/* Marks the freezes whose drain has completed.  Caller holds slow_lock. */
void cvol_freezes_drained_locked(struct cvol_volume *vol)
{
	struct cvol_freeze *f;

	list_for_each_entry(f, &vol->freezes.list, node) {
		if (f->drained || f->ticket > vol->epochs.drained_seq)
			continue;
		f->drained = true;
		cvol_event(vol, CVOL_EV_FREEZE_DRAINED, f->id, f->hold.vext,
			   f->hold.count, 0,
			   div_u64(ktime_get_ns() - f->start_ns, NSEC_PER_MSEC));
	}
}

int cvol_freeze(struct cvol_volume *vol, u64 vext, u64 count,
		unsigned int timeout_ms, u64 *id)
{
	struct cvol_epoch *next;
	struct cvol_freeze *f;
	u64 ticket;

	/* Allocate before anything is frozen. */
	f = kzalloc(sizeof(*f), GFP_KERNEL);
	next = cvol_epoch_alloc(vol);
	if (!f || !next) {
		kfree(f);
		if (next)
			cvol_epoch_free_unused(next);
		return -ENOMEM;
	}
	f->vol = vol;
	f->hold.vext = vext;
	f->hold.count = count;
	INIT_LIST_HEAD(&f->node);
	INIT_DELAYED_WORK(&f->timeout_work, freeze_timeout_work);

	mutex_lock(&vol->ctl_lock);
	/*
	 * A normal suspend has ended the freezes and waits for every bio: a
	 * new freeze would hold bios it waits for.
	 */
	if (READ_ONCE(vol->holds.suspending)) {
		mutex_unlock(&vol->ctl_lock);
		DMWARN_LIMIT("%s: freeze: the device is suspending", vol->uuid);
		cvol_epoch_free_unused(next);
		kfree(f);
		return -EAGAIN;
	}
	if (vol->freezes.nr >= CVOL_MAX_FREEZES) {
		mutex_unlock(&vol->ctl_lock);
		DMWARN_LIMIT("%s: freeze: %u freezes already", vol->uuid,
			     CVOL_MAX_FREEZES);
		cvol_epoch_free_unused(next);
		kfree(f);
		return -EBUSY;
	}
	f->id = ++vol->freezes.last_id;
	f->start_ns = ktime_get_ns();
	cvol_hold_add(vol, &f->hold);
	ticket = cvol_epoch_flip(vol, next);

	/* The epoch work may have drained it already; it reports either way. */
	spin_lock_irq(&vol->slow_lock);
	f->ticket = ticket;
	list_add_tail(&f->node, &vol->freezes.list);
	vol->freezes.nr++;
	cvol_freezes_drained_locked(vol);
	spin_unlock_irq(&vol->slow_lock);

	queue_delayed_work(vol->wq, &f->timeout_work,
			   msecs_to_jiffies(timeout_ms));
	*id = f->id;
	mutex_unlock(&vol->ctl_lock);
	return 0;
}

/*
 * 1: drained, 0: draining, -ENOENT: no such freeze (any more), -EAGAIN: a
 * suspend began since @gen.  freeze_wait runs inside dm's table lock
 * (SRCU), which a suspend waits for: it must not outlast its start.
 */
static int freeze_state(struct cvol_volume *vol, u64 id, u64 gen)
{
	struct cvol_freeze *f;
	int r;

	spin_lock_irq(&vol->slow_lock);
	f = find_freeze(vol, id);
	if (f && f->drained)
		r = 1;
	else if (cvol_epoch_waits_cancelled(vol, gen))
		r = -EAGAIN;
	else
		r = f ? 0 : -ENOENT;
	spin_unlock_irq(&vol->slow_lock);
	return r;
}

int cvol_freeze_wait(struct cvol_volume *vol, u64 id, unsigned int timeout_ms)
{
	u64 gen = cvol_epoch_waits_gen(vol);
	long left;
	int r = 0;

	left = wait_event_interruptible_timeout(vol->drain_wq,
						(r = freeze_state(vol, id, gen)),
						msecs_to_jiffies(timeout_ms));
	if (left < 0)
		return left;
	if (r == 1)
		return 0;
	return r ? r : -ETIMEDOUT;
}

int cvol_thaw(struct cvol_volume *vol, u64 id)
{
	struct cvol_freeze *f;

	mutex_lock(&vol->ctl_lock);
	f = find_freeze(vol, id);
	if (f)
		end_freeze(vol, f, 0);
	mutex_unlock(&vol->ctl_lock);
	if (!f)
		return -ENOENT;
	cancel_delayed_work_sync(&f->timeout_work);
	kfree(f);
	return 0;
}

/* True if every extent of the range is under a drained freeze. */
bool cvol_range_drained(struct cvol_volume *vol, u64 vext, u64 count)
{
	struct cvol_freeze *f;
	u64 v = vext, end = vext + count;
	bool progress = true;

	spin_lock_irq(&vol->slow_lock);
	/* Extend [vext, v) over drained freezes until no freeze helps. */
	while (v < end && progress) {
		progress = false;
		list_for_each_entry(f, &vol->freezes.list, node) {
			if (f->drained && f->hold.vext <= v &&
			    v < f->hold.vext + f->hold.count) {
				v = f->hold.vext + f->hold.count;
				progress = true;
			}
		}
	}
	spin_unlock_irq(&vol->slow_lock);
	return v >= end;
}

/*
 * Ends every freeze: a normal dm suspend waits for all bios, held ones
 * included.  @why is the event to report them with (0 when the volume is
 * being destroyed and nobody is listening).
 *
 * A freeze's owner was about to change the map (in a cluster: on every
 * host, and the old place may be freed and reused at once), so the held
 * bios must not run on the map this host has now, and neither may new
 * ones.  The volume fences first: the held bios stay parked, and the
 * suspend fails them; after resume I/O is held until the owner has put
 * the right map in place and unfences.
 */
void cvol_freeze_break_all(struct cvol_volume *vol, u32 why)
{
	struct cvol_freeze *f, *tmp;
	LIST_HEAD(ended);

	mutex_lock(&vol->ctl_lock);
	if (why && !list_empty(&vol->freezes.list))
		cvol_fence(vol, CVOL_EV_FENCED, CVOL_FENCE_BY_SUSPEND);
	while ((f = list_first_entry_or_null(&vol->freezes.list,
					     struct cvol_freeze, node))) {
		end_freeze(vol, f, why);
		/* f->node stays empty: the timeout work must see it unlisted. */
		list_add_tail(&f->hold.node, &ended);
	}
	mutex_unlock(&vol->ctl_lock);

	list_for_each_entry_safe(f, tmp, &ended, hold.node) {
		/* A timeout work that sees the node listed here leaves it. */
		cancel_delayed_work_sync(&f->timeout_work);
		kfree(f);
	}
}
