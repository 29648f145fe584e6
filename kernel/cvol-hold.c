// SPDX-License-Identifier: GPL-2.0
/*
 * Copyright (C) 2026 The cvol authors.
 *
 * Holding new I/O on a range of extents.
 *
 * A hold marks its extents CVOL_E_FROZEN; map() sends bios that see the
 * bit (or a fenced volume) here, where they are parked on one volume-wide
 * list in arrival order.  Releasing a hold clears the bit on the extents that no other
 * hold covers and hands the bios of those extents, still in order, to a
 * worker that maps them again with the map as it is then.
 */
#include "cvol.h"

/*
 * Every writer of entries holds ctl_lock, and so does every user of
 * vol->holds.list: the bits are set and cleared without slow_lock, so a
 * hold of millions of extents never runs with interrupts off.  What
 * parking needs is ordering: a bio parks only if it sees the bit under
 * slow_lock, and a release takes slow_lock after clearing the bits and
 * then looks at every parked bio.
 */
static void set_frozen(struct cvol_volume *vol, u64 vext, u64 end, bool on)
{
	u64 i, *slot;

	for (i = vext; i < end; i++) {
		slot = &vol->ent[i];
		if (on)
			WRITE_ONCE(*slot, READ_ONCE(*slot) | CVOL_E_FROZEN);
		else
			WRITE_ONCE(*slot, READ_ONCE(*slot) & ~CVOL_E_FROZEN);
		cvol_scan_resched(i - vext + 1);
	}
}

/* Caller holds ctl_lock; the hold must stay allocated until released. */
void cvol_hold_add(struct cvol_volume *vol, struct cvol_hold *h)
{
	lockdep_assert_held(&vol->ctl_lock);
	list_add_tail(&h->node, &vol->holds.list);
	set_frozen(vol, h->vext, h->vext + h->count, true);
}

/*
 * Clears the frozen bit on the extents of [v, end) that no listed hold
 * covers, as intervals: each step skips a covering hold or clears up to
 * the next hold's start, so the cost is O(holds^2 + extents), not
 * O(holds x extents).
 */
static void clear_uncovered(struct cvol_volume *vol, u64 v, u64 end)
{
	struct cvol_hold *h;
	u64 next;
	bool covered;

	while (v < end) {
		covered = false;
		next = end;
		list_for_each_entry(h, &vol->holds.list, node) {
			if (h->vext <= v && v - h->vext < h->count) {
				v = h->vext + h->count;
				covered = true;
				break;
			}
			if (h->vext > v && h->vext < next)
				next = h->vext;
		}
		if (covered)
			continue;
		set_frozen(vol, v, next, false);
		v = next;
	}
}

/*
 * Moves the parked bios that nothing blocks any more to the released list,
 * in order, and kicks the worker.  Caller holds slow_lock.
 */
void cvol_release_unblocked_locked(struct cvol_volume *vol)
{
	struct bio_list still = BIO_EMPTY_LIST;
	struct cvol_bio *pb;
	struct bio *bio;

	if (vol->fenced)
		return;
	while ((bio = bio_list_pop(&vol->holds.held))) {
		pb = dm_per_bio_data(bio, sizeof(*pb));
		if (READ_ONCE(vol->ent[pb->vext]) & CVOL_E_FROZEN)
			bio_list_add(&still, bio);
		else
			bio_list_add(&vol->holds.released, bio);
	}
	bio_list_merge(&vol->holds.held, &still);
	if (!bio_list_empty(&vol->holds.released))
		queue_work(vol->wq, &vol->holds.release_work);
}

/* Releases @n holds taken together.  Caller holds ctl_lock. */
void cvol_hold_release(struct cvol_volume *vol, struct cvol_hold *holds,
		       unsigned int n)
{
	unsigned long flags;
	unsigned int k;

	lockdep_assert_held(&vol->ctl_lock);
	for (k = 0; k < n; k++)
		list_del(&holds[k].node);
	for (k = 0; k < n; k++)
		clear_uncovered(vol, holds[k].vext,
				holds[k].vext + holds[k].count);
	spin_lock_irqsave(&vol->slow_lock, flags);
	cvol_release_unblocked_locked(vol);
	spin_unlock_irqrestore(&vol->slow_lock, flags);
}

/*
 * Decides, under slow_lock, what happens to a bio that map() found fenced
 * or frozen: the state may have changed since it looked.  A
 * bio whose extent was thawed a moment ago goes behind the released ones
 * so that it cannot overtake them.  Requeueing is decided by dm's own
 * noflush flag: after an interrupted noflush suspend a requeued bio would
 * fail.
 */
int cvol_park_bio(struct cvol_target *tc, struct bio *bio, u64 vext)
{
	struct cvol_bio *pb = dm_per_bio_data(bio, sizeof(*pb));
	struct cvol_volume *vol = tc->vol;
	unsigned long flags;
	int r = CVOL_PARKED;
	bool blocked;

	pb->vext = vext;
	spin_lock_irqsave(&vol->slow_lock, flags);
	if (vol->fenced) {
		blocked = true;
		if (vol->lease.fence_error || vol->holds.suspending)
			r = CVOL_KILL;
	} else {
		blocked = READ_ONCE(vol->ent[vext]) & CVOL_E_FROZEN;
		/* dm core fails readahead while suspending, too. */
		if (blocked && (bio->bi_opf & REQ_RAHEAD))
			r = CVOL_KILL;
	}
	if (r == CVOL_PARKED) {
		if (blocked && vol->holds.requeue && dm_noflush_suspending(tc->ti))
			r = CVOL_REQUEUE;
		else if (blocked)
			bio_list_add(&vol->holds.held, bio);
		else if (!bio_list_empty(&vol->holds.released))
			bio_list_add(&vol->holds.released, bio);
		else
			r = CVOL_MAP_AGAIN;
	}
	spin_unlock_irqrestore(&vol->slow_lock, flags);
	return r;
}

/*
 * A noflush suspend: hand every parked bio back to dm core, which keeps
 * it until resume and then maps it again through the new live table.
 * Bios that arrive until dm blocks I/O are pushed back too (park_bio).
 */
void cvol_requeue_parked(struct cvol_volume *vol)
{
	struct bio_list list;
	struct bio *bio;

	spin_lock_irq(&vol->slow_lock);
	vol->holds.requeue = true;
	list = vol->holds.held;
	bio_list_init(&vol->holds.held);
	spin_unlock_irq(&vol->slow_lock);
	wake_up_all(&vol->drain_wq);	/* freeze_wait returns */

	while ((bio = bio_list_pop(&list))) {
		bio->bi_status = BLK_STS_DM_REQUEUE;
		bio_endio(bio);
	}
}

/*
 * A normal suspend begins: from now on fenced bios fail instead of
 * parking (dm waits for every bio), and no new freeze is taken.
 */
void cvol_hold_begin_suspend(struct cvol_volume *vol)
{
	spin_lock_irq(&vol->slow_lock);
	vol->holds.suspending = true;
	spin_unlock_irq(&vol->slow_lock);
}

/*
 * A normal suspend of a fenced volume: dm waits for every bio, and a
 * fenced volume must not write, so the parked bios fail.  Returns how
 * many did.
 */
unsigned int cvol_fail_fenced(struct cvol_volume *vol)
{
	struct bio_list list = BIO_EMPTY_LIST;
	unsigned int n = 0;
	struct bio *bio;

	spin_lock_irq(&vol->slow_lock);
	if (vol->fenced) {
		list = vol->holds.held;
		bio_list_init(&vol->holds.held);
	}
	spin_unlock_irq(&vol->slow_lock);
	wake_up_all(&vol->drain_wq);	/* freeze_wait returns */

	while ((bio = bio_list_pop(&list))) {
		bio_io_error(bio);
		n++;
	}
	return n;
}

/* The next released bio, oldest first, or NULL (cvol_release_work). */
struct bio *cvol_pop_released(struct cvol_volume *vol)
{
	struct bio *bio;

	spin_lock_irq(&vol->slow_lock);
	bio = bio_list_pop(&vol->holds.released);
	spin_unlock_irq(&vol->slow_lock);
	return bio;
}
